//! The publisher and receiver loops that `pairs` and `fanout` share.
//!
//! A publisher sends one stream of stamped messages, paced to a rate or
//! flat out, never more than `window` ahead of its slowest receiver (so a
//! flat-out run measures the broker, not an overflowing queue). Under a
//! rate, a message that goes out more than [`TIMER_SLACK`] after it was
//! due is stamped with the time it was due, so a broker that pushes back
//! (a full window) shows up in the latency instead of hiding it (no
//! coordinated omission). A receiver checks every arrival against a
//! [`Tally`] and records its latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use herald_protocol::Command;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::link::{Link, LinkError, Reader, Target, Writer};
use super::message::{Clock, Recorder, SendTemplate, Stamp, Tally};
use super::report::Errors;

/// How late a paced message may go out and still be timed from when it
/// was written: tokio's timers fire on a 1 ms grid, and that lateness is
/// the generator's, not the broker's. A message later than this (the
/// window was full, or the generator starved) is timed from when it was due.
const TIMER_SLACK: u64 = 2_000_000;

/// Opens `count` connections, numbered from `first`, a few at a time.
pub async fn open_all(target: &Target, first: usize, count: usize) -> Result<Vec<Link>, LinkError> {
    futures_util::stream::iter(first..first + count)
        .map(|index| target.open(index))
        .buffered(64)
        .try_collect()
        .await
}

/// Progress shared between one publisher and its receivers.
#[derive(Default)]
pub struct Flow {
    pub sent: AtomicU64,
    /// Messages each receiver has taken (any order, duplicates excluded).
    pub delivered: Vec<AtomicU64>,
    /// Woken by receivers so a publisher blocked on its window goes on.
    pub wake: Notify,
}

impl Flow {
    pub fn new(receivers: usize) -> Arc<Flow> {
        Arc::new(Flow {
            sent: AtomicU64::new(0),
            delivered: (0..receivers).map(|_| AtomicU64::new(0)).collect(),
            wake: Notify::new(),
        })
    }

    fn slowest(&self) -> u64 {
        self.delivered
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// Whether every receiver has everything sent so far.
    pub fn caught_up(&self) -> bool {
        self.slowest() >= self.sent.load(Ordering::Relaxed)
    }
}

/// How one publisher sends.
pub struct Plan {
    pub stream: u32,
    pub template: SendTemplate,
    /// Messages per second for this stream; `None` is flat out.
    pub rate: Option<f64>,
    /// Offset of this stream's schedule, in messages (0..1), so that
    /// streams do not all fire in the same millisecond.
    pub phase: f64,
    pub window: u64,
}

impl Plan {
    /// Nanoseconds after the epoch when message `seq` is due.
    fn due_at(&self, seq: u64, rate: f64) -> u64 {
        ((seq as f64 + self.phase) / rate * 1e9) as u64
    }

