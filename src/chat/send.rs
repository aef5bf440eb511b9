//! A SEND to a chat destination, by `kind`: `message` (stored, sequenced,
//! deduplicated by `client-msg-id`), `typing` (live, rate limited, dropped
//! silently beyond the rate), `read` (moves the reader's read cursor) and
//! `recall` (withdraws a recent message).

use bytes::Bytes;
use herald_protocol::Headers;
use herald_storage::{NewMessage, StoredMessage, UserId, RECALLED_KIND};

use super::frames::{files_of, mentions_of, notice, stored_message};
use super::ids::now_ms;
use super::{rules, Channel, Chat, ChatError, Conversation, Sent};
use crate::auth::Principal;

impl Chat {
    /// A SEND to `/user/{id}` or `/group/{id}`. `headers` are the client's,
    /// with the broker's own already stripped.
    pub async fn send(
        &self,
        principal: &Principal,
        channel: Channel,
        headers: Headers,
        body: Bytes,
    ) -> Result<Sent, ChatError> {
        let me = principal.user_id;
        let kind = headers.get("kind").unwrap_or("message").to_owned();
        if kind == "typing" {
            let conversation = self.may_write(me, channel).await?;
            if self
                .allowed("typing", me, &self.typing, self.settings.typing_per_second)
                .await
            {
                let message = notice(
                    channel,
                    self.ids.next(),
                    &conversation.id(),
                    me,
                    "typing",
                    &[],
                    Bytes::new(),
                );
                self.fan_out(channel, me, &message);
            }
            return Ok(Sent::default());
        }
        if !self
            .allowed("send", me, &self.sends, self.settings.sends_per_second)
            .await
        {
            return Err(ChatError::refused(
                "send-rate",
                format!(
                    "more than {} chat frames per second",
                    self.settings.sends_per_second
                ),
            ));
        }
        match kind.as_str() {
            "message" => {
                let conversation = self.may_write(me, channel).await?;
                self.message(me, channel, conversation, headers, body).await
            }
            "read" => self.read(me, channel, &headers).await,
            "recall" => self.recall(me, channel, &headers).await,
            other => Err(unsupported_kind(other)),
        }
    }

    /// What [`Chat::send`] would refuse for the frame itself and its
    /// sender's rights, without sending anything: a SEND held in a
    /// transaction is checked when it arrives, so that a COMMIT does not
    /// stop half-way on a refusal it could have known of. (Rate limits and
    /// the store are only known at COMMIT.)
    pub async fn check(
        &self,
        principal: &Principal,
        channel: Channel,
        headers: &Headers,
        body: &[u8],
    ) -> Result<(), ChatError> {
        let me = principal.user_id;
        match headers.get("kind").unwrap_or("message") {
            "typing" => self.may_write(me, channel).await.map(drop),
            "message" => {
                let conversation = self.may_write(me, channel).await?;
                self.check_message(me, &conversation, body).await.map(drop)
            }
            "read" | "recall" => self.participant(me, channel).await.map(drop),
            other => Err(unsupported_kind(other)),
        }
    }

    /// A chat message's body: within the size limit, and sharing only
    /// files its sender may share there. Returns the files it shares.
    async fn check_message(
        &self,
        me: UserId,
        conversation: &Conversation,
        body: &[u8],
    ) -> Result<Vec<String>, ChatError> {
        if body.len() > self.settings.max_message_bytes {
            return Err(ChatError::Invalid(format!(
                "chat message body is {} bytes; chat.max_message_bytes is {}",
                body.len(),
                self.settings.max_message_bytes
            )));
        }
        let files = files_of(body);
        for file in &files {
            self.may_share(me, file, conversation).await?;
        }
        Ok(files)
    }

    /// Counts one `kind` event of `user` against the limit, shared by every
    /// node in a cluster (this node's own count if the cluster is down).
    async fn allowed(
        &self,
        kind: &str,
        user: UserId,
        local: &super::limits::RateLimit,
        per_second: u32,
    ) -> bool {
        match self.cluster() {
            None => local.allow(user),
            Some(cluster) => match cluster
                .shared
                .rate(&format!("{kind}:{user}"), per_second)
                .await
            {
                Ok(allowed) => allowed,
                Err(_) => local.allow(user),
            },
        }
    }

