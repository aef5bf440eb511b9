//! Herald under faults of the machine around it, with real parts only: a
//! SIGTERM in the middle of a flood of SENDs, its PostgreSQL stopped and
//! started again under load, and a files directory on a filesystem that is
//! full. What must hold in each: a RECEIPT is a promise that the message is
//! stored (exactly once, at its seq), and every refusal is a clear ERROR
//! frame or JSON answer, never a hang or a lost message.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::api::Api;
use common::{BrokerProcess, TestBroker};
use herald::client::{describe_error, ClientError, Connection};
use herald_protocol::{Command as Stomp, Frame};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

/// SENDs a flooding connection keeps in flight: enough that the broker
/// always has the next frame read and waiting while one is being stored.
const WINDOW: usize = 16;

/// Longest wait for any answer to a SEND. Only a hang gets near it: even
/// with the database gone, Herald answers within its pool's acquire
/// timeout (10 s).
const ANSWER: Duration = Duration::from_secs(45);

/// Where a flood sends, and as whom.
#[derive(Clone)]
struct Stream {
    /// Prefix of every body and receipt of this stream: `alice-bob-17`.
    label: String,
    destination: String,
    /// A JWT passcode, or `None` for the guest.
    token: Option<String>,
}

/// What one stream's messages became, by their number in the stream.
#[derive(Default)]
struct Record {
    /// Numbers written to the socket (0..written).
    written: usize,
    /// The RECEIPT of each number that got one: its `seq` and
    /// `conversation` (chat only).
    receipted: BTreeMap<usize, (Option<i64>, Option<String>)>,
    /// Numbers an ERROR frame named by `receipt-id`.
    refused: BTreeSet<usize>,
    /// How each of the stream's connections ended: the ERROR's message,
    /// or how the socket closed.
    endings: Vec<String>,
}

/// Why [`Stream::flood`] returned.
enum Ending {
    /// The broker sent ERROR (and closes the connection).
    Error(Frame),
    /// The socket closed or failed without an ERROR.
    Closed(String),
    /// `stop` was set and every SEND in flight was answered.
    Stopped,
}

fn body_of(label: &str, n: usize) -> String {
    json!({ "type": "text", "text": format!("{label}-{n}") }).to_string()
}

/// The `{label}-{n}` a body carries (a chat body is JSON text).
fn marker(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value["text"].as_str().map(str::to_owned)
}

impl Stream {
    /// CONNECT, waiting as long for the answer as for a SEND's: with the
    /// database away, checking a login takes up to the pool's timeout.
    async fn connect(&self, url: &Url) -> Result<Connection, ClientError> {
        let mut connection = Connection::open(url).await?;
        let mut frame = Frame::new(Stomp::Connect)
            .header("accept-version", "1.2")
            .header("host", "herald")
            .header("heart-beat", "0,0");
        match &self.token {
            Some(token) => frame = frame.header("passcode", token.as_str()),
            None => frame = frame.header("login", "guest").header("passcode", "guest"),
        }
        connection.send(&frame).await?;
        let reply = connection.receive_timeout(ANSWER).await?;
        match reply.command {
            Stomp::Connected => Ok(connection),
            Stomp::Error => Err(ClientError::Refused(describe_error(&reply))),
            other => panic!("{}: {other} in answer to CONNECT", self.label),
        }
    }

