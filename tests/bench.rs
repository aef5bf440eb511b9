//! `herald bench` against a `herald serve` process: each scenario runs
//! briefly and its JSON report must show every message accounted for (sent
//! equals received, nothing lost or repeated) and non-zero rates. Figures
//! are never compared with a wall-clock expectation.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::BrokerProcess;
use serde_json::Value;

/// Runs `herald bench ARGS --json` (ARGS split at spaces) and returns its
/// report. Brokers that check passwords with argon2 (Herald does) take a
/// while for a first login in a debug build, so connects get time, and
/// the first connection logs in alone before the scenario opens the rest.
fn bench(args: &str) -> Value {
    let args: Vec<&str> = args.split_whitespace().collect();
    if !args.contains(&"--echo") {
        let url = args[args.iter().position(|a| *a == "--url").expect("--url") + 1];
        let warm = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["bench", "--url", url, "--duration", "100ms"])
            .args([
                "--connect-timeout",
                "300s",
                "connections",
                "--connections",
                "1",
            ])
            .args(["--settle", "10ms"])
            .output()
            .expect("herald bench runs");
        assert!(
            warm.status.success(),
            "{}",
            String::from_utf8_lossy(&warm.stderr)
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("bench")
        .args(&args)
        .args(["--json", "--duration", "1s", "--warmup", "300ms"])
        .args(["--connect-timeout", "300s"])
        .output()
        .expect("herald bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}"))
}

fn number(report: &Value, path: &str) -> f64 {
    report
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {report:#}"))
}

/// Every message arrived exactly once, and something was measured.
fn assert_accounted(report: &Value, deliveries_per_message: f64) {
    assert_eq!(report["ok"], true, "{report:#}");
    let sent = number(report, "/messages/sent");
    assert!(sent > 0.0, "nothing sent: {report:#}");
    assert_eq!(
        number(report, "/messages/received"),
        sent * deliveries_per_message,
        "{report:#}"
    );
    assert_eq!(number(report, "/messages/lost"), 0.0, "{report:#}");
    assert_eq!(number(report, "/messages/duplicates"), 0.0, "{report:#}");
    assert_eq!(number(report, "/errors"), 0.0, "{report:#}");
    assert!(number(report, "/messages/per_s") > 0.0, "{report:#}");
    assert!(number(report, "/latency_us/count") > 0.0, "{report:#}");
    assert!(number(report, "/latency_us/p99") > 0.0, "{report:#}");
}

#[test]
fn pairs_over_websocket_at_a_rate_and_over_tcp_flat_out() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let pid = broker.child.id().to_string();
    let report = bench(&format!(
        "--url {} --pid {pid} pairs --connections 4 --rate 400",
        broker.ws_url()
    ));
    assert_accounted(&report, 1.0);
    assert!(number(&report, "/cpu/broker_s") >= 0.0, "{report:#}");
    let report = bench(&format!(
        "--url {} pairs --connections 2 --window 50",
        broker.tcp_url()
    ));
    assert_accounted(&report, 1.0);
}

#[test]
fn fanout_delivers_every_message_to_every_subscriber() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let report = bench(&format!(
        "--url {} fanout --subscribers 5 --rate 200",
        broker.ws_url()
    ));
    assert_accounted(&report, 5.0);
}

#[test]
fn durable_receipts_every_send_and_drains_every_message() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let report = bench(&format!(
        "--url {} durable --connections 2 --window 4",
        broker.ws_url()
    ));
    assert_accounted(&report, 1.0);
}

#[test]
fn connections_are_held_probed_and_measured() {
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn(data.path());
    let pid = broker.child.id().to_string();
    let report = bench(&format!(
        "--url {} --pid {pid} connections --connections 50 --settle 100ms",
        broker.ws_url()
    ));
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(number(&report, "/connections/opened"), 50.0, "{report:#}");
    assert_eq!(number(&report, "/connections/dropped"), 0.0, "{report:#}");
    assert!(number(&report, "/connections/per_s") > 0.0, "{report:#}");
    assert_eq!(number(&report, "/messages/sent"), 50.0, "{report:#}");
    assert_eq!(number(&report, "/messages/received"), 50.0, "{report:#}");
    assert!(number(&report, "/memory/held/vm_rss") > 0.0, "{report:#}");
}

/// The echo server as a child process, killed when dropped.
struct EchoServer {
    child: Child,
    url: String,
}

impl EchoServer {
    fn spawn() -> EchoServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["bench", "echo-server", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("echo server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("listening line");
        let addr = line
            .trim()
            .strip_prefix("listening ws=")
            .expect("listening ws=ADDR")
            .to_owned();
        EchoServer {
            child,
            url: format!("ws://{addr}/ws"),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pairs_over_the_echo_server_and_a_rendered_page() {
    let echo = EchoServer::spawn();
    let report = bench(&format!(
        "--url {} --label echo --case rate=300 pairs --connections 4 --echo --rate 300",
        echo.url
    ));
    assert_accounted(&report, 1.0);
    let report_faster = bench(&format!(
        "--url {} --label echo --case rate=600 pairs --connections 2 --echo --rate 600",
        echo.url
    ));
    assert_accounted(&report_faster, 1.0);

    let results = tempfile::tempdir().unwrap();
    std::fs::write(results.path().join("1.json"), report.to_string()).unwrap();
    std::fs::write(results.path().join("2.json"), report_faster.to_string()).unwrap();
    let docs = tempfile::tempdir().unwrap();
    let page = docs.path().join("benchmarks.md");
    let status = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "render", "--results"])
        .arg(results.path())
        .arg("--output")
        .arg(&page)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.contains("## pairs"), "{text}");
    assert!(
        text.contains("| rate=300 | echo (WebSocket ceiling) |"),
        "{text}"
    );
    let chart = std::fs::read_to_string(docs.path().join("benchmarks/pairs-latency.svg")).unwrap();
    assert!(chart.starts_with("<svg"), "{chart}");
}

#[test]
fn an_unreachable_broker_is_an_error_not_a_panic() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "bench",
            "--url",
            "ws://127.0.0.1:9/ws",
            "--json",
            "pairs",
            "--connections",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}
