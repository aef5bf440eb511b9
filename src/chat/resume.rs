//! Where a chat subscription starts in each conversation: from the
//! client's own position (`since`, `since-seq`), else from the device's
//! delivered cursor, else, for a device never seen before (or a client
//! that names no device), from the last `replay_last` messages.

use std::collections::HashMap;

use herald_storage::{DeadLetter, StoreError, StoredMessage, UserId};

use super::{Channel, Chat, ChatError, Conversation};

/// One conversation's starting point: everything up to `delivered` is
/// skipped; `head` is its last seq now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub conversation: String,
    pub delivered: i64,
    pub head: i64,
}

/// Which device is subscribing, as CONNECT said.
#[derive(Clone, Copy, Debug)]
pub struct Device<'a> {
    pub id: Option<&'a str>,
    /// Seen for the first time at this CONNECT.
    pub new: bool,
}

impl Chat {
    /// Records a device at CONNECT; true when it was never seen before.
    pub async fn register_device(&self, user: UserId, device: &str) -> Result<bool, StoreError> {
        self.cursors.register_device(user, device).await
    }

    /// The starting points of a subscription to `channel`. `since` is the
    /// `/user` resume header (`u1-2=15,s1=4`), `since_seq` the `/group` one.
    pub async fn starts(
        &self,
        user: UserId,
        device: Device<'_>,
        channel: Channel,
        since: Option<&str>,
        since_seq: Option<&str>,
    ) -> Result<Vec<Start>, ChatError> {
        let heads: Vec<(String, i64)> = match channel {
            Channel::Inbox(_) => self
                .log
                .conversations(user)
                .await?
                .into_iter()
                .map(|head| (head.conversation, head.last_seq))
                .collect(),
            Channel::Group(group) => {
                let id = Conversation::Group(group).id();
                let last = self.log.last_seq(&id).await?;
                vec![(id, last)]
            }
        };
        let mut given: HashMap<String, i64> = match (channel, since, since_seq) {
            (Channel::Inbox(_), Some(since), _) => parse_since(since)?,
            (Channel::Group(group), _, Some(seq)) => {
                let seq = seq
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|seq| *seq >= 0)
                    .ok_or_else(|| ChatError::Invalid(format!("since-seq {seq:?} is not a seq")))?;
                HashMap::from([(Conversation::Group(group).id(), seq)])
            }
            _ => HashMap::new(),
        };
        let cursors: HashMap<String, i64> = match device {
            Device {
                id: Some(id),
                new: false,
            } => self
                .cursors
                .delivered(user, id)
                .await?
                .into_iter()
                .collect(),
            _ => HashMap::new(),
        };
        let known_device = device.id.is_some() && !device.new;
        let replay_last = i64::from(self.settings.replay_last);
        Ok(heads
            .into_iter()
            .map(|(conversation, head)| {
                let delivered = match given.remove(&conversation) {
                    Some(seq) => seq,
                    None if known_device => cursors.get(&conversation).copied().unwrap_or(0),
                    None => (head - replay_last).max(0),
                };
                Start {
                    conversation,
                    delivered: delivered.min(head),
                    head,
                }
            })
            .collect())
    }

    /// Up to `limit` stored messages after `after_seq`, for replay and gaps.
    pub async fn fetch(
        &self,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.log.after(conversation, after_seq, limit).await
    }

    /// Remembers a device's new delivered cursor (in the background: it is
    /// an optimisation for the next resume, and the store group-commits it).
    pub fn persist_delivered(&self, user: UserId, device: &str, conversation: &str, seq: i64) {
        let cursors = self.cursors.clone();
        let (device, conversation) = (device.to_owned(), conversation.to_owned());
        tokio::spawn(async move {
            if let Err(error) = cursors
                .advance_delivered(user, &device, &conversation, seq)
                .await
            {
                tracing::warn!(%error, "delivered cursor not stored");
            }
        });
    }

    /// Moves a message that was never acknowledged to the dead-letter store.
    pub fn dead_letter(&self, letter: DeadLetter) {
        crate::metrics::Metrics::inc(&self.metrics.dead_letters_total);
        let store = self.dead_letters.clone();
        tokio::spawn(async move {
            if let Err(error) = store.dead_letter(letter).await {
                tracing::warn!(%error, "dead letter not stored");
            }
        });
    }
}

/// `u1-2=15,s1=4` into conversation -> seq.
fn parse_since(text: &str) -> Result<HashMap<String, i64>, ChatError> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (conversation, seq) = part.split_once('=').unwrap_or((part, ""));
            let seq = seq.trim().parse::<i64>().ok().filter(|seq| *seq >= 0);
            match (Conversation::parse(conversation.trim()), seq) {
                (Some(parsed), Some(seq)) => Ok((parsed.id(), seq)),
                _ => Err(ChatError::Invalid(format!(
                    "since entry {part:?} is not conversation=seq (e.g. since: u1-2=15,s1=4)"
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_header_parses_and_refuses_garbage() {
        let parsed = parse_since("u1-2=15, s1=4,").unwrap();
        assert_eq!(parsed.get("u1-2"), Some(&15));
        assert_eq!(parsed.get("s1"), Some(&4));
        assert!(parse_since("u2-1=3").is_err());
        assert!(parse_since("g1=x").is_err());
        assert!(parse_since("g1").is_err());
    }
}
