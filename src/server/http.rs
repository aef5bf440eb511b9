//! The HTTP port: WebSocket upgrade at the configured path (STOMP over
//! WebSocket), the JSON API under `/api`, and `/healthz`, `/readyz`,
//! `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;

use crate::api::{self, ApiError};
use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::session;
use crate::transport::WebSocketTransport;

/// STOMP's WebSocket subprotocols, most preferred first.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// What every HTTP handler gets.
#[derive(Clone)]
pub struct AppState {
    pub broker: Arc<Broker>,
    pub tasks: TaskTracker,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let ws_path = state.broker.config.server.ws_path.clone();
    Router::new()
        .route(&ws_path, get(upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api", api::routes(&state.broker.config))
        .fallback(|| async { ApiError::not_found("no such resource") })
        .with_state(state)
}

/// Serves HTTP until shutdown.
pub async fn serve(listener: TcpListener, state: AppState) {
    let shutdown = state.broker.shutdown.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(%error, "http listener failed");
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.broker.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.broker.metrics.render(),
    )
        .into_response()
}

/// Answers a WebSocket upgrade and hands the socket to a session.
async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let wants_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let (true, Some(key), true) = (wants_upgrade, key, version_ok) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_required",
            "this endpoint speaks STOMP over WebSocket (version 13); send an Upgrade: websocket request",
        )
        .into_response();
    };
    let protocol = choose_subprotocol(headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let broker = state.broker.clone();
    state.tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, %peer, "websocket upgrade failed");
                return;
            }
        };
        // A WebSocket message can never be larger than the largest frame
        // (plus slack for EOLs), so tungstenite refuses oversize ones early.
        let limit = broker.limits.max_frame_bytes + 1024;
        let config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        Metrics::inc(&broker.metrics.connections_total);
        Metrics::inc(&broker.metrics.websocket_connections_total);
        let always_binary = broker.config.server.ws_always_binary;
        session::serve(broker, WebSocketTransport::new(socket, always_binary), peer).await;
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    response
}

/// The first STOMP subprotocol the client offers, in the client's order;
/// none offered (or none known) is still served, without the header.
fn choose_subprotocol<'a>(offered: impl Iterator<Item = &'a HeaderValue>) -> Option<&'static str> {
    offered
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|name| {
            SUBPROTOCOLS
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_follows_client_order_and_ignores_unknown() {
        let values = [HeaderValue::from_static("mqtt, v11.stomp, v12.stomp")];
        assert_eq!(choose_subprotocol(values.iter()), Some("v11.stomp"));
        let none = [HeaderValue::from_static("mqtt")];
        assert_eq!(choose_subprotocol(none.iter()), None);
        assert_eq!(choose_subprotocol([].iter()), None);
    }
}
