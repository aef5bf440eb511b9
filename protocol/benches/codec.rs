//! Decode and encode throughput on the frames a chat broker sees most: a
//! SEND with a small JSON message, a MESSAGE with the broker's headers and
//! a 1 KiB body, and a buffer of 100 frames as a busy socket delivers them.
//! Each case is measured in bytes/s and in frames/s.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use herald_protocol::{encode, Command, Decoder, Frame, Limits};

fn send_frame() -> Frame {
    let body = format!(
        r#"{{"type":"text","text":"{}","mentions":[17,42]}}"#,
        "see you at the station at nine, bring the tickets please ".repeat(3)
    );
    Frame::new(Command::Send)
        .header("destination", "/group/1042")
        .header("content-type", "application/json")
        .header("client-msg-id", "5f0c6a2e-8d1b-4c57-9a0e-3b2f1d7c9e44")
        .header("receipt", "r-1729")
        .header("kind", "message")
        .body(body)
}

fn message_frame() -> Frame {
    let body = format!(
        r#"{{"type":"text","text":"{}"}}"#,
        "x".repeat(1024 - r#"{"type":"text","text":""}"#.len())
    );
    Frame::new(Command::Message)
        .header("subscription", "sub-0")
        .header("message-id", "7254913081294848001")
        .header("destination", "/user/42")
        .header("content-type", "application/json")
        .header("seq", "18231")
        .header("conversation", "u17-42")
        .header("sender", "17")
        .header("timestamp", "1732300000000")
        .header("ack", "7254913081294848001")
        .header("kind", "message")
        .body(body)
}

struct Case {
    name: &'static str,
    frames: Vec<Frame>,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let batch: Vec<Frame> = (0..100)
        .map(|index| {
            if index % 2 == 0 {
                send_frame()
            } else {
                message_frame()
            }
        })
        .collect();
    [
        ("send_200b", vec![send_frame()]),
        ("message_1kib", vec![message_frame()]),
        ("batch_100", batch),
    ]
    .into_iter()
    .map(|(name, frames)| {
        let mut bytes = BytesMut::new();
        for frame in &frames {
            encode(frame, true, &mut bytes);
        }
        Case {
            name,
            frames,
            bytes: bytes.to_vec(),
        }
    })
    .collect()
}

fn decode_all(decoder: &mut Decoder, mut buffer: BytesMut) -> usize {
    let mut count = 0;
    while let Some(frame) = decoder.decode(&mut buffer).expect("valid frames") {
        black_box(frame);
        count += 1;
    }
    count
}

fn bench(criterion: &mut Criterion, group_name: &str, throughput: fn(&Case) -> Throughput) {
    let mut group = criterion.benchmark_group(group_name);
    for case in cases() {
        group.throughput(throughput(&case));
        let mut decoder = Decoder::new(Limits::default());
        group.bench_function(format!("decode/{}", case.name), |bencher| {
            bencher.iter_batched(
                || BytesMut::from(&case.bytes[..]),
                |buffer| decode_all(&mut decoder, buffer),
                BatchSize::SmallInput,
            )
        });
        let mut dst = BytesMut::with_capacity(case.bytes.len());
        group.bench_function(format!("encode/{}", case.name), |bencher| {
            bencher.iter(|| {
                dst.clear();
                for frame in &case.frames {
                    encode(black_box(frame), true, &mut dst);
                }
                dst.len()
            })
        });
    }
    group.finish();
}

fn bytes_per_second(criterion: &mut Criterion) {
    bench(criterion, "bytes", |case| {
        Throughput::Bytes(case.bytes.len() as u64)
    });
}

fn frames_per_second(criterion: &mut Criterion) {
    bench(criterion, "frames", |case| {
        Throughput::Elements(case.frames.len() as u64)
    });
}

criterion_group!(benches, bytes_per_second, frames_per_second);
criterion_main!(benches);
