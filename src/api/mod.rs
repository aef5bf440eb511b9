//! The HTTP JSON API under `/api`: accounts and tokens, profiles, contacts,
//! groups, presence, kept events and files. One file per resource.
//!
//! Every error is JSON `{ "error": code, "message": text }` with a fitting
//! 4xx (or 503 when the store is down). Nothing in a response carries a
//! password hash, a stack trace, or another user's private data.

mod accounts;
mod admin;
mod contacts;
mod conversations;
mod error;
mod events;
mod extract;
mod files;
mod groups;
mod me;
mod members;
pub mod openapi;
mod users;
mod validate;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

pub use error::ApiError;
pub use extract::{Authenticated, JsonBody, Path, Query};

use crate::config::Config;
use crate::server::http::AppState;

/// Every API route, as (method, path) pairs in axum syntax: the OpenAPI
/// document is checked against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/register"),
    ("post", "/login"),
    ("post", "/token/refresh"),
    ("post", "/logout"),
    ("get", "/me"),
    ("patch", "/me"),
    ("put", "/me/password"),
    ("get", "/users"),
    ("get", "/users/{id}"),
    ("get", "/presence"),
    ("get", "/events"),
    ("get", "/conversations"),
    ("get", "/conversations/{id}/messages"),
    ("delete", "/conversations/{id}/messages/{seq}"),
    ("get", "/search"),
    ("get", "/admin/dead-letters"),
    ("post", "/files"),
    ("get", "/files/{id}"),
    ("get", "/friend-requests"),
    ("post", "/friend-requests"),
    ("post", "/friend-requests/{id}/accept"),
    ("post", "/friend-requests/{id}/reject"),
    ("get", "/friends"),
    ("delete", "/friends/{id}"),
    ("put", "/friends/{id}/remark"),
    ("get", "/blocks"),
    ("put", "/blocks/{id}"),
    ("delete", "/blocks/{id}"),
    ("get", "/groups"),
    ("post", "/groups"),
    ("get", "/groups/{id}"),
    ("patch", "/groups/{id}"),
    ("delete", "/groups/{id}"),
    ("post", "/groups/{id}/transfer"),
    ("get", "/groups/{id}/members"),
    ("post", "/groups/{id}/members"),
    ("delete", "/groups/{id}/members/{user}"),
    ("put", "/groups/{id}/members/{user}/role"),
    ("put", "/groups/{id}/members/{user}/mute"),
    ("get", "/groups/{id}/join-requests"),
    ("post", "/groups/{id}/join-requests"),
    ("post", "/join-requests/{id}/accept"),
    ("post", "/join-requests/{id}/reject"),
    ("get", "/openapi.json"),
];

pub fn routes(config: &Config) -> Router<AppState> {
    Router::new()
        .route("/register", post(accounts::register))
        .route("/login", post(accounts::login))
        .route("/token/refresh", post(accounts::refresh))
        .route("/logout", post(accounts::logout))
        .route("/me", get(me::get).patch(me::patch))
        .route("/me/password", put(me::change_password))
        .route("/users", get(users::search))
        .route("/users/{id}", get(users::get))
        .route("/presence", get(users::presence))
        .route("/events", get(events::list))
        .route("/conversations", get(conversations::list))
        .route("/conversations/{id}/messages", get(conversations::messages))
        .route(
            "/conversations/{id}/messages/{seq}",
            axum::routing::delete(conversations::hide),
        )
        .route("/search", get(conversations::search))
        .route("/admin/dead-letters", get(admin::dead_letters))
        .route(
            "/friend-requests",
            get(contacts::requests).post(contacts::request),
        )
        .route("/friend-requests/{id}/accept", post(contacts::accept))
        .route("/friend-requests/{id}/reject", post(contacts::reject))
        .route("/friends", get(contacts::friends))
        .route("/friends/{id}", axum::routing::delete(contacts::unfriend))
        .route("/friends/{id}/remark", put(contacts::remark))
        .route("/blocks", get(contacts::blocks))
        .route(
            "/blocks/{id}",
            put(contacts::block).delete(contacts::unblock),
        )
        .route("/groups", get(groups::mine).post(groups::create))
        .route(
            "/groups/{id}",
            get(groups::get)
                .patch(groups::update)
                .delete(groups::dissolve),
        )
        .route("/groups/{id}/transfer", post(groups::transfer))
        .route(
            "/groups/{id}/members",
            get(members::list).post(members::add),
        )
        .route(
            "/groups/{id}/members/{user}",
            axum::routing::delete(members::remove),
        )
        .route("/groups/{id}/members/{user}/role", put(members::set_role))
        .route("/groups/{id}/members/{user}/mute", put(members::mute))
        .route(
            "/groups/{id}/join-requests",
            get(members::join_requests).post(members::ask_to_join),
        )
        .route("/join-requests/{id}/accept", post(members::accept_join))
        .route("/join-requests/{id}/reject", post(members::reject_join))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::not_found("no such API route") })
        .layer(DefaultBodyLimit::max(config.api.max_body_bytes))
        // Merged after the JSON body limit: uploads have their own.
        .merge(files::routes(config))
}
