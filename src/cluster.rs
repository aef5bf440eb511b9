//! This node's link to the other nodes of a cluster: chat and topic
//! messages go out on the bus after local delivery and come in from it for
//! local subscribers; presence and rate limits are shared; a bus outage
//! (or a lost message) is repaired from the store by resyncing feeds.
//!
//! On the bus a message travels as a STOMP MESSAGE frame (the broker's own
//! codec) with `x-herald-origin` and `x-herald-mentions` headers, so no
//! second encoding exists for it.
//!
//! `/queue` messages are not carried by the bus: they stay in the shared
//! store, where nodes claim them (see `router::queue`). The bus only
//! announces them, on `q:{name}` with the announcing node's id as payload,
//! so that idle consumers on other nodes claim without waiting for a poll;
//! this loop also renews the node's queue leases.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use herald_protocol::{encode, Command, Decoder, Frame, Headers, Limits};
use herald_storage::cluster::{Bus, BusEvent, RedisCluster, Shared};
use herald_storage::StoreError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::delivery::Message;

const ORIGIN: &str = "x-herald-origin";
/// Present on chat messages kept in the log (see `Message::logged`).
const LOGGED: &str = "x-herald-logged";
const MENTIONS: &str = "x-herald-mentions";

/// Feeds compare themselves with the store every this many heartbeats.
const RESYNC_EVERY: u64 = 6;

/// Bus messages a node may have waiting to be published; beyond it new
/// ones are dropped (and, for chat, repaired from the store as gaps).
const OUTBOX: usize = 65_536;
/// Most bus messages published in one round trip.
const PUBLISH_BATCH: usize = 512;

/// A node's cluster connection.
pub struct ClusterLink {
    pub node: u16,
    pub bus: Arc<dyn Bus>,
    pub shared: Arc<dyn Shared>,
    /// What to publish, in order; one task sends it (see [`publisher`]).
    outbox: mpsc::Sender<(String, Bytes)>,
}

impl ClusterLink {
    /// Connects node `node` to the cluster's Redis.
    pub async fn connect(config: &ClusterConfig, node: u16) -> Result<ClusterLink, StoreError> {
        let redis = RedisCluster::connect(&config.redis_url)
            .await?
            .with_presence_ttl(config.presence_ttl());
        let redis = Arc::new(redis);
        let (outbox, queued) = mpsc::channel(OUTBOX);
        tokio::spawn(publisher(redis.clone(), queued));
        Ok(ClusterLink {
            node,
            bus: redis.clone(),
            shared: redis,
            outbox,
        })
    }

    /// Tells every node consuming queue `name` that the store holds
    /// messages for it to claim; a lost announcement delays them until the
    /// consumers' next poll.
    pub fn announce_queue(&self, name: &str) {
        let payload = Bytes::from(self.node.to_string());
        self.enqueue(format!("q:{name}"), payload);
    }

    /// Publishes `message` on `channel` in the background, after what was
    /// published before it; a loss is repaired from the store by the
    /// receivers' feeds.
    pub fn publish(&self, channel: String, message: &Message) {
        let payload = encode_envelope(self.node, message);
        self.enqueue(channel, payload);
    }

    fn enqueue(&self, channel: String, payload: Bytes) {
        if let Err(error) = self.outbox.try_send((channel, payload)) {
            let channel = match &error {
                mpsc::error::TrySendError::Full((channel, _))
                | mpsc::error::TrySendError::Closed((channel, _)) => channel.clone(),
            };
            tracing::warn!(channel, "bus outbox full; message not published");
        }
    }
}

/// Sends the outbox to the bus in order, in batches of what has piled up
/// meanwhile, until the link is dropped.
async fn publisher(bus: Arc<dyn Bus>, mut queued: mpsc::Receiver<(String, Bytes)>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while queued.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        if let Err(error) = bus.publish_many(&batch).await {
            tracing::warn!(%error, lost = batch.len(), "bus publish lost");
        }
        batch.clear();
    }
}

/// A message as the bus carries it.
pub fn encode_envelope(node: u16, message: &Message) -> Bytes {
    let mut headers = Headers::with_capacity(message.headers.len() + 4);
    headers.push(ORIGIN, node.to_string());
    headers.push("destination", &*message.destination);
    headers.push("message-id", &*message.message_id);
    if message.logged {
        headers.push(LOGGED, "1");
    }
    if !message.mentions.is_empty() {
        let mentions: Vec<String> = message.mentions.iter().map(|m| m.to_string()).collect();
        headers.push(MENTIONS, mentions.join(","));
    }
    for (name, value) in message.headers.iter() {
        headers.push(name, value);
    }
    let frame = Frame {
        command: Command::Message,
        headers,
        body: message.body.clone(),
    };
    let mut out = BytesMut::new();
    encode(&frame, true, &mut out);
    out.freeze()
}

/// How every envelope `node` publishes begins (the command, then the
/// origin header, which [`encode_envelope`] writes first).
fn own_prefix(node: u16) -> String {
    format!("MESSAGE\n{ORIGIN}:{node}\n")
}

