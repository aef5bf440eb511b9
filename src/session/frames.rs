//! Client frames after CONNECT: SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK,
//! BEGIN, COMMIT, ABORT and DISCONNECT.

use std::collections::VecDeque;
use std::sync::Arc;

use herald_protocol::{Command, Frame, Headers, Version};

use super::subscriptions::{AckMode, Subscription};
use super::{ErrorReason, Flow, Refusal, Session};
use crate::metrics::Metrics;
use crate::router::Subscribed;
use crate::transport::Transport;

/// Headers the broker sets on MESSAGE frames itself; a client's SEND can
/// never supply them.
const BROKER_HEADERS: [&str; 14] = [
    "destination",
    "message-id",
    "subscription",
    "ack",
    "redelivered",
    "receipt",
    "transaction",
    "content-length",
    "seq",
    "conversation",
    "sender",
    "timestamp",
    "receipt-id",
    "prefetch-count",
];

/// At most this many SENDs go to the store together: `join_all` polls up
/// to 30 futures in order, which keeps their writes in order.
pub(super) const MAX_QUEUE_BATCH: usize = 30;

/// A SEND to a `/queue` destination outside a transaction: the frames a
/// client pipelines to kept queues, which can be made durable together.
pub(super) fn joins_queue_batch(frame: &Frame) -> bool {
    frame.command == Command::Send
        && frame.get("transaction").is_none()
        && frame
            .get("destination")
            .is_some_and(|destination| destination.starts_with("/queue/"))
}

impl<T: Transport> Session<T> {
    /// SENDs to `/queue` destinations, in order, made durable together (see
    /// [`crate::router::Router::publish_to_queues`]); each RECEIPT follows
    /// its own SEND's durability, in order. A refusal ends the connection
    /// after the RECEIPTs of the SENDs before it.
    pub(super) async fn send_to_queues(&mut self, frames: Vec<Frame>) -> Flow {
        if frames.len() == 1 {
            let frame = frames.into_iter().next().expect("one frame");
            return self.handle_frame(frame).await;
        }
        let mut receipts = Vec::with_capacity(frames.len());
        let mut sends = Vec::with_capacity(frames.len());
        let mut refusal = None;
        for frame in frames {
            let receipt = frame.get("receipt").map(str::to_owned);
            if !self.broker.abuse.allow_send(self.peer.ip()) {
                refusal = Some((self.send_rate_refusal(), receipt));
                break;
            }
            let destination = frame.get("destination").unwrap_or_default().to_owned();
            sends.push((destination, client_headers(frame.headers), frame.body));
            receipts.push(receipt);
        }
        let results = self
            .broker
            .router
            .publish_to_queues(self.principal(), sends)
            .await;
        for (result, receipt) in results.into_iter().zip(receipts) {
            match result {
                Ok(()) => {
                    Metrics::inc(&self.broker.metrics.messages_published_total);
                    if let Some(receipt) = receipt {
                        self.receipt_headers.clear();
                        self.receipt(&receipt);
                    }
                }
                Err(error) => {
                    return Flow::Closed(self.refuse(Refusal::from(error), receipt).await)
                }
            }
        }
        match refusal {
            Some((refusal, receipt)) => Flow::Closed(self.refuse(refusal, receipt).await),
            None => Flow::Continue,
        }
    }

    fn send_rate_refusal(&self) -> Refusal {
        Refusal::new(format!(
            "too many SEND frames from your address: at most {} per second (limits.sends_per_second_per_ip)",
            self.broker.config.limits.sends_per_second_per_ip
        ))
        .because(ErrorReason::RateLimited)
    }

    /// Handles one client frame; the RECEIPT, if asked for, follows the
    /// frame's effect.
    pub(super) async fn handle_frame(&mut self, frame: Frame) -> Flow {
        let receipt = frame.get("receipt").map(str::to_owned);
        self.receipt_headers.clear();
        match self.apply(frame).await {
            Ok(flow) => {
                if let Some(receipt) = receipt {
                    self.receipt(&receipt);
                }
                flow
            }
            Err(refusal) => Flow::Closed(self.refuse(refusal, receipt).await),
        }
    }

