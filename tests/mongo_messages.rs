//! Herald with chat messages, cursors and dedupe records in MongoDB (a
//! MongoDB-wire server that scripts/mongo.sh starts; production uses a real
//! MongoDB) and the directory in SQLite: chat, receipts, dedupe, history
//! and resume all work the same.

mod common;

use common::api::Api;
use common::{expect, TestBroker};
use herald::client::Connection;
use herald_protocol::{Command as Stomp, Frame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_messages_in_mongodb() {
    let base = common::services::mongo().trim_end_matches('/').to_owned();
    let url = format!("{base}/herald_broker_{}", std::process::id());
    let broker = TestBroker::start_with(move |config| {
        config.store.messages = "mongodb".into();
        config.store.mongodb_url = url;
    })
    .await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "mongo-alice").await;
    let bob = Api::register(http, "mongo-bob").await;
    alice.befriend(&bob).await;
    let (mut alice_stomp, _) =
        Connection::connect(&broker.ws_url(), None, Some(alice.token()), "0,0")
            .await
            .unwrap();
    let mut receipts = Vec::new();
    for n in 1..=3 {
        for _ in 0..2 {
            // Each message twice with the same client-msg-id: stored once.
            alice_stomp
                .send(
                    &Frame::new(Stomp::Send)
                        .header("destination", format!("/user/{}", bob.user_id))
                        .header("client-msg-id", format!("m{n}"))
                        .header("receipt", format!("r{n}"))
                        .body(format!("mongo {n}")),
                )
                .await
                .unwrap();
            let receipt = expect(&mut alice_stomp, Stomp::Receipt).await;
            receipts.push((
                receipt.get("seq").unwrap().to_owned(),
                receipt.get("message-id").unwrap().to_owned(),
            ));
        }
    }
    for pair in receipts.chunks(2) {
        assert_eq!(pair[0], pair[1], "a repeat gets the first receipt");
    }
    let seqs: Vec<&str> = receipts
        .iter()
        .step_by(2)
        .map(|(seq, _)| seq.as_str())
        .collect();
    assert_eq!(seqs, ["1", "2", "3"]);

    // bob's new device replays the conversation from MongoDB, each once.
    let (mut bob_stomp, _) = Connection::connect(&broker.ws_url(), None, Some(bob.token()), "0,0")
        .await
        .unwrap();
    bob_stomp
        .send(
            &Frame::new(Stomp::Subscribe)
                .header("destination", format!("/user/{}", bob.user_id))
                .header("id", "me")
                .header("ack", "client-individual"),
        )
        .await
        .unwrap();
    let mut bodies = Vec::new();
    while bodies.len() < 3 {
        let frame = expect(&mut bob_stomp, Stomp::Message).await;
        if frame.get("kind") == Some("message") {
            bodies.push(String::from_utf8_lossy(&frame.body).into_owned());
            let ack = frame.get("ack").unwrap().to_owned();
            bob_stomp
                .send(&Frame::new(Stomp::Ack).header("id", ack))
                .await
                .unwrap();
        }
    }
    assert_eq!(bodies, ["mongo 1", "mongo 2", "mongo 3"]);
    let conversation = format!(
        "u{}-{}",
        alice.user_id.min(bob.user_id),
        alice.user_id.max(bob.user_id)
    );
    let (_, history) = bob
        .get(&format!("/conversations/{conversation}/messages"))
        .await;
    assert_eq!(history["last_seq"], 3);
    assert_eq!(history["messages"].as_array().unwrap().len(), 3);
}
