//! The caller's own profile and password.

use axum::extract::State;
use axum::Json;
use herald_storage::{ProfilePatch, User};
use serde::Deserialize;

use super::accounts::session_body;
use super::{validate, ApiError, Authenticated, JsonBody};
use crate::auth::hash_password;
use crate::server::http::AppState;

pub async fn get(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<User>, ApiError> {
    let user = state
        .broker
        .chat()
        .directory()
        .user(me.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(Json(user))
}

pub async fn patch(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Json<User>, ApiError> {
    if let Some(nickname) = &patch.nickname {
        validate::required_text("nickname", nickname, validate::NICKNAME_MAX)?;
    }
    if let Some(avatar) = &patch.avatar {
        validate::text("avatar", avatar, validate::AVATAR_MAX, false)?;
    }
    if let Some(signature) = &patch.signature {
        validate::text("signature", signature, validate::SIGNATURE_MAX, true)?;
    }
    Ok(Json(
        state
            .broker
            .chat()
            .directory()
            .update_profile(me.user_id, patch)
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct PasswordChange {
    old_password: String,
    new_password: String,
}

/// Changes the password; every older token stops working, and the answer
/// carries a fresh pair so this client stays logged in.
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<Json<serde_json::Value>, ApiError> {
    validate::password(&body.new_password)?;
    let account = state
        .broker
        .auth
        .password(&me.username, &body.old_password)
        .await
        .map_err(|_| ApiError::forbidden("the old password is wrong"))?;
    let hash = hash_password(body.new_password)
        .await
        .map_err(ApiError::invalid)?;
    let directory = state.broker.chat().directory();
    directory.set_password(account.user.id, hash).await?;
    let account = directory
        .account(account.user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(Json(session_body(&state, &account)))
}
