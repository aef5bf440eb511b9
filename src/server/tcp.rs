//! The plain STOMP-over-TCP listener.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
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
                let Some(place) = broker.abuse.connections.admit(peer.ip()) else {
                    Metrics::inc(&broker.metrics.connections_refused_total);
                    tokio::spawn(refuse(stream, peer));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                Metrics::inc(&broker.metrics.connections_total);
                Metrics::inc(&broker.metrics.tcp_connections_total);
                let session = session::serve(broker.clone(), StreamTransport::new(stream), peer);
                tasks.spawn(async move {
                    let _place = place;
                    session.await;
                });
            }
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Turns away a connection over `limits.connections_per_ip`: one ERROR
/// frame, given a second at most, then close.
async fn refuse(mut stream: TcpStream, peer: std::net::SocketAddr) {
    tracing::debug!(%peer, "connection refused: limits.connections_per_ip reached");
    let error = b"ERROR\nmessage:too many connections from your address\ncontent-type:text/plain\ncontent-length:50\n\nlimits.connections_per_ip is reached for this IP.\n\0";
    let write = async {
        let _ = stream.write_all(error).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
}
