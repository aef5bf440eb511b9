//! The HTTP port: WebSocket upgrade at the configured path (STOMP over
//! WebSocket), `/healthz`, `/readyz` and `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::session;
use crate::transport::WebSocketTransport;

/// STOMP's WebSocket subprotocols, most preferred first.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

type Body = Full<Bytes>;

/// Accepts HTTP connections until shutdown.
pub async fn accept_loop(listener: TcpListener, broker: Arc<Broker>, tasks: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let broker = broker.clone();
        let session_tasks = tasks.clone();
        tasks.spawn(async move {
            let service = service_fn(move |request| {
                let broker = broker.clone();
                let tasks = session_tasks.clone();
                async move { Ok::<_, Infallible>(route(request, broker, peer, tasks)) }
            });
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "http connection ended with an error");
            }
        });
    }
}

fn route(
    request: Request<Incoming>,
    broker: Arc<Broker>,
    peer: SocketAddr,
    tasks: TaskTracker,
) -> Response<Body> {
    let path = request.uri().path();
    if path == broker.config.server.ws_path {
        return upgrade(request, broker, peer, tasks);
    }
    match (request.method(), path) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => {
            if broker.shutdown.is_cancelled() {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else {
                text(StatusCode::OK, "ready\n")
            }
        }
        (&Method::GET, "/metrics") => {
            let mut response = text(StatusCode::OK, &broker.metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        (&Method::GET, "/") => text(
            StatusCode::OK,
            &format!(
                "Herald STOMP broker. Connect a STOMP client over WebSocket at {}\n",
                broker.config.server.ws_path
            ),
        ),
        _ => json_error(StatusCode::NOT_FOUND, "not_found", "no such resource"),
    }
}

/// Answers a WebSocket upgrade and hands the socket to a session.
fn upgrade(
    mut request: Request<Incoming>,
    broker: Arc<Broker>,
    peer: SocketAddr,
    tasks: TaskTracker,
) -> Response<Body> {
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
        return json_error(
            StatusCode::BAD_REQUEST,
            "websocket_required",
            "this endpoint speaks STOMP over WebSocket (version 13); send an Upgrade: websocket request",
        );
    };
    let protocol = choose_subprotocol(headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter());
    let limits = broker.limits;
    let always_binary = broker.config.server.ws_always_binary;
    let on_upgrade = hyper::upgrade::on(&mut request);
    tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, %peer, "websocket upgrade failed");
                return;
            }
        };
        // A WebSocket message can never be larger than the largest frame
        // (plus slack for EOLs), so tungstenite refuses oversize ones early.
        let config = WebSocketConfig::default()
            .max_message_size(Some(limits.max_frame_bytes + 1024))
            .max_frame_size(Some(limits.max_frame_bytes + 1024));
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        Metrics::inc(&broker.metrics.connections_total);
        Metrics::inc(&broker.metrics.websocket_connections_total);
        session::serve(broker, WebSocketTransport::new(socket, always_binary), peer).await;
    });
    let mut response = Response::new(Body::default());
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

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
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
