//! One test per grammar rule and behaviour of the decoder.

use bytes::BytesMut;

use super::*;

fn decoder() -> Decoder {
    Decoder::new(Limits::default())
}

/// Decodes one frame from `bytes`, which must hold all of it.
fn decode_one(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let mut buffer = BytesMut::from(bytes);
    decoder()
        .decode(&mut buffer)
        .map(|frame| frame.expect("a whole frame"))
}

/// Decodes one frame from `bytes` under `escaping`.
fn decode_as(escaping: Escaping, bytes: &[u8]) -> Result<Frame, DecodeError> {
    let mut decoder = decoder();
    decoder.set_escaping(escaping);
    decoder
        .decode(&mut BytesMut::from(bytes))
        .map(|frame| frame.expect("a whole frame"))
}

fn headers(frame: &Frame) -> Vec<(&str, &str)> {
    frame.headers.iter().collect()
}

#[test]
fn minimal_frame() {
    let frame = decode_one(b"DISCONNECT\n\n\0").unwrap();
    assert_eq!(frame, Frame::new(Command::Disconnect));
}

#[test]
fn every_command_is_recognised() {
    for command in Command::ALL {
        let frame = decode_one(format!("{command}\n\n\0").as_bytes()).unwrap();
        assert_eq!(frame.command, command);
    }
}

#[test]
fn longest_command_is_unsubscribe() {
    let longest = Command::ALL
        .iter()
        .map(|command| command.as_str().len())
        .max();
    assert_eq!(longest, Some(LONGEST_COMMAND));
}

#[test]
fn crlf_line_endings() {
    let frame = decode_one(b"SEND\r\ndestination:/queue/a\r\nx:y\r\n\r\nbody\0").unwrap();
    assert_eq!(frame.command, Command::Send);
    assert_eq!(headers(&frame), [("destination", "/queue/a"), ("x", "y")]);
    assert_eq!(frame.body, "body");
}

#[test]
fn crlf_before_frame_is_a_heart_beat() {
    let frame = decode_one(b"\r\n\r\nSEND\n\n\0").unwrap();
    assert_eq!(frame.command, Command::Send);
}

#[test]
fn eols_between_frames_are_heartbeats() {
    let mut buffer = BytesMut::from(&b"\n\r\n\nSEND\n\nA\0\n\r\n\n\nSEND\n\nB\0\n"[..]);
    let mut decoder = decoder();
    assert_eq!(decoder.decode(&mut buffer).unwrap().unwrap().body, "A");
    assert_eq!(decoder.decode(&mut buffer).unwrap().unwrap().body, "B");
    assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
    assert!(buffer.is_empty());
}

#[test]
fn heart_beats_alone_are_consumed() {
    let mut buffer = BytesMut::from(&b"\n\n\r\n\n"[..]);
    assert_eq!(decoder().decode(&mut buffer).unwrap(), None);
    assert!(buffer.is_empty());
}

#[test]
fn unfinished_crlf_heart_beat_waits() {
    let mut buffer = BytesMut::from(&b"\n\r"[..]);
    let mut decoder = decoder();
    assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
    assert_eq!(&buffer[..], b"\r");
    buffer.extend_from_slice(b"\n");
    assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
    assert!(buffer.is_empty());
}

#[test]
fn trailing_eols_stay_in_buffer() {
    let mut buffer = BytesMut::from(&b"SEND\n\n\0\r\n\n"[..]);
    decoder().decode(&mut buffer).unwrap().unwrap();
    assert_eq!(&buffer[..], b"\r\n\n");
}

#[test]
fn commands_are_case_sensitive() {
    assert_eq!(
        decode_one(b"send\n\n\0"),
        Err(DecodeError::UnknownCommand("send".into()))
    );
    assert_eq!(
        decode_one(b"Send\n\n\0"),
        Err(DecodeError::UnknownCommand("Send".into()))
    );
}

