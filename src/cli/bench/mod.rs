//! `herald bench`: a STOMP 1.2 load generator that drives any broker over
//! WebSocket or TCP, so Herald and another broker run the same scenarios.
//!
//! Each scenario is one file (`connections`, `pairs`, `fanout`, `durable`);
//! [`link`] is one connection (its reading half in [`reader`]), [`flow`] the publisher and receiver loops
//! that `pairs` and `fanout` share, [`message`] the stamped bodies and the
//! loss/duplicate tally, [`report`] the results, [`system`] what `/proc`
//! says about CPU and memory. Two hidden subcommands serve `bench/compare.sh`:
//! `echo-server` (the transport's ceiling) and `render` (the Markdown page
//! and its charts). The generator checks every message it receives, so a
//! broker that drops or repeats messages cannot look fast.

mod chart;
mod connections;
mod durable;
mod echo;
mod fanout;
mod flow;
mod link;
mod message;
mod pairs;
mod progress;
mod reader;
mod render;
mod report;
mod system;

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use herald_protocol::heartbeat::HeartBeat;
use url::Url;

use link::{LinkError, Target};
use report::{Errors, Report};

/// Why a benchmark could not run at all (a scenario that runs but sees
/// losses or errors still reports them).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The URL or an option is unusable; fix the command line.
    #[error("{0}")]
    Usage(String),
    /// The broker could not be reached or refused the set-up (CONNECT,
    /// SUBSCRIBE); check the URL, the credentials and `--host`.
    #[error("set-up failed: {0}")]
    Setup(#[from] LinkError),
    /// Reading or writing a file (render, echo server) failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The run finished but lost, repeated or failed messages.
    #[error("the run saw losses, duplicates or errors (see the report)")]
    Failed,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

/// Options every scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Broker URL: ws://host:port/path or tcp://host:port.
    #[arg(long, global = true, default_value = "ws://127.0.0.1:15674/ws")]
    url: Url,
    /// Several broker URLs, comma-separated (the nodes of a cluster), used
    /// instead of --url: connections go to them in turn, so a `pairs`
    /// publisher and its subscriber sit on different nodes.
    #[arg(long, global = true, value_delimiter = ',')]
    urls: Vec<Url>,
    #[arg(long, global = true, default_value = "guest")]
    login: String,
    #[arg(long, global = true, default_value = "guest")]
    passcode: String,
    /// The CONNECT `host` header (RabbitMQ wants its virtual host, `/`);
    /// the URL's host when omitted.
    #[arg(long, global = true)]
    host: Option<String>,
    /// Print the report as one JSON object (and no progress bar).
    #[arg(long, global = true)]
    json: bool,
    /// How long to measure (or, for `connections`, to hold): 10s, 500ms, 2m.
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Traffic before the measured window, not counted in rates or latency.
    #[arg(long, global = true, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// The broker's process id, to report its CPU time and memory; for a
    /// cluster, the nodes' ids comma-separated (CPU is summed, memory is
    /// the first one's).
    #[arg(long, global = true, value_delimiter = ',')]
    pid: Vec<u32>,
    /// A name for the broker in the report (herald, rabbitmq, echo).
    #[arg(long, global = true, default_value = "")]
    label: String,
    /// A name for this step of a series in the report (rate=20000).
    #[arg(long, global = true, default_value = "")]
    case: String,
    /// The CONNECT heart-beat header, `cx,cy` in ms.
    #[arg(long, global = true, default_value = "10000,10000")]
    heart_beat: String,
    /// Loopback source addresses (127.0.0.2 ...) to spread connections over.
    #[arg(long, global = true, default_value_t = 32)]
    source_addresses: u32,
    /// How long opening one connection (socket, WebSocket, CONNECT,
    /// SUBSCRIBE) may take before it counts as failed.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// How long in-flight messages may take to arrive after the window.
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    drain_timeout: Duration,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Open N connections (CONNECT, SUBSCRIBE, heart-beats) and hold them.
    Connections(connections::Options),
    /// Publisher/subscriber pairs, each over its own destination.
    Pairs(pairs::Options),
    /// One publisher, many subscribers on one destination.
    Fanout(fanout::Options),
    /// SEND with a receipt to kept destinations, pipelined.
    Durable(durable::Options),
    /// A WebSocket echo server: the transport's ceiling for `pairs --echo`.
    #[command(hide = true)]
    EchoServer(echo::Options),
    /// Write docs/benchmarks.md and its charts from a directory of reports.
    #[command(hide = true)]
    Render(render::Options),
}

