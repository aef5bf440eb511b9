//! Destination names to destinations: `/topic` fan-out and `/queue`
//! competing consumers (both under the config's ACL), and the chat
//! destinations `/user` and `/group`, which the chat layer owns.
//!
//! The router owns no sockets and knows sessions only by their
//! [`SessionHandle`]; it never waits on a session.

mod destination;
mod queue;
mod topic;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use herald_protocol::Headers;
use herald_storage::{QueueStore, StoreError};

pub use destination::{Destination, DestinationError};
pub use queue::{Backlog, Claims, ConsumerKey, QueueHandle};

use crate::acl::{Access, Acl};
use crate::auth::Principal;
use crate::chat::{Channel, Chat, ChatError};
use crate::delivery::{Message, MessageIds, SessionHandle};
use crate::metrics::Metrics;
use topic::Topics;

/// Why a SEND or SUBSCRIBE could not be routed; the text goes into the
/// ERROR frame.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// The ACL refused; the text names the rule.
    #[error("{0}")]
    Forbidden(String),
    /// `limits.max_queued_messages` is reached; nothing was accepted.
    #[error("{0}")]
    Full(String),
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The message could not be made durable; it was not accepted.
    #[error("message not accepted: {0}")]
    Store(#[from] StoreError),
}

/// A subscription as the router sees it, so the session can undo it.
#[derive(Clone)]
pub enum Subscribed {
    Topic {
        name: String,
    },
    Queue {
        handle: QueueHandle,
        key: ConsumerKey,
    },
    Chat {
        channel: Channel,
    },
}

/// What a routed SEND adds to its RECEIPT.
#[derive(Debug, Default)]
pub struct Published {
    pub receipt_headers: Vec<(&'static str, String)>,
}

pub struct Router {
    topics: Topics,
    /// Queue name to its task. A std Mutex: held for a map lookup only.
    queues: Mutex<HashMap<String, QueueHandle>>,
    store: Arc<dyn QueueStore>,
    /// In a cluster: queues claim their messages from the shared store.
    claims: Option<Claims>,
    metrics: Arc<Metrics>,
    acl: Acl,
    ids: MessageIds,
    pub chat: Arc<Chat>,
    /// What the queues of a node alone hold, against its limit.
    backlog: Arc<Backlog>,
}

impl Router {
    /// A router whose queues start with what the store kept (alone), or
    /// claim from the shared store (with `claims`, in a cluster).
    pub async fn start(
        store: Arc<dyn QueueStore>,
        chat: Arc<Chat>,
        acl: Acl,
        metrics: Arc<Metrics>,
        claims: Option<Claims>,
        max_queued: usize,
    ) -> Result<Router, StoreError> {
        let backlog = Arc::new(Backlog::new(max_queued));
        let mut queues = HashMap::new();
        match &claims {
            None => {
                let mut recovered: HashMap<String, Vec<_>> = HashMap::new();
                for kept in store.pending().await? {
                    recovered.entry(kept.queue.clone()).or_default().push(kept);
                }
                for (destination, messages) in recovered {
                    let name = queue::queue_name(&destination).to_owned();
                    let handle =
                        QueueHandle::start(store.clone(), &destination, messages, backlog.clone());
                    queues.insert(name, handle);
                }
            }
            Some(claims) => {
                // What this node id held in a previous life was never
                // acknowledged: free it now rather than when its leases end.
                let freed = store.release_owner(claims.link.node).await?;
                if freed > 0 {
                    tracing::info!(freed, "queue messages held before a restart freed");
                }
            }
        }
        Ok(Router {
            topics: Topics::default(),
            queues: Mutex::new(queues),
            store,
            claims,
            metrics,
            acl,
            ids: MessageIds::new(),
            chat,
            backlog,
        })
    }

    /// Routes a SEND. `headers` are the client's with the broker's own
    /// stripped. For `/queue` and chat it returns once the message is
    /// durable.
    pub async fn publish(
        &self,
        principal: &Principal,
        destination: &str,
        headers: Headers,
        body: Bytes,
    ) -> Result<Published, RouteError> {
        let parsed = Destination::parse(destination)?;
        if let Some(channel) = chat_channel(&parsed)? {
            let sent = self.chat.send(principal, channel, headers, body).await?;
            return Ok(Published {
                receipt_headers: sent.receipt_headers,
            });
        }
        self.acl
            .check(&principal.username, destination, Access::Send)
            .map_err(RouteError::Forbidden)?;
        let message = self.new_message(destination, headers, body);
        match parsed {
            Destination::Topic(name) => {
                self.topics.publish(&name, &message);
                if let Some(cluster) = self.chat.cluster() {
                    cluster.publish(format!("t:{name}"), &message);
                }
            }
            Destination::Queue(name) => {
                let stored = stored_headers(&message);
                self.queue(&name).publish(message, stored).await?;
                Metrics::inc(&self.metrics.messages_persisted_total);
            }
            Destination::User(_) | Destination::Group(_) => {
                unreachable!("chat destinations return above")
            }
        }
        Ok(Published::default())
    }

