//! `/queue/{name}`: competing consumers, round robin, kept until acknowledged.
//!
//! Each queue is one task that owns its ready list, its consumers and what
//! each consumer holds, so dispatch needs no locks. The store is told of
//! every lease, requeue and ack so that a restart finds exactly the
//! unacknowledged messages, with those already handed out flagged as
//! redelivered.
//!
//! Where the ready list comes from depends on the node:
//!
//! - Alone, the node owns every message of the store: it loads what was
//!   kept at start-up and queues what it accepts; a NACKed message goes back
//!   to the front of the ready list.
//! - In a cluster the nodes share the store, and a node only ever holds what
//!   it *claimed* ([`QueueStore::claim`]): as many messages as its
//!   consumers have room for, under a lease the router renews while the node
//!   lives. A SEND is stored unclaimed and announced on the bus (`q:{name}`)
//!   so that any node with an idle consumer claims it; a NACKed message, or
//!   one a departing consumer held, is given back to the store and announced
//!   again, so its next consumer may be on any node. A poll catches what
//!   announcements miss (a bus outage) and the leases of dead nodes, which
//!   are free again once they run out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald_storage::{QueueStore, QueuedMessage, StoreError, StoredId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::RouteError;
use crate::cluster::ClusterLink;
use crate::delivery::{Delivery, Message, SessionHandle};

/// How many `/queue` messages a node alone holds, over all its queues,
/// against `limits.max_queued_messages`: each is in memory until
/// acknowledged. A SEND takes its place before it is stored.
#[derive(Debug)]
pub struct Backlog {
    held: AtomicUsize,
    max: usize,
}

impl Backlog {
    /// `max` 0: no limit.
    pub fn new(max: usize) -> Backlog {
        Backlog {
            held: AtomicUsize::new(0),
            max,
        }
    }

    fn take(&self) -> Result<(), RouteError> {
        let before = self.held.fetch_add(1, Ordering::Relaxed);
        if self.max > 0 && before >= self.max {
            self.held.fetch_sub(1, Ordering::Relaxed);
            return Err(RouteError::Full(format!(
                "queues are full: {} messages wait for acknowledgement (limits.max_queued_messages); try again later",
                self.max
            )));
        }
        Ok(())
    }

    fn free(&self, count: usize) {
        self.held.fetch_sub(count, Ordering::Relaxed);
    }

    fn hold(&self, count: usize) {
        self.held.fetch_add(count, Ordering::Relaxed);
    }
}

/// Most messages one claim takes, so that one node's burst of free prefetch
/// does not keep a backlog from idle consumers on other nodes.
const CLAIM_BATCH: usize = 100;

/// Identifies one subscription of one session on a queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsumerKey {
    pub session: u64,
    pub subscription: Arc<str>,
}

/// How a cluster node's queues share the store with the other nodes.
#[derive(Clone)]
pub struct Claims {
    pub link: Arc<ClusterLink>,
    /// How long a claim holds messages without a renewal.
    pub lease: Duration,
    /// How often a queue with room looks for messages by itself.
    pub poll: Duration,
}

/// A message waiting in, or handed out by, a queue.
struct Entry {
    id: StoredId,
    message: Arc<Message>,
    deliveries: u32,
    /// The store update counting the latest delivery: a requeue waits for
    /// it, so the next claimer reads the count with it (and `redelivered`).
    leasing: Option<JoinHandle<()>>,
}

impl Entry {
    /// A message as the store kept it.
    fn stored(kept: QueuedMessage) -> Entry {
        let message_id = kept
            .headers
            .iter()
            .find(|(name, _)| name == "message-id")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
            .into();
        Entry {
            id: kept.id,
            message: Arc::new(Message {
                destination: kept.queue.as_str().into(),
                message_id,
                headers: kept
                    .headers
                    .iter()
                    .filter(|(name, _)| name != "message-id")
                    .cloned()
                    .collect(),
                body: kept.body,
                mentions: Vec::new(),
                logged: false,
            }),
            deliveries: kept.deliveries,
            leasing: None,
        }
    }
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
    /// The store may have messages to claim (a SEND here or on another
    /// node, a message given back, the poll).
    Wake,
    /// A claim's answer.
    Claimed(Result<Vec<QueuedMessage>, StoreError>),
}

/// A cheap, cloneable way to talk to one queue's task.
#[derive(Clone)]
pub struct QueueHandle {
    commands: mpsc::UnboundedSender<Command>,
    store: Arc<dyn QueueStore>,
    /// The queue's destination (`/queue/{name}`).
    destination: Arc<str>,
    claims: Option<Claims>,
    /// Alone only: a cluster node holds just what it claims.
    backlog: Option<Arc<Backlog>>,
}

impl QueueHandle {
    /// Starts the task for a single node's queue, with messages recovered
    /// from the store.
    pub fn start(
        store: Arc<dyn QueueStore>,
        destination: &str,
        recovered: Vec<QueuedMessage>,
        backlog: Arc<Backlog>,
    ) -> QueueHandle {
        backlog.hold(recovered.len());
        let ready = recovered.into_iter().map(Entry::stored).collect();
        QueueHandle::spawn(store, destination, ready, None, Some(backlog))
    }

