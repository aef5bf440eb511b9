//! The broker: everything sessions and API handlers share, behind one `Arc`.

use std::sync::Arc;

use herald_storage::{FileStore, StoreError, Stores};
use tokio_util::sync::CancellationToken;

use crate::acl::Acl;
use crate::auth::{Authenticator, Tokens};
use crate::chat::Chat;
use crate::cluster::ClusterLink;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::router::{Claims, Router};

pub struct Broker {
    pub config: Config,
    pub limits: herald_protocol::Limits,
    pub router: Router,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    /// Per-IP and per-account abuse limits.
    pub abuse: crate::abuse::Abuse,
    /// Cancelled when the broker starts shutting down; sessions watch it.
    pub shutdown: CancellationToken,
    stores: Stores,
}

/// Why the broker could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::auth::jwt::KeyError),
    #[error("cannot create the configured accounts: {0}")]
    Accounts(#[from] crate::auth::AuthError),
}

impl Broker {
    /// A broker over the configured store (SQLite in the data directory by
    /// default).
    pub async fn open(config: Config) -> Result<Arc<Broker>, OpenError> {
        let mut stores = match config.store.backend.as_str() {
            "postgres" => Stores::postgres(&config.store.postgres_url).await?,
            _ => Stores::sqlite(&config.server.data_dir).await?,
        };
        if config.store.messages == "mongodb" {
            stores = Stores::with_mongo(stores, &config.store.mongodb_url).await?;
        }
        Broker::with_stores(config, stores).await
    }

    pub async fn with_stores(config: Config, stores: Stores) -> Result<Arc<Broker>, OpenError> {
        let metrics = Arc::new(Metrics::default());
        let tokens = Tokens::from_config(&config.auth, &config.server.data_dir)?;
        let auth = Authenticator::new(&config, stores.directory.clone(), tokens);
        auth.bootstrap(&config).await?;
        let chat = Arc::new(Chat::new(&config, &stores, metrics.clone()));
        let mut claims = None;
        if !config.cluster.redis_url.is_empty() {
            let link =
                Arc::new(ClusterLink::connect(&config.cluster, config.server.node_id).await?);
            chat.join(link.clone());
            claims = Some(Claims {
                link,
                lease: config.cluster.queue_lease(),
                poll: config.cluster.queue_poll(),
            });
        }
        let router = Router::start(
            stores.queue.clone(),
            chat,
            Acl::new(config.acl.clone()),
            metrics.clone(),
            claims,
            config.limits.max_queued_messages,
        )
        .await?;
        Ok(Arc::new(Broker {
            abuse: crate::abuse::Abuse::new(&config),
            limits: config.protocol_limits(),
            auth,
            router,
            metrics,
            shutdown: CancellationToken::new(),
            config,
            stores,
        }))
    }

    /// Finishes in-flight store writes and closes the stores. In a cluster
    /// it first gives back the queue messages this node still holds, so
    /// that other nodes need not wait for their leases to run out.
    pub async fn close(&self) {
        if let Err(error) = self.router.release_queue_claims().await {
            tracing::warn!(%error, "queue messages not given back; they return when their leases end");
        }
        self.stores.close().await;
    }

    /// Whether this node can do its work: the store answers and, in a
    /// cluster, Redis does. The error names what does not answer, for
    /// `/readyz` and the operator reading it.
    pub async fn ready(&self) -> Result<(), String> {
        const WAIT: std::time::Duration = std::time::Duration::from_secs(2);
        match tokio::time::timeout(WAIT, self.stores.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(format!("store: {error}")),
            Err(_) => return Err("store: no answer within 2 s".into()),
        }
        if let Some(cluster) = self.chat().cluster() {
            match tokio::time::timeout(WAIT, cluster.shared.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("redis: {error}")),
                Err(_) => return Err("redis: no answer within 2 s".into()),
            }
        }
        Ok(())
    }

    pub fn chat(&self) -> &Arc<Chat> {
        &self.router.chat
    }

    /// Uploaded files' metadata and the conversations they were shared with.
    pub fn files(&self) -> &Arc<dyn FileStore> {
        &self.stores.files
    }
}
