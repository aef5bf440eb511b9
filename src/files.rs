//! Uploaded files on local disk: ids, names, what the bytes are, and the
//! HTTP details of serving them (`Content-Disposition`, `Range`).
//!
//! Every file lives in one directory (`files.dir`, by default
//! `<data_dir>/files`) under its id, 32 hex digits chosen by Herald, so no
//! name a user sends ever becomes a path. An upload is written to a hidden
//! temporary file in that directory and renamed into place only when it is
//! complete; a failed or abandoned upload leaves nothing behind. This module
//! knows nothing of users or conversations: who may read a file is decided
//! in `api::files` from what the `FileStore` recorded.

use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};

/// How many leading bytes are kept to detect the content type.
const HEAD_BYTES: usize = 8192;
/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Write buffer: fewer trips to the blocking pool than hyper's chunk size.
const WRITE_BUFFER: usize = 64 * 1024;

/// Image types whose width and height are recorded and which are served
/// inline; everything else is an attachment.
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A new file id: 128 random bits as 32 lowercase hex digits.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether `id` could be one [`new_id`] made. Anything else (a path, dots,
/// upper case) names no file and is never joined to the directory.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The name to keep for an upload: the last path segment of what the
/// client sent, without control or bidirectional-override characters,
/// trimmed and at most 255 characters; `file` when nothing is left.
pub fn clean_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_direction_override(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        "file".to_owned()
    } else {
        name.to_owned()
    }
}

/// Characters that reorder text, which could make `gpj.exe` look like
/// `exe.jpg`.
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The content type of a file from its first bytes: a known signature,
/// else `text/plain; charset=utf-8` for UTF-8 text without control
/// characters, else `application/octet-stream`.
pub fn content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if looks_like_text(head) {
        "text/plain; charset=utf-8".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A character cut in two at the end of the head is still text.
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
}

/// Whether files of this type get their size recorded and show inline.
pub fn is_image(content_type: &str) -> bool {
    IMAGE_TYPES.contains(&content_type)
}

/// Width and height of the image at `path`, read from its header on the
/// blocking pool; `None` when it cannot be read.
pub async fn dimensions(path: PathBuf) -> Option<(i32, i32)> {
    let size = tokio::task::spawn_blocking(move || imagesize::size(path))
        .await
        .ok()?
        .ok()?;
    Some((
        i32::try_from(size.width).ok()?,
        i32::try_from(size.height).ok()?,
    ))
}

/// `Content-Disposition` for `name` (RFC 6266): `inline` or `attachment`,
/// an ASCII `filename` fallback, and the exact name as `filename*` in
/// UTF-8 percent-encoding (RFC 5987). The result is always a valid header
/// value.
pub fn content_disposition(name: &str, inline: bool) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && !matches!(c, '"' | '\\' | '%') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        // attr-char of RFC 5987.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// What a `Range` header asks of a file of a known size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or one Herald ignores (another unit, several ranges, bad
    /// syntax): the whole file, 200.
    Full,
    /// Bytes `start..=end`, both within the file: 206.
    Partial { start: u64, end: u64 },
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

/// Reads `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` (RFC 9110 14.1.2)
/// against a file of `size` bytes. A range list with more than one range is
/// served whole, as the RFC allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|value| {
        let (unit, spec) = value.trim().split_once('=')?;
        unit.trim().eq_ignore_ascii_case("bytes").then_some(spec)
    }) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // bytes=-n: the last n bytes.
        return match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(length) => RangeRequest::Partial {
                start: size - length.min(size),
                end: size - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.min(size - 1),
    }
}

/// A decimal number of digits only; too large means "as large as can be".
fn number(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().unwrap_or(u64::MAX))
}

/// An upload being written: a temporary file in the files directory that
/// is removed when this is dropped, unless [`PartialFile::keep`] moved it
/// into place. Dropping covers every early return and a client that goes
/// away mid-upload (axum drops the handler's future).
pub struct PartialFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    written: u64,
    head: Vec<u8>,
}

