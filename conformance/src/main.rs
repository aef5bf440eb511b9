//! `herald-conformance`: runs the STOMP 1.2 conformance suite against a
//! broker URL and prints one line per case, then `N passed, N failed`.
//!
//! Exit code 0 when no case failed, or, with `--expected FILE`, when the
//! results equal the file's lines (the changed lines are printed).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use herald_conformance::{
    catalogue, compare_expected, parse_expected, results_text, run_with, summary, SuiteConfig,
};
use url::Url;

/// STOMP 1.2 conformance suite for any broker (ws:// or tcp://).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Arguments {
    /// Broker URL: ws://HOST:PORT/PATH (STOMP over WebSocket) or tcp://HOST:PORT.
    #[arg(long, required_unless_present = "list")]
    url: Option<Url>,
    /// CONNECT login.
    #[arg(long)]
    login: Option<String>,
    /// CONNECT passcode.
    #[arg(long)]
    passcode: Option<String>,
    /// CONNECT host header (RabbitMQ: the virtual host).
    #[arg(long, default_value = "/")]
    host: String,
    /// Run only the cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Compare the results with FILE (`pass <case>` / `fail <case>` lines).
    #[arg(long, value_name = "FILE")]
    expected: Option<std::path::PathBuf>,
    /// Write the results to FILE in the expected-results format.
    #[arg(long, value_name = "FILE")]
    write_expected: Option<std::path::PathBuf>,
    /// How long each expectation waits, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Body size of the oversize-frame case; keep it well above the broker's limit.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    oversize_body_bytes: usize,
    /// List the cases and the clause each checks, and exit.
    #[arg(long)]
    list: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = Arguments::parse();
    if arguments.list {
        for case in catalogue() {
            let only = if case.websocket_only {
                " (ws only)"
            } else {
                ""
            };
            println!("{:<44} {}{only}", case.name, case.clause);
        }
        return ExitCode::SUCCESS;
    }
    let Some(url) = arguments.url.clone() else {
        eprintln!("--url is required");
        return ExitCode::from(2);
    };
    let mut config = SuiteConfig::new(url);
    config.login = arguments.login.clone();
    config.passcode = arguments.passcode.clone();
    config.host = arguments.host.clone();
    config.filter = arguments.filter.clone();
    config.timeout = Duration::from_millis(arguments.timeout_ms);
    config.oversize_body_bytes = arguments.oversize_body_bytes;

    let expected = match &arguments.expected {
        None => None,
        Some(path) => match std::fs::read_to_string(path).map_err(|error| error.to_string()) {
            Ok(text) => match parse_expected(&text) {
                Ok(expected) => Some(expected),
                Err(why) => return usage_error(&format!("{}: {why}", path.display())),
            },
            Err(why) => return usage_error(&format!("{}: {why}", path.display())),
        },
    };

    let started = Instant::now();
    let results = run_with(&config, |result| println!("{}", result.line())).await;
    let skipped = catalogue().len() - herald_conformance::selected(&config).len();
    if skipped > 0 {
        println!(
            "note: {skipped} cases not run ({})",
            if config.filter.is_some() {
                "filtered out or WebSocket-only"
            } else {
                "WebSocket-only, the URL is not ws://"
            }
        );
    }
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &arguments.write_expected {
        if let Err(error) = std::fs::write(path, results_text(&results)) {
            eprintln!("cannot write {}: {error}", path.display());
        }
    }
    let success = match (&expected, &arguments.expected) {
        (Some(expected), Some(path)) => {
            let diff = compare_expected(&results, expected, config.filter.is_none());
            if diff.is_empty() {
                println!("results match {}", path.display());
            } else {
                println!("results differ from {}:", path.display());
                for line in &diff {
                    println!("{line}");
                }
            }
            diff.is_empty()
        }
        _ => results.iter().all(|result| result.passed()),
    };
    println!("{}", summary(&results));
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("{why}");
    ExitCode::from(2)
}
