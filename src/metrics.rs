//! Counters and histograms for `/metrics`, in Prometheus text format.
//!
//! Plain atomics: every session bumps them on hot paths, so they must cost
//! one relaxed add and never a lock or an allocation. Labelled series are
//! fixed arrays over closed sets (STOMP commands, error reasons), indexed
//! directly, for the same reason.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_protocol::Command;

use crate::session::ErrorReason;

macro_rules! counters {
    ($( $field:ident : $kind:literal, $help:literal; )*) => {
        /// Broker-wide counters and gauges.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $( pub $field: AtomicU64, )*
            /// Frames received, by command.
            pub frames_in: PerCommand,
            /// Frames sent, by command (heart-beats are not frames).
            pub frames_out: PerCommand,
            /// ERROR frames sent, by reason.
            pub errors: PerReason,
            /// How long a durable chat write took (append, group commit).
            pub store_write: Histogram,
            /// From a chat message's acceptance (its `timestamp`) to its
            /// MESSAGE frame being queued for a live subscriber's socket.
            pub delivery_latency: Histogram,
            /// From a chat message's acceptance on another node to its
            /// arrival here over the cluster bus.
            pub bus_lag: Histogram,
        }

        impl Metrics {
            /// The Prometheus text exposition of every counter.
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let name = concat!("herald_", stringify!($field));
                    let _ = writeln!(out, "# HELP {name} {}", $help);
                    let _ = writeln!(out, "# TYPE {name} {}", $kind);
                    let _ = writeln!(out, "{name} {}", self.$field.load(Ordering::Relaxed));
                )*
                let commands = || Command::ALL.into_iter().map(Command::as_str);
                self.frames_in.render(&mut out, "herald_frames_received_total", "Frames received from clients, by command.", "command", commands());
                self.frames_out.render(&mut out, "herald_frames_sent_total", "Frames sent to clients, by command.", "command", commands());
                self.errors.render(
                    &mut out,
                    "herald_error_frames_total",
                    "ERROR frames sent, by reason.",
                    "reason",
                    ErrorReason::ALL.into_iter().map(ErrorReason::label),
                );
                self.store_write.render(&mut out, "herald_store_write_seconds", "Time to make a chat message durable.");
                self.delivery_latency.render(
                    &mut out,
                    "herald_delivery_latency_seconds",
                    "From a chat message's acceptance to its MESSAGE frame queued for a live subscriber.",
                );
                self.bus_lag.render(&mut out, "herald_bus_lag_seconds", "From a chat message's acceptance on another node to its arrival over the bus.");
                out
            }
        }
    };
}

counters! {
    connections_total: "counter", "Connections accepted, all transports.";
    connections_open: "gauge", "Connections open now, all transports.";
    websocket_connections_open: "gauge", "WebSocket connections open now (ws and wss).";
    tcp_connections_open: "gauge", "Plain STOMP connections open now (TCP and TLS).";
    websocket_connections_total: "counter", "WebSocket connections accepted.";
    tcp_connections_total: "counter", "Plain TCP connections accepted.";
    connections_refused_total: "counter", "Connections refused at accept: limits.connections_per_ip reached.";
    tls_connections_total: "counter", "TLS connections accepted (STOMP over TLS and HTTPS/wss).";
    messages_published_total: "counter", "SEND frames routed to a destination.";
    messages_delivered_total: "counter", "MESSAGE frames written to subscribers.";
    messages_redelivered_total: "counter", "MESSAGE frames written with redelivered:true.";
    messages_persisted_total: "counter", "Messages made durable in the store.";
    dead_letters_total: "counter", "Chat messages moved to the dead-letter store after their last delivery attempt.";
    connections_closed_total: "counter", "Connections closed, for any reason (each is also logged once with its reason).";
    slow_consumer_disconnects_total: "counter", "Connections closed because their outbound queue was full.";
    heartbeat_timeouts_total: "counter", "Connections closed because the peer stopped sending.";
}

/// One counter per value of a closed label set, found by the value's
/// position in its `ALL` list (STOMP commands, error reasons).
#[derive(Debug)]
pub struct Labelled<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Labelled<N> {
    fn default() -> Self {
        Labelled(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Labelled<N> {
    fn inc_at(&self, index: usize) {
        self.0[index].fetch_add(1, Ordering::Relaxed);
    }

    /// `values` are the label values in index order.
    fn render<'a>(
        &self,
        out: &mut String,
        name: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = &'a str>,
    ) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (value, counter) in values.zip(&self.0) {
            let count = counter.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
        }
    }
}

/// One counter per STOMP command.
pub type PerCommand = Labelled<{ Command::ALL.len() }>;

impl PerCommand {
    pub fn inc(&self, command: Command) {
        self.inc_at(command as usize);
    }
}

/// One counter per [`ErrorReason`].
pub type PerReason = Labelled<{ ErrorReason::ALL.len() }>;

impl PerReason {
    pub fn inc(&self, reason: ErrorReason) {
        self.inc_at(reason as usize);
    }
}

/// Upper bounds of the latency buckets, in seconds: from half a
/// millisecond (a group commit on a quiet SSD) to ten seconds (a stalled
/// store or bus).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus histogram over [`BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket, not cumulative; cumulated when rendered.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Observes the time since `then_ms` (Unix milliseconds); a clock that
    /// went backwards counts as zero.
    pub fn observe_since_ms(&self, then_ms: i64, now_ms: i64) {
        let elapsed = u64::try_from(now_ms.saturating_sub(then_ms)).unwrap_or(0);
        self.observe(Duration::from_millis(elapsed));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_reasons_index_their_arrays() {
        for (index, command) in Command::ALL.into_iter().enumerate() {
            assert_eq!(command as usize, index, "{command}");
        }
        for (index, reason) in ErrorReason::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, index, "{reason:?}");
        }
    }

    #[test]
    fn render_lists_every_counter_with_value() {
        let metrics = Metrics::default();
        Metrics::inc(&metrics.connections_total);
        metrics.frames_in.inc(Command::Send);
        metrics.frames_in.inc(Command::Send);
        metrics.errors.inc(ErrorReason::RateLimited);
        metrics.store_write.observe(Duration::from_micros(700));
        metrics.store_write.observe(Duration::from_secs(60));
        let text = metrics.render();
        assert!(text.contains("herald_connections_total 1\n"), "{text}");
        assert!(
            text.contains("herald_frames_received_total{command=\"SEND\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_frames_received_total{command=\"ACK\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_error_frames_total{reason=\"rate_limited\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_store_write_seconds_bucket{le=\"0.0005\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_store_write_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_store_write_seconds_bucket{le=\"10\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_store_write_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("herald_store_write_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE herald_connections_open gauge"),
            "{text}"
        );
    }
}