    /// Starts the task for a cluster node's queue: it holds only what it
    /// claims from the shared store.
    pub fn start_shared(
        store: Arc<dyn QueueStore>,
        destination: &str,
        claims: Claims,
    ) -> QueueHandle {
        QueueHandle::spawn(store, destination, VecDeque::new(), Some(claims), None)
    }

    fn spawn(
        store: Arc<dyn QueueStore>,
        destination: &str,
        ready: VecDeque<Entry>,
        claims: Option<Claims>,
        backlog: Option<Arc<Backlog>>,
    ) -> QueueHandle {
        let (commands, receiver) = mpsc::unbounded_channel();
        let handle = QueueHandle {
            commands,
            store: store.clone(),
            destination: destination.into(),
            claims: claims.clone(),
            backlog: backlog.clone(),
        };
        let task = QueueTask {
            store,
            ready,
            consumers: Vec::new(),
            cursor: 0,
            held: HashMap::new(),
            claims,
            destination: handle.destination.clone(),
            myself: handle.commands.downgrade(),
            claiming: None,
            look: true,
            backlog: false,
            queued: backlog,
        };
        tokio::spawn(task.run(receiver));
        handle
    }

    /// Makes `message` durable, then queues it (alone) or announces it to
    /// every node (in a cluster). Returns once durable.
    pub async fn publish(
        &self,
        message: Arc<Message>,
        headers: Vec<(String, String)>,
    ) -> Result<(), RouteError> {
        let id = self.keep(&message, headers).await?;
        self.announce(id, message);
        Ok(())
    }

    /// Makes `message` durable without queueing it yet; see
    /// [`QueueHandle::announce`]. Writes submitted in order are stored in
    /// that order.
    pub async fn keep(
        &self,
        message: &Message,
        headers: Vec<(String, String)>,
    ) -> Result<StoredId, RouteError> {
        if let Some(backlog) = &self.backlog {
            backlog.take()?;
        }
        let kept = self
            .store
            .enqueue(&message.destination, headers, message.body.clone())
            .await;
        if let (Err(_), Some(backlog)) = (&kept, &self.backlog) {
            backlog.free(1);
        }
        Ok(kept?)
    }

