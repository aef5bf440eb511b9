//! The catalogue of cases: one named async function per clause of STOMP 1.2,
//! grouped one file per part of the spec. Each entry names the case, the
//! clause it checks, and whether it only makes sense over WebSocket.
//!
//! Cases talk to the broker only through [`crate::context::Context`] and
//! [`crate::client::Connection`]; they never assume which broker they face.

use std::future::Future;
use std::pin::Pin;

use crate::context::{Context, Outcome};

mod ack;
mod connect;
mod errors;
mod escaping;
mod framing;
mod heartbeat;
mod limits;
mod queue;
mod receipts;
mod subscribe;
mod topic;
mod transactions;
mod websocket;

/// A case's future, borrowing the run's context.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable name, used by `--filter` and in expected-results files.
    pub name: &'static str,
    /// The clause of the STOMP 1.2 spec (or RFC 6455 usage) it checks.
    pub clause: &'static str,
    /// Runs only when the broker URL is `ws://` or `wss://`.
    pub websocket_only: bool,
    pub run: for<'a> fn(&'a Context) -> CaseFuture<'a>,
}

macro_rules! catalogue {
    ($($name:literal, $websocket:literal, $function:path, $clause:literal;)*) => {
        vec![$(Case {
            name: $name,
            clause: $clause,
            websocket_only: $websocket,
            run: |context| Box::pin($function(context)),
        },)*]
    };
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    catalogue! {
        "framing-lf-eol", false, framing::lf_eol, "Frames: EOL may be LF";
        "framing-crlf-eol", false, framing::crlf_eol, "Frames: EOL may be CRLF; the CR is not part of the header value";
        "framing-eols-between-frames", false, framing::eols_between_frames, "Frames: the NUL may be followed by EOLs; Heart-beating: EOLs are heart-beats";
        "framing-several-frames-one-write", false, framing::several_frames_one_write, "Frames: a stream carries frames back to back";
        "framing-frame-over-several-writes", false, framing::frame_over_several_writes, "Frames: a frame may arrive in pieces";
        "framing-content-length-binary-body", false, framing::content_length_binary_body, "Header content-length: the body may hold NUL octets";
        "framing-body-without-content-length", false, framing::body_without_content_length, "Body: without content-length the body ends at the first NUL";
        "framing-repeated-header-first-wins", false, framing::repeated_header_first_wins, "Repeated Header Entries: only the first is used";
        "escaping-value-round-trip", false, escaping::value_round_trip, "Value Encoding: \\r \\n \\c \\\\ in a header value";
        "escaping-name-round-trip", false, escaping::name_round_trip, "Value Encoding: escapes apply to header names too";
        "escaping-undefined-escape-error", false, escaping::undefined_escape_error, "Value Encoding: an undefined escape such as \\t is a fatal protocol error";
        "escaping-connect-not-unescaped", false, escaping::connect_not_unescaped, "Value Encoding: CONNECT headers are not escaped";
        "connect-version-negotiation", false, connect::version_negotiation, "Protocol Negotiation: the highest common version is chosen";
        "connect-no-accept-version-is-1.0", false, connect::no_accept_version, "Protocol Negotiation: no accept-version means 1.0";
        "connect-unsupported-version-error", false, connect::unsupported_version, "Protocol Negotiation: no common version -> ERROR with a version header, then close";
        "connect-stomp-command", false, connect::stomp_command, "CONNECT or STOMP Frame: STOMP is accepted like CONNECT";
        "connect-connected-version-heart-beat", false, connect::connected_version_heart_beat, "CONNECTED Frame: version (REQUIRED) and heart-beat";
        "connect-connected-session-server", false, connect::connected_session_server, "CONNECTED Frame: session and server";
        "connect-frame-before-connect-error", false, connect::frame_before_connect, "Connecting: the first frame must be CONNECT or STOMP";
        "connect-bad-passcode-error", false, connect::bad_passcode, "CONNECT Frame: a refused connection gets ERROR, then close";
        "heartbeat-server-sends", false, heartbeat::server_sends, "Heart-beating: the server sends EOLs every max(sx, cy) ms";
        "heartbeat-silent-client-closed", false, heartbeat::silent_client_closed, "Heart-beating: a client silent past max(cx, sy) is considered dead";
        "heartbeat-client-eols-keep-alive", false, heartbeat::client_eols_keep_alive, "Heart-beating: EOLs from the client keep it alive";
        "heartbeat-none-when-zero", false, heartbeat::none_when_zero, "Heart-beating: 0,0 means no heart-beats";
        "subscribe-missing-id-error", false, subscribe::missing_id, "SUBSCRIBE id Header: REQUIRED in 1.2";
        "subscribe-unsubscribe-missing-id-error", false, subscribe::unsubscribe_missing_id, "UNSUBSCRIBE: id is REQUIRED";
        "subscribe-message-headers", false, subscribe::message_headers, "MESSAGE: destination, message-id, subscription, content-type, content-length";
        "subscribe-user-headers-pass-through", false, subscribe::user_headers_pass_through, "MESSAGE: user-defined headers of the SEND are carried";
        "subscribe-server-assigns-message-id", false, subscribe::server_assigns_message_id, "MESSAGE: message-id is the server's unique id, not the client's";
        "subscribe-two-subscriptions", false, subscribe::two_subscriptions, "SUBSCRIBE id Header: each subscription gets its own MESSAGE";
        "subscribe-unsubscribe-stops-delivery", false, subscribe::unsubscribe_stops_delivery, "UNSUBSCRIBE: no more messages for that subscription";
        "ack-auto", false, ack::auto, "SUBSCRIBE ack Header: auto needs no ACK";
        "ack-client-has-ack-header", false, ack::client_has_ack_header, "MESSAGE: an ack header when the subscription needs ACKs";
        "ack-client-cumulative", false, ack::client_cumulative, "SUBSCRIBE ack Header: client ACKs are cumulative";
        "ack-client-individual", false, ack::client_individual, "SUBSCRIBE ack Header: client-individual ACKs one message";
        "ack-missing-id-error", false, ack::missing_id, "ACK: id is REQUIRED";
        "ack-nack-missing-id-error", false, ack::nack_missing_id, "NACK: id is REQUIRED";
        "ack-nack-redelivers", false, ack::nack_redelivers, "NACK: the message was not consumed (redelivered)";
        "ack-prefetch-count", false, ack::prefetch_count, "SUBSCRIBE: prefetch-count limits unacknowledged messages (common extension)";
        "tx-send-at-commit", false, transactions::send_at_commit, "BEGIN/COMMIT: SENDs in a transaction happen at COMMIT";
        "tx-abort-discards", false, transactions::abort_discards, "ABORT: the transaction's SENDs are discarded";
        "tx-ack-at-commit", false, transactions::ack_at_commit, "ACK: with transaction, it takes effect at COMMIT";
        "tx-commit-unknown-error", false, transactions::commit_unknown, "COMMIT: of a transaction that was never begun is an error";
        "tx-begin-twice-error", false, transactions::begin_twice, "BEGIN: a transaction id already in use is an error";
        "tx-begin-without-transaction-error", false, transactions::begin_without_transaction, "BEGIN: transaction is REQUIRED";
        "tx-open-at-disconnect-aborted", false, transactions::open_at_disconnect, "BEGIN: transactions open at DISCONNECT are aborted";
        "receipt-send", false, receipts::send, "Header receipt: SEND";
        "receipt-subscribe", false, receipts::subscribe, "Header receipt: SUBSCRIBE";
        "receipt-unsubscribe", false, receipts::unsubscribe, "Header receipt: UNSUBSCRIBE";
        "receipt-ack-nack", false, receipts::ack_nack, "Header receipt: ACK and NACK";
        "receipt-begin-commit-abort", false, receipts::begin_commit_abort, "Header receipt: BEGIN, COMMIT, ABORT";
        "receipt-disconnect-then-close", false, receipts::disconnect, "DISCONNECT: RECEIPT, then the server closes";
        "error-message-header", false, errors::message_header, "ERROR: SHOULD have a message header";
        "error-receipt-id", false, errors::receipt_id, "ERROR: receipt-id when the bad frame had a receipt";
        "error-then-close", false, errors::then_close, "ERROR: the server MUST close the connection after it";
        "error-send-without-destination", false, errors::send_without_destination, "SEND: destination is REQUIRED";
        "error-unknown-command", false, errors::unknown_command, "Client Frames: FOO is not a command";
        "error-lowercase-command", false, errors::lowercase_command, "Frames: commands are case-sensitive";
        "queue-kept-for-later-subscriber", false, queue::kept_for_later_subscriber, "/queue: a message with no consumer waits for one";
        "queue-round-robin", false, queue::round_robin, "/queue: competing consumers share the messages";
        "queue-unacked-redelivered-on-disconnect", false, queue::unacked_redelivered_on_disconnect, "/queue: unacked messages go back with redelivered:true";
        "queue-acked-not-redelivered", false, queue::acked_not_redelivered, "/queue: an acked message is gone";
        "topic-fan-out", false, topic::fan_out, "/topic: every subscriber gets each message";
        "topic-no-history", false, topic::no_history, "/topic: a late subscriber gets no earlier messages";
        "websocket-subprotocol", true, websocket::subprotocol, "STOMP over WebSocket: the server picks one of v12.stomp, v11.stomp, v10.stomp";
        "websocket-frame-over-several-messages", true, websocket::frame_over_several_messages, "STOMP over WebSocket: a frame may span messages";
        "websocket-several-frames-one-message", true, websocket::several_frames_one_message, "STOMP over WebSocket: a message may hold several frames";
        "websocket-binary-message", true, websocket::binary_message, "STOMP over WebSocket: frames in binary messages";
        "limits-oversize-body-error", false, limits::oversize_body, "Size Limits: a frame over the server's limit -> ERROR, close";
        "limits-too-many-headers-error", false, limits::too_many_headers, "Size Limits: too many headers -> ERROR, close";
        "limits-long-header-line-error", false, limits::long_header_line, "Size Limits: an over-long header -> ERROR, close";
    }
}

/// A frame written by hand, so cases control every byte: headers are taken
/// as already escaped, `eol` is `"\n"` or `"\r\n"`, and no content-length is
/// added.
pub fn raw_frame(command: &str, headers: &[(&str, &str)], body: &[u8], eol: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 + body.len());
    bytes.extend_from_slice(command.as_bytes());
    bytes.extend_from_slice(eol.as_bytes());
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(b':');
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(eol.as_bytes());
    }
    bytes.extend_from_slice(eol.as_bytes());
    bytes.extend_from_slice(body);
    bytes.push(0);
    bytes
}
