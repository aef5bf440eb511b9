//! Durability of the message log through a real process kill: every append
//! the SQLite store answered is stored under the seq it was given, and each
//! conversation's seqs stay contiguous from 1 across kills and restarts.
//!
//! As in `crash.rs`, the test binary runs itself as the writer:
//! the test, started again with `--exact` and the data directory in an
//! environment variable, appends from several tasks and
//! prints a line for each append only after the store answered it; the
//! parent kills it with SIGKILL, reopens the store and checks every line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use herald_storage::{MessageLog, NewMessage, SqliteDatabase, SqliteMessageLog};

/// Names the data directory; its presence makes `append_child` the writer.
const DIRECTORY_VARIABLE: &str = "HERALD_STORAGE_APPEND_CRASH_DIR";
const CONVERSATIONS: [&str; 3] = ["u1-2", "g7", "s3"];
const WRITERS: usize = 6;
const ROUNDS: usize = 3;
const LINES_BEFORE_KILL: usize = 300;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// (conversation, seq) -> message id, as the child reported them.
type Reported = BTreeMap<(String, i64), i64>;

fn read_line(line: &str, reported: &mut Reported) {
    if let ["appended", conversation, seq, message_id] =
        line.split(' ').collect::<Vec<_>>().as_slice()
    {
        let key = ((*conversation).to_owned(), seq.parse().expect("seq"));
        let message_id = message_id.parse().expect("message id");
        let earlier = reported.insert(key.clone(), message_id);
        assert!(earlier.is_none(), "{key:?} was handed out twice");
    }
}

#[test]
fn sigkill_loses_no_answered_append() {
    if let Some(directory) = std::env::var_os(DIRECTORY_VARIABLE) {
        return append_child(Path::new(&directory));
    }
    let directory = tempfile::TempDir::new().expect("temp dir");
    let mut reported = Reported::new();
    for round in 0..ROUNDS {
        run_and_kill_writer(directory.path(), round, &mut reported);
        check_log(directory.path(), &reported, round);
    }
}

fn run_and_kill_writer(directory: &Path, round: usize, reported: &mut Reported) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["sigkill_loses_no_answered_append", "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(DIRECTORY_VARIABLE, directory)
        .env("HERALD_STORAGE_APPEND_ROUND", round.to_string())
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
        if line.starts_with("appended ") {
            seen += 1;
        }
        read_line(&line, reported);
    }
    child.kill().expect("kill the writer");
    let status = child.wait().expect("wait for the writer");
    assert!(!status.success(), "the writer exited on its own: {status}");
    reader.join().expect("reader thread");
    for line in received.try_iter() {
        read_line(&line, reported);
    }
}

fn check_log(directory: &Path, reported: &Reported, round: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let log = SqliteMessageLog::open(directory).await.expect("reopen");
        for conversation in CONVERSATIONS {
            let stored = log.after(conversation, 0, 1_000_000).await.expect("read");
            let last = log.last_seq(conversation).await.expect("last seq");
            let count = i64::try_from(stored.len()).expect("count");
            assert_eq!(last, count, "round {round}: {conversation} last seq");
            for (message, expected) in stored.iter().zip(1..) {
                assert_eq!(
                    message.seq, expected,
                    "round {round}: gap in {conversation}"
                );
            }
            let stored: BTreeMap<i64, i64> = stored
                .iter()
                .map(|message| (message.seq, message.message_id))
                .collect();
            let answered = reported
                .iter()
                .filter(|((name, _), _)| name == conversation)
                .map(|((_, seq), id)| (*seq, *id));
            for (seq, message_id) in answered {
                assert_eq!(
                    stored.get(&seq),
                    Some(&message_id),
                    "round {round}: answered append {conversation}#{seq} was lost or changed"
                );
            }
        }
        log.database().close().await;
    });
}

/// The writer side, run in the child process the test above starts.
fn append_child(directory: &Path) {
    let round: i64 = std::env::var("HERALD_STORAGE_APPEND_ROUND")
        .ok()
        .and_then(|round| round.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let database = SqliteDatabase::open(directory).await.expect("open");
        // Ids unique across rounds, as Snowflakes are across restarts.
        let next_id = Arc::new(AtomicI64::new((round + 1) * 1_000_000_000));
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let log = database.message_log();
            tasks.spawn(append_forever(log, writer, Arc::clone(&next_id)));
        }
        while tasks.join_next().await.is_some() {}
    });
}

async fn append_forever(log: SqliteMessageLog, writer: usize, next_id: Arc<AtomicI64>) {
    for number in 0usize.. {
        let conversation = CONVERSATIONS[(writer + number) % CONVERSATIONS.len()];
        let message_id = next_id.fetch_add(1, Ordering::Relaxed);
        let message = NewMessage {
            conversation: conversation.to_owned(),
            message_id,
            sender: 1,
            kind: "message".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(format!("{{\"n\":{number}}}")),
            created_at: 0,
            client_msg_id: None,
            participants: Vec::new(),
            mentions: Vec::new(),
            files: Vec::new(),
        };
        let stored = log
            .append(message)
            .await
            .map(|appended| appended.message)
            .expect("append");
        report(&format!(
            "appended {conversation} {} {message_id}",
            stored.seq
        ));
    }
}

/// One line per answered append, flushed at once.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}
