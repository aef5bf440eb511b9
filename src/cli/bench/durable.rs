//! `bench durable`: SEND with a `receipt` to kept destinations
//! (`/queue/bench.{n}`, one per connection), with up to `--window` receipts
//! outstanding per connection. Reports receipts per second and SEND-to-
//! RECEIPT latency.
//!
//! Every SEND carries `persistent:true` (RabbitMQ keeps a message on disk
//! before its receipt only when asked; Herald always does and passes the
//! header through). Nothing consumes during the window, so no broker can
//! skip the disk by handing a message straight to a consumer. After the
//! window each connection subscribes to its queue and drains it: every
//! receipted message must come out exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use herald_protocol::Command;
use serde_json::json;

use super::flow;
use super::link::{Link, LinkError};
use super::message::{receipt_seq, Clock, Recorder, SendTemplate, Stamp, Tally, STAMP_LEN};
use super::progress::Progress;
use super::report::{Errors, Latency, Messages, Report};
use super::{destination, BenchError, Context};

#[derive(Args, Debug)]
pub struct Options {
    /// Connections, each sending to its own destination.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Receipts outstanding per connection.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Destination pattern; `{n}` is the connection's number.
    #[arg(long, default_value = "/queue/bench.{n}")]
    destination: String,
    /// Body size in bytes (at least 53, the stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,
}

/// What one connection saw.
#[derive(Default)]
struct Outcome {
    sent: u64,
    receipts: Tally,
    drained: Tally,
    foreign: u64,
    recorder: Recorder,
}

pub async fn run(context: &Context, options: Options) -> Result<Report, BenchError> {
    let links = flow::open_all(&context.target, 0, options.connections).await?;
    let clock = Clock::new(context.common.warmup, context.common.duration);
    let total = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (n, link) in links.into_iter().enumerate() {
        let destination = destination(&options.destination, n);
        let template =
            SendTemplate::new(&destination, options.size, &[("persistent", "true")], true);
        let job = Job {
            clock,
            stream: n as u32,
            destination,
            template,
            window: options.window.max(1),
            drain_timeout: context.common.drain_timeout,
            total: total.clone(),
            errors: context.errors.clone(),
        };
        tasks.push(tokio::spawn(job.run(link)));
    }
    let progress = Progress::timed(
        context.visible(),
        "durable",
        context.common.warmup + context.common.duration,
        total,
        "receipt",
    );
    let cpu = flow::measure_window(clock, &context.common.pid).await;
    let mut messages = Messages {
        measured_s: context.common.duration.as_secs_f64(),
        ..Messages::default()
    };
    let mut recorder = Recorder::default();
    for task in tasks {
        let Ok(outcome) = task.await else { continue };
        messages.sent += outcome.sent;
        messages.received += outcome.receipts.distinct;
        messages.duplicates += outcome.receipts.duplicates + outcome.drained.duplicates;
        messages.out_of_order += outcome.drained.out_of_order;
        messages.foreign += outcome.foreign;
        // Lost: never receipted, or receipted and never drained.
        messages.lost += outcome
            .sent
            .saturating_sub(outcome.drained.distinct.min(outcome.receipts.distinct));
        recorder.merge(&outcome.recorder);
    }
    progress.finish();
    messages.per_s = recorder.in_window as f64 / messages.measured_s.max(1e-9);
    let mut report = context.report("durable");
    let settings = &mut report.settings;
    settings.insert("connections".into(), json!(options.connections));
    settings.insert("window".into(), json!(options.window));
    settings.insert("size".into(), json!(options.size.max(STAMP_LEN)));
    settings.insert("destination".into(), json!(options.destination));
    settings.insert(
        "warmup_s".into(),
        json!(context.common.warmup.as_secs_f64()),
    );
    report.latency_us = Some(Latency::from_nanos(&recorder.histogram));
    report.messages = Some(messages);
    report.cpu = cpu;
    Ok(report)
}

/// One connection's work: send with receipts, then drain its queue.
struct Job {
    clock: Clock,
    stream: u32,
    destination: String,
    template: SendTemplate,
    window: usize,
    drain_timeout: Duration,
    total: Arc<AtomicU64>,
    errors: Arc<Errors>,
}

impl Job {
    async fn run(self, mut link: Link) -> Outcome {
        let mut outcome = Outcome::default();
        if let Err(error) = self.send(&mut link, &mut outcome).await {
            self.errors
                .note(format!("connection {}: {error}", self.stream));
        } else if let Err(error) = self.drain(&mut link, &mut outcome).await {
            self.errors
                .note(format!("draining {}: {error}", self.destination));
        }
        link.writer.close().await;
        outcome
    }

    /// Keeps `window` receipts outstanding until the window ends, then
    /// waits for the last ones.
    async fn send(&self, link: &mut Link, outcome: &mut Outcome) -> Result<(), LinkError> {
        let clock = &self.clock;
        let mut outstanding: HashMap<u64, u64> = HashMap::with_capacity(self.window);
        let mut deadline = None;
        loop {
            let now = clock.now();
            if now < clock.window_end {
                while outstanding.len() < self.window {
                    let stamp = Stamp {
                        run: clock.run,
                        stream: self.stream,
                        seq: outcome.sent,
                        nanos: clock.now(),
                    };
                    link.writer.feed_bytes(self.template.message(stamp)).await?;
                    outstanding.insert(outcome.sent, stamp.nanos);
                    outcome.sent += 1;
                }
                link.writer.flush().await?;
            } else if outstanding.is_empty() {
                return Ok(());
            } else {
                deadline.get_or_insert(tokio::time::Instant::now() + self.drain_timeout);
            }
            let limit = match deadline {
                Some(deadline) => deadline.saturating_duration_since(tokio::time::Instant::now()),
                None => link.writer.idle_allowance(),
            };
            let frame = match link.reader.next_frame_within(limit).await {
                Err(LinkError::Timeout) if deadline.is_none() => {
                    link.writer.heart_beat_if_due().await?;
                    continue;
                }
                other => other?,
            };
            match frame.command {
                Command::Receipt => {
                    let seq = frame.get("receipt-id").and_then(receipt_seq);
                    let Some(seq) = seq else { continue };
                    outcome.receipts.record(seq);
                    if let Some(sent) = outstanding.remove(&seq) {
                        outcome.recorder.record(clock, sent, clock.now());
                        self.total.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Command::Error => {
                    return Err(LinkError::Refused(crate::client::describe_error(&frame)))
                }
                _ => {}
            }
        }
    }

    /// Subscribes to the queue and takes every message this run put there.
    async fn drain(&self, link: &mut Link, outcome: &mut Outcome) -> Result<(), LinkError> {
        link.subscribe(&self.destination, "drain", "auto", false)
            .await?;
        let expected = outcome.receipts.distinct;
        while outcome.drained.distinct < expected {
            let frame = match link.reader.next_frame_within(Duration::from_secs(3)).await {
                Err(LinkError::Timeout) => return Ok(()),
                other => other?,
            };
            match frame.command {
                Command::Message => match Stamp::read(&frame.body) {
                    Some(stamp) if stamp.run == self.clock.run && stamp.stream == self.stream => {
                        outcome.drained.record(stamp.seq)
                    }
                    _ => outcome.foreign += 1,
                },
                Command::Error => {
                    return Err(LinkError::Refused(crate::client::describe_error(&frame)))
                }
                _ => {}
            }
            link.writer.heart_beat_if_due().await?;
        }
        Ok(())
    }
}
