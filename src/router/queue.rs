//! `/queue/{name}`: competing consumers, round robin, kept until acknowledged.
//!
//! Each queue is one task that owns its ready list, its consumers and what
//! each consumer holds, so dispatch needs no locks. The store is told of
//! every lease, requeue and ack so that a restart finds exactly the
//! unacknowledged messages, with those already handed out flagged as
//! redelivered.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use herald_storage::{QueueStore, StoreError, StoredId};
use tokio::sync::mpsc;

use crate::delivery::{Delivery, Message, SessionHandle};

/// Identifies one subscription of one session on a queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsumerKey {
    pub session: u64,
    pub subscription: Arc<str>,
}

/// A message waiting in, or handed out by, a queue.
struct Entry {
    id: StoredId,
    message: Arc<Message>,
    deliveries: u32,
}

struct Consumer {
    key: ConsumerKey,
    session: SessionHandle,
    prefetch: usize,
    holding: usize,
}

enum Command {
    Publish(Entry),
    Subscribe(Consumer),
    Unsubscribe(ConsumerKey),
    Ack(ConsumerKey, Vec<StoredId>),
    Nack(ConsumerKey, Vec<StoredId>),
}

/// A cheap, cloneable way to talk to one queue's task.
#[derive(Clone)]
pub struct QueueHandle {
    commands: mpsc::UnboundedSender<Command>,
    store: Arc<dyn QueueStore>,
}

impl QueueHandle {
    /// Starts the task for a queue, with messages recovered from the store.
    pub fn start(
        store: Arc<dyn QueueStore>,
        recovered: Vec<(StoredId, Arc<Message>, u32)>,
    ) -> QueueHandle {
        let (commands, receiver) = mpsc::unbounded_channel();
        let ready = recovered
            .into_iter()
            .map(|(id, message, deliveries)| Entry {
                id,
                message,
                deliveries,
            })
            .collect();
        let task = QueueTask {
            store: store.clone(),
            ready,
            consumers: Vec::new(),
            cursor: 0,
            held: HashMap::new(),
        };
        tokio::spawn(task.run(receiver));
        QueueHandle { commands, store }
    }

    /// Makes `message` durable, then queues it. Returns once durable.
    pub async fn publish(
        &self,
        message: Arc<Message>,
        headers: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let id = self
            .store
            .enqueue(&message.destination, headers, message.body.clone())
            .await?;
        self.send(Command::Publish(Entry {
            id,
            message,
            deliveries: 0,
        }));
        Ok(())
    }

    pub fn subscribe(&self, key: ConsumerKey, session: SessionHandle, prefetch: usize) {
        self.send(Command::Subscribe(Consumer {
            key,
            session,
            prefetch: prefetch.max(1),
            holding: 0,
        }));
    }

    /// Removes the consumer; what it held goes back to the queue.
    pub fn unsubscribe(&self, key: ConsumerKey) {
        self.send(Command::Unsubscribe(key));
    }

    /// Acknowledges messages. The queue forgets them at once (so a later
    /// unsubscribe cannot requeue them); the returned future resolves once
    /// the store has forgotten them too.
    pub fn ack(
        &self,
        key: ConsumerKey,
        ids: Vec<StoredId>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        self.send(Command::Ack(key, ids.clone()));
        let store = self.store.clone();
        async move {
            let results = futures_util::future::join_all(ids.iter().map(|id| store.ack(*id))).await;
            results.into_iter().collect()
        }
    }

    /// Gives messages back: they go to the next consumer, marked redelivered.
    pub fn nack(&self, key: ConsumerKey, ids: Vec<StoredId>) {
        self.send(Command::Nack(key, ids));
    }

    fn send(&self, command: Command) {
        // The task lives as long as the broker; a send can only fail during
        // shutdown, when there is nothing left to do with the command.
        let _ = self.commands.send(command);
    }
}

struct QueueTask {
    store: Arc<dyn QueueStore>,
    ready: VecDeque<Entry>,
    consumers: Vec<Consumer>,
    /// Round-robin position: the consumer to try first next time.
    cursor: usize,
    /// Messages handed out and not yet acknowledged, by store id.
    held: HashMap<StoredId, (ConsumerKey, Entry)>,
}

