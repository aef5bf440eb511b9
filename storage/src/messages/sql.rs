//! The [`MessageLog`](super::MessageLog) trait on a SQL backend, written
//! once with `$n` placeholders (see `crate::cursors::sql`).
//!
//! [`sql_message_log!`] expands, inside a backend's `messages` module, to
//! the trait impl for that backend's handle. What differs between the
//! backends is left to functions beside it, with the same names in each:
//! `store` (take the next seq and insert the message with its search
//! entry), `unindex` (drop a message's search entry), `search` and
//! `heads`. The handle's `database` needs `grouped` (a job in the
//! group-committed writer, under a lock key), `write` (a job in a
//! transaction of its own) and `readers`.

/// How many messages one retention transaction deletes: enough to be
/// quick, few enough that other writes never wait long behind it.
pub(crate) const PURGE_CHUNK: i64 = 1_000;

/// The message a sender stored under `$client_msg_id`, if its dedupe
/// record is kept; on any executor (a write's connection or the pool).
macro_rules! find_duplicate {
    ($executor:expr, $sender:expr, $client_msg_id:expr) => {{
        let found = sqlx::query(concat!(
            "SELECT ",
            $crate::rows::joined_message_columns!(),
            " FROM message_dedupe d JOIN messages m \
             ON m.conversation = d.conversation AND m.seq = d.seq \
             WHERE d.sender = $1 AND d.client_msg_id = $2"
        ))
        .bind($sender)
        .bind($client_msg_id)
        .fetch_optional($executor)
        .await?;
        found.as_ref().map($crate::rows::message).transpose()?
    }};
}

