//! `bench fanout`: one publisher and M subscribers on one destination (a
//! group chat, a live feed). Every subscriber must get every message once;
//! reports deliveries per second (messages x subscribers) and latency over
//! all deliveries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use herald_protocol::Command;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::flow::{self, Flow, Listen, Plan};
use super::link::{keep_alive, Link};
use super::message::{Clock, Recorder, SendTemplate, STAMP_LEN};
use super::progress::Progress;
use super::report::{Latency, Messages, Report};
use super::{BenchError, Context};

#[derive(Args, Debug)]
pub struct Options {
    /// Subscriber connections.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Messages per second published (deliveries are this x subscribers);
    /// flat out when omitted.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value = "/topic/bench.fanout")]
    destination: String,
    /// Most messages the publisher may be ahead of its slowest subscriber.
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Body size in bytes (at least 53, the stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,
}

pub async fn run(context: &Context, options: Options) -> Result<Report, BenchError> {
    if options.subscribers == 0 {
        return Err(BenchError::Usage(
            "fanout needs --subscribers of 1 or more".into(),
        ));
    }
    let mut links = flow::open_all(&context.target, 0, options.subscribers + 1).await?;
    let Link {
        writer: publisher,
        reader: publisher_reader,
    } = links.remove(0);
    for subscriber in &mut links {
        subscriber
            .subscribe(&options.destination, "0", "auto", false)
            .await?;
    }
    let clock = Clock::new(context.common.warmup, context.common.duration);
    let stop = CancellationToken::new();
    let flow = Flow::new(options.subscribers);
    let total = Arc::new(AtomicU64::new(0));
    let errors = &context.errors;
    let mut receivers = Vec::with_capacity(options.subscribers);
    let mut idle_writers = Vec::with_capacity(options.subscribers);
    for (slot, Link { writer, reader }) in links.into_iter().enumerate() {
        idle_writers.push(tokio::spawn(keep_alive(writer, stop.clone())));
        let listen = Listen {
            stream: 0,
            slot,
            command: Command::Message,
            total: total.clone(),
        };
        receivers.push(tokio::spawn(flow::receive(
            clock,
            reader,
            listen,
            flow.clone(),
            stop.clone(),
            errors.clone(),
        )));
    }
    let discarder = tokio::spawn(flow::discard(
        publisher_reader,
        stop.clone(),
        errors.clone(),
    ));
    let plan = Plan {
        stream: 0,
        template: SendTemplate::new(&options.destination, options.size, &[], false),
        rate: options.rate,
        phase: 0.0,
        window: options.window,
    };
    let publisher = tokio::spawn(flow::publish(
        clock,
        publisher,
        plan,
        flow.clone(),
        errors.clone(),
    ));
    let progress = Progress::timed(
        context.visible(),
        "fanout",
        context.common.warmup + context.common.duration,
        total,
        "delivery",
    );
    let cpu = flow::measure_window(clock, &context.common.pid).await;
    let publisher = publisher.await.ok();
    flow::drain(std::slice::from_ref(&flow), context.common.drain_timeout).await;
    progress.finish();
    stop.cancel();
    let sent = flow.sent.load(Ordering::Relaxed);
    let mut messages = Messages {
        sent,
        measured_s: context.common.duration.as_secs_f64(),
        ..Messages::default()
    };
    let mut recorder = Recorder::default();
    for receiver in receivers {
        match receiver.await {
            Ok(received) => {
                messages.received += received.tally.distinct;
                messages.duplicates += received.tally.duplicates;
                messages.out_of_order += received.tally.out_of_order;
                messages.foreign += received.foreign;
                messages.lost += sent.saturating_sub(received.tally.distinct);
                recorder.merge(&received.recorder);
            }
            Err(_) => messages.lost += sent,
        }
    }
    messages.per_s = recorder.in_window as f64 / messages.measured_s.max(1e-9);
    for task in idle_writers {
        if let Ok(mut writer) = task.await {
            writer.close().await;
        }
    }
    if let Some(mut writer) = publisher {
        writer.close().await;
    }
    let _ = discarder.await;
    let mut report = context.report("fanout");
    let settings = &mut report.settings;
    settings.insert("subscribers".into(), json!(options.subscribers));
    settings.insert("rate".into(), json!(options.rate));
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
