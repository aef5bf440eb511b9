//! The plain STOMP-over-TCP listener.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::session;
use crate::transport::StreamTransport;

/// Accepts connections until shutdown; each gets a session task.
pub async fn accept_loop(listener: TcpListener, broker: Arc<Broker>, tasks: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                Metrics::inc(&broker.metrics.connections_total);
                Metrics::inc(&broker.metrics.tcp_connections_total);
                tasks.spawn(session::serve(
                    broker.clone(),
                    StreamTransport::new(stream),
                    peer,
                ));
            }
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
