//! Files and images: `POST /api/files` uploads, `GET /api/files/{id}`
//! downloads.
//!
//! An upload is the raw file as the request body (any `Content-Type` but
//! `multipart/*`, which is refused) with the file's name in `?name=`. The
//! body is streamed to disk under `files.max_bytes`, not under the API's
//! JSON body limit; the content type is detected from the bytes, never
//! taken from the client. A file may be read by its uploader and by
//! whoever takes part in a conversation it was shared with; anyone else is
//! told it does not exist. Disk details live in [`crate::files`].

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use herald_storage::FileRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{ApiError, Authenticated, Path, Query};
use crate::chat::ids::now_ms;
use crate::chat::Conversation;
use crate::config::Config;
use crate::files::{self, PartialFile, RangeRequest};
use crate::server::http::AppState;

/// Bytes read from disk per chunk of a download.
const READ_CHUNK: usize = 64 * 1024;
/// Extra headers on every download: the browser must not guess a type or
/// run anything it is given.
const SAFETY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    ),
    (header::CACHE_CONTROL, "private"),
];

/// The file routes, with their own body limit (`files.max_bytes`); the
/// upload enforces it again while streaming.
pub fn routes(config: &Config) -> Router<AppState> {
    let limit = usize::try_from(config.files.max_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/files", post(upload))
        .route("/files/{id}", get(download))
        .layer(DefaultBodyLimit::max(limit))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

pub async fn upload(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let limit = state.broker.config.files.max_bytes;
    refuse_early(&headers, limit)?;
    let dir = state.broker.config.files_dir();
    let id = files::new_id();
    let partial = receive(body, &dir, &id, limit).await?;
    let content_type = files::content_type(partial.head());
    let dimensions = if files::is_image(&content_type) {
        files::dimensions(partial.path().to_path_buf()).await
    } else {
        None
    };
    let record = FileRecord {
        id: id.clone(),
        uploader: me.user_id,
        name: files::clean_name(query.name.as_deref()),
        content_type,
        size: i64::try_from(partial.written()).unwrap_or(i64::MAX),
        width: dimensions.map(|(width, _)| width),
        height: dimensions.map(|(_, height)| height),
        created_at: now_ms(),
    };
    let target = dir.join(&id);
    partial.keep(&target).await.map_err(disk_error)?;
    if let Err(error) = state.broker.files().create_file(record.clone()).await {
        let _ = tokio::fs::remove_file(&target).await;
        return Err(error.into());
    }
    Ok((StatusCode::CREATED, Json(record_json(&record))))
}

/// Refuses, before reading a byte, a multipart form and a body whose
/// `Content-Length` is over the limit.
fn refuse_early(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    if is_multipart(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file itself as the request body, with its name in ?name=, not a multipart form",
        ));
    }
    if content_length(headers).is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Streams the body to a temporary file in `dir`, stopping at `limit`
/// bytes; on any error the temporary file is gone.
async fn receive(
    body: Body,
    dir: &std::path::Path,
    id: &str,
    limit: u64,
) -> Result<PartialFile, ApiError> {
    let mut partial = PartialFile::create(dir, id).await.map_err(disk_error)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|error| ApiError::invalid(format!("the upload broke off: {error}")))?;
        if partial.written() + chunk.len() as u64 > limit {
            return Err(too_large(limit));
        }
        partial.write(&chunk).await.map_err(disk_error)?;
    }
    partial.finish().await.map_err(disk_error)?;
    Ok(partial)
}

/// The file's metadata as the API shows it.
pub fn record_json(record: &FileRecord) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "content_type": record.content_type,
        "size": record.size,
        "width": record.width,
        "height": record.height,
        "created_at": record.created_at,
    })
}

