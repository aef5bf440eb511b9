//! Registering, logging in, refreshing tokens and logging out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herald_storage::{Account, NewUser};
use serde::Deserialize;
use serde_json::json;

use super::{validate, ApiError, Authenticated, JsonBody};
use crate::abuse::LoginLimited;
use crate::auth::{hash_password, AuthError, TokenKind};
use crate::server::http::AppState;

#[derive(Deserialize)]
pub struct Register {
    username: String,
    password: String,
    #[serde(default)]
    nickname: Option<String>,
}

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub struct Refresh {
    refresh_token: String,
}

/// The token pair and profile that register, login and refresh return.
pub fn session_body(state: &AppState, account: &Account) -> serde_json::Value {
    let (access, refresh) = state.broker.auth.issue(account);
    json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": state.broker.auth.tokens.access_ttl(),
        "user": account.user,
    })
}

pub async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Register>,
) -> Result<impl IntoResponse, ApiError> {
    validate::username(&body.username)?;
    validate::password(&body.password)?;
    let nickname = body.nickname.unwrap_or_else(|| body.username.clone());
    validate::required_text("nickname", &nickname, validate::NICKNAME_MAX)?;
    let password_hash = hash_password(body.password)
        .await
        .map_err(ApiError::invalid)?;
    let account = state
        .broker
        .chat()
        .directory()
        .create_user(NewUser {
            username: body.username.clone(),
            password_hash,
            nickname,
        })
        .await
        .map_err(|error| match error {
            herald_storage::StoreError::Conflict(_) => {
                ApiError::conflict(format!("username {:?} is already taken", body.username))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(session_body(&state, &account))))
}

/// Checks a password; failures count against the account and the caller's
/// address (`limits.login_failures_per_minute*`), and beyond them the
/// answer is 429 until the minute ends.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Login>,
) -> Response {
    let abuse = &state.broker.abuse;
    if let Err(limited) = abuse.check_login(&body.username, peer.ip()) {
        return too_many_logins(limited);
    }
    match state
        .broker
        .auth
        .password(&body.username, &body.password)
        .await
    {
        Ok(account) => Json(session_body(&state, &account)).into_response(),
        Err(error) => {
            if matches!(error, AuthError::BadCredentials) {
                abuse.login_failed(&body.username, peer.ip());
            }
            ApiError::from(error).into_response()
        }
    }
}

/// 429 with `Retry-After`, in the API's error shape.
fn too_many_logins(limited: LoginLimited) -> Response {
    let seconds = limited.retry_after.as_secs().max(1);
    let body = json!({
        "error": "too_many_requests",
        "message": limited.to_string(),
        "retry_after": seconds,
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        Json(body),
    )
        .into_response()
}

pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Refresh>,
) -> Result<impl IntoResponse, ApiError> {
    let account = state
        .broker
        .auth
        .token(&body.refresh_token, TokenKind::Refresh)
        .await?;
    Ok(Json(session_body(&state, &account)))
}

/// Revokes every token of the caller (all devices).
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<StatusCode, ApiError> {
    state
        .broker
        .chat()
        .directory()
        .bump_token_version(me.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
