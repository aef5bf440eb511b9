//! `bench connections`: open N connections (CONNECT with heart-beats,
//! SUBSCRIBE to a per-connection destination, confirmed by a receipt), hold
//! them for `--duration`, then prove each one still works by sending one
//! message to its own destination and receiving it. Reports the connect
//! rate, failures, connections dropped while held and, with `--pid`, the
//! broker's resident memory per connection.
//!
//! Every connection is one task that answers heart-beats, so a broker that
//! closes silent connections keeps them. Connections come from 127.0.0.2,
//! 127.0.0.3, ... so that tens of thousands do not exhaust source ports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use herald_protocol::Command;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::link::{Link, LinkError};
use super::message::{Clock, Recorder, SendTemplate, Stamp};
use super::progress::Progress;
use super::report::{Connections, Errors, Latency, Memory, Messages, Report};
use super::system::{self, CpuWindow, MemorySample};
use super::{destination, BenchError, Context};

#[derive(Args, Debug)]
pub struct Options {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Destination pattern; `{n}` is the connection's number.
    #[arg(long, default_value = "/topic/bench.conn.{n}")]
    destination: String,
    /// Pause before a memory sample, so the broker settles.
    #[arg(long, default_value = "3s", value_parser = super::parse_duration)]
    settle: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Hold,
    Probe,
    Stop,
}

/// Counts shared by every held connection.
#[derive(Default)]
struct Held {
    dropped: AtomicU64,
    probes_sent: AtomicU64,
    probes_received: AtomicU64,
    duplicates: AtomicU64,
}

pub async fn run(context: &Context, options: Options) -> Result<Report, BenchError> {
    // Memory is the first process's (one broker; a cluster's first node).
    let pid = context.common.pid.first().copied();
    let before = pid.and_then(system::memory);
    let cpu = CpuWindow::start(&context.common.pid);
    let clock = Clock::new(Duration::ZERO, Duration::from_secs(86_400));
    let (phase, phase_receiver) = watch::channel(Phase::Hold);
    let held = Arc::new(Held::default());
    let mut connect_latency = Recorder::default();
    let mut holders = Vec::with_capacity(options.connections);
    let mut failed = 0u64;
    let progress = Progress::counted(context.visible(), "connect", options.connections as u64);
    let started = Instant::now();
    let mut opening = futures_util::stream::iter(0..options.connections)
        .map(|n| open(context, &options.destination, n))
        .buffer_unordered(options.concurrency.max(1));
    while let Some(result) = opening.next().await {
        match result {
            Ok((n, link, took)) => {
                connect_latency
                    .histogram
                    .saturating_record(took.as_nanos().max(1) as u64);
                let holder = Holder {
                    n,
                    clock,
                    template: SendTemplate::new(
                        &destination(&options.destination, n),
                        64,
                        &[],
                        false,
                    ),
                    held: held.clone(),
                    errors: context.errors.clone(),
                };
                holders.push(tokio::spawn(holder.run(link, phase_receiver.clone())));
            }
            Err(error) => {
                failed += 1;
                context.errors.note(error);
            }
        }
        progress.set(holders.len() as u64 + failed);
    }
    drop(opening);
    let connect_s = started.elapsed().as_secs_f64();
    progress.finish();
    let opened = holders.len() as u64;
    let held_memory = hold(context, &options, pid).await;
    let _ = phase.send(Phase::Probe);
    probe(&held, opened, context.common.drain_timeout).await;
    let _ = phase.send(Phase::Stop);
    for holder in holders {
        let _ = tokio::time::timeout(Duration::from_secs(30), holder).await;
    }
    let cpu = cpu.finish();
    tokio::time::sleep(options.settle).await;
    let after = pid.and_then(system::memory);

    let mut report = context.report("connections");
    let settings = &mut report.settings;
    settings.insert("connections".into(), json!(options.connections));
    settings.insert("concurrency".into(), json!(options.concurrency));
    settings.insert("destination".into(), json!(options.destination));
    settings.insert("heart_beat".into(), json!(context.common.heart_beat));
    settings.insert(
        "hold_s".into(),
        json!(context.common.duration.as_secs_f64()),
    );
    report.connections = Some(Connections {
        requested: options.connections as u64,
        opened,
        failed,
        connect_s,
        per_s: opened as f64 / connect_s.max(1e-9),
        dropped: held.dropped.load(Ordering::Relaxed),
        connect_latency_us: Latency::from_nanos(&connect_latency.histogram),
    });
    let sent = held.probes_sent.load(Ordering::Relaxed);
    let received = held.probes_received.load(Ordering::Relaxed);
    report.messages = Some(Messages {
        sent,
        received,
        lost: sent.saturating_sub(received),
        duplicates: held.duplicates.load(Ordering::Relaxed),
        ..Messages::default()
    });
    if let (Some(pid), Some(before), Some(held_memory)) = (pid, before, held_memory) {
        let per =
            |with: u64, without: u64| with.saturating_sub(without) as f64 / opened.max(1) as f64;
        report.memory = Some(Memory {
            pid,
            before,
            held: held_memory,
            after,
            per_connection_vm_rss: per(held_memory.vm_rss, before.vm_rss),
            per_connection_pss: per(held_memory.pss, before.pss),
        });
    }
    report.cpu = cpu;
    Ok(report)
}

