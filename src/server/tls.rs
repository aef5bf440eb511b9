//! TLS: the certificate and key from config, reloaded on SIGHUP, and the
//! two TLS listeners: `wss://` (HTTPS on the same routes as the HTTP port)
//! and STOMP over TLS.
//!
//! Each accepted connection reads the current server config once, so a
//! reload reaches new connections while open ones keep their certificate.
//! After the handshake the connection is served exactly as a plain one.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::ConnectInfo;
use axum::Extension;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::http::{self, AppState};
use crate::broker::Broker;
use crate::config::TlsConfig;
use crate::metrics::Metrics;
use crate::session;
use crate::transport::StreamTransport;

/// Why certificates could not be loaded; the broker keeps the ones it has
/// (or, at start-up, does not start).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing or unreadable: fix the path or its permissions.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The certificate file has no PEM `CERTIFICATE` block.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    /// The key file has no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    /// rustls refused the pair, typically a key that does not match the
    /// certificate or an unsupported key type.
    #[error("unusable certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The current TLS server config, swapped whole on reload.
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    // A std lock: held only to clone or replace an `Arc`, never across `.await`.
    current: RwLock<Arc<ServerConfig>>,
}

impl Certificates {
    /// Reads the configured certificate and key.
    pub fn load(config: &TlsConfig) -> Result<Arc<Certificates>, TlsError> {
        let cert_file = PathBuf::from(&config.cert_file);
        let key_file = PathBuf::from(&config.key_file);
        let current = RwLock::new(server_config(&cert_file, &key_file)?);
        Ok(Arc::new(Certificates {
            cert_file,
            key_file,
            current,
        }))
    }

    /// Reads the files again; on failure the old certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.cert_file, &self.key_file)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// An acceptor over the config in use now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        TlsAcceptor::from(config)
    }
}

/// A rustls server config (ring, TLS 1.2 and 1.3) over the PEM files.
fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_file.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|_| TlsError::NoKey(key_file.to_owned()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Reloads the certificates on every SIGHUP until shutdown.
pub async fn reload_on_sighup(certificates: Arc<Certificates>, broker: Arc<Broker>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; TLS certificates will not reload");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        match certificates.reload() {
            Ok(()) => tracing::info!("TLS certificates reloaded"),
            Err(error) => {
                tracing::error!(%error, "TLS reload failed; keeping the old certificates")
            }
        }
    }
}

/// Accepts TCP connections and runs `serve` on each one's TLS stream.
async fn accept_tls<F, Fut>(
    listener: TcpListener,
    broker: Arc<Broker>,
    certificates: Arc<Certificates>,
    tasks: TaskTracker,
    serve: F,
) where
    F: Fn(TlsStream<TcpStream>, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(place) = broker.abuse.connections.admit(peer.ip()) else {
            // No ERROR frame: nothing can be said before the handshake.
            Metrics::inc(&broker.metrics.connections_refused_total);
            tracing::debug!(%peer, "TLS connection refused: limits.connections_per_ip reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = certificates.acceptor();
        let timeout = broker.config.stomp.connect_timeout();
        let serve = serve.clone();
        tasks.spawn(async move {
            let _place = place;
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve(tls, peer).await,
                Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// STOMP over TLS: each connection is a session, as on the plain port.
pub async fn accept_stomps(
    listener: TcpListener,
    broker: Arc<Broker>,
    certificates: Arc<Certificates>,
    tasks: TaskTracker,
) {
    let sessions = broker.clone();
    accept_tls(listener, broker, certificates, tasks, move |tls, peer| {
        let broker = sessions.clone();
        async move {
            Metrics::inc(&broker.metrics.connections_total);
            Metrics::inc(&broker.metrics.tls_connections_total);
            session::serve(broker, StreamTransport::new(tls), peer).await;
        }
    })
    .await;
}

/// HTTPS and `wss://`: the HTTP port's routes over HTTP/1.1 on TLS.
pub async fn accept_wss(listener: TcpListener, state: AppState, certificates: Arc<Certificates>) {
    let broker = state.broker.clone();
    let tasks = state.tasks.clone();
    let router = http::router(state);
    accept_tls(
        listener,
        broker.clone(),
        certificates,
        tasks,
        move |tls, peer| {
            let router = router.clone();
            let broker = broker.clone();
            async move {
                let shutdown = broker.shutdown.clone();
                Metrics::inc(&broker.metrics.tls_connections_total);
                let service = TowerToHyperService::new(router.layer(Extension(ConnectInfo(peer))));
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades();
                tokio::pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    _ = shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "https connection ended with an error");
                }
            }
        },
    )
    .await;
}
