-- Herald's directory: users, contacts, groups and memberships.
-- Times are unix milliseconds.

CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- As registered, case kept.
    username      TEXT    NOT NULL CHECK (length(username) > 0),
    -- The username lowercased by Herald (Unicode-aware, the same on every
    -- backend): uniqueness and search ignore case through it.
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    token_version BIGINT  NOT NULL DEFAULT 0,
    nickname      TEXT    NOT NULL,
    avatar        TEXT    NOT NULL DEFAULT '',
    signature     TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL
);

CREATE TABLE friend_requests (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_user   BIGINT  NOT NULL REFERENCES users (id),
    to_user     BIGINT  NOT NULL REFERENCES users (id),
    greeting    TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at  BIGINT  NOT NULL,
    resolved_at BIGINT,
    CHECK (from_user <> to_user)
);
-- At most one pending request between two users, whichever sent it.
CREATE UNIQUE INDEX friend_requests_one_pending
    ON friend_requests (LEAST(from_user, to_user), GREATEST(from_user, to_user))
    WHERE status = 'pending';
CREATE INDEX friend_requests_to ON friend_requests (to_user, status);
CREATE INDEX friend_requests_from ON friend_requests (from_user, status);

-- A friendship is two rows, one per direction, each with its owner's remark.
CREATE TABLE friendships (
    owner   BIGINT  NOT NULL REFERENCES users (id),
    friend  BIGINT  NOT NULL REFERENCES users (id),
    remark  TEXT,
    since   BIGINT  NOT NULL,
    PRIMARY KEY (owner, friend)
);

CREATE TABLE blocks (
    owner      BIGINT  NOT NULL REFERENCES users (id),
    target     BIGINT  NOT NULL REFERENCES users (id),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (owner, target),
    CHECK (owner <> target)
);

CREATE TABLE chat_groups (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT    NOT NULL,
    avatar        TEXT    NOT NULL DEFAULT '',
    announcement  TEXT    NOT NULL DEFAULT '',
    owner         BIGINT  NOT NULL REFERENCES users (id),
    join_approval BOOLEAN NOT NULL DEFAULT FALSE,
    muted_all     BOOLEAN NOT NULL DEFAULT FALSE,
    dissolved     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE group_members (
    group_id  BIGINT  NOT NULL REFERENCES chat_groups (id),
    user_id   BIGINT  NOT NULL REFERENCES users (id),
    role      TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    muted     BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at BIGINT  NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);
-- A group has exactly one owner.
CREATE UNIQUE INDEX group_members_one_owner ON group_members (group_id) WHERE role = 'owner';

CREATE TABLE join_requests (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id    BIGINT  NOT NULL REFERENCES chat_groups (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    message     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at  BIGINT  NOT NULL,
    resolved_at BIGINT
);
CREATE UNIQUE INDEX join_requests_one_pending
    ON join_requests (group_id, user_id) WHERE status = 'pending';
