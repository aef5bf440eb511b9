//! Destination names to destinations: `/topic` fan-out, `/queue` competing
//! consumers, and (refused for now) the chat destinations `/user` and
//! `/group`.
//!
//! The router owns no sockets and knows sessions only by their
//! [`SessionHandle`]; it never waits on a session.

mod destination;
mod queue;
mod topic;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use herald_storage::{QueueStore, StoreError};

pub use destination::{Destination, DestinationError};
pub use queue::{ConsumerKey, QueueHandle};

use crate::delivery::{Message, SessionHandle};
use crate::metrics::Metrics;
use topic::Topics;

/// Why a SEND or SUBSCRIBE could not be routed; the text goes into the
/// ERROR frame.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// `/user` and `/group` are chat destinations, served once accounts exist.
    #[error("destination {0} is a chat destination; chat is not enabled on this broker yet")]
    ChatNotEnabled(String),
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
}

pub struct Router {
    topics: Topics,
    /// Queue name to its task. A std Mutex: held for a map lookup only.
    queues: Mutex<HashMap<String, QueueHandle>>,
    store: Arc<dyn QueueStore>,
    metrics: Arc<Metrics>,
}

impl Router {
    /// A router whose queues start with what the store kept.
    pub async fn start(
        store: Arc<dyn QueueStore>,
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
        })
    }

    /// Routes a message to its destination. For a `/queue` it returns once
    /// the message is durable.
    pub async fn publish(&self, message: Arc<Message>) -> Result<(), RouteError> {
        match Destination::parse(&message.destination)? {
            Destination::Topic(name) => {
                self.topics.publish(&name, &message);
                Ok(())
            }
            Destination::Queue(name) => {
                let mut headers = Vec::with_capacity(message.headers.len() + 1);
                headers.push(("message-id".to_owned(), message.message_id.to_string()));
                headers.extend(
                    message
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned())),
                );
                self.queue(&name).publish(message, headers).await?;
                Metrics::inc(&self.metrics.messages_persisted_total);
                Ok(())
            }
            chat @ (Destination::User(_) | Destination::Group(_)) => {
                Err(RouteError::ChatNotEnabled(chat.to_string()))
            }
        }
    }

    /// Subscribes a session's subscription to a destination.
    pub fn subscribe(
        &self,
        destination: &str,
        session: SessionHandle,
        subscription: Arc<str>,
        prefetch: usize,
    ) -> Result<Subscribed, RouteError> {
        match Destination::parse(destination)? {
            Destination::Topic(name) => {
                self.topics.subscribe(&name, session, subscription);
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
            chat @ (Destination::User(_) | Destination::Group(_)) => {
                Err(RouteError::ChatNotEnabled(chat.to_string()))
            }
        }
    }

    pub fn unsubscribe(&self, session_id: u64, subscription: &str, subscribed: &Subscribed) {
        match subscribed {
            Subscribed::Topic { name } => self.topics.unsubscribe(name, session_id, subscription),
            Subscribed::Queue { handle, key } => handle.unsubscribe(key.clone()),
        }
    }

    fn queue(&self, name: &str) -> QueueHandle {
        let mut queues = self.queues.lock().expect("poisoned");
        queues
            .entry(name.to_owned())
            .or_insert_with(|| QueueHandle::start(self.store.clone(), Vec::new()))
            .clone()
    }

    /// Finishes the store's in-flight writes.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