    /// Routes a run of SENDs to `/queue` destinations from one connection,
    /// in order, and makes them durable together: their store writes are
    /// all submitted before any is awaited, so they share group commits
    /// where one at a time each would wait for a commit of its own. Stops
    /// at the first refusal; one result per SEND tried, in order.
    pub async fn publish_to_queues(
        &self,
        principal: &Principal,
        sends: Vec<(String, Headers, Bytes)>,
    ) -> Vec<Result<(), RouteError>> {
        let mut refused = None;
        let mut writes = Vec::with_capacity(sends.len());
        for (destination, headers, body) in sends {
            let name = match Destination::parse(&destination) {
                Ok(Destination::Queue(name)) => name,
                Ok(_) => unreachable!("only /queue SENDs are batched"),
                Err(error) => {
                    refused = Some(error.into());
                    break;
                }
            };
            if let Err(rule) = self
                .acl
                .check(&principal.username, &destination, Access::Send)
            {
                refused = Some(RouteError::Forbidden(rule));
                break;
            }
            let message = self.new_message(&destination, headers, body);
            let queue = self.queue(&name);
            writes.push(async move {
                let kept = queue.keep(&message, stored_headers(&message)).await;
                (queue, message, kept)
            });
        }
        // join_all polls its futures in order, so the writes reach the
        // store in the order of the SENDs.
        let mut results = Vec::with_capacity(writes.len() + 1);
        for (queue, message, kept) in futures_util::future::join_all(writes).await {
            results.push(match kept {
                Ok(id) => {
                    queue.announce(id, message);
                    Metrics::inc(&self.metrics.messages_persisted_total);
                    Ok(())
                }
                Err(error) => Err(error),
            });
        }
        results.extend(refused.map(Err));
        results
    }

    /// A `/topic` or `/queue` message with a fresh id.
    fn new_message(&self, destination: &str, headers: Headers, body: Bytes) -> Arc<Message> {
        Arc::new(Message {
            destination: destination.into(),
            message_id: self.ids.next(),
            headers,
            body,
            mentions: Vec::new(),
            logged: false,
        })
    }

    /// Checks a SEND's destination and access without sending, for SENDs
    /// held in a transaction (so a refusal comes at SEND, not at COMMIT).
    fn check_send(&self, principal: &Principal, destination: &str) -> Result<(), RouteError> {
        let parsed = Destination::parse(destination)?;
        if chat_channel(&parsed)?.is_none() {
            self.acl
                .check(&principal.username, destination, Access::Send)
                .map_err(RouteError::Forbidden)?;
        }
        Ok(())
    }

    /// For a SEND held in a transaction: what routing it at COMMIT would
    /// refuse for the frame and its sender's rights (chat rules included),
    /// so the refusal comes now and a COMMIT is not cut short by it.
    pub async fn check_held_send(
        &self,
        principal: &Principal,
        destination: &str,
        headers: &Headers,
        body: &[u8],
    ) -> Result<(), RouteError> {
        self.check_send(principal, destination)?;
        if let Some(channel) = chat_channel(&Destination::parse(destination)?)? {
            self.chat.check(principal, channel, headers, body).await?;
        }
        Ok(())
    }

    /// Subscribes a session's subscription to a destination.
    pub async fn subscribe(
        &self,
        principal: &Principal,
        destination: &str,
        session: SessionHandle,
        subscription: Arc<str>,
        prefetch: usize,
    ) -> Result<Subscribed, RouteError> {
        let parsed = Destination::parse(destination)?;
        if let Some(channel) = chat_channel(&parsed)? {
            self.chat
                .subscribe(principal, channel, session, subscription)
                .await?;
            return Ok(Subscribed::Chat { channel });
        }
        self.acl
            .check(&principal.username, destination, Access::Subscribe)
            .map_err(RouteError::Forbidden)?;
        match parsed {
            Destination::Topic(name) => {
                self.topics.subscribe(&name, session, subscription);
                if let Some(cluster) = self.chat.cluster() {
                    cluster.bus.listen(&format!("t:{name}"));
                }
                Ok(Subscribed::Topic { name })
            }
            Destination::Queue(name) => {
                let handle = self.queue(&name);
                let key = ConsumerKey {
                    session: session.id,
                    subscription,
                };
                if let Some(claims) = &self.claims {
                    claims.link.bus.listen(&format!("q:{name}"));
                }
                handle.subscribe(key.clone(), session, prefetch);
                Ok(Subscribed::Queue { handle, key })
            }
            Destination::User(_) | Destination::Group(_) => {
                unreachable!("chat destinations return above")
            }
        }
    }

