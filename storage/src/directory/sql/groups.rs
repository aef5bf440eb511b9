//! Groups (memberships with roles and mutes, ownership transfer) written
//! once for both SQL backends (see `contacts` beside it for why a macro);
//! join requests are in `join_requests`.

/// Owner first, then admins, then members, each rank by join time.
macro_rules! member_order {
    () => {
        " ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, \
         m.joined_at, m.user_id"
    };
}

/// A backend's `groups` module, for `$connection` and `$database` (see
/// `sql_contacts!`). Expects a sibling `users` module.
///
/// `$row_lock` ends the statements that read a group's row before a write
/// changes the group or its members. On PostgreSQL it is `" FOR UPDATE"`:
/// several processes write, and each write's transaction must hold the
/// group until it commits so that changes to one group take turns. On
/// SQLite it is empty: one writer runs every write in turn, and SQLite has
/// no `FOR UPDATE`.
macro_rules! sql_groups {
    ($connection:ty, $database:ty, $row_lock:literal) => {
        use sqlx::Executor;

        use super::users;
        use $crate::common::unix_millis;
        use $crate::directory::{Group, GroupId, GroupPatch, Member, NewGroup, Role, UserId};
        use $crate::rows::{self, group_columns, member_columns};
        use $crate::StoreError;

        pub(super) async fn create(
            connection: &mut $connection,
            owner: UserId,
            group: NewGroup,
        ) -> Result<Group, StoreError> {
            users::require(&mut *connection, owner).await?;
            let now = unix_millis();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO chat_groups \
                 (name, avatar, announcement, owner, join_approval, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(group.name)
            .bind(group.avatar)
            .bind(group.announcement)
            .bind(owner)
            .bind(group.join_approval)
            .bind(now)
            .fetch_one(&mut *connection)
            .await?;
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, role, joined_at) \
                 VALUES ($1, $2, 'owner', $3)",
            )
            .bind(id)
            .bind(owner)
            .bind(now)
            .execute(&mut *connection)
            .await?;
            live(connection, id).await
        }

        pub(super) async fn group<'e>(
            executor: impl Executor<'e, Database = $database>,
            id: GroupId,
        ) -> Result<Option<Group>, StoreError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                group_columns!(),
                " FROM chat_groups g WHERE g.id = $1"
            ))
            .bind(id)
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(rows::group).transpose()
        }

        /// The group, locked until the transaction ends (see `$row_lock`),
        /// or `NotFound` when it is unknown or dissolved.
        pub(super) async fn live(
            connection: &mut $connection,
            id: GroupId,
        ) -> Result<Group, StoreError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                group_columns!(),
                " FROM chat_groups g WHERE g.id = $1",
                $row_lock
            ))
            .bind(id)
            .fetch_optional(connection)
            .await?;
            match row.as_ref().map(rows::group).transpose()? {
                Some(group) if !group.dissolved => Ok(group),
                Some(_) => Err(StoreError::NotFound(format!("group {id} is dissolved"))),
                None => Err(StoreError::NotFound(format!("group {id}"))),
            }
        }

        /// Locks the group's row (if any) until the transaction ends;
        /// nothing to do for a backend whose `$row_lock` is empty.
        async fn lock(connection: &mut $connection, id: GroupId) -> Result<(), StoreError> {
            if $row_lock.is_empty() {
                return Ok(());
            }
            sqlx::query(concat!("SELECT id FROM chat_groups WHERE id = $1", $row_lock))
                .bind(id)
                .fetch_optional(connection)
                .await?;
            Ok(())
        }

        pub(super) async fn update(
            connection: &mut $connection,
            id: GroupId,
            patch: GroupPatch,
        ) -> Result<Group, StoreError> {
            live(&mut *connection, id).await?;
            sqlx::query(
                "UPDATE chat_groups SET name = coalesce($1, name), avatar = coalesce($2, avatar), \
                 announcement = coalesce($3, announcement), \
                 join_approval = coalesce($4, join_approval), muted_all = coalesce($5, muted_all) \
                 WHERE id = $6",
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
            connection: &mut $connection,
            id: GroupId,
        ) -> Result<(), StoreError> {
            live(&mut *connection, id).await?;
            sqlx::query("UPDATE chat_groups SET dissolved = TRUE WHERE id = $1")
                .bind(id)
                .execute(&mut *connection)
                .await?;
            sqlx::query("DELETE FROM group_members WHERE group_id = $1")
                .bind(id)
                .execute(&mut *connection)
                .await?;
            sqlx::query(
                "UPDATE join_requests SET status = 'rejected', resolved_at = $1 \
                 WHERE group_id = $2 AND status = 'pending'",
            )
            .bind(unix_millis())
            .bind(id)
            .execute(connection)
            .await?;
            Ok(())
        }

        /// The user's role in the group, if a member.
        pub(super) async fn role_of(
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
        ) -> Result<Option<Role>, StoreError> {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM group_members WHERE group_id = $1 AND user_id = $2",
            )
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
            connection: &mut $connection,
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
                "INSERT INTO group_members (group_id, user_id, role, joined_at) \
                 VALUES ($1, $2, $3, $4)",
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
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
        ) -> Result<bool, StoreError> {
            lock(&mut *connection, group).await?;
            match role_of(&mut *connection, group, user).await? {
                None => Ok(false),
                Some(Role::Owner) => Err(StoreError::Conflict(format!(
                    "user {user} owns group {group}: transfer ownership first"
                ))),
                Some(_) => {
                    sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                        .bind(group)
                        .bind(user)
                        .execute(connection)
                        .await?;
                    Ok(true)
                }
            }
        }

        pub(super) async fn member<'e>(
            executor: impl Executor<'e, Database = $database>,
            group: GroupId,
            user: UserId,
        ) -> Result<Option<Member>, StoreError> {
            let row = sqlx::query(concat!(
                "SELECT ",
                member_columns!(),
                " FROM group_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.group_id = $1 AND m.user_id = $2"
            ))
            .bind(group)
            .bind(user)
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(rows::member).transpose()
        }

        pub(super) async fn members<'e>(
            executor: impl Executor<'e, Database = $database>,
            group: GroupId,
        ) -> Result<Vec<Member>, StoreError> {
            let found = sqlx::query(concat!(
                "SELECT ",
                member_columns!(),
                " FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1",
                $crate::directory::sql::groups::member_order!()
            ))
            .bind(group)
            .fetch_all(executor)
            .await?;
            found.iter().map(rows::member).collect()
        }

        pub(super) async fn member_ids<'e>(
            executor: impl Executor<'e, Database = $database>,
            group: GroupId,
        ) -> Result<Vec<UserId>, StoreError> {
            Ok(
                sqlx::query_scalar(
                    "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
                )
                .bind(group)
                .fetch_all(executor)
                .await?,
            )
        }

        pub(super) async fn set_role(
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
            role: Role,
        ) -> Result<(), StoreError> {
            if role == Role::Owner {
                return Err(owner_role_refused());
            }
            lock(&mut *connection, group).await?;
            match role_of(&mut *connection, group, user).await? {
                None => Err(not_a_member(group, user)),
                Some(Role::Owner) => Err(StoreError::Conflict(format!(
                    "user {user} owns group {group}: transfer ownership instead"
                ))),
                Some(_) => write_role(connection, group, user, role).await,
            }
        }

        async fn write_role(
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
            role: Role,
        ) -> Result<(), StoreError> {
            sqlx::query("UPDATE group_members SET role = $1 WHERE group_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(group)
                .bind(user)
                .execute(connection)
                .await?;
            Ok(())
        }

        pub(super) async fn transfer_ownership(
            connection: &mut $connection,
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
            sqlx::query("UPDATE chat_groups SET owner = $1 WHERE id = $2")
                .bind(to)
                .bind(group)
                .execute(connection)
                .await?;
            Ok(())
        }

        pub(super) async fn set_muted(
            connection: &mut $connection,
            group: GroupId,
            user: UserId,
            muted: bool,
        ) -> Result<(), StoreError> {
            lock(&mut *connection, group).await?;
            let updated = sqlx::query(
                "UPDATE group_members SET muted = $1 WHERE group_id = $2 AND user_id = $3",
            )
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
            executor: impl Executor<'e, Database = $database>,
            user: UserId,
        ) -> Result<Vec<(Group, Role)>, StoreError> {
            let found = sqlx::query(concat!(
                "SELECT ",
                group_columns!(),
                ", m.role AS m_role FROM group_members m JOIN chat_groups g ON g.id = m.group_id \
                 WHERE m.user_id = $1 AND g.dissolved = FALSE ORDER BY m.joined_at, g.id"
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
    };
}

pub(crate) use {member_order, sql_groups};
