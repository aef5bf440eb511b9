//! One connection's life: handshake, heart-beats, subscriptions, acks and
//! transactions, as one task with a `select!` over the next bytes, outbound
//! deliveries, the heart-beat timer, slow-consumer and shutdown signals.
//!
//! Errors end here: a bad frame gets an ERROR and closes this connection and
//! nothing else. The session never touches the store; destinations do.

mod chat;
mod connect;
mod error;
mod frames;
mod outbound;
mod subscriptions;
mod transactions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_protocol::{Decoder, Frame, Version};
use tokio::time::{sleep_until, Instant};

use crate::auth::Principal;
use crate::broker::Broker;
use crate::delivery::{session_channel, SessionHandle, SessionInbox};
use crate::metrics::Metrics;
use crate::transport::Transport;
pub use error::{CloseReason, ErrorReason, Refusal};
use subscriptions::Subscriptions;
use transactions::Transactions;

/// What the session does after handling a frame.
enum Flow {
    Continue,
    /// DISCONNECT: flush and close.
    Disconnect,
    /// The frame was refused; the ERROR is sent and the connection closed.
    Closed(CloseReason),
}

/// Intervals agreed in CONNECT; zero means none in that direction.
#[derive(Clone, Copy, Default)]
struct HeartBeats {
    send: Option<Duration>,
    receive: Option<Duration>,
}

pub struct Session<T> {
    broker: Arc<Broker>,
    transport: T,
    peer: SocketAddr,
    handle: SessionHandle,
    inbox: SessionInbox,
    decoder: Decoder,
    read_buffer: BytesMut,
    write_buffer: BytesMut,
    /// Encoded frames waiting for the next flush, one per WebSocket message.
    pending_writes: Vec<Bytes>,
    version: Version,
    principal: Option<Principal>,
    /// The client's `device-id` from CONNECT, for per-device delivery state.
    device_id: Option<String>,
    /// Headers the next RECEIPT carries (message-id, seq ... of a chat SEND).
    receipt_headers: Vec<(&'static str, String)>,
    heart_beats: HeartBeats,
    last_read: Instant,
    last_write: Instant,
    subscriptions: Subscriptions,
    transactions: Transactions,
    /// Counter for 1.2 ack ids.
    next_ack: u64,
    /// `/queue` messages written under `auto` acks, acknowledged after flush.
    auto_acked: Vec<(Arc<str>, herald_storage::StoredId)>,
    /// Chat messages written under `auto` acks: (subscription,
    /// conversation, seq), counted as delivered after flush.
    auto_chat: Vec<(Arc<str>, String, i64)>,
    /// Some chat subscription has stored messages to fetch and write.
    chat_behind: bool,
    /// The CONNECT's device was seen for the first time.
    device_new: bool,
    /// The bus lost messages: compare chat feeds with the store.
    resync: bool,
    /// When the first bytes of a frame not yet complete were read.
    frame_started: Option<Instant>,
}

/// Serves one connection until it closes, then undoes its subscriptions.
pub async fn serve<T: Transport>(broker: Arc<Broker>, transport: T, peer: SocketAddr) {
    let (handle, inbox) = session_channel(broker.config.stomp.outbound_queue);
    let now = Instant::now();
    let mut session = Session {
        decoder: Decoder::new(broker.limits),
        broker,
        transport,
        peer,
        handle,
        inbox,
        // Empty until bytes arrive: most chat connections are idle most of
        // the time, and each idle one should cost as little as possible.
        read_buffer: BytesMut::new(),
        write_buffer: BytesMut::new(),
        pending_writes: Vec::new(),
        version: Version::V1_2,
        principal: None,
        device_id: None,
        receipt_headers: Vec::new(),
        heart_beats: HeartBeats::default(),
        last_read: now,
        last_write: now,
        subscriptions: Subscriptions::default(),
        transactions: Transactions::default(),
        next_ack: 0,
        auto_acked: Vec::new(),
        auto_chat: Vec::new(),
        chat_behind: false,
        device_new: false,
        resync: false,
        frame_started: None,
    };
    let metrics = session.broker.metrics.clone();
    let by_transport = match session.transport.name() {
        "websocket" => &metrics.websocket_connections_open,
        _ => &metrics.tcp_connections_open,
    };
    Metrics::inc(&metrics.connections_open);
    Metrics::inc(by_transport);
    let reason = session.run().await;
    session.finish(&reason).await;
    Metrics::dec(&metrics.connections_open);
    Metrics::dec(by_transport);
    Metrics::inc(&metrics.connections_closed_total);
    let login = session
        .principal
        .as_ref()
        .map(|p| p.username.as_str())
        .unwrap_or("-");
    // Once per connection, at info: an operator asking "why did this
    // client drop" finds the answer without turning on debug logging.
    tracing::info!(
        peer = %session.peer,
        transport = session.transport.name(),
        login,
        device = session.device_id.as_deref().unwrap_or("-"),
        reason = reason.code(),
        detail = %reason,
        open_ms = now.elapsed().as_millis() as u64,
        "connection closed"
    );
}

impl<T: Transport> Session<T> {
    async fn run(&mut self) -> CloseReason {
        match self.handshake().await {
            Ok(()) => {}
            Err(reason) => return reason,
        }
        match self.connected_loop().await {
            Ok(reason) => reason,
            Err(refusal) => self.refuse(refusal, None).await,
        }
    }

