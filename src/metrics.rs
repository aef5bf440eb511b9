//! Counters for `/metrics`, in Prometheus text format.
//!
//! Plain atomics: every session bumps them on hot paths, so they must cost
//! one relaxed add and never a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $field:ident : $kind:literal, $help:literal; )*) => {
        /// Broker-wide counters and gauges.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $( pub $field: AtomicU64, )*
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
                out
            }
        }
    };
}

counters! {
    connections_total: "counter", "Connections accepted, all transports.";
    connections_open: "gauge", "Connections open now.";
    websocket_connections_total: "counter", "WebSocket connections accepted.";
    tcp_connections_total: "counter", "Plain TCP connections accepted.";
    connections_refused_total: "counter", "Connections refused at accept: limits.connections_per_ip reached.";
    tls_connections_total: "counter", "TLS connections accepted (STOMP over TLS and HTTPS/wss).";
    frames_in_total: "counter", "Frames received from clients.";
    frames_out_total: "counter", "Frames sent to clients, heart-beats excluded.";
    messages_published_total: "counter", "SEND frames routed to a destination.";
    messages_delivered_total: "counter", "MESSAGE frames written to subscribers.";
    messages_redelivered_total: "counter", "MESSAGE frames written with redelivered:true.";
    messages_persisted_total: "counter", "Messages made durable in the store.";
    error_frames_total: "counter", "ERROR frames sent.";
    slow_consumer_disconnects_total: "counter", "Connections closed because their outbound queue was full.";
    heartbeat_timeouts_total: "counter", "Connections closed because the peer stopped sending.";
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
    fn render_lists_every_counter_with_value() {
        let metrics = Metrics::default();
        Metrics::inc(&metrics.connections_total);
        Metrics::add(&metrics.frames_in_total, 5);
        let text = metrics.render();
        assert!(text.contains("herald_connections_total 1\n"), "{text}");
        assert!(text.contains("herald_frames_in_total 5\n"), "{text}");
        assert!(
            text.contains("# TYPE herald_connections_open gauge"),
            "{text}"
        );
    }
}
