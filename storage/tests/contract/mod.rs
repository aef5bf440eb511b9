//! The `QueueStore` contract: what every Herald backend must do, whatever it
//! stores in. Each check is a generic async function; the
//! [`queue_store_contract!`] macro turns them into one `#[tokio::test]` each
//! for a backend. A backend's test file does:
//!
//! ```ignore
//! #[macro_use]
//! mod contract;
//! queue_store_contract!(sqlite, place: TempDir::new().unwrap(), open: open_store);
//! ```
//!
//! `place` makes a fresh, empty location (a directory, a database name) and
//! keeps it alive for the test; `open` is an `async fn(&Place) -> Store` that
//! opens the store there and may be called again to reopen it.
//!
//! The checks use only the trait, never a backend's own API; [`claims`]
//! holds those of how a cluster's nodes share a queue. The
//! directory and message-log contract is in [`chat`], with its own macro;
//! dedupe, recall, search, retention, the conversation index, cursors,
//! dead letters and files in [`reliable`], with its own.

#[macro_use]
pub mod chat;
mod checks;
mod claims;
#[macro_use]
pub mod reliable;

pub use checks::*;
pub use claims::*;

/// Generates the contract tests for one backend, in a module named `$name`.
macro_rules! queue_store_contract {
    ($name:ident, place: $place:expr, open: $open:expr $(,)?) => {
        queue_store_contract!(@tests $name, $place, $open, [
            enqueue_returns_increasing_ids,
            pending_keeps_order_headers_and_bodies,
            lease_counts_deliveries,
            requeue_keeps_message_and_count,
            ack_removes_only_that_message,
            unknown_ids_are_not_errors,
            concurrent_enqueues_are_all_stored,
            closed_store_refuses_everything,
            close_finishes_accepted_writes,
            data_survives_reopen,
            ids_are_never_reused,
            claims_take_free_messages_oldest_first,
            two_nodes_never_claim_the_same_message,
            expired_leases_are_reclaimed,
            requeue_and_release_free_claims,
            closed_store_refuses_claims,
        ]);
    };
    (@tests $name:ident, $place:expr, $open:expr, [$($check:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let place = $place;
                    let place = &place;
                    crate::contract::$check(move || ($open)(place)).await;
                }
            )*
        }
    };
}