    /// Reads until the CONNECT frame and answers it.
    async fn handshake(&mut self) -> Result<(), CloseReason> {
        let deadline = Instant::now() + self.broker.config.stomp.connect_timeout();
        loop {
            match self.decoder.decode(&mut self.read_buffer) {
                Ok(Some(frame)) => {
                    self.broker.metrics.frames_in.inc(frame.command);
                    let receipt = frame.get("receipt").map(str::to_owned);
                    return match self.connect(frame).await {
                        Ok(()) => self.flush().await,
                        Err(refusal) => Err(self.refuse(refusal, receipt).await),
                    };
                }
                Ok(None) => {}
                Err(error) => return Err(self.refuse(Refusal::from(error), None).await),
            }
            tokio::select! {
                _ = self.broker.shutdown.cancelled() => return Err(CloseReason::Shutdown),
                _ = sleep_until(deadline) => {
                    return Err(self.refuse(Refusal::new("no CONNECT frame within the connect timeout").because(ErrorReason::Timeout), None).await);
                }
                read = self.transport.read(&mut self.read_buffer) => self.bytes_read(read).await?,
            }
        }
    }

    /// The connected session: frames in, deliveries out, heart-beats.
    async fn connected_loop(&mut self) -> Result<CloseReason, Refusal> {
        let tick = self.tick_interval();
        let mut ticker = tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redelivery = tokio::time::interval(Duration::from_millis(
            (self.broker.config.chat.ack_timeout_ms / 4).clamp(50, 1000),
        ));
        redelivery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut held = None;
            loop {
                let frame = match held.take() {
                    Some(frame) => frame,
                    None => match self.next_frame()? {
                        Some(frame) => frame,
                        None => break,
                    },
                };
                self.frame_started = None;
                let flow = if frames::joins_queue_batch(&frame) {
                    let (batch, next, error) = self.queue_batch(frame);
                    held = next;
                    let flow = self.send_to_queues(batch).await;
                    match (flow, error) {
                        (Flow::Continue, Some(refusal)) => return Err(refusal),
                        (flow, _) => flow,
                    }
                } else {
                    self.handle_frame(frame).await
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Disconnect => {
                        let _ = self.flush().await;
                        return Ok(CloseReason::Disconnect);
                    }
                    Flow::Closed(reason) => return Ok(reason),
                }
            }
            if self.chat_behind {
                if let Err(refusal) = self.pump_chat().await {
                    return Ok(self.refuse(refusal, None).await);
                }
            }
            match self.flush().await {
                Ok(()) => {}
                Err(CloseReason::SlowConsumer) => return Ok(self.slow_consumer().await),
                Err(reason) => return Ok(reason),
            }
            let chat_unacked = self.subscriptions.has_chat_unacked();
            let frame_deadline = self.frame_deadline();
            tokio::select! {
                biased;
                _ = self.broker.shutdown.cancelled() => return Ok(self.shutdown().await),
                _ = self.inbox.slow.cancelled() => return Ok(self.slow_consumer().await),
                delivery = self.inbox.deliveries.recv() => {
                    let Some(delivery) = delivery else { return Ok(CloseReason::Shutdown) };
                    self.deliver(delivery);
                    // Batch what is already waiting into one write.
                    for _ in 0..256 {
                        match self.inbox.deliveries.try_recv() {
                            Ok(delivery) => self.deliver(delivery),
                            Err(_) => break,
                        }
                    }
                }
                read = self.transport.read(&mut self.read_buffer) => {
                    if let Err(reason) = self.bytes_read(read).await {
                        return Ok(reason);
                    }
                }
                _ = ticker.tick(), if tick.is_some() => {
                    if let Some(reason) = self.heart_beat() {
                        return Ok(reason);
                    }
                }
                _ = redelivery.tick(), if chat_unacked => self.redeliver_expired(),
                _ = sleep_until(frame_deadline.unwrap_or_else(Instant::now)), if frame_deadline.is_some() => {
                    let timeout = self.broker.config.stomp.frame_timeout_ms;
                    let refusal = Refusal::with_detail(
                        format!("frame not completed within stomp.frame_timeout_ms ({timeout} ms)"),
                        "send each frame whole; a frame begun must end in time",
                    )
                    .because(ErrorReason::Timeout);
                    return Ok(self.refuse(refusal, None).await);
                }
                // More stored messages to write: go round again at once.
                _ = std::future::ready(()), if self.chat_behind => {}
            }
        }
    }

