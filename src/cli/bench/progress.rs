//! The progress bar of a long run, drawn on stderr, and nothing when the
//! output is JSON or stderr is not a terminal (so scripts and logs stay clean).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A bar that a background task advances until [`Progress::finish`].
pub struct Progress {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
}

fn bar(visible: bool, length: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if !visible || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl Progress {
    /// A bar over `total` wall time, showing the rate of `counter` in `unit`.
    pub fn timed(
        visible: bool,
        phase: &str,
        total: Duration,
        counter: Arc<AtomicU64>,
        unit: &'static str,
    ) -> Progress {
        let bar = bar(
            visible,
            total.as_millis() as u64,
            "{prefix:>10} [{bar:40}] {elapsed:>4} / {duration} {msg}",
        );
        bar.set_prefix(phase.to_owned());
        let ticker_bar = bar.clone();
        let ticker = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (started, counter.load(Ordering::Relaxed));
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = Instant::now();
                let count = counter.load(Ordering::Relaxed);
                let rate = (count - last.1.min(count)) as f64
                    / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, count);
                ticker_bar.set_position(now.duration_since(started).as_millis() as u64);
                ticker_bar.set_message(format!("{rate:>9.0} {unit}/s"));
            }
        });
        Progress {
            bar,
            ticker: Some(ticker),
        }
    }

    /// A bar over a count of things, advanced with [`Progress::set`].
    pub fn counted(visible: bool, phase: &str, total: u64) -> Progress {
        let bar = bar(
            visible,
            total,
            "{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} {msg}",
        );
        bar.set_prefix(phase.to_owned());
        Progress { bar, ticker: None }
    }

    pub fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    pub fn finish(mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}
