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

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(send_ms: u64, receive_ms: u64) -> HeartBeat {
        HeartBeat {
            send_ms,
            receive_ms,
        }
    }

    #[test]
    fn parse_reads_two_integers() {
        assert_eq!(HeartBeat::parse("1000,2000"), Some(beat(1000, 2000)));
        assert_eq!(HeartBeat::parse(" 0 , 5 "), Some(beat(0, 5)));
    }

    #[test]
    fn parse_rejects_malformed_values() {
        for value in ["", "1000", "a,b", "1,2,3", "-1,0", "1;2"] {
            assert_eq!(HeartBeat::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn header_value_round_trips() {
        let value = beat(10_000, 0).header_value();
        assert_eq!(value, "10000,0");
        assert_eq!(HeartBeat::parse(&value), Some(beat(10_000, 0)));
    }

    #[test]
    fn negotiation_takes_the_larger_interval_each_way() {
        // client can send every 1s and wants every 5s; server 10s / 3s
        let negotiated = negotiate(beat(1_000, 5_000), beat(10_000, 3_000), 0);
        assert_eq!(negotiated.server_send_ms, 10_000);
        assert_eq!(negotiated.server_receive_ms, 3_000);
    }

    #[test]
    fn negotiation_zero_on_either_side_disables_that_direction() {
        let negotiated = negotiate(beat(0, 5_000), beat(10_000, 3_000), 0);
        assert_eq!(negotiated.server_receive_ms, 0);
        assert_eq!(negotiated.server_send_ms, 10_000);
        let negotiated = negotiate(beat(1_000, 5_000), beat(0, 3_000), 0);
        assert_eq!(negotiated.server_send_ms, 0);
        assert_eq!(negotiated.server_receive_ms, 3_000);
    }

    #[test]
    fn negotiation_all_zeros_means_no_heart_beats() {
        assert_eq!(
            negotiate(beat(0, 0), beat(0, 0), 1_000),
            Negotiated::default()
        );
        assert_eq!(
            negotiate(HeartBeat::default(), beat(10_000, 10_000), 1_000),
            Negotiated::default()
        );
    }

    #[test]
    fn negotiation_raises_small_intervals_to_the_floor() {
        let negotiated = negotiate(beat(1, 1), beat(5, 5), 1_000);
        assert_eq!(
            negotiated,
            Negotiated {
                server_send_ms: 1_000,
                server_receive_ms: 1_000,
            }
        );
    }

    #[test]
    fn negotiation_floor_does_not_enable_a_disabled_direction() {
        let negotiated = negotiate(beat(0, 1), beat(0, 5), 1_000);
        assert_eq!(negotiated, Negotiated::default());
    }
}