    /// The conversation `me` may write to through `channel`.
    async fn may_write(&self, me: UserId, channel: Channel) -> Result<Conversation, ChatError> {
        match channel {
            Channel::Inbox(target) => {
                rules::may_message(self.directory.as_ref(), me, target, self.allow_strangers)
                    .await?;
                Ok(Conversation::private(me, target))
            }
            Channel::Group(group) => {
                rules::may_send_to_group(self.directory.as_ref(), me, group).await?;
                Ok(Conversation::Group(group))
            }
        }
    }

    /// The conversation `me` takes part in through `channel` (read and
    /// recall need no friendship, only participation).
    async fn participant(&self, me: UserId, channel: Channel) -> Result<Conversation, ChatError> {
        match channel {
            Channel::Inbox(target) if target != me => Ok(Conversation::private(me, target)),
            Channel::Inbox(_) => Err(ChatError::refused(
                "user-send-self",
                "a user has no conversation with themself",
            )),
            Channel::Group(group) => {
                rules::may_read_group(self.directory.as_ref(), me, group).await?;
                Ok(Conversation::Group(group))
            }
        }
    }

    async fn message(
        &self,
        me: UserId,
        channel: Channel,
        conversation: Conversation,
        headers: Headers,
        body: Bytes,
    ) -> Result<Sent, ChatError> {
        let files = self.check_message(me, &conversation, &body).await?;
        let client_msg_id = headers.get("client-msg-id").map(str::to_owned);
        let participants = match conversation {
            Conversation::Private(a, b) => vec![a, b],
            _ => Vec::new(),
        };
        let message = NewMessage {
            conversation: conversation.id(),
            message_id: self.ids.next(),
            sender: me,
            kind: "message".to_owned(),
            headers: headers
                .iter()
                .filter(|(name, _)| *name != "kind")
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            mentions: mentions_of(&body),
            body,
            created_at: now_ms(),
            client_msg_id,
            participants,
            files,
        };
        let (stored, _duplicate) = self
            .append_and_deliver(message, |stored| {
                self.fan_out(channel, me, &stored_message(channel, stored))
            })
            .await?;
        // The sender has read their own message.
        let cursors = self.cursors.clone();
        let (id, seq) = (stored.conversation.clone(), stored.seq);
        tokio::spawn(async move {
            if let Err(error) = cursors.advance_read(me, &id, seq).await {
                tracing::warn!(%error, "read cursor not advanced");
            }
        });
        Ok(receipt(&stored))
    }

    /// A file may be sent by its uploader, or onward within a conversation
    /// it was already shared to.
    async fn may_share(
        &self,
        me: UserId,
        file: &str,
        conversation: &Conversation,
    ) -> Result<(), ChatError> {
        let record = self.files.file(file).await?;
        let allowed = match record {
            Some(record) if record.uploader == me => true,
            Some(_) => self
                .files
                .file_shared_with(file)
                .await?
                .contains(&conversation.id()),
            None => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(ChatError::refused(
                "file-access",
                format!("there is no file {file} you may send"),
            ))
        }
    }

    /// `kind:read` with header `seq`: everything up to `seq` is read. The
    /// reader's other devices hear it, and so does the other side of a
    /// private chat unless either has blocked the other.
    async fn read(
        &self,
        me: UserId,
        channel: Channel,
        headers: &Headers,
    ) -> Result<Sent, ChatError> {
        let conversation = self.participant(me, channel).await?;
        let seq: i64 = headers
            .get("seq")
            .and_then(|s| s.parse().ok())
            .filter(|seq| *seq > 0)
            .ok_or_else(|| ChatError::Invalid("kind read needs a positive seq header".into()))?;
        let id = conversation.id();
        let last = self.log.last_seq(&id).await?;
        let seq = seq.min(last);
        if seq > 0 && self.cursors.advance_read(me, &id, seq).await? {
            let extra = [("seq", seq.to_string())];
            // The reader's own position moves either way; the peer is not
            // told across a block, as no other SEND reaches them then.
            let peer = match channel {
                Channel::Inbox(peer) if !self.blocked_between(me, peer).await? => Some(peer),
                _ => None,
            };
            if let Some(peer) = peer {
                let to_peer = notice(
                    Channel::Inbox(peer),
                    self.ids.next(),
                    &id,
                    me,
                    "read",
                    &extra,
                    Bytes::new(),
                );
                self.deliver(Channel::Inbox(peer), &to_peer);
            }
            let to_me = notice(
                Channel::Inbox(me),
                self.ids.next(),
                &id,
                me,
                "read",
                &extra,
                Bytes::new(),
            );
            self.deliver(Channel::Inbox(me), &to_me);
        }
        Ok(Sent::default())
    }

