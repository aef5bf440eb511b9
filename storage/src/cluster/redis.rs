//! Redis behind [`Bus`] and [`Shared`]: PUBLISH/SUBSCRIBE for the bus, a
//! sorted set per user (member: node, score: expiry) for presence, and
//! per-second counters for rate limits.
//!
//! The subscriber connection lives in one task that reconnects by itself
//! with backoff, subscribes again to every channel with listeners, and then
//! reports [`BusEvent::Reconnected`]. Commands go through a
//! `ConnectionManager`, which reconnects on its own too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::{Bus, BusEvent, Shared};
use crate::{StoreError, UserId};

/// The longest a command waits to connect, or for its answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a node's presence entry lives without a refresh, unless the
/// node says otherwise ([`RedisCluster::with_presence_ttl`]).
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);

enum Command {
    Subscribe(String),
    Unsubscribe(String),
}

/// One node's connection to the cluster's Redis.
#[derive(Clone)]
pub struct RedisCluster {
    commands: ConnectionManager,
    subscriber: mpsc::UnboundedSender<Command>,
    /// Listener counts per channel. A std Mutex: held for a map update and
    /// an unbounded send, never across an await.
    listeners: Arc<Mutex<HashMap<String, usize>>>,
    events: Arc<Mutex<Option<mpsc::UnboundedReceiver<BusEvent>>>>,
    presence_ttl: Duration,
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> StoreError {
        StoreError::Unavailable(format!("redis: {error}"))
    }
}

impl RedisCluster {
    /// Connects to `url` (`redis://host:port`); the subscriber task starts
    /// at once and keeps itself connected.
    pub async fn connect(url: &str) -> Result<RedisCluster, StoreError> {
        let client = redis::Client::open(url)?;
        // Commands fail fast while Redis is away (one reconnect attempt,
        // short timeouts) instead of waiting out a long retry schedule:
        // the broker falls back to this node's own view for rate limits and
        // presence, and a SEND must not wait on Redis to be receipted.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let commands = ConnectionManager::new_with_config(client.clone(), config).await?;
        let (subscriber, requests) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let listeners = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(subscriber_task(
            client,
            requests,
            events_tx,
            listeners.clone(),
        ));
        Ok(RedisCluster {
            commands,
            subscriber,
            listeners,
            events: Arc::new(Mutex::new(Some(events_rx))),
            presence_ttl: PRESENCE_TTL,
        })
    }

    /// Presence entries this node writes expire `ttl` after their last
    /// refresh: more than the node's heartbeat, so a missed beat or two
    /// keeps its users online, and as little as that allows, so a dead
    /// node's users go offline soon.
    pub fn with_presence_ttl(mut self, ttl: Duration) -> RedisCluster {
        self.presence_ttl = ttl;
        self
    }
}

