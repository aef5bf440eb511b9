//! The [`FileStore`](super::FileStore) trait on a SQL backend, written
//! once with `$n` placeholders (see `crate::cursors::sql`), and the
//! sharing step appends run in their own transaction.

/// Records that file `$id` was sent to `$conversation`, on `$connection`
/// inside a write: `NotFound` when the file is unknown. A macro, not a
/// function, so that it serves both backends' connection types.
macro_rules! share {
    ($connection:expr, $id:expr, $conversation:expr) => {{
        let connection = $connection;
        let (id, conversation): (&str, &str) = ($id, $conversation);
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM files WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *connection)
            .await?;
        if known.is_none() {
            return Err($crate::StoreError::NotFound(format!("no file {id:?}")));
        }
        sqlx::query(
            "INSERT INTO file_shares (file_id, conversation) VALUES ($1, $2) \
             ON CONFLICT (file_id, conversation) DO NOTHING",
        )
        .bind(id)
        .bind(conversation)
        .execute(&mut *connection)
        .await?;
    }};
}

/// The `FileStore` impl for `$handle`, whose `database` has `grouped` and
/// `readers`.
macro_rules! sql_files {
    ($handle:ty) => {
        #[async_trait::async_trait]
        impl $crate::files::FileStore for $handle {
            async fn create_file(
                &self,
                file: $crate::FileRecord,
            ) -> Result<(), $crate::StoreError> {
                let key = format!("file/{}", file.id);
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            sqlx::query(
                                "INSERT INTO files (id, uploader, name, content_type, size, \
                                 width, height, created_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                            )
                            .bind(file.id)
                            .bind(file.uploader)
                            .bind(file.name)
                            .bind(file.content_type)
                            .bind(file.size)
                            .bind(file.width)
                            .bind(file.height)
                            .bind(file.created_at)
                            .execute(connection)
                            .await?;
                            Ok(())
                        })
                    })
                    .await
            }

            async fn file(
                &self,
                id: &str,
            ) -> Result<Option<$crate::FileRecord>, $crate::StoreError> {
                let found = sqlx::query(concat!(
                    "SELECT ",
                    $crate::rows::file_columns!(),
                    " FROM files WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(self.database.readers()?)
                .await?;
                found.as_ref().map($crate::rows::file).transpose()
            }

            async fn share_file(
                &self,
                id: &str,
                conversation: &str,
            ) -> Result<(), $crate::StoreError> {
                let (id, conversation) = (id.to_owned(), conversation.to_owned());
                // Sorted with the conversation's appends, which share files
                // with it too.
                let key = format!("conversation/{conversation}/{id}");
                self.database
                    .grouped(Some(key), move |connection| {
                        Box::pin(async move {
                            $crate::files::sql::share!(connection, &id, &conversation);
                            Ok(())
                        })
                    })
                    .await
            }

            async fn file_shared_with(&self, id: &str) -> Result<Vec<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT conversation FROM file_shares WHERE file_id = $1 ORDER BY conversation",
                )
                .bind(id)
                .fetch_all(self.database.readers()?)
                .await?)
            }
        }
    };
}

pub(crate) use {share, sql_files};
