//! What Herald knows about uploaded files: their metadata and the
//! conversations they were sent to. The bytes live on disk under the data
//! directory; the broker writes and serves them. The broker lets a user
//! fetch a file when they uploaded it or belong to a conversation it was
//! shared with; this module only records those facts.

pub(crate) mod sql;

use async_trait::async_trait;

use crate::directory::UserId;
use crate::StoreError;

/// An uploaded file's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Chosen by the broker (unguessable); names the bytes on disk too.
    pub id: String,
    pub uploader: UserId,
    /// The name it was uploaded under, for `Content-Disposition`.
    pub name: String,
    /// As detected from the bytes.
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    /// Pixels, for images.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// File metadata and sharing.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Records an uploaded file; `Conflict` when the id is taken.
    async fn create_file(&self, file: FileRecord) -> Result<(), StoreError>;

    /// The file's metadata, if recorded.
    async fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError>;

    /// Records that the file was sent to `conversation` (appends do this
    /// themselves for `NewMessage::files`). Sharing it again changes
    /// nothing; `NotFound` when the file is unknown.
    async fn share_file(&self, id: &str, conversation: &str) -> Result<(), StoreError>;

    /// The conversations the file was shared with, in name order.
    async fn file_shared_with(&self, id: &str) -> Result<Vec<String>, StoreError>;
}
