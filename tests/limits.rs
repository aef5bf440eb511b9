//! Abuse limits over real sockets: connections per IP, a frame dribbled
//! past `stomp.frame_timeout_ms`, SENDs per second per IP, and failed
//! logins per account and per IP on the HTTP API and on STOMP CONNECT.
//! Subscriptions per connection are capped too. Loopback is exempt from the
//! per-IP limits by default, so those tests clear `exempt_ips`.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use herald_protocol::{Command, Decoder, Frame, Limits};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::api::Api;
use common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A raw STOMP-over-TCP connection.
struct Raw {
    stream: TcpStream,
    decoder: Decoder,
    buffer: BytesMut,
}

impl Raw {
    async fn open(broker: &TestBroker) -> Raw {
        let stream = TcpStream::connect(broker.server.stomp_addr.unwrap())
            .await
            .unwrap();
        Raw {
            stream,
            decoder: Decoder::new(Limits::default()),
            buffer: BytesMut::new(),
        }
    }

    async fn connect(broker: &TestBroker, login: &str, passcode: &str) -> (Raw, Frame) {
        let mut raw = Raw::open(broker).await;
        let connect = format!(
            "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:{login}\npasscode:{passcode}\n\n\0"
        );
        raw.write(connect.as_bytes()).await;
        let answer = raw.frame().await.expect("an answer to CONNECT");
        (raw, answer)
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame, or none when the broker closed the connection.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer).unwrap() {
                return Some(frame);
            }
            let read = tokio::time::timeout(TIMEOUT, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("the broker answers in time");
            if matches!(read, Ok(0) | Err(_)) {
                return None;
            }
        }
    }

    /// Frames until one with `command`; panics if the connection closes.
    async fn until(&mut self, command: Command) -> Frame {
        loop {
            let frame = self.frame().await.expect("connection open");
            if frame.command == command {
                return frame;
            }
        }
    }

    async fn closed(&mut self) -> bool {
        while self.frame().await.is_some() {}
        true
    }
}

