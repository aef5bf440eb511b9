//! Groups on SQLite: groups, memberships with roles and mutes, and
//! ownership transfer (join requests are in `join_requests`). Writes run
//! as writer jobs, so a group's checks and changes see no other write in
//! between.

use sqlx::{Executor, Sqlite, SqliteConnection};

use super::{unix_millis, users};
use crate::directory::{Group, GroupId, GroupPatch, Member, NewGroup, Role, UserId};
use crate::rows::{self, group_columns, member_columns};
use crate::StoreError;

/// Owner first, then admins, then members, each rank by join time.
macro_rules! member_order {
    () => {
        " ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, \
         m.joined_at, m.user_id"
    };
}

pub(super) async fn create(
    connection: &mut SqliteConnection,
    owner: UserId,
    group: NewGroup,
) -> Result<Group, StoreError> {
    users::require(&mut *connection, owner).await?;
    let now = unix_millis();
    let id = sqlx::query(
        "INSERT INTO chat_groups (name, avatar, announcement, owner, join_approval, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(group.name)
    .bind(group.avatar)
    .bind(group.announcement)
    .bind(owner)
    .bind(group.join_approval)
    .bind(now)
    .execute(&mut *connection)
    .await?
    .last_insert_rowid();
    sqlx::query(
        "INSERT INTO group_members (group_id, user_id, role, joined_at) \
         VALUES (?, ?, 'owner', ?)",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(&mut *connection)
    .await?;
    live(connection, id).await
}

pub(super) async fn group<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    id: GroupId,
) -> Result<Option<Group>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        group_columns!(),
        " FROM chat_groups g WHERE g.id = ?"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(rows::group).transpose()
}

/// The group, or `NotFound` when it is unknown or dissolved.
pub(super) async fn live(
    connection: &mut SqliteConnection,
    id: GroupId,
) -> Result<Group, StoreError> {
    match group(connection, id).await? {
        Some(group) if !group.dissolved => Ok(group),
        Some(_) => Err(StoreError::NotFound(format!("group {id} is dissolved"))),
        None => Err(StoreError::NotFound(format!("group {id}"))),
    }
}

pub(super) async fn update(
    connection: &mut SqliteConnection,
    id: GroupId,
    patch: GroupPatch,
) -> Result<Group, StoreError> {
    live(&mut *connection, id).await?;
    sqlx::query(
        "UPDATE chat_groups SET name = coalesce(?, name), avatar = coalesce(?, avatar), \
         announcement = coalesce(?, announcement), \
         join_approval = coalesce(?, join_approval), muted_all = coalesce(?, muted_all) \
         WHERE id = ?",
    )
    .bind(patch.name)
    .bind(patch.avatar)
    .bind(patch.announcement)
    .bind(patch.join_approval)
    .bind(patch.muted_all)
    .bind(id)
    .execute(&mut *connection)
    .await?;
    live(connection, id).await
}

pub(super) async fn dissolve(
    connection: &mut SqliteConnection,
    id: GroupId,
) -> Result<(), StoreError> {
    live(&mut *connection, id).await?;
    sqlx::query("UPDATE chat_groups SET dissolved = 1 WHERE id = ?")
        .bind(id)
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM group_members WHERE group_id = ?")
        .bind(id)
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "UPDATE join_requests SET status = 'rejected', resolved_at = ? \
         WHERE group_id = ? AND status = 'pending'",
    )
    .bind(unix_millis())
    .bind(id)
    .execute(connection)
    .await?;
    Ok(())
}

/// The user's role in the group, if a member.
pub(super) async fn role_of(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
) -> Result<Option<Role>, StoreError> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM group_members WHERE group_id = ? AND user_id = ?")
            .bind(group)
            .bind(user)
            .fetch_optional(connection)
            .await?;
    role.as_deref().map(rows::role).transpose()
}

fn not_a_member(group: GroupId, user: UserId) -> StoreError {
    StoreError::NotFound(format!("user {user} is not a member of group {group}"))
}

fn owner_role_refused() -> StoreError {
    StoreError::Rejected("a group has one owner: transfer ownership instead".into())
}

