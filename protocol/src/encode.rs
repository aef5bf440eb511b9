//! The frame encoder: [`Frame`] to bytes on the wire.
//!
//! It owns the byte layout of an outgoing frame, header escaping by mode and
//! the `content-length` header, which it always computes itself so that a
//! stale value copied from a client's frame can never cut a body short.

use bytes::{BufMut, BytesMut};

use crate::escape::{for_each_escaped, for_each_literal};
use crate::{Escaping, Frame};

const CONTENT_LENGTH: &str = "content-length";

/// Appends `frame` to `dst`, its headers written under `escaping` unless
/// the command is never escaped (CONNECT, STOMP and CONNECTED):
///
/// - [`Escaping::V1_2`]: `\`, LF, CR and `:` as `\\`, `\n`, `\r`, `\c`;
/// - [`Escaping::V1_1`]: `\`, LF and `:` as `\\`, `\n`, `\c`, and a CR as
///   it is, since 1.1 has no `\r` and ends its lines at LF alone;
/// - [`Escaping::None`] (and the never-escaped commands): nothing is
///   escaped, and CR and LF (and colons in names), which cannot be
///   represented, are written as spaces, so that no header can forge
///   another.
///
/// A `content-length` header is always written for a non-empty body and on
/// every SEND, MESSAGE and ERROR (`content-length:0` for an empty one), so
/// a receiver never has to scan for the NUL. Every `content-length` in
/// `frame.headers` is dropped; the true one goes after the other headers.
/// Lines end in LF alone in every mode.
pub fn encode_with(frame: &Frame, escaping: Escaping, dst: &mut BytesMut) {
    let escaping = escaping.for_command(frame.command);
    dst.reserve(encoded_len_hint(frame));
    dst.put_slice(frame.command.as_str().as_bytes());
    dst.put_u8(b'\n');
    for (name, value) in frame.headers.iter() {
        if name == CONTENT_LENGTH {
            continue;
        }
        write_text(dst, name.as_bytes(), escaping, true);
        dst.put_u8(b':');
        write_text(dst, value.as_bytes(), escaping, false);
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

/// Shorthand for [`encode_with`]: `escapes` true is [`Escaping::V1_2`],
/// false is [`Escaping::None`]. A 1.1 session needs [`encode_with`] and
/// [`Escaping::V1_1`], or its receivers get `\r` escapes they must reject.
pub fn encode(frame: &Frame, escapes: bool, dst: &mut BytesMut) {
    encode_with(frame, Escaping::from_flag(escapes), dst);
}

/// [`encode_with`] into a fresh vector, for tests and clients.
pub fn encode_to_vec_with(frame: &Frame, escaping: Escaping) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_with(frame, escaping, &mut dst);
    dst.to_vec()
}

/// [`encode`] into a fresh vector, for tests and clients; the same
/// shorthand for [`encode_to_vec_with`].
pub fn encode_to_vec(frame: &Frame, escapes: bool) -> Vec<u8> {
    encode_to_vec_with(frame, Escaping::from_flag(escapes))
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

fn write_text(dst: &mut BytesMut, text: &[u8], escaping: Escaping, is_name: bool) {
    match escaping {
        Escaping::None => for_each_literal(text, is_name, |run| dst.put_slice(run)),
        Escaping::V1_1 | Escaping::V1_2 => {
            for_each_escaped(text, escaping, |run| dst.put_slice(run))
        }
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

    fn encoded_as(frame: &Frame, escaping: Escaping) -> String {
        String::from_utf8(encode_to_vec_with(frame, escaping)).unwrap()
    }

    #[test]
    fn encoder_v1_1_writes_cr_raw_and_escapes_the_rest() {
        let frame = Frame::new(Command::Message).header("a:b\r", "c\\d\ne\rf:g");
        assert_eq!(
            encoded_as(&frame, Escaping::V1_1),
            "MESSAGE\na\\cb\r:c\\\\d\\ne\rf\\cg\ncontent-length:0\n\n\0"
        );
    }

    #[test]
    fn encoder_v1_1_never_escapes_connect_stomp_connected() {
        for command in [Command::Connect, Command::Stomp, Command::Connected] {
            let frame = Frame::new(command).header("passcode", "a\\b:c\rd");
            assert_eq!(
                encoded_as(&frame, Escaping::V1_1),
                format!("{command}\npasscode:a\\b:c d\n\n\0")
            );
        }
    }

    #[test]
    fn encode_is_shorthand_for_1_2_or_none() {
        let frame = Frame::new(Command::Message)
            .header("a:b\r", "c\\d\ne\rf:g")
            .body("x");
        assert_eq!(
            encode_to_vec(&frame, true),
            encode_to_vec_with(&frame, Escaping::V1_2)
        );
        assert_eq!(
            encode_to_vec(&frame, false),
            encode_to_vec_with(&frame, Escaping::None)
        );
        let mut dst = BytesMut::new();
        encode(&frame, true, &mut dst);
        assert_eq!(&dst[..], encode_to_vec_with(&frame, Escaping::V1_2));
    }

    #[test]
    fn every_mode_round_trips_what_it_can_represent() {
        let tricky = "a\\b:c\nd\re ü";
        for escaping in Escaping::ALL {
            let frame = if escaping == Escaping::None {
                Frame::new(Command::Send).header("k", "a\\b:c ü")
            } else {
                Frame::new(Command::Send).header(tricky, tricky)
            };
            let mut decoder = crate::Decoder::new(crate::Limits::default());
            decoder.set_escaping(escaping);
            let mut buffer = BytesMut::from(&encode_to_vec_with(&frame, escaping)[..]);
            let decoded = decoder.decode(&mut buffer).unwrap().unwrap();
            assert_eq!(
                decoded,
                frame.clone().header("content-length", "0"),
                "{escaping:?}"
            );
            assert!(buffer.is_empty());
        }
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
