//! The store contracts, run against PostgreSQL: a fresh database per test
//! on the server `HERALD_TEST_POSTGRES_URL` names, or on a cluster this
//! test binary starts (and stops) itself with `scripts/postgres.sh`.

#[macro_use]
mod contract;
#[path = "support/postgres.rs"]
mod support;

use herald_storage::{PgQueueStore, Stores};
use support::PgPlace;

async fn open_postgres(place: &PgPlace) -> PgQueueStore {
    PgQueueStore::connect(place.url().await)
        .await
        .expect("connect the PostgreSQL queue store")
}

async fn open_postgres_stores(place: &PgPlace) -> Stores {
    Stores::postgres(place.url().await)
        .await
        .expect("connect the PostgreSQL stores")
}

queue_store_contract!(postgres, place: PgPlace::new(), open: open_postgres);

chat_store_contract!(
    postgres_chat,
    place: PgPlace::new(),
    open: open_postgres_stores,
);
