//! The [`DeadLetters`](super::DeadLetters) trait on a SQL backend, written
//! once with `$n` placeholders (see `crate::cursors::sql`).

/// The `DeadLetters` impl for `$handle`, whose `database` has `grouped`
/// and `readers`.
macro_rules! sql_dead_letters {
    ($handle:ty) => {
        #[async_trait::async_trait]
        impl $crate::dead_letters::DeadLetters for $handle {
            async fn dead_letter(
                &self,
                letter: $crate::DeadLetter,
            ) -> Result<i64, $crate::StoreError> {
                let attempts = i32::try_from(letter.attempts).unwrap_or(i32::MAX);
                // A new row that no other job waits on: no lock key.
                self.database
                    .grouped(None, move |connection| {
                        Box::pin(async move {
                            let id: i64 = sqlx::query_scalar(
                                "INSERT INTO dead_letters (user_id, device, conversation, seq, \
                                 message_id, attempts, reason, at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                            )
                            .bind(letter.user)
                            .bind(letter.device)
                            .bind(letter.conversation)
                            .bind(letter.seq)
                            .bind(letter.message_id)
                            .bind(attempts)
                            .bind(letter.reason)
                            .bind(letter.at)
                            .fetch_one(connection)
                            .await?;
                            Ok(id)
                        })
                    })
                    .await
            }

            async fn dead_letters(
                &self,
                limit: u32,
                after_id: i64,
            ) -> Result<Vec<(i64, $crate::DeadLetter)>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::dead_letter_columns!(),
                    " FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after_id)
                .bind($crate::rows::limit(limit))
                .fetch_all(self.database.readers()?)
                .await?;
                found.iter().map($crate::rows::dead_letter).collect()
            }
        }
    };
}

pub(crate) use sql_dead_letters;
