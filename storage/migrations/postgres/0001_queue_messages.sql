-- Durable `/queue/{name}` messages, kept until acknowledged. Identity ids
-- are never reused.
CREATE TABLE queue_messages (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue       TEXT    NOT NULL CHECK (length(queue) > 0),
    -- JSON array of [name, value] pairs, in frame order (TEXT, not JSONB:
    -- JSONB cannot hold "\u0000", which STOMP values may escape to).
    headers     TEXT    NOT NULL,
    body        BYTEA   NOT NULL,
    deliveries  BIGINT  NOT NULL DEFAULT 0 CHECK (deliveries >= 0),
    -- TRUE while a consumer holds it; informational after a restart.
    leased      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Unix time in milliseconds.
    created_at  BIGINT  NOT NULL
);