pub async fn download(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = readable(&state, &id, me.user_id).await?;
    let (mut file, size) = open(&state, &record).await?;
    let etag = format!("\"{}\"", record.id);
    let range = if if_range_allows(&headers, &etag) {
        let value = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        files::parse_range(value, size)
    } else {
        RangeRequest::Full
    };
    let (status, start, length) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial { start, end } => {
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => return Ok(unsatisfiable(size)),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(disk_error)?;
    }
    let stream = ReaderStream::with_capacity(file.take(length), READ_CHUNK);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let out = response.headers_mut();
    describe(out, &record, length);
    insert(out, header::ETAG, &etag);
    if status == StatusCode::PARTIAL_CONTENT {
        let last = start + length - 1;
        insert(
            out,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{last}/{size}"),
        );
    }
    Ok(response)
}

/// The file's record, when `user` may read it; the same 404 for a file
/// that does not exist and one they may not see.
async fn readable(state: &AppState, id: &str, user: i64) -> Result<FileRecord, ApiError> {
    if !files::is_valid_id(id) {
        return Err(no_such_file());
    }
    let record = state
        .broker
        .files()
        .file(id)
        .await?
        .ok_or_else(no_such_file)?;
    if !may_read(state, &record, user).await? {
        return Err(no_such_file());
    }
    Ok(record)
}

/// The file's bytes on disk and their length.
async fn open(state: &AppState, record: &FileRecord) -> Result<(tokio::fs::File, u64), ApiError> {
    let path = state.broker.config.files_dir().join(&record.id);
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %record.id, "a recorded file is missing from disk");
            return Err(no_such_file());
        }
        Err(error) => return Err(disk_error(error)),
    };
    let size = file.metadata().await.map_err(disk_error)?.len();
    Ok((file, size))
}

/// The headers that say what the bytes are and how to treat them.
fn describe(headers: &mut HeaderMap, record: &FileRecord, length: u64) {
    let content_type = HeaderValue::from_str(&record.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let inline = files::is_image(&record.content_type);
    let disposition = files::content_disposition(&record.name, inline);
    insert(headers, header::CONTENT_DISPOSITION, &disposition);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (name, value) in SAFETY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The uploader, or anyone in a conversation the file was shared with: a
/// participant of `u{a}-{b}`, a current member of `g{id}`, the owner of
/// `s{id}`.
async fn may_read(state: &AppState, record: &FileRecord, user: i64) -> Result<bool, ApiError> {
    if record.uploader == user {
        return Ok(true);
    }
    for conversation in state.broker.files().file_shared_with(&record.id).await? {
        let allowed = match Conversation::parse(&conversation) {
            Some(Conversation::Group(group)) => state
                .broker
                .chat()
                .directory()
                .member(group, user)
                .await?
                .is_some(),
            Some(other) => other.involves(user),
            None => false,
        };
        if allowed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A `Range` counts unless `If-Range` names another version (files never
/// change, so only their own ETag matches; a date never does).
fn if_range_allows(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.as_bytes() == etag.as_bytes())
}

fn unsatisfiable(size: u64) -> Response {
    let error = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        format!("the file has {size} bytes; the range asks for none of them"),
    );
    let mut response = error.into_response();
    let headers = response.headers_mut();
    insert(headers, header::CONTENT_RANGE, &format!("bytes */{size}"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

/// Sets a header built from text Herald made; such text is always a valid
/// value, and one that somehow is not is left out rather than panicking.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .get(..10)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("multipart/"))
        })
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("a file may have at most {limit} bytes (files.max_bytes)"),
    )
}

/// Also for files the caller may not read: their existence is not told.
fn no_such_file() -> ApiError {
    ApiError::not_found("there is no such file")
}

fn disk_error(error: std::io::Error) -> ApiError {
    // The detail goes to the log, not to the client.
    tracing::warn!(%error, "file storage failed in an API request");
    if is_out_of_space(&error) {
        // 507, not 500: nothing is broken, and the same upload may succeed
        // once an operator frees space; clients can tell the two apart.
        return ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            "there is no space left to store the file; try again later or send a smaller one",
        );
    }
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "file_storage_failed",
        "the file could not be stored or read; try again later",
    )
}

/// ENOSPC (the filesystem is full) or EDQUOT (the broker's user is over
/// its quota): both mean no room, whatever the kernel's wording.
fn is_out_of_space(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(error),
        Some(Errno::NOSPC | Errno::DQUOT)
    )
}
