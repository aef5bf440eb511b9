//! Decodes arbitrary bytes under small limits, with escaping on and off,
//! in one piece and in chunks. Every frame that comes out must survive an
//! encode and a decode unchanged (but for `content-length`, which the
//! encoder always writes itself), and chunking must not change what comes
//! out.
//!
//! Run from `protocol/`:
//! `cargo +nightly fuzz run decode fuzz/corpus/decode fuzz/seeds`

#![no_main]

use bytes::BytesMut;
use herald_protocol::{encode_to_vec, Decoder, Frame, Limits};
use libfuzzer_sys::fuzz_target;

const SMALL: Limits = Limits {
    max_frame_bytes: 4096,
    max_headers: 16,
    max_header_line: 256,
    max_body_bytes: 2048,
};

fuzz_target!(|data: &[u8]| {
    for escapes in [true, false] {
        let one_shot = decode(data, escapes, data.len().max(1));
        let chunk = data.first().map_or(1, |byte| usize::from(byte % 13) + 1);
        assert_eq!(decode(data, escapes, chunk), one_shot);
        for frame in &one_shot.0 {
            assert_round_trip(frame, escapes);
        }
    }
});

/// The frames decoded from `data` fed `chunk` bytes at a time, and whether
/// decoding stopped at an error.
fn decode(data: &[u8], escapes: bool, chunk: usize) -> (Vec<Frame>, bool) {
    let mut decoder = Decoder::new(SMALL);
    decoder.set_escapes(escapes);
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

fn assert_round_trip(frame: &Frame, escapes: bool) {
    let mut expected = frame.clone();
    expected.headers.remove("content-length");
    if !frame.body.is_empty() {
        expected
            .headers
            .push("content-length", frame.body.len().to_string());
    }
    // The original bytes fitted SMALL, but escaping may make them longer.
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_escapes(escapes);
    let mut buffer = BytesMut::from(&encode_to_vec(frame, escapes)[..]);
    let decoded = decoder.decode(&mut buffer).expect("re-encoded frame decodes");
    assert_eq!(decoded, Some(expected));
    assert!(buffer.is_empty());
}