    /// How many messages are due by `now`.
    fn due_by(&self, now: u64, rate: f64) -> u64 {
        let slots = now as f64 * rate / 1e9 - self.phase;
        if slots < 0.0 {
            0
        } else {
            slots as u64 + 1
        }
    }
}

/// Sends until the window ends; returns the writer for closing.
pub async fn publish(
    clock: Clock,
    mut writer: Writer,
    plan: Plan,
    flow: Arc<Flow>,
    errors: Arc<Errors>,
) -> Writer {
    let mut seq = 0u64;
    loop {
        let now = clock.now();
        if now >= clock.window_end {
            break;
        }
        let due = plan.rate.map_or(u64::MAX, |rate| plan.due_by(now, rate));
        let room = plan.window.saturating_sub(seq - flow.slowest().min(seq));
        let batch = (due.saturating_sub(seq)).min(room).min(64);
        if batch == 0 {
            let wait = if room == 0 {
                // Receivers wake us; the timeout keeps heart-beats and the
                // end of the window in view.
                let _ = tokio::time::timeout(Duration::from_millis(20), flow.wake.notified()).await;
                Ok(())
            } else {
                let rate = plan.rate.unwrap_or(1.0);
                let next = clock
                    .instant(plan.due_at(seq, rate))
                    .min(tokio::time::Instant::now() + writer.idle_allowance());
                tokio::time::sleep_until(next).await;
                Ok(())
            };
            let result = wait.and(writer.heart_beat_if_due().await);
            if let Err(error) = result {
                errors.note(format!("publisher {}: {error}", plan.stream));
                break;
            }
            continue;
        }
        let mut result = Ok(());
        for _ in 0..batch {
            let nanos = match plan.rate {
                Some(rate) => {
                    let (due, now) = (plan.due_at(seq, rate), clock.now());
                    if now.saturating_sub(due) <= TIMER_SLACK {
                        now
                    } else {
                        due
                    }
                }
                None => clock.now(),
            };
            let stamp = Stamp {
                run: clock.run,
                stream: plan.stream,
                seq,
                nanos,
            };
            result = writer.feed_bytes(plan.template.message(stamp)).await;
            if result.is_err() {
                break;
            }
            seq += 1;
        }
        flow.sent.store(seq, Ordering::Relaxed);
        if let Err(error) = result.and(writer.flush().await) {
            errors.note(format!("publisher {}: {error}", plan.stream));
            break;
        }
    }
    writer
}

/// What one receiver saw.
pub struct Received {
    pub tally: Tally,
    pub recorder: Recorder,
    pub foreign: u64,
}

/// How one receiver reads.
pub struct Listen {
    pub stream: u32,
    /// Which slot of `flow.delivered` is this receiver's.
    pub slot: usize,
    /// MESSAGE from a broker; SEND when an echo server returns our frames.
    pub command: Command,
    /// Arrivals over all receivers, for the progress bar.
    pub total: Arc<AtomicU64>,
}

/// Receives until `stop`, checking and timing every message.
pub async fn receive(
    clock: Clock,
    mut reader: Reader,
    listen: Listen,
    flow: Arc<Flow>,
    stop: CancellationToken,
    errors: Arc<Errors>,
) -> Received {
    let mut tally = Tally::default();
    let mut recorder = Recorder::default();
    let mut foreign = 0;
    loop {
        let frame = tokio::select! {
            biased;
            frame = reader.next_frame() => frame,
            _ = stop.cancelled() => break,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                errors.note(format!("receiver {}: {error}", listen.stream));
                break;
            }
        };
        if frame.command == Command::Error {
            errors.note(format!(
                "receiver {}: {}",
                listen.stream,
                crate::client::describe_error(&frame)
            ));
            break;
        }
        if frame.command != listen.command {
            continue;
        }
        let now = clock.now();
        match Stamp::read(&frame.body) {
            Some(stamp) if stamp.run == clock.run && stamp.stream == listen.stream => {
                let before = tally.distinct;
                tally.record(stamp.seq);
                recorder.record(&clock, stamp.nanos, now);
                if tally.distinct != before {
                    listen.total.fetch_add(1, Ordering::Relaxed);
                    flow.delivered[listen.slot].store(tally.distinct, Ordering::Relaxed);
                    flow.wake.notify_one();
                }
            }
            _ => foreign += 1,
        }
    }
    Received {
        tally,
        recorder,
        foreign,
    }
}

/// Reads and discards what a publisher's connection receives, noting an
/// ERROR, until `stop`.
pub async fn discard(mut reader: Reader, stop: CancellationToken, errors: Arc<Errors>) -> Reader {
    loop {
        let frame = tokio::select! {
            frame = reader.next_frame() => frame,
            _ = stop.cancelled() => return reader,
        };
        match frame {
            Ok(frame) if frame.command == Command::Error => {
                errors.note(format!(
                    "publisher: {}",
                    crate::client::describe_error(&frame)
                ));
                stop.cancelled().await;
                return reader;
            }
            Ok(_) => {}
            Err(error) => {
                errors.note(format!("publisher connection: {error}"));
                stop.cancelled().await;
                return reader;
            }
        }
    }
}

/// Waits until every flow is caught up, or `limit` passes.
pub async fn drain(flows: &[Arc<Flow>], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline && !flows.iter().all(|flow| flow.caught_up()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sleeps until the window starts and ends, measuring CPU over it.
pub async fn measure_window(clock: Clock, pids: &[u32]) -> super::system::CpuFigures {
    tokio::time::sleep_until(clock.instant(clock.window_start)).await;
    let window = super::system::CpuWindow::start(pids);
    tokio::time::sleep_until(clock.instant(clock.window_end)).await;
    window.finish()
}
