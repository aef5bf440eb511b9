//! A session's chat subscriptions: where each starts (replay from the
//! store), pumping missing messages in seq order under the prefetch window,
//! acknowledgements that move the device's delivered cursor, and
//! redelivery of what stays unacknowledged.

use std::sync::Arc;

use herald_protocol::Frame;
use herald_storage::DeadLetter;
use tokio::time::Instant;

use super::subscriptions::{AckMode, ChatDelivery, ChatSubscription};
use super::{ErrorReason, Refusal, Session};
use crate::chat::feed::{Cursor, Feed};
use crate::chat::{now_ms, stored_message, Channel, Device};
use crate::transport::Transport;

/// Most stored messages one pump writes before the session loop gets a
/// turn (to read frames, flush, and notice a slow consumer).
const PUMP_BUDGET: usize = 512;
/// Most messages fetched from the store at once.
const PAGE: u32 = 200;

impl<T: Transport> Session<T> {
    /// Sets up a new chat subscription's feed: its starting point in each
    /// conversation. The replay itself happens in [`Session::pump_chat`].
    pub(super) async fn start_chat(
        &mut self,
        id: &Arc<str>,
        channel: Channel,
        frame: &Frame,
    ) -> Result<(), Refusal> {
        let principal = self.principal.clone().expect("after CONNECT");
        let device = Device {
            id: self.device_id.as_deref(),
            new: self.device_new,
        };
        let starts = self
            .broker
            .chat()
            .starts(
                principal.user_id,
                device,
                channel,
                frame.get("since"),
                frame.get("since-seq"),
            )
            .await
            .map_err(Refusal::from)?;
        let mut feed = Feed::default();
        let mut cursors = std::collections::HashMap::new();
        for start in starts {
            // A new device starts at the last N: remember that as its
            // cursor, so a reconnect before any ACK does not go further back.
            if let (true, Some(device), true) =
                (self.device_new, &self.device_id, start.delivered > 0)
            {
                self.broker.chat().persist_delivered(
                    principal.user_id,
                    device,
                    &start.conversation,
                    start.delivered,
                );
            }
            feed.start(&start.conversation, start.delivered, start.head);
            cursors.insert(start.conversation, Cursor::at(start.delivered));
        }
        self.chat_behind |= feed.is_behind();
        if let Some(subscription) = self.subscriptions.by_id.get_mut(id) {
            subscription.chat = Some(ChatSubscription {
                channel,
                feed,
                cursors,
            });
        }
        Ok(())
    }

