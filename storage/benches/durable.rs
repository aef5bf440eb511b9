//! Durable appends per second, with and without group commit, on SQLite
//! and PostgreSQL: what the sender's RECEIPT waits for.
//!
//! For each backend it opens two fresh databases, one with group commit
//! and one without, then lets 1, 16 and 64 writers append chat messages
//! (with a client-msg-id, as the broker stores them) as fast as their
//! appends are answered: each answer means the message survives `kill -9`.
//! The two databases take turns, a few rounds each, so that a change in
//! the machine's load falls on both alike. It prints a Markdown table:
//! the median appends/s with the range over the rounds, and appends per
//! commit (one commit is one fsync).
//!
//! ```text
//! cargo bench -p herald-storage --bench durable
//! HERALD_BENCH_SECONDS=5 HERALD_BENCH_ROUNDS=5 cargo bench -p herald-storage --bench durable
//! ```
//!
//! PostgreSQL is the server `HERALD_TEST_POSTGRES_URL` names, or a
//! throwaway cluster started with `scripts/postgres.sh` (stopped when the
//! bench ends); when neither can be had, the bench says so and measures
//! SQLite alone.

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_storage::{MessageLog, NewMessage, Options, PgDatabase, SqliteDatabase, StoreError};
use support::PgPlace;

/// Concurrent writers per measurement.
const WRITERS: [usize; 3] = [1, 16, 64];

/// Conversations the writers spread over, as many chats would.
const CONVERSATIONS: usize = 16;

/// One measured run.
struct Figure {
    appends: u64,
    commits: u64,
    elapsed: Duration,
}

impl Figure {
    fn per_second(&self) -> f64 {
        self.appends as f64 / self.elapsed.as_secs_f64()
    }
}

/// A database under test: its message log and its commit counter.
trait Subject {
    fn log(&self) -> Arc<dyn MessageLog>;
    fn commits(&self) -> u64;
}

impl Subject for SqliteDatabase {
    fn log(&self) -> Arc<dyn MessageLog> {
        Arc::new(self.message_log())
    }
    fn commits(&self) -> u64 {
        SqliteDatabase::commits(self)
    }
}

impl Subject for PgDatabase {
    fn log(&self) -> Arc<dyn MessageLog> {
        Arc::new(self.message_log())
    }
    fn commits(&self) -> u64 {
        PgDatabase::commits(self)
    }
}

/// Message ids, unique over every run (databases are reused across rounds).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn message(writer: usize, number: u64) -> NewMessage {
    let conversation = format!("g{}", writer % CONVERSATIONS);
    let message_id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewMessage {
        conversation,
        message_id: i64::try_from(message_id).unwrap_or(i64::MAX),
        sender: i64::try_from(writer).unwrap_or(0) + 1,
        kind: "message".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(format!(
            r#"{{"type":"text","text":"message {number} from writer {writer}"}}"#
        )),
        created_at: 1_700_000_000_000,
        client_msg_id: Some(format!("c-{message_id}")),
        participants: Vec::new(),
        mentions: Vec::new(),
        files: Vec::new(),
    }
}