    /// SENDs flat out, each with a receipt, up to [`WINDOW`] unanswered,
    /// until the connection ends or `stop` is set (then it waits for the
    /// answers in flight). Every RECEIPT counts in `progress`. Numbers
    /// continue from `record.written`, so a stream that reconnects never
    /// reuses one.
    async fn flood(
        &self,
        connection: &mut Connection,
        record: &mut Record,
        progress: &AtomicUsize,
        stop: &AtomicBool,
    ) -> Ending {
        let mut pending: VecDeque<usize> = VecDeque::new();
        let mut writable = true;
        loop {
            while writable && pending.len() < WINDOW && !stop.load(Ordering::Relaxed) {
                let n = record.written;
                let frame = Frame::new(Stomp::Send)
                    .header("destination", self.destination.as_str())
                    .header("content-type", "application/json")
                    .header("receipt", format!("{}-{n}", self.label))
                    .body(body_of(&self.label, n));
                record.written += 1;
                match connection.send(&frame).await {
                    Ok(()) => pending.push_back(n),
                    // What the broker already answered may still be
                    // waiting to be read: read on until it closes.
                    Err(_) => writable = false,
                }
            }
            if pending.is_empty() && (writable || stop.load(Ordering::Relaxed)) {
                return Ending::Stopped;
            }
            let frame = match connection.receive_timeout(ANSWER).await {
                Ok(frame) => frame,
                Err(ClientError::Timeout) => panic!(
                    "{}: no RECEIPT, ERROR or close within {ANSWER:?} ({} SENDs unanswered)",
                    self.label,
                    pending.len()
                ),
                Err(error) => return Ending::Closed(error.to_string()),
            };
            match frame.command {
                Stomp::Receipt => {
                    let id = frame.get("receipt-id").unwrap_or_default();
                    let n = pending.pop_front().unwrap_or_else(|| {
                        panic!("{}: RECEIPT {id} for nothing in flight", self.label)
                    });
                    assert_eq!(
                        id,
                        format!("{}-{n}", self.label),
                        "RECEIPTs come in the order of the SENDs"
                    );
                    let seq = frame
                        .get("seq")
                        .map(|seq| seq.parse().expect("numeric seq"));
                    let conversation = frame.get("conversation").map(str::to_owned);
                    record.receipted.insert(n, (seq, conversation));
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Stomp::Error => {
                    if let Some(id) = frame.get("receipt-id") {
                        let n = id
                            .strip_prefix(&format!("{}-", self.label))
                            .and_then(|n| n.parse().ok())
                            .unwrap_or_else(|| panic!("ERROR for a foreign receipt {id}"));
                        record.refused.insert(n);
                    }
                    return Ending::Error(frame);
                }
                other => panic!("{}: unexpected {other} while sending", self.label),
            }
        }
    }
}

/// One stored message as the broker gives it back.
#[derive(Clone, Debug)]
struct Kept {
    seq: i64,
    marker: Option<String>,
}

/// Every message of `conversation`, oldest first, paged through the
/// history API; also its `last_seq`.
async fn history(api: &Api, conversation: &str) -> (Vec<Kept>, i64) {
    let mut kept = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = api
            .get(&format!(
                "/conversations/{conversation}/messages?after_seq={after}&limit=500"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "history of {conversation}: {page}");
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            return (kept, page["last_seq"].as_i64().unwrap());
        }
        for message in messages {
            let seq = message["seq"].as_i64().unwrap();
            kept.push(Kept {
                seq,
                marker: marker(message["body"].as_str().unwrap_or_default().as_bytes()),
            });
            after = seq;
        }
    }
}

/// Checks what a conversation or queue holds (`stored`: seq, when it has
/// one, and the body's marker) against what the streams writing to it
/// recorded: no body is stored twice, nothing is stored that was never
/// sent, and every receipted message is there, at the seq its RECEIPT
/// named. Returns how many messages of each stream are stored.
fn check_stored(
    place: &str,
    stored: &[(Option<i64>, Option<String>)],
    streams: &[(&Stream, &Record)],
) -> Vec<usize> {
    let mut at: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let mut counts = vec![0; streams.len()];
    for (seq, marker) in stored {
        let Some(marker) = marker else { continue };
        if let Some(previous) = at.insert(marker.clone(), *seq) {
            panic!("{place}: {marker} is stored twice (seq {previous:?} and {seq:?})");
        }
        let (label, n) = marker.rsplit_once('-').expect("label-n");
        let index = streams
            .iter()
            .position(|(stream, _)| stream.label == label)
            .unwrap_or_else(|| panic!("{place}: {marker} comes from no stream writing here"));
        let n: usize = n.parse().unwrap();
        assert!(
            n < streams[index].1.written,
            "{place}: {marker} was never sent"
        );
        counts[index] += 1;
    }
    for (stream, record) in streams {
        for (n, (seq, _)) in &record.receipted {
            let marker = format!("{}-{n}", stream.label);
            assert_eq!(
                at.get(&marker).copied(),
                Some(*seq),
                "{place}: {marker} got a RECEIPT (seq {seq:?}); the store must hold it, there"
            );
        }
    }
    counts
}

