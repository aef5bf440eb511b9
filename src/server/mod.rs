//! Listeners and the broker's life: bind, serve, shut down.
//!
//! Shutdown stops accepting, tells every session (ERROR, WebSocket close
//! 1001), waits for sessions up to the grace period, then drains the store.

pub mod http;
pub mod shutdown;
mod tcp;
pub mod tls;
pub mod web_security;

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
    /// The TLS certificate or key could not be loaded; see `[tls]`.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// A started broker: its bound addresses and how to stop it.
pub struct Server {
    pub broker: Arc<Broker>,
    pub http_addr: SocketAddr,
    pub stomp_addr: Option<SocketAddr>,
    /// `wss://` and HTTPS, when `tls.wss_listen` is set.
    pub wss_addr: Option<SocketAddr>,
    /// STOMP over TLS, when `tls.stomps_listen` is set.
    pub stomps_addr: Option<SocketAddr>,
    /// The TLS certificates in use (reloaded on SIGHUP), when TLS is on.
    pub certificates: Option<Arc<tls::Certificates>>,
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
            http::AppState::new(broker.clone(), tasks.clone()),
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
        let listeners = start_tls(&broker, &tasks).await?;
        Ok(Server {
            broker,
            http_addr,
            stomp_addr,
            wss_addr: listeners.wss_addr,
            stomps_addr: listeners.stomps_addr,
            certificates: listeners.certificates,
            tasks,
        })
    }

    /// The line `herald serve` prints when ready.
    pub fn listening_line(&self) -> String {
        let stomp = self
            .stomp_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let mut line = format!("listening http={} stomp={stomp}", self.http_addr);
        if let Some(addr) = self.wss_addr {
            line.push_str(&format!(" wss={addr}"));
        }
        if let Some(addr) = self.stomps_addr {
            line.push_str(&format!(" stomps={addr}"));
        }
        line
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

/// What [`start_tls`] bound.
#[derive(Default)]
struct TlsListeners {
    wss_addr: Option<SocketAddr>,
    stomps_addr: Option<SocketAddr>,
    certificates: Option<Arc<tls::Certificates>>,
}

/// Loads the certificates and binds the TLS listeners, when configured.
async fn start_tls(broker: &Arc<Broker>, tasks: &TaskTracker) -> Result<TlsListeners, StartError> {
    let config = &broker.config.tls;
    if !config.enabled() {
        return Ok(TlsListeners::default());
    }
    let certificates = tls::Certificates::load(config)?;
    let mut listeners = TlsListeners {
        certificates: Some(certificates.clone()),
        ..TlsListeners::default()
    };
    if let Some(addr) = config.wss_listen {
        let listener = bind(addr).await?;
        listeners.wss_addr = Some(local_addr(&listener, addr)?);
        let state = http::AppState::new(broker.clone(), tasks.clone());
        tasks.spawn(tls::accept_wss(listener, state, certificates.clone()));
    }
    if let Some(addr) = config.stomps_listen {
        let listener = bind(addr).await?;
        listeners.stomps_addr = Some(local_addr(&listener, addr)?);
        tasks.spawn(tls::accept_stomps(
            listener,
            broker.clone(),
            certificates.clone(),
            tasks.clone(),
        ));
    }
    tasks.spawn(tls::reload_on_sighup(certificates, broker.clone()));
    Ok(listeners)
}

fn local_addr(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}
