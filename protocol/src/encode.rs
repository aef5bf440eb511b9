//! The frame encoder: [`Frame`] to bytes on the wire.
//!
//! It owns the byte layout of an outgoing frame, header escaping by mode and
//! the `content-length` header, which it always computes itself so that a
//! stale value copied from a client's frame can never cut a body short.

use bytes::{BufMut, BytesMut};

use crate::escape::{for_each_escaped, for_each_literal};
use crate::Frame;

const CONTENT_LENGTH: &str = "content-length";

/// Appends `frame` to `dst`. Headers are escaped when `escapes` is true and
/// the command escapes (not CONNECT/STOMP/CONNECTED). A `content-length`
/// header is always written for a non-empty body and on every SEND, MESSAGE
/// and ERROR (`content-length:0` for an empty one), so a receiver never has
/// to scan for the NUL.
///
/// Every `content-length` in `frame.headers` is dropped; the true one goes
/// after the other headers. In a frame that is
/// not escaped, CR and LF (and colons in names) cannot be represented and
/// are written as spaces, so that no header can forge another.
pub fn encode(frame: &Frame, escapes: bool, dst: &mut BytesMut) {
    let escape = escapes && frame.command.escapes_headers();
    dst.reserve(encoded_len_hint(frame));
    dst.put_slice(frame.command.as_str().as_bytes());
    dst.put_u8(b'\n');
    for (name, value) in frame.headers.iter() {
        if name == CONTENT_LENGTH {
            continue;
        }
        write_text(dst, name.as_bytes(), escape, true);
        dst.put_u8(b':');
        write_text(dst, value.as_bytes(), escape, false);
        dst.put_u8(b'\n');
    }
    if !frame.body.is_empty() || frame.command.allows_body() {
        dst.put_slice(CONTENT_LENGTH.as_bytes());
        dst.put_u8(b':');
        write_decimal(dst, frame.body.len());
        dst.put_u8(b'\n');
    }
    dst.put_u8(b'\n');
    dst.put_slice(&frame.body);
    dst.put_u8(0);
}

/// [`encode`] into a fresh vector, for tests and clients.
pub fn encode_to_vec(frame: &Frame, escapes: bool) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode(frame, escapes, &mut dst);
    dst.to_vec()
}

/// The encoded size when nothing needs escaping, so that one reservation
/// is almost always enough.
fn encoded_len_hint(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    // command LF, headers, content-length line (at most 36 bytes), LF, body, NUL
    frame.command.as_str().len() + 1 + headers + 36 + 1 + frame.body.len() + 1
}

fn write_text(dst: &mut BytesMut, text: &[u8], escape: bool, is_name: bool) {
    if escape {
        for_each_escaped(text, |run| dst.put_slice(run));
    } else {
        for_each_literal(text, is_name, |run| dst.put_slice(run));
    }
}

/// Writes `value` in decimal without going through a `String`.
fn write_decimal(dst: &mut BytesMut, mut value: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    dst.put_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    fn encoded(frame: &Frame, escapes: bool) -> String {
        String::from_utf8(encode_to_vec(frame, escapes)).unwrap()
    }

    #[test]
    fn encoder_writes_command_headers_blank_line_and_nul() {
        let frame = Frame::new(Command::Subscribe)
            .header("id", "0")
            .header("destination", "/topic/a");
        assert_eq!(
            encoded(&frame, true),
            "SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0"
        );
    }

    #[test]
    fn encoder_escapes() {
        let frame = Frame::new(Command::Message).header("a:b", "c\\d\ne\rf:g");
        assert_eq!(
            encoded(&frame, true),
            "MESSAGE\na\\cb:c\\\\d\\ne\\rf\\cg\ncontent-length:0\n\n\0"
        );
    }

    #[test]
    fn encoder_never_escapes_connect_stomp_connected() {
        for command in [Command::Connect, Command::Stomp, Command::Connected] {
            let frame = Frame::new(command).header("passcode", "a\\b:c");
            assert_eq!(
                encoded(&frame, true),
                format!("{command}\npasscode:a\\b:c\n\n\0")
            );
        }
    }

    #[test]
    fn encoder_without_escapes_writes_backslash_and_value_colons_literally() {
        let frame = Frame::new(Command::Message).header("k", "a\\b:c");
        assert_eq!(
            encoded(&frame, false),
            "MESSAGE\nk:a\\b:c\ncontent-length:0\n\n\0"
        );
    }

    #[test]
    fn encoder_without_escapes_cannot_forge_headers() {
        let frame = Frame::new(Command::Message)
            .header("x", "1\nmessage-id:forged\n\n\0")
            .header("message-id:y", "2\r");
        assert_eq!(
            encoded(&frame, false),
            "MESSAGE\nx:1 message-id:forged  \0\nmessage-id y:2 \ncontent-length:0\n\n\0"
        );
    }

    #[test]
    fn encoder_writes_content_length() {
        let frame = Frame::new(Command::Send)
            .header("destination", "/queue/a")
            .body(&b"he\0llo"[..]);
        assert_eq!(
            encode_to_vec(&frame, true),
            b"SEND\ndestination:/queue/a\ncontent-length:6\n\nhe\0llo\0"
        );
    }

    #[test]
    fn encoder_replaces_stale_content_length() {
        let frame = Frame::new(Command::Send)
            .header("content-length", "1")
            .header("destination", "/queue/a")
            .header("content-length", "99")
            .body("hello");
        assert_eq!(
            encoded(&frame, true),
            "SEND\ndestination:/queue/a\ncontent-length:5\n\nhello\0"
        );
    }

    #[test]
    fn encoder_drops_content_length_on_bodiless_frames() {
        let frame = Frame::new(Command::Subscribe).header("content-length", "5");
        assert_eq!(encoded(&frame, true), "SUBSCRIBE\n\n\0");
    }

    #[test]
    fn encoder_writes_zero_content_length_on_empty_message() {
        let frame = Frame::new(Command::Message).header("content-length", "5");
        assert_eq!(encoded(&frame, true), "MESSAGE\ncontent-length:0\n\n\0");
    }

    #[test]
    fn encoder_appends_to_existing_bytes() {
        let mut dst = BytesMut::from(&b"\n"[..]);
        encode(&Frame::new(Command::Disconnect), true, &mut dst);
        encode(
            &Frame::new(Command::Receipt).header("receipt-id", "7"),
            true,
            &mut dst,
        );
        assert_eq!(&dst[..], b"\nDISCONNECT\n\n\0RECEIPT\nreceipt-id:7\n\n\0");
    }

    #[test]
    fn decimal_writing_covers_zero_and_the_largest_length() {
        for value in [0, 7, 10, 1234567890, usize::MAX] {
            let mut dst = BytesMut::new();
            write_decimal(&mut dst, value);
            assert_eq!(&dst[..], value.to_string().as_bytes());
        }
    }
}