    pub fn unsubscribe(&self, session_id: u64, subscription: &str, subscribed: &Subscribed) {
        match subscribed {
            Subscribed::Topic { name } => {
                self.topics.unsubscribe(name, session_id, subscription);
                if let Some(cluster) = self.chat.cluster() {
                    cluster.bus.unlisten(&format!("t:{name}"));
                }
            }
            Subscribed::Queue { handle, key } => {
                handle.unsubscribe(key.clone());
                if let Some(claims) = &self.claims {
                    claims.link.bus.unlisten(&format!("q:{}", handle.name()));
                }
            }
            Subscribed::Chat { channel } => {
                self.chat.unsubscribe(*channel, session_id, subscription)
            }
        }
    }

    /// A message another node published, for this node's subscribers of
    /// bus channel `channel` (`u:{id}`, `g:{id}` or `t:{name}`).
    pub fn deliver_remote(&self, channel: &str, message: Arc<Message>) {
        let Some((kind, name)) = channel.split_once(':') else {
            return;
        };
        match (kind, name.parse::<i64>()) {
            ("u", Ok(user)) => self.chat.deliver_remote(Channel::Inbox(user), &message),
            ("g", Ok(group)) => self.chat.deliver_remote(Channel::Group(group), &message),
            ("t", _) => {
                self.topics.publish(name, &message);
            }
            _ => tracing::warn!(channel, "bus message on an unknown channel ignored"),
        }
    }

    /// Another node announced messages for queue `name`: if this node
    /// consumes it, its consumers claim them.
    pub fn queue_announced(&self, name: &str) {
        let queues = self.queues.lock().expect("poisoned");
        if let Some(queue) = queues.get(name) {
            queue.wake();
        }
    }

    /// Every queue looks at the store again (the bus was down: their
    /// announcements were lost).
    pub fn wake_queues(&self) {
        for queue in self.queues.lock().expect("poisoned").values() {
            queue.wake();
        }
    }

    /// Extends the leases of every queue message this node holds; a node
    /// that stops doing so (it died) loses them to the others.
    pub async fn renew_queue_leases(&self) -> Result<u64, StoreError> {
        match &self.claims {
            Some(claims) => self.store.renew(claims.link.node, claims.lease).await,
            None => Ok(0),
        }
    }

    /// Gives back every queue message this node holds (at shutdown, once
    /// its sessions are gone) so that other nodes take them at once.
    pub async fn release_queue_claims(&self) -> Result<u64, StoreError> {
        match &self.claims {
            Some(claims) => self.store.release_owner(claims.link.node).await,
            None => Ok(0),
        }
    }

    fn queue(&self, name: &str) -> QueueHandle {
        let mut queues = self.queues.lock().expect("poisoned");
        queues
            .entry(name.to_owned())
            .or_insert_with(|| {
                let destination = format!("/queue/{name}");
                match &self.claims {
                    None => QueueHandle::start(
                        self.store.clone(),
                        &destination,
                        Vec::new(),
                        self.backlog.clone(),
                    ),
                    Some(claims) => {
                        QueueHandle::start_shared(self.store.clone(), &destination, claims.clone())
                    }
                }
            })
            .clone()
    }
}

/// The chat channel a destination names, if it is a chat destination.
fn chat_channel(destination: &Destination) -> Result<Option<Channel>, DestinationError> {
    let id =
        |n: u64| i64::try_from(n).map_err(|_| DestinationError::InvalidId(destination.to_string()));
    Ok(match destination {
        Destination::User(user) => Some(Channel::Inbox(id(*user)?)),
        Destination::Group(group) => Some(Channel::Group(id(*group)?)),
        Destination::Topic(_) | Destination::Queue(_) => None,
    })
}

/// What the queue store keeps of a message besides its body: the broker's
/// message id first, then the client's headers.
fn stored_headers(message: &Message) -> Vec<(String, String)> {
    let mut stored = Vec::with_capacity(message.headers.len() + 1);
    stored.push(("message-id".to_owned(), message.message_id.to_string()));
    stored.extend(
        message
            .headers
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    stored
}
