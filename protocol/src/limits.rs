//! Size limits the decoder enforces, so one peer cannot make the broker
//! buffer without bound.

/// Limits applied while decoding. Exceeding one is a [`crate::DecodeError::Limit`]
/// naming it; the broker answers with an ERROR frame and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes in one frame: command, headers, body and terminator.
    pub max_frame_bytes: usize,
    /// Most header lines in one frame.
    pub max_headers: usize,
    /// Most bytes in one header line (name, colon and value, before unescaping).
    pub max_header_line: usize,
    /// Most bytes in one body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 1024 * 1024 + 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}
