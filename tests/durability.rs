//! A `/queue` message that got its RECEIPT survives `kill -9` of the broker
//! process and a restart; one that was delivered but never acknowledged
//! comes back flagged `redelivered:true`.

mod common;

use std::time::Duration;

use common::{expect, guest, BrokerProcess};
use herald_protocol::{Command, Frame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipted_queue_messages_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(data.path());
    let mut producer = guest(&broker.tcp_url()).await;
    let total = 50;
    for n in 0..total {
        producer
            .send_with_receipt(
                Frame::new(Command::Send)
                    .header("destination", "/queue/durable")
                    .header("n", n.to_string())
                    .body(format!("message {n}")),
                &format!("r{n}"),
            )
            .await
            .expect("receipt");
    }
    // Take the first message without acknowledging it.
    let mut consumer = guest(&broker.ws_url()).await;
    consumer
        .send(
            &Frame::new(Command::Subscribe)
                .header("id", "c")
                .header("destination", "/queue/durable")
                .header("ack", "client-individual")
                .header("prefetch-count", "1"),
        )
        .await
        .unwrap();
    let first = expect(&mut consumer, Command::Message).await;
    assert_eq!(first.get("n"), Some("0"));
    assert_eq!(first.get("redelivered"), None);
    // Give the store's lease write a moment, then kill without warning.
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.kill_9();

    let broker = BrokerProcess::spawn(data.path());
    let mut consumer = guest(&broker.tcp_url()).await;
    consumer
        .send(
            &Frame::new(Command::Subscribe)
                .header("id", "c")
                .header("destination", "/queue/durable")
                .header("ack", "auto"),
        )
        .await
        .unwrap();
    for n in 0..total {
        let frame = expect(&mut consumer, Command::Message).await;
        assert_eq!(
            frame.get("n"),
            Some(n.to_string().as_str()),
            "messages come back in order"
        );
        assert_eq!(frame.body, format!("message {n}").into_bytes());
        if n == 0 {
            assert_eq!(frame.get("redelivered"), Some("true"));
            assert_eq!(
                frame.get("message-id"),
                first.get("message-id"),
                "the message keeps its id"
            );
        } else {
            assert_eq!(frame.get("redelivered"), None);
        }
    }
    // Nothing more than what was sent.
    assert!(consumer
        .receive_timeout(Duration::from_millis(300))
        .await
        .is_err());
}