/// What an append records beside the message, in its transaction: the
/// dedupe record, the conversation index, mentions and file shares.
macro_rules! record_beside {
    ($connection:expr, $message:expr, $seq:expr) => {{
        let connection = $connection;
        let message: &$crate::NewMessage = $message;
        let seq: i64 = $seq;
        if let Some(client_msg_id) = &message.client_msg_id {
            // The primary key settles races: a concurrent append of the
            // same id that committed first makes this one a `Conflict`.
            sqlx::query(
                "INSERT INTO message_dedupe (sender, client_msg_id, conversation, seq, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(message.sender)
            .bind(client_msg_id)
            .bind(&message.conversation)
            .bind(seq)
            .bind(message.created_at)
            .execute(&mut *connection)
            .await?;
        }
        for user in $crate::messages::distinct(&message.participants) {
            sqlx::query(
                "INSERT INTO conversation_participants (user_id, conversation) VALUES ($1, $2) \
                 ON CONFLICT (user_id, conversation) DO NOTHING",
            )
            .bind(user)
            .bind(&message.conversation)
            .execute(&mut *connection)
            .await?;
        }
        for user in $crate::messages::distinct(&message.mentions) {
            sqlx::query("INSERT INTO mentions (user_id, conversation, seq) VALUES ($1, $2, $3)")
                .bind(user)
                .bind(&message.conversation)
                .bind(seq)
                .execute(&mut *connection)
                .await?;
        }
        for file in $crate::messages::distinct(&message.files) {
            $crate::files::sql::share!(&mut *connection, &file, &message.conversation);
        }
    }};
}

/// The `MessageLog` impl for `$handle`; see the module docs.
macro_rules! sql_message_log {
    ($handle:ty) => {
        #[async_trait::async_trait]
        impl $crate::messages::MessageLog for $handle {
            async fn append(
                &self,
                message: $crate::NewMessage,
            ) -> Result<$crate::Appended, $crate::StoreError> {
                let headers = serde_json::to_string(&message.headers)?;
                let indexed = $crate::messages::indexed_text(&message.kind, &message.body);
                let key = format!("conversation/{}", message.conversation);
                let (sender, client_msg_id) = (message.sender, message.client_msg_id.clone());
                let appended = self
                    .database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            if let Some(client_msg_id) = &message.client_msg_id {
                                let first = $crate::messages::sql::find_duplicate!(
                                    &mut *connection,
                                    message.sender,
                                    client_msg_id
                                );
                                if let Some(first) = first {
                                    return Ok($crate::Appended {
                                        message: first,
                                        duplicate: true,
                                    });
                                }
                            }
                            let seq = store(&mut *connection, &message, headers, indexed).await?;
                            $crate::messages::sql::record_beside!(connection, &message, seq);
                            Ok($crate::Appended {
                                message: $crate::messages::stored(message, seq),
                                duplicate: false,
                            })
                        })
                    })
                    .await;
                match (appended, client_msg_id) {
                    // Another process stored the same client-msg-id between
                    // this job's check and its insert. The unique index made
                    // the insert wait for that commit, so the first message
                    // is there to answer with.
                    (Err($crate::StoreError::Conflict(reason)), Some(client_msg_id)) => {
                        let first = $crate::messages::sql::find_duplicate!(
                            self.database.readers()?,
                            sender,
                            &client_msg_id
                        );
                        match first {
                            Some(first) => Ok($crate::Appended {
                                message: first,
                                duplicate: true,
                            }),
                            None => Err($crate::StoreError::Conflict(reason)),
                        }
                    }
                    (appended, _) => appended,
                }
            }

            async fn get(
                &self,
                conversation: &str,
                seq: i64,
            ) -> Result<Option<$crate::StoredMessage>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::message_columns!(),
                    " FROM messages WHERE conversation = $1 AND seq = $2"
                ))
                .bind(conversation)
                .bind(seq)
                .fetch_optional(self.database.readers()?)
                .await?;
                found.as_ref().map($crate::rows::message).transpose()
            }

            async fn recall(
                &self,
                conversation: &str,
                seq: i64,
            ) -> Result<$crate::StoredMessage, $crate::StoreError> {
                let conversation = conversation.to_owned();
                let key = format!("message/{conversation}/{seq}");
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            let found = sqlx::query(concat!(
                                "UPDATE messages SET kind = $1, headers = '[]', body = $2 \
                                 WHERE conversation = $3 AND seq = $4 RETURNING ",
                                $crate::rows::message_columns!()
                            ))
                            .bind($crate::RECALLED_KIND)
                            .bind(Vec::<u8>::new())
                            .bind(&conversation)
                            .bind(seq)
                            .fetch_optional(&mut *connection)
                            .await?;
                            let Some(found) = found else {
                                return Err($crate::StoreError::NotFound(format!(
                                    "no message {conversation}#{seq}"
                                )));
                            };
                            let recalled = $crate::rows::message(&found)?;
                            unindex(&mut *connection, &recalled).await?;
                            sqlx::query(
                                "DELETE FROM mentions WHERE conversation = $1 AND seq = $2",
                            )
                            .bind(&conversation)
                            .bind(seq)
                            .execute(&mut *connection)
                            .await?;
                            Ok(recalled)
                        })
                    })
                    .await
            }

            async fn search(
                &self,
                conversations: &[String],
                query: &str,
                limit: u32,
            ) -> Result<Vec<$crate::StoredMessage>, $crate::StoreError> {
                let words = $crate::messages::query_words(query);
                if words.is_empty() || conversations.is_empty() || limit == 0 {
                    return Ok(Vec::new());
                }
                search(self.database.readers()?, conversations, &words, limit).await
            }

            async fn purge_before(&self, before_ms: i64) -> Result<u64, $crate::StoreError> {
                let mut purged = 0;
                loop {
                    let deleted = self
                        .database
                        .write(move |connection| {
                            Box::pin(async move {
                                // Dedupe records, mentions and hidden marks
                                // cascade; search entries go by trigger or
                                // with the row.
                                let deleted = sqlx::query(
                                    "DELETE FROM messages WHERE (conversation, seq) IN \
                                     (SELECT conversation, seq FROM messages \
                                      WHERE created_at < $1 LIMIT $2)",
                                )
                                .bind(before_ms)
                                .bind($crate::messages::sql::PURGE_CHUNK)
                                .execute(connection)
                                .await?;
                                Ok(deleted.rows_affected())
                            })
                        })
                        .await?;
                    purged += deleted;
                    if deleted < $crate::messages::sql::PURGE_CHUNK.unsigned_abs() {
                        return Ok(purged);
                    }
                }
            }

            async fn purge_dedupe(&self, before_ms: i64) -> Result<u64, $crate::StoreError> {
                self.database
                    .write(move |connection| {
                        Box::pin(async move {
                            let deleted =
                                sqlx::query("DELETE FROM message_dedupe WHERE created_at < $1")
                                    .bind(before_ms)
                                    .execute(connection)
                                    .await?;
                            Ok(deleted.rows_affected())
                        })
                    })
                    .await
            }

            async fn conversations(
                &self,
                user: $crate::UserId,
            ) -> Result<Vec<$crate::ConversationHead>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::head_columns!(),
                    " FROM conversation_participants p \
                     JOIN conversations c ON c.id = p.conversation \
                     LEFT JOIN messages m ON m.conversation = c.id AND m.seq = c.last_seq \
                     WHERE p.user_id = $1 ORDER BY c.updated_at DESC, c.id"
                ))
                .bind(user)
                .fetch_all(self.database.readers()?)
                .await?;
                found.iter().map($crate::rows::head).collect()
            }

            async fn heads(
                &self,
                conversations: &[String],
            ) -> Result<Vec<$crate::ConversationHead>, $crate::StoreError> {
                if conversations.is_empty() {
                    return Ok(Vec::new());
                }
                heads(self.database.readers()?, conversations).await
            }

            async fn after(
                &self,
                conversation: &str,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::StoredMessage>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::message_columns!(),
                    " FROM messages WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                ))
                .bind(conversation)
                .bind(after_seq)
                .bind($crate::rows::limit(limit))
                .fetch_all(self.database.readers()?)
                .await?;
                found.iter().map($crate::rows::message).collect()
            }

            async fn before(
                &self,
                conversation: &str,
                before_seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::StoredMessage>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::message_columns!(),
                    " FROM messages WHERE conversation = $1 AND seq < $2 \
                     ORDER BY seq DESC LIMIT $3"
                ))
                .bind(conversation)
                .bind(before_seq)
                .bind($crate::rows::limit(limit))
                .fetch_all(self.database.readers()?)
                .await?;
                let mut messages = found
                    .iter()
                    .map($crate::rows::message)
                    .collect::<Result<Vec<_>, _>>()?;
                messages.reverse();
                Ok(messages)
            }

            async fn last_seq(&self, conversation: &str) -> Result<i64, $crate::StoreError> {
                let last: Option<i64> =
                    sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = $1")
                        .bind(conversation)
                        .fetch_optional(self.database.readers()?)
                        .await?;
                Ok(last.unwrap_or(0))
            }
        }
    };
}

pub(crate) use {find_duplicate, record_beside, sql_message_log};