/// A chat conversation's history, checked: seq runs 1, 2, 3 ... up to
/// `last_seq` with no gap, then [`check_stored`].
async fn check_conversation(
    api: &Api,
    conversation: &str,
    streams: &[(&Stream, &Record)],
) -> (Vec<usize>, i64) {
    let (kept, last_seq) = history(api, conversation).await;
    let seqs: Vec<i64> = kept.iter().map(|k| k.seq).collect();
    let contiguous: Vec<i64> = (1..=last_seq).collect();
    assert_eq!(
        seqs, contiguous,
        "{conversation}: seq must run 1..={last_seq} without a gap"
    );
    let stored: Vec<(Option<i64>, Option<String>)> =
        kept.into_iter().map(|k| (Some(k.seq), k.marker)).collect();
    for (stream, record) in streams {
        for (_, receipted_in) in record.receipted.values() {
            assert_eq!(
                receipted_in.as_deref(),
                Some(conversation),
                "{}: RECEIPT names another conversation",
                stream.label
            );
        }
    }
    (check_stored(conversation, &stored, streams), last_seq)
}

/// Every message a queue holds, taken by a new consumer (`auto` ack)
/// until it has been quiet for a while.
async fn drain_queue(url: &Url, queue: &str) -> Vec<(Option<i64>, Option<String>)> {
    let (mut consumer, _) = Connection::connect(url, Some("guest"), Some("guest"), "0,0")
        .await
        .expect("consumer connects");
    consumer
        .send(
            &Frame::new(Stomp::Subscribe)
                .header("destination", queue)
                .header("id", "drain")
                .header("ack", "auto"),
        )
        .await
        .unwrap();
    let mut stored = Vec::new();
    loop {
        match consumer.receive_timeout(Duration::from_secs(2)).await {
            Ok(frame) if frame.command == Stomp::Message => {
                stored.push((None, marker(&frame.body)));
            }
            Ok(frame) => panic!("{queue}: unexpected {frame:?}"),
            Err(ClientError::Timeout) => return stored,
            Err(error) => panic!("{queue}: consumer failed: {error}"),
        }
    }
}

/// The conversation id of a private chat.
fn private(a: i64, b: i64) -> String {
    format!("u{}-{}", a.min(b), a.max(b))
}

/// Bob's private chats replayed over WebSocket from `since` 0, and the
/// group over TCP from `since-seq` 0: each must bring every seq up to
/// `last_seqs`' once, in order (see [`check_replay`]).
async fn check_replays(
    broker: &BrokerProcess,
    bob: &Api,
    to_bob: &str,
    to_group: &str,
    last_seqs: &BTreeMap<String, i64>,
) {
    let of_kind = |prefix: char| -> BTreeMap<String, i64> {
        last_seqs
            .iter()
            .filter(|(conversation, _)| conversation.starts_with(prefix))
            .map(|(c, s)| (c.clone(), *s))
            .collect()
    };
    let private_chats = of_kind('u');
    let since = private_chats
        .keys()
        .map(|c| format!("{c}=0"))
        .collect::<Vec<_>>()
        .join(",");
    check_replay(
        &broker.ws_url(),
        bob,
        to_bob,
        ("since", since),
        &private_chats,
    )
    .await;
    let group_chat = of_kind('g');
    check_replay(
        &broker.tcp_url(),
        bob,
        to_group,
        ("since-seq", "0".into()),
        &group_chat,
    )
    .await;
}

/// Replays `conversations` to a new connection of `api`'s user through
/// `destination` (with `resume`, a `since` or `since-seq` header), ACKing
/// each MESSAGE, until each conversation reached its last seq; checks that
/// every seq comes exactly once and in order, and nothing more follows.
async fn check_replay(
    url: &Url,
    api: &Api,
    destination: &str,
    resume: (&str, String),
    conversations: &BTreeMap<String, i64>,
) {
    let (mut connection, _) = Connection::connect(url, None, Some(api.token()), "0,0")
        .await
        .expect("reader connects");
    connection
        .send(
            &Frame::new(Stomp::Subscribe)
                .header("destination", destination)
                .header("id", "replay")
                .header("ack", "client-individual")
                .header("prefetch-count", "200")
                .header(resume.0, resume.1),
        )
        .await
        .unwrap();
    let mut next: BTreeMap<&str, i64> = conversations.keys().map(|c| (c.as_str(), 1)).collect();
    let done = |next: &BTreeMap<&str, i64>| {
        next.iter()
            .all(|(conversation, seq)| *seq > conversations[*conversation])
    };
    loop {
        let wait = if done(&next) {
            Duration::from_millis(700)
        } else {
            ANSWER
        };
        let frame = match connection.receive_timeout(wait).await {
            Ok(frame) => frame,
            // Quiet after the last seq: nothing more (no duplicate) follows.
            Err(ClientError::Timeout) if done(&next) => return,
            Err(error) => panic!("{destination}: replay stopped at {next:?}: {error}"),
        };
        assert_eq!(frame.command, Stomp::Message, "{frame:?}");
        if let Some(id) = frame.get("ack") {
            connection
                .send(&Frame::new(Stomp::Ack).header("id", id))
                .await
                .unwrap();
        }
        let Some(expected) = frame.get("conversation").and_then(|c| next.get_mut(c)) else {
            continue;
        };
        let seq: i64 = frame.get("seq").unwrap().parse().unwrap();
        assert_eq!(
            seq,
            *expected,
            "{destination}: {} delivered out of order or twice",
            frame.get("conversation").unwrap()
        );
        *expected += 1;
    }
}

