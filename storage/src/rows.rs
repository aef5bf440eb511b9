//! The row format both SQL backends share: the column lists their queries
//! select (as macros, so queries stay `&'static str`) and the decoders that
//! turn such rows into directory, message, file and dead-letter records.
//!
//! The SQLite and PostgreSQL schemas use the same table and column names,
//! so one decoder serves both; the queries around the column lists (their
//! placeholders and dialect) stay in each backend. A value that does not
//! decode is [`StoreError::Corrupt`].

use bytes::Bytes;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::directory::{
    Account, Friend, FriendRequest, Group, JoinRequest, Member, RequestStatus, Role, User,
};
use crate::{ConversationHead, DeadLetter, FileRecord, QueuedMessage, StoreError, StoredMessage};

/// A user's public columns, from `users u`.
macro_rules! user_columns {
    () => {
        "u.id AS u_id, u.username AS u_username, u.nickname AS u_nickname, \
         u.avatar AS u_avatar, u.signature AS u_signature, u.created_at AS u_created_at"
    };
}

/// A user's columns with what authentication needs, from `users u`.
macro_rules! account_columns {
    () => {
        concat!(
            $crate::rows::user_columns!(),
            ", u.password_hash AS u_password_hash, u.token_version AS u_token_version"
        )
    };
}

/// A friend request's columns, from `friend_requests r`.
macro_rules! friend_request_columns {
    () => {
        "r.id AS r_id, r.from_user AS r_from, r.to_user AS r_to, r.greeting AS r_greeting, \
         r.status AS r_status, r.created_at AS r_created_at, r.resolved_at AS r_resolved_at"
    };
}

/// A friendship's columns (with the friend's in `users u`), from
/// `friendships f`.
macro_rules! friend_columns {
    () => {
        concat!(
            $crate::rows::user_columns!(),
            ", f.remark AS f_remark, f.since AS f_since"
        )
    };
}

/// A group's columns, from `chat_groups g`.
macro_rules! group_columns {
    () => {
        "g.id AS g_id, g.name AS g_name, g.avatar AS g_avatar, \
         g.announcement AS g_announcement, g.owner AS g_owner, \
         g.join_approval AS g_join_approval, g.muted_all AS g_muted_all, \
         g.dissolved AS g_dissolved, g.created_at AS g_created_at"
    };
}

/// A membership's columns (with the member's in `users u`), from
/// `group_members m`.
macro_rules! member_columns {
    () => {
        concat!(
            $crate::rows::user_columns!(),
            ", m.group_id AS m_group, m.role AS m_role, m.muted AS m_muted, \
             m.joined_at AS m_joined_at"
        )
    };
}

/// A join request's columns, from `join_requests j`.
macro_rules! join_request_columns {
    () => {
        "j.id AS j_id, j.group_id AS j_group, j.user_id AS j_user, j.message AS j_message, \
         j.status AS j_status, j.created_at AS j_created_at, j.resolved_at AS j_resolved_at"
    };
}

/// A stored message's columns, from `messages`.
macro_rules! message_columns {
    () => {
        "conversation, seq, message_id, sender, kind, headers, body, created_at, client_msg_id"
    };
}

/// A stored message's columns from `messages m` when other tables are
/// joined (all NULL when a LEFT JOIN found no message).
macro_rules! joined_message_columns {
    () => {
        "m.conversation AS conversation, m.seq AS seq, m.message_id AS message_id, \
         m.sender AS sender, m.kind AS kind, m.headers AS headers, m.body AS body, \
         m.created_at AS created_at, m.client_msg_id AS client_msg_id"
    };
}

/// A conversation head's columns, from `conversations c LEFT JOIN messages
/// m` on its last message.
macro_rules! head_columns {
    () => {
        concat!(
            "c.id AS head_conversation, c.last_seq AS head_last_seq, \
             c.updated_at AS head_updated_at, ",
            $crate::rows::joined_message_columns!()
        )
    };
}

