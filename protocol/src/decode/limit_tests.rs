//! The limits, each on a complete frame and on a frame still arriving.

use bytes::BytesMut;

use super::*;

fn limited(limits: Limits) -> Decoder {
    Decoder::new(limits)
}

fn small() -> Limits {
    Limits {
        max_frame_bytes: 64,
        max_headers: 2,
        max_header_line: 10,
        max_body_bytes: 16,
    }
}

fn decode(bytes: &[u8]) -> Result<Option<Frame>, DecodeError> {
    limited(small()).decode(&mut BytesMut::from(bytes))
}

fn exceeded(limit: Limit, max: usize) -> Result<Option<Frame>, DecodeError> {
    Err(DecodeError::Limit { limit, max })
}

#[test]
fn frame_bytes_limit_on_complete_frame() {
    // 64 bytes exactly is allowed; 65 is not.
    let body = "x".repeat(16);
    let fits = format!("SEND\na:1\nb:2\n\n{body}\0");
    let mut padded = String::from("SEND\na:1\nb:2\n\n");
    padded.push_str(&"y".repeat(64 - padded.len() - 1));
    padded.push('\0');
    let limits = Limits {
        max_body_bytes: 64,
        ..small()
    };
    assert!(limited(limits)
        .decode(&mut BytesMut::from(fits.as_bytes()))
        .unwrap()
        .is_some());
    assert!(limited(limits)
        .decode(&mut BytesMut::from(padded.as_bytes()))
        .unwrap()
        .is_some());
    padded.insert(20, 'y');
    assert_eq!(
        limited(limits).decode(&mut BytesMut::from(padded.as_bytes())),
        exceeded(Limit::FrameBytes, 64)
    );
}

#[test]
fn frame_bytes_limit_on_partial_frame() {
    let limits = Limits {
        max_body_bytes: 1000,
        ..small()
    };
    let mut decoder = limited(limits);
    let mut buffer = BytesMut::from(&b"SEND\n\n"[..]);
    assert_eq!(decoder.decode(&mut buffer), Ok(None));
    buffer.extend_from_slice(&[b'x'; 58]);
    assert_eq!(decoder.decode(&mut buffer), Ok(None));
    buffer.extend_from_slice(b"x");
    assert_eq!(decoder.decode(&mut buffer), exceeded(Limit::FrameBytes, 64));
}

#[test]
fn frame_bytes_limit_on_declared_content_length() {
    let limits = Limits {
        max_body_bytes: 1000,
        max_header_line: 32,
        ..small()
    };
    let mut buffer = BytesMut::from(&b"SEND\ncontent-length:60\n\n"[..]);
    assert_eq!(
        limited(limits).decode(&mut buffer),
        exceeded(Limit::FrameBytes, 64)
    );
}

#[test]
fn heart_beats_do_not_count_toward_frame_bytes() {
    let mut bytes = vec![b'\n'; 500];
    bytes.extend_from_slice(b"SEND\n\n\0");
    assert!(decode(&bytes).unwrap().is_some());
}

#[test]
fn headers_limit_on_complete_frame() {
    assert!(decode(b"SEND\na:1\nb:2\n\n\0").unwrap().is_some());
    assert_eq!(
        decode(b"SEND\na:1\nb:2\nc:3\n\n\0"),
        exceeded(Limit::Headers, 2)
    );
}

#[test]
fn headers_limit_on_partial_frame() {
    assert_eq!(decode(b"SEND\na:1\nb:2\n\r"), Ok(None));
    assert_eq!(decode(b"SEND\na:1\nb:2\nc"), exceeded(Limit::Headers, 2));
}

#[test]
fn header_line_limit_on_complete_frame() {
    assert!(decode(b"SEND\nabcd:12345\n\n\0").unwrap().is_some());
    assert!(decode(b"SEND\nabcd:12345\r\n\r\n\0").unwrap().is_some());
    assert_eq!(
        decode(b"SEND\nabcd:123456\n\n\0"),
        exceeded(Limit::HeaderLine, 10)
    );
}

#[test]
fn header_line_limit_on_partial_frame() {
    assert_eq!(decode(b"SEND\nabcd:12345\r"), Ok(None));
    assert_eq!(
        decode(b"SEND\nabcd:123456"),
        exceeded(Limit::HeaderLine, 10)
    );
}

#[test]
fn header_line_limit_counts_a_1_1_cr_before_lf() {
    // In 1.1 the CR is part of the value, so the line holds 11 bytes. The
    // unfinished line passes: a trailing CR is judged once its LF is in.
    let mut decoder = limited(small());
    decoder.set_escaping(Escaping::V1_1);
    assert_eq!(
        decoder.decode(&mut BytesMut::from(&b"SEND\nabcd:12345\r"[..])),
        Ok(None)
    );
    decoder.reset();
    assert_eq!(
        decoder.decode(&mut BytesMut::from(&b"SEND\nabcd:12345\r\n\n\0"[..])),
        exceeded(Limit::HeaderLine, 10)
    );
}

#[test]
fn header_line_limit_counts_escaped_bytes() {
    // 11 bytes on the wire, 10 once unescaped.
    assert_eq!(
        decode(b"SEND\nabcd:1234\\c\n\n\0"),
        exceeded(Limit::HeaderLine, 10)
    );
}

#[test]
fn body_bytes_limit_on_complete_frame() {
    assert!(decode(b"SEND\n\n0123456789abcdef\0").unwrap().is_some());
    assert_eq!(
        decode(b"SEND\n\n0123456789abcdefg\0"),
        exceeded(Limit::BodyBytes, 16)
    );
}

#[test]
fn body_bytes_limit_on_partial_frame() {
    assert_eq!(decode(b"SEND\n\n0123456789abcdef"), Ok(None));
    assert_eq!(
        decode(b"SEND\n\n0123456789abcdefg"),
        exceeded(Limit::BodyBytes, 16)
    );
}

#[test]
fn body_bytes_limit_on_declared_content_length() {
    let limits = Limits {
        max_header_line: 32,
        ..small()
    };
    let mut buffer = BytesMut::from(&b"SEND\ncontent-length:17\n"[..]);
    assert_eq!(
        limited(limits).decode(&mut buffer),
        exceeded(Limit::BodyBytes, 16)
    );
    let mut buffer = BytesMut::from(&b"SEND\ncontent-length:16\n\n0123456789abcdef\0"[..]);
    assert!(limited(limits).decode(&mut buffer).unwrap().is_some());
}

#[test]
fn dribbled_body_is_scanned_once_and_still_limited() {
    let limits = Limits {
        max_frame_bytes: 1 << 20,
        max_body_bytes: 1000,
        ..small()
    };
    let mut decoder = limited(limits);
    let mut buffer = BytesMut::from(&b"SEND\n\n"[..]);
    for _ in 0..1000 {
        buffer.extend_from_slice(b"x");
        assert_eq!(decoder.decode(&mut buffer), Ok(None));
    }
    assert!(decoder.frame.scanned == buffer.len());
    buffer.extend_from_slice(b"x");
    assert_eq!(
        decoder.decode(&mut buffer),
        exceeded(Limit::BodyBytes, 1000)
    );
}
