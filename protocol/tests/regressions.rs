//! Replays every input in `fuzz/regressions/` (crashes the fuzz target once
//! found, and seeds worth keeping) through the decoder with the fuzz
//! target's checks: no panic under any escaping, one piece or in chunks the
//! same frames come out, and each frame survives an encode and a decode.
//! `scripts/fuzz.sh` adds new crashes here.

use std::path::Path;

use bytes::BytesMut;
use herald_protocol::{encode_to_vec_with, Decoder, Escaping, Frame, Limits};

/// The fuzz target's limits, so inputs replay as they were found.
const SMALL: Limits = Limits {
    max_frame_bytes: 4096,
    max_headers: 16,
    max_header_line: 256,
    max_body_bytes: 2048,
};

#[test]
fn every_regression_input_decodes_without_harm() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&folder).expect("fuzz/regressions exists") {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        check(&name, &data);
        replayed += 1;
    }
    assert!(replayed > 0, "no inputs in {}", folder.display());
}

/// The fuzz target's body (`fuzz/fuzz_targets/decode.rs`), with the input's
/// name in every failure.
fn check(name: &str, data: &[u8]) {
    for escaping in Escaping::ALL {
        let one_shot = decode(data, escaping, data.len().max(1));
        let chunk = data.first().map_or(1, |byte| usize::from(byte % 13) + 1);
        assert_eq!(decode(data, escaping, chunk), one_shot, "{name}: chunked");
        for size in [1, 2, 7] {
            assert_eq!(
                decode(data, escaping, size),
                one_shot,
                "{name}: chunks of {size}"
            );
        }
        for frame in &one_shot.0 {
            round_trip(name, frame, escaping);
        }
    }
}

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

fn round_trip(name: &str, frame: &Frame, escaping: Escaping) {
    let mut expected = frame.clone();
    expected.headers.remove("content-length");
    if !frame.body.is_empty() || frame.command.allows_body() {
        expected
            .headers
            .push("content-length", frame.body.len().to_string());
    }
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_escaping(escaping);
    let mut buffer = BytesMut::from(&encode_to_vec_with(frame, escaping)[..]);
    let decoded = decoder.decode(&mut buffer);
    assert_eq!(
        decoded,
        Ok(Some(expected)),
        "{name}: round trip under {escaping:?}"
    );
    assert!(buffer.is_empty(), "{name}: bytes left after the round trip");
}