    /// Queues a message [`QueueHandle::keep`] made durable (alone), or
    /// announces it to every node (in a cluster).
    pub fn announce(&self, id: StoredId, message: Arc<Message>) {
        match &self.claims {
            None => self.send(Command::Publish(Entry {
                id,
                message,
                deliveries: 0,
                leasing: None,
            })),
            Some(claims) => {
                self.send(Command::Wake);
                claims.link.announce_queue(queue_name(&self.destination));
            }
        }
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

    /// The queue's name (`name` of `/queue/name`).
    pub fn name(&self) -> &str {
        queue_name(&self.destination)
    }

    /// The store may hold messages for this queue (another node announced
    /// one, or the bus is back after an outage).
    pub fn wake(&self) {
        self.send(Command::Wake);
    }

    fn send(&self, command: Command) {
        // The task lives as long as the broker; a send can only fail during
        // shutdown, when there is nothing left to do with the command.
        let _ = self.commands.send(command);
    }
}

/// `name` of `/queue/name`.
pub fn queue_name(destination: &str) -> &str {
    destination.strip_prefix("/queue/").unwrap_or(destination)
}

struct QueueTask {
    store: Arc<dyn QueueStore>,
    ready: VecDeque<Entry>,
    consumers: Vec<Consumer>,
    /// Round-robin position: the consumer to try first next time.
    cursor: usize,
    /// Messages handed out and not yet acknowledged, by store id.
    held: HashMap<StoredId, (ConsumerKey, Entry)>,
    /// Set in a cluster: the ready list is filled by claims.
    claims: Option<Claims>,
    destination: Arc<str>,
    /// For claims to answer to; weak, so the task ends with its handles.
    myself: mpsc::WeakUnboundedSender<Command>,
    /// A claim is under way for this many; its answer comes as
    /// [`Command::Claimed`].
    claiming: Option<usize>,
    /// The store may hold messages to claim: something woke the queue (also
    /// while a claim was under way, which may have missed them), or a
    /// consumer came.
    look: bool,
    /// The last claim got all it asked for: more may be waiting, to claim
    /// as soon as consumers have room again.
    backlog: bool,
    /// The node's count of held messages (alone), freed as acks come.
    queued: Option<Arc<Backlog>>,
}

impl QueueTask {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut poll = self.claims.as_ref().map(|claims| {
            let mut poll = tokio::time::interval(claims.poll);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            poll
        });
        loop {
            let command = match poll.as_mut() {
                Some(poll) => tokio::select! {
                    command = commands.recv() => command,
                    _ = poll.tick() => Some(Command::Wake),
                },
                None => commands.recv().await,
            };
            let Some(command) = command else {
                break;
            };
            self.apply(command);
            // Apply everything already waiting before dispatching once.
            while let Ok(command) = commands.try_recv() {
                self.apply(command);
            }
            self.dispatch();
            if self.claims.is_some() {
                self.give_back_surplus();
                self.claim();
            }
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Publish(entry) => self.ready.push_back(entry),
            Command::Subscribe(consumer) => {
                self.consumers.push(consumer);
                self.look = true;
            }
            Command::Unsubscribe(key) => self.remove_consumer(&key),
            Command::Ack(key, ids) => {
                let released = ids
                    .into_iter()
                    .filter(|id| self.release(&key, *id).is_some())
                    .count();
                if let Some(queued) = &self.queued {
                    queued.free(released);
                }
                self.look |= self.backlog;
            }
            Command::Nack(key, ids) => {
                let mut returned: Vec<Entry> = ids
                    .into_iter()
                    .filter_map(|id| self.release(&key, id))
                    .collect();
                self.requeue(&mut returned);
            }
            Command::Wake => self.look = true,
            Command::Claimed(claimed) => {
                let asked = self.claiming.take().unwrap_or_default();
                match claimed {
                    Ok(messages) => {
                        self.backlog = messages.len() >= asked;
                        self.look |= self.backlog;
                        self.ready.extend(messages.into_iter().map(Entry::stored));
                    }
                    // The next wake or poll tries again.
                    Err(error) => {
                        tracing::warn!(%error, queue = %self.destination, "queue claim failed");
                    }
                }
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
        self.look |= self.backlog;
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

    /// Gives messages back. Alone: to the front of the ready list, oldest
    /// first, so order is kept. In a cluster: to the store, for any node.
    fn requeue(&mut self, returned: &mut Vec<Entry>) {
        returned.sort_by_key(|entry| std::cmp::Reverse(entry.id));
        if self.claims.is_some() {
            let entries: Vec<Entry> = returned.drain(..).rev().collect();
            self.give_back(entries);
            return;
        }
        for mut entry in returned.drain(..) {
            let store = self.store.clone();
            let id = entry.id;
            let leasing = entry.leasing.take();
            tokio::spawn(async move {
                if let Some(leasing) = leasing {
                    let _ = leasing.await;
                }
                log_store_error(store.requeue(id).await, "requeue");
            });
            self.ready.push_front(entry);
        }
    }

    /// Returns claimed messages to the store (after their delivery counts
    /// are written), then announces them to every node, this one included.
    fn give_back(&mut self, entries: Vec<Entry>) {
        let Some(claims) = &self.claims else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        let store = self.store.clone();
        let link = claims.link.clone();
        let destination = self.destination.clone();
        let myself = self.myself.clone();
        tokio::spawn(async move {
            for mut entry in entries {
                if let Some(leasing) = entry.leasing.take() {
                    let _ = leasing.await;
                }
                log_store_error(store.requeue(entry.id).await, "requeue");
            }
            link.announce_queue(queue_name(&destination));
            if let Some(myself) = myself.upgrade() {
                let _ = myself.send(Command::Wake);
            }
        });
    }

    /// How many more messages the consumers could take now.
    fn room(&self) -> usize {
        self.consumers
            .iter()
            .map(|consumer| consumer.prefetch.saturating_sub(consumer.holding))
            .sum()
    }

    /// Claimed messages nobody here can take (their consumers left) go back
    /// to the store rather than wait out their lease.
    fn give_back_surplus(&mut self) {
        let room = self.room();
        if self.ready.len() > room {
            let surplus: Vec<Entry> = self.ready.drain(room..).collect();
            self.give_back(surplus);
        }
    }

    /// Claims what the consumers have room for, unless a claim is under way.
    fn claim(&mut self) {
        let Some(claims) = &self.claims else {
            return;
        };
        let wanted = self.room().saturating_sub(self.ready.len());
        if !self.look || self.claiming.is_some() || wanted == 0 {
            return;
        }
        let limit = wanted.min(CLAIM_BATCH);
        self.claiming = Some(limit);
        self.look = false;
        let store = self.store.clone();
        let destination = self.destination.clone();
        let node = claims.link.node;
        let lease = claims.lease;
        let limit = limit as u32;
        let myself = self.myself.clone();
        tokio::spawn(async move {
            let claimed = store.claim(&destination, node, limit, lease).await;
            match myself.upgrade() {
                Some(myself) => {
                    let _ = myself.send(Command::Claimed(claimed));
                }
                // The queue is gone (shutdown): let the claim go at once.
                None => {
                    if let Ok(messages) = claimed {
                        for message in messages {
                            log_store_error(store.requeue(message.id).await, "requeue");
                        }
                    }
                }
            }
        });
    }

    /// Hands ready messages to consumers with free prefetch, round robin.
    fn dispatch(&mut self) {
        while !self.ready.is_empty() {
            let Some(index) = self.next_consumer() else {
                break;
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
                    let earlier = entry.leasing.take();
                    entry.leasing = Some(tokio::spawn(async move {
                        if let Some(earlier) = earlier {
                            let _ = earlier.await;
                        }
                        log_store_error(store.lease(id).await, "lease");
                    }));
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