/// `writers` tasks appending for `duration`; counts answered appends.
async fn measure(subject: &dyn Subject, writers: usize, duration: Duration) -> Figure {
    let stop = Arc::new(AtomicBool::new(false));
    let commits_before = subject.commits();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let (log, stop) = (subject.log(), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut appended = 0u64;
            while !stop.load(Ordering::Relaxed) {
                log.append(message(writer, appended)).await?;
                appended += 1;
            }
            Ok::<u64, StoreError>(appended)
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut appends = 0;
    while let Some(joined) = tasks.join_next().await {
        appends += joined.expect("writer task").expect("append");
    }
    Figure {
        appends,
        commits: subject.commits() - commits_before,
        elapsed: started.elapsed(),
    }
}

/// Every run of one backend, setting and writer count.
struct Runs {
    group_commit: bool,
    writers: usize,
    figures: Vec<Figure>,
}

impl Runs {
    /// `| backend | group commit | writers | median appends/s | min–max |
    /// appends per commit |`
    fn row(&self, backend: &str) -> String {
        let mut rates: Vec<f64> = self.figures.iter().map(Figure::per_second).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let (appends, commits) = self.figures.iter().fold((0, 0), |(appends, commits), run| {
            (appends + run.appends, commits + run.commits)
        });
        format!(
            "| {backend} | {} | {} | {median:.0} | {:.0}–{:.0} | {:.1} |",
            if self.group_commit { "on" } else { "off" },
            self.writers,
            rates[0],
            rates[rates.len() - 1],
            appends as f64 / commits.max(1) as f64,
        )
    }
}

/// Measures one backend: a database with group commit and one without,
/// taking turns for every writer count and round, so that a change in the
/// machine's load falls on both alike.
async fn compare(on: &dyn Subject, off: &dyn Subject, settings: &Settings) -> Vec<Runs> {
    let mut all = Vec::new();
    for writers in WRITERS {
        let mut runs = [true, false].map(|group_commit| Runs {
            group_commit,
            writers,
            figures: Vec::new(),
        });
        for _ in 0..settings.rounds {
            runs[0]
                .figures
                .push(measure(on, writers, settings.duration).await);
            runs[1]
                .figures
                .push(measure(off, writers, settings.duration).await);
        }
        all.extend(runs);
    }
    all.sort_by_key(|runs| (!runs.group_commit, runs.writers));
    all
}

async fn sqlite(settings: &Settings) -> Vec<Runs> {
    let directories = [(); 2].map(|()| tempfile::TempDir::new().expect("temp dir"));
    let open = |index: usize, group_commit: bool| {
        SqliteDatabase::open_with(directories[index].path(), Options { group_commit })
    };
    let on = open(0, true).await.expect("open SQLite");
    let off = open(1, false).await.expect("open SQLite");
    let runs = compare(&on, &off, settings).await;
    on.close().await;
    off.close().await;
    runs
}

async fn postgres(settings: &Settings) -> Vec<Runs> {
    let places = [PgPlace::new(), PgPlace::new()];
    let on = PgDatabase::connect_with(places[0].url().await, Options { group_commit: true });
    let on = on.await.expect("connect PostgreSQL");
    let off = PgDatabase::connect_with(
        places[1].url().await,
        Options {
            group_commit: false,
        },
    );
    let off = off.await.expect("connect PostgreSQL");
    let runs = compare(&on, &off, settings).await;
    on.close().await;
    off.close().await;
    runs
}

/// Whether a PostgreSQL server can be had (a database made on it), or why
/// not. Finding a server may panic (no PostgreSQL installed, the cluster
/// did not start): a task of its own keeps that from ending the bench.
async fn postgres_available() -> Result<(), String> {
    let found = tokio::spawn(async {
        PgPlace::new().url().await;
    })
    .await;
    found.map_err(|error| match error.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "unknown panic".into()),
        Err(error) => error.to_string(),
    })
}

/// How long and how often each row is measured.
struct Settings {
    duration: Duration,
    rounds: usize,
}

fn variable<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; filter arguments are not supported.
    let settings = Settings {
        duration: Duration::from_secs_f64(variable("HERALD_BENCH_SECONDS", 2.0)),
        rounds: variable("HERALD_BENCH_ROUNDS", 3),
    };
    println!(
        "durable appends: {} rounds of {:?} per row, group commit on and off taking turns, \
         writers spread over {CONVERSATIONS} conversations\n",
        settings.rounds, settings.duration
    );
    println!(
        "| backend | group commit | writers | appends/s (median) | min–max | appends per commit |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for runs in sqlite(&settings).await {
        println!("{}", runs.row("SQLite"));
    }
    match postgres_available().await {
        Ok(()) => {
            for runs in postgres(&settings).await {
                println!("{}", runs.row("PostgreSQL"));
            }
        }
        Err(why) => println!("\nPostgreSQL not measured: {why}"),
    }
}
