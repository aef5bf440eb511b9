//! The HTTP port: WebSocket upgrade at the configured path (STOMP over
//! WebSocket), the JSON API under `/api`, `/healthz`, `/readyz`,
//! `/metrics`, and the built web client (`server.web_dir`) at `/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
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

use super::web_security::{with_security_headers, Origins};

/// STOMP's WebSocket subprotocols, most preferred first.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// What every HTTP handler gets.
#[derive(Clone)]
pub struct AppState {
    pub broker: Arc<Broker>,
    pub tasks: TaskTracker,
    pub origins: Arc<Origins>,
}

impl AppState {
    pub fn new(broker: Arc<Broker>, tasks: TaskTracker) -> AppState {
        // Config validation has already refused a list that does not parse.
        let origins = Origins::parse(&broker.config.server.allowed_origins).unwrap_or_default();
        AppState {
            broker,
            tasks,
            origins: Arc::new(origins),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let ws_path = state.broker.config.server.ws_path.clone();
    let mut api = api::routes(&state.broker.config);
    if let Some(cors) = state.origins.cors() {
        api = api.layer(cors);
    }
    let router = Router::new()
        .route(&ws_path, get(upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api", api)
        .fallback(web_client);
    with_security_headers(router).with_state(state)
}

/// Serves HTTP until shutdown.
pub async fn serve(listener: TcpListener, state: AppState) {
    let shutdown = state.broker.shutdown.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // No Nagle: a subscriber's connection only receives, so its peer has
    // nothing to piggyback ACKs on; with Nagle each small MESSAGE written
    // while the previous one is unacknowledged would wait for a delayed
    // ACK (up to 40 ms on Linux). The TCP listener does the same.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(%error, "http listener failed");
    }
}

/// Ready for traffic: not shutting down, and the store (and Redis, in a
/// cluster) answer. A load balancer stops sending clients here otherwise.
async fn ready(State(state): State<AppState>) -> Response {
    if state.broker.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match state.broker.ready().await {
        Ok(()) => "ready\n".into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.broker.metrics.render(),
    )
        .into_response()
}

/// The built web client: a file from `server.web_dir`, or its `index.html`
/// for any other GET whose last segment names no file (the app routes in
/// the browser). Everything else, and everything under `/api` and the
/// WebSocket path, is the JSON 404.
async fn web_client(State(state): State<AppState>, request: Request) -> Response {
    let not_found = || ApiError::not_found("no such resource").into_response();
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return not_found();
    }
    let path = request.uri().path();
    let ws_path = state.broker.config.server.ws_path.trim_end_matches('/');
    if path.starts_with("/api/")
        || (!ws_path.is_empty() && path.starts_with(&format!("{ws_path}/")))
    {
        return not_found();
    }
    let Some(relative) = web_path(path) else {
        return not_found();
    };
    let dir = &state.broker.config.server.web_dir;
    if !relative.as_os_str().is_empty() {
        if let Some(response) = web_file(&dir.join(&relative), relative.starts_with("assets")).await
        {
            return response;
        }
        if relative.extension().is_some() {
            return not_found();
        }
    }
    match web_file(&dir.join("index.html"), false).await {
        Some(response) => response,
        None if path == "/" => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "Herald is running, but its web client is not built ({} has no index.html).\n\
                 Start Herald with scripts/run.sh, or run `npm ci && npm run build` in web/.\n",
                dir.display()
            ),
        )
            .into_response(),
        None => not_found(),
    }
}

/// A request path as a path inside the web directory (empty for `/`); none
/// for a path that could leave it or names a hidden file.
fn web_path(path: &str) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0', ':']) {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

/// One file of the web client, when it exists. Vite's hashed `assets/` never
/// change under their names; everything else is revalidated.
async fn web_file(path: &Path, immutable: bool) -> Option<Response> {
    if !tokio::fs::metadata(path).await.ok()?.is_file() {
        return None;
    }
    let bytes = tokio::fs::read(path).await.ok()?;
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Some(
        (
            [
                (header::CONTENT_TYPE, web_content_type(path)),
                (header::CACHE_CONTROL, cache),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
    )
}

/// The content type of a web client file, by its extension.
fn web_content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
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
    if !state.origins.allows(headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "pages from this origin may not open Herald's WebSocket; add it to server.allowed_origins",
        )
        .into_response();
    }
    let protocol = choose_subprotocol(headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter());
    let Some(place) = state.broker.abuse.connections.admit(peer.ip()) else {
        Metrics::inc(&state.broker.metrics.connections_refused_total);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            "limits.connections_per_ip is reached for your address; close a connection first",
        )
        .into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let broker = state.broker.clone();
    state.tasks.spawn(async move {
        let _place = place;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, %peer, "websocket upgrade failed");
                return;
            }
        };
        // Oversize frames are refused by the STOMP decoder, which answers
        // with an ERROR and drains the rest before closing. tungstenite's
        // own limit is a backstop a few times higher: past it the socket
        // can only be dropped, and a client still sending may then lose
        // the ERROR to a reset.
        let limit = (broker.limits.max_frame_bytes + 1024).saturating_mul(4);
        // tungstenite's defaults (128 KiB read buffer, 128 KiB write
        // target) would cost every idle chat connection a quarter of a
        // MiB; small buffers grow only while a large frame passes.
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(16 * 1024)
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
    fn web_paths_stay_inside_the_web_directory() {
        assert_eq!(web_path("/"), Some(PathBuf::new()));
        assert_eq!(
            web_path("/assets/index-1.js"),
            Some(PathBuf::from("assets/index-1.js"))
        );
        assert_eq!(web_path("//chats//"), Some(PathBuf::from("chats")));
        assert_eq!(web_path("/../etc/passwd"), None);
        assert_eq!(web_path("/assets/.."), None);
        assert_eq!(web_path("/.env"), None);
        assert_eq!(web_path("/a\\..\\b"), None);
        assert_eq!(web_path("/c:/x"), None);
    }

    #[test]
    fn web_files_get_their_content_types() {
        assert_eq!(
            web_content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            web_content_type(Path::new("assets/a.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(web_content_type(Path::new("favicon.svg")), "image/svg+xml");
        assert_eq!(
            web_content_type(Path::new("LICENSE")),
            "application/octet-stream"
        );
    }

    #[test]
    fn subprotocol_follows_client_order_and_ignores_unknown() {
        let values = [HeaderValue::from_static("mqtt, v11.stomp, v12.stomp")];
        assert_eq!(choose_subprotocol(values.iter()), Some("v11.stomp"));
        let none = [HeaderValue::from_static("mqtt")];
        assert_eq!(choose_subprotocol(none.iter()), None);
        assert_eq!(choose_subprotocol([].iter()), None);
    }
}
