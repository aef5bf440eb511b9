//! `bench pairs`: N connections in pairs, each pair a publisher and a
//! subscriber over the pair's own destination (`--destination` with `{n}`
//! the pair's number), at a total `--rate` or flat out. Reports delivered
//! messages per second and end-to-end latency.
//!
//! With `--echo` the URL is a plain WebSocket echo server: each pair is one
//! connection that gets its own frames back, which is the most any broker
//! behind the same WebSocket stack could do (the same bytes cross the same
//! number of sockets per message).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use herald_protocol::Command;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::flow::{self, Flow, Listen, Plan};
use super::link::{keep_alive, Link};
use super::message::{Clock, Recorder, SendTemplate};
use super::progress::Progress;
use super::report::{Latency, Messages, Report};
use super::{destination, BenchError, Context};

#[derive(Args, Debug)]
pub struct Options {
    /// Connections in all (two per pair; one per pair with --echo).
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Total messages per second over all pairs; flat out when omitted.
    #[arg(long)]
    rate: Option<f64>,
    /// Destination pattern; `{n}` is the pair's number.
    #[arg(long, default_value = "/topic/bench.{n}")]
    destination: String,
    /// Most messages a publisher may have in flight (sent, not yet received).
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Body size in bytes (at least 53, the stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// The URL is a WebSocket echo server, not a broker.
    #[arg(long)]
    echo: bool,
}

/// One pair's pieces while it runs.
struct Pair {
    flow: Arc<Flow>,
    publisher: tokio::task::JoinHandle<super::link::Writer>,
    receiver: tokio::task::JoinHandle<flow::Received>,
}

pub async fn run(context: &Context, options: Options) -> Result<Report, BenchError> {
    if options.connections < 2 {
        return Err(BenchError::Usage(
            "pairs needs --connections of 2 or more".into(),
        ));
    }
    let pairs = options.connections / 2;
    let mut target = context.target.clone();
    target.echo = options.echo;
    let per_pair = if options.echo { 1 } else { 2 };
    let mut links = flow::open_all(&target, 0, pairs * per_pair).await?;
    // Subscribers first, all confirmed, before anything is published.
    let mut subscribers: Vec<Link> = Vec::with_capacity(pairs);
    let mut publishers: Vec<Link> = Vec::with_capacity(pairs);
    for n in 0..pairs {
        let mut subscriber = links.remove(0);
        subscriber
            .subscribe(
                &destination(&options.destination, n),
                "0",
                "auto",
                options.echo,
            )
            .await?;
        subscribers.push(subscriber);
        if !options.echo {
            publishers.push(links.remove(0));
        }
    }
    let clock = Clock::new(context.common.warmup, context.common.duration);
    let stop = CancellationToken::new();
    let rate = options.rate.map(|rate| rate / pairs as f64);
    let mut running = Vec::with_capacity(pairs);
    let mut idle_writers = Vec::new();
    let mut discarders = Vec::new();
    let echo = options.echo;
    let total = Arc::new(AtomicU64::new(0));
    let mut publishers = publishers.into_iter();
    for (n, subscriber) in subscribers.into_iter().enumerate() {
        let flow = Flow::new(1);
        let Link {
            writer: sub_writer,
            reader: sub_reader,
        } = subscriber;
        let publisher_writer = if echo {
            sub_writer
        } else {
            idle_writers.push(tokio::spawn(keep_alive(sub_writer, stop.clone())));
            let Some(Link { writer, reader }) = publishers.next() else {
                break;
            };
            discarders.push(tokio::spawn(flow::discard(
                reader,
                stop.clone(),
                context.errors.clone(),
            )));
            writer
        };
        let plan = Plan {
            stream: n as u32,
            template: SendTemplate::new(
                &destination(&options.destination, n),
                options.size,
                &[],
                false,
            ),
            rate,
            phase: n as f64 / pairs as f64,
            window: options.window,
        };
        let listen = Listen {
            stream: n as u32,
            slot: 0,
            command: if echo {
                Command::Send
            } else {
                Command::Message
            },
            total: total.clone(),
        };
        running.push(Pair {
            publisher: tokio::spawn(flow::publish(
                clock,
                publisher_writer,
                plan,
                flow.clone(),
                context.errors.clone(),
            )),
            receiver: tokio::spawn(flow::receive(
                clock,
                sub_reader,
                listen,
                flow.clone(),
                stop.clone(),
                context.errors.clone(),
            )),
            flow,
        });
    }
    let progress = Progress::timed(
        context.visible(),
        "pairs",
        context.common.warmup + context.common.duration,
        total,
        "msg",
    );
    let cpu = flow::measure_window(clock, &context.common.pid).await;
    let mut writers = Vec::new();
    for pair in &mut running {
        if let Ok(writer) = (&mut pair.publisher).await {
            writers.push(writer);
        }
    }
    let flows: Vec<_> = running.iter().map(|pair| pair.flow.clone()).collect();
    flow::drain(&flows, context.common.drain_timeout).await;
    progress.finish();
    stop.cancel();
    let mut messages = Messages {
        measured_s: context.common.duration.as_secs_f64(),
        ..Messages::default()
    };
    let mut recorder = Recorder::default();
    for pair in running {
        let sent = pair.flow.sent.load(Ordering::Relaxed);
        messages.sent += sent;
        if let Ok(received) = pair.receiver.await {
            messages.received += received.tally.distinct;
            messages.duplicates += received.tally.duplicates;
            messages.out_of_order += received.tally.out_of_order;
            messages.foreign += received.foreign;
            messages.lost += sent.saturating_sub(received.tally.distinct);
            recorder.merge(&received.recorder);
        }
    }
    messages.per_s = recorder.in_window as f64 / messages.measured_s.max(1e-9);
    for task in idle_writers {
        if let Ok(mut writer) = task.await {
            writer.close().await;
        }
    }
    for mut writer in writers {
        writer.close().await;
    }
    for task in discarders {
        let _ = task.await;
    }
    let mut report = context.report("pairs");
    report
        .settings
        .insert("connections".into(), json!(pairs * per_pair));
    report.settings.insert("pairs".into(), json!(pairs));
    report.settings.insert("rate".into(), json!(options.rate));
    report
        .settings
        .insert("window".into(), json!(options.window));
    report.settings.insert(
        "size".into(),
        json!(options.size.max(super::message::STAMP_LEN)),
    );
    report
        .settings
        .insert("destination".into(), json!(options.destination));
    report.settings.insert("echo".into(), json!(options.echo));
    report.settings.insert(
        "warmup_s".into(),
        json!(context.common.warmup.as_secs_f64()),
    );
    report.latency_us = Some(Latency::from_nanos(&recorder.histogram));
    report.messages = Some(messages);
    report.cpu = cpu;
    Ok(report)
}
