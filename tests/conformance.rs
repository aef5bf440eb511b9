//! The STOMP 1.2 conformance suite, run against a real Herald over
//! WebSocket and over TCP: every case must pass.

mod common;

use common::TestBroker;
use herald_conformance::{run, summary, SuiteConfig};

async fn run_suite(url: url::Url) {
    let mut config = SuiteConfig::new(url.clone());
    config.login = Some("guest".into());
    config.passcode = Some("guest".into());
    let results = run(&config).await;
    let failures: Vec<String> = results
        .iter()
        .filter(|result| !result.passed())
        .map(|result| result.line())
        .collect();
    assert!(results.len() >= 60, "only {} cases ran", results.len());
    assert!(
        failures.is_empty(),
        "{url}: {}\n{}",
        summary(&results),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_websocket() {
    let broker = TestBroker::start().await;
    run_suite(broker.ws_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tcp() {
    let broker = TestBroker::start().await;
    run_suite(broker.tcp_url()).await;
}
