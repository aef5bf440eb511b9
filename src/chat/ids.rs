//! Identifiers of chat: Snowflake message ids and conversation ids.
//!
//! A Snowflake id is 41 bits of milliseconds since 2024-01-01, 10 bits of
//! node id (from config, unique per node) and 12 bits of sequence within
//! the millisecond: time-ordered, unique across nodes, and an `i64` that
//! every store indexes well.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z in unix milliseconds.
const EPOCH_MS: i64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;

/// Generates Snowflake ids for one node.
pub struct Snowflake {
    node: i64,
    /// (last millisecond, sequence within it). A std Mutex: held for a few
    /// arithmetic operations, never across an await.
    state: Mutex<(i64, i64)>,
}

impl Snowflake {
    pub fn new(node: u16) -> Snowflake {
        Snowflake {
            node: i64::from(node.min(MAX_NODE)),
            state: Mutex::new((0, 0)),
        }
    }

    pub fn next(&self) -> i64 {
        let mut state = self.state.lock().expect("poisoned");
        let mut now = now_ms() - EPOCH_MS;
        // Never go backwards, even if the wall clock does.
        if now < state.0 {
            now = state.0;
        }
        if now == state.0 {
            state.1 += 1;
            if state.1 >= 1 << SEQUENCE_BITS {
                // 4096 ids in one millisecond: borrow the next millisecond.
                now += 1;
                state.1 = 0;
            }
        } else {
            state.1 = 0;
        }
        state.0 = now;
        (now << (NODE_BITS + SEQUENCE_BITS)) | (self.node << SEQUENCE_BITS) | state.1
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A conversation: a private chat, a group, or a user's system events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Conversation {
    /// Between two users, smaller id first.
    Private(i64, i64),
    Group(i64),
    /// Friend and group events for one user.
    System(i64),
}

impl Conversation {
    pub fn private(a: i64, b: i64) -> Conversation {
        Conversation::Private(a.min(b), a.max(b))
    }

    /// `u{a}-{b}`, `g{id}` or `s{id}`, as in the `conversation` header.
    pub fn id(&self) -> String {
        match self {
            Conversation::Private(a, b) => format!("u{a}-{b}"),
            Conversation::Group(id) => format!("g{id}"),
            Conversation::System(id) => format!("s{id}"),
        }
    }

    pub fn parse(text: &str) -> Option<Conversation> {
        let number = |s: &str| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && s.bytes().all(|b| b.is_ascii_digit()))
        };
        match text.split_at_checked(1)? {
            ("u", rest) => {
                let (a, b) = rest.split_once('-')?;
                let (a, b) = (number(a)?, number(b)?);
                (a < b).then_some(Conversation::Private(a, b))
            }
            ("g", rest) => number(rest).map(Conversation::Group),
            ("s", rest) => number(rest).map(Conversation::System),
            _ => None,
        }
    }

    /// Whether `user` takes part in it (groups need the directory).
    pub fn involves(&self, user: i64) -> bool {
        match self {
            Conversation::Private(a, b) => *a == user || *b == user,
            Conversation::System(owner) => *owner == user,
            Conversation::Group(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_increase_and_carry_the_node() {
        let ids = Snowflake::new(5);
        let mut last = 0;
        for _ in 0..10_000 {
            let id = ids.next();
            assert!(id > last);
            assert_eq!((id >> SEQUENCE_BITS) & i64::from(MAX_NODE), 5);
            last = id;
        }
        assert_ne!(Snowflake::new(6).next() >> SEQUENCE_BITS & 0x3ff, 5);
    }

    #[test]
    fn conversation_ids_round_trip() {
        for conversation in [
            Conversation::private(9, 2),
            Conversation::Group(7),
            Conversation::System(3),
        ] {
            assert_eq!(Conversation::parse(&conversation.id()), Some(conversation));
        }
        assert_eq!(Conversation::private(9, 2).id(), "u2-9");
    }

    #[test]
    fn bad_conversation_ids_are_refused() {
        for bad in [
            "", "u", "u2-1", "u1-1", "u1-", "g", "g-1", "gx", "s0", "x1", "u+1-2", "g 1",
        ] {
            assert_eq!(Conversation::parse(bad), None, "{bad:?}");
        }
    }
}
