//! One session's subscriptions and the messages it has not acknowledged.
//!
//! Under `client` and `client-individual` every MESSAGE gets an ack id and
//! is remembered here until ACK or NACK. STOMP 1.2 clients acknowledge by
//! the MESSAGE's `ack` header; 1.0 and 1.1 clients by its `message-id`, so
//! for them the ack id is the message id.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use herald_storage::StoredId;

use tokio::time::Instant;

use crate::chat::feed::{Cursor, Feed};
use crate::chat::Channel;
use crate::delivery::{Delivery, Message};
use crate::router::Subscribed;

/// How a subscription acknowledges, from SUBSCRIBE's `ack` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    /// Delivered means acknowledged.
    Auto,
    /// ACK acknowledges the message and every earlier one of the subscription.
    Client,
    /// ACK acknowledges exactly one message.
    ClientIndividual,
}

impl AckMode {
    pub fn parse(value: Option<&str>) -> Option<AckMode> {
        match value {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

pub struct Subscription {
    /// Kept for logs and diagnostics.
    #[allow(dead_code)]
    pub destination: String,
    pub ack_mode: AckMode,
    pub prefetch: Option<usize>,
    pub routed: Subscribed,
    /// Ack ids handed out and not yet acknowledged, oldest first.
    pub unacked: VecDeque<String>,
    /// Topic deliveries held back while `prefetch` messages are unacknowledged.
    pub backlog: VecDeque<Delivery>,
    /// Set for chat destinations.
    pub chat: Option<ChatSubscription>,
}

impl Subscription {
    /// Whether another message may go out without exceeding prefetch.
    pub fn has_room(&self) -> bool {
        self.ack_mode == AckMode::Auto
            || self.prefetch.is_none_or(|limit| self.unacked.len() < limit)
    }
}

/// A message waiting for ACK or NACK.
#[derive(Clone, Debug)]
pub struct Unacked {
    pub subscription: Arc<str>,
    pub stored_id: Option<StoredId>,
    /// Set for stored chat messages: what a redelivery and the device's
    /// cursor need.
    pub chat: Option<ChatDelivery>,
}

/// A chat message handed to a client-ack subscription and not yet
/// acknowledged.
#[derive(Clone, Debug)]
pub struct ChatDelivery {
    pub conversation: String,
    pub seq: i64,
    pub message: Arc<Message>,
    /// How many times it was sent (1 the first time).
    pub deliveries: u32,
    /// When it is sent again if still unacknowledged.
    pub deadline: Instant,
}

/// A subscription to `/user/{me}` or `/group/{id}`: its place in each
/// conversation, and the device's delivered cursors.
#[derive(Debug)]
pub struct ChatSubscription {
    pub channel: Channel,
    pub feed: Feed,
    pub cursors: HashMap<String, Cursor>,
}

/// Messages acknowledged (or refused) by one ACK or NACK, per subscription.
pub struct Settled {
    pub subscription: Arc<str>,
    pub stored_ids: Vec<StoredId>,
    pub chat: Vec<ChatDelivery>,
}

#[derive(Default)]
pub struct Subscriptions {
    pub by_id: HashMap<Arc<str>, Subscription>,
    /// Ack id to the messages it names; more than one only when a 1.0/1.1
    /// session gets the same message on two subscriptions.
    pending: HashMap<String, Vec<Unacked>>,
    /// How many of `pending` are chat messages, kept as they come and go
    /// (every removal goes through `take`): the session asks every turn of
    /// its loop, and a scan would cost a look at every unacked message.
    chat_unacked: usize,
}

impl Subscriptions {
    /// Remembers a delivered message under `ack_id`.
    pub fn remember(&mut self, ack_id: String, unacked: Unacked) {
        if let Some(subscription) = self.by_id.get_mut(&unacked.subscription) {
            subscription.unacked.push_back(ack_id.clone());
        }
        if unacked.chat.is_some() {
            self.chat_unacked += 1;
        }
        self.pending.entry(ack_id).or_default().push(unacked);
    }

    /// Settles the message named by `ack_id` (and, under `client` mode,
    /// every earlier one of its subscription). `None` when the id is unknown.
    pub fn settle(&mut self, ack_id: &str, subscription_hint: Option<&str>) -> Option<Settled> {
        let entries = self.pending.get(ack_id)?;
        let index = subscription_hint
            .and_then(|hint| entries.iter().position(|u| &*u.subscription == hint))
            .unwrap_or(0);
        let subscription_id = entries[index].subscription.clone();
        let subscription = self.by_id.get_mut(&subscription_id)?;
        let position = subscription.unacked.iter().position(|id| id == ack_id)?;
        let settled_ids: Vec<String> = match subscription.ack_mode {
            AckMode::Client => subscription.unacked.drain(..=position).collect(),
            _ => subscription.unacked.remove(position).into_iter().collect(),
        };
        let mut stored_ids = Vec::new();
        let mut chat = Vec::new();
        for id in settled_ids {
            if let Some(unacked) = self.take(&id, &subscription_id) {
                stored_ids.extend(unacked.stored_id);
                chat.extend(unacked.chat);
            }
        }
        Some(Settled {
            subscription: subscription_id,
            stored_ids,
            chat,
        })
    }

    fn take(&mut self, ack_id: &str, subscription: &Arc<str>) -> Option<Unacked> {
        let entries = self.pending.get_mut(ack_id)?;
        let index = entries
            .iter()
            .position(|u| &u.subscription == subscription)?;
        let unacked = entries.swap_remove(index);
        if entries.is_empty() {
            self.pending.remove(ack_id);
        }
        if unacked.chat.is_some() {
            self.chat_unacked -= 1;
        }
        Some(unacked)
    }

    /// Whether any chat message waits for an ACK (the redelivery timer
    /// runs only then).
    pub fn has_chat_unacked(&self) -> bool {
        self.chat_unacked > 0
    }

    /// Takes out every chat message whose ack deadline passed, with its
    /// subscription.
    pub fn expired(&mut self, now: Instant) -> Vec<(Arc<str>, ChatDelivery)> {
        let expired: Vec<(String, Arc<str>)> = self
            .pending
            .iter()
            .flat_map(|(ack_id, entries)| {
                entries
                    .iter()
                    .filter(|u| u.chat.as_ref().is_some_and(|c| c.deadline <= now))
                    .map(move |u| (ack_id.clone(), u.subscription.clone()))
            })
            .collect();
        let mut taken = Vec::new();
        for (ack_id, subscription) in expired {
            if let Some(entry) = self.by_id.get_mut(&subscription) {
                entry.unacked.retain(|id| *id != ack_id);
            }
            if let Some(unacked) = self.take(&ack_id, &subscription) {
                taken.extend(unacked.chat.map(|chat| (subscription.clone(), chat)));
            }
        }
        taken
    }

    /// Removes a subscription and forgets what it had not acknowledged (its
    /// destination takes those back).
    pub fn remove(&mut self, id: &str) -> Option<Subscription> {
        let (key, subscription) = self.by_id.remove_entry(id)?;
        for ack_id in &subscription.unacked {
            self.take(ack_id, &key);
        }
        Some(subscription)
    }
}
