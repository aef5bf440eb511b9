//! Groups: create, list mine, read, update (name, avatar, announcement,
//! approval, mute-all), dissolve, and transfer ownership.

use super::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use herald_storage::{Group, GroupPatch, NewGroup, Role};
use serde::Deserialize;
use serde_json::json;

use super::members::{manager, may_add, membership};
use super::{validate, ApiError, Authenticated, JsonBody};
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Create {
    #[serde(flatten)]
    group: NewGroup,
    /// Friends to add as members at once.
    #[serde(default)]
    members: Vec<i64>,
}

pub async fn create(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<Create>,
) -> Result<(StatusCode, Json<Group>), ApiError> {
    validate::required_text("name", &body.group.name, validate::GROUP_NAME_MAX)?;
    validate::text("avatar", &body.group.avatar, validate::AVATAR_MAX, false)?;
    validate::text(
        "announcement",
        &body.group.announcement,
        validate::ANNOUNCEMENT_MAX,
        true,
    )?;
    let chat = state.broker.chat();
    let directory = chat.directory();
    let mut members = body.members.clone();
    members.sort_unstable();
    members.dedup();
    members.retain(|id| *id != me.user_id);
    for id in &members {
        may_add(&state, me.user_id, *id).await?;
    }
    let group = directory.create_group(me.user_id, body.group).await?;
    for id in &members {
        directory.add_member(group.id, *id, Role::Member).await?;
    }
    for id in &members {
        chat.notify(
            *id,
            "group-invite",
            me.user_id,
            json!({ "group": group, "by": me.user_id }),
        )
        .await?;
    }
    Ok((StatusCode::CREATED, Json(group)))
}

/// My groups with my role in each.
pub async fn mine(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let groups = state
        .broker
        .chat()
        .directory()
        .user_groups(me.user_id)
        .await?;
    let entries: Vec<_> = groups
        .into_iter()
        .map(|(group, role)| json!({ "group": group, "role": role }))
        .collect();
    Ok(Json(json!(entries)))
}

/// A group's profile: any signed-in user may read it (to ask to join).
pub async fn get(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<Group>, ApiError> {
    let group = state
        .broker
        .chat()
        .directory()
        .group(id)
        .await?
        .filter(|g| !g.dissolved)
        .ok_or_else(|| ApiError::not_found(format!("there is no group {id}")))?;
    Ok(Json(group))
}

pub async fn update(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    JsonBody(patch): JsonBody<GroupPatch>,
) -> Result<Json<Group>, ApiError> {
    manager(&state, id, me.user_id).await?;
    if let Some(name) = &patch.name {
        validate::required_text("name", name, validate::GROUP_NAME_MAX)?;
    }
    if let Some(avatar) = &patch.avatar {
        validate::text("avatar", avatar, validate::AVATAR_MAX, false)?;
    }
    if let Some(announcement) = &patch.announcement {
        validate::text(
            "announcement",
            announcement,
            validate::ANNOUNCEMENT_MAX,
            true,
        )?;
    }
    let announcement_changed = patch.announcement.is_some();
    let chat = state.broker.chat();
    let group = chat.directory().update_group(id, patch).await?;
    let kind = if announcement_changed {
        "announcement"
    } else {
        "group-updated"
    };
    chat.notify_members(
        id,
        kind,
        me.user_id,
        json!({ "group": group, "by": me.user_id }),
        &[],
    )
    .await?;
    Ok(Json(group))
}

/// Only the owner may dissolve; members hear `group-dissolved`.
pub async fn dissolve(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let member = membership(&state, id, me.user_id).await?;
    if member.role != Role::Owner {
        return Err(ApiError::forbidden("only the owner may dissolve the group"));
    }
    let chat = state.broker.chat();
    let members = chat.directory().member_ids(id).await?;
    chat.directory().dissolve_group(id).await?;
    chat.drop_group(id);
    for member in members {
        chat.notify(
            member,
            "group-dissolved",
            me.user_id,
            json!({ "group": id, "by": me.user_id }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Transfer {
    to: i64,
}

/// The owner hands the group to another member and becomes an admin.
pub async fn transfer(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Transfer>,
) -> Result<StatusCode, ApiError> {
    let member = membership(&state, id, me.user_id).await?;
    if member.role != Role::Owner {
        return Err(ApiError::forbidden("only the owner may transfer ownership"));
    }
    if body.to == me.user_id {
        return Err(ApiError::invalid("you already own this group"));
    }
    let chat = state.broker.chat();
    if chat.directory().member(id, body.to).await?.is_none() {
        return Err(ApiError::invalid(format!(
            "user {} is not a member of group {id}",
            body.to
        )));
    }
    chat.directory()
        .transfer_ownership(id, me.user_id, body.to)
        .await?;
    chat.notify_members(
        id,
        "owner-transferred",
        me.user_id,
        json!({ "group": id, "from": me.user_id, "to": body.to }),
        &[],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
