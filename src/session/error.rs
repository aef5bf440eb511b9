//! Why a session ends, and the refusals that end it with an ERROR frame.

use std::fmt;

/// A refusal of a client frame: sent as an ERROR frame, after which the
/// connection closes, as the spec requires.
#[derive(Debug)]
pub struct Refusal {
    /// What kind of refusal, for `herald_error_frames_total{reason}`.
    pub reason: ErrorReason,
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
            reason: ErrorReason::Protocol,
            message: message.into(),
            detail: String::new(),
            close: crate::transport::CloseKind::Normal,
        }
    }

    pub fn with_detail(message: impl Into<String>, detail: impl Into<String>) -> Refusal {
        Refusal {
            detail: detail.into(),
            ..Refusal::new(message)
        }
    }

    /// The same refusal counted under `reason`.
    pub fn because(mut self, reason: ErrorReason) -> Refusal {
        self.reason = reason;
        self
    }
}

/// Why an ERROR frame was sent, as a metric label: a small closed set, so
/// an operator can tell abuse (limits, rates), broken clients (malformed),
/// bad logins and an ailing store apart at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReason {
    /// A frame that breaks the STOMP grammar or misses a required header.
    Malformed,
    /// A frame, header, subscription or transaction limit.
    Limit,
    /// Nothing, or not a whole frame, in the time allowed.
    Timeout,
    /// CONNECT with bad credentials or a bad token.
    Auth,
    /// Permission: an ACL or chat rule said no.
    Forbidden,
    /// A per-IP or per-user rate limit.
    RateLimited,
    /// The store failed; nothing was accepted.
    Unavailable,
    /// A well-formed frame that is wrong where it is sent.
    Protocol,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 8] = [
        ErrorReason::Malformed,
        ErrorReason::Limit,
        ErrorReason::Timeout,
        ErrorReason::Auth,
        ErrorReason::Forbidden,
        ErrorReason::RateLimited,
        ErrorReason::Unavailable,
        ErrorReason::Protocol,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ErrorReason::Malformed => "malformed",
            ErrorReason::Limit => "limit",
            ErrorReason::Timeout => "timeout",
            ErrorReason::Auth => "auth",
            ErrorReason::Forbidden => "forbidden",
            ErrorReason::RateLimited => "rate_limited",
            ErrorReason::Unavailable => "unavailable",
            ErrorReason::Protocol => "protocol",
        }
    }
}

impl From<herald_protocol::DecodeError> for Refusal {
    fn from(error: herald_protocol::DecodeError) -> Refusal {
        let reason = match error {
            herald_protocol::DecodeError::Limit { .. } => ErrorReason::Limit,
            _ => ErrorReason::Malformed,
        };
        Refusal::new(error.to_string()).because(reason)
    }
}

impl From<crate::router::RouteError> for Refusal {
    fn from(error: crate::router::RouteError) -> Refusal {
        use crate::router::RouteError;
        let reason = match &error {
            RouteError::Destination(_) => ErrorReason::Malformed,
            RouteError::Forbidden(_) => ErrorReason::Forbidden,
            RouteError::Full(_) => ErrorReason::Limit,
            RouteError::Chat(chat) => chat_reason(chat),
            RouteError::Store(_) => ErrorReason::Unavailable,
        };
        Refusal::new(error.to_string()).because(reason)
    }
}

impl From<crate::chat::ChatError> for Refusal {
    fn from(error: crate::chat::ChatError) -> Refusal {
        let reason = chat_reason(&error);
        Refusal::new(error.to_string()).because(reason)
    }
}

impl From<crate::auth::AuthError> for Refusal {
    fn from(error: crate::auth::AuthError) -> Refusal {
        let reason = match error {
            crate::auth::AuthError::Store(_) => ErrorReason::Unavailable,
            _ => ErrorReason::Auth,
        };
        Refusal::new(error.to_string()).because(reason)
    }
}

fn chat_reason(error: &crate::chat::ChatError) -> ErrorReason {
    use crate::chat::ChatError;
    match error {
        ChatError::Refused { rule, .. } if rule.contains("rate") => ErrorReason::RateLimited,
        ChatError::Refused { .. } => ErrorReason::Forbidden,
        ChatError::Invalid(_) => ErrorReason::Malformed,
        ChatError::Store(_) => ErrorReason::Unavailable,
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

impl CloseReason {
    /// A fixed word for logs and dashboards to group by.
    pub fn code(&self) -> &'static str {
        match self {
            CloseReason::Disconnect => "disconnect",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Io(_) => "io_error",
            CloseReason::ConnectTimeout => "connect_timeout",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::Refused(_) => "refused",
            CloseReason::Shutdown => "shutdown",
        }
    }
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
