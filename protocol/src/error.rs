//! What can go wrong while decoding. Every variant is fatal for the
//! connection: the broker sends an ERROR frame with the message and closes.

use std::fmt;

/// A configured limit that a frame exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    FrameBytes,
    Headers,
    HeaderLine,
    BodyBytes,
}

impl Limit {
    /// The limit's name as it appears in config and in ERROR frames.
    pub fn name(self) -> &'static str {
        match self {
            Limit::FrameBytes => "max_frame_bytes",
            Limit::Headers => "max_headers",
            Limit::HeaderLine => "max_header_line",
            Limit::BodyBytes => "max_body_bytes",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A limit was exceeded; `max` is its configured value.
    #[error("frame exceeds {limit} ({max})")]
    Limit { limit: Limit, max: usize },
    /// The command line is not a STOMP command (commands are case-sensitive).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A header line has no colon, an empty name, or (outside 1.1, where a
    /// CR is an ordinary octet) a CR that is not part of its line end.
    #[error("malformed header line {0:?}")]
    MalformedHeader(String),
    /// A backslash followed by anything but `n`, `c`, `\` or (in 1.2 only)
    /// `r`; a backslash that ends a name or value is reported with `'\n'`.
    #[error("invalid escape sequence \\{0} in header")]
    InvalidEscape(char),
    /// A command, header name or header value is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// `content-length` is not a decimal number of bytes.
    #[error("invalid content-length {0:?}")]
    InvalidContentLength(String),
    /// The byte after a `content-length` body is not NUL.
    #[error("frame body is not terminated by NUL after content-length bytes")]
    MissingNul,
}