impl QueueTask {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        while let Some(command) = commands.recv().await {
            self.apply(command);
            // Apply everything already waiting before dispatching once.
            while let Ok(command) = commands.try_recv() {
                self.apply(command);
            }
            self.dispatch();
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Publish(entry) => self.ready.push_back(entry),
            Command::Subscribe(consumer) => self.consumers.push(consumer),
            Command::Unsubscribe(key) => self.remove_consumer(&key),
            Command::Ack(key, ids) => {
                for id in ids {
                    self.release(&key, id);
                }
            }
            Command::Nack(key, ids) => {
                let mut returned: Vec<Entry> = ids
                    .into_iter()
                    .filter_map(|id| self.release(&key, id))
                    .collect();
                self.requeue(&mut returned);
            }
        }
    }

    /// Removes `id` from what `key` holds and frees one prefetch slot.
    fn release(&mut self, key: &ConsumerKey, id: StoredId) -> Option<Entry> {
        if self.held.get(&id).is_none_or(|(holder, _)| holder != key) {
            return None;
        }
        let (_, entry) = self.held.remove(&id)?;
        if let Some(consumer) = self.consumers.iter_mut().find(|c| &c.key == key) {
            consumer.holding = consumer.holding.saturating_sub(1);
        }
        Some(entry)
    }

    fn remove_consumer(&mut self, key: &ConsumerKey) {
        self.consumers.retain(|consumer| &consumer.key != key);
        let ids: Vec<StoredId> = self
            .held
            .iter()
            .filter(|(_, (holder, _))| holder == key)
            .map(|(id, _)| *id)
            .collect();
        let mut returned: Vec<Entry> = ids
            .into_iter()
            .filter_map(|id| self.held.remove(&id))
            .map(|(_, e)| e)
            .collect();
        self.requeue(&mut returned);
    }

    /// Puts messages back at the front, oldest first, so order is kept.
    fn requeue(&mut self, returned: &mut Vec<Entry>) {
        returned.sort_by_key(|entry| std::cmp::Reverse(entry.id));
        for entry in returned.drain(..) {
            let store = self.store.clone();
            let id = entry.id;
            tokio::spawn(async move { log_store_error(store.requeue(id).await, "requeue") });
            self.ready.push_front(entry);
        }
    }

    /// Hands ready messages to consumers with free prefetch, round robin.
    fn dispatch(&mut self) {
        while !self.ready.is_empty() {
            let Some(index) = self.next_consumer() else {
                return;
            };
            let mut entry = self.ready.pop_front().expect("not empty");
            let consumer = &mut self.consumers[index];
            let delivery = Delivery {
                subscription: consumer.key.subscription.clone(),
                message: entry.message.clone(),
                redelivered: entry.deliveries > 0,
                stored_id: Some(entry.id),
            };
            match consumer.session.offer(delivery) {
                Ok(()) => {
                    consumer.holding += 1;
                    entry.deliveries += 1;
                    let store = self.store.clone();
                    let id = entry.id;
                    tokio::spawn(async move { log_store_error(store.lease(id).await, "lease") });
                    self.held.insert(entry.id, (consumer.key.clone(), entry));
                    self.cursor = index + 1;
                }
                Err(_) => {
                    // Slow or gone: that session is closing and will
                    // unsubscribe; stop offering it anything meanwhile.
                    self.ready.push_front(entry);
                    let key = self.consumers[index].key.clone();
                    self.remove_consumer(&key);
                }
            }
        }
    }

    fn next_consumer(&self) -> Option<usize> {
        let count = self.consumers.len();
        (0..count)
            .map(|offset| (self.cursor + offset) % count)
            .find(|&index| self.consumers[index].holding < self.consumers[index].prefetch)
    }
}

fn log_store_error(result: Result<(), StoreError>, operation: &str) {
    if let Err(error) = result {
        tracing::warn!(%error, operation, "queue store update failed");
    }
}
