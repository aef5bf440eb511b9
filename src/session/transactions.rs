//! Open transactions of one session: frames held back until COMMIT.

use std::collections::HashMap;

use herald_protocol::Frame;

use super::error::{ErrorReason, Refusal};

/// Most frames one transaction may hold, so a client cannot buffer without
/// bound inside a transaction that it never commits.
const MAX_FRAMES: usize = 10_000;
/// Most transactions open at once on one connection.
const MAX_OPEN: usize = 64;

#[derive(Default)]
pub struct Transactions {
    open: HashMap<String, Vec<Frame>>,
}

impl Transactions {
    pub fn begin(&mut self, id: &str) -> Result<(), Refusal> {
        if self.open.contains_key(id) {
            return Err(Refusal::new(format!("transaction {id} is already open")));
        }
        if self.open.len() >= MAX_OPEN {
            return Err(
                Refusal::new(format!("too many open transactions (limit {MAX_OPEN})"))
                    .because(ErrorReason::Limit),
            );
        }
        self.open.insert(id.to_owned(), Vec::new());
        Ok(())
    }

    /// Holds a SEND, ACK or NACK until its transaction commits.
    pub fn hold(&mut self, id: &str, frame: Frame) -> Result<(), Refusal> {
        let frames = self
            .open
            .get_mut(id)
            .ok_or_else(|| Refusal::new(format!("transaction {id} is not open")))?;
        if frames.len() >= MAX_FRAMES {
            return Err(Refusal::new(format!(
                "transaction {id} holds too many frames (limit {MAX_FRAMES})"
            ))
            .because(ErrorReason::Limit));
        }
        frames.push(frame);
        Ok(())
    }

    /// Ends the transaction, returning its frames in the order received.
    pub fn commit(&mut self, id: &str) -> Result<Vec<Frame>, Refusal> {
        self.open
            .remove(id)
            .ok_or_else(|| Refusal::new(format!("transaction {id} is not open")))
    }

    pub fn abort(&mut self, id: &str) -> Result<(), Refusal> {
        self.open
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| Refusal::new(format!("transaction {id} is not open")))
    }

    /// Aborts everything still open (DISCONNECT or a dropped connection).
    pub fn abort_all(&mut self) {
        self.open.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::Command;

    #[test]
    fn commit_returns_frames_in_order() {
        let mut transactions = Transactions::default();
        transactions.begin("t").unwrap();
        transactions
            .hold("t", Frame::new(Command::Send).header("n", "1"))
            .unwrap();
        transactions
            .hold("t", Frame::new(Command::Ack).header("n", "2"))
            .unwrap();
        let frames = transactions.commit("t").unwrap();
        assert_eq!(
            frames
                .iter()
                .map(|f| f.get("n").unwrap())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert!(transactions.commit("t").is_err());
    }

    #[test]
    fn unknown_and_duplicate_transactions_are_refused() {
        let mut transactions = Transactions::default();
        assert!(transactions.hold("x", Frame::new(Command::Send)).is_err());
        assert!(transactions.abort("x").is_err());
        transactions.begin("x").unwrap();
        assert!(transactions.begin("x").is_err());
        transactions.abort("x").unwrap();
        assert!(transactions.commit("x").is_err());
    }
}
