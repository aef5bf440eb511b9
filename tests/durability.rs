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

/// Many SENDs to queues in one write: they are made durable together, and
/// each RECEIPT still comes in order, only after its own SEND is durable.
/// A SEND refused in the middle ends the connection after the RECEIPTs of
/// the SENDs before it; none after it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queue_sends_keep_their_order_through_kill_9_and_refusals() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn_with_env(
        data.path(),
        &[(
            "HERALD_ACL",
            r#"[{destination="/queue/open.*",users=["*"],subscribe=true,send=true}]"#,
        )],
    );
    let mut producer = guest(&broker.tcp_url()).await;
    let mut pipelined = Vec::new();
    for n in 0..25 {
        let destination = format!("/queue/open.{}", n % 2);
        let frame = format!("SEND\ndestination:{destination}\nn:{n}\nreceipt:r{n}\n\nbody {n}\0");
        pipelined.extend_from_slice(frame.as_bytes());
    }
    // The sixth of the next run is refused by the ACL.
    for n in 25..35 {
        let destination = if n == 30 {
            "/queue/closed".to_owned()
        } else {
            format!("/queue/open.{}", n % 2)
        };
        let frame = format!("SEND\ndestination:{destination}\nn:{n}\nreceipt:r{n}\n\nbody {n}\0");
        pipelined.extend_from_slice(frame.as_bytes());
    }
    producer
        .send_raw(bytes::Bytes::from(pipelined))
        .await
        .unwrap();
    for n in 0..30 {
        let receipt = expect(&mut producer, Command::Receipt).await;
        assert_eq!(receipt.get("receipt-id"), Some(format!("r{n}").as_str()));
    }
    let error = expect(&mut producer, Command::Error).await;
    assert_eq!(error.get("receipt-id"), Some("r30"), "{error:?}");
    broker.kill_9();

    let broker = BrokerProcess::spawn_with_env(
        data.path(),
        &[(
            "HERALD_ACL",
            r#"[{destination="/queue/open.*",users=["*"],subscribe=true,send=true}]"#,
        )],
    );
    let mut consumer = guest(&broker.tcp_url()).await;
    // The first queue's messages may come before the second SUBSCRIBE's
    // RECEIPT: keep them.
    let mut early = std::collections::VecDeque::new();
    for queue in 0..2 {
        let before_receipt = consumer
            .send_with_receipt(
                Frame::new(Command::Subscribe)
                    .header("destination", format!("/queue/open.{queue}"))
                    .header("id", queue.to_string()),
                &format!("s{queue}"),
            )
            .await
            .unwrap();
        early.extend(before_receipt);
    }
    let mut seen: [Vec<u32>; 2] = Default::default();
    while seen[0].len() + seen[1].len() < 30 {
        let message = match early.pop_front() {
            Some(message) => message,
            None => expect(&mut consumer, Command::Message).await,
        };
        assert_eq!(message.command, Command::Message, "{message:?}");
        let n: u32 = message.get("n").unwrap().parse().unwrap();
        assert_eq!(message.body, format!("body {n}").as_bytes());
        seen[(n % 2) as usize].push(n);
    }
    assert_eq!(seen[0], (0..30).filter(|n| n % 2 == 0).collect::<Vec<_>>());
    assert_eq!(seen[1], (0..30).filter(|n| n % 2 == 1).collect::<Vec<_>>());
    // Nothing after the refused SEND was kept.
    let extra = consumer.receive_timeout(Duration::from_millis(500)).await;
    assert!(extra.is_err(), "{extra:?}");
}
