-- Reliable messaging: dedupe records, the conversation index, mentions,
-- full-text search, cursors, hidden messages, dead letters and files.
-- Rows that belong to one message (its dedupe record, mentions, hidden
-- marks) reference it and go with it when retention deletes it.

-- The sender's client-msg-id, when the SEND had one.
ALTER TABLE messages ADD COLUMN client_msg_id TEXT;
-- Full-text index of kind 'message' rows ('simple': no stemming, no stop
-- words, case folded, so any language matches word for word); NULL for
-- other kinds and recalled messages.
ALTER TABLE messages ADD COLUMN search TSVECTOR;
CREATE INDEX messages_search ON messages USING GIN (search);
-- Retention deletes by age.
CREATE INDEX messages_created_at ON messages (created_at);

-- Index what is already stored; a body that is not UTF-8 is left out.
DO $$
DECLARE
    stored RECORD;
    body_text TEXT;
    indexed TEXT;
BEGIN
    FOR stored IN SELECT conversation, seq, body FROM messages WHERE kind = 'message' LOOP
        BEGIN
            body_text := convert_from(stored.body, 'UTF8');
        EXCEPTION WHEN OTHERS THEN
            CONTINUE;
        END;
        BEGIN
            IF jsonb_typeof(body_text::jsonb) = 'object' THEN
                indexed := body_text::jsonb ->> 'text';
                IF jsonb_typeof(body_text::jsonb -> 'text') IS DISTINCT FROM 'string' THEN
                    indexed := NULL;
                END IF;
            ELSE
                indexed := body_text;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            indexed := body_text;
        END;
        UPDATE messages SET search = to_tsvector('simple', indexed)
            WHERE conversation = stored.conversation AND seq = stored.seq;
    END LOOP;
END
$$;

-- When the conversation last changed: its newest append's created_at.
ALTER TABLE conversations ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE conversations SET updated_at = COALESCE(
    (SELECT max(created_at) FROM messages WHERE messages.conversation = conversations.id), 0);

-- The truth for client-msg-id dedupe: one message per sender and id, for
-- as long as the dedupe window keeps the record.
CREATE TABLE message_dedupe (
    sender        BIGINT NOT NULL,
    client_msg_id TEXT   NOT NULL,
    conversation  TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (sender, client_msg_id),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX message_dedupe_created_at ON message_dedupe (created_at);
CREATE INDEX message_dedupe_message ON message_dedupe (conversation, seq);

-- The conversation index: who takes part in which private and system
-- conversation (groups are listed through their memberships).
CREATE TABLE conversation_participants (
    user_id      BIGINT NOT NULL,
    conversation TEXT   NOT NULL REFERENCES conversations (id),
    PRIMARY KEY (user_id, conversation)
);
INSERT INTO conversation_participants (user_id, conversation)
    SELECT split_part(substr(id, 2), '-', 1)::BIGINT, id
    FROM conversations WHERE id ~ '^u[0-9]{1,18}-[0-9]{1,18}$'
    UNION
    SELECT split_part(id, '-', 2)::BIGINT, id
    FROM conversations WHERE id ~ '^u[0-9]{1,18}-[0-9]{1,18}$'
    UNION
    SELECT substr(id, 2)::BIGINT, id
    FROM conversations WHERE id ~ '^s[0-9]{1,18}$';

-- Users a message mentions; counted until their read cursor passes it.
CREATE TABLE mentions (
    user_id      BIGINT NOT NULL,
    conversation TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation, seq),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX mentions_message ON mentions (conversation, seq);

-- Devices seen per user, so a new one gets only the newest messages.
CREATE TABLE devices (
    user_id    BIGINT NOT NULL,
    device     TEXT   NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (user_id, device)
);

-- Everything at or below seq reached that device.
CREATE TABLE delivered_cursors (
    user_id      BIGINT NOT NULL,
    device       TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (user_id, device, conversation)
);

-- Everything at or below seq is read by that user.
CREATE TABLE read_cursors (
    user_id      BIGINT NOT NULL,
    conversation TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation)
);
CREATE INDEX read_cursors_conversation ON read_cursors (conversation, seq);

-- Delete-for-me.
CREATE TABLE hidden_messages (
    user_id      BIGINT NOT NULL,
    conversation TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation, seq),
    FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq) ON DELETE CASCADE
);
CREATE INDEX hidden_messages_message ON hidden_messages (conversation, seq);

CREATE TABLE dead_letters (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT  NOT NULL,
    device       TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    seq          BIGINT  NOT NULL,
    message_id   BIGINT  NOT NULL,
    attempts     INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    at           BIGINT  NOT NULL
);

CREATE TABLE files (
    id           TEXT    PRIMARY KEY CHECK (length(id) > 0),
    uploader     BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   BIGINT  NOT NULL
);

-- The conversations a file was sent to; their members may fetch it.
CREATE TABLE file_shares (
    file_id      TEXT NOT NULL REFERENCES files (id),
    conversation TEXT NOT NULL,
    PRIMARY KEY (file_id, conversation)
);
