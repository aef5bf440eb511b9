-- Reliable messaging: dedupe records, the conversation index, mentions,
-- full-text search, cursors, hidden messages, dead letters and files.
-- Rows that belong to one message (its dedupe record, mentions, hidden
-- marks) reference it and go with it when retention deletes it.

-- The sender's client-msg-id, when the SEND had one.
ALTER TABLE messages ADD COLUMN client_msg_id TEXT;
-- Retention deletes by age.
CREATE INDEX messages_created_at ON messages (created_at);

-- When the conversation last changed: its newest append's created_at.
ALTER TABLE conversations ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET updated_at = COALESCE(
    (SELECT max(created_at) FROM messages WHERE messages.conversation = conversations.id), 0);

-- The truth for client-msg-id dedupe: one message per sender and id, for
-- as long as the dedupe window keeps the record.
CREATE TABLE message_dedupe (
    sender        INTEGER NOT NULL,
    client_msg_id TEXT    NOT NULL,
    conversation  TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (sender, client_msg_id),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX message_dedupe_created_at ON message_dedupe (created_at);
CREATE INDEX message_dedupe_message ON message_dedupe (conversation, seq);

-- The conversation index: who takes part in which private and system
-- conversation (groups are listed through their memberships).
CREATE TABLE conversation_participants (
    user_id      INTEGER NOT NULL,
    conversation TEXT    NOT NULL REFERENCES conversations (id),
    PRIMARY KEY (user_id, conversation)
);
INSERT INTO conversation_participants (user_id, conversation)
    SELECT CAST(substr(id, 2, instr(id, '-') - 2) AS INTEGER), id
    FROM conversations WHERE id GLOB 'u[0-9]*-[0-9]*'
    UNION
    SELECT CAST(substr(id, instr(id, '-') + 1) AS INTEGER), id
    FROM conversations WHERE id GLOB 'u[0-9]*-[0-9]*'
    UNION
    SELECT CAST(substr(id, 2) AS INTEGER), id
    FROM conversations WHERE id GLOB 's[0-9]*';

-- Users a message mentions; counted until their read cursor passes it.
CREATE TABLE mentions (
    user_id      INTEGER NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation, seq),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX mentions_message ON mentions (conversation, seq);

-- Full-text index of kind 'message' rows; rowid is the message_id.
-- unicode61 folds case; diacritics are kept, as PostgreSQL's 'simple'
-- configuration keeps them, so both backends match alike.
CREATE VIRTUAL TABLE message_search USING fts5 (
    text,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER message_search_purge AFTER DELETE ON messages BEGIN
    DELETE FROM message_search WHERE rowid = old.message_id;
END;
INSERT INTO message_search (rowid, text)
    SELECT message_id, text FROM (
        SELECT message_id,
               CASE WHEN json_valid(CAST(body AS TEXT))
                         AND json_type(CAST(body AS TEXT)) = 'object'
                    THEN CASE WHEN json_type(CAST(body AS TEXT), '$.text') = 'text'
                              THEN json_extract(CAST(body AS TEXT), '$.text') END
                    ELSE CAST(body AS TEXT) END AS text
        FROM messages WHERE kind = 'message'
    ) WHERE text IS NOT NULL;

-- Devices seen per user, so a new one gets only the newest messages.
CREATE TABLE devices (
    user_id    INTEGER NOT NULL,
    device     TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, device)
);

-- Everything at or below seq reached that device.
CREATE TABLE delivered_cursors (
    user_id      INTEGER NOT NULL,
    device       TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (user_id, device, conversation)
);

-- Everything at or below seq is read by that user.
CREATE TABLE read_cursors (
    user_id      INTEGER NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation)
);
CREATE INDEX read_cursors_conversation ON read_cursors (conversation, seq);

-- Delete-for-me.
CREATE TABLE hidden_messages (
    user_id      INTEGER NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation, seq),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX hidden_messages_message ON hidden_messages (conversation, seq);

CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL,
    device       TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    message_id   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    at           INTEGER NOT NULL
);

CREATE TABLE files (
    id           TEXT    PRIMARY KEY CHECK (length(id) > 0),
    uploader     INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   INTEGER NOT NULL
);

-- The conversations a file was sent to; their members may fetch it.
CREATE TABLE file_shares (
    file_id      TEXT NOT NULL REFERENCES files (id),
    conversation TEXT NOT NULL,
    PRIMARY KEY (file_id, conversation)
);