    /// When the frame in progress (bytes read, frame not yet complete) runs
    /// out of time; none when the buffer holds no partial frame.
    fn frame_deadline(&mut self) -> Option<Instant> {
        let timeout = self.broker.config.stomp.frame_timeout_ms;
        if timeout == 0 || self.read_buffer.is_empty() {
            self.frame_started = None;
            return None;
        }
        let started = *self.frame_started.get_or_insert_with(Instant::now);
        Some(started + Duration::from_millis(timeout))
    }

    /// `first` and the SENDs right behind it in the read buffer that can go
    /// to the store with it (see [`frames::joins_queue_batch`]); also the
    /// frame that ended the run, if one did, and a decoding error met while
    /// looking, which comes after the batch.
    fn queue_batch(&mut self, first: Frame) -> (Vec<Frame>, Option<Frame>, Option<Refusal>) {
        let mut batch = vec![first];
        while batch.len() < frames::MAX_QUEUE_BATCH {
            match self.next_frame() {
                Ok(Some(frame)) if frames::joins_queue_batch(&frame) => batch.push(frame),
                Ok(Some(frame)) => return (batch, Some(frame), None),
                Ok(None) => break,
                Err(refusal) => return (batch, None, Some(refusal)),
            }
        }
        (batch, None, None)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, Refusal> {
        match self.decoder.decode(&mut self.read_buffer) {
            Ok(Some(frame)) => {
                self.broker.metrics.frames_in.inc(frame.command);
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(Refusal::from(error)),
        }
    }

    /// Notes a read; a closed or failed socket ends the session, and
    /// oversize input gets an ERROR first.
    async fn bytes_read(&mut self, read: std::io::Result<usize>) -> Result<(), CloseReason> {
        match read {
            Ok(0) => Err(CloseReason::PeerClosed),
            Ok(_) => {
                self.last_read = Instant::now();
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                let limit = self.broker.limits.max_frame_bytes;
                let refusal = Refusal::with_detail(
                    format!("frame exceeds max_frame_bytes ({limit})"),
                    error.to_string(),
                )
                .because(ErrorReason::Limit);
                Err(self.refuse(refusal, None).await)
            }
            Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
                let mut refusal = Refusal::new(error.to_string()).because(ErrorReason::Malformed);
                refusal.close = crate::transport::CloseKind::InvalidPayload;
                Err(self.refuse(refusal, None).await)
            }
            Err(error) => Err(CloseReason::Io(error.to_string())),
        }
    }

    /// How often to check heart-beats: often enough to send in time and to
    /// notice a silent peer.
    fn tick_interval(&self) -> Option<Duration> {
        let send = self.heart_beats.send.map(|d| d / 2);
        let receive = self.heart_beats.receive.map(|d| d / 2);
        match (send, receive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|d| d.max(Duration::from_millis(50)))
    }

    /// Sends an EOL when nothing was written for the send interval; closes
    /// when nothing was read for twice the receive interval.
    fn heart_beat(&mut self) -> Option<CloseReason> {
        if let Some(receive) = self.heart_beats.receive {
            if self.last_read.elapsed() > receive * 2 {
                Metrics::inc(&self.broker.metrics.heartbeat_timeouts_total);
                return Some(CloseReason::HeartbeatTimeout);
            }
        }
        if let Some(send) = self.heart_beats.send {
            if self.last_write.elapsed() + send / 4 >= send {
                self.write_buffer.extend_from_slice(b"\n");
                self.push_write();
            }
        }
        None
    }

    /// Queues the encoded frame for the transport.
    fn write_frame(&mut self, frame: &Frame) {
        let escaping = herald_protocol::Escaping::for_version(self.version);
        herald_protocol::encode_with(frame, escaping, &mut self.write_buffer);
        self.broker.metrics.frames_out.inc(frame.command);
        self.push_write();
    }

    fn push_write(&mut self) {
        // Frames are split here so each one can become one WebSocket message.
        let bytes: Bytes = self.write_buffer.split().freeze();
        self.pending_writes.push(bytes);
    }
}
