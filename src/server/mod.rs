//! Listeners and the broker's life: bind, serve, shut down.
//!
//! Shutdown stops accepting, tells every session (ERROR, WebSocket close
//! 1001), waits for sessions up to the grace period, then drains the store.

pub mod http;
pub mod shutdown;
mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::config::Config;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address is taken or not ours; pick another in config.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The store or keys could not be opened (data directory, permissions,
    /// corruption, a wrong key file).
    #[error(transparent)]
    Open(#[from] crate::broker::OpenError),
}

/// A started broker: its bound addresses and how to stop it.
pub struct Server {
    pub broker: Arc<Broker>,
    pub http_addr: SocketAddr,
    pub stomp_addr: Option<SocketAddr>,
    tasks: TaskTracker,
}

impl Server {
    /// Opens the store and binds the listeners; serving starts at once.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let broker = Broker::open(config).await?;
        Server::start_with(broker).await
    }

    pub async fn start_with(broker: Arc<Broker>) -> Result<Server, StartError> {
        let config = &broker.config.server;
        let http_listener = bind(config.http_listen).await?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.http_listen,
                source,
            })?;
        let tasks = TaskTracker::new();
        if let Some(link) = broker.chat().cluster() {
            tasks.spawn(crate::cluster::run(
                broker.clone(),
                link.clone(),
                broker.shutdown.clone(),
            ));
        }
        tasks.spawn(crate::chat::maintenance::run(
            broker.chat().clone(),
            broker.shutdown.clone(),
        ));
        tasks.spawn(http::serve(
            http_listener,
            http::AppState {
                broker: broker.clone(),
                tasks: tasks.clone(),
            },
        ));
        let mut stomp_addr = None;
        if let Some(addr) = config.stomp_listen {
            let listener = bind(addr).await?;
            stomp_addr = Some(
                listener
                    .local_addr()
                    .map_err(|source| StartError::Bind { addr, source })?,
            );
            tasks.spawn(tcp::accept_loop(listener, broker.clone(), tasks.clone()));
        }
        Ok(Server {
            broker,
            http_addr,
            stomp_addr,
            tasks,
        })
    }

    /// The line `herald serve` prints when ready.
    pub fn listening_line(&self) -> String {
        let stomp = self
            .stomp_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        format!("listening http={} stomp={stomp}", self.http_addr)
    }

    /// Stops accepting, closes sessions, and drains the store.
    pub async fn shutdown(self) {
        self.broker.shutdown.cancel();
        self.tasks.close();
        let grace = Duration::from_millis(self.broker.config.server.shutdown_grace_ms);
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions still open after the shutdown grace period");
        }
        self.broker.close().await;
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}
