//! Where one chat subscription stands in each of its conversations, so it
//! sees every message exactly once and in seq order: live messages that are
//! next go straight out, older ones are dropped as duplicates, and newer
//! ones (a gap: a replay still running, a lost bus message) mark the
//! conversation as behind, to be read from the store in order.
//!
//! Pure state, no I/O: the session asks [`Feed::behind`] what to fetch and
//! reports what it delivered.

use std::collections::{BTreeSet, HashMap};

/// What to do with a live message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// It is the next one: deliver it now.
    Deliver,
    /// Already delivered (or replayed): drop it.
    Duplicate,
    /// Earlier messages are missing: drop it; it is fetched in order later.
    Behind,
}

#[derive(Clone, Copy, Debug, Default)]
struct Position {
    /// The next seq to deliver.
    next: i64,
    /// The highest seq known to exist.
    known: i64,
}

/// One subscription's positions.
#[derive(Debug, Default)]
pub struct Feed {
    positions: HashMap<String, Position>,
}

impl Feed {
    /// Starts a conversation after `delivered` (everything up to it is
    /// delivered or not wanted) with `head` its last seq now.
    pub fn start(&mut self, conversation: &str, delivered: i64, head: i64) {
        self.positions.insert(
            conversation.to_owned(),
            Position {
                next: delivered.max(0) + 1,
                known: head.max(delivered),
            },
        );
    }

    /// A live message with `seq` in `conversation`. A conversation the feed
    /// has not seen began after the subscription, so it starts at 1.
    pub fn offer(&mut self, conversation: &str, seq: i64) -> Offer {
        let position = self
            .positions
            .entry(conversation.to_owned())
            .or_insert(Position { next: 1, known: 0 });
        position.known = position.known.max(seq);
        if seq < position.next {
            Offer::Duplicate
        } else if seq == position.next && position.known == seq {
            position.next += 1;
            Offer::Deliver
        } else {
            Offer::Behind
        }
    }

    /// A live message that cannot go out now (the subscription's prefetch
    /// is full): remember it exists, to fetch it in order later.
    pub fn defer(&mut self, conversation: &str, seq: i64) {
        let position = self
            .positions
            .entry(conversation.to_owned())
            .or_insert(Position { next: 1, known: 0 });
        position.known = position.known.max(seq);
    }

    /// Whether any conversation has messages waiting to be fetched.
    pub fn is_behind(&self) -> bool {
        self.positions.values().any(|p| p.next <= p.known)
    }

    /// Conversations with known messages not yet delivered, as
    /// (conversation, last delivered, last known).
    pub fn behind(&self) -> Vec<(String, i64, i64)> {
        let mut behind: Vec<_> = self
            .positions
            .iter()
            .filter(|(_, p)| p.next <= p.known)
            .map(|(c, p)| (c.clone(), p.next - 1, p.known))
            .collect();
        behind.sort();
        behind
    }

    /// Records a message delivered from the store; `false` when it is not
    /// the next one (the caller drops it).
    pub fn replayed(&mut self, conversation: &str, seq: i64) -> bool {
        match self.positions.get_mut(conversation) {
            Some(position) if seq == position.next => {
                position.next += 1;
                true
            }
            Some(position) if seq > position.next => {
                // Missing from the store (purged by retention): go on.
                position.next = seq + 1;
                position.known = position.known.max(seq);
                true
            }
            _ => false,
        }
    }

    /// The store has nothing more up to `up_to`: stop waiting for it.
    pub fn caught_up(&mut self, conversation: &str, up_to: i64) {
        if let Some(position) = self.positions.get_mut(conversation) {
            position.next = position.next.max(up_to + 1);
        }
    }
}

/// A device's delivered cursor in one conversation: the highest seq below
/// which every message sent to it is acknowledged. Individual acks may come
/// out of order; the cursor moves only over a contiguous prefix.
#[derive(Debug, Default)]
pub struct Cursor {
    outstanding: BTreeSet<i64>,
    highest_sent: i64,
    cursor: i64,
}

