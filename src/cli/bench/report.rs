//! One scenario's results: the figures, the correctness counts and the CPU
//! time of both sides, printed as a table for people or as one JSON object
//! (`--json`) for scripts. `bench render` reads the JSON back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::system::{CpuFigures, MemorySample};

/// Everything one run of one scenario measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    /// Which broker this was (`--label`), e.g. herald, rabbitmq, echo.
    pub label: String,
    /// Which step of a series (`--case`), e.g. `rate=20000`.
    pub case: String,
    pub url: String,
    /// The command line that produced this report.
    pub command: String,
    pub machine: String,
    pub settings: BTreeMap<String, serde_json::Value>,
    pub messages: Option<Messages>,
    /// Latency percentiles in microseconds: end to end for `pairs` and
    /// `fanout`, SEND to RECEIPT for `durable`.
    pub latency_us: Option<Latency>,
    pub connections: Option<Connections>,
    pub memory: Option<Memory>,
    pub cpu: CpuFigures,
    /// Errors seen (refusals, closed connections, timeouts) and a few of them.
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// No losses, duplicates or errors.
    pub ok: bool,
}

/// What was sent and what arrived.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Messages {
    pub sent: u64,
    /// Distinct messages received (in `fanout`, deliveries: sent x subscribers).
    pub received: u64,
    /// Expected but never received.
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Messages with another run's stamp (left in a queue by an earlier run).
    pub foreign: u64,
    /// Seconds of the measured window.
    pub measured_s: f64,
    /// Arrivals (deliveries, or receipts in `durable`) per second in the window.
    pub per_s: f64,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram recorded in nanoseconds.
    pub fn from_nanos(histogram: &Histogram<u64>) -> Latency {
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Latency {
            count: histogram.len(),
            mean: histogram.mean() / 1000.0,
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// The `connections` scenario's figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Connections {
    pub requested: u64,
    pub opened: u64,
    pub failed: u64,
    /// Seconds from the first connect to the last SUBSCRIBE receipt.
    pub connect_s: f64,
    pub per_s: f64,
    /// Connections the broker closed while they were held.
    pub dropped: u64,
    /// Socket + WebSocket + CONNECT + SUBSCRIBE receipt, per connection.
    pub connect_latency_us: Latency,
}

/// The broker's memory around the `connections` scenario.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Memory {
    pub pid: u32,
    pub before: MemorySample,
    /// With every connection open (the highest sample while held).
    pub held: MemorySample,
    /// A few seconds after the connections closed.
    pub after: Option<MemorySample>,
    /// (held - before) / opened, in bytes.
    pub per_connection_vm_rss: f64,
    pub per_connection_pss: f64,
}

/// Errors from many tasks: a count and the first few messages.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    // A std Mutex: held for a push, never across an await.
    samples: Mutex<Vec<String>>,
}

impl Errors {
    pub fn note(&self, error: impl std::fmt::Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() < 5 {
                samples.push(error.to_string());
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn fill(&self, report: &mut Report) {
        report.errors = self.count();
        report.error_samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
    }
}

impl Report {
    /// Sets `ok` from the correctness counts.
    pub fn judge(&mut self) {
        let clean = self
            .messages
            .as_ref()
            .is_none_or(|m| m.lost == 0 && m.duplicates == 0);
        let connected = self
            .connections
            .as_ref()
            .is_none_or(|c| c.failed == 0 && c.dropped == 0);
        self.ok = clean && connected && self.errors == 0;
    }

    /// The report as aligned lines for a terminal.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |name: &str, value: String| rows.push((name.to_owned(), value));
        row("scenario", format!("{} ({})", self.scenario, self.label));
        row("url", self.url.clone());
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        row("settings", settings.join(" "));
        if let Some(c) = &self.connections {
            row(
                "connections",
                format!(
                    "{} of {} opened, {} failed, {} dropped while held",
                    c.opened, c.requested, c.failed, c.dropped
                ),
            );
            row(
                "connect rate",
                format!("{:.0}/s over {:.1} s", c.per_s, c.connect_s),
            );
            row("connect latency", latency_line(&c.connect_latency_us));
        }
        if let Some(m) = &self.memory {
            row(
                "broker memory",
                format!(
                    "VmRSS {} -> {} (after close {}), Pss {} -> {}",
                    mib(m.before.vm_rss),
                    mib(m.held.vm_rss),
                    m.after.map_or("-".into(), |a| mib(a.vm_rss)),
                    mib(m.before.pss),
                    mib(m.held.pss)
                ),
            );
            row(
                "per connection",
                format!(
                    "{:.1} KiB VmRSS, {:.1} KiB Pss",
                    m.per_connection_vm_rss / 1024.0,
                    m.per_connection_pss / 1024.0
                ),
            );
        }
        if let Some(m) = &self.messages {
            row(
                "messages",
                format!(
                    "sent {} received {} lost {} duplicates {} out-of-order {} foreign {}",
                    m.sent, m.received, m.lost, m.duplicates, m.out_of_order, m.foreign
                ),
            );
            if m.measured_s > 0.0 {
                row(
                    "throughput",
                    format!("{:.0}/s over {:.1} s", m.per_s, m.measured_s),
                );
            }
        }
        if let Some(latency) = &self.latency_us {
            row("latency", latency_line(latency));
        }
        let cpu = &self.cpu;
        let mut line = format!(
            "generator {:.2} s ({:.2} cores)",
            cpu.generator_s, cpu.generator_cores
        );
        if let (Some(seconds), Some(cores)) = (cpu.broker_s, cpu.broker_cores) {
            line.push_str(&format!(", broker {seconds:.2} s ({cores:.2} cores)"));
        }
        row("cpu", line);
        row("errors", self.errors.to_string());
        for sample in &self.error_samples {
            row("", sample.clone());
        }
        row("result", if self.ok { "ok" } else { "FAILED" }.into());
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(name, value)| format!("{name:width$}  {value}\n"))
            .collect()
    }
}

fn latency_line(latency: &Latency) -> String {
    let ms = |us: f64| us / 1000.0;
    format!(
        "p50 {:.3} ms  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (n={})",
        ms(latency.p50),
        ms(latency.p90),
        ms(latency.p99),
        ms(latency.p999),
        ms(latency.max),
        latency.count
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}