#[tokio::test]
async fn connections_per_ip_are_capped_at_accept() {
    let broker = TestBroker::start_with(|config| {
        config.limits.connections_per_ip = 2;
        config.limits.exempt_ips.clear();
    })
    .await;
    let (first, connected) = Raw::connect(&broker, "guest", "guest").await;
    assert_eq!(connected.command, Command::Connected);
    let (_second, _) = Raw::connect(&broker, "guest", "guest").await;

    let mut third = Raw::open(&broker).await;
    let error = third.frame().await.expect("an ERROR before the close");
    assert_eq!(error.command, Command::Error);
    assert!(
        error
            .get("message")
            .unwrap()
            .contains("too many connections"),
        "{error:?}"
    );
    assert!(third.closed().await);

    // WebSocket upgrades count against the same limit.
    let refused = tokio_tungstenite::connect_async(broker.ws_url().as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("expected HTTP 429, got {other:?}"),
    }
    assert!(broker.metric("connections_refused_total") >= 2);

    // A place frees when a connection closes.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        let (raw, answer) = Raw::connect(&broker, "guest", "guest").await;
        if answer.command == Command::Connected {
            admitted = true;
            drop(raw);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a freed place is given to a new connection");
}

#[tokio::test]
async fn a_frame_dribbled_past_the_frame_timeout_is_refused() {
    let broker = TestBroker::start_with(|config| {
        config.stomp.frame_timeout_ms = 400;
    })
    .await;
    let (mut raw, connected) = Raw::connect(&broker, "guest", "guest").await;
    assert_eq!(connected.command, Command::Connected);
    // A whole frame sent slowly but within the timeout is fine.
    raw.write(b"SEND\ndestination:/topic/slow\nreceipt:r1\n")
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    raw.write(b"\nquick enough\0").await;
    assert_eq!(
        raw.until(Command::Receipt).await.get("receipt-id"),
        Some("r1")
    );

    // 46 bytes at one per 50 ms take 2.3 s, far past the 400 ms allowed.
    let mut answered = false;
    for byte in b"SEND\ndestination:/topic/slow\n\nbyte by byte, forever" {
        if raw.stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let wait = Duration::from_millis(50);
        if let Ok(read) = tokio::time::timeout(wait, raw.stream.read_buf(&mut raw.buffer)).await {
            answered = matches!(read, Ok(n) if n > 0);
            break;
        }
    }
    assert!(answered, "the broker answered the dribble");
    let error = raw.frame().await;
    let error = error.expect("an ERROR frame");
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert!(
        error.get("message").unwrap().contains("frame_timeout_ms"),
        "{error:?}"
    );
    assert!(raw.closed().await);
}

#[tokio::test]
async fn sends_per_second_per_ip_count_over_connections() {
    let broker = TestBroker::start_with(|config| {
        config.limits.sends_per_second_per_ip = 5;
        config.limits.exempt_ips.clear();
    })
    .await;
    let (mut other, _) = Raw::connect(&broker, "guest", "guest").await;
    let (mut raw, _) = Raw::connect(&broker, "guest", "guest").await;
    // Twenty SENDs cannot fit five per second in one or two seconds.
    let mut burst = Vec::new();
    for n in 0..20 {
        burst.extend_from_slice(
            format!("SEND\ndestination:/topic/burst\nreceipt:r{n}\n\n{n}\0").as_bytes(),
        );
    }
    raw.write(&burst).await;
    let error = raw.until(Command::Error).await;
    assert!(
        error
            .get("message")
            .unwrap()
            .contains("sends_per_second_per_ip"),
        "{error:?}"
    );
    assert!(raw.closed().await);
    // The limit is per address: the other connection was not closed.
    other
        .write(b"SUBSCRIBE\nid:0\ndestination:/topic/x\nreceipt:s\n\n\0")
        .await;
    let answer = other.frame().await.expect("still open");
    assert!(
        matches!(answer.command, Command::Receipt | Command::Error),
        "{answer:?}"
    );
}

async fn login(broker: &TestBroker, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}/api/login", broker.server.http_addr))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_logins_lock_the_account_then_the_address() {
    let broker = TestBroker::start_with(|config| {
        config.limits.login_failures_per_minute = 3;
        config.limits.login_failures_per_minute_per_ip = 5;
        config.limits.exempt_ips.clear();
    })
    .await;
    let http = broker.server.http_addr;
    for name in ["alice", "bob", "carol"] {
        Api::register(http, name).await;
    }
    for _ in 0..2 {
        let answer = login(&broker, "alice", "wrong").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    // The third failure comes over STOMP: both count.
    let (mut raw, error) = Raw::connect(&broker, "alice", "wrong").await;
    assert_eq!(error.command, Command::Error);
    assert!(raw.closed().await);

    // Now even the right password is refused, with a clear 429.
    let answer = login(&broker, "alice", "password-alice").await;
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("account"),
        "{body}"
    );
    let (_, error) = Raw::connect(&broker, "alice", "password-alice").await;
    assert_eq!(error.command, Command::Error);
    assert!(
        error
            .get("message")
            .unwrap()
            .contains("too many failed logins"),
        "{error:?}"
    );

    // Other accounts still log in, until the address has failed too often.
    let answer = login(&broker, "bob", "password-bob").await;
    assert_eq!(answer.status(), StatusCode::OK);
    for _ in 0..2 {
        let answer = login(&broker, "bob", "wrong").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let answer = login(&broker, "carol", "password-carol").await;
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("address"),
        "{body}"
    );
}

#[tokio::test]
async fn loopback_is_exempt_by_default() {
    let broker = TestBroker::start_with(|config| {
        config.limits.connections_per_ip = 1;
    })
    .await;
    let (_first, a) = Raw::connect(&broker, "guest", "guest").await;
    let (_second, b) = Raw::connect(&broker, "guest", "guest").await;
    assert_eq!(
        (a.command, b.command),
        (Command::Connected, Command::Connected)
    );
}

