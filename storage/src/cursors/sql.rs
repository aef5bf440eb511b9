//! The [`Cursors`](super::Cursors) trait on a SQL backend, written once:
//! the statements use `$n` placeholders, which SQLite reads as PostgreSQL
//! does, and only portable SQL (upserts with `excluded`, no `GREATEST`).
//!
//! [`sql_cursors!`] expands, inside a backend module, to the trait impl for
//! that backend's handle. The handle needs a `database` field with
//! `grouped` (runs a job in the backend's group-committed writer, under a
//! lock key) and `readers` (the read pool).

/// The `Cursors` impl for `$handle`; see the module docs.
macro_rules! sql_cursors {
    ($handle:ty) => {
        #[async_trait::async_trait]
        impl $crate::cursors::Cursors for $handle {
            async fn register_device(
                &self,
                user: $crate::UserId,
                device: &str,
            ) -> Result<bool, $crate::StoreError> {
                let device = device.to_owned();
                let key = format!("device/{user}/{device}");
                let now = $crate::common::unix_millis();
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            let inserted = sqlx::query(
                                "INSERT INTO devices (user_id, device, first_seen) \
                                 VALUES ($1, $2, $3) ON CONFLICT (user_id, device) DO NOTHING",
                            )
                            .bind(user)
                            .bind(device)
                            .bind(now)
                            .execute(connection)
                            .await?;
                            Ok(inserted.rows_affected() == 1)
                        })
                    })
                    .await
            }

            async fn delivered(
                &self,
                user: $crate::UserId,
                device: &str,
            ) -> Result<Vec<(String, i64)>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT conversation, seq FROM delivered_cursors \
                     WHERE user_id = $1 AND device = $2 ORDER BY conversation",
                )
                .bind(user)
                .bind(device)
                .fetch_all(self.database.readers()?)
                .await?)
            }

            async fn advance_delivered(
                &self,
                user: $crate::UserId,
                device: &str,
                conversation: &str,
                seq: i64,
            ) -> Result<(), $crate::StoreError> {
                if seq <= 0 {
                    return Ok(());
                }
                let (device, conversation) = (device.to_owned(), conversation.to_owned());
                let key = format!("delivered/{user}/{device}/{conversation}");
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            sqlx::query(
                                "INSERT INTO delivered_cursors (user_id, device, conversation, seq) \
                                 VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (user_id, device, conversation) \
                                 DO UPDATE SET seq = excluded.seq \
                                 WHERE excluded.seq > delivered_cursors.seq",
                            )
                            .bind(user)
                            .bind(device)
                            .bind(conversation)
                            .bind(seq)
                            .execute(connection)
                            .await?;
                            Ok(())
                        })
                    })
                    .await
            }

            async fn delivered_by_user(
                &self,
                user: $crate::UserId,
                conversation: &str,
            ) -> Result<i64, $crate::StoreError> {
                let highest: Option<i64> = sqlx::query_scalar(
                    "SELECT max(seq) FROM delivered_cursors \
                     WHERE user_id = $1 AND conversation = $2",
                )
                .bind(user)
                .bind(conversation)
                .fetch_one(self.database.readers()?)
                .await?;
                Ok(highest.unwrap_or(0))
            }

            async fn read(
                &self,
                user: $crate::UserId,
                conversation: &str,
            ) -> Result<i64, $crate::StoreError> {
                let seq: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM read_cursors WHERE user_id = $1 AND conversation = $2",
                )
                .bind(user)
                .bind(conversation)
                .fetch_optional(self.database.readers()?)
                .await?;
                Ok(seq.unwrap_or(0))
            }

            async fn advance_read(
                &self,
                user: $crate::UserId,
                conversation: &str,
                seq: i64,
            ) -> Result<bool, $crate::StoreError> {
                if seq <= 0 {
                    return Ok(false);
                }
                let conversation = conversation.to_owned();
                let key = format!("read/{user}/{conversation}");
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            let moved = sqlx::query(
                                "INSERT INTO read_cursors (user_id, conversation, seq) \
                                 VALUES ($1, $2, $3) ON CONFLICT (user_id, conversation) \
                                 DO UPDATE SET seq = excluded.seq \
                                 WHERE excluded.seq > read_cursors.seq",
                            )
                            .bind(user)
                            .bind(conversation)
                            .bind(seq)
                            .execute(connection)
                            .await?;
                            Ok(moved.rows_affected() == 1)
                        })
                    })
                    .await
            }

            async fn read_cursors(
                &self,
                user: $crate::UserId,
            ) -> Result<Vec<(String, i64)>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT conversation, seq FROM read_cursors \
                     WHERE user_id = $1 ORDER BY conversation",
                )
                .bind(user)
                .fetch_all(self.database.readers()?)
                .await?)
            }

            async fn read_counts(
                &self,
                conversation: &str,
                seqs: &[i64],
            ) -> Result<Vec<(i64, u64)>, $crate::StoreError> {
                let Some(&lowest) = seqs.iter().min() else {
                    return Ok(Vec::new());
                };
                // One read of the cursors at or past the lowest seq asked
                // for, counted here: a page of history costs one query.
                let mut cursors: Vec<i64> = sqlx::query_scalar(
                    "SELECT seq FROM read_cursors WHERE conversation = $1 AND seq >= $2",
                )
                .bind(conversation)
                .bind(lowest)
                .fetch_all(self.database.readers()?)
                .await?;
                cursors.sort_unstable();
                Ok($crate::cursors::count_at_or_past(&cursors, seqs))
            }

            async fn mention_counts(
                &self,
                user: $crate::UserId,
            ) -> Result<Vec<(String, u64)>, $crate::StoreError> {
                let counts: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT m.conversation, count(*) FROM mentions m \
                     LEFT JOIN read_cursors r \
                     ON r.user_id = m.user_id AND r.conversation = m.conversation \
                     WHERE m.user_id = $1 AND m.seq > COALESCE(r.seq, 0) \
                     GROUP BY m.conversation ORDER BY m.conversation",
                )
                .bind(user)
                .fetch_all(self.database.readers()?)
                .await?;
                Ok(counts
                    .into_iter()
                    .map(|(conversation, count)| {
                        (conversation, u64::try_from(count).unwrap_or_default())
                    })
                    .collect())
            }

            async fn hide(
                &self,
                user: $crate::UserId,
                conversation: &str,
                seq: i64,
            ) -> Result<(), $crate::StoreError> {
                let conversation = conversation.to_owned();
                let key = format!("hidden/{user}/{conversation}/{seq}");
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            let exists: Option<i64> = sqlx::query_scalar(
                                "SELECT seq FROM messages WHERE conversation = $1 AND seq = $2",
                            )
                            .bind(&conversation)
                            .bind(seq)
                            .fetch_optional(&mut *connection)
                            .await?;
                            if exists.is_none() {
                                return Err($crate::StoreError::NotFound(format!(
                                    "no message {conversation}#{seq}"
                                )));
                            }
                            sqlx::query(
                                "INSERT INTO hidden_messages (user_id, conversation, seq) \
                                 VALUES ($1, $2, $3) \
                                 ON CONFLICT (user_id, conversation, seq) DO NOTHING",
                            )
                            .bind(user)
                            .bind(conversation)
                            .bind(seq)
                            .execute(connection)
                            .await?;
                            Ok(())
                        })
                    })
                    .await
            }

            async fn hidden(
                &self,
                user: $crate::UserId,
                conversation: &str,
                from_seq: i64,
                to_seq: i64,
            ) -> Result<Vec<i64>, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT seq FROM hidden_messages \
                     WHERE user_id = $1 AND conversation = $2 AND seq BETWEEN $3 AND $4 \
                     ORDER BY seq",
                )
                .bind(user)
                .bind(conversation)
                .bind(from_seq)
                .bind(to_seq)
                .fetch_all(self.database.readers()?)
                .await?)
            }
        }
    };
}

pub(crate) use sql_cursors;