/// What every scenario gets: where to connect, the options, and a place
/// to note errors.
pub struct Context {
    pub target: Target,
    pub common: Common,
    pub errors: Arc<Errors>,
}

impl Context {
    async fn new(common: Common) -> Result<Context, BenchError> {
        let heart_beat = HeartBeat::parse(&common.heart_beat).ok_or_else(|| {
            BenchError::Usage(format!("--heart-beat {:?} is not cx,cy", common.heart_beat))
        })?;
        let mut target = Target::resolve_all(common.brokers(), common.host.clone()).await?;
        target.login = common.login.clone();
        target.passcode = common.passcode.clone();
        target.heart_beat = heart_beat;
        target.sources = common.source_addresses;
        target.timeout = common.connect_timeout;
        Ok(Context {
            target,
            common,
            errors: Arc::new(Errors::default()),
        })
    }

    /// A report with the run's identity filled in.
    pub fn report(&self, scenario: &str) -> Report {
        Report {
            scenario: scenario.into(),
            label: self.common.label.clone(),
            case: self.common.case.clone(),
            url: self
                .common
                .brokers()
                .iter()
                .map(Url::as_str)
                .collect::<Vec<_>>()
                .join(","),
            command: command_line(),
            machine: system::machine(),
            ..Report::default()
        }
    }

    /// Whether to draw progress bars.
    pub fn visible(&self) -> bool {
        !self.common.json
    }
}

/// This run's command line, as `herald bench ...` whatever the binary's path.
fn command_line() -> String {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .map(|word| {
            if word.contains([' ', '{', '}', '*']) {
                format!("'{word}'")
            } else {
                word
            }
        })
        .collect();
    format!("herald {}", words.join(" "))
}

impl Common {
    /// The brokers to drive: --urls, or else --url.
    fn brokers(&self) -> Vec<Url> {
        if self.urls.is_empty() {
            vec![self.url.clone()]
        } else {
            self.urls.clone()
        }
    }
}

/// `pattern` with `{n}` replaced by `n`.
pub fn destination(pattern: &str, n: usize) -> String {
    pattern.replace("{n}", &n.to_string())
}

pub async fn run(args: BenchArgs) -> Result<(), String> {
    run_scenario(args).await.map_err(|error| error.to_string())
}

async fn run_scenario(args: BenchArgs) -> Result<(), BenchError> {
    let scenario = match args.scenario {
        Scenario::EchoServer(options) => return echo::run(options).await,
        Scenario::Render(options) => return render::run(options),
        scenario => scenario,
    };
    system::raise_open_files();
    let json = args.common.json;
    let context = Context::new(args.common).await?;
    let mut report = match scenario {
        Scenario::Connections(options) => connections::run(&context, options).await?,
        Scenario::Pairs(options) => pairs::run(&context, options).await?,
        Scenario::Fanout(options) => fanout::run(&context, options).await?,
        Scenario::Durable(options) => durable::run(&context, options).await?,
        Scenario::EchoServer(_) | Scenario::Render(_) => unreachable!("handled above"),
    };
    context.errors.fill(&mut report);
    report.judge();
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|error| BenchError::Usage(error.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", report.table());
    }
    if report.ok {
        Ok(())
    } else {
        Err(BenchError::Failed)
    }
}

/// `10s`, `500ms`, `2m`, or plain seconds (`1.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms, 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {text:?}: use ms, s or m")),
    };
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn destinations_fill_the_pattern() {
        assert_eq!(destination("/topic/bench.{n}", 7), "/topic/bench.7");
        assert_eq!(destination("/topic/one", 7), "/topic/one");
    }
}
