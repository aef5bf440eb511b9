//! What a session writes: MESSAGE frames for deliveries, RECEIPTs, ERRORs,
//! and how it closes (after an ERROR, on shutdown, as a slow consumer).

use std::collections::HashMap;
use std::sync::Arc;

use herald_protocol::{Command, Frame, Headers, Version};
use tokio::time::{sleep, Instant};

use std::time::Duration;

use herald_storage::StoredId;

use super::subscriptions::{AckMode, ChatDelivery, Unacked};
use super::{CloseReason, Refusal, Session};
use crate::chat::feed::{Cursor, Offer};
use crate::delivery::Delivery;
use crate::delivery::Message;
use crate::metrics::Metrics;
use crate::router::Subscribed;
use crate::transport::{CloseKind, Transport};

impl<T: Transport> Session<T> {
    /// Turns a delivery into a MESSAGE frame, or holds it back while the
    /// subscription's prefetch is full. Deliveries for a subscription that
    /// is gone are dropped: its destination took them back already. Chat
    /// deliveries go through the subscription's feed, which drops
    /// duplicates and turns gaps (and a full prefetch) into fetches from
    /// the store, so every subscriber sees each seq once, in order.
    pub(super) fn deliver(&mut self, delivery: Delivery) {
        if delivery.message.headers.contains(crate::chat::RESYNC) {
            // Not for the client: look in the store for missed messages.
            self.resync = true;
            self.chat_behind = true;
            return;
        }
        let Some(subscription) = self.subscriptions.by_id.get_mut(&delivery.subscription) else {
            return;
        };
        let room = subscription.has_room();
        if let Some(chat) = subscription.chat.as_mut() {
            let position = delivery.message.log_position();
            if let Some((conversation, seq)) = &position {
                if !room {
                    chat.feed.defer(conversation, *seq);
                    self.chat_behind = true;
                    return;
                }
                match chat.feed.offer(conversation, *seq) {
                    Offer::Deliver => {
                        if let Some(accepted) = delivery.message.accepted_at() {
                            let now = crate::chat::now_ms();
                            self.broker
                                .metrics
                                .delivery_latency
                                .observe_since_ms(accepted, now);
                        }
                    }
                    Offer::Duplicate => return,
                    Offer::Behind => {
                        self.chat_behind = true;
                        return;
                    }
                }
            }
            self.emit(
                &delivery.subscription,
                &delivery.message,
                delivery.redelivered,
                None,
                position,
                1,
            );
            return;
        }
        if !room || !subscription.backlog.is_empty() {
            if subscription.backlog.len() >= self.broker.config.stomp.outbound_queue {
                self.inbox.slow.cancel();
                return;
            }
            subscription.backlog.push_back(delivery);
            return;
        }
        self.emit(
            &delivery.subscription,
            &delivery.message,
            delivery.redelivered,
            delivery.stored_id,
            None,
            1,
        );
    }

    /// Writes one MESSAGE frame for `subscription_id` and remembers what its
    /// acknowledgement must settle. `chat` is the (conversation, seq) of a
    /// stored chat message; `deliveries` counts this sending.
    pub(super) fn emit(
        &mut self,
        subscription_id: &Arc<str>,
        message: &Arc<Message>,
        redelivered: bool,
        stored_id: Option<StoredId>,
        chat: Option<(String, i64)>,
        deliveries: u32,
    ) {
        let Some(subscription) = self.subscriptions.by_id.get_mut(subscription_id) else {
            return;
        };
        let ack_mode = subscription.ack_mode;
        if let (Some(feed), Some((conversation, seq))) = (subscription.chat.as_mut(), &chat) {
            feed.cursors
                .entry(conversation.clone())
                .or_insert_with(|| Cursor::at(seq - 1))
                .sent(*seq);
        }
        let mut headers = Headers::with_capacity(message.headers.len() + 6);
        headers.push("destination", &*message.destination);
        headers.push("message-id", &*message.message_id);
        headers.push("subscription", &**subscription_id);
        if ack_mode != AckMode::Auto {
            let ack_id = if self.version == Version::V1_2 {
                self.next_ack += 1;
                let id = self.next_ack.to_string();
                headers.push("ack", id.clone());
                id
            } else {
                message.message_id.to_string()
            };
            let deadline =
                Instant::now() + Duration::from_millis(self.broker.config.chat.ack_timeout_ms);
            self.subscriptions.remember(
                ack_id,
                Unacked {
                    subscription: subscription_id.clone(),
                    stored_id,
                    chat: chat.map(|(conversation, seq)| ChatDelivery {
                        conversation,
                        seq,
                        message: message.clone(),
                        deliveries,
                        deadline,
                    }),
                },
            );
        } else {
            if let Some(id) = stored_id {
                self.auto_acked.push((subscription_id.clone(), id));
            }
            if let Some((conversation, seq)) = chat {
                self.auto_chat
                    .push((subscription_id.clone(), conversation, seq));
            }
        }
        if redelivered {
            headers.push("redelivered", "true");
            Metrics::inc(&self.broker.metrics.messages_redelivered_total);
        }
        let me = self.principal.as_ref().map(|p| p.user_id);
        if me.is_some_and(|me| message.mentions.contains(&me)) {
            headers.push("mentioned", "true");
        }
        for (name, value) in message.headers.iter() {
            headers.push(name, value);
        }
        let frame = Frame {
            command: Command::Message,
            headers,
            body: message.body.clone(),
        };
        self.write_frame(&frame);
        Metrics::inc(&self.broker.metrics.messages_delivered_total);
    }