/// A file record's columns, from `files`.
macro_rules! file_columns {
    () => {
        "id, uploader, name, content_type, size, width, height, created_at"
    };
}

/// A dead letter's columns, from `dead_letters`.
macro_rules! dead_letter_columns {
    () => {
        "id, user_id, device, conversation, seq, message_id, attempts, reason, at"
    };
}

pub(crate) use {
    account_columns, dead_letter_columns, file_columns, friend_columns, friend_request_columns,
    group_columns, head_columns, join_request_columns, joined_message_columns, member_columns,
    message_columns, user_columns,
};

/// Typed column access that both backends' rows offer.
pub(crate) trait Columns {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn optional_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// A 32-bit `INTEGER` column (PostgreSQL's `INTEGER` is 32 bits).
    fn small(&self, name: &str) -> Result<i32, StoreError>;
    fn optional_small(&self, name: &str) -> Result<Option<i32>, StoreError>;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn flag(&self, name: &str) -> Result<bool, StoreError>;
    fn blob(&self, name: &str) -> Result<Vec<u8>, StoreError>;
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn int(&self, name: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn optional_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn small(&self, name: &str) -> Result<i32, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn optional_small(&self, name: &str) -> Result<Option<i32>, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn text(&self, name: &str) -> Result<String, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn flag(&self, name: &str) -> Result<bool, StoreError> {
                Ok(self.try_get(name)?)
            }
            fn blob(&self, name: &str) -> Result<Vec<u8>, StoreError> {
                Ok(self.try_get(name)?)
            }
        }
    };
}

impl_columns!(SqliteRow);
impl_columns!(PgRow);

pub(crate) fn user(row: &impl Columns) -> Result<User, StoreError> {
    Ok(User {
        id: row.int("u_id")?,
        username: row.text("u_username")?,
        nickname: row.text("u_nickname")?,
        avatar: row.text("u_avatar")?,
        signature: row.text("u_signature")?,
        created_at: row.int("u_created_at")?,
    })
}

pub(crate) fn account(row: &impl Columns) -> Result<Account, StoreError> {
    Ok(Account {
        user: user(row)?,
        password_hash: row.text("u_password_hash")?,
        token_version: row.int("u_token_version")?,
    })
}

fn status(name: &str) -> Result<RequestStatus, StoreError> {
    RequestStatus::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown request status {name:?}")))
}

pub(crate) fn role(name: &str) -> Result<Role, StoreError> {
    Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown role {name:?}")))
}

pub(crate) fn friend_request(row: &impl Columns) -> Result<FriendRequest, StoreError> {
    Ok(FriendRequest {
        id: row.int("r_id")?,
        from: row.int("r_from")?,
        to: row.int("r_to")?,
        greeting: row.text("r_greeting")?,
        status: status(&row.text("r_status")?)?,
        created_at: row.int("r_created_at")?,
        resolved_at: row.optional_int("r_resolved_at")?,
    })
}

pub(crate) fn friend(row: &impl Columns) -> Result<Friend, StoreError> {
    Ok(Friend {
        user: user(row)?,
        remark: row.optional_text("f_remark")?,
        since: row.int("f_since")?,
    })
}

pub(crate) fn group(row: &impl Columns) -> Result<Group, StoreError> {
    Ok(Group {
        id: row.int("g_id")?,
        name: row.text("g_name")?,
        avatar: row.text("g_avatar")?,
        announcement: row.text("g_announcement")?,
        owner: row.int("g_owner")?,
        join_approval: row.flag("g_join_approval")?,
        muted_all: row.flag("g_muted_all")?,
        dissolved: row.flag("g_dissolved")?,
        created_at: row.int("g_created_at")?,
    })
}

pub(crate) fn member(row: &impl Columns) -> Result<Member, StoreError> {
    Ok(Member {
        group: row.int("m_group")?,
        user: user(row)?,
        role: role(&row.text("m_role")?)?,
        muted: row.flag("m_muted")?,
        joined_at: row.int("m_joined_at")?,
    })
}

