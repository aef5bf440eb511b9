//! Why a session ends, and the refusals that end it with an ERROR frame.

use std::fmt;

/// A refusal of a client frame: sent as an ERROR frame, after which the
/// connection closes, as the spec requires.
#[derive(Debug)]
pub struct Refusal {
    /// One line for the ERROR's `message` header.
    pub message: String,
    /// More detail for the ERROR's body.
    pub detail: String,
    /// How the connection closes after the ERROR.
    pub close: crate::transport::CloseKind,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            detail: String::new(),
            close: crate::transport::CloseKind::Normal,
        }
    }

    pub fn with_detail(message: impl Into<String>, detail: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            detail: detail.into(),
            close: crate::transport::CloseKind::Normal,
        }
    }
}

/// Why a connection closed, logged once per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT.
    Disconnect,
    /// The peer closed the socket.
    PeerClosed,
    /// The socket failed.
    Io(String),
    /// No CONNECT within the connect timeout.
    ConnectTimeout,
    /// Nothing received for about twice the negotiated heart-beat interval.
    HeartbeatTimeout,
    /// The outbound queue overflowed.
    SlowConsumer,
    /// An ERROR frame was sent for a bad frame.
    Refused(String),
    /// The broker is shutting down.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Disconnect => f.write_str("client disconnected"),
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Io(error) => write!(f, "i/o error: {error}"),
            CloseReason::ConnectTimeout => f.write_str("no CONNECT in time"),
            CloseReason::HeartbeatTimeout => f.write_str("heart-beat timeout"),
            CloseReason::SlowConsumer => f.write_str("slow consumer"),
            CloseReason::Refused(message) => write!(f, "refused: {message}"),
            CloseReason::Shutdown => f.write_str("broker shutting down"),
        }
    }
}
