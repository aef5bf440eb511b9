//! Group membership: list, add, remove (kick or leave), roles, mutes, and
//! join requests for groups that need approval.

use super::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use herald_storage::{GroupId, JoinRequest, Member, RequestStatus, Role, UserId};
use serde::Deserialize;
use serde_json::json;

use super::{validate, ApiError, Authenticated, JsonBody};
use crate::server::http::AppState;

/// The caller's membership of a live group, or 404/403.
pub async fn membership(
    state: &AppState,
    group: GroupId,
    user: UserId,
) -> Result<Member, ApiError> {
    let directory = state.broker.chat().directory();
    if directory.group(group).await?.is_none_or(|g| g.dissolved) {
        return Err(ApiError::not_found(format!("there is no group {group}")));
    }
    directory
        .member(group, user)
        .await?
        .ok_or_else(|| ApiError::forbidden(format!("you are not a member of group {group}")))
}

/// The caller's membership when they are the owner or an admin.
pub async fn manager(state: &AppState, group: GroupId, user: UserId) -> Result<Member, ApiError> {
    let member = membership(state, group, user).await?;
    if member.role.is_manager() {
        Ok(member)
    } else {
        Err(ApiError::forbidden(
            "only the group's owner and admins may do this",
        ))
    }
}

/// Whether `me` may put `user` into a group: only friends, and no block
/// between them either way. A block leaves the friendship standing, so
/// without the block check a group would reach someone who refuses friend
/// requests and messages from `me`.
pub async fn may_add(state: &AppState, me: UserId, user: UserId) -> Result<(), ApiError> {
    let directory = state.broker.chat().directory();
    if !directory.are_friends(me, user).await? {
        return Err(ApiError::forbidden(format!(
            "user {user} is not your friend; only friends can be added"
        )));
    }
    if directory.is_blocked(user, me).await? {
        return Err(ApiError::forbidden(format!(
            "user {user} does not accept invitations from you"
        )));
    }
    if directory.is_blocked(me, user).await? {
        return Err(ApiError::forbidden(format!(
            "you have blocked user {user}; unblock them first"
        )));
    }
    Ok(())
}

/// Members with roles and presence; members only.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    membership(&state, id, me.user_id).await?;
    let chat = state.broker.chat();
    let members = chat.directory().members(id).await?;
    let ids: Vec<i64> = members.iter().map(|m| m.user.id).collect();
    let online_now = chat.online_for(me.user_id, &ids).await;
    let entries: Vec<_> = members
        .into_iter()
        .map(|member| {
            let online = online_now.contains(&member.user.id);
            json!({ "user": member.user, "role": member.role, "muted": member.muted, "joined_at": member.joined_at, "online": online })
        })
        .collect();
    Ok(Json(json!(entries)))
}

#[derive(Deserialize)]
pub struct Add {
    user_ids: Vec<i64>,
}