    async fn apply(&mut self, frame: Frame) -> Result<Flow, Refusal> {
        if !frame.body.is_empty() && !frame.command.allows_body() {
            return Err(
                Refusal::new(format!("{} frames must not have a body", frame.command))
                    .because(ErrorReason::Malformed),
            );
        }
        match frame.command {
            Command::Send => self.send(frame).await,
            Command::Subscribe => self.subscribe(&frame).await,
            Command::Unsubscribe => self.unsubscribe(&frame),
            Command::Ack | Command::Nack => self.acknowledge(frame).await,
            Command::Begin => {
                let id = required(&frame, "transaction")?;
                self.transactions.begin(id)?;
                Ok(Flow::Continue)
            }
            Command::Commit => {
                let id = required(&frame, "transaction")?.to_owned();
                for held in self.transactions.commit(&id)? {
                    match held.command {
                        Command::Send => self.publish(held).await?,
                        _ => self.settle(&held).await?,
                    }
                }
                Ok(Flow::Continue)
            }
            Command::Abort => {
                self.transactions.abort(required(&frame, "transaction")?)?;
                Ok(Flow::Continue)
            }
            Command::Disconnect => Ok(Flow::Disconnect),
            Command::Connect | Command::Stomp => Err(Refusal::new(
                "already connected: CONNECT may be sent only once",
            )),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                Err(Refusal::new(format!(
                    "{} is a server frame; clients may not send it",
                    frame.command
                )))
            }
        }
    }

    async fn send(&mut self, frame: Frame) -> Result<Flow, Refusal> {
        if !self.broker.abuse.allow_send(self.peer.ip()) {
            return Err(self.send_rate_refusal());
        }
        let destination = required(&frame, "destination")?;
        if let Some(transaction) = frame.get("transaction").map(str::to_owned) {
            self.broker
                .router
                .check_held_send(self.principal(), destination, &frame.headers, &frame.body)
                .await
                .map_err(Refusal::from)?;
            self.transactions.hold(&transaction, frame)?;
        } else {
            // Routing checks the destination and the ACL itself.
            self.publish(frame).await?;
        }
        Ok(Flow::Continue)
    }

    /// Routes a SEND now; for `/queue` and chat this waits until it is
    /// durable, and the RECEIPT carries what the destination reports.
    async fn publish(&mut self, frame: Frame) -> Result<(), Refusal> {
        let destination = frame.get("destination").unwrap_or_default().to_owned();
        let headers = client_headers(frame.headers);
        let published = self
            .broker
            .router
            .publish(self.principal(), &destination, headers, frame.body)
            .await
            .map_err(Refusal::from)?;
        self.receipt_headers = published.receipt_headers;
        Metrics::inc(&self.broker.metrics.messages_published_total);
        Ok(())
    }

    /// The connected user; sessions only handle these frames after CONNECT.
    fn principal(&self) -> &crate::auth::Principal {
        self.principal
            .as_ref()
            .expect("frames are handled only after CONNECT")
    }

    async fn subscribe(&mut self, frame: &Frame) -> Result<Flow, Refusal> {
        let destination = required(frame, "destination")?;
        let id: Arc<str> = match (frame.get("id"), self.version) {
            (Some(id), _) => id.into(),
            (None, Version::V1_0) => destination.into(),
            (None, _) => {
                return Err(
                    Refusal::new("SUBSCRIBE requires an id header").because(ErrorReason::Malformed)
                )
            }
        };
        if self.subscriptions.by_id.contains_key(&id) {
            return Err(Refusal::new(format!(
                "subscription id {id:?} is already in use on this connection"
            )));
        }
        let limit = self.broker.config.stomp.max_subscriptions;
        if self.subscriptions.by_id.len() >= limit {
            return Err(Refusal::new(format!(
                "too many subscriptions on this connection (max_subscriptions {limit})"
            ))
            .because(ErrorReason::Limit));
        }
        let ack_mode = AckMode::parse(frame.get("ack")).ok_or_else(|| {
            Refusal::new(format!(
                "invalid ack header {:?}: use auto, client or client-individual",
                frame.get("ack").unwrap_or_default()
            ))
            .because(ErrorReason::Malformed)
        })?;
        let prefetch = match frame.get("prefetch-count") {
            None => None,
            Some(value) => match value.trim().parse::<usize>() {
                Ok(count) if count > 0 => Some(count),
                _ => {
                    return Err(Refusal::new(format!(
                        "invalid prefetch-count {value:?}: expected a positive integer"
                    ))
                    .because(ErrorReason::Malformed))
                }
            },
        };
        let window = match ack_mode {
            AckMode::Auto => self.broker.config.stomp.default_prefetch,
            _ => prefetch.unwrap_or(self.broker.config.stomp.default_prefetch),
        };
        let routed = self
            .broker
            .router
            .subscribe(
                self.principal(),
                destination,
                self.handle.clone(),
                id.clone(),
                window,
            )
            .await
            .map_err(Refusal::from)?;
        let chat_channel = match &routed {
            Subscribed::Chat { channel } => Some(*channel),
            _ => None,
        };
        self.subscriptions.by_id.insert(
            id.clone(),
            Subscription {
                destination: destination.to_owned(),
                ack_mode,
                prefetch: Some(window),
                routed,
                unacked: VecDeque::new(),
                backlog: VecDeque::new(),
                chat: None,
            },
        );
        if let Some(channel) = chat_channel {
            self.start_chat(&id, channel, frame).await?;
        }
        Ok(Flow::Continue)
    }

    fn unsubscribe(&mut self, frame: &Frame) -> Result<Flow, Refusal> {
        let id = match (frame.get("id"), self.version) {
            (Some(id), _) => id,
            (None, Version::V1_0) => required(frame, "destination")?,
            (None, _) => {
                return Err(Refusal::new("UNSUBSCRIBE requires an id header")
                    .because(ErrorReason::Malformed))
            }
        };
        let subscription = self.subscriptions.remove(id).ok_or_else(|| {
            Refusal::new(format!("no subscription with id {id:?} on this connection"))
        })?;
        self.broker
            .router
            .unsubscribe(self.handle.id, id, &subscription.routed);
        Ok(Flow::Continue)
    }

    async fn acknowledge(&mut self, frame: Frame) -> Result<Flow, Refusal> {
        if frame.command == Command::Nack && self.version == Version::V1_0 {
            return Err(Refusal::new("NACK is not part of STOMP 1.0"));
        }
        self.ack_id(&frame)?;
        if let Some(transaction) = frame.get("transaction").map(str::to_owned) {
            self.transactions.hold(&transaction, frame)?;
        } else {
            self.settle(&frame).await?;
        }
        Ok(Flow::Continue)
    }

    /// The id an ACK or NACK names: `id` in 1.2, `message-id` before.
    fn ack_id<'f>(&self, frame: &'f Frame) -> Result<&'f str, Refusal> {
        let header = if self.version == Version::V1_2 {
            "id"
        } else {
            "message-id"
        };
        frame.get(header).ok_or_else(|| {
            Refusal::new(format!("{} requires the {header} header", frame.command))
                .because(ErrorReason::Malformed)
        })
    }

    /// Applies an ACK or NACK: the queue forgets acknowledged messages and
    /// redelivers refused ones; topics keep nothing either way.
    async fn settle(&mut self, frame: &Frame) -> Result<(), Refusal> {
        let ack_id = self.ack_id(frame)?;
        let mut settled = self
            .subscriptions
            .settle(ack_id, frame.get("subscription"))
            .ok_or_else(|| {
                Refusal::new(format!(
                    "{} names unknown or already acknowledged message {ack_id:?}",
                    frame.command
                ))
            })?;
        let routed = self
            .subscriptions
            .by_id
            .get(&settled.subscription)
            .map(|s| s.routed.clone());
        if !settled.chat.is_empty() {
            let chat = std::mem::take(&mut settled.chat);
            self.chat_settled(&settled.subscription, chat, frame.command == Command::Ack);
        }
        if let (Some(Subscribed::Queue { handle, key }), false) =
            (routed, settled.stored_ids.is_empty())
        {
            if frame.command == Command::Ack {
                handle.ack(key, settled.stored_ids).await.map_err(|error| {
                    Refusal::new(format!("acknowledgement not recorded: {error}"))
                        .because(ErrorReason::Unavailable)
                })?;
            } else {
                handle.nack(key, settled.stored_ids);
            }
        }
        self.drain_backlog(&settled.subscription);
        Ok(())
    }
}

fn required<'f>(frame: &'f Frame, header: &str) -> Result<&'f str, Refusal> {
    frame.get(header).ok_or_else(|| {
        Refusal::new(format!("{} requires the {header} header", frame.command))
            .because(ErrorReason::Malformed)
    })
}

/// A SEND's headers without those the broker sets itself. `kind:read`
/// names the read position in `seq`; everywhere else a client's `seq` is
/// one the broker sets itself and is dropped.
fn client_headers(mut headers: Headers) -> Headers {
    let read = headers.get("kind") == Some("read");
    headers.retain(|name, _| !BROKER_HEADERS.contains(&name) || (read && name == "seq"));
    headers
}
