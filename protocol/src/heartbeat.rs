//! Heart-beat negotiation, as STOMP 1.2 "Heart-beating" defines it.

/// A `heart-beat` header value: `cx,cy` in milliseconds. `0` means "cannot
/// send" (first) or "does not want to receive" (second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartBeat {
    pub send_ms: u64,
    pub receive_ms: u64,
}

impl HeartBeat {
    /// Parses `"cx,cy"`; `None` when it is not two comma-separated integers.
    pub fn parse(value: &str) -> Option<HeartBeat> {
        let (send, receive) = value.split_once(',')?;
        Some(HeartBeat {
            send_ms: send.trim().parse().ok()?,
            receive_ms: receive.trim().parse().ok()?,
        })
    }

    /// The header value, `"cx,cy"`.
    pub fn header_value(self) -> String {
        format!("{},{}", self.send_ms, self.receive_ms)
    }
}

/// The intervals the server settles on for one connection, in milliseconds;
/// `0` means "none in that direction".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// How often the server must send something.
    pub server_send_ms: u64,
    /// How often the server expects something from the client.
    pub server_receive_ms: u64,
}

/// Negotiates heart-beats between the client's CONNECT header and the
/// server's own wish.
///
/// The spec: the server sends every `max(sx, cy)` ms when neither is 0, and
/// expects from the client every `max(cx, sy)` ms when neither is 0. A
/// non-zero interval under `floor_ms` is raised to `floor_ms`, so a client
/// cannot make the broker wake up thousands of times a second.
pub fn negotiate(client: HeartBeat, server: HeartBeat, floor_ms: u64) -> Negotiated {
    let pick = |ours: u64, theirs: u64| {
        if ours == 0 || theirs == 0 {
            0
        } else {
            ours.max(theirs).max(floor_ms)
        }
    };
    Negotiated {
        server_send_ms: pick(server.send_ms, client.receive_ms),
        server_receive_ms: pick(server.receive_ms, client.send_ms),
    }
}
