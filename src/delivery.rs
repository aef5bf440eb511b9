//! What travels from destinations to sessions: routed messages, deliveries,
//! and the handle a destination uses to reach one session.
//!
//! Destinations never block on a session: they `try_send` into its bounded
//! outbound queue, and a full queue marks the session a slow consumer, which
//! the session task notices and closes itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::Headers;
use herald_storage::StoredId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A message as routed: built once per SEND and shared by every subscriber.
#[derive(Debug)]
pub struct Message {
    pub destination: Arc<str>,
    pub message_id: Arc<str>,
    /// Headers passed through from the SEND (content-type and user headers);
    /// the ones the broker sets itself are already stripped.
    pub headers: Headers,
    pub body: Bytes,
    /// Users the message mentions: their MESSAGE frames carry
    /// `mentioned:true`.
    pub mentions: Vec<i64>,
    /// A chat message kept in its conversation's log, whose `seq` header
    /// is its own place there. Live notices (typing, presence, delivered
    /// and read, whose `seq` names someone else's place) are not.
    pub logged: bool,
}

impl Message {
    /// The (conversation, seq) of a logged chat message.
    pub fn log_position(&self) -> Option<(String, i64)> {
        if !self.logged {
            return None;
        }
        let seq = self.headers.get("seq")?.parse().ok()?;
        Some((self.headers.get("conversation")?.to_owned(), seq))
    }

    /// When a chat message was accepted (its `timestamp` header, Unix
    /// milliseconds); none for messages that carry no such header.
    pub fn accepted_at(&self) -> Option<i64> {
        self.headers.get("timestamp")?.parse().ok()
    }
}

/// One message handed to one subscription of a session.
#[derive(Debug)]
pub struct Delivery {
    pub subscription: Arc<str>,
    pub message: Arc<Message>,
    pub redelivered: bool,
    /// The store's id when the message comes from a `/queue`.
    pub stored_id: Option<StoredId>,
}

/// Why a delivery did not reach a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The session's outbound queue is full; it is being closed as a slow
    /// consumer. Queues give the message to someone else.
    SlowConsumer,
    /// The session has ended.
    Gone,
}

/// How destinations reach a session. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    pub id: u64,
    outbound: mpsc::Sender<Delivery>,
    slow: CancellationToken,
}

impl SessionHandle {
    /// Queues a delivery without waiting. A full queue marks the session a
    /// slow consumer.
    pub fn offer(&self, delivery: Delivery) -> Result<(), Refused> {
        match self.outbound.try_send(delivery) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.slow.cancel();
                Err(Refused::SlowConsumer)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Gone),
        }
    }
}

/// The session's side of its handle.
pub struct SessionInbox {
    pub deliveries: mpsc::Receiver<Delivery>,
    /// Cancelled when a destination found the outbound queue full.
    pub slow: CancellationToken,
}

/// A handle and inbox for a new session with an outbound queue of `capacity`.
pub fn session_channel(capacity: usize) -> (SessionHandle, SessionInbox) {
    static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);
    let (outbound, deliveries) = mpsc::channel(capacity);
    let slow = CancellationToken::new();
    let handle = SessionHandle {
        id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
        outbound,
        slow: slow.clone(),
    };
    (handle, SessionInbox { deliveries, slow })
}

/// Broker-unique message ids: a per-boot random prefix and a counter, so ids
/// never repeat across restarts even for messages kept in the store.
#[derive(Debug)]
pub struct MessageIds {
    prefix: String,
    next: AtomicU64,
}

impl MessageIds {
    pub fn new() -> MessageIds {
        MessageIds {
            prefix: format!("{:08x}", rand::random::<u32>()),
            next: AtomicU64::new(1),
        }
    }

    pub fn next(&self) -> Arc<str> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix).into()
    }
}

impl Default for MessageIds {
    fn default() -> Self {
        MessageIds::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            subscription: "s".into(),
            message: Arc::new(Message {
                destination: "/topic/a".into(),
                message_id: "m".into(),
                headers: Headers::new(),
                body: Bytes::new(),
                mentions: Vec::new(),
                logged: false,
            }),
            redelivered: false,
            stored_id: None,
        }
    }

    #[test]
    fn full_queue_marks_slow_consumer() {
        let (handle, inbox) = session_channel(1);
        assert_eq!(handle.offer(delivery()), Ok(()));
        assert!(!inbox.slow.is_cancelled());
        assert_eq!(handle.offer(delivery()), Err(Refused::SlowConsumer));
        assert!(inbox.slow.is_cancelled());
    }

    #[test]
    fn closed_session_is_gone() {
        let (handle, inbox) = session_channel(1);
        drop(inbox);
        assert_eq!(handle.offer(delivery()), Err(Refused::Gone));
    }

    #[test]
    fn message_ids_are_unique() {
        let ids = MessageIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_ne!(MessageIds::new().next(), a);
    }
}