#[test]
fn unknown_command_is_error() {
    assert_eq!(
        decode_one(b"PUBLISH\n\n\0"),
        Err(DecodeError::UnknownCommand("PUBLISH".into()))
    );
}

#[test]
fn long_command_line_is_rejected_before_its_end() {
    let mut buffer = BytesMut::from(&b"GET / HTTP/1.1"[..]);
    assert!(matches!(
        decoder().decode(&mut buffer),
        Err(DecodeError::UnknownCommand(_))
    ));
}

#[test]
fn non_utf8_command_is_error() {
    assert_eq!(
        decode_one(b"SEN\xff\n\n\0"),
        Err(DecodeError::InvalidUtf8("command"))
    );
}

#[test]
fn value_containing_colons() {
    let frame = decode_one(b"SEND\nurl:http://a:80/b\n\n\0").unwrap();
    assert_eq!(frame.get("url"), Some("http://a:80/b"));
}

#[test]
fn empty_header_value() {
    let frame = decode_one(b"SEND\nempty:\n\n\0").unwrap();
    assert_eq!(headers(&frame), [("empty", "")]);
}

#[test]
fn header_without_colon_is_malformed() {
    assert_eq!(
        decode_one(b"SEND\nno-colon\n\n\0"),
        Err(DecodeError::MalformedHeader("no-colon".into()))
    );
}

#[test]
fn empty_header_name_is_malformed() {
    assert!(matches!(
        decode_one(b"SEND\n:value\n\n\0"),
        Err(DecodeError::MalformedHeader(_))
    ));
}

#[test]
fn bare_cr_in_header_is_malformed() {
    assert!(matches!(
        decode_one(b"SEND\na:b\rc\n\n\0"),
        Err(DecodeError::MalformedHeader(_))
    ));
    assert!(matches!(
        decode_one(b"SEND\na:b\r\r\n\n\0"),
        Err(DecodeError::MalformedHeader(_))
    ));
}

#[test]
fn non_utf8_header_is_error() {
    assert_eq!(
        decode_one(b"SEND\nna\xffme:v\n\n\0"),
        Err(DecodeError::InvalidUtf8("header name"))
    );
    assert_eq!(
        decode_one(b"SEND\nname:v\xc3\n\n\0"),
        Err(DecodeError::InvalidUtf8("header value"))
    );
}

#[test]
fn utf8_headers_are_decoded() {
    let frame = decode_one("SEND\nклю́ч:值 🙂\n\n\0".as_bytes()).unwrap();
    assert_eq!(headers(&frame), [("клю́ч", "值 🙂")]);
}

#[test]
fn escape_sequences_decoded() {
    let frame = decode_one(b"MESSAGE\na\\cb:c\\\\d\\ne\\rf\\cg\n\n\0").unwrap();
    assert_eq!(headers(&frame), [("a:b", "c\\d\ne\rf:g")]);
}

#[test]
fn escaped_cr_is_kept_with_crlf_line_ends() {
    let frame = decode_one(b"MESSAGE\r\nk:v\\r\r\n\r\n\0").unwrap();
    assert_eq!(frame.get("k"), Some("v\r"));
}

#[test]
fn connect_headers_not_unescaped() {
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        let frame = decode_one(format!("{command}\npasscode:a\\b\\c\n\n\0").as_bytes()).unwrap();
        assert_eq!(frame.get("passcode"), Some("a\\b\\c"));
    }
}

#[test]
fn escapes_off_keeps_backslashes_literal() {
    let mut decoder = decoder();
    decoder.set_escapes(false);
    let mut buffer = BytesMut::from(&b"MESSAGE\nk:a\\tb\\\n\n\0"[..]);
    let frame = decoder.decode(&mut buffer).unwrap().unwrap();
    assert_eq!(frame.get("k"), Some("a\\tb\\"));
}

#[test]
fn unknown_escape_is_error() {
    assert_eq!(
        decode_one(b"SEND\nk:a\\tb\n\n\0"),
        Err(DecodeError::InvalidEscape('t'))
    );
}

