-- Durable `/queue/{name}` messages, kept until acknowledged.
-- AUTOINCREMENT (not just INTEGER PRIMARY KEY) so an id is never reused, even
-- after the newest message was acknowledged and the broker restarted.
CREATE TABLE queue_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL CHECK (length(queue) > 0),
    -- JSON array of [name, value] pairs, in frame order.
    headers     TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    deliveries  INTEGER NOT NULL DEFAULT 0 CHECK (deliveries >= 0),
    -- 1 while a consumer holds it; informational after a restart.
    leased      INTEGER NOT NULL DEFAULT 0,
    -- Unix time in milliseconds.
    created_at  INTEGER NOT NULL
);
