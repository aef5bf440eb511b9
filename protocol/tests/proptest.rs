//! Properties of the codec as a whole, under each escaping (1.0, 1.1 and
//! 1.2): encoding then decoding gives the frame back, no input panics the
//! decoder, and how the bytes are chunked never changes what is decoded.

use bytes::BytesMut;
use herald_protocol::{
    encode_to_vec, encode_to_vec_with, Command, DecodeError, Decoder, Escaping, Frame, Headers,
    Limits,
};
use proptest::prelude::*;

fn command() -> impl Strategy<Value = Command> {
    prop::sample::select(Command::ALL.to_vec())
}

fn escaping() -> impl Strategy<Value = Escaping> {
    prop::sample::select(Escaping::ALL.to_vec())
}

/// Characters that stress the codec, mixed with arbitrary ones. `escaped`
/// is the escaping the frame's headers get: CR, LF and (in a name) colons
/// cannot be written without one. (1.1 writes a CR raw, 1.2 escapes it.)
fn header_char(escaped: Escaping, is_name: bool) -> impl Strategy<Value = char> {
    let representable = move |c: &char| {
        escaped != Escaping::None || !(*c == '\n' || *c == '\r' || (is_name && *c == ':'))
    };
    // Unrepresentable characters are left out or replaced rather than
    // filtered, so that long runs do not exhaust proptest's rejections.
    let mut specials = vec!['\\', ':', '\n', '\r', '\0', 'c', 'n', 'r', ' '];
    specials.retain(representable);
    prop_oneof![
        3 => any::<char>().prop_map(move |c| if representable(&c) { c } else { '_' }),
        1 => prop::sample::select(specials),
    ]
}

fn header_text(escaped: Escaping, is_name: bool, min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(header_char(escaped, is_name), min..12)
        .prop_map(String::from_iter)
        .prop_filter("content-length is the encoder's", |text| {
            text != "content-length"
        })
}

fn headers(escaped: Escaping) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            header_text(escaped, true, 1),
            header_text(escaped, false, 0),
        ),
        0..8,
    )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(prop::sample::select(vec![0u8, b'\n', b'a']), 0..20),
    ]
}

/// A frame valid for a session under some escaping, and that escaping.
fn frame_and_mode() -> impl Strategy<Value = (Frame, Escaping)> {
    (command(), escaping()).prop_flat_map(|(command, escaping)| {
        let escaped = if command.escapes_headers() {
            escaping
        } else {
            Escaping::None
        };
        (headers(escaped), body()).prop_map(move |(headers, body)| {
            let frame = Frame {
                command,
                headers: headers.into_iter().collect(),
                body: body.into(),
            };
            (frame, escaping)
        })
    })
}

/// What the decoder returns for an encoded frame: the frame, plus the
/// `content-length` the encoder adds to a non-empty body and to every
/// frame that may carry one.
fn as_decoded(frame: &Frame) -> Frame {
    let mut expected = frame.clone();
    if !frame.body.is_empty() || frame.command.allows_body() {
        expected
            .headers
            .push("content-length", frame.body.len().to_string());
    }
    expected
}

/// Decodes everything in `buffer`: the frames, then the error if any.
fn decode_all(decoder: &mut Decoder, buffer: &mut BytesMut) -> (Vec<Frame>, Option<DecodeError>) {
    let mut frames = Vec::new();
    loop {
        match decoder.decode(buffer) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(error) => return (frames, Some(error)),
        }
    }
}

/// Decodes `bytes` fed in pieces cut at `cuts`, stopping at the first error.
fn decode_chunked(
    decoder: &mut Decoder,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<Frame>, Option<DecodeError>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for cut in cuts {
        buffer.extend_from_slice(&bytes[start..cut]);
        start = cut;
        let (mut decoded, error) = decode_all(decoder, &mut buffer);
        frames.append(&mut decoded);
        if error.is_some() {
            return (frames, error);
        }
    }
    (frames, None)
}

fn small_limits() -> Limits {
    Limits {
        max_frame_bytes: 256,
        max_headers: 4,
        max_header_line: 24,
        max_body_bytes: 64,
    }
}

