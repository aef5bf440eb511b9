//! Decodes arbitrary bytes under small limits, under each escaping (1.0,
//! 1.1 and 1.2), in one piece and in chunks. Every frame that comes out
//! must survive an encode and a decode under the same escaping unchanged
//! (but for `content-length`, which the encoder always writes itself), and
//! chunking must not change what comes out.
//!
//! Run from `protocol/`:
//! `cargo +nightly fuzz run decode fuzz/corpus/decode fuzz/seeds`

#![no_main]

use bytes::BytesMut;
use herald_protocol::{encode_to_vec_with, Decoder, Escaping, Frame, Limits};
use libfuzzer_sys::fuzz_target;

const SMALL: Limits = Limits {
    max_frame_bytes: 4096,
    max_headers: 16,
    max_header_line: 256,
    max_body_bytes: 2048,
};

fuzz_target!(|data: &[u8]| {
    for escaping in Escaping::ALL {
        let one_shot = decode(data, escaping, data.len().max(1));
        let chunk = data.first().map_or(1, |byte| usize::from(byte % 13) + 1);
        assert_eq!(decode(data, escaping, chunk), one_shot);
        for frame in &one_shot.0 {
            assert_round_trip(frame, escaping);
        }
    }
});

/// The frames decoded from `data` fed `chunk` bytes at a time, and whether
/// decoding stopped at an error.
fn decode(data: &[u8], escaping: Escaping, chunk: usize) -> (Vec<Frame>, bool) {
    let mut decoder = Decoder::new(SMALL);
    decoder.set_escaping(escaping);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    for piece in data.chunks(chunk) {
        buffer.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fn assert_round_trip(frame: &Frame, escaping: Escaping) {
    let mut expected = frame.clone();
    expected.headers.remove("content-length");
    if !frame.body.is_empty() || frame.command.allows_body() {
        expected
            .headers
            .push("content-length", frame.body.len().to_string());
    }
    // The original bytes fitted SMALL, but escaping may make them longer.
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_escaping(escaping);
    let mut buffer = BytesMut::from(&encode_to_vec_with(frame, escaping)[..]);
    let decoded = decoder
        .decode(&mut buffer)
        .expect("re-encoded frame decodes");
    assert_eq!(decoded, Some(expected));
    assert!(buffer.is_empty());
}