#[test]
fn trailing_lone_backslash_is_error() {
    assert_eq!(
        decode_one(b"SEND\nk:ab\\\n\n\0"),
        Err(DecodeError::InvalidEscape('\n'))
    );
}

#[test]
fn first_repeated_header_wins_all_kept() {
    let frame = decode_one(b"MESSAGE\nfoo:1\nbar:x\nfoo:2\n\n\0").unwrap();
    assert_eq!(frame.get("foo"), Some("1"));
    assert_eq!(headers(&frame), [("foo", "1"), ("bar", "x"), ("foo", "2")]);
}

#[test]
fn content_length_body_with_nuls() {
    let frame = decode_one(b"SEND\ncontent-length:5\n\na\0b\0c\0").unwrap();
    assert_eq!(frame.body, &b"a\0b\0c"[..]);
    assert_eq!(frame.get("content-length"), Some("5"));
}

#[test]
fn first_content_length_wins() {
    let frame = decode_one(b"SEND\ncontent-length:2\ncontent-length:x\n\nab\0").unwrap();
    assert_eq!(frame.body, "ab");
}

#[test]
fn zero_content_length() {
    let frame = decode_one(b"SEND\ncontent-length:0\n\n\0").unwrap();
    assert!(frame.body.is_empty());
}

#[test]
fn body_without_content_length_reads_to_nul() {
    let mut buffer = BytesMut::from(&b"SEND\n\nhello\0world\0"[..]);
    let frame = decoder().decode(&mut buffer).unwrap().unwrap();
    assert_eq!(frame.body, "hello");
    assert_eq!(&buffer[..], b"world\0");
}

#[test]
fn content_length_mismatch_is_missing_nul() {
    assert_eq!(
        decode_one(b"SEND\ncontent-length:2\n\nabc\0"),
        Err(DecodeError::MissingNul)
    );
}

#[test]
fn invalid_content_length() {
    for value in [
        "",
        "x",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "99999999999999999999999",
    ] {
        let bytes = format!("SEND\ncontent-length:{value}\n\n\0");
        assert_eq!(
            decode_one(bytes.as_bytes()),
            Err(DecodeError::InvalidContentLength(value.into())),
            "{value:?}"
        );
    }
}

#[test]
fn body_is_zero_copy_slice_of_buffer() {
    let mut buffer = BytesMut::from(&b"SEND\n\nhello\0"[..]);
    let start = buffer.as_ptr() as usize;
    let frame = decoder().decode(&mut buffer).unwrap().unwrap();
    assert_eq!(frame.body.as_ptr() as usize, start + 6);
}

#[test]
fn partial_input_needs_more() {
    let whole: &[u8] =
        b"\r\nMESSAGE\r\ndestination:/topic/a\nx:a\\cb\ncontent-length:3\r\n\r\na\0b\0";
    let expected = decode_one(whole).unwrap();
    let mut decoder = decoder();
    let mut buffer = BytesMut::new();
    for (index, byte) in whole.iter().enumerate() {
        buffer.extend_from_slice(&[*byte]);
        let decoded = decoder.decode(&mut buffer).unwrap();
        if index + 1 < whole.len() {
            assert_eq!(decoded, None, "after {} bytes", index + 1);
        } else {
            assert_eq!(decoded, Some(expected.clone()));
        }
    }
}

#[test]
fn every_prefix_alone_needs_more() {
    let whole: &[u8] = b"SEND\ndestination:/queue/a\n\nhello\0";
    for end in 0..whole.len() {
        let mut buffer = BytesMut::from(&whole[..end]);
        assert_eq!(decoder().decode(&mut buffer), Ok(None), "prefix {end}");
    }
}