/// Keeps one pub/sub connection alive: applies (un)subscribe requests,
/// forwards messages, and after a reconnect subscribes to every channel
/// with listeners again and reports it.
async fn subscriber_task(
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<BusEvent>,
    listeners: Arc<Mutex<HashMap<String, usize>>>,
) {
    let mut first = true;
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::warn!(%error, "redis bus unreachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<String> = listeners
            .lock()
            .expect("poisoned")
            .keys()
            .cloned()
            .collect();
        if !channels.is_empty() && sink.subscribe(&channels).await.is_err() {
            continue;
        }
        if !first && events.send(BusEvent::Reconnected).is_err() {
            return;
        }
        first = false;
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let result = match request {
                        None => return,
                        Some(Command::Subscribe(channel)) => sink.subscribe(&channel).await,
                        Some(Command::Unsubscribe(channel)) => sink.unsubscribe(&channel).await,
                    };
                    if let Err(error) = result {
                        tracing::warn!(%error, "redis bus lost; reconnecting");
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else {
                        tracing::warn!("redis bus lost; reconnecting");
                        break;
                    };
                    let event = BusEvent::Message {
                        channel: message.get_channel_name().to_owned(),
                        payload: Bytes::copy_from_slice(message.get_payload_bytes()),
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Bus for RedisCluster {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), StoreError> {
        let mut connection = self.commands.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .query_async::<i64>(&mut connection)
            .await?;
        Ok(())
    }

    async fn publish_many(&self, messages: &[(String, Bytes)]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for (channel, payload) in messages {
            pipe.cmd("PUBLISH")
                .arg(channel)
                .arg(payload.as_ref())
                .ignore();
        }
        let mut connection = self.commands.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    fn listen(&self, channel: &str) {
        let mut listeners = self.listeners.lock().expect("poisoned");
        let count = listeners.entry(channel.to_owned()).or_default();
        *count += 1;
        if *count == 1 {
            let _ = self.subscriber.send(Command::Subscribe(channel.to_owned()));
        }
    }

    fn unlisten(&self, channel: &str) {
        let mut listeners = self.listeners.lock().expect("poisoned");
        if let Some(count) = listeners.get_mut(channel) {
            *count -= 1;
            if *count == 0 {
                listeners.remove(channel);
                let _ = self
                    .subscriber
                    .send(Command::Unsubscribe(channel.to_owned()));
            }
        }
    }

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BusEvent>> {
        self.events.lock().expect("poisoned").take()
    }
}

fn presence_key(user: UserId) -> String {
    format!("herald:presence:{user}")
}

/// Every node that has announced itself, so live nodes know whom to look
/// for.
const NODES_KEY: &str = "herald:nodes";

/// Present while `node` refreshes its presence; gone once it stopped.
fn alive_key(node: u16) -> String {
    format!("herald:node:{node}:alive")
}

/// The users with a session on `node`, as of its last heartbeat.
fn node_users_key(node: u16) -> String {
    format!("herald:node:{node}:users")
}

/// Taken by the one live node that announces a dead node's users offline.
fn reaper_key(node: u16) -> String {
    format!("herald:node:{node}:reaper")
}

impl RedisCluster {
    /// Adds `users`' entries for `node` (score: when they expire) and
    /// remembers them among the node's users.
    fn add_presence(&self, pipe: &mut redis::Pipeline, node: u16, users: &[UserId]) {
        let ttl = self.presence_ttl.as_millis() as u64;
        let expires = now_ms() + ttl as i64;
        for user in users {
            let key = presence_key(*user);
            pipe.cmd("ZADD").arg(&key).arg(expires).arg(node).ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(ttl * 2).ignore();
        }
        if !users.is_empty() {
            pipe.cmd("SADD")
                .arg(node_users_key(node))
                .arg(users)
                .ignore();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl Shared for RedisCluster {
    async fn presence_up(&self, user: UserId, node: u16) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        self.add_presence(&mut pipe, node, &[user]);
        let mut connection = self.commands.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn presence_down(&self, user: UserId, node: u16) -> Result<(), StoreError> {
        let mut connection = self.commands.clone();
        redis::pipe()
            .cmd("ZREM")
            .arg(presence_key(user))
            .arg(node)
            .ignore()
            .cmd("SREM")
            .arg(node_users_key(node))
            .arg(user)
            .ignore()
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }

    async fn refresh_presence(&self, node: u16, users: &[UserId]) -> Result<(), StoreError> {
        let ttl = self.presence_ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET")
            .arg(alive_key(node))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .ignore();
        pipe.cmd("SADD").arg(NODES_KEY).arg(node).ignore();
        pipe.cmd("DEL").arg(node_users_key(node)).ignore();
        self.add_presence(&mut pipe, node, users);
        let mut connection = self.commands.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn reap_dead_nodes(&self, node: u16) -> Result<Vec<UserId>, StoreError> {
        let mut connection = self.commands.clone();
        let nodes: Vec<u16> = redis::cmd("SMEMBERS")
            .arg(NODES_KEY)
            .query_async(&mut connection)
            .await?;
        let ttl = self.presence_ttl.as_millis() as u64;
        let mut users = Vec::new();
        for other in nodes.into_iter().filter(|other| *other != node) {
            let alive: bool = redis::cmd("EXISTS")
                .arg(alive_key(other))
                .query_async(&mut connection)
                .await?;
            if alive {
                continue;
            }
            // One live node takes each dead one; the others see it taken.
            let taken: Option<String> = redis::cmd("SET")
                .arg(reaper_key(other))
                .arg(node)
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query_async(&mut connection)
                .await?;
            if taken.is_none() {
                continue;
            }
            let (orphans, (), ()): (Vec<UserId>, (), ()) = redis::pipe()
                .atomic()
                .cmd("SMEMBERS")
                .arg(node_users_key(other))
                .cmd("DEL")
                .arg(node_users_key(other))
                .cmd("SREM")
                .arg(NODES_KEY)
                .arg(other)
                .query_async(&mut connection)
                .await?;
            users.extend(orphans);
        }
        Ok(users)
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut pipe = redis::pipe();
        for user in users {
            pipe.cmd("ZCOUNT")
                .arg(presence_key(*user))
                .arg(now)
                .arg("+inf");
        }
        let mut connection = self.commands.clone();
        let counts: Vec<i64> = pipe.query_async(&mut connection).await?;
        Ok(users
            .iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .map(|(user, _)| *user)
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.commands.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await?;
        Ok(())
    }

    async fn rate(&self, key: &str, limit: u32) -> Result<bool, StoreError> {
        let second = now_ms() / 1000;
        let key = format!("herald:rate:{key}:{second}");
        let mut connection = self.commands.clone();
        let (count,): (i64,) = redis::pipe()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(2)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(count <= i64::from(limit))
    }
}