/// Opens connection `n` and subscribes; returns how long that took.
async fn open(
    context: &Context,
    pattern: &str,
    n: usize,
) -> Result<(usize, Link, Duration), LinkError> {
    let started = Instant::now();
    let mut link = context.target.open(n).await?;
    let destination = destination(pattern, n);
    let subscribe = link.subscribe(&destination, "0", "auto", false);
    tokio::time::timeout(context.target.timeout, subscribe)
        .await
        .map_err(|_| LinkError::Timeout)??;
    Ok((n, link, started.elapsed()))
}

/// Holds the connections for `--duration`, sampling the broker's memory;
/// returns the highest sample.
async fn hold(context: &Context, options: &Options, pid: Option<u32>) -> Option<MemorySample> {
    let total = options.settle + context.common.duration;
    let progress = Progress::timed(
        context.visible(),
        "hold",
        total,
        Arc::new(AtomicU64::new(0)),
        "msg",
    );
    tokio::time::sleep(options.settle).await;
    let end = Instant::now() + context.common.duration;
    let mut highest: Option<MemorySample> = None;
    loop {
        if let Some(sample) = pid.and_then(system::memory) {
            if highest.is_none_or(|high| sample.vm_rss > high.vm_rss) {
                highest = Some(sample);
            }
        }
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now())).await;
    }
    progress.finish();
    highest
}

/// Waits until every probe came back, or `limit` passes.
async fn probe(held: &Held, opened: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let alive = opened.saturating_sub(held.dropped.load(Ordering::Relaxed));
        if held.probes_received.load(Ordering::Relaxed) >= alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One held connection.
struct Holder {
    n: usize,
    clock: Clock,
    template: SendTemplate,
    held: Arc<Held>,
    errors: Arc<Errors>,
}

impl Holder {
    async fn run(self, link: Link, mut phase: watch::Receiver<Phase>) {
        let Link {
            mut writer,
            mut reader,
        } = link;
        let mut received = false;
        loop {
            tokio::select! {
                frame = reader.next_frame() => match frame {
                    Ok(frame) if frame.command == Command::Message => {
                        let ours = Stamp::read(&frame.body)
                            .is_some_and(|stamp| stamp.run == self.clock.run && stamp.stream == self.n as u32);
                        if ours && received {
                            self.held.duplicates.fetch_add(1, Ordering::Relaxed);
                        } else if ours {
                            received = true;
                            self.held.probes_received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(frame) if frame.command == Command::Error => {
                        return self.dropped(crate::client::describe_error(&frame));
                    }
                    Ok(_) => {}
                    Err(error) => return self.dropped(error),
                },
                changed = phase.changed() => {
                    let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Stop };
                    match now {
                        Phase::Hold => {}
                        Phase::Probe => {
                            let stamp = Stamp { run: self.clock.run, stream: self.n as u32, seq: 0, nanos: self.clock.now() };
                            let sent = writer.feed_bytes(self.template.message(stamp)).await;
                            if let Err(error) = sent.and(writer.flush().await) {
                                return self.dropped(error);
                            }
                            self.held.probes_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Phase::Stop => {
                            writer.close().await;
                            return;
                        }
                    }
                }
                _ = tokio::time::sleep(writer.idle_allowance()) => {
                    if let Err(error) = writer.heart_beat_if_due().await {
                        return self.dropped(error);
                    }
                }
            }
        }
    }

    fn dropped(&self, reason: impl std::fmt::Display) {
        self.held.dropped.fetch_add(1, Ordering::Relaxed);
        self.errors.note(format!("connection {}: {reason}", self.n));
    }
}