#[test]
fn frame_split_into_several_decode_calls() {
    let mut decoder = decoder();
    let mut buffer = BytesMut::new();
    for chunk in [
        &b"SEN"[..],
        b"D\ndesti",
        b"nation:/q",
        b"ueue/a\n",
        b"\nhel",
        b"lo",
        b"\0",
    ] {
        assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
        buffer.extend_from_slice(chunk);
    }
    let frame = decoder.decode(&mut buffer).unwrap().unwrap();
    assert_eq!(frame.get("destination"), Some("/queue/a"));
    assert_eq!(frame.body, "hello");
}

#[test]
fn several_frames_in_one_buffer() {
    let mut buffer =
        BytesMut::from(&b"SEND\n\n1\0SEND\ncontent-length:1\n\n2\0\nSEND\n\n3\0SE"[..]);
    let mut decoder = decoder();
    for body in ["1", "2", "3"] {
        assert_eq!(decoder.decode(&mut buffer).unwrap().unwrap().body, body);
    }
    assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
    assert_eq!(&buffer[..], b"SE");
}

#[test]
fn reset_forgets_a_partial_frame() {
    let mut decoder = decoder();
    let mut buffer = BytesMut::from(&b"SEND\nk:v\n"[..]);
    assert_eq!(decoder.decode(&mut buffer).unwrap(), None);
    decoder.reset();
    let mut other = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
    let frame = decoder.decode(&mut other).unwrap().unwrap();
    assert_eq!(headers(&frame), [("id", "1")]);
}

#[test]
fn decoder_recovers_after_an_error() {
    let mut decoder = decoder();
    let mut bad = BytesMut::from(&b"SEND\nbad\n\n\0"[..]);
    assert!(decoder.decode(&mut bad).is_err());
    let mut good = BytesMut::from(&b"SEND\n\n\0"[..]);
    assert!(decoder.decode(&mut good).unwrap().is_some());
}

#[test]
fn new_decoder_uses_1_2_rules() {
    assert_eq!(decoder().escaping(), Escaping::V1_2);
}

#[test]
fn set_escapes_is_shorthand_for_1_2_or_none() {
    let mut decoder = decoder();
    decoder.set_escapes(false);
    assert_eq!(decoder.escaping(), Escaping::None);
    decoder.set_escapes(true);
    assert_eq!(decoder.escaping(), Escaping::V1_2);
}

#[test]
fn v1_1_decodes_its_three_escapes() {
    let frame = decode_as(Escaping::V1_1, b"MESSAGE\na\\cb:c\\\\d\\ne\\cf\n\n\0").unwrap();
    assert_eq!(headers(&frame), [("a:b", "c\\d\ne:f")]);
}

#[test]
fn v1_1_rejects_the_cr_escape() {
    assert_eq!(
        decode_as(Escaping::V1_1, b"SEND\nk:a\\rb\n\n\0"),
        Err(DecodeError::InvalidEscape('r'))
    );
    assert_eq!(
        decode_as(Escaping::V1_1, b"SEND\nk\\r:v\n\n\0"),
        Err(DecodeError::InvalidEscape('r'))
    );
}

#[test]
fn v1_1_rejects_other_unknown_escapes_and_a_trailing_backslash() {
    assert_eq!(
        decode_as(Escaping::V1_1, b"SEND\nk:a\\tb\n\n\0"),
        Err(DecodeError::InvalidEscape('t'))
    );
    assert_eq!(
        decode_as(Escaping::V1_1, b"SEND\nk:ab\\\n\n\0"),
        Err(DecodeError::InvalidEscape('\n'))
    );
}

#[test]
fn v1_1_keeps_a_raw_cr_in_a_value() {
    let frame = decode_as(Escaping::V1_1, b"SEND\nk:a\rb\n\n\0").unwrap();
    assert_eq!(frame.get("k"), Some("a\rb"));
}

#[test]
fn v1_1_keeps_a_raw_cr_in_a_name() {
    let frame = decode_as(Escaping::V1_1, b"SEND\na\rb:v\n\n\0").unwrap();
    assert_eq!(headers(&frame), [("a\rb", "v")]);
}

