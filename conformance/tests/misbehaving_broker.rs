//! The suite against brokers that misbehave on purpose (refuses connections,
//! never answers, answers garbage): every case must fail with a reason, none
//! may panic, and the whole run must end quickly.

use std::time::{Duration, Instant};

use herald_conformance::{run, SuiteConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// Runs the whole suite against `url` with short timeouts and checks that
/// every case failed cleanly and in time.
async fn every_case_fails_cleanly(url: Url) {
    let mut config = SuiteConfig::new(url.clone());
    config.timeout = Duration::from_millis(50);
    config.oversize_body_bytes = 64 * 1024;
    let started = Instant::now();
    let results = run(&config).await;
    assert!(results.len() >= 60, "only {} cases ran", results.len());
    for result in &results {
        let why = result.outcome.as_ref().expect_err(result.name);
        assert!(!why.contains("panicked"), "{}: {why}", result.name);
        assert!(!why.is_empty(), "{} failed without a reason", result.name);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "{url}: took {took:?}");
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A listener that runs `serve` on every accepted connection; returns its port.
async fn broker<F, Fut>(serve: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    port
}

#[tokio::test]
async fn refused_connections() {
    let port = closed_port().await;
    every_case_fails_cleanly(Url::parse(&format!("tcp://127.0.0.1:{port}")).unwrap()).await;
    every_case_fails_cleanly(Url::parse(&format!("ws://127.0.0.1:{port}/ws")).unwrap()).await;
}

#[tokio::test]
async fn silent_broker() {
    let port = broker(|mut stream| async move {
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(stream.read(&mut sink).await, Ok(count) if count > 0) {}
    })
    .await;
    every_case_fails_cleanly(Url::parse(&format!("tcp://127.0.0.1:{port}")).unwrap()).await;
    every_case_fails_cleanly(Url::parse(&format!("ws://127.0.0.1:{port}/ws")).unwrap()).await;
}

#[tokio::test]
async fn garbage_broker() {
    let port = broker(|mut stream| async move {
        let _ = stream.write_all(b"\n\nNOT-STOMP\n\xff\xfe\0garbage").await;
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(stream.read(&mut sink).await, Ok(count) if count > 0) {}
    })
    .await;
    every_case_fails_cleanly(Url::parse(&format!("tcp://127.0.0.1:{port}")).unwrap()).await;
}

#[tokio::test]
async fn broker_that_hangs_up() {
    let port = broker(|stream| async move { drop(stream) }).await;
    every_case_fails_cleanly(Url::parse(&format!("tcp://127.0.0.1:{port}")).unwrap()).await;
}
