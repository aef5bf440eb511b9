//! The broker: everything sessions share, behind one `Arc`.

use std::sync::Arc;

use herald_storage::sqlite::SqliteQueueStore;
use herald_storage::{QueueStore, StoreError};
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::delivery::MessageIds;
use crate::metrics::Metrics;
use crate::router::Router;

pub struct Broker {
    pub config: Config,
    pub limits: herald_protocol::Limits,
    pub router: Router,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    pub ids: MessageIds,
    /// Cancelled when the broker starts shutting down; sessions watch it.
    pub shutdown: CancellationToken,
}

impl Broker {
    /// A broker over the embedded SQLite store in `config.server.data_dir`.
    pub async fn open(config: Config) -> Result<Arc<Broker>, StoreError> {
        let store = SqliteQueueStore::open(&config.server.data_dir).await?;
        Broker::with_store(config, Arc::new(store)).await
    }

    pub async fn with_store(
        config: Config,
        store: Arc<dyn QueueStore>,
    ) -> Result<Arc<Broker>, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let router = Router::start(store, metrics.clone()).await?;
        Ok(Arc::new(Broker {
            limits: config.protocol_limits(),
            auth: Authenticator::new(&config.auth),
            router,
            metrics,
            ids: MessageIds::new(),
            shutdown: CancellationToken::new(),
            config,
        }))
    }
}