#[test]
fn v1_1_header_line_ends_at_lf_alone() {
    // 1.1's `header-value = *<any OCTET except LF or ":">`: the CR before
    // the LF belongs to the value.
    let frame = decode_as(Escaping::V1_1, b"SEND\nname:value\r\nx:\r\r\n\n\0").unwrap();
    assert_eq!(headers(&frame), [("name", "value\r"), ("x", "\r\r")]);
}

#[test]
fn v1_1_accepts_crlf_on_the_command_and_blank_lines() {
    let frame = decode_as(Escaping::V1_1, b"\r\nSEND\r\nk:v\n\r\nbody\0").unwrap();
    assert_eq!(frame.command, Command::Send);
    assert_eq!(headers(&frame), [("k", "v")]);
    assert_eq!(frame.body, "body");
}

#[test]
fn v1_1_crlf_everywhere_keeps_the_crs_of_header_lines() {
    let frame = decode_as(Escaping::V1_1, b"SEND\r\ndestination:/queue/a\r\n\r\nhi\0").unwrap();
    assert_eq!(frame.get("destination"), Some("/queue/a\r"));
    assert_eq!(frame.body, "hi");
}

#[test]
fn v1_1_content_length_with_a_cr_is_invalid() {
    assert_eq!(
        decode_as(Escaping::V1_1, b"SEND\ncontent-length:2\r\n\nab\0"),
        Err(DecodeError::InvalidContentLength("2\r".into()))
    );
}

#[test]
fn v1_1_raw_cr_in_a_value_arriving_byte_by_byte() {
    let whole: &[u8] = b"SEND\r\nk:a\r\r\n\r\n\0";
    let mut decoder = decoder();
    decoder.set_escaping(Escaping::V1_1);
    let mut buffer = BytesMut::new();
    for (index, byte) in whole.iter().enumerate() {
        buffer.extend_from_slice(&[*byte]);
        let decoded = decoder.decode(&mut buffer).unwrap();
        if index + 1 < whole.len() {
            assert_eq!(decoded, None, "after {} bytes", index + 1);
        } else {
            assert_eq!(decoded.unwrap().get("k"), Some("a\r\r"));
        }
    }
}

#[test]
fn v1_1_connect_headers_are_not_unescaped() {
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        let bytes = format!("{command}\npasscode:a\\r\\t\n\n\0");
        let frame = decode_as(Escaping::V1_1, bytes.as_bytes()).unwrap();
        assert_eq!(frame.get("passcode"), Some("a\\r\\t"));
    }
}

#[test]
fn v1_1_reads_connect_stomp_connected_lines_as_every_version_does() {
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        let bytes = format!("{command}\r\nhost:a\r\n\r\n\0");
        let frame = decode_as(Escaping::V1_1, bytes.as_bytes()).unwrap();
        assert_eq!(frame.get("host"), Some("a"));
        let bytes = format!("{command}\nhost:a\rb\n\n\0");
        assert!(matches!(
            decode_as(Escaping::V1_1, bytes.as_bytes()),
            Err(DecodeError::MalformedHeader(_))
        ));
    }
}

#[test]
fn v1_2_and_none_still_reject_a_bare_cr() {
    for escaping in [Escaping::V1_2, Escaping::None] {
        assert!(matches!(
            decode_as(escaping, b"SEND\nk:a\rb\n\n\0"),
            Err(DecodeError::MalformedHeader(_))
        ));
    }
}

#[test]
fn v1_2_and_none_take_cr_lf_as_the_line_end() {
    for escaping in [Escaping::V1_2, Escaping::None] {
        let frame = decode_as(escaping, b"SEND\r\nk:v\r\n\r\n\0").unwrap();
        assert_eq!(frame.get("k"), Some("v"));
    }
}

#[test]
fn none_keeps_every_backslash() {
    let frame = decode_as(Escaping::None, b"SEND\nk:a\\rb\\c\n\n\0").unwrap();
    assert_eq!(frame.get("k"), Some("a\\rb\\c"));
}
