//! What an operator and a browser see of a running Herald: the WebSocket
//! `Origin` check, CORS on the API, security headers, `/readyz` with the
//! store and Redis going away, `/metrics` after real traffic, and one log
//! line per closed connection.

mod common;

use std::time::Duration;

use common::api::Api;
use common::services::PrivateRedis;
use common::{expect, BrokerProcess, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command, Frame};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Opens the WebSocket with `origin` (none: as a non-browser client does);
/// the HTTP status of the answer and, when refused, its JSON body.
async fn open_ws(broker: &TestBroker, origin: Option<&str>) -> (u16, Option<Value>) {
    let mut request = broker.ws_url().as_str().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), None),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .and_then(|body| serde_json::from_slice(body).ok());
            (response.status().as_u16(), body)
        }
        Err(error) => panic!("websocket handshake failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origins_are_checked() {
    let broker = TestBroker::start().await;
    let own = format!("http://{}", broker.server.http_addr);
    assert_eq!(
        open_ws(&broker, None).await.0,
        101,
        "no Origin: not a browser"
    );
    assert_eq!(
        open_ws(&broker, Some(&own)).await.0,
        101,
        "the page's own origin"
    );
    let (status, body) = open_ws(&broker, Some("https://evil.example")).await;
    assert_eq!(status, 403);
    let body = body.expect("a JSON body");
    assert_eq!(body["error"], "origin_not_allowed", "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("allowed_origins"));
    let port = broker.server.http_addr.port();
    let (status, _) = open_ws(&broker, Some(&format!("http://127.0.0.1:{}", port + 1))).await;
    assert_eq!(status, 403, "another port is another origin");

    let listed = TestBroker::start_with(|config| {
        config.server.allowed_origins = vec!["https://chat.example.com".into()];
    })
    .await;
    assert_eq!(
        open_ws(&listed, Some("https://chat.example.com")).await.0,
        101
    );
    assert_eq!(
        open_ws(&listed, Some("https://other.example.com")).await.0,
        403
    );
}

#[test]
fn a_bad_origin_list_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("HERALD_SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("HERALD_SERVER__STOMP_LISTEN", "127.0.0.1:0")
        .env("HERALD_SERVER__DATA_DIR", data.path())
        .env(
            "HERALD_SERVER__ALLOWED_ORIGINS",
            r#"["chat.example.com/app"]"#,
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.allowed_origins"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_listed_origins_with_cors() {
    let broker = TestBroker::start_with(|config| {
        config.server.allowed_origins = vec!["https://chat.example.com".into()];
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/login", broker.server.http_addr);
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = preflight("https://chat.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://chat.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "an unlisted origin gets no CORS grant"
    );

    // A real cross-origin call carries the grant too.
    let answer = client
        .post(&url)
        .header("origin", "https://chat.example.com")
        .json(&json!({ "username": "nobody", "password": "wrong-password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://chat.example.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .unwrap();
    let web_dir = web.path().to_path_buf();
    let broker = TestBroker::start_with(move |config| config.server.web_dir = web_dir).await;
    let client = reqwest::Client::new();
    for path in ["/", "/chats/42", "/api/me", "/healthz"] {
        let response = client
            .get(format!("http://{}{path}", broker.server.http_addr))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_store() {
    let broker = TestBroker::start().await;
    let url = format!("http://{}/readyz", broker.server.http_addr);
    let ready = reqwest::get(&url).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // Closing the stores is what a failed database looks like from here:
    // every query fails.
    broker.server.broker.close().await;
    let unready = reqwest::get(&url).await.unwrap();
    assert_eq!(unready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = unready.text().await.unwrap();
    assert!(text.contains("store"), "{text}");
    let health = reqwest::get(format!("http://{}/healthz", broker.server.http_addr))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the process itself is up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_redis_in_a_cluster() {
    let redis = PrivateRedis::start();
    let redis_url = redis.url.clone();
    let broker = TestBroker::start_with(move |config| config.cluster.redis_url = redis_url).await;
    let url = format!("http://{}/readyz", broker.server.http_addr);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
    redis.stop();
    let mut last = String::new();
    // The connection manager may still be mid-reconnect: ask a few times.
    for _ in 0..20 {
        let answer = reqwest::get(&url).await.unwrap();
        last = answer.text().await.unwrap();
        if last.contains("redis") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(last.starts_with("not ready: redis"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_traffic() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "metrics_alice").await;
    let bob = Api::register(broker.server.http_addr, "metrics_bob").await;
    alice.befriend(&bob).await;
    let mut bob_stomp = Connection::connect(&broker.ws_url(), None, Some(bob.token()), "0,0")
        .await
        .unwrap()
        .0;
    bob_stomp
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("destination", format!("/user/{}", bob.user_id))
                .header("id", "inbox")
                .header("ack", "client-individual"),
            "sub",
        )
        .await
        .unwrap();
    let mut alice_stomp = Connection::connect(&broker.ws_url(), None, Some(alice.token()), "0,0")
        .await
        .unwrap()
        .0;
    for n in 0..3 {
        alice_stomp
            .send_with_receipt(
                Frame::new(Command::Send)
                    .header("destination", format!("/user/{}", bob.user_id))
                    .body(format!("hello {n}")),
                &format!("r{n}"),
            )
            .await
            .unwrap();
    }
    let mut seen = 0;
    while seen < 3 {
        let frame = expect(&mut bob_stomp, Command::Message).await;
        if frame.get("kind") == Some("message") {
            seen += 1;
        }
    }
    // A malformed frame and a bad login, each answered with an ERROR.
    alice_stomp
        .send_raw(bytes::Bytes::from_static(b"SEND\nbad\\qescape:x\n\n\0"))
        .await
        .unwrap();
    let error = expect(&mut alice_stomp, Command::Error).await;
    assert!(
        error.get("message").unwrap().contains("escape"),
        "{error:?}"
    );
    let refused =
        Connection::connect(&broker.ws_url(), Some("metrics_bob"), Some("wrong"), "0,0").await;
    assert!(refused.is_err());

    let text = reqwest::get(format!("http://{}/metrics", broker.server.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    // The malformed SEND never became a frame.
    assert!(value("herald_frames_received_total{command=\"SEND\"}") >= 3.0);
    assert!(value("herald_frames_received_total{command=\"CONNECT\"}") >= 3.0);
    assert!(value("herald_frames_sent_total{command=\"RECEIPT\"}") >= 4.0);
    assert!(value("herald_frames_sent_total{command=\"MESSAGE\"}") >= 3.0);
    assert_eq!(
        value("herald_error_frames_total{reason=\"malformed\"}"),
        1.0
    );
    assert_eq!(value("herald_error_frames_total{reason=\"auth\"}"), 1.0);
    assert_eq!(
        value("herald_error_frames_total{reason=\"rate_limited\"}"),
        0.0
    );
    assert!(value("herald_messages_persisted_total") >= 3.0);
    assert!(value("herald_store_write_seconds_count") >= 3.0);
    assert_eq!(
        value("herald_store_write_seconds_bucket{le=\"+Inf\"}"),
        value("herald_store_write_seconds_count")
    );
    assert!(value("herald_delivery_latency_seconds_count") >= 3.0);
    assert!(value("herald_websocket_connections_open") >= 1.0);
    assert_eq!(value("herald_tcp_connections_open"), 0.0);
    assert!(value("herald_connections_closed_total") >= 2.0);
    assert_eq!(
        value("herald_bus_lag_seconds_count"),
        0.0,
        "no cluster, no bus"
    );
}

#[test]
fn every_closed_connection_is_logged_once_with_its_reason() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("herald.log");
    let env = [
        ("HERALD_LOG__FILTER".to_owned(), "info".to_owned()),
        ("HERALD_LOG__FORMAT".to_owned(), "json".to_owned()),
    ];
    let mut broker = BrokerProcess::spawn_logged(&data.path().join("data"), &env, &log);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (connection, _) =
            Connection::connect(&broker.tcp_url(), Some("guest"), Some("guest"), "0,0")
                .await
                .unwrap();
        connection.disconnect().await.unwrap();
        let refused =
            Connection::connect(&broker.ws_url(), Some("guest"), Some("wrong"), "0,0").await;
        assert!(refused.is_err());
    });
    let mut closed = Vec::new();
    for _ in 0..50 {
        let text = std::fs::read_to_string(&log).unwrap();
        closed = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["fields"]["message"] == "connection closed")
            .collect();
        if closed.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    broker.kill_9();
    assert_eq!(closed.len(), 2, "{closed:?}");
    let fields: Vec<&Value> = closed.iter().map(|entry| &entry["fields"]).collect();
    assert_eq!(fields[0]["reason"], "disconnect", "{fields:?}");
    assert_eq!(fields[0]["transport"], "tcp");
    assert_eq!(fields[0]["login"], "guest");
    assert_eq!(fields[1]["reason"], "refused", "{fields:?}");
    assert_eq!(fields[1]["transport"], "websocket");
    assert!(
        fields[1]["detail"]
            .as_str()
            .unwrap()
            .contains("bad credentials"),
        "{fields:?}"
    );
    assert!(fields.iter().all(|f| f["peer"]
        .as_str()
        .is_some_and(|p| p.starts_with("127.0.0.1:"))));
}