#[tokio::test]
async fn subscriptions_per_connection_are_capped() {
    let broker = TestBroker::start_with(|config| config.stomp.max_subscriptions = 3).await;
    let (mut raw, connected) = Raw::connect(&broker, "guest", "guest").await;
    assert_eq!(connected.command, Command::Connected);
    for n in 0..3 {
        let subscribe =
            format!("SUBSCRIBE\nid:{n}\ndestination:/topic/cap.{n}\nreceipt:r{n}\n\n\0");
        raw.write(subscribe.as_bytes()).await;
        let receipt = raw.until(Command::Receipt).await;
        assert_eq!(receipt.get("receipt-id"), Some(format!("r{n}").as_str()));
    }
    raw.write(b"SUBSCRIBE\nid:3\ndestination:/topic/cap.3\nreceipt:r3\n\n\0")
        .await;
    let error = raw.until(Command::Error).await;
    let message = error.get("message").unwrap();
    assert!(message.contains("too many subscriptions"), "{message}");
    assert!(message.contains("max_subscriptions 3"), "{message}");
    assert!(raw.closed().await);
    assert_eq!(broker.metric("error_frames_total"), 1);

    // The cap is per connection and counts live subscriptions: another
    // connection of the same user starts afresh, and UNSUBSCRIBE frees a place.
    let (mut other, _) = Raw::connect(&broker, "guest", "guest").await;
    for n in 0..3 {
        let subscribe = format!("SUBSCRIBE\nid:{n}\ndestination:/topic/cap.{n}\n\n\0");
        other.write(subscribe.as_bytes()).await;
    }
    other.write(b"UNSUBSCRIBE\nid:0\n\n\0").await;
    other
        .write(b"SUBSCRIBE\nid:9\ndestination:/topic/cap.9\nreceipt:again\n\n\0")
        .await;
    let receipt = other.until(Command::Receipt).await;
    assert_eq!(receipt.get("receipt-id"), Some("again"));
}

#[tokio::test]
async fn queues_hold_at_most_max_queued_messages() {
    let broker = TestBroker::start_with(|config| config.limits.max_queued_messages = 5).await;
    let send = |n: u32| {
        Frame::new(Command::Send)
            .header("destination", format!("/queue/cap.{}", n % 2))
            .body(format!("job {n}"))
    };
    let mut producer = common::guest(&broker.tcp_url()).await;
    for n in 0..5 {
        producer
            .send_with_receipt(send(n), &format!("r{n}"))
            .await
            .expect("room for five, over both queues");
    }
    let refused = producer.send_with_receipt(send(5), "r5").await;
    let message = format!("{refused:?}");
    assert!(message.contains("queues are full"), "{message}");
    assert!(message.contains("max_queued_messages"), "{message}");
    assert_eq!(broker.metric("error_frames_total"), 1);

    // An acknowledgement frees a place; a delivery alone does not.
    let mut consumer = common::guest(&broker.tcp_url()).await;
    consumer
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("destination", "/queue/cap.0")
                .header("id", "c")
                .header("ack", "client-individual"),
            "s",
        )
        .await
        .unwrap();
    let first = common::expect(&mut consumer, Command::Message).await;
    let second = common::expect(&mut consumer, Command::Message).await;
    let mut producer = common::guest(&broker.tcp_url()).await;
    let still_full = producer.send_with_receipt(send(6), "r6").await;
    assert!(format!("{still_full:?}").contains("queues are full"));
    for (n, message) in [&first, &second].into_iter().enumerate() {
        consumer
            .send_with_receipt(
                Frame::new(Command::Ack).header("id", message.get("ack").unwrap()),
                &format!("ack{n}"),
            )
            .await
            .unwrap();
    }
    // The queue frees the places as it takes in the acks: a refusal just
    // after them is a race, so a refused producer tries again.
    let mut accepted = 0;
    for attempt in 0..50 {
        let mut producer = common::guest(&broker.tcp_url()).await;
        while accepted < 2 {
            match producer
                .send_with_receipt(send(8), &format!("again{attempt}"))
                .await
            {
                Ok(_) => accepted += 1,
                Err(_) => break,
            }
        }
        if accepted == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut producer = common::guest(&broker.tcp_url()).await;
    assert_eq!(accepted, 2, "two acknowledged, two places");
    let over = producer.send_with_receipt(send(9), "over").await;
    assert!(format!("{over:?}").contains("queues are full"), "{over:?}");
}
