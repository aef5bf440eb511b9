//! Durability through a real process kill: what the SQLite store answered
//! `Ok` for is on disk even when the process dies with SIGKILL mid-batch.
//!
//! The test binary runs itself as the writer: the test is started again with
//! `--exact` and an environment variable naming the data directory, which
//! makes it the writer instead of the parent. It writes from several tasks without
//! pause and prints a line for each write only after the store answered it.
//! The parent kills it at a random-ish moment, reopens the store and checks
//! every printed write against what is stored.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_storage::{QueueStore, SqliteQueueStore, StoredId};

/// Names the data directory; its presence makes `writer_child` the writer.
const DIRECTORY_VARIABLE: &str = "HERALD_STORAGE_CRASH_DIR";
/// Writer tasks in the child, so kills land among concurrent batches.
const WRITERS: usize = 8;
/// Each writer acknowledges every this-many-th message it stored.
const ACK_EVERY: u64 = 5;
/// Kills per test run; each restarts the writer on what the last one left.
const ROUNDS: usize = 3;
/// Answered writes to see before each kill.
const LINES_BEFORE_KILL: usize = 400;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// What the child reported: stored messages (id -> body), ids whose ack it
/// sent and ids whose ack the store answered.
#[derive(Default)]
struct Reported {
    stored: BTreeMap<StoredId, String>,
    acking: BTreeSet<StoredId>,
    acked: BTreeSet<StoredId>,
}

impl Reported {
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["stored", id, body] => {
                let id = id.parse().expect("stored id");
                let earlier = self.stored.insert(id, (*body).to_owned());
                assert!(earlier.is_none(), "id {id} was handed out twice");
            }
            ["acking", id] => {
                self.acking.insert(id.parse().expect("acking id"));
            }
            ["acked", id] => {
                self.acked.insert(id.parse().expect("acked id"));
            }
            // libtest's own lines ("running 1 test", ...).
            _ => {}
        }
    }
}

#[test]
fn sigkill_loses_no_answered_write() {
    if let Some(directory) = std::env::var_os(DIRECTORY_VARIABLE) {
        return writer_child(Path::new(&directory));
    }
    let directory = tempfile::TempDir::new().expect("temp dir");
    let mut reported = Reported::default();
    for round in 0..ROUNDS {
        run_and_kill_writer(directory.path(), &mut reported);
        check_store(directory.path(), &reported, round);
    }
}

/// Starts the writer, reads its lines until enough were answered, kills it,
/// then reads whatever it printed before dying.
fn run_and_kill_writer(directory: &Path, reported: &mut Reported) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["sigkill_loses_no_answered_write", "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(DIRECTORY_VARIABLE, directory)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let mut seen = 0;
    while seen < LINES_BEFORE_KILL {
        let line = received.recv_timeout(CHILD_TIMEOUT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the writer stopped printing after {seen} lines")
        });
        if line.starts_with("stored ") {
            seen += 1;
        }
        reported.read(&line);
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no close, no flush.
    child.kill().expect("kill the writer");
    let status = child.wait().expect("wait for the writer");
    assert!(!status.success(), "the writer exited on its own: {status}");
    reader.join().expect("reader thread");
    // Lines already in the pipe were printed after their write was answered.
    for line in received.try_iter() {
        reported.read(&line);
    }
}

fn check_store(directory: &Path, reported: &Reported, round: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteQueueStore::open(directory).await.expect("reopen");
        let pending: BTreeMap<StoredId, Bytes> = store
            .pending()
            .await
            .expect("pending after the kill")
            .into_iter()
            .map(|message| (message.id, message.body))
            .collect();
        for (id, body) in &reported.stored {
            if reported.acked.contains(id) {
                assert!(
                    !pending.contains_key(id),
                    "round {round}: acknowledged {id} came back"
                );
                continue;
            }
            if reported.acking.contains(id) {
                // Killed while its ack was in flight: either outcome is fine.
                continue;
            }
            let stored = pending
                .get(id)
                .unwrap_or_else(|| panic!("round {round}: answered write {id} was lost"));
            assert_eq!(stored, body.as_bytes(), "round {round}: body of {id}");
        }
        store.close().await;
    });
}

/// The writer side, run in the child process the test above starts.
fn writer_child(directory: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let store = Arc::new(SqliteQueueStore::open(directory).await.expect("open"));
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            tasks.spawn(write_forever(Arc::clone(&store), writer));
        }
        // The writers never end; the parent's SIGKILL ends the process.
        while tasks.join_next().await.is_some() {}
    });
}

async fn write_forever(store: Arc<SqliteQueueStore>, writer: usize) {
    let process = std::process::id();
    for number in 0u64.. {
        let body = format!("{process}-{writer}-{number}");
        let id = store
            .enqueue("/queue/crash", Vec::new(), Bytes::from(body.clone()))
            .await
            .expect("enqueue");
        report(&format!("stored {id} {body}"));
        if number % ACK_EVERY == 0 {
            report(&format!("acking {id}"));
            store.ack(id).await.expect("ack");
            report(&format!("acked {id}"));
        }
    }
}

/// One line per answered write, flushed at once so that what the parent
/// reads was printed after the store's answer and before the kill.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // The parent stopped reading: it failed or is done with us.
        std::process::exit(1);
    }
}
