//! `herald client chat`: a person at a terminal chatting with another user.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::api::Api;
use common::{expect, BrokerProcess};
use herald::client::Connection;
use herald_protocol::{Command, Frame};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Reads lines until one contains `needle`; fails after a timeout.
async fn wait_for(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    needle: &str,
) -> String {
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the chat ended before printing {needle:?}");
    })
    .await;
    found.unwrap_or_else(|_| panic!("no line with {needle:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_chat_with_history_live_messages_and_receipts() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let alice = Api::register(&broker.http, "alice").await;
    let bob = Api::register(&broker.http, "bob").await;
    alice.befriend(&bob).await;

    let (mut bob_stomp, _) = Connection::connect(&broker.ws_url(), None, Some(bob.token()), "0,0")
        .await
        .unwrap();
    bob_stomp
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("destination", format!("/user/{}", bob.user_id))
                .header("id", "me"),
            "s",
        )
        .await
        .unwrap();
    bob_stomp
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/user/{}", alice.user_id))
                .body(r#"{"type":"text","text":"sent before you came"}"#),
            "early",
        )
        .await
        .unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "client",
            "--url",
            broker.ws_url().as_str(),
            "--login",
            "alice",
            "--passcode",
            "password-alice",
        ])
        .args(["chat", "--user", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    wait_for(&mut lines, &mut seen, "* chat with bob").await;
    let history = wait_for(&mut lines, &mut seen, "sent before you came").await;
    assert!(history.contains("bob: sent before you came"), "{history}");

    // Give the chat a moment to subscribe before bob answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stdin.write_all(b"hello from the terminal\n").await.unwrap();
    let receipt = wait_for(&mut lines, &mut seen, "* sent (#").await;
    assert!(receipt.contains("#2"), "{receipt}");
    loop {
        let frame = expect(&mut bob_stomp, Command::Message).await;
        if frame.get("kind") == Some("message")
            && frame.get("sender") == Some(alice.user_id.to_string().as_str())
        {
            let body: serde_json::Value = serde_json::from_slice(&frame.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({ "type": "text", "text": "hello from the terminal" })
            );
            assert_eq!(frame.get("content-type"), Some("application/json"));
            break;
        }
    }
    bob_stomp
        .send(
            &Frame::new(Command::Send)
                .header("destination", format!("/user/{}", alice.user_id))
                .header("kind", "typing"),
        )
        .await
        .unwrap();
    wait_for(&mut lines, &mut seen, "* bob is typing").await;
    bob_stomp
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/user/{}", alice.user_id))
                .body(r#"{"type":"text","text":"hi terminal"}"#),
            "reply",
        )
        .await
        .unwrap();
    wait_for(&mut lines, &mut seen, "bob: hi terminal").await;

    let shown = seen
        .iter()
        .filter(|line| line.contains("sent before you came"))
        .count();
    assert_eq!(
        shown, 1,
        "history and live must not repeat a message: {seen:?}"
    );
    stdin.write_all(b"/quit\n").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("chat exits")
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_prints_a_token_that_the_client_accepts() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    Api::register(&broker.http, "carol").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "client",
            "--url",
            broker.ws_url().as_str(),
            "--login",
            "carol",
            "--passcode",
            "password-carol",
            "login",
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(herald::auth::looks_like_jwt(&token), "{token}");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "client",
            "--url",
            broker.ws_url().as_str(),
            "--token",
            &token,
            "send",
            "/topic/t",
            "with a token",
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "client",
            "--url",
            broker.ws_url().as_str(),
            "--login",
            "carol",
            "--passcode",
            "nope",
            "login",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("login failed"),
        "{output:?}"
    );
}
