//! `herald client` against a running `herald serve`, as a person or a
//! script would use them.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::BrokerProcess;

fn herald(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.args(args);
    command
}

fn succeed(output: Output) -> String {
    assert!(
        output.status.success(),
        "herald failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn send_and_subscribe_over_websocket_and_tcp() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let ws = broker.ws_url().to_string();
    let tcp = broker.tcp_url().to_string();
    // Queue messages wait for the subscriber, so the order of start does not matter.
    succeed(
        herald(&[
            "client",
            "--url",
            &ws,
            "send",
            "/queue/cli",
            "first over ws",
        ])
        .output()
        .unwrap(),
    );
    succeed(
        herald(&[
            "client",
            "--url",
            &tcp,
            "send",
            "/queue/cli",
            "-H",
            "x-kind:note",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"second from stdin")?;
            child.wait_with_output()
        })
        .unwrap(),
    );
    let out = succeed(
        herald(&[
            "client",
            "--url",
            &tcp,
            "subscribe",
            "/queue/cli",
            "--count",
            "2",
            "--ack",
            "client-individual",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(out, "first over ws\nsecond from stdin\n");
    // Acknowledged: a second subscriber finds the queue empty, so the one
    // message it waits for is a new one.
    succeed(
        herald(&["client", "--url", &ws, "send", "/queue/cli", "third"])
            .output()
            .unwrap(),
    );
    let out = succeed(
        herald(&[
            "client",
            "--url",
            &ws,
            "subscribe",
            "/queue/cli",
            "--count",
            "1",
            "--frames",
        ])
        .output()
        .unwrap(),
    );
    assert!(out.starts_with("MESSAGE\n"), "{out}");
    assert!(out.contains("destination:/queue/cli\n"), "{out}");
    assert!(out.trim_end().ends_with("third"), "{out}");
}

#[test]
fn interactive_mode_prints_what_arrives() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let mut child = herald(&["client", "--url", broker.ws_url().as_ref(), "interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Read what the client prints on a thread, so the test waits for the
    // frames to arrive instead of guessing how long that takes.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    stdin.write_all(b"sub /topic/chat\n").unwrap();
    let mut out = String::new();
    let wait_for = |needle: &str, out: &mut String| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {needle:?} in {out}"));
        out.push_str(&line);
        out.push('\n');
        if line.contains(needle) {
            return;
        }
    };
    wait_for("subscription id 1", &mut out);
    stdin
        .write_all(
            b"send /topic/chat hello there\nraw\nSEND\ndestination:/topic/chat\n\nraw frame\n.\n",
        )
        .unwrap();
    wait_for("hello there", &mut out);
    wait_for("raw frame", &mut out);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{out}");
    assert_eq!(out.matches("MESSAGE").count(), 2, "{out}");
}

#[test]
fn errors_are_clear_messages_not_panics() {
    let output = herald(&[
        "client",
        "--url",
        "ws://127.0.0.1:1/ws",
        "send",
        "/topic/x",
        "hi",
    ])
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("herald: cannot connect to ws://127.0.0.1:1/ws"),
        "{stderr}"
    );

    let output = herald(&["client", "--url", "http://x", "send", "/topic/x", "hi"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported URL"));

    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let output = herald(&[
        "client",
        "--url",
        broker.ws_url().as_ref(),
        "--passcode",
        "wrong",
        "send",
        "/topic/x",
        "hi",
    ])
    .output()
    .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("bad credentials"),
        "{output:?}"
    );
    let output = herald(&[
        "client",
        "--url",
        broker.ws_url().as_ref(),
        "send",
        "/nowhere/x",
        "hi",
    ])
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown destination"),
        "{output:?}"
    );

    let output = herald(&["serve", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not found"));
}

#[test]
fn hash_password_prints_an_argon2_hash() {
    let out = succeed(herald(&["hash-password", "s3cret"]).output().unwrap());
    assert!(out.starts_with("$argon2id$"), "{out}");
}
