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
pub use queue::{ConsumerKey, QueueHandle};

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
    metrics: Arc<Metrics>,
    acl: Acl,
    ids: MessageIds,
    pub chat: Arc<Chat>,
}

impl Router {
    /// A router whose queues start with what the store kept.
    pub async fn start(
        store: Arc<dyn QueueStore>,
        chat: Arc<Chat>,
        acl: Acl,
        metrics: Arc<Metrics>,
    ) -> Result<Router, StoreError> {
        let mut recovered: HashMap<String, Vec<_>> = HashMap::new();
        for kept in store.pending().await? {
            let message = Arc::new(Message {
                destination: kept.queue.as_str().into(),
                message_id: header(&kept.headers, "message-id")
                    .unwrap_or_default()
                    .into(),
                headers: kept
                    .headers
                    .iter()
                    .filter(|(name, _)| name != "message-id")
                    .cloned()
                    .collect(),
                body: kept.body,
                mentions: Vec::new(),
            });
            let name = kept
                .queue
                .strip_prefix("/queue/")
                .unwrap_or(&kept.queue)
                .to_owned();
            recovered
                .entry(name)
                .or_default()
                .push((kept.id, message, kept.deliveries));
        }
        let queues = recovered
            .into_iter()
            .map(|(name, messages)| (name, QueueHandle::start(store.clone(), messages)))
            .collect();
        Ok(Router {
            topics: Topics::default(),
            queues: Mutex::new(queues),
            store,
            metrics,
            acl,
            ids: MessageIds::new(),
            chat,
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
        let message = Arc::new(Message {
            destination: destination.into(),
            message_id: self.ids.next(),
            headers,
            body,
            mentions: Vec::new(),
        });
        match parsed {
            Destination::Topic(name) => {
                self.topics.publish(&name, &message);
                if let Some(cluster) = self.chat.cluster() {
                    cluster.publish(format!("t:{name}"), &message);
                }
            }
            Destination::Queue(name) => {
                let mut stored = Vec::with_capacity(message.headers.len() + 1);
                stored.push(("message-id".to_owned(), message.message_id.to_string()));
                stored.extend(
                    message
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned())),
                );
                self.queue(&name).publish(message, stored).await?;
                Metrics::inc(&self.metrics.messages_persisted_total);
            }
            Destination::User(_) | Destination::Group(_) => {
                unreachable!("chat destinations return above")
            }
        }
        Ok(Published::default())
    }

    /// Checks a SEND's destination and access without sending, for SENDs
    /// held in a transaction (so a refusal comes at SEND, not at COMMIT).
    pub fn check_send(&self, principal: &Principal, destination: &str) -> Result<(), RouteError> {
        let parsed = Destination::parse(destination)?;
        if chat_channel(&parsed)?.is_none() {
            self.acl
                .check(&principal.username, destination, Access::Send)
                .map_err(RouteError::Forbidden)?;
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
            Subscribed::Queue { handle, key } => handle.unsubscribe(key.clone()),
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

    fn queue(&self, name: &str) -> QueueHandle {
        let mut queues = self.queues.lock().expect("poisoned");
        queues
            .entry(name.to_owned())
            .or_insert_with(|| QueueHandle::start(self.store.clone(), Vec::new()))
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

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
