-- Herald's directory: users, contacts, groups and memberships.
-- Times are unix milliseconds. Booleans are 0/1.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- As registered, case kept.
    username      TEXT    NOT NULL CHECK (length(username) > 0),
    -- The username lowercased by Herald (Unicode-aware, the same on every
    -- backend): uniqueness and search ignore case through it.
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0,
    nickname      TEXT    NOT NULL,
    avatar        TEXT    NOT NULL DEFAULT '',
    signature     TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

CREATE TABLE friend_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    from_user   INTEGER NOT NULL REFERENCES users (id),
    to_user     INTEGER NOT NULL REFERENCES users (id),
    greeting    TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    CHECK (from_user <> to_user)
);
-- At most one pending request between two users, whichever sent it.
CREATE UNIQUE INDEX friend_requests_one_pending
    ON friend_requests (min(from_user, to_user), max(from_user, to_user))
    WHERE status = 'pending';
CREATE INDEX friend_requests_to ON friend_requests (to_user, status);
CREATE INDEX friend_requests_from ON friend_requests (from_user, status);

-- A friendship is two rows, one per direction, each with its owner's remark.
CREATE TABLE friendships (
    owner   INTEGER NOT NULL REFERENCES users (id),
    friend  INTEGER NOT NULL REFERENCES users (id),
    remark  TEXT,
    since   INTEGER NOT NULL,
    PRIMARY KEY (owner, friend)
);

CREATE TABLE blocks (
    owner      INTEGER NOT NULL REFERENCES users (id),
    target     INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, target),
    CHECK (owner <> target)
);

CREATE TABLE chat_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    avatar        TEXT    NOT NULL DEFAULT '',
    announcement  TEXT    NOT NULL DEFAULT '',
    owner         INTEGER NOT NULL REFERENCES users (id),
    join_approval INTEGER NOT NULL DEFAULT 0,
    muted_all     INTEGER NOT NULL DEFAULT 0,
    dissolved     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id  INTEGER NOT NULL REFERENCES chat_groups (id),
    user_id   INTEGER NOT NULL REFERENCES users (id),
    role      TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    muted     INTEGER NOT NULL DEFAULT 0,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);
-- A group has exactly one owner.
CREATE UNIQUE INDEX group_members_one_owner ON group_members (group_id) WHERE role = 'owner';

CREATE TABLE join_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    INTEGER NOT NULL REFERENCES chat_groups (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    message     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX join_requests_one_pending
    ON join_requests (group_id, user_id) WHERE status = 'pending';