impl PartialFile {
    /// Starts `<dir>/.upload-<id>`, creating `dir` if needed.
    pub async fn create(dir: &Path, id: &str) -> std::io::Result<PartialFile> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(format!(".upload-{id}"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(PartialFile {
            path,
            writer: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            written: 0,
            head: Vec::new(),
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let writer = self.writer.as_mut().ok_or_else(closed)?;
        writer.write_all(chunk).await?;
        self.written += chunk.len() as u64;
        let wanted = HEAD_BYTES.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..wanted]);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The first bytes, for [`content_type`].
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Flushes and syncs the bytes; the file stays at its temporary path
    /// (see [`PartialFile::path`]) until [`PartialFile::keep`].
    pub async fn finish(&mut self) -> std::io::Result<()> {
        let writer = self.writer.as_mut().ok_or_else(closed)?;
        writer.flush().await?;
        writer.get_mut().sync_all().await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the finished file to `target`.
    pub async fn keep(mut self, target: &Path) -> std::io::Result<()> {
        self.writer.take();
        tokio::fs::rename(&self.path, target).await?;
        // Renamed: nothing left for Drop to remove.
        self.path = PathBuf::new();
        Ok(())
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("the upload file is closed")
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Blocking, but a single unlink; the handle closes first.
            self.writer.take();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_nothing_else_passes() {
        let id = new_id();
        assert!(is_valid_id(&id), "{id}");
        assert_ne!(id, new_id());
        for bad in [
            "",
            "..",
            "../../etc/passwd",
            &id.to_uppercase(),
            &format!("{id}0"),
            &id[1..],
            &format!("..{}", &id[2..]),
            &format!("{}/", &id[1..]),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("C:\\Users\\me\\photo.png")), "photo.png");
        assert_eq!(clean_name(Some("a\nb\u{202e}gpj.exe ")), "abgpj.exe");
        assert_eq!(clean_name(Some("..")), "file");
        assert_eq!(clean_name(Some("dir/")), "file");
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some(&"é".repeat(300))).chars().count(), 255);
    }

    #[test]
    fn content_type_comes_from_the_bytes() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(content_type(b"GIF89a"), "image/gif");
        assert_eq!(content_type(b"hello\tworld\n"), "text/plain; charset=utf-8");
        // A multi-byte character cut at the end of the head.
        assert_eq!(
            content_type(&"é".as_bytes()[..1]),
            "application/octet-stream"
        );
        assert_eq!(content_type(b"ab\xc3"), "text/plain; charset=utf-8");
        assert_eq!(content_type(b"\0\x01\x02"), "application/octet-stream");
        assert_eq!(content_type(b""), "application/octet-stream");
        assert!(is_image("image/webp"));
        assert!(!is_image("image/svg+xml"));
    }

    #[test]
    fn disposition_escapes_quotes_and_encodes_unicode() {
        assert_eq!(
            content_disposition("a \"b\" é.txt", false),
            "attachment; filename=\"a _b_ _.txt\"; filename*=UTF-8''a%20%22b%22%20%C3%A9.txt"
        );
        assert_eq!(
            content_disposition("x.png", true),
            "inline; filename=\"x.png\"; filename*=UTF-8''x.png"
        );
        let value = content_disposition("100%\\;\u{7f}名", false);
        assert!(axum::http::HeaderValue::from_str(&value).is_ok(), "{value}");
        assert!(value.contains("filename=\"100__;__\""), "{value}");
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        let range = |value: &str| parse_range(Some(value), 100);
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(range("bytes=0-9"), Partial { start: 0, end: 9 });
        assert_eq!(range("bytes=90-200"), Partial { start: 90, end: 99 });
        assert_eq!(range("bytes=10-"), Partial { start: 10, end: 99 });
        assert_eq!(range("bytes=-10"), Partial { start: 90, end: 99 });
        assert_eq!(range("bytes=-1000"), Partial { start: 0, end: 99 });
        assert_eq!(range("Bytes = 5-5"), Partial { start: 5, end: 5 });
        assert_eq!(
            range("bytes=0-99999999999999999999999"),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(range("bytes=100-"), Unsatisfiable);
        assert_eq!(range("bytes=100-200"), Unsatisfiable);
        assert_eq!(range("bytes=-0"), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-5"), 0), Unsatisfiable);
        for ignored in [
            "items=0-9",
            "bytes=9-0",
            "bytes=0-1,5-6",
            "bytes=a-b",
            "bytes=-",
            "bytes",
        ] {
            assert_eq!(range(ignored), Full, "{ignored}");
        }
    }
}