pub(crate) fn join_request(row: &impl Columns) -> Result<JoinRequest, StoreError> {
    Ok(JoinRequest {
        id: row.int("j_id")?,
        group: row.int("j_group")?,
        user: row.int("j_user")?,
        message: row.text("j_message")?,
        status: status(&row.text("j_status")?)?,
        created_at: row.int("j_created_at")?,
        resolved_at: row.optional_int("j_resolved_at")?,
    })
}

pub(crate) fn message(row: &impl Columns) -> Result<StoredMessage, StoreError> {
    let conversation = row.text("conversation")?;
    let seq = row.int("seq")?;
    let headers: Vec<(String, String)> =
        serde_json::from_str(&row.text("headers")?).map_err(|error| {
            StoreError::Corrupt(format!("message {conversation}#{seq}: headers: {error}"))
        })?;
    Ok(StoredMessage {
        seq,
        message_id: row.int("message_id")?,
        sender: row.int("sender")?,
        kind: row.text("kind")?,
        headers,
        body: Bytes::from(row.blob("body")?),
        created_at: row.int("created_at")?,
        client_msg_id: row.optional_text("client_msg_id")?,
        conversation,
    })
}

/// A conversation head (see [`head_columns`]).
pub(crate) fn head(row: &impl Columns) -> Result<ConversationHead, StoreError> {
    let last_message = match row.optional_int("message_id")? {
        Some(_) => Some(message(row)?),
        None => None,
    };
    Ok(ConversationHead {
        conversation: row.text("head_conversation")?,
        last_seq: row.int("head_last_seq")?,
        last_message,
        updated_at: row.int("head_updated_at")?,
    })
}

/// A `files` row.
pub(crate) fn file(row: &impl Columns) -> Result<FileRecord, StoreError> {
    Ok(FileRecord {
        id: row.text("id")?,
        uploader: row.int("uploader")?,
        name: row.text("name")?,
        content_type: row.text("content_type")?,
        size: row.int("size")?,
        width: row.optional_small("width")?,
        height: row.optional_small("height")?,
        created_at: row.int("created_at")?,
    })
}

/// A `dead_letters` row, with its id.
pub(crate) fn dead_letter(row: &impl Columns) -> Result<(i64, DeadLetter), StoreError> {
    let id = row.int("id")?;
    let attempts = row.small("attempts")?;
    let attempts = u32::try_from(attempts)
        .map_err(|_| StoreError::Corrupt(format!("dead letter {id}: attempts {attempts}")))?;
    Ok((
        id,
        DeadLetter {
            user: row.int("user_id")?,
            device: row.text("device")?,
            conversation: row.text("conversation")?,
            seq: row.int("seq")?,
            message_id: row.int("message_id")?,
            attempts,
            reason: row.text("reason")?,
            at: row.int("at")?,
        },
    ))
}

/// A `queue_messages` row.
pub(crate) fn queued_message(row: &impl Columns) -> Result<QueuedMessage, StoreError> {
    let id = row.int("id")?;
    let headers: Vec<(String, String)> = serde_json::from_str(&row.text("headers")?)
        .map_err(|error| StoreError::Corrupt(format!("message {id}: headers: {error}")))?;
    let deliveries = row.int("deliveries")?;
    let deliveries = u32::try_from(deliveries)
        .map_err(|_| StoreError::Corrupt(format!("message {id}: delivery count {deliveries}")))?;
    Ok(QueuedMessage {
        id,
        queue: row.text("queue")?,
        headers,
        body: Bytes::from(row.blob("body")?),
        deliveries,
    })
}

/// Turns a search query into a LIKE pattern matching it anywhere, with
/// `\` as the escape character, so `%`, `_` and `\` match themselves.
pub(crate) fn contains_pattern(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 2);
    pattern.push('%');
    for character in query.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// The form of a username that uniqueness and search compare: lowercased
/// here, not by the database, so every backend folds case the same way.
pub(crate) fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// A search limit as SQL takes it.
pub(crate) fn limit(limit: u32) -> i64 {
    i64::from(limit)
}
