//! A STOMP 1.2 conformance suite that runs against any broker URL (`ws://`
//! for STOMP over WebSocket, `tcp://` for plain STOMP): Herald, RabbitMQ
//! Web-STOMP, or anything else that speaks STOMP.
//!
//! Each case is one clause of the spec, written as frames sent and frames
//! (or silence, or a close) expected, with a deadline on every expectation so
//! a silent broker fails a case instead of hanging the suite. Results can be
//! diffed against an expected-results file, so a regression shows as a
//! changed line.
//!
//! ```no_run
//! # async fn example() {
//! let url = url::Url::parse("ws://127.0.0.1:15674/ws").unwrap();
//! let mut config = herald_conformance::SuiteConfig::new(url);
//! config.login = Some("guest".into());
//! config.passcode = Some("guest".into());
//! let results = herald_conformance::run(&config).await;
//! println!("{}", herald_conformance::summary(&results));
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use url::Url;

mod cases;
pub mod client;
pub mod context;
pub mod expected;
pub mod transport;

pub use cases::Case;
pub use expected::{compare_expected, parse_expected, results_text};

/// What the suite runs against and how patiently.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    /// `ws://host:port/path` or `tcp://host:port`.
    pub url: Url,
    /// CONNECT `login`, if any.
    pub login: Option<String>,
    /// CONNECT `passcode`, if any.
    pub passcode: Option<String>,
    /// CONNECT `host` (RabbitMQ reads it as the virtual host).
    pub host: String,
    /// How long each expectation waits.
    pub timeout: Duration,
    /// Run only the cases whose name contains this.
    pub filter: Option<String>,
    /// The body size the limits case sends, meant to be well over the
    /// broker's frame limit.
    pub oversize_body_bytes: usize,
}

impl SuiteConfig {
    /// Defaults: no credentials, host `/`, 2 s per expectation, every case,
    /// a 4 MiB oversize body.
    pub fn new(url: Url) -> SuiteConfig {
        SuiteConfig {
            url,
            login: None,
            passcode: None,
            host: "/".to_owned(),
            timeout: Duration::from_millis(2000),
            filter: None,
            oversize_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The outcome of one case: `Err` says why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub name: &'static str,
    pub outcome: Result<(), String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `pass  <name>` or `FAIL  <name>: <why>`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(()) => format!("pass  {}", self.name),
            Err(why) => format!("FAIL  {}: {why}", self.name),
        }
    }
}

/// Every case in the suite, in run order (whatever the URL).
pub fn catalogue() -> Vec<Case> {
    cases::all()
}

/// The cases `config` selects: its filter, and no WebSocket-only cases for
/// a `tcp://` URL.
pub fn selected(config: &SuiteConfig) -> Vec<Case> {
    let websocket = transport::is_websocket(&config.url);
    cases::all()
        .into_iter()
        .filter(|case| websocket || !case.websocket_only)
        .filter(|case| match &config.filter {
            Some(part) => case.name.contains(part.as_str()),
            None => true,
        })
        .collect()
}

/// Runs the selected cases one after another.
pub async fn run(config: &SuiteConfig) -> Vec<CaseResult> {
    run_with(config, |_| {}).await
}

/// Runs the selected cases, calling `report` as each one finishes.
pub async fn run_with(
    config: &SuiteConfig,
    mut report: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let context = Arc::new(context::Context::new(config.clone()));
    // Generous: the slowest cases (heart-beats) wait several intervals.
    let budget = config.timeout * 6 + Duration::from_secs(10);
    let mut results = Vec::new();
    for case in selected(config) {
        let task_context = Arc::clone(&context);
        let task =
            tokio::spawn(
                async move { tokio::time::timeout(budget, (case.run)(&task_context)).await },
            );
        let outcome = match task.await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(format!("did not finish within {budget:?}")),
            Err(error) if error.is_panic() => Err("the case panicked (a suite bug)".to_owned()),
            Err(error) => Err(format!("the case task failed: {error}")),
        };
        let result = CaseResult {
            name: case.name,
            outcome,
        };
        report(&result);
        results.push(result);
    }
    results
}

/// `N passed, N failed`.
pub fn summary(results: &[CaseResult]) -> String {
    let passed = results.iter().filter(|result| result.passed()).count();
    format!("{passed} passed, {} failed", results.len() - passed)
}