    /// Writes stored messages that subscriptions are missing (a replay, or
    /// a gap), in seq order, as far as each prefetch window allows.
    pub(super) async fn pump_chat(&mut self) -> Result<(), Refusal> {
        self.chat_behind = false;
        if std::mem::take(&mut self.resync) {
            self.note_heads().await?;
        }
        let mut budget = PUMP_BUDGET;
        let ids: Vec<Arc<str>> = self
            .subscriptions
            .by_id
            .iter()
            .filter(|(_, s)| s.chat.as_ref().is_some_and(|c| c.feed.is_behind()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            while let Some(subscription) = self.subscriptions.by_id.get(&id) {
                let Some(chat) = subscription.chat.as_ref() else {
                    break;
                };
                let room = match (subscription.ack_mode, subscription.prefetch) {
                    (AckMode::Auto, _) | (_, None) => budget,
                    (_, Some(limit)) => {
                        limit.saturating_sub(subscription.unacked.len()).min(budget)
                    }
                };
                let Some((conversation, delivered, known)) = chat.feed.behind().into_iter().next()
                else {
                    break;
                };
                if room == 0 {
                    // Waiting for ACKs; the next one pumps again.
                    break;
                }
                let channel = chat.channel;
                let wanted = u32::try_from((known - delivered).max(1))
                    .unwrap_or(PAGE)
                    .min(PAGE)
                    .min(room as u32);
                let fetched = self
                    .broker
                    .chat()
                    .fetch(&conversation, delivered, wanted)
                    .await
                    .map_err(|error| {
                        Refusal::new(format!("history unavailable: {error}"))
                            .because(ErrorReason::Unavailable)
                    })?;
                let feed = &mut self
                    .subscriptions
                    .by_id
                    .get_mut(&id)
                    .and_then(|s| s.chat.as_mut())
                    .expect("checked above")
                    .feed;
                if fetched.is_empty() {
                    feed.caught_up(&conversation, known);
                    continue;
                }
                let mut out = Vec::with_capacity(fetched.len());
                for stored in fetched {
                    if feed.replayed(&conversation, stored.seq) {
                        out.push((stored.seq, stored_message(channel, &stored)));
                    }
                }
                budget = budget.saturating_sub(out.len());
                for (seq, message) in out {
                    self.emit(
                        &id,
                        &message,
                        false,
                        None,
                        Some((conversation.clone(), seq)),
                        1,
                    );
                }
                if budget == 0 {
                    self.chat_behind = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Tells every chat feed the store's current heads, so messages the
    /// bus lost become gaps to fetch.
    async fn note_heads(&mut self) -> Result<(), Refusal> {
        let Some(user) = self.principal.as_ref().map(|p| p.user_id) else {
            return Ok(());
        };
        let chat = self.broker.chat().clone();
        let unavailable = |error: herald_storage::StoreError| {
            Refusal::new(format!("history unavailable: {error}")).because(ErrorReason::Unavailable)
        };
        let mut inbox_heads = None;
        for subscription in self.subscriptions.by_id.values_mut() {
            let Some(feed) = subscription.chat.as_mut() else {
                continue;
            };
            let heads: Vec<(String, i64)> = match feed.channel {
                Channel::Inbox(_) => {
                    if inbox_heads.is_none() {
                        let heads = chat.log().conversations(user).await.map_err(unavailable)?;
                        inbox_heads = Some(
                            heads
                                .into_iter()
                                .map(|h| (h.conversation, h.last_seq))
                                .collect::<Vec<_>>(),
                        );
                    }
                    inbox_heads.clone().unwrap_or_default()
                }
                Channel::Group(group) => {
                    let id = crate::chat::Conversation::Group(group).id();
                    let last = chat.log().last_seq(&id).await.map_err(unavailable)?;
                    vec![(id, last)]
                }
            };
            for (conversation, last) in heads {
                feed.feed.defer(&conversation, last);
            }
        }
        Ok(())
    }

    /// `auto` chat deliveries count as delivered once written.
    pub(super) fn ack_auto_chat(&mut self) {
        for (subscription, conversation, seq) in std::mem::take(&mut self.auto_chat) {
            self.chat_acked(&subscription, &conversation, seq);
        }
    }

    /// Moves the device's cursor for an acknowledged chat message; a moved
    /// cursor is stored and tells the sender of a private chat.
    pub(super) fn chat_acked(&mut self, subscription: &Arc<str>, conversation: &str, seq: i64) {
        let Some(chat) = self
            .subscriptions
            .by_id
            .get_mut(subscription)
            .and_then(|s| s.chat.as_mut())
        else {
            return;
        };
        let cursor = chat
            .cursors
            .entry(conversation.to_owned())
            .or_insert_with(|| Cursor::at(seq - 1));
        cursor.sent(seq);
        let Some(moved) = cursor.acked(seq) else {
            return;
        };
        let Some(principal) = &self.principal else {
            return;
        };
        let chat = self.broker.chat();
        if let Some(device) = &self.device_id {
            chat.persist_delivered(principal.user_id, device, conversation, moved);
        }
        chat.delivered(principal.user_id, conversation, moved);
    }

    /// An ACK or NACK settled chat messages.
    pub(super) fn chat_settled(
        &mut self,
        subscription: &Arc<str>,
        settled: Vec<ChatDelivery>,
        acked: bool,
    ) {
        for delivery in settled {
            if acked {
                self.chat_acked(subscription, &delivery.conversation, delivery.seq);
            } else {
                self.redeliver(subscription, delivery, "nack");
            }
        }
        if self
            .subscriptions
            .by_id
            .get(subscription)
            .is_some_and(|s| s.chat.is_some())
        {
            self.chat_behind = true;
        }
    }

    /// Sends unacknowledged chat messages again once their deadline passed.
    pub(super) fn redeliver_expired(&mut self) {
        for (subscription, delivery) in self.subscriptions.expired(Instant::now()) {
            self.redeliver(&subscription, delivery, "ack timeout");
        }
    }

    /// Sends a chat message again with `redelivered:true`, or, past the
    /// configured attempts, moves it to the dead-letter store and on.
    fn redeliver(&mut self, subscription: &Arc<str>, delivery: ChatDelivery, reason: &str) {
        let max = self.broker.config.chat.max_deliveries;
        if delivery.deliveries >= max {
            let principal = self.principal.clone().expect("after CONNECT");
            self.broker.chat().dead_letter(DeadLetter {
                user: principal.user_id,
                device: self.device_id.clone().unwrap_or_default(),
                conversation: delivery.conversation.clone(),
                seq: delivery.seq,
                message_id: delivery.message.message_id.parse().unwrap_or_default(),
                attempts: delivery.deliveries,
                reason: format!("{reason} after {} deliveries", delivery.deliveries),
                at: now_ms(),
            });
            self.chat_acked(subscription, &delivery.conversation, delivery.seq);
            return;
        }
        let position = Some((delivery.conversation.clone(), delivery.seq));
        self.emit(
            subscription,
            &delivery.message,
            true,
            None,
            position,
            delivery.deliveries + 1,
        );
    }
}
