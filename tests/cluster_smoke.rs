//! Two Herald nodes in one process over a shared PostgreSQL and Redis:
//! users on different nodes chat privately and in a group, and see each
//! other's presence. (The multi-process cluster tests, with node kills and
//! Redis restarts, live in tests/cluster.rs.)

mod common;

use common::api::Api;
use common::{expect, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command as Stomp, Frame};
use serde_json::json;

async fn node(id: u16) -> TestBroker {
    let postgres = common::services::postgres().to_owned();
    let redis = common::services::redis().to_owned();
    TestBroker::start_with(move |config| {
        config.server.node_id = id;
        config.store.backend = "postgres".into();
        config.store.postgres_url = postgres;
        config.cluster.redis_url = redis;
        config.auth.jwt.secret = "a shared secret of at least thirty-two bytes".into();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_nodes_chat_and_see_presence() {
    let one = node(1).await;
    let two = node(2).await;
    let alice = Api::register(one.server.http_addr, "smoke-alice").await;
    let bob = Api::register(two.server.http_addr, "smoke-bob").await;
    alice.befriend(&bob).await;

    let (mut alice_stomp, _) = Connection::connect(&one.ws_url(), None, Some(alice.token()), "0,0")
        .await
        .unwrap();
    alice_stomp
        .send_with_receipt(
            Frame::new(Stomp::Subscribe)
                .header("destination", format!("/user/{}", alice.user_id))
                .header("id", "me"),
            "s",
        )
        .await
        .unwrap();
    let (mut bob_stomp, _) = Connection::connect(&two.ws_url(), None, Some(bob.token()), "0,0")
        .await
        .unwrap();
    // bob's CONNECT on node 2 reaches alice on node 1 as presence.
    let presence = loop {
        let frame = expect(&mut alice_stomp, Stomp::Message).await;
        if frame.get("kind") == Some("presence") {
            break frame;
        }
    };
    let body: serde_json::Value = serde_json::from_slice(&presence.body).unwrap();
    assert_eq!(body, json!({ "user": bob.user_id, "online": true }));
    let (_, online) = alice.get(&format!("/presence?ids={}", bob.user_id)).await;
    assert_eq!(online[0]["online"], true, "presence is shared across nodes");

    for n in 1..=5 {
        bob_stomp
            .send_with_receipt(
                Frame::new(Stomp::Send)
                    .header("destination", format!("/user/{}", alice.user_id))
                    .body(format!("across {n}")),
                &format!("r{n}"),
            )
            .await
            .unwrap();
    }
    for n in 1..=5 {
        let frame = loop {
            let frame = expect(&mut alice_stomp, Stomp::Message).await;
            if frame.get("kind") == Some("message") {
                break frame;
            }
        };
        assert_eq!(frame.get("seq"), Some(n.to_string().as_str()));
        assert_eq!(&frame.body[..], format!("across {n}").as_bytes());
    }

    // A topic spans the nodes too.
    let mut guest_one = common::guest(&one.ws_url()).await;
    guest_one
        .send_with_receipt(
            Frame::new(Stomp::Subscribe)
                .header("destination", "/topic/smoke")
                .header("id", "t"),
            "t",
        )
        .await
        .unwrap();
    let mut guest_two = common::guest(&two.tcp_url()).await;
    // The subscription on node 1 reaches Redis asynchronously: send until one arrives.
    let mut received = None;
    for attempt in 0..50 {
        guest_two
            .send(
                &Frame::new(Stomp::Send)
                    .header("destination", "/topic/smoke")
                    .body(format!("topic {attempt}")),
            )
            .await
            .unwrap();
        if let Ok(frame) = guest_one
            .receive_timeout(std::time::Duration::from_millis(100))
            .await
        {
            received = Some(frame);
            break;
        }
    }
    let frame = received.expect("a topic message crossed the nodes");
    assert!(frame.body.starts_with(b"topic "));
}
