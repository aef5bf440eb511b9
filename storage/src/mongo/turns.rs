//! Turns: this process's writers that take the next number under one key
//! (a conversation's seq, the next dead-letter id) go one at a time.
//!
//! Numbers are taken by inserting under a unique index and retrying on a
//! duplicate key, which is safe between processes but costly when many
//! writers race: each round only one wins, so n racing writers make about
//! n²/2 attempts. Within one process they need not race at all. A turn
//! also remembers the last number this process stored under its key, so
//! the next writer tries one more without reading first; another
//! process's insert under the same key shows up as a duplicate key, and
//! the writer then reads the real last number.
//!
//! A turn is held across the insert's `.await` on purpose: it is a queue
//! of writers, not a lock over shared data, so it is a tokio mutex. The
//! map of turns is behind a std mutex, held only to look up or drop an
//! entry, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// The last number this process stored under a key, if it remembers one.
pub(super) type Last = Option<i64>;

type Turn = Arc<tokio::sync::Mutex<Last>>;

/// The turns of one collection's keys.
#[derive(Default)]
pub(super) struct Turns {
    /// Only keys some writer holds or waits for: an entry goes when its
    /// last writer is done, so the map stays as small as the number of
    /// busy keys.
    turns: Mutex<HashMap<String, Turn>>,
}

/// A writer's turn under one key; the next writer goes when it drops.
pub(super) struct Held<'a> {
    turns: &'a Turns,
    key: String,
    /// `None` only while dropping.
    guard: Option<OwnedMutexGuard<Last>>,
}

impl Turns {
    /// Waits for the turn under `key`.
    pub(super) async fn take(&self, key: &str) -> Held<'_> {
        let turn = {
            let mut turns = self
                .turns
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            turns.entry(key.to_owned()).or_default().clone()
        };
        Held {
            turns: self,
            key: key.to_owned(),
            guard: Some(turn.lock_owned().await),
        }
    }
}

impl Held<'_> {
    /// The last number this process stored under the key.
    pub(super) fn last(&self) -> Last {
        self.guard.as_deref().copied().flatten()
    }

    /// Remembers `number` as the last one stored (or forgets, with `None`).
    pub(super) fn set_last(&mut self, number: Last) {
        if let Some(guard) = self.guard.as_deref_mut() {
            *guard = number;
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut turns = self
            .turns
            .turns
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Release the turn first, then drop the entry if no other writer
        // holds or waits for it (the map's own reference is the only one).
        drop(self.guard.take());
        if turns
            .get(&self.key)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            turns.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_under_one_key_take_turns_and_share_the_last_number() {
        let turns = Turns::default();
        let mut first = turns.take("g1").await;
        assert_eq!(first.last(), None);
        first.set_last(Some(4));
        let other_key = turns.take("g2").await;
        assert_eq!(other_key.last(), None, "keys do not share numbers");
        let second = turns.take("g1");
        tokio::pin!(second);
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "the second writer waits"
        );
        drop(first);
        let second = second.await;
        assert_eq!(second.last(), Some(4));
        drop(second);
        drop(other_key);
        assert!(turns.turns.lock().expect("map").is_empty(), "idle keys go");
    }
}