/// Adds friends of the caller. Owners and admins always may; other members
/// only when the group does not need approval.
pub async fn add(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Add>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let member = membership(&state, id, me.user_id).await?;
    let chat = state.broker.chat();
    let directory = chat.directory();
    let group = directory
        .group(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such group"))?;
    if group.join_approval && !member.role.is_manager() {
        return Err(ApiError::forbidden(
            "this group needs approval: only its owner and admins may add members",
        ));
    }
    let mut added = Vec::new();
    for user in body.user_ids {
        may_add(&state, me.user_id, user).await?;
        if directory.member(id, user).await?.is_some() {
            continue;
        }
        added.push(directory.add_member(id, user, Role::Member).await?);
        chat.notify(
            user,
            "group-invite",
            me.user_id,
            json!({ "group": group, "by": me.user_id }),
        )
        .await?;
        chat.notify_members(
            id,
            "member-joined",
            me.user_id,
            json!({ "group": id, "user": user, "by": me.user_id }),
            &[],
        )
        .await?;
    }
    Ok(Json(added))
}

/// Leaving (yourself) or kicking (the owner kicks anyone, admins kick
/// members). The owner must transfer ownership before leaving.
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let actor = membership(&state, id, me.user_id).await?;
    let chat = state.broker.chat();
    let kind = if user == me.user_id {
        if actor.role == Role::Owner {
            return Err(ApiError::conflict(
                "the owner cannot leave; transfer ownership or dissolve the group",
            ));
        }
        "member-left"
    } else {
        let target = chat.directory().member(id, user).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {user} is not a member of group {id}"))
        })?;
        outranks(actor.role, target.role)?;
        "member-kicked"
    };
    chat.directory().remove_member(id, user).await?;
    chat.drop_group_member(id, user);
    chat.notify_members(
        id,
        kind,
        me.user_id,
        json!({ "group": id, "user": user, "by": me.user_id }),
        &[user],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Owners act on anyone but themselves; admins only on plain members.
fn outranks(actor: Role, target: Role) -> Result<(), ApiError> {
    match (actor, target) {
        (Role::Owner, Role::Admin | Role::Member) | (Role::Admin, Role::Member) => Ok(()),
        _ => Err(ApiError::forbidden(
            "you may only act on members ranked below you",
        )),
    }
}

#[derive(Deserialize)]
pub struct SetRole {
    role: Role,
}

/// The owner makes members admins or back.
pub async fn set_role(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path((id, user)): Path<(i64, i64)>,
    JsonBody(body): JsonBody<SetRole>,
) -> Result<StatusCode, ApiError> {
    let actor = membership(&state, id, me.user_id).await?;
    if actor.role != Role::Owner {
        return Err(ApiError::forbidden("only the owner may change roles"));
    }
    if body.role == Role::Owner {
        return Err(ApiError::invalid(
            "use POST /api/groups/{id}/transfer to hand over ownership",
        ));
    }
    let chat = state.broker.chat();
    let target =
        chat.directory().member(id, user).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {user} is not a member of group {id}"))
        })?;
    outranks(actor.role, target.role)?;
    chat.directory().set_role(id, user, body.role).await?;
    chat.notify_members(
        id,
        "role-changed",
        me.user_id,
        json!({ "group": id, "user": user, "role": body.role }),
        &[],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Mute {
    muted: bool,
}

pub async fn mute(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path((id, user)): Path<(i64, i64)>,
    JsonBody(body): JsonBody<Mute>,
) -> Result<StatusCode, ApiError> {
    let actor = manager(&state, id, me.user_id).await?;
    let chat = state.broker.chat();
    let target =
        chat.directory().member(id, user).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {user} is not a member of group {id}"))
        })?;
    outranks(actor.role, target.role)?;
    chat.directory().set_muted(id, user, body.muted).await?;
    chat.notify_members(
        id,
        "member-muted",
        me.user_id,
        json!({ "group": id, "user": user, "muted": body.muted }),
        &[],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Ask {
    #[serde(default)]
    message: String,
}

/// Asks to join. A group without approval takes the caller at once.
pub async fn ask_to_join(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Ask>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    validate::text("message", &body.message, validate::GREETING_MAX, true)?;
    let chat = state.broker.chat();
    let directory = chat.directory();
    let group = directory
        .group(id)
        .await?
        .filter(|g| !g.dissolved)
        .ok_or_else(|| ApiError::not_found(format!("there is no group {id}")))?;
    if directory.member(id, me.user_id).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "you are already a member of group {id}"
        )));
    }
    if !group.join_approval {
        let member = directory.add_member(id, me.user_id, Role::Member).await?;
        chat.notify_members(
            id,
            "member-joined",
            me.user_id,
            json!({ "group": id, "user": me.user_id }),
            &[],
        )
        .await?;
        return Ok((
            StatusCode::OK,
            Json(json!({ "joined": true, "member": member })),
        ));
    }
    let request = directory
        .create_join_request(id, me.user_id, &body.message)
        .await?;
    for manager in directory
        .members(id)
        .await?
        .into_iter()
        .filter(|m| m.role.is_manager())
    {
        chat.notify(
            manager.user.id,
            "join-request",
            me.user_id,
            json!({ "request": request }),
        )
        .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "joined": false, "request": request })),
    ))
}

pub async fn join_requests(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<Vec<JoinRequest>>, ApiError> {
    manager(&state, id, me.user_id).await?;
    Ok(Json(
        state.broker.chat().directory().join_requests(id).await?,
    ))
}

pub async fn accept_join(
    state: State<AppState>,
    me: Authenticated,
    id: Path<i64>,
) -> Result<Json<JoinRequest>, ApiError> {
    resolve_join(state, me, id, true).await
}

pub async fn reject_join(
    state: State<AppState>,
    me: Authenticated,
    id: Path<i64>,
) -> Result<Json<JoinRequest>, ApiError> {
    resolve_join(state, me, id, false).await
}

async fn resolve_join(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    accept: bool,
) -> Result<Json<JoinRequest>, ApiError> {
    let chat = state.broker.chat();
    let request = chat
        .directory()
        .join_request(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no join request {id}")))?;
    manager(&state, request.group, me.user_id).await?;
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!(
            "join request {id} was already {}",
            request.status.as_str()
        )));
    }
    let resolved = chat.directory().resolve_join_request(id, accept).await?;
    let kind = if accept {
        "join-accepted"
    } else {
        "join-rejected"
    };
    chat.notify(
        resolved.user,
        kind,
        me.user_id,
        json!({ "request": resolved }),
    )
    .await?;
    if accept {
        chat.notify_members(
            resolved.group,
            "member-joined",
            me.user_id,
            json!({ "group": resolved.group, "user": resolved.user }),
            &[],
        )
        .await?;
    }
    Ok(Json(resolved))
}