    /// Sends held-back deliveries of a subscription that has room again.
    pub(super) fn drain_backlog(&mut self, subscription: &Arc<str>) {
        loop {
            let Some(entry) = self.subscriptions.by_id.get_mut(subscription) else {
                return;
            };
            if !entry.has_room() {
                return;
            }
            let Some(delivery) = entry.backlog.pop_front() else {
                return;
            };
            // Re-enter through `deliver` with an empty backlog in front.
            let rest = std::mem::take(&mut entry.backlog);
            self.deliver(delivery);
            if let Some(entry) = self.subscriptions.by_id.get_mut(subscription) {
                entry.backlog = rest;
            }
        }
    }

    /// A RECEIPT, with whatever the frame's effect added (a chat SEND's
    /// message-id, seq, conversation and timestamp).
    pub(super) fn receipt(&mut self, receipt_id: &str) {
        let mut frame = Frame::new(Command::Receipt).header("receipt-id", receipt_id);
        for (name, value) in self.receipt_headers.drain(..) {
            frame.headers.push(name, value);
        }
        self.write_frame(&frame);
    }

    /// Writes everything queued; acknowledges `auto` queue deliveries once
    /// they are on the wire. A peer that stops reading cannot hold the
    /// session here: a slow-consumer or shutdown signal interrupts the write.
    pub(super) async fn flush(&mut self) -> Result<(), CloseReason> {
        if !self.pending_writes.is_empty() {
            let frames = std::mem::take(&mut self.pending_writes);
            let transport = &mut self.transport;
            let write = async move {
                for frame in frames {
                    transport.feed(frame).await?;
                }
                transport.flush().await
            };
            tokio::pin!(write);
            tokio::select! {
                result = &mut write => result.map_err(|error| CloseReason::Io(error.to_string()))?,
                _ = self.inbox.slow.cancelled() => return Err(CloseReason::SlowConsumer),
                _ = self.broker.shutdown.cancelled() => {
                    // What is queued may be the RECEIPTs of messages already
                    // stored: dropping them would have the client send those
                    // again. They get a bounded time; only a peer that does
                    // not read loses them.
                    match tokio::time::timeout(SHUTDOWN_WRITE, write).await {
                        Ok(result) => result.map_err(|error| CloseReason::Io(error.to_string()))?,
                        Err(_) => return Err(CloseReason::Shutdown),
                    }
                }
            }
            self.last_write = Instant::now();
        }
        self.ack_auto_deliveries();
        self.ack_auto_chat();
        Ok(())
    }

    fn ack_auto_deliveries(&mut self) {
        if self.auto_acked.is_empty() {
            return;
        }
        let mut by_subscription: HashMap<Arc<str>, Vec<_>> = HashMap::new();
        for (subscription, id) in self.auto_acked.drain(..) {
            by_subscription.entry(subscription).or_default().push(id);
        }
        for (subscription, ids) in by_subscription {
            let routed = self
                .subscriptions
                .by_id
                .get(&subscription)
                .map(|s| s.routed.clone());
            if let Some(Subscribed::Queue { handle, key }) = routed {
                let acked = handle.ack(key, ids);
                tokio::spawn(async move {
                    if let Err(error) = acked.await {
                        tracing::warn!(%error, "auto ack not recorded");
                    }
                });
            }
        }
    }