/// The origin node and message of a bus payload; `None` when it is not
/// one (a foreign publisher on our channel is ignored, not trusted).
pub fn decode_envelope(payload: &[u8]) -> Option<(u16, Message)> {
    let limits = Limits {
        max_frame_bytes: 64 << 20,
        max_headers: 4096,
        max_header_line: 1 << 20,
        max_body_bytes: 64 << 20,
    };
    let mut buffer = BytesMut::from(payload);
    let frame = Decoder::new(limits).decode(&mut buffer).ok()??;
    let origin: u16 = frame.get(ORIGIN)?.parse().ok()?;
    let destination = frame.get("destination")?.to_owned();
    let message_id = frame.get("message-id")?.to_owned();
    let mentions = frame
        .get(MENTIONS)
        .map(|list| list.split(',').filter_map(|m| m.parse().ok()).collect())
        .unwrap_or_default();
    let logged = frame.get(LOGGED).is_some();
    let mut headers = frame.headers;
    headers.retain(|name, _| {
        !matches!(
            name,
            ORIGIN | MENTIONS | LOGGED | "destination" | "message-id" | "content-length"
        )
    });
    Some((
        origin,
        Message {
            destination: destination.into(),
            message_id: message_id.into(),
            headers,
            body: frame.body,
            mentions,
            logged,
        },
    ))
}

/// Runs the node side of the cluster until shutdown: bus events to local
/// subscribers, resync after a reconnect, the presence heartbeat and the
/// renewal of queue leases.
pub async fn run(
    broker: Arc<crate::broker::Broker>,
    link: Arc<ClusterLink>,
    shutdown: CancellationToken,
) {
    let Some(mut events) = link.bus.take_events() else {
        return;
    };
    let settings = &broker.config.cluster;
    let mut heartbeat = tokio::time::interval(settings.heartbeat());
    let mut renewal = tokio::time::interval(settings.queue_lease() / 3);
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats = 0u64;
    let own = own_prefix(link.node);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => match event {
                None => return,
                Some(BusEvent::Message { channel, payload }) => {
                    if let Some(queue) = channel.strip_prefix("q:") {
                        if payload != link.node.to_string().as_bytes() {
                            broker.router.queue_announced(queue);
                        }
                        continue;
                    }
                    // This node's own messages come back on the channels it
                    // listens to; the envelope's first header says so
                    // without decoding the rest.
                    if payload.starts_with(own.as_bytes()) {
                        continue;
                    }
                    match decode_envelope(&payload) {
                        Some((origin, _)) if origin == link.node => {}
                        Some((_, message)) => {
                            if let Some(accepted) = message.accepted_at() {
                                broker.metrics.bus_lag.observe_since_ms(accepted, crate::chat::now_ms());
                            }
                            broker.router.deliver_remote(&channel, Arc::new(message));
                        }
                        None => tracing::warn!(channel, "unreadable bus message ignored"),
                    }
                }
                Some(BusEvent::Reconnected) => {
                    tracing::info!("bus back: resyncing feeds and queues from the store");
                    broker.chat().resync();
                    broker.router.wake_queues();
                }
            },
            _ = renewal.tick() => {
                if let Err(error) = broker.router.renew_queue_leases().await {
                    tracing::warn!(%error, "queue leases not renewed");
                }
            }
            _ = heartbeat.tick() => {
                let users = broker.chat().local_users();
                if let Err(error) = link.shared.refresh_presence(link.node, &users).await {
                    tracing::warn!(%error, "presence not refreshed");
                }
                match link.shared.reap_dead_nodes(link.node).await {
                    Ok(orphans) => broker.chat().departed(orphans).await,
                    Err(error) => tracing::warn!(%error, "dead nodes not looked for"),
                }
                // A bus message lost without a reconnect shows up as a gap
                // at the next message; this catches the last one of a burst.
                beats += 1;
                if beats.is_multiple_of(RESYNC_EVERY) {
                    broker.chat().resync();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let mut headers = Headers::new();
        headers.push("seq", "7");
        headers.push("x-note", "a:b\nc");
        let message = Message {
            destination: "/group/3".into(),
            message_id: "99".into(),
            headers,
            body: Bytes::from_static(b"bo\0dy"),
            mentions: vec![4, 5],
            logged: true,
        };
        let (origin, decoded) = decode_envelope(&encode_envelope(2, &message)).unwrap();
        assert_eq!(origin, 2);
        assert_eq!(&*decoded.destination, "/group/3");
        assert_eq!(&*decoded.message_id, "99");
        assert_eq!(decoded.headers.get("seq"), Some("7"));
        assert_eq!(decoded.headers.get("x-note"), Some("a:b\nc"));
        assert_eq!(decoded.body, message.body);
        assert_eq!(decoded.mentions, [4, 5]);
        assert!(decoded.logged);
        assert_eq!(decoded.headers.get("x-herald-logged"), None);
        let notice = Message {
            destination: "/group/3".into(),
            message_id: "100".into(),
            headers: Headers::new(),
            body: Bytes::new(),
            mentions: Vec::new(),
            logged: false,
        };
        assert!(
            !decode_envelope(&encode_envelope(2, &notice))
                .unwrap()
                .1
                .logged
        );
        assert!(decode_envelope(b"garbage").is_none());
        let encoded = encode_envelope(2, &message);
        assert!(encoded.starts_with(own_prefix(2).as_bytes()));
        assert!(!encoded.starts_with(own_prefix(1).as_bytes()));
        assert!(!encode_envelope(21, &message).starts_with(own_prefix(2).as_bytes()));
    }
}
