//! Friend requests, friends, remarks and blocks. Each change reaches the
//! other side live on their `/user/{id}` subscription and is kept in their
//! `s{id}` events.

use super::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use herald_storage::{Direction, FriendRequest, RequestStatus, User};
use serde::Deserialize;
use serde_json::json;

use super::{validate, ApiError, Authenticated, JsonBody};
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct NewRequest {
    to: i64,
    #[serde(default)]
    greeting: String,
}

pub async fn request(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<NewRequest>,
) -> Result<(StatusCode, Json<FriendRequest>), ApiError> {
    validate::text("greeting", &body.greeting, validate::GREETING_MAX, true)?;
    if body.to == me.user_id {
        return Err(ApiError::invalid("you cannot befriend yourself"));
    }
    let directory = state.broker.chat().directory();
    let target = directory
        .user(body.to)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no user {}", body.to)))?;
    if directory.is_blocked(body.to, me.user_id).await? {
        return Err(ApiError::forbidden(format!(
            "user {} does not accept requests from you",
            body.to
        )));
    }
    if directory.is_blocked(me.user_id, body.to).await? {
        return Err(ApiError::forbidden(format!(
            "you have blocked user {}; unblock them first",
            body.to
        )));
    }
    let request = directory
        .create_friend_request(me.user_id, target.id, &body.greeting)
        .await?;
    let from = directory.user(me.user_id).await?;
    state
        .broker
        .chat()
        .notify(
            target.id,
            "friend-request",
            me.user_id,
            json!({ "request": request, "from": from }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Deserialize)]
pub struct Listing {
    #[serde(default)]
    direction: Option<Direction>,
}

/// Pending requests, each with the other party's profile.
pub async fn requests(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(listing): Query<Listing>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let direction = listing.direction.unwrap_or(Direction::Incoming);
    let directory = state.broker.chat().directory();
    let requests = directory.friend_requests(me.user_id, direction).await?;
    let others: Vec<i64> = requests
        .iter()
        .map(|r| if r.from == me.user_id { r.to } else { r.from })
        .collect();
    let users = directory.users(&others).await?;
    let entries: Vec<_> = requests
        .into_iter()
        .zip(others)
        .map(|(request, other)| {
            let user = users.iter().find(|u| u.id == other);
            json!({ "request": request, "user": user })
        })
        .collect();
    Ok(Json(json!(entries)))
}

pub async fn accept(
    state: State<AppState>,
    me: Authenticated,
    id: Path<i64>,
) -> Result<Json<FriendRequest>, ApiError> {
    resolve(state, me, id, true).await
}

pub async fn reject(
    state: State<AppState>,
    me: Authenticated,
    id: Path<i64>,
) -> Result<Json<FriendRequest>, ApiError> {
    resolve(state, me, id, false).await
}

async fn resolve(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    accept: bool,
) -> Result<Json<FriendRequest>, ApiError> {
    let directory = state.broker.chat().directory();
    let request = directory
        .friend_request(id)
        .await?
        .filter(|r| r.to == me.user_id || r.from == me.user_id)
        .ok_or_else(|| ApiError::not_found(format!("there is no friend request {id}")))?;
    if request.to != me.user_id {
        return Err(ApiError::forbidden(
            "only the recipient may answer a friend request",
        ));
    }
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict(format!(
            "friend request {id} was already {}",
            request.status.as_str()
        )));
    }
    let resolved = directory.resolve_friend_request(id, accept).await?;
    let kind = if accept {
        "friend-accepted"
    } else {
        "friend-rejected"
    };
    let by = directory.user(me.user_id).await?;
    state
        .broker
        .chat()
        .notify(
            resolved.from,
            kind,
            me.user_id,
            json!({ "request": resolved, "by": by }),
        )
        .await?;
    Ok(Json(resolved))
}

/// My friends with my remarks and their presence.
pub async fn friends(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let chat = state.broker.chat();
    let friends = chat.directory().friends(me.user_id).await?;
    let ids: Vec<i64> = friends.iter().map(|f| f.user.id).collect();
    let online_now = chat.online_for(me.user_id, &ids).await;
    let entries: Vec<_> = friends
        .into_iter()
        .map(|friend| {
            let online = online_now.contains(&friend.user.id);
            json!({ "user": friend.user, "remark": friend.remark, "since": friend.since, "online": online })
        })
        .collect();
    Ok(Json(json!(entries)))
}

pub async fn unfriend(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state
        .broker
        .chat()
        .directory()
        .delete_friend(me.user_id, id)
        .await?
    {
        return Err(ApiError::not_found(format!("user {id} is not your friend")));
    }
    state
        .broker
        .chat()
        .notify(
            id,
            "friend-deleted",
            me.user_id,
            json!({ "user": me.user_id }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Remark {
    remark: Option<String>,
}

pub async fn remark(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Remark>,
) -> Result<StatusCode, ApiError> {
    if let Some(remark) = &body.remark {
        validate::text("remark", remark, validate::REMARK_MAX, false)?;
    }
    state
        .broker
        .chat()
        .directory()
        .set_remark(me.user_id, id, body.remark.filter(|r| !r.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn blocks(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(
        state.broker.chat().directory().blocked(me.user_id).await?,
    ))
}

pub async fn block(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if id == me.user_id {
        return Err(ApiError::invalid("you cannot block yourself"));
    }
    state
        .broker
        .chat()
        .directory()
        .block(me.user_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unblock(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state
        .broker
        .chat()
        .directory()
        .unblock(me.user_id, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("user {id} is not blocked")))
    }
}