fn any_limits() -> impl Strategy<Value = Limits> {
    prop_oneof![Just(Limits::default()), Just(small_limits())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_gives_the_frame((frame, escaping) in frame_and_mode()) {
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_escaping(escaping);
        let mut buffer = BytesMut::from(&encode_to_vec_with(&frame, escaping)[..]);
        let decoded = decoder.decode(&mut buffer).unwrap().unwrap();
        prop_assert_eq!(decoded, as_decoded(&frame));
        prop_assert!(buffer.is_empty());
    }

    #[test]
    fn encoding_a_decoded_frame_is_stable((frame, escaping) in frame_and_mode()) {
        let once = encode_to_vec_with(&frame, escaping);
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_escaping(escaping);
        let decoded = decoder.decode(&mut BytesMut::from(&once[..])).unwrap().unwrap();
        prop_assert_eq!(encode_to_vec_with(&decoded, escaping), once);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        escaping in escaping(),
        limits in any_limits(),
    ) {
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        decode_all(&mut decoder, &mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_prefix_never_panic(
        (frame, escaping) in frame_and_mode(),
        cut in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..128),
        limits in any_limits(),
    ) {
        let encoded = encode_to_vec_with(&frame, escaping);
        let mut bytes = encoded[..cut.index(encoded.len() + 1)].to_vec();
        bytes.extend_from_slice(&tail);
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        decode_all(&mut decoder, &mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn chunking_of_valid_input_does_not_change_the_frames(
        frames in prop::collection::vec(frame_and_mode(), 1..6),
        heart_beats in prop::collection::vec(prop::sample::select(vec!["", "\n", "\r\n", "\n\n\r\n"]), 6),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        escaping in escaping(),
    ) {
        let mut bytes = Vec::new();
        for ((frame, _), heart_beat) in frames.iter().zip(&heart_beats) {
            bytes.extend_from_slice(heart_beat.as_bytes());
            bytes.extend_from_slice(&encode_to_vec_with(frame, escaping));
        }
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_escaping(escaping);
        let one_shot = decode_all(&mut decoder, &mut BytesMut::from(&bytes[..]));
        prop_assert_eq!(one_shot.1.clone(), None);
        prop_assert_eq!(one_shot.0.len(), frames.len());
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_escaping(escaping);
        prop_assert_eq!(decode_chunked(&mut decoder, &bytes, &cuts), one_shot);
    }

    #[test]
    fn chunking_of_arbitrary_input_does_not_change_the_outcome(
        bytes in prop::collection::vec(
            prop_oneof![
                3 => any::<u8>(),
                2 => prop::sample::select(b"\n\r\0:\\SEND".to_vec()),
            ],
            0..400,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        limits in any_limits(),
        escaping in escaping(),
    ) {
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        let (one_shot, one_shot_error) = decode_all(&mut decoder, &mut BytesMut::from(&bytes[..]));
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        let (chunked, chunked_error) = decode_chunked(&mut decoder, &bytes, &cuts);
        prop_assert_eq!(chunked, one_shot);
        prop_assert_eq!(chunked_error.is_some(), one_shot_error.is_some());
    }

    #[test]
    fn chunked_frames_with_arbitrary_bytes_match_one_shot(
        (frame, escaping) in frame_and_mode(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        limits in any_limits(),
    ) {
        let mut bytes = b"SEND\n\n".to_vec();
        bytes.extend_from_slice(&encode_to_vec_with(&frame, escaping));
        bytes.extend_from_slice(&tail);
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        let (one_shot, one_shot_error) = decode_all(&mut decoder, &mut BytesMut::from(&bytes[..]));
        let mut decoder = Decoder::new(limits);
        decoder.set_escaping(escaping);
        let (chunked, chunked_error) = decode_chunked(&mut decoder, &bytes, &cuts);
        prop_assert_eq!(chunked, one_shot);
        prop_assert_eq!(chunked_error.is_some(), one_shot_error.is_some());
    }

    #[test]
    fn v1_1_and_v1_2_differ_only_in_how_a_cr_is_written(
        (frame, _) in frame_and_mode(),
    ) {
        let v1_1 = encode_to_vec_with(&frame, Escaping::V1_1);
        let v1_2 = encode_to_vec_with(&frame, Escaping::V1_2);
        let has_cr = frame.headers.iter().any(|(name, value)| {
            name.contains('\r') || value.contains('\r')
        });
        if has_cr && frame.command.escapes_headers() {
            prop_assert_ne!(&v1_1, &v1_2);
            let mut decoder = Decoder::new(Limits::default());
            decoder.set_escaping(Escaping::V1_1);
            let result = decoder.decode(&mut BytesMut::from(&v1_2[..]));
            prop_assert_eq!(result, Err(DecodeError::InvalidEscape('r')));
        } else {
            prop_assert_eq!(v1_1, v1_2);
        }
    }
}

#[test]
fn repeated_headers_survive_a_round_trip() {
    let headers: Headers = [("a", "1"), ("a", "2")].into_iter().collect();
    let frame = Frame {
        command: Command::Message,
        headers,
        body: Default::default(),
    };
    let decoded = Decoder::new(Limits::default())
        .decode(&mut BytesMut::from(&encode_to_vec(&frame, true)[..]))
        .unwrap()
        .unwrap();
    assert_eq!(decoded, as_decoded(&frame));
    assert_eq!(decoded.get("a"), Some("1"));
}