    /// Whether either of two users has blocked the other.
    async fn blocked_between(&self, a: UserId, b: UserId) -> Result<bool, ChatError> {
        Ok(self.directory.is_blocked(a, b).await? || self.directory.is_blocked(b, a).await?)
    }

    /// `kind:recall` with header `recall-id`: the sender (or a group owner
    /// or admin) withdraws a message within the recall window. The content
    /// is erased from the store and a stored `kind:recall` tells everyone.
    async fn recall(
        &self,
        me: UserId,
        channel: Channel,
        headers: &Headers,
    ) -> Result<Sent, ChatError> {
        let conversation = self.participant(me, channel).await?;
        let recall_id: i64 = headers
            .get("recall-id")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                ChatError::Invalid("kind recall needs a recall-id header (the message-id)".into())
            })?;
        let id = conversation.id();
        let window_ms = self.settings.recall_window_secs.saturating_mul(1000) as i64;
        let target = self
            .find_recent(&id, recall_id, now_ms() - window_ms)
            .await?
            .ok_or_else(|| {
                ChatError::refused(
                    "recall-window",
                    format!(
                        "message {recall_id} is not in {id} or is older than {}s",
                        self.settings.recall_window_secs
                    ),
                )
            })?;
        if target.kind == RECALLED_KIND {
            return Err(ChatError::Invalid(format!(
                "message {recall_id} is already recalled"
            )));
        }
        let allowed = target.sender == me
            || match conversation {
                Conversation::Group(group) => self
                    .directory
                    .member(group, me)
                    .await?
                    .is_some_and(|member| member.role.is_manager()),
                _ => false,
            };
        if !allowed {
            return Err(ChatError::refused(
                "recall-owner",
                "only the sender, or a group's owner and admins, may recall a message",
            ));
        }
        self.log.recall(&id, target.seq).await?;
        let participants = match conversation {
            Conversation::Private(a, b) => vec![a, b],
            _ => Vec::new(),
        };
        let notice = NewMessage {
            conversation: id,
            message_id: self.ids.next(),
            sender: me,
            kind: "recall".to_owned(),
            headers: vec![
                ("recall-id".to_owned(), recall_id.to_string()),
                ("recall-seq".to_owned(), target.seq.to_string()),
            ],
            body: Bytes::new(),
            created_at: now_ms(),
            client_msg_id: None,
            participants,
            mentions: Vec::new(),
            files: Vec::new(),
        };
        let (stored, _) = self
            .append_and_deliver(notice, |stored| {
                self.fan_out(channel, me, &stored_message(channel, stored))
            })
            .await?;
        Ok(receipt(&stored))
    }

    /// The message with `message_id` among the conversation's messages newer
    /// than `since_ms` (recall only reaches that far back, so a short scan
    /// from the newest end finds it).
    async fn find_recent(
        &self,
        conversation: &str,
        message_id: i64,
        since_ms: i64,
    ) -> Result<Option<StoredMessage>, ChatError> {
        let mut before = i64::MAX;
        loop {
            let page = self.log.before(conversation, before, 100).await?;
            if page.is_empty() {
                return Ok(None);
            }
            for message in page.iter().rev() {
                if message.message_id == message_id {
                    return Ok((message.created_at >= since_ms).then(|| message.clone()));
                }
                if message.created_at < since_ms {
                    return Ok(None);
                }
            }
            before = page[0].seq;
        }
    }
}

fn receipt(stored: &StoredMessage) -> Sent {
    Sent {
        receipt_headers: vec![
            ("message-id", stored.message_id.to_string()),
            ("seq", stored.seq.to_string()),
            ("conversation", stored.conversation.clone()),
            ("timestamp", stored.created_at.to_string()),
        ],
    }
}

fn unsupported_kind(kind: &str) -> ChatError {
    ChatError::Invalid(format!(
        "unsupported kind {kind:?}: use message, typing, read or recall"
    ))
}
