//! Herald's directory: who the users are, who is friends with or blocks
//! whom, which groups exist and who belongs to them.
//!
//! The [`Directory`] trait is what the broker's HTTP API and chat layer
//! call; each backend implements it over its own tables. The store enforces
//! what must hold whatever the caller does (unique usernames, one pending
//! request per pair, one owner per group, atomic accept and transfer); the
//! broker decides who may do what (only the recipient accepts a request,
//! only admins kick, blocked users cannot send requests) and must check that
//! before calling.

pub(crate) mod sql;
mod types;

use async_trait::async_trait;

use crate::StoreError;

pub use types::{
    Account, Direction, Friend, FriendRequest, Group, GroupId, GroupPatch, JoinRequest, Member,
    NewGroup, NewUser, ProfilePatch, RequestId, RequestStatus, Role, User, UserId,
};

/// Users, contacts and groups. Every method is one atomic operation;
/// writes are durable when they return `Ok`.
///
/// Errors beyond those named: [`StoreError::Unavailable`] when the backend
/// cannot be reached, [`StoreError::Closed`] after the store was closed,
/// [`StoreError::Rejected`] for data the backend cannot keep (a NUL
/// character on PostgreSQL).
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    // ----- users -----

    /// Registers a user. `Conflict` when the username is taken, compared
    /// without regard to case ("Alice" and "alice" are the same name).
    async fn create_user(&self, user: NewUser) -> Result<Account, StoreError>;

    /// The account with this id, for authentication.
    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError>;

    /// The account with this username, compared without regard to case.
    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError>;

    /// The public profiles of those of `ids` that exist, in ascending id
    /// order, each once.
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;

    /// One user's public profile.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.users(&[id]).await?.into_iter().next())
    }

    /// Changes the fields `patch` names. `NotFound` for an unknown user.
    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<User, StoreError>;

    /// Replaces the password hash and bumps the token version, so tokens
    /// issued before stop working. Returns the new token version;
    /// `NotFound` for an unknown user.
    async fn set_password(&self, id: UserId, password_hash: String) -> Result<i64, StoreError>;

    /// Bumps the token version (revoking every token issued so far) and
    /// returns the new one; `NotFound` for an unknown user.
    async fn bump_token_version(&self, id: UserId) -> Result<i64, StoreError>;

    /// Users whose username contains `query`, without regard to case.
    /// `%`, `_` and `\` in `query` match themselves. Exact matches first,
    /// then shorter names, at most `limit`.
    async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>, StoreError>;

    // ----- contacts -----

    /// Sends a friend request. `Conflict` when the two are already friends
    /// or a pending request exists in either direction; `NotFound` when
    /// either user is unknown; `Rejected` when `from == to`.
    async fn create_friend_request(
        &self,
        from: UserId,
        to: UserId,
        greeting: &str,
    ) -> Result<FriendRequest, StoreError>;

    /// The friend request with this id, whatever its status.
    async fn friend_request(&self, id: RequestId) -> Result<Option<FriendRequest>, StoreError>;

    /// The user's pending requests in `direction`, newest first.
    async fn friend_requests(
        &self,
        user: UserId,
        direction: Direction,
    ) -> Result<Vec<FriendRequest>, StoreError>;

    /// Accepts or rejects a pending request; accepting makes the two
    /// friends both ways in the same transaction. `NotFound` for an unknown
    /// id, `Conflict` when it was already resolved.
    async fn resolve_friend_request(
        &self,
        id: RequestId,
        accept: bool,
    ) -> Result<FriendRequest, StoreError>;

    /// The user's friends, with the user's remarks, oldest friendship first.
    async fn friends(&self, user: UserId) -> Result<Vec<Friend>, StoreError>;

    /// The ids of the user's friends, ascending (for presence fan-out).
    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;

    /// Whether `a` and `b` are friends.
    async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool, StoreError>;

    /// Ends the friendship in both directions; `false` when there was none.
    async fn delete_friend(&self, a: UserId, b: UserId) -> Result<bool, StoreError>;

    /// Sets (or with `None` clears) `owner`'s remark for `friend`.
    /// `NotFound` when they are not friends.
    async fn set_remark(
        &self,
        owner: UserId,
        friend: UserId,
        remark: Option<String>,
    ) -> Result<(), StoreError>;

    /// `owner` blocks `target`. Blocking twice is not an error. `NotFound`
    /// when either user is unknown; `Rejected` when `owner == target`.
    async fn block(&self, owner: UserId, target: UserId) -> Result<(), StoreError>;

    /// Lifts a block; `false` when there was none.
    async fn unblock(&self, owner: UserId, target: UserId) -> Result<bool, StoreError>;

    /// Whether `owner` blocks `target`.
    async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool, StoreError>;

    /// The users `owner` blocks, in the order they were blocked.
    async fn blocked(&self, owner: UserId) -> Result<Vec<User>, StoreError>;

    // ----- groups -----

    /// Creates a group with `owner` as its only member, role
    /// [`Role::Owner`], in one transaction. `NotFound` for an unknown owner.
    async fn create_group(&self, owner: UserId, group: NewGroup) -> Result<Group, StoreError>;

    /// The group with this id, dissolved or not.
    async fn group(&self, id: GroupId) -> Result<Option<Group>, StoreError>;

    /// Changes the fields `patch` names. `NotFound` for an unknown or
    /// dissolved group.
    async fn update_group(&self, id: GroupId, patch: GroupPatch) -> Result<Group, StoreError>;

    /// Marks the group dissolved, removes every membership and rejects the
    /// pending join requests. `NotFound` for an unknown or already
    /// dissolved group.
    async fn dissolve_group(&self, id: GroupId) -> Result<(), StoreError>;

    /// Adds a member. `Conflict` when the user already is one; `NotFound`
    /// for an unknown user or an unknown or dissolved group; `Rejected` for
    /// [`Role::Owner`] (a group has one owner: see `transfer_ownership`).
    async fn add_member(
        &self,
        group: GroupId,
        user: UserId,
        role: Role,
    ) -> Result<Member, StoreError>;

    /// Removes a member; `false` when the user was not one. `Conflict` for
    /// the owner, who must transfer ownership (or dissolve) first.
    async fn remove_member(&self, group: GroupId, user: UserId) -> Result<bool, StoreError>;

    /// The user's membership of the group, if any.
    async fn member(&self, group: GroupId, user: UserId) -> Result<Option<Member>, StoreError>;

    /// Every member: the owner first, then admins, then members, each rank
    /// by join time.
    async fn members(&self, group: GroupId) -> Result<Vec<Member>, StoreError>;

    /// The members' ids, ascending (for fan-out and authorization).
    async fn member_ids(&self, group: GroupId) -> Result<Vec<UserId>, StoreError>;

    /// Makes a member an admin or a plain member. `NotFound` when the user
    /// is not a member; `Conflict` when the user is the owner; `Rejected`
    /// for [`Role::Owner`] (see `transfer_ownership`).
    async fn set_role(&self, group: GroupId, user: UserId, role: Role) -> Result<(), StoreError>;

    /// In one transaction: `to` becomes the owner, `from` an admin, and the
    /// group's `owner` becomes `to`. `Conflict` when `from` is not the
    /// owner; `NotFound` when `to` is not a member or the group is unknown
    /// or dissolved; `Rejected` when `from == to`.
    async fn transfer_ownership(
        &self,
        group: GroupId,
        from: UserId,
        to: UserId,
    ) -> Result<(), StoreError>;

    /// Mutes or unmutes one member. `NotFound` when the user is not a
    /// member.
    async fn set_muted(&self, group: GroupId, user: UserId, muted: bool) -> Result<(), StoreError>;

    /// The groups the user belongs to (none dissolved) with the user's role,
    /// in the order joined.
    async fn user_groups(&self, user: UserId) -> Result<Vec<(Group, Role)>, StoreError>;

    /// Asks to join a group. `Conflict` when the user is a member or has a
    /// pending request for it; `NotFound` for an unknown user or an unknown
    /// or dissolved group.
    async fn create_join_request(
        &self,
        group: GroupId,
        user: UserId,
        message: &str,
    ) -> Result<JoinRequest, StoreError>;

    /// The group's pending join requests, oldest first.
    async fn join_requests(&self, group: GroupId) -> Result<Vec<JoinRequest>, StoreError>;

    /// The join request with this id, whatever its status.
    async fn join_request(&self, id: RequestId) -> Result<Option<JoinRequest>, StoreError>;

    /// Accepts or rejects a pending join request; accepting adds the user
    /// as a [`Role::Member`] in the same transaction (a user who became a
    /// member meanwhile stays as they are). `NotFound` for an unknown id or
    /// a group dissolved meanwhile, `Conflict` when it was already resolved.
    async fn resolve_join_request(
        &self,
        id: RequestId,
        accept: bool,
    ) -> Result<JoinRequest, StoreError>;
}
