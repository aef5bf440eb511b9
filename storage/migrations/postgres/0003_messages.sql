-- Chat history: every stored message with its place in its conversation.

-- The last seq handed out per conversation; the next append takes one more.
CREATE TABLE conversations (
    id       TEXT    PRIMARY KEY CHECK (length(id) > 0),
    last_seq BIGINT  NOT NULL
);

CREATE TABLE messages (
    conversation TEXT    NOT NULL REFERENCES conversations (id),
    seq          BIGINT  NOT NULL,
    -- The broker's Snowflake id, unique across conversations and nodes.
    message_id   BIGINT  NOT NULL UNIQUE,
    -- No reference to users: system events have their own senders.
    sender       BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    -- JSON array of [name, value] pairs, in frame order.
    headers      TEXT    NOT NULL,
    body         BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (conversation, seq)
);
