//! Herald on the PostgreSQL backend: accounts, contacts and chat history
//! live in PostgreSQL and survive a broker restart. The test starts its own
//! throwaway cluster with scripts/postgres.sh (or uses
//! HERALD_TEST_POSTGRES_URL) and fails, never skips, when it cannot.

mod common;

use common::api::Api;
use common::{expect, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command as StompCommand, Frame};
use reqwest::StatusCode;
use serde_json::json;

async fn broker_on_postgres() -> TestBroker {
    let url = common::services::postgres().to_owned();
    TestBroker::start_with(move |config| {
        config.store.backend = "postgres".into();
        config.store.postgres_url = url;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_on_postgres_survives_a_restart() {
    let broker = broker_on_postgres().await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "pg-alice").await;
    let bob = Api::register(http, "pg-bob").await;
    alice.befriend(&bob).await;
    let (mut connection, _) =
        Connection::connect(&broker.ws_url(), None, Some(alice.token()), "0,0")
            .await
            .unwrap();
    for n in 1..=3 {
        connection
            .send_with_receipt(
                Frame::new(StompCommand::Send)
                    .header("destination", format!("/user/{}", bob.user_id))
                    .body(format!("pg {n}")),
                &format!("r{n}"),
            )
            .await
            .unwrap();
    }
    // A /queue message kept in PostgreSQL too.
    connection
        .send_with_receipt(
            Frame::new(StompCommand::Send)
                .header("destination", "/queue/pg-kept")
                .body("kept"),
            "q",
        )
        .await
        .unwrap();
    connection.disconnect().await.unwrap();
    let TestBroker {
        server,
        data: _data,
    } = broker;
    server.shutdown().await;

    let broker = broker_on_postgres().await;
    let mut bob = bob.clone();
    bob.base = format!("http://{}/api", broker.server.http_addr);
    let (status, login) = bob
        .post(
            "/login",
            json!({ "username": "pg-bob", "password": "password-pg-bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    bob.adopt(&login);
    let conversation = format!(
        "u{}-{}",
        alice.user_id.min(bob.user_id),
        alice.user_id.max(bob.user_id)
    );
    let (_, history) = bob
        .get(&format!("/conversations/{conversation}/messages"))
        .await;
    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["pg 1", "pg 2", "pg 3"]);
    assert_eq!(history["last_seq"], 3);
    let (_, friends) = bob.get("/friends").await;
    assert_eq!(friends[0]["user"]["username"], "pg-alice");

    let mut consumer = common::guest(&broker.tcp_url()).await;
    consumer
        .send(
            &Frame::new(StompCommand::Subscribe)
                .header("destination", "/queue/pg-kept")
                .header("id", "1"),
        )
        .await
        .unwrap();
    let kept = expect(&mut consumer, StompCommand::Message).await;
    assert_eq!(&kept.body[..], b"kept");
}
