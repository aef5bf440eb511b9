//! Finding users, their public profiles, and presence.

use super::{Path, Query};
use axum::extract::State;
use axum::Json;
use herald_storage::User;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Authenticated};
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    20
}

pub async fn search(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Query(query): Query<Search>,
) -> Result<Json<Vec<User>>, ApiError> {
    if query.q.trim().is_empty() {
        return Err(ApiError::invalid("q must not be empty"));
    }
    let limit = query.limit.clamp(1, 100);
    Ok(Json(
        state
            .broker
            .chat()
            .directory()
            .search_users(query.q.trim(), limit)
            .await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    let user = state
        .broker
        .chat()
        .directory()
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no user {id}")))?;
    Ok(Json(user))
}

#[derive(Deserialize)]
pub struct PresenceQuery {
    /// Comma-separated user ids.
    ids: String,
}

/// Presence of the given users, for those the caller may see: themself,
/// their friends and fellow group members. Others are left out.
pub async fn presence(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(query): Query<PresenceQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ids = query
        .ids
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::invalid("ids must be comma-separated user ids"))?;
    if ids.len() > 500 {
        return Err(ApiError::invalid("at most 500 ids at once"));
    }
    let chat = state.broker.chat();
    let visible = visible_users(&state, me.user_id).await?;
    let ids: Vec<i64> = ids
        .into_iter()
        .filter(|id| *id == me.user_id || visible.binary_search(id).is_ok())
        .collect();
    let online = chat.online_for(me.user_id, &ids).await;
    let entries: Vec<_> = ids
        .into_iter()
        .map(|id| json!({ "user": id, "online": online.contains(&id) }))
        .collect();
    Ok(Json(json!(entries)))
}

/// Friends and fellow group members, sorted.
pub async fn visible_users(state: &AppState, me: i64) -> Result<Vec<i64>, ApiError> {
    let directory = state.broker.chat().directory();
    let mut visible = directory.friend_ids(me).await?;
    for (group, _) in directory.user_groups(me).await? {
        visible.extend(directory.member_ids(group.id).await?);
    }
    visible.sort_unstable();
    visible.dedup();
    Ok(visible)
}