impl Cursor {
    pub fn at(cursor: i64) -> Cursor {
        Cursor {
            outstanding: BTreeSet::new(),
            highest_sent: cursor,
            cursor,
        }
    }

    pub fn sent(&mut self, seq: i64) {
        self.outstanding.insert(seq);
        self.highest_sent = self.highest_sent.max(seq);
    }

    /// Marks `seq` acknowledged; returns the new cursor when it moved.
    pub fn acked(&mut self, seq: i64) -> Option<i64> {
        self.outstanding.remove(&seq);
        let candidate = match self.outstanding.first() {
            Some(first) => first - 1,
            None => self.highest_sent,
        };
        (candidate > self.cursor).then(|| {
            self.cursor = candidate;
            candidate
        })
    }

    pub fn value(&self) -> i64 {
        self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_messages_in_order_go_straight_out() {
        let mut feed = Feed::default();
        feed.start("g1", 3, 3);
        assert_eq!(feed.offer("g1", 4), Offer::Deliver);
        assert_eq!(feed.offer("g1", 5), Offer::Deliver);
        assert_eq!(feed.offer("g1", 5), Offer::Duplicate);
        assert_eq!(feed.offer("g1", 2), Offer::Duplicate);
        assert!(feed.behind().is_empty());
    }

    #[test]
    fn a_gap_waits_for_the_store_then_live_resumes() {
        let mut feed = Feed::default();
        feed.start("g1", 3, 3);
        assert_eq!(feed.offer("g1", 6), Offer::Behind);
        assert_eq!(feed.offer("g1", 7), Offer::Behind);
        assert_eq!(feed.behind(), [("g1".to_owned(), 3, 7)]);
        for seq in 4..=7 {
            assert!(feed.replayed("g1", seq));
        }
        assert!(feed.behind().is_empty());
        assert_eq!(feed.offer("g1", 7), Offer::Duplicate);
        assert_eq!(feed.offer("g1", 8), Offer::Deliver);
    }

    #[test]
    fn replay_then_live_has_no_seam() {
        let mut feed = Feed::default();
        feed.start("u1-2", 2, 5);
        // Live messages during the replay are behind, not delivered early.
        assert_eq!(feed.offer("u1-2", 6), Offer::Behind);
        assert_eq!(feed.behind(), [("u1-2".to_owned(), 2, 6)]);
        for seq in 3..=6 {
            assert!(feed.replayed("u1-2", seq));
        }
        assert!(!feed.replayed("u1-2", 6), "a repeat is refused");
        assert_eq!(feed.offer("u1-2", 7), Offer::Deliver);
    }

    #[test]
    fn new_conversations_start_at_one() {
        let mut feed = Feed::default();
        assert_eq!(feed.offer("u1-9", 1), Offer::Deliver);
        assert_eq!(feed.offer("u3-9", 2), Offer::Behind);
        assert_eq!(feed.behind(), [("u3-9".to_owned(), 0, 2)]);
        feed.caught_up("u3-9", 2);
        assert!(feed.behind().is_empty());
    }

    #[test]
    fn purged_messages_are_skipped() {
        let mut feed = Feed::default();
        feed.start("g1", 0, 10);
        assert!(feed.replayed("g1", 8));
        assert_eq!(feed.behind(), [("g1".to_owned(), 8, 10)]);
    }

    #[test]
    fn cursor_moves_over_contiguous_acks_only() {
        let mut cursor = Cursor::at(10);
        for seq in 11..=14 {
            cursor.sent(seq);
        }
        assert_eq!(cursor.acked(12), None);
        assert_eq!(cursor.acked(11), Some(12));
        assert_eq!(cursor.acked(14), None);
        assert_eq!(cursor.acked(13), Some(14));
        assert_eq!(cursor.value(), 14);
        assert_eq!(cursor.acked(14), None);
    }
}
