//! The records of Herald's directory: users, contacts, groups and their
//! requests, as the [`Directory`](super::Directory) trait takes and returns
//! them. Plain data with no behaviour beyond naming its own values; no
//! backend code belongs here.

use serde::{Deserialize, Serialize};

/// A user's numeric id; `/user/{id}` names it.
pub type UserId = i64;
/// A group's numeric id; `/group/{id}` names it.
pub type GroupId = i64;
/// A friend request's or join request's id.
pub type RequestId = i64;

/// A user's public profile: what anyone who may see the user gets.
/// Times here and everywhere in the directory are unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    /// As registered (case kept); unique regardless of case.
    pub username: String,
    pub nickname: String,
    /// A URL or file id; empty when the user set none.
    pub avatar: String,
    /// A short self-description; empty when the user set none.
    pub signature: String,
    pub created_at: i64,
}

/// A user with what only authentication may see. Deliberately not
/// `Serialize`: it carries the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    /// The password hash as the broker computed it (argon2 PHC string); the
    /// store never looks inside.
    pub password_hash: String,
    /// Goes up whenever older tokens must stop working (password change,
    /// "log out everywhere"); tokens carry the version they were issued at.
    pub token_version: i64,
}

/// What registering a user needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    /// The API passes the username when the user gave no nickname.
    pub nickname: String,
}

/// A change to a profile: `None` leaves a field as it is, `Some("")` clears
/// avatar or signature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ProfilePatch {
    pub nickname: Option<String>,
    pub avatar: Option<String>,
    pub signature: Option<String>,
}

/// Where a friend request or join request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Accepted,
    Rejected,
}

impl RequestStatus {
    /// The name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Accepted => "accepted",
            RequestStatus::Rejected => "rejected",
        }
    }

    /// The status named `name` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(RequestStatus::Pending),
            "accepted" => Some(RequestStatus::Accepted),
            "rejected" => Some(RequestStatus::Rejected),
            _ => None,
        }
    }
}

/// Which side of a user's friend requests to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Requests sent to the user.
    Incoming,
    /// Requests the user sent.
    Outgoing,
}

/// A request from one user to become friends with another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FriendRequest {
    pub id: RequestId,
    pub from: UserId,
    pub to: UserId,
    pub greeting: String,
    pub status: RequestStatus,
    pub created_at: i64,
    /// When it was accepted or rejected; `None` while pending.
    pub resolved_at: Option<i64>,
}

/// One of a user's friends, as that user sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Friend {
    pub user: User,
    /// The owner's private alias for this friend.
    pub remark: Option<String>,
    /// When the friendship began.
    pub since: i64,
}

/// A group chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    /// A URL or file id; empty when none was set.
    pub avatar: String,
    /// Empty when none was set.
    pub announcement: String,
    /// The member whose role is [`Role::Owner`].
    pub owner: UserId,
    /// Joining takes an admin's approval of a join request.
    pub join_approval: bool,
    /// Only the owner and admins may send.
    pub muted_all: bool,
    /// Dissolved groups keep their record (history names them) but have no
    /// members and take no more writes.
    pub dissolved: bool,
    pub created_at: i64,
}

/// What creating a group needs; the creator becomes its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NewGroup {
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    pub join_approval: bool,
}

/// A change to a group: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub announcement: Option<String>,
    pub join_approval: Option<bool>,
    pub muted_all: Option<bool>,
}

/// A member's role in a group. Ordered by rank: `Owner < Admin < Member`,
/// so sorting puts the owner first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// The name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role named `name` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and admins manage the group (members, mutes, requests).
    pub fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A user's membership of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub group: GroupId,
    pub user: User,
    pub role: Role,
    /// This member may not send to the group.
    pub muted: bool,
    pub joined_at: i64,
}

/// A user's request to join a group that needs approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinRequest {
    pub id: RequestId,
    pub group: GroupId,
    pub user: UserId,
    pub message: String,
    pub status: RequestStatus,
    pub created_at: i64,
    /// When it was accepted or rejected; `None` while pending.
    pub resolved_at: Option<i64>,
}
