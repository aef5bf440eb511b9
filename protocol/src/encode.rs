//! The frame encoder.

use bytes::BytesMut;

use crate::Frame;

/// Appends `frame` to `dst`. Headers are escaped when `escapes` is true and
/// the command escapes (not CONNECT/STOMP/CONNECTED). A `content-length`
/// header is always written for a non-empty body (any `content-length` in
/// `frame.headers` is replaced by the true one).
pub fn encode(frame: &Frame, escapes: bool, dst: &mut BytesMut) {
    let _ = (frame, escapes, dst);
    todo!("implemented in encode.rs")
}

/// [`encode`] into a fresh vector, for tests and clients.
pub fn encode_to_vec(frame: &Frame, escapes: bool) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode(frame, escapes, &mut dst);
    dst.to_vec()
}