/// Runs `stream` on one connection until the broker ends it.
fn flood_once(
    url: Url,
    stream: Stream,
    progress: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<(Stream, Record, Ending)> {
    tokio::spawn(async move {
        let mut record = Record::default();
        let never = AtomicBool::new(false);
        let ending = match stream.connect(&url).await {
            Ok(mut connection) => {
                stream
                    .flood(&mut connection, &mut record, &progress, &never)
                    .await
            }
            Err(error) => Ending::Closed(format!("connect: {error}")),
        };
        (stream, record, ending)
    })
}

/// `HERALD_*` settings for the drain test's broker: senders are not rate
/// limited (the flood is the point) and sessions get a known grace period.
fn drain_env() -> Vec<(String, String)> {
    vec![
        ("HERALD_CHAT__SENDS_PER_SECOND".into(), "1000000".into()),
        (
            "HERALD_SERVER__SHUTDOWN_GRACE_MS".into(),
            DRAIN_GRACE_MS.to_string(),
        ),
    ]
}

const DRAIN_GRACE_MS: u64 = 5000;

/// Waits for the process to exit by itself, failing if it is still there
/// long after its grace period (a hung shutdown).
async fn exit_status(broker: &mut BrokerProcess) -> std::process::ExitStatus {
    let bound = Duration::from_millis(DRAIN_GRACE_MS) + Duration::from_secs(30);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(status) = broker.child.try_wait().expect("wait for herald") {
            return status;
        }
        assert!(
            waited < bound,
            "herald did not exit within {bound:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

/// An operator's `kill -TERM` (systemd, Kubernetes) lands while clients
/// are mid-conversation. A drain must not cost them anything: each session
/// hears a clear ERROR rather than a reset that swallows its last RECEIPTs,
/// the process exits 0 inside its grace period, and after a restart every
/// receipted message is there once, at its seq, and replays once, in
/// order; being a drain, nothing is stored that was not confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_flood_drains_and_every_receipted_message_survives() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let env = drain_env();
    let mut broker = BrokerProcess::spawn_logged(data.path(), &env, &logs.path().join("first.log"));
    let bob = Api::register(&broker.http, "drain-bob").await;
    let alice = Api::register(&broker.http, "drain-alice").await;
    let carol = Api::register(&broker.http, "drain-carol").await;
    let dave = Api::register(&broker.http, "drain-dave").await;
    for friend in [&alice, &carol, &dave] {
        bob.befriend(friend).await;
    }
    let (status, group) = bob
        .post(
            "/groups",
            json!({ "name": "Drain", "members": [alice.user_id, carol.user_id, dave.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();

    let chat = |label: &str, from: &Api, destination: String| Stream {
        label: label.to_owned(),
        destination,
        token: Some(from.token().to_owned()),
    };
    let to_bob = format!("/user/{}", bob.user_id);
    let to_group = format!("/group/{group_id}");
    let guest = |label: &str, queue: &str| Stream {
        label: label.to_owned(),
        destination: queue.to_owned(),
        token: None,
    };
    let streams = [
        chat("alice-bob", &alice, to_bob.clone()),
        chat("carol-bob", &carol, to_bob.clone()),
        chat("dave-bob", &dave, to_bob.clone()),
        chat("alice-group", &alice, to_group.clone()),
        chat("carol-group", &carol, to_group.clone()),
        guest("qa", "/queue/faults-drain-a"),
        guest("qb", "/queue/faults-drain-b"),
    ];
    // Half over WebSocket, half over TCP: each closes its own way.
    let mut floods = Vec::new();
    let mut progress = Vec::new();
    for (index, stream) in streams.iter().enumerate() {
        let url = if index % 2 == 0 {
            broker.ws_url()
        } else {
            broker.tcp_url()
        };
        let counter = Arc::new(AtomicUsize::new(0));
        progress.push(counter.clone());
        floods.push(flood_once(url, stream.clone(), counter));
    }
    // SIGTERM once every stream is well under way.
    let mut waited = Duration::ZERO;
    while progress.iter().any(|p| p.load(Ordering::Relaxed) < 100) {
        assert!(waited < ANSWER, "the load never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    let pid = rustix::process::Pid::from_raw(broker.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    // A connection that only starts now: refused, or told to go, or its
    // RECEIPTs hold like everyone's.
    floods.push(flood_once(
        broker.tcp_url(),
        guest("late", "/queue/faults-drain-a"),
        Arc::new(AtomicUsize::new(0)),
    ));

    let mut results = Vec::new();
    for flood in floods {
        results.push(flood.await.expect("flood task"));
    }
    let mut unclear = Vec::new();
    for (stream, record, ending) in &mut results {
        let ending = match ending {
            Ending::Error(frame) => {
                let message = describe_error(frame);
                if !message.contains("shutting down") {
                    unclear.push(format!("{}: ERROR {message:?}", stream.label));
                }
                format!("ERROR {message}")
            }
            Ending::Closed(how) => {
                if stream.label != "late" {
                    unclear.push(format!(
                        "{}: closed without the shutdown ERROR ({how})",
                        stream.label
                    ));
                }
                format!("closed: {how}")
            }
            Ending::Stopped => unreachable!("nothing stops a drain flood but the broker"),
        };
        println!(
            "{:>12}: {} sent, {} receipted; {ending}",
            stream.label,
            record.written,
            record.receipted.len()
        );
        assert!(
            record.refused.is_empty(),
            "{}: a SEND was refused",
            stream.label
        );
        record.endings.push(ending);
    }
    assert!(unclear.is_empty(), "{unclear:#?}");
    let status = exit_status(&mut broker).await;
    let log = std::fs::read_to_string(logs.path().join("first.log")).unwrap();
    assert!(
        status.success(),
        "herald exited with {status} on SIGTERM; its log:\n{log}"
    );
    assert!(
        !log.contains("still open after the shutdown grace period"),
        "sessions outlived the {DRAIN_GRACE_MS} ms grace period; the log:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    drop(broker);

    // The same data directory, a new process.
    let broker = BrokerProcess::spawn_logged(data.path(), &env, &logs.path().join("second.log"));
    let mut bob = bob.clone();
    bob.base = format!("http://{}/api", broker.http);
    let (status, login) = bob
        .post(
            "/login",
            json!({ "username": "drain-bob", "password": "password-drain-bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    bob.adopt(&login);

    let by_label = |label: &str| {
        let (stream, record, _) = results
            .iter()
            .find(|(stream, _, _)| stream.label == label)
            .unwrap();
        (stream, record)
    };
    let places: Vec<(String, Vec<&str>)> = vec![
        (private(alice.user_id, bob.user_id), vec!["alice-bob"]),
        (private(carol.user_id, bob.user_id), vec!["carol-bob"]),
        (private(dave.user_id, bob.user_id), vec!["dave-bob"]),
        (format!("g{group_id}"), vec!["alice-group", "carol-group"]),
        ("/queue/faults-drain-a".into(), vec!["qa", "late"]),
        ("/queue/faults-drain-b".into(), vec!["qb"]),
    ];
    let mut last_seqs = BTreeMap::new();
    for (place, labels) in &places {
        let writers: Vec<(&Stream, &Record)> = labels.iter().map(|l| by_label(l)).collect();
        let counts = if place.starts_with("/queue/") {
            let stored = drain_queue(&broker.tcp_url(), place).await;
            check_stored(place, &stored, &writers)
        } else {
            let (counts, last_seq) = check_conversation(&bob, place, &writers).await;
            last_seqs.insert(place.clone(), last_seq);
            counts
        };
        for ((stream, record), stored) in writers.iter().zip(counts) {
            println!(
                "{:>12}: {} sent, {} receipted, {} stored; {}",
                stream.label,
                record.written,
                record.receipted.len(),
                stored,
                record.endings.join("; ")
            );
            assert_eq!(
                stored,
                record.receipted.len(),
                "{}: a drained broker stores nothing it did not confirm",
                stream.label
            );
        }
    }

    // Bob's devices get the same, once each and in order, over STOMP.
    check_replays(&broker, &bob, &to_bob, &to_group, &last_seqs).await;
}

/// Counters one stream shares with the test while it runs.
#[derive(Default)]
struct Tally {
    receipts: AtomicUsize,
    /// ERROR frames (on a SEND or on CONNECT) the stream was refused with.
    errors: AtomicUsize,
}

/// Runs `stream` until `stop`, reconnecting after every ERROR (as a chat
/// client does, with a short pause); a connection that ends without a
/// clear ERROR, or a store failure not said as such, is noted in
/// `unclear`.
fn flood_through_outages(
    url: Url,
    stream: Stream,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Stream, Record, Vec<String>)> {
    tokio::spawn(async move {
        let mut record = Record::default();
        let mut unclear = Vec::new();
        let clear = |message: String, record: &mut Record, unclear: &mut Vec<String>| {
            if !message.contains("unavailable") {
                unclear.push(format!("{}: ERROR {message:?}", stream.label));
            }
            record.endings.push(message);
            tally.errors.fetch_add(1, Ordering::Relaxed);
        };
        while !stop.load(Ordering::Relaxed) {
            let mut connection = match stream.connect(&url).await {
                Ok(connection) => connection,
                Err(ClientError::Refused(message)) => {
                    clear(format!("CONNECT: {message}"), &mut record, &mut unclear);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(error) => panic!("{}: cannot reach the broker: {error}", stream.label),
            };
            match stream
                .flood(&mut connection, &mut record, &tally.receipts, &stop)
                .await
            {
                Ending::Stopped => {
                    connection.disconnect().await.expect("DISCONNECT");
                }
                Ending::Error(frame) => {
                    clear(describe_error(&frame), &mut record, &mut unclear);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ending::Closed(how) => {
                    unclear.push(format!("{}: closed without an ERROR: {how}", stream.label));
                    record.endings.push(how);
                }
            }
        }
        (stream, record, unclear)
    })
}

/// Waits until `ready` holds, failing with `what` and the broker's log if
/// it never does.
async fn until(what: &str, log: &Path, bound: Duration, mut ready: impl FnMut() -> bool) {
    let mut waited = Duration::ZERO;
    while !ready() {
        assert!(
            waited < bound,
            "{what} (waited {bound:?}); herald's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}

/// PostgreSQL goes away twice while chat and queue SENDs flood Herald:
/// once stopped cleanly (`fast`: sessions are killed, a checkpoint is
/// written) and once as if the power went (`immediate`: crash recovery on
/// start). Senders must hear a clear ERROR within the pool's acquire
/// timeout, never hang and never get a RECEIPT for what the database did
/// not keep; the API answers 503 JSON; once PostgreSQL is back, Herald's
/// pool reconnects by itself and the same clients carry on. Afterwards
/// every conversation's seq runs without a gap and every receipted message
/// is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted_under_load_loses_no_receipted_message() {
    let postgres = Arc::new(common::services::PrivatePostgres::start());
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log_path = std::path::PathBuf::from("/tmp/pgdown-herald.log");
    let _ = &logs;
    let env = vec![
        ("HERALD_STORE__BACKEND".to_owned(), "postgres".to_owned()),
        ("HERALD_STORE__POSTGRES_URL".to_owned(), postgres.url()),
        (
            "HERALD_CHAT__SENDS_PER_SECOND".to_owned(),
            "1000000".to_owned(),
        ),
    ];
    let mut broker = BrokerProcess::spawn_logged(data.path(), &env, &log_path);
    let bob = Api::register(&broker.http, "pgdown-bob").await;
    let alice = Api::register(&broker.http, "pgdown-alice").await;
    let carol = Api::register(&broker.http, "pgdown-carol").await;
    bob.befriend(&alice).await;
    bob.befriend(&carol).await;
    let (status, group) = bob
        .post(
            "/groups",
            json!({ "name": "Outage", "members": [alice.user_id, carol.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    let to_bob = format!("/user/{}", bob.user_id);
    let to_group = format!("/group/{group_id}");
    let chat = |label: &str, from: &Api, destination: &str| Stream {
        label: label.to_owned(),
        destination: destination.to_owned(),
        token: Some(from.token().to_owned()),
    };
    let streams = [
        chat("alice-bob", &alice, &to_bob),
        chat("carol-bob", &carol, &to_bob),
        chat("alice-group", &alice, &to_group),
        chat("carol-group", &carol, &to_group),
        Stream {
            label: "queue".into(),
            destination: "/queue/faults-pg".into(),
            token: None,
        },
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let mut floods = Vec::new();
    let mut tallies = Vec::new();
    for (index, stream) in streams.iter().enumerate() {
        let url = if index % 2 == 0 {
            broker.ws_url()
        } else {
            broker.tcp_url()
        };
        let tally = Arc::new(Tally::default());
        tallies.push(tally.clone());
        floods.push(flood_through_outages(
            url,
            stream.clone(),
            tally,
            stop.clone(),
        ));
    }
    let receipts = |tallies: &[Arc<Tally>]| -> Vec<usize> {
        tallies
            .iter()
            .map(|t| t.receipts.load(Ordering::Relaxed))
            .collect()
    };
    let errors = |tallies: &[Arc<Tally>]| -> Vec<usize> {
        tallies
            .iter()
            .map(|t| t.errors.load(Ordering::Relaxed))
            .collect()
    };
    until("the load never got going", &log_path, ANSWER, || {
        receipts(&tallies).iter().all(|n| *n >= 50)
    })
    .await;

    for mode in ["fast", "immediate"] {
        let errors_before = errors(&tallies);
        let down = postgres.clone();
        tokio::task::spawn_blocking(move || down.stop(mode))
            .await
            .unwrap();
        // The API says so too, as JSON.
        let (status, body) = bob
            .get(&format!("/conversations/g{group_id}/messages"))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "store_unavailable", "{body}");
        assert!(body["message"].as_str().is_some(), "{body}");
        until(
            &format!("PostgreSQL stopped ({mode}): some senders heard nothing"),
            &log_path,
            Duration::from_secs(120),
            || {
                errors(&tallies)
                    .iter()
                    .zip(&errors_before)
                    .all(|(now, before)| now > before)
            },
        )
        .await;
        assert!(
            broker.child.try_wait().unwrap().is_none(),
            "herald exited while PostgreSQL was down"
        );
        let up = postgres.clone();
        tokio::task::spawn_blocking(move || up.resume())
            .await
            .unwrap();
        let receipts_before = receipts(&tallies);
        until(
            &format!("PostgreSQL is back ({mode}) but not every sender gets RECEIPTs again"),
            &log_path,
            Duration::from_secs(120),
            || {
                receipts(&tallies)
                    .iter()
                    .zip(&receipts_before)
                    .all(|(now, before)| *now >= before + 50)
            },
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    let mut unclear = Vec::new();
    for flood in floods {
        let (stream, record, mut not_clear) = flood.await.expect("flood task");
        unclear.append(&mut not_clear);
        results.push((stream, record));
    }
    assert!(unclear.is_empty(), "{unclear:#?}");

    let by_label = |label: &str| {
        let (stream, record) = results.iter().find(|(s, _)| s.label == label).unwrap();
        (stream, record)
    };
    let places: Vec<(String, Vec<&str>)> = vec![
        (private(alice.user_id, bob.user_id), vec!["alice-bob"]),
        (private(carol.user_id, bob.user_id), vec!["carol-bob"]),
        (format!("g{group_id}"), vec!["alice-group", "carol-group"]),
        ("/queue/faults-pg".into(), vec!["queue"]),
    ];
    let mut last_seqs = BTreeMap::new();
    for (place, labels) in &places {
        let writers: Vec<(&Stream, &Record)> = labels.iter().map(|l| by_label(l)).collect();
        let counts = if place.starts_with("/queue/") {
            let stored = drain_queue(&broker.tcp_url(), place).await;
            check_stored(place, &stored, &writers)
        } else {
            let (counts, last_seq) = check_conversation(&bob, place, &writers).await;
            last_seqs.insert(place.clone(), last_seq);
            counts
        };
        for ((stream, record), stored) in writers.iter().zip(counts) {
            println!(
                "{:>12}: {} sent, {} receipted, {} stored; {} ERRORs",
                stream.label,
                record.written,
                record.receipted.len(),
                stored,
                record.endings.len(),
            );
            assert!(
                stored >= record.receipted.len()
                    && stored <= record.receipted.len() + record.refused.len(),
                "{}: a message stored without a RECEIPT must be one whose SEND was answered \
                 with an ERROR (its commit's outcome was unknown when the database went away)",
                stream.label
            );
        }
    }
    let mut refusals: Vec<&str> = results
        .iter()
        .flat_map(|(_, record)| record.endings.iter())
        .map(|message| message.split(": ").take(2).last().unwrap_or(message))
        .collect();
    refusals.sort();
    refusals.dedup();
    println!("refusals: {refusals:?}");

    // Live delivery recovered too: bob's devices get every message once, in
    // order.
    check_replays(&broker, &bob, &to_bob, &to_group, &last_seqs).await;
    assert!(broker.child.try_wait().unwrap().is_none(), "herald exited");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

/// A tmpfs of `size` mounted on a directory of its own, unmounted when
/// dropped.
///
/// A full disk is made real rather than imitated: the kernel's tmpfs with
/// a size limit answers a write past it with ENOSPC, exactly as a full
/// ext4 volume would, and needs neither a device nor an image file. Tests
/// run as root here and in CI (a container; `mount` works there in a fresh
/// network or mount namespace too). When mounting is not permitted the
/// test fails with mount's own message: a full-disk test that quietly
/// wrote to an ordinary directory would prove nothing.
struct SmallFilesystem {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> SmallFilesystem {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("files");
        std::fs::create_dir(&path).unwrap();
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "cannot mount a {size} tmpfs on {} (this test needs root or CAP_SYS_ADMIN \
             to make a real full filesystem): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        SmallFilesystem {
            path,
            _parent: parent,
        }
    }

    /// Names in the directory, hidden temporary uploads included.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        // Lazy: a file still open in a broker task must not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn upload(api: &Api, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/files", api.base))
        .query(&[("name", name)])
        .bearer_auth(api.token())
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload request");
    let status = response.status();
    let text = response.text().await.expect("upload answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("non-JSON answer {status} to an upload: {text:?}"));
    (status, body)
}

async fn download(api: &Api, id: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{}/files/{id}", api.base))
        .bearer_auth(api.token())
        .send()
        .await
        .expect("download request");
    let status = response.status();
    (
        status,
        response.bytes().await.expect("download body").to_vec(),
    )
}

/// Bytes that no filesystem can shrink by sharing or compressing pages.
fn noise(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A full disk is the operator's problem, not a broken server: the client
/// must be able to tell it from a 500 (and retry later), the half-written
/// upload must not eat what space is left, and what was stored before
/// must stay readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_files_disk_answers_507_and_keeps_what_was_stored() {
    let disk = SmallFilesystem::mount("1m");
    let files_dir = disk.path.to_string_lossy().into_owned();
    let broker = TestBroker::start_with(move |config| config.files.dir = files_dir).await;
    let alice = Api::register(broker.server.http_addr, "disk-alice").await;

    let first = noise(300 * 1024, 1);
    let (status, body) = upload(&alice, "first.bin", first.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first_id = body["id"].as_str().unwrap().to_owned();

    // Two megabytes into what is left of one: well under files.max_bytes,
    // so only the disk can refuse it.
    let too_big = noise(2 * 1024 * 1024, 2);
    assert!(too_big.len() as u64 <= broker.server.broker.config.files.max_bytes);
    let (status, body) = upload(&alice, "too-big.bin", too_big).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"], "insufficient_storage", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(!message.is_empty(), "{body}");
    assert!(
        !message.contains(&disk.path.to_string_lossy().into_owned()),
        "the client is not told where files live: {message}"
    );

    // Nothing of the refused upload is left, not even its temporary file.
    assert_eq!(disk.entries(), vec![first_id.clone()]);
    let (status, bytes) = download(&alice, &first_id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == first, "the earlier upload comes back intact");

    // The space the refused upload took is free again.
    let second = noise(300 * 1024, 3);
    let (status, body) = upload(&alice, "second.bin", second.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second_id = body["id"].as_str().unwrap().to_owned();
    let (status, bytes) = download(&alice, &second_id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == second);
    let mut expected = vec![first_id, second_id];
    expected.sort();
    assert_eq!(disk.entries(), expected);
}