    /// Sends an ERROR frame for `refusal`, lingers so the client can read
    /// it, then closes.
    pub(super) async fn refuse(
        &mut self,
        refusal: Refusal,
        receipt_id: Option<String>,
    ) -> CloseReason {
        let mut frame = Frame::new(Command::Error).header("message", one_line(&refusal.message));
        if let Some(receipt_id) = receipt_id {
            frame.headers.push("receipt-id", receipt_id);
        }
        if self.principal.is_none() && refusal.message.starts_with("unsupported protocol version") {
            frame.headers.push("version", Version::supported_list());
        }
        frame.headers.push("content-type", "text/plain");
        let detail = if refusal.detail.is_empty() {
            &refusal.message
        } else {
            &refusal.detail
        };
        frame.body = bytes::Bytes::from(detail.clone().into_bytes());
        self.write_frame(&frame);
        self.broker.metrics.errors.inc(refusal.reason);
        let _ = self.flush().await;
        self.linger().await;
        self.transport.close(refusal.close).await;
        CloseReason::Refused(refusal.message)
    }

    /// Keeps reading (and discarding) for the linger time so the client
    /// reads the ERROR before the socket closes under it.
    async fn linger(&mut self) {
        let deadline = Instant::now() + self.broker.config.stomp.error_linger();
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            self.read_buffer.clear();
            tokio::select! {
                _ = &mut sleep => return,
                read = self.transport.read(&mut self.read_buffer) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        return;
                    }
                }
            }
        }
    }

    pub(super) async fn slow_consumer(&mut self) -> CloseReason {
        Metrics::inc(&self.broker.metrics.slow_consumer_disconnects_total);
        // Whatever was queued is dropped: the point is that this peer does
        // not read, so only the ERROR is attempted, briefly.
        self.pending_writes.clear();
        let frame = Frame::new(Command::Error)
            .header(
                "message",
                "slow consumer: too many frames waiting to be written",
            )
            .body("the connection's outbound queue is full; the client is not reading fast enough");
        self.write_frame(&frame);
        let frames = std::mem::take(&mut self.pending_writes);
        let transport = &mut self.transport;
        let _ = tokio::time::timeout(self.broker.config.stomp.error_linger(), async move {
            for frame in frames {
                transport.feed(frame).await?;
            }
            transport.flush().await
        })
        .await;
        let _ = tokio::time::timeout(
            self.broker.config.stomp.error_linger(),
            self.transport.close(CloseKind::Normal),
        )
        .await;
        CloseReason::SlowConsumer
    }

    pub(super) async fn shutdown(&mut self) -> CloseReason {
        let frame = Frame::new(Command::Error)
            .header("message", "broker shutting down")
            .body("the broker is shutting down; reconnect later");
        self.write_frame(&frame);
        let frames = std::mem::take(&mut self.pending_writes);
        let transport = &mut self.transport;
        let _ = tokio::time::timeout(SHUTDOWN_WRITE, async move {
            for frame in frames {
                transport.feed(frame).await?;
            }
            transport.flush().await
        })
        .await;
        // A client still sending has frames on their way in: closing with
        // them unread makes the kernel reset the connection, and a reset
        // throws away what the client had not read yet (this ERROR, the
        // last RECEIPTs). Read and drop until it goes, as after a refusal.
        self.linger().await;
        let _ =
            tokio::time::timeout(SHUTDOWN_WRITE, self.transport.close(CloseKind::GoingAway)).await;
        sleep(std::time::Duration::ZERO).await;
        CloseReason::Shutdown
    }

    /// Undoes the session: open transactions abort, subscriptions end and
    /// their unacknowledged queue messages go back to their queues.
    pub(super) async fn finish(&mut self, reason: &CloseReason) {
        self.transactions.abort_all();
        if let Some(principal) = &self.principal {
            self.broker
                .router
                .chat
                .session_ended(principal.user_id)
                .await;
        }
        self.ack_auto_deliveries();
        let ids: Vec<Arc<str>> = self.subscriptions.by_id.keys().cloned().collect();
        for id in ids {
            if let Some(subscription) = self.subscriptions.remove(&id) {
                self.broker
                    .router
                    .unsubscribe(self.handle.id, &id, &subscription.routed);
            }
        }
        if matches!(
            reason,
            CloseReason::Disconnect
                | CloseReason::PeerClosed
                | CloseReason::HeartbeatTimeout
                | CloseReason::ConnectTimeout
                | CloseReason::Io(_)
        ) {
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                self.transport.close(CloseKind::Normal),
            )
            .await;
        }
    }
}

/// How long a session that is shutting down still writes (what was queued,
/// then the ERROR and the close) before it gives up on its peer.
const SHUTDOWN_WRITE: std::time::Duration = std::time::Duration::from_secs(1);

/// Header values must be one line whatever the version's escaping.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}
