//! What a benchmark message carries and how its arrival is checked.
//!
//! Every body starts with a fixed-width ASCII stamp: the run id, the stream
//! (one publisher's sequence), the sequence number and the send time in
//! nanoseconds since the run's shared [`Clock`] started. The same process
//! sends and receives, so latency needs no clock synchronisation. A
//! [`Tally`] per (stream, receiver) counts duplicates, reordering and, at
//! the end, losses; a [`Recorder`] keeps the HdrHistogram of latencies seen
//! inside the measured window.

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use herald_protocol::{encode, Command, Frame};
use tokio::time::Instant;

/// `HB` run `.` stream `.` seq `.` nanos, in lower-case hex.
pub const STAMP_LEN: usize = 2 + 8 + 1 + 8 + 1 + 16 + 1 + 16;

/// The run's time base and measured window, shared by every task.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub epoch: Instant,
    pub run: u32,
    /// Nanoseconds since `epoch` where the measured window starts and ends.
    pub window_start: u64,
    pub window_end: u64,
}

impl Clock {
    pub fn new(warmup: std::time::Duration, duration: std::time::Duration) -> Clock {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos() ^ since.as_secs() as u32);
        let epoch = Instant::now();
        let window_start = warmup.as_nanos() as u64;
        Clock {
            epoch,
            run,
            window_start,
            window_end: window_start + duration.as_nanos() as u64,
        }
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn in_window(&self, nanos: u64) -> bool {
        nanos >= self.window_start && nanos < self.window_end
    }

    /// The instant `nanos` after the epoch.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.epoch + std::time::Duration::from_nanos(nanos)
    }
}

/// The identity and send time of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub stream: u32,
    pub seq: u64,
    pub nanos: u64,
}

impl Stamp {
    fn write(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(b"HB");
        hex(&mut out[2..10], self.run as u64);
        out[10] = b'.';
        hex(&mut out[11..19], self.stream as u64);
        out[19] = b'.';
        hex(&mut out[20..36], self.seq);
        out[36] = b'.';
        hex(&mut out[37..53], self.nanos);
    }

    /// Reads the stamp at the start of a body; `None` when it is not one.
    pub fn read(body: &[u8]) -> Option<Stamp> {
        if body.len() < STAMP_LEN || &body[..2] != b"HB" {
            return None;
        }
        Some(Stamp {
            run: unhex(&body[2..10])? as u32,
            stream: unhex(&body[11..19])? as u32,
            seq: unhex(&body[20..36])?,
            nanos: unhex(&body[37..53])?,
        })
    }
}

fn hex(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b"0123456789abcdef"[(value & 15) as usize];
        value >>= 4;
    }
}

fn unhex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &digit| {
        let nibble = (digit as char).to_digit(16)?;
        Some(value << 4 | nibble as u64)
    })
}

/// A SEND frame encoded once, into which each message's stamp (and its
/// receipt id, when asked for) is written in place.
pub struct SendTemplate {
    bytes: Vec<u8>,
    body_at: usize,
    receipt_at: Option<usize>,
}

/// Placeholder for a receipt id: 16 hex digits, the message's sequence.
const RECEIPT_SLOT: &str = "################";

impl SendTemplate {
    /// `size` is the body size, at least [`STAMP_LEN`].
    pub fn new(destination: &str, size: usize, headers: &[(&str, &str)], receipt: bool) -> Self {
        let size = size.max(STAMP_LEN);
        let mut frame = Frame::new(Command::Send).header("destination", destination);
        for (name, value) in headers {
            frame.headers.push(*name, *value);
        }
        if receipt {
            frame.headers.push("receipt", RECEIPT_SLOT);
        }
        frame.body = Bytes::from(vec![b'.'; size]);
        let mut encoded = BytesMut::new();
        encode(&frame, true, &mut encoded);
        let bytes = encoded.to_vec();
        let body_at = bytes.len() - 1 - size;
        let receipt_at = receipt.then(|| {
            bytes
                .windows(RECEIPT_SLOT.len())
                .position(|window| window == RECEIPT_SLOT.as_bytes())
                .unwrap_or(0)
        });
        SendTemplate {
            bytes,
            body_at,
            receipt_at,
        }
    }

    /// The wire bytes of one message.
    pub fn message(&self, stamp: Stamp) -> Bytes {
        let mut bytes = self.bytes.clone();
        stamp.write(&mut bytes[self.body_at..self.body_at + STAMP_LEN]);
        if let Some(at) = self.receipt_at {
            hex(&mut bytes[at..at + RECEIPT_SLOT.len()], stamp.seq);
        }
        Bytes::from(bytes)
    }
}

/// The receipt id [`SendTemplate::message`] wrote for `seq`, read back.
pub fn receipt_seq(receipt_id: &str) -> Option<u64> {
    (receipt_id.len() == RECEIPT_SLOT.len())
        .then(|| unhex(receipt_id.as_bytes()))
        .flatten()
}

/// What one receiver saw of one stream.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    seen: Vec<u64>,
    pub distinct: u64,
    pub duplicates: u64,
    /// Arrivals with a lower sequence than one already seen.
    pub out_of_order: u64,
    highest: Option<u64>,
}

impl Tally {
    pub fn record(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1 + word / 2, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        self.distinct += 1;
        match self.highest {
            Some(highest) if seq < highest => self.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
    }
}

/// Latencies and arrivals inside the measured window, per receiving task.
pub struct Recorder {
    pub histogram: Histogram<u64>,
    /// Arrivals inside the window (the throughput figure).
    pub in_window: u64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder {
            // 1 ns .. 100 s at 3 significant digits.
            histogram: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .expect("constant histogram bounds are valid"),
            in_window: 0,
        }
    }
}

impl Recorder {
    /// Notes an arrival at `now` of something sent at `sent` (both nanos
    /// since the epoch); counted only when it arrived inside the window.
    pub fn record(&mut self, clock: &Clock, sent: u64, now: u64) {
        if clock.in_window(now) {
            self.in_window += 1;
            self.histogram
                .saturating_record(now.saturating_sub(sent).max(1));
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.histogram.add(&other.histogram);
        self.in_window += other.in_window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_a_send_frame() {
        let template = SendTemplate::new("/topic/a", 100, &[("persistent", "true")], true);
        let stamp = Stamp {
            run: 0xdead_beef,
            stream: 7,
            seq: 1234,
            nanos: 987_654_321,
        };
        let bytes = template.message(stamp);
        let mut buffer = BytesMut::from(&bytes[..]);
        let frame = herald_protocol::Decoder::new(Default::default())
            .decode(&mut buffer)
            .unwrap()
            .unwrap();
        assert_eq!(frame.body.len(), 100);
        assert_eq!(Stamp::read(&frame.body), Some(stamp));
        assert_eq!(frame.get("receipt").and_then(receipt_seq), Some(1234));
        assert_eq!(frame.get("persistent"), Some("true"));
    }

    #[test]
    fn tally_counts_duplicates_and_reordering() {
        let mut tally = Tally::default();
        for seq in [0, 1, 3, 2, 3, 500] {
            tally.record(seq);
        }
        assert_eq!(
            (tally.distinct, tally.duplicates, tally.out_of_order),
            (5, 1, 1)
        );
    }
}