pub(super) async fn add_member(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
    role: Role,
) -> Result<Member, StoreError> {
    if role == Role::Owner {
        return Err(owner_role_refused());
    }
    live(&mut *connection, group).await?;
    users::require(&mut *connection, user).await?;
    if role_of(&mut *connection, group, user).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "user {user} is already a member of group {group}"
        )));
    }
    sqlx::query(
        "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
    )
    .bind(group)
    .bind(user)
    .bind(role.as_str())
    .bind(unix_millis())
    .execute(&mut *connection)
    .await?;
    member(connection, group, user)
        .await?
        .ok_or_else(|| not_a_member(group, user))
}

pub(super) async fn remove_member(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
) -> Result<bool, StoreError> {
    match role_of(&mut *connection, group, user).await? {
        None => Ok(false),
        Some(Role::Owner) => Err(StoreError::Conflict(format!(
            "user {user} owns group {group}: transfer ownership first"
        ))),
        Some(_) => {
            sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
                .bind(group)
                .bind(user)
                .execute(connection)
                .await?;
            Ok(true)
        }
    }
}

pub(super) async fn member<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    group: GroupId,
    user: UserId,
) -> Result<Option<Member>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        member_columns!(),
        " FROM group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = ? AND m.user_id = ?"
    ))
    .bind(group)
    .bind(user)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(rows::member).transpose()
}

pub(super) async fn members<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    group: GroupId,
) -> Result<Vec<Member>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        member_columns!(),
        " FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ?",
        member_order!()
    ))
    .bind(group)
    .fetch_all(executor)
    .await?;
    found.iter().map(rows::member).collect()
}

pub(super) async fn member_ids<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    group: GroupId,
) -> Result<Vec<UserId>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id")
            .bind(group)
            .fetch_all(executor)
            .await?,
    )
}

pub(super) async fn set_role(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
    role: Role,
) -> Result<(), StoreError> {
    if role == Role::Owner {
        return Err(owner_role_refused());
    }
    match role_of(&mut *connection, group, user).await? {
        None => Err(not_a_member(group, user)),
        Some(Role::Owner) => Err(StoreError::Conflict(format!(
            "user {user} owns group {group}: transfer ownership instead"
        ))),
        Some(_) => write_role(connection, group, user, role).await,
    }
}

async fn write_role(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?")
        .bind(role.as_str())
        .bind(group)
        .bind(user)
        .execute(connection)
        .await?;
    Ok(())
}

pub(super) async fn transfer_ownership(
    connection: &mut SqliteConnection,
    group: GroupId,
    from: UserId,
    to: UserId,
) -> Result<(), StoreError> {
    if from == to {
        return Err(StoreError::Rejected(format!("user {from} already owns it")));
    }
    live(&mut *connection, group).await?;
    if role_of(&mut *connection, group, from).await? != Some(Role::Owner) {
        return Err(StoreError::Conflict(format!(
            "user {from} does not own group {group}"
        )));
    }
    if role_of(&mut *connection, group, to).await?.is_none() {
        return Err(not_a_member(group, to));
    }
    // In this order: the one-owner index never sees two owners.
    write_role(&mut *connection, group, from, Role::Admin).await?;
    write_role(&mut *connection, group, to, Role::Owner).await?;
    sqlx::query("UPDATE chat_groups SET owner = ? WHERE id = ?")
        .bind(to)
        .bind(group)
        .execute(connection)
        .await?;
    Ok(())
}

pub(super) async fn set_muted(
    connection: &mut SqliteConnection,
    group: GroupId,
    user: UserId,
    muted: bool,
) -> Result<(), StoreError> {
    let updated =
        sqlx::query("UPDATE group_members SET muted = ? WHERE group_id = ? AND user_id = ?")
            .bind(muted)
            .bind(group)
            .bind(user)
            .execute(connection)
            .await?
            .rows_affected();
    if updated == 0 {
        return Err(not_a_member(group, user));
    }
    Ok(())
}

pub(super) async fn user_groups<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    user: UserId,
) -> Result<Vec<(Group, Role)>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        group_columns!(),
        ", m.role AS m_role FROM group_members m JOIN chat_groups g ON g.id = m.group_id \
         WHERE m.user_id = ? AND g.dissolved = 0 ORDER BY m.joined_at, g.id"
    ))
    .bind(user)
    .fetch_all(executor)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok((
                rows::group(row)?,
                rows::role(&rows::Columns::text(row, "m_role")?)?,
            ))
        })
        .collect()
}
