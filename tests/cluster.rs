//! Three `herald serve` processes on loopback sharing one PostgreSQL and one
//! Redis, as a cluster runs: users spread over the nodes chat privately and
//! in groups with every kind of event, one user's devices sit on two nodes,
//! a node is killed with `kill -9` mid-stream, Redis is restarted
//! mid-stream, two nodes write one conversation at once, and `/queue`
//! consumers on every node compete for one queue. Each scenario checks that
//! every receipted message arrives exactly once and in seq order.
//!
//! Each scenario gets its own Redis (`scripts/redis.sh`), its own database
//! on a PostgreSQL server this test process starts once
//! (`scripts/postgres.sh`) and its own three nodes; the scenarios run one at
//! a time, so timings (presence expiry, lease expiry) hold on a busy
//! machine. Watchdog shells stop the servers and nodes once the test process
//! is gone, however it ended. The nodes use short cluster timings
//! (heartbeat 1 s, presence TTL 3 s, queue leases 3 s) so that expiry is
//! quick to see.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::api::Api;
use common::BrokerProcess;
use herald::client::{describe_error, ClientError, Connection};
use herald_protocol::{Command, Frame};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The JWT secret every node shares, so a token works on any node.
const SECRET: &str = "the cluster's shared secret, at least 32 bytes";
/// How long a test waits for what it expects.
const EXPECT: Duration = Duration::from_secs(20);
/// How long a test listens to be sure nothing more (no duplicate) arrives.
const QUIET: Duration = Duration::from_millis(800);
/// The nodes' presence TTL and queue lease (see [`Cluster::start`]).
const EXPIRY: Duration = Duration::from_secs(3);

// --- servers -----------------------------------------------------------------

/// Runs `scripts/{script} {action}` with `env`; its stdout, trimmed.
fn script(script: &str, action: &str, env: &[(&str, String)]) -> String {
    let path = format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Process::new("bash")
        .args([&path, action])
        .envs(env.iter().map(|(name, value)| (*name, value)))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {path}: {error}"));
    assert!(
        output.status.success(),
        "{script} {action} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `then` in the background once this test process is gone (a panic,
/// a kill): a shell polls for our pid. It is started by a shell that exits
/// at once, so it is no child of ours and outlives us.
fn when_this_process_ends(then: &str) {
    let watchdog = format!(
        "(while kill -0 {pid} 2>/dev/null; do sleep 1; done; {then}) >/dev/null 2>&1 &",
        pid = std::process::id()
    );
    let started = Process::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start a watchdog");
    assert!(started.success(), "the watchdog did not start");
}

/// The PostgreSQL server of this test process (its `postgres` database).
fn postgres_server() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let directory =
            std::env::temp_dir().join(format!("herald-cluster-pg-{}", std::process::id()));
        let env = [("HERALD_PG_DIR", directory.display().to_string())];
        // The watchdog first: a start that fails half-way is cleaned too.
        when_this_process_ends(&format!(
            "HERALD_PG_DIR='{}' bash '{}/scripts/postgres.sh' stop",
            directory.display(),
            env!("CARGO_MANIFEST_DIR")
        ));
        script("postgres.sh", "start", &env)
    })
}

/// A fresh database on the server, for one scenario's nodes.
fn database(name: &str) -> String {
    let server = postgres_server();
    let output = Process::new("psql")
        .args([server, "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", &format!("DROP DATABASE IF EXISTS {name}")])
        .args(["-c", &format!("CREATE DATABASE {name}")])
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "cannot create database {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (base, _) = server.rsplit_once('/').expect("URL ends in /database");
    format!("{base}/{name}")
}

/// A Redis of one scenario's own, which it may stop and start again on the
/// same port.
struct Redis {
    directory: PathBuf,
    port: String,
    url: String,
}

impl Redis {
    fn start(name: &str) -> Redis {
        let directory = std::env::temp_dir().join(format!(
            "herald-cluster-redis-{}-{name}",
            std::process::id()
        ));
        when_this_process_ends(&format!(
            "HERALD_REDIS_DIR='{}' bash '{}/scripts/redis.sh' stop",
            directory.display(),
            env!("CARGO_MANIFEST_DIR")
        ));
        let url = script(
            "redis.sh",
            "start",
            &[("HERALD_REDIS_DIR", directory.display().to_string())],
        );
        let port = url.rsplit(':').next().expect("port").to_owned();
        Redis {
            directory,
            port,
            url,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HERALD_REDIS_DIR", self.directory.display().to_string()),
            ("HERALD_REDIS_PORT", self.port.clone()),
        ]
    }

    /// A user's presence entries (node, expiry in unix ms), for failure
    /// messages.
    fn presence(&self, user: i64) -> String {
        let output = Process::new("redis-cli")
            .args([
                "-p",
                &self.port,
                "ZRANGE",
                &format!("herald:presence:{user}"),
            ])
            .args(["0", "-1", "WITHSCORES"])
            .output()
            .expect("run redis-cli");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        format!(
            "{:?} at {now}",
            String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
        )
    }

    fn stop(&self) {
        script("redis.sh", "stop", &self.env());
    }

    /// Starts it again on the same port (empty: Redis keeps nothing here).
    fn start_again(&self) {
        let url = script("redis.sh", "start", &self.env());
        assert_eq!(url, self.url, "Redis came back on another port");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let path = format!("{}/scripts/redis.sh", env!("CARGO_MANIFEST_DIR"));
        let _ = Process::new("bash")
            .args([&path, "stop"])
            .envs(self.env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One scenario's three nodes, its Redis and its database.
struct Cluster {
    nodes: Vec<Option<BrokerProcess>>,
    redis: Redis,
    directory: TempDir,
}

impl Cluster {
    /// Starts Redis, a database and nodes 1 to 3 (`nodes[0]` is node 1).
    async fn start(name: &str) -> Cluster {
        let redis = Redis::start(name);
        let postgres = database(&format!("cluster_{name}"));
        let directory = tempfile::tempdir().expect("temp dir");
        let mut nodes = Vec::new();
        for node in 1..=3u16 {
            let data = directory.path().join(format!("node{node}"));
            std::fs::create_dir_all(&data).expect("node directory");
            let env: Vec<(String, String)> = [
                ("HERALD_SERVER__NODE_ID", node.to_string()),
                ("HERALD_STORE__BACKEND", "postgres".into()),
                ("HERALD_STORE__POSTGRES_URL", postgres.clone()),
                ("HERALD_CLUSTER__REDIS_URL", redis.url.clone()),
                ("HERALD_AUTH__JWT__SECRET", SECRET.into()),
                ("HERALD_CLUSTER__HEARTBEAT_MS", "1000".into()),
                (
                    "HERALD_CLUSTER__PRESENCE_TTL_MS",
                    EXPIRY.as_millis().to_string(),
                ),
                (
                    "HERALD_CLUSTER__QUEUE_LEASE_MS",
                    EXPIRY.as_millis().to_string(),
                ),
                ("HERALD_CLUSTER__QUEUE_POLL_MS", "500".into()),
                ("HERALD_CHAT__SENDS_PER_SECOND", "100000".into()),
                ("HERALD_CHAT__TYPING_PER_SECOND", "1000".into()),
                ("HERALD_STOMP__ERROR_LINGER_MS", "50".into()),
                ("HERALD_LOG__FILTER", "warn,herald=info".into()),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
            let process = BrokerProcess::spawn_logged(&data, &env, &data.join("herald.log"));
            let pid = process.child.id();
            // A node must not outlive the test (it would keep the ports and
            // the database busy); its command line is checked first, in case
            // it ended on its own and the pid was reused.
            when_this_process_ends(&format!(
                "grep -q herald /proc/{pid}/cmdline 2>/dev/null && kill -9 {pid}"
            ));
            nodes.push(Some(process));
        }
        Cluster {
            nodes,
            redis,
            directory,
        }
    }

    fn node(&self, index: usize) -> &BrokerProcess {
        self.nodes[index].as_ref().expect("node is running")
    }

    fn http(&self, index: usize) -> String {
        self.node(index).http.clone()
    }

    fn ws(&self, index: usize) -> Url {
        self.node(index).ws_url()
    }

    fn tcp(&self, index: usize) -> Url {
        self.node(index).tcp_url()
    }

    /// `kill -9` on a node: no shutdown code runs, nothing is given back.
    fn kill(&mut self, index: usize) {
        let mut process = self.nodes[index].take().expect("node is running");
        process.kill_9();
    }

    fn logs(&self) -> PathBuf {
        self.directory.path().to_path_buf()
    }
}

impl Drop for Cluster {
    /// A failed scenario keeps its nodes' logs and says where they are.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept = std::env::temp_dir().join(format!(
                "herald-cluster-logs-{}-{}",
                std::process::id(),
                self.redis.port
            ));
            let _ = copy_logs(self.directory.path(), &kept);
            eprintln!("the nodes' logs are kept in {}", kept.display());
        }
    }
}

fn copy_logs(from: &Path, to: &Path) -> std::io::Result<()> {
    for node in std::fs::read_dir(from)? {
        let node = node?.path();
        let log = node.join("herald.log");
        if log.exists() {
            let name = node.file_name().expect("node directory name");
            std::fs::create_dir_all(to)?;
            std::fs::copy(&log, to.join(name).with_extension("log"))?;
        }
    }
    Ok(())
}

/// The scenarios run one at a time (see the module docs).
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

// --- clients -----------------------------------------------------------------

/// A chat client that keeps what arrives: stored messages (with a seq) by
/// conversation in arrival order, and live notices. It ACKs every MESSAGE
/// that asks for one as it reads it.
struct Client {
    name: String,
    connection: Connection,
    pending: VecDeque<Frame>,
    receipts: u64,
    stored: HashMap<String, Vec<Frame>>,
    notices: Vec<Frame>,
}

impl Client {
    /// CONNECTs as `api`'s user, with a `device-id` when given.
    async fn connect(url: &Url, api: &Api, device: Option<&str>) -> Client {
        let mut connection = Connection::open(url).await.expect("socket opens");
        let mut connect = Frame::new(Command::Connect)
            .header("accept-version", "1.2")
            .header("host", "localhost")
            .header("heart-beat", "0,0")
            .header("passcode", api.token());
        if let Some(device) = device {
            connect = connect.header("device-id", device);
        }
        connection.send(&connect).await.expect("CONNECT sent");
        let reply = connection
            .receive_timeout(EXPECT)
            .await
            .expect("CONNECT answered");
        assert_eq!(
            reply.command,
            Command::Connected,
            "{} could not connect to {url}: {}",
            api.username,
            describe_error(&reply)
        );
        Client {
            name: format!("{}@{}", device.unwrap_or(&api.username), url),
            connection,
            pending: VecDeque::new(),
            receipts: 0,
            stored: HashMap::new(),
            notices: Vec::new(),
        }
    }

    /// Sends `frame` with a fresh receipt id; the RECEIPT, or the ERROR.
    async fn request(&mut self, frame: Frame) -> Result<Frame, Frame> {
        self.receipts += 1;
        let receipt = format!("req-{}", self.receipts);
        self.connection
            .send(&frame.header("receipt", receipt.clone()))
            .await
            .expect("frame sent");
        loop {
            let reply = self
                .connection
                .receive_timeout(EXPECT)
                .await
                .unwrap_or_else(|error| panic!("{}: waiting for {receipt}: {error}", self.name));
            match reply.command {
                Command::Receipt if reply.get("receipt-id") == Some(receipt.as_str()) => {
                    return Ok(reply)
                }
                Command::Error => return Err(reply),
                _ => self.pending.push_back(reply),
            }
        }
    }

    async fn ok(&mut self, frame: Frame) -> Frame {
        match self.request(frame).await {
            Ok(receipt) => receipt,
            Err(error) => panic!("{}: refused: {}", self.name, describe_error(&error)),
        }
    }

    async fn subscribe(&mut self, destination: &str, id: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new(Command::Subscribe)
            .header("destination", destination)
            .header("id", id)
            .header("ack", "client-individual");
        for (name, value) in extra {
            frame = frame.header(*name, *value);
        }
        self.ok(frame).await;
    }

    /// A chat message with a receipt; returns the RECEIPT (seq and all).
    async fn chat(&mut self, destination: &str, text: &str) -> Frame {
        let body = json!({ "type": "text", "text": text }).to_string();
        let frame = Frame::new(Command::Send)
            .header("destination", destination)
            .body(body);
        let receipt = self.ok(frame).await;
        assert!(
            receipt.get("seq").is_some(),
            "receipt without seq: {receipt:?}"
        );
        receipt
    }

    /// A live notice (`typing`, `read` ...) with a receipt.
    async fn notice(&mut self, destination: &str, kind: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new(Command::Send)
            .header("destination", destination)
            .header("kind", kind);
        for (name, value) in extra {
            frame = frame.header(*name, *value);
        }
        self.ok(frame).await;
    }

    /// Reads one frame within `timeout` into what it keeps; false on
    /// timeout. An ERROR or a closed connection fails the test.
    async fn read(&mut self, timeout: Duration) -> bool {
        let frame = match self.pending.pop_front() {
            Some(frame) => frame,
            None => match self.connection.receive_timeout(timeout).await {
                Ok(frame) => frame,
                Err(ClientError::Timeout) => return false,
                Err(error) => panic!("{}: connection failed: {error}", self.name),
            },
        };
        match frame.command {
            Command::Message => {
                if let Some(ack) = frame.get("ack") {
                    // A connection that just died fails at the next read.
                    let ack = Frame::new(Command::Ack).header("id", ack);
                    let _ = self.connection.send(&ack).await;
                }
                let stored = frame.get("seq").is_some()
                    && !matches!(frame.get("kind"), Some("delivered" | "read"));
                if stored {
                    let conversation = frame.get("conversation").expect("conversation");
                    self.stored
                        .entry(conversation.to_owned())
                        .or_default()
                        .push(frame);
                } else {
                    self.notices.push(frame);
                }
            }
            Command::Error => panic!(
                "{}: unexpected ERROR: {}",
                self.name,
                describe_error(&frame)
            ),
            _ => {}
        }
        true
    }

    /// Reads until `done` holds, failing after [`EXPECT`] with `what`.
    async fn until(&mut self, what: &str, done: impl Fn(&Client) -> bool) {
        let deadline = Instant::now() + EXPECT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.read(left).await && !done(self) {
                panic!(
                    "{} waited in vain for {what}; it has {:?} and notices {:?}",
                    self.name,
                    self.summary(),
                    self.notices
                        .iter()
                        .map(|f| f.get("kind").unwrap_or("-").to_owned())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Reads whatever else arrives within [`QUIET`].
    async fn settle(&mut self) {
        while self.read(QUIET).await {}
    }

    /// The seqs of `conversation`'s stored messages, in arrival order.
    fn seqs(&self, conversation: &str) -> Vec<i64> {
        self.stored
            .get(conversation)
            .map(|frames| frames.iter().map(seq_of).collect())
            .unwrap_or_default()
    }

    fn has_seqs(&self, conversation: &str, count: usize) -> bool {
        self.stored.get(conversation).map_or(0, Vec::len) >= count
    }

    /// Live notices of `kind`.
    fn notices_of(&self, kind: &str) -> Vec<&Frame> {
        self.notices
            .iter()
            .filter(|frame| frame.get("kind") == Some(kind))
            .collect()
    }

    /// Stored system events of `kind` (in the user's `s{id}` conversation).
    fn events_of(&self, kind: &str) -> Vec<&Frame> {
        self.stored
            .iter()
            .filter(|(conversation, _)| conversation.starts_with('s'))
            .flat_map(|(_, frames)| frames)
            .filter(|frame| frame.get("kind") == Some(kind))
            .collect()
    }

    /// Seqs per conversation, for failure messages.
    fn summary(&self) -> HashMap<String, Vec<i64>> {
        self.stored
            .keys()
            .map(|conversation| (conversation.clone(), self.seqs(conversation)))
            .collect()
    }

    /// Asserts that `conversation` arrived exactly as `expected` (each
    /// once, in seq order), after listening a while for duplicates.
    async fn assert_exactly(&mut self, conversation: &str, expected: &[i64]) {
        self.until(
            &format!("{} messages of {conversation}", expected.len()),
            |c| c.has_seqs(conversation, expected.len()),
        )
        .await;
        self.settle().await;
        assert_eq!(
            self.seqs(conversation),
            expected,
            "{}: {conversation} must arrive exactly once and in seq order",
            self.name
        );
    }
}

fn seq_of(frame: &Frame) -> i64 {
    frame
        .get("seq")
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("no seq in {frame:?}"))
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

fn inbox(api: &Api) -> String {
    format!("/user/{}", api.user_id)
}

fn private(a: &Api, b: &Api) -> String {
    format!("u{}-{}", a.user_id.min(b.user_id), a.user_id.max(b.user_id))
}

fn body_json(frame: &Frame) -> Value {
    serde_json::from_slice(&frame.body).unwrap_or(Value::Null)
}

/// Whether `api`'s user looks online to `asker` (through `asker`'s node).
async fn online(asker: &Api, api: &Api) -> bool {
    let (status, answer) = asker.get(&format!("/presence?ids={}", api.user_id)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer[0]["online"] == true
}

async fn befriend(a: &Api, b: &Api) {
    a.befriend(b).await;
}

/// Sends `count` chat messages from `client` to `destination`, up to
/// `window` in flight, each with a `client-msg-id` of `tag-n`; returns the
/// receipts by client-msg-id. Panics on a refusal.
async fn pipeline(
    mut client: Client,
    destination: String,
    tag: &str,
    count: usize,
    window: usize,
) -> (Client, HashMap<String, Frame>) {
    let mut receipts = HashMap::new();
    let (mut sent, mut in_flight) = (0, 0);
    while receipts.len() < count {
        while in_flight < window && sent < count {
            let id = format!("{tag}-{sent}");
            let frame = Frame::new(Command::Send)
                .header("destination", destination.as_str())
                .header("client-msg-id", id.clone())
                .header("receipt", id.clone())
                .body(json!({ "type": "text", "text": id }).to_string());
            client.connection.send(&frame).await.expect("SEND sent");
            sent += 1;
            in_flight += 1;
        }
        let frame = client
            .connection
            .receive_timeout(EXPECT)
            .await
            .unwrap_or_else(|error| panic!("{}: waiting for receipts: {error}", client.name));
        match frame.command {
            Command::Receipt => {
                let id = frame.get("receipt-id").expect("receipt-id").to_owned();
                assert!(receipts.insert(id, frame).is_none(), "a receipt came twice");
                in_flight -= 1;
            }
            Command::Error => panic!("{}: send refused: {}", client.name, describe_error(&frame)),
            _ => client.pending.push_back(frame),
        }
    }
    (client, receipts)
}

fn receipt_seqs<'a>(receipts: impl IntoIterator<Item = &'a Frame>) -> Vec<i64> {
    let seqs: BTreeSet<i64> = receipts.into_iter().map(seq_of).collect();
    seqs.into_iter().collect()
}

// --- scenarios ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_chat_with_every_kind_of_event() {
    let _turn = one_at_a_time().await;
    let cluster = Cluster::start("chat").await;
    let alice = Api::register(cluster.http(0), "alice").await;
    let bob = Api::register(cluster.http(1), "bob").await;
    let carol = Api::register(cluster.http(2), "carol").await;

    let mut alice_c = Client::connect(&cluster.ws(0), &alice, Some("alice-1")).await;
    alice_c.subscribe(&inbox(&alice), "me", &[]).await;
    let mut bob_c = Client::connect(&cluster.tcp(1), &bob, Some("bob-1")).await;
    bob_c.subscribe(&inbox(&bob), "me", &[]).await;
    let mut carol_c = Client::connect(&cluster.ws(2), &carol, Some("carol-1")).await;
    carol_c.subscribe(&inbox(&carol), "me", &[]).await;

    // A friend request made through node 1's API reaches carol on node 3;
    // her acceptance through node 3's reaches alice on node 1.
    let (status, request) = alice
        .post(
            "/friend-requests",
            json!({ "to": carol.user_id, "greeting": "hi from node 1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    carol_c
        .until("friend-request", |c| {
            !c.events_of("friend-request").is_empty()
        })
        .await;
    let event = body_json(carol_c.events_of("friend-request")[0]);
    assert_eq!(event["from"]["id"], alice.user_id);
    let (status, _) = carol
        .post(
            &format!("/friend-requests/{}/accept", request["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    alice_c
        .until("friend-accepted", |c| {
            !c.events_of("friend-accepted").is_empty()
        })
        .await;
    befriend(&alice, &bob).await;
    bob_c
        .until("friend-request", |c| {
            !c.events_of("friend-request").is_empty()
        })
        .await;
    befriend(&bob, &carol).await;

    // Presence crosses nodes both ways: bob leaves node 2 and comes back.
    bob_c.connection.disconnect().await.expect("DISCONNECT");
    alice_c
        .until("bob offline", |c| {
            c.notices_of("presence")
                .iter()
                .any(|f| body_json(f) == json!({ "user": bob.user_id, "online": false }))
        })
        .await;
    assert!(!online(&carol, &bob).await, "node 3 sees bob offline");
    let mut bob_c = Client::connect(&cluster.ws(1), &bob, Some("bob-1")).await;
    bob_c.subscribe(&inbox(&bob), "me", &[]).await;
    for watcher in [&mut alice_c, &mut carol_c] {
        watcher
            .until("bob online", |c| {
                c.notices_of("presence")
                    .iter()
                    .any(|f| body_json(f) == json!({ "user": bob.user_id, "online": true }))
            })
            .await;
    }
    assert!(online(&carol, &bob).await, "node 3 sees bob online");

    // 1:1 from node 1 to node 2: every receipted message once, in order,
    // on both sides; bob's ACKs come back to alice as `delivered`.
    let ab = private(&alice, &bob);
    let mut receipts = Vec::new();
    for n in 0..20 {
        receipts.push(alice_c.chat(&inbox(&bob), &format!("hello {n}")).await);
    }
    assert_eq!(receipt_seqs(&receipts), range(1, 20));
    bob_c.assert_exactly(&ab, &range(1, 20)).await;
    alice_c.assert_exactly(&ab, &range(1, 20)).await;
    alice_c
        .until("delivered up to 20", |c| {
            c.notices_of("delivered")
                .iter()
                .any(|f| f.get("seq") == Some("20") && f.get("conversation") == Some(ab.as_str()))
        })
        .await;

    // Typing and read cross back from node 2 to node 1.
    bob_c.notice(&inbox(&alice), "typing", &[]).await;
    alice_c
        .until("typing", |c| !c.notices_of("typing").is_empty())
        .await;
    assert_eq!(
        alice_c.notices_of("typing")[0].get("sender"),
        Some(bob.user_id.to_string().as_str())
    );
    bob_c.notice(&inbox(&alice), "read", &[("seq", "20")]).await;
    alice_c
        .until("read", |c| {
            c.notices_of("read")
                .iter()
                .any(|f| f.get("seq") == Some("20"))
        })
        .await;

    // A recall is a stored event of the conversation: seq 21 everywhere.
    let recalled = receipts[3]
        .get("message-id")
        .expect("message-id")
        .to_owned();
    alice_c
        .ok(Frame::new(Command::Send)
            .header("destination", inbox(&bob))
            .header("kind", "recall")
            .header("recall-id", recalled.clone()))
        .await;
    bob_c.until("recall", |c| c.has_seqs(&ab, 21)).await;
    let recall = bob_c.stored[&ab].last().expect("recall");
    assert_eq!(
        (recall.get("kind"), recall.get("recall-id")),
        (Some("recall"), Some(recalled.as_str()))
    );

    // A group across the three nodes: invites, then everyone writes at
    // once; every member sees one order.
    let (status, group) = alice
        .post(
            "/groups",
            json!({ "name": "Across", "members": [bob.user_id, carol.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().expect("group id");
    for member in [&mut bob_c, &mut carol_c] {
        member
            .until("group-invite", |c| !c.events_of("group-invite").is_empty())
            .await;
    }
    let destination = format!("/group/{group_id}");
    let conversation = format!("g{group_id}");
    for member in [&mut alice_c, &mut bob_c, &mut carol_c] {
        member.subscribe(&destination, "group", &[]).await;
    }
    let senders = [alice_c, bob_c, carol_c].map(|client| {
        let destination = destination.clone();
        tokio::spawn(async move {
            let tag = client.name.clone();
            pipeline(client, destination, &tag, 10, 4).await
        })
    });
    let mut members = Vec::new();
    let mut group_receipts = Vec::new();
    for sender in senders {
        let (client, receipts) = sender.await.expect("sender");
        members.push(client);
        group_receipts.extend(receipts.into_values());
    }
    assert_eq!(receipt_seqs(&group_receipts), range(1, 30));
    for member in &mut members {
        member.assert_exactly(&conversation, &range(1, 30)).await;
    }
    let [mut alice_c, mut bob_c, mut carol_c] =
        <[Client; 3]>::try_from(members).unwrap_or_else(|_| unreachable!());

    // Group events from node 1 reach the members on nodes 2 and 3.
    let (status, _) = alice
        .put(
            &format!("/groups/{group_id}/members/{}/role", carol.user_id),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = alice
        .put(
            &format!("/groups/{group_id}/members/{}/mute", bob.user_id),
            json!({ "muted": true }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for member in [&mut bob_c, &mut carol_c] {
        member
            .until("role-changed and member-muted", |c| {
                !c.events_of("role-changed").is_empty() && !c.events_of("member-muted").is_empty()
            })
            .await;
    }
    let (status, _) = alice.delete(&format!("/groups/{group_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for member in [&mut bob_c, &mut carol_c] {
        member
            .until("group-dissolved", |c| {
                !c.events_of("group-dissolved").is_empty()
            })
            .await;
    }
    // An unfriending through node 3 reaches node 1.
    let (status, _) = carol.delete(&format!("/friends/{}", alice.user_id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    alice_c
        .until("friend-deleted", |c| {
            !c.events_of("friend-deleted").is_empty()
        })
        .await;

    // Each user's system events arrived once each, in seq order.
    for client in [&mut alice_c, &mut bob_c, &mut carol_c] {
        client.settle().await;
        let events: Vec<(String, Vec<i64>)> = client
            .stored
            .keys()
            .filter(|conversation| conversation.starts_with('s'))
            .map(|conversation| (conversation.clone(), client.seqs(conversation)))
            .collect();
        // (bob's second connection resumed at his device's cursor, so
        // his may start above 1.)
        for (conversation, seqs) in events {
            let first = seqs[0];
            assert_eq!(
                seqs,
                range(first, first + seqs.len() as i64 - 1),
                "{}: events of {conversation}",
                client.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_devices_on_two_nodes_gets_everything_on_both() {
    let _turn = one_at_a_time().await;
    let cluster = Cluster::start("devices").await;
    let alice = Api::register(cluster.http(0), "alice").await;
    let bob = Api::register(cluster.http(1), "bob").await;
    befriend(&alice, &bob).await;
    let conversation = private(&alice, &bob);

    let mut alice_c = Client::connect(&cluster.ws(0), &alice, Some("alice-1")).await;
    alice_c.subscribe(&inbox(&alice), "me", &[]).await;
    let mut phone = Client::connect(&cluster.ws(1), &bob, Some("bob-phone")).await;
    phone.subscribe(&inbox(&bob), "me", &[]).await;
    let mut laptop = Client::connect(&cluster.tcp(2), &bob, Some("bob-laptop")).await;
    laptop.subscribe(&inbox(&bob), "me", &[]).await;

    // bob's phone (node 2) writes, alice (node 1) answers: both of bob's
    // devices and alice see the one conversation, each message once.
    let (phone, phone_receipts) = pipeline(phone, inbox(&alice), "from-phone", 10, 4).await;
    let (alice_c, alice_receipts) = pipeline(alice_c, inbox(&bob), "from-alice", 30, 8).await;
    let (mut alice_c, mut phone) = (alice_c, phone);
    assert_eq!(receipt_seqs(phone_receipts.values()), range(1, 10));
    assert_eq!(receipt_seqs(alice_receipts.values()), range(11, 40));
    for client in [&mut phone, &mut laptop, &mut alice_c] {
        client.assert_exactly(&conversation, &range(1, 40)).await;
    }

    // Live notices reach both devices: typing from alice, presence, and
    // bob's read from his phone (which his laptop hears too).
    alice_c.notice(&inbox(&bob), "typing", &[]).await;
    for device in [&mut phone, &mut laptop] {
        device
            .until("typing", |c| !c.notices_of("typing").is_empty())
            .await;
    }
    phone.notice(&inbox(&alice), "read", &[("seq", "40")]).await;
    laptop
        .until("read on the other device", |c| {
            c.notices_of("read")
                .iter()
                .any(|f| f.get("seq") == Some("40"))
        })
        .await;
    alice_c
        .until("read", |c| {
            c.notices_of("read")
                .iter()
                .any(|f| f.get("seq") == Some("40"))
        })
        .await;
    alice_c
        .until("delivered", |c| {
            c.notices_of("delivered").iter().any(|f| {
                f.get("seq")
                    .is_some_and(|seq| seq.parse::<i64>().unwrap_or(0) >= 30)
            })
        })
        .await;

    // A system event made on node 1 reaches both devices.
    let (status, group) = alice
        .post(
            "/groups",
            json!({ "name": "Devices", "members": [bob.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    for device in [&mut phone, &mut laptop] {
        device
            .until("group-invite", |c| !c.events_of("group-invite").is_empty())
            .await;
    }
    // One device leaving does not make bob offline, nor does a second
    // device coming make him come online again: the other holds him.
    let offline = json!({ "user": bob.user_id, "online": false });
    let online_again = json!({ "user": bob.user_id, "online": true });
    alice_c.settle().await;
    let before = alice_c.notices_of("presence").len();
    phone.connection.disconnect().await.expect("DISCONNECT");
    let mut tablet = Client::connect(&cluster.ws(0), &bob, Some("bob-tablet")).await;
    tablet.subscribe(&inbox(&bob), "me", &[]).await;
    alice_c.settle().await;
    assert!(online(&alice, &bob).await, "bob is still on node 3");
    let heard: Vec<Value> = alice_c.notices_of("presence")[before..]
        .iter()
        .map(|frame| body_json(frame))
        .collect();
    assert!(
        !heard.contains(&offline) && !heard.contains(&online_again),
        "alice heard {heard:?} while bob stayed online"
    );
    laptop.settle().await;
    assert_eq!(laptop.seqs(&conversation), range(1, 40), "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_and_its_presence_expires() {
    const N: usize = 120;
    const KILL_AFTER: usize = 50;
    let _turn = one_at_a_time().await;
    let mut cluster = Cluster::start("kill").await;
    let alice = Api::register(cluster.http(0), "alice").await;
    let bob = Api::register(cluster.http(1), "bob").await;
    let carol = Api::register(cluster.http(0), "carol").await;
    let dave = Api::register(cluster.http(2), "dave").await;
    befriend(&alice, &bob).await;
    befriend(&carol, &dave).await;
    let conversation = private(&alice, &bob);

    // alice sends and bob's phone receives on node 3, the one to die; bob's
    // laptop listens on node 1 all along; dave is only on node 3.
    let mut phone = Client::connect(&cluster.ws(2), &bob, Some("bob-phone")).await;
    phone.subscribe(&inbox(&bob), "me", &[]).await;
    let mut laptop = Client::connect(&cluster.ws(0), &bob, Some("bob-laptop")).await;
    laptop.subscribe(&inbox(&bob), "me", &[]).await;
    let mut dave_c = Client::connect(&cluster.tcp(2), &dave, Some("dave-1")).await;
    dave_c.subscribe(&inbox(&dave), "me", &[]).await;
    assert!(online(&carol, &dave).await);
    let mut carol_c = Client::connect(&cluster.ws(0), &carol, Some("carol-1")).await;
    carol_c.subscribe(&inbox(&carol), "me", &[]).await;
    let sender = Client::connect(&cluster.tcp(2), &alice, Some("alice-phone")).await;

    // bob's phone reads (and ACKs) until its node dies.
    let watched = conversation.clone();
    let reader = tokio::spawn(async move {
        while let Ok(frame) = phone.connection.receive_timeout(EXPECT).await {
            phone.pending.push_back(frame);
            phone.read(Duration::ZERO).await;
        }
        phone.seqs(&watched)
    });

    // alice streams with 8 in flight; node 3 is killed the moment the
    // KILL_AFTER-th receipt arrives.
    let mut node3 = cluster.nodes[2].take().expect("node 3");
    let destination = inbox(&bob);
    let streamer = tokio::spawn(async move {
        let mut sender = sender;
        let mut receipts: HashMap<String, i64> = HashMap::new();
        let (mut sent, mut in_flight, mut killed) = (0, 0, false);
        loop {
            while !killed && in_flight < 8 && sent < N {
                let frame = Frame::new(Command::Send)
                    .header("destination", destination.as_str())
                    .header("client-msg-id", format!("m{sent}"))
                    .header("receipt", format!("m{sent}"))
                    .body(format!("message {sent}"));
                if sender.connection.send(&frame).await.is_err() {
                    break;
                }
                sent += 1;
                in_flight += 1;
            }
            if in_flight == 0 {
                break;
            }
            match sender.connection.receive_timeout(EXPECT).await {
                Ok(frame) if frame.command == Command::Receipt => {
                    let id = frame.get("receipt-id").expect("receipt-id").to_owned();
                    receipts.insert(id, seq_of(&frame));
                    in_flight -= 1;
                    if receipts.len() == KILL_AFTER && !killed {
                        node3.kill_9();
                        killed = true;
                    }
                }
                Ok(frame) if frame.command == Command::Error => {
                    panic!("send refused: {}", describe_error(&frame))
                }
                Ok(_) => {}
                Err(_) if killed => break,
                Err(error) => panic!("the sender failed before the kill: {error}"),
            }
        }
        receipts
    });
    let mut receipts = streamer.await.expect("streamer");
    let killed_at = Instant::now();
    let before_kill = reader.await.expect("reader");
    assert!(receipts.len() >= KILL_AFTER && receipts.len() < N);

    // Both reconnect elsewhere with the same device ids: alice sends again
    // what had no receipt (the same client-msg-id, so nothing twice) ...
    let mut sender = Client::connect(&cluster.ws(0), &alice, Some("alice-phone")).await;
    for n in 0..N {
        let id = format!("m{n}");
        if receipts.contains_key(&id) {
            continue;
        }
        let receipt = sender
            .ok(Frame::new(Command::Send)
                .header("destination", inbox(&bob))
                .header("client-msg-id", id.clone())
                .body(format!("message {n}")))
            .await;
        receipts.insert(id, seq_of(&receipt));
    }
    let all: Vec<i64> = receipt_seqs_of(&receipts);
    assert_eq!(all, range(1, N as i64), "every message has one seq");

    // ... and bob's phone resumes on node 2 where it had got to: the rest,
    // each once, in order.
    let contiguous = before_kill
        .iter()
        .enumerate()
        .take_while(|(index, seq)| **seq == *index as i64 + 1)
        .count() as i64;
    assert_eq!(
        before_kill,
        range(1, contiguous),
        "before the kill, in order"
    );
    let mut phone = Client::connect(&cluster.ws(1), &bob, Some("bob-phone")).await;
    let since = format!("{conversation}={contiguous}");
    phone
        .subscribe(&inbox(&bob), "me", &[("since", since.as_str())])
        .await;
    phone
        .assert_exactly(&conversation, &range(contiguous + 1, N as i64))
        .await;
    // bob's laptop, on a node that lived, saw everything once.
    laptop
        .assert_exactly(&conversation, &range(1, N as i64))
        .await;

    // dave was only on node 3: his presence entry expires.
    let deadline = killed_at + EXPIRY * 4;
    while online(&carol, &dave).await {
        assert!(
            Instant::now() < deadline,
            "dave still online {:?} after node 3 died; Redis holds {}",
            killed_at.elapsed(),
            cluster.redis.presence(dave.user_id)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        killed_at.elapsed() >= EXPIRY / 2,
        "offline before the TTL could end ({:?})",
        killed_at.elapsed()
    );
    // ... and carol, his friend on a node that lived, is told he left, as
    // his last session closing would have told her.
    let gone = json!({ "user": dave.user_id, "online": false });
    loop {
        let frame = carol_c
            .connection
            .receive_timeout(deadline.saturating_duration_since(Instant::now()))
            .await
            .expect("carol hears that dave went offline");
        if frame.get("kind") == Some("presence")
            && serde_json::from_slice::<Value>(&frame.body).ok() == Some(gone.clone())
        {
            break;
        }
    }
    drop(dave_c);
}

fn receipt_seqs_of(receipts: &HashMap<String, i64>) -> Vec<i64> {
    let seqs: BTreeSet<i64> = receipts.values().copied().collect();
    assert_eq!(seqs.len(), receipts.len(), "two receipts share a seq");
    seqs.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_stream_is_repaired_from_the_store() {
    let _turn = one_at_a_time().await;
    let cluster = Cluster::start("redis").await;
    let alice = Api::register(cluster.http(0), "alice").await;
    let bob = Api::register(cluster.http(1), "bob").await;
    befriend(&alice, &bob).await;
    let conversation = private(&alice, &bob);
    let mut alice_c = Client::connect(&cluster.ws(0), &alice, Some("alice-1")).await;
    let mut bob_c = Client::connect(&cluster.ws(1), &bob, Some("bob-1")).await;
    bob_c.subscribe(&inbox(&bob), "me", &[]).await;
    let mut bob_two = Client::connect(&cluster.tcp(2), &bob, Some("bob-2")).await;
    bob_two.subscribe(&inbox(&bob), "me", &[]).await;
    let mut consumer = guest(&cluster.tcp(1)).await;
    consumer
        .subscribe("/queue/outage", "q", &[("prefetch-count", "100")])
        .await;
    let mut producer = guest(&cluster.tcp(0)).await;

    for n in 1..=10 {
        alice_c.chat(&inbox(&bob), &format!("before {n}")).await;
    }
    bob_c
        .until("the first ten", |c| c.has_seqs(&conversation, 10))
        .await;

    // Redis goes away: SENDs are still stored and receipted.
    cluster.redis.stop();
    let mut during = Vec::new();
    for n in 11..=30 {
        during.push(alice_c.chat(&inbox(&bob), &format!("during {n}")).await);
    }
    assert_eq!(receipt_seqs(&during), range(11, 30));
    for n in 0..10 {
        producer
            .ok(Frame::new(Command::Send)
                .header("destination", "/queue/outage")
                .body(format!("job {n}")))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // It comes back on the same port: the nodes reconnect by themselves and
    // the feeds fill the gap from the store; the queue's poll finds its
    // messages.
    cluster.redis.start_again();
    let back = Instant::now();
    for client in [&mut bob_c, &mut bob_two] {
        client.assert_exactly(&conversation, &range(1, 30)).await;
    }
    eprintln!("gap repaired {:?} after Redis came back", back.elapsed());
    for n in 31..=40 {
        alice_c.chat(&inbox(&bob), &format!("after {n}")).await;
    }
    for client in [&mut bob_c, &mut bob_two] {
        client.assert_exactly(&conversation, &range(1, 40)).await;
    }
    let jobs = consumer.queue_bodies(10).await;
    assert_eq!(
        jobs.iter().cloned().collect::<BTreeSet<_>>(),
        (0..10).map(|n| format!("job {n}")).collect::<BTreeSet<_>>()
    );
    // Presence is rebuilt by the nodes' heartbeats (Redis kept nothing).
    let deadline = Instant::now() + EXPIRY * 3;
    while !online(&alice, &bob).await {
        assert!(
            Instant::now() < deadline,
            "bob's presence did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_writing_one_conversation_keep_one_contiguous_order() {
    let _turn = one_at_a_time().await;
    let cluster = Cluster::start("order").await;
    let alice = Api::register(cluster.http(0), "alice").await;
    let bob = Api::register(cluster.http(1), "bob").await;
    let carol = Api::register(cluster.http(2), "carol").await;
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let (status, group) = alice
        .post(
            "/groups",
            json!({ "name": "Race", "members": [bob.user_id, carol.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().expect("group id");
    let destination = format!("/group/{group_id}");
    let conversation = format!("g{group_id}");

    let mut members = Vec::new();
    for (index, api) in [&alice, &bob, &carol].into_iter().enumerate() {
        let mut client = Client::connect(&cluster.ws(index), api, Some("desk")).await;
        client.subscribe(&destination, "group", &[]).await;
        members.push(client);
    }
    let mut watcher = Client::connect(&cluster.tcp(2), &alice, Some("watch")).await;
    watcher.subscribe(&destination, "group", &[]).await;
    watcher.subscribe(&inbox(&alice), "me", &[]).await;

    // alice on node 1 and bob on node 2 write the group at once, 100 each
    // with 16 in flight; alice's second device on node 2 and her first on
    // node 1 write to carol (one private conversation from two nodes).
    let writers: Vec<_> = members
        .drain(..2)
        .map(|client| {
            let destination = destination.clone();
            tokio::spawn(async move {
                let tag = client.name.clone();
                pipeline(client, destination, &tag, 100, 16).await
            })
        })
        .collect();
    let alice_one = Client::connect(&cluster.tcp(0), &alice, Some("a-one")).await;
    let alice_two = Client::connect(&cluster.tcp(1), &alice, Some("a-two")).await;
    let private_writers: Vec<_> = [alice_one, alice_two]
        .into_iter()
        .map(|client| {
            let destination = inbox(&carol);
            tokio::spawn(async move {
                let tag = client.name.clone();
                pipeline(client, destination, &tag, 50, 16).await
            })
        })
        .collect();
    let mut group_receipts = Vec::new();
    for writer in writers {
        let (client, receipts) = writer.await.expect("writer");
        members.push(client);
        group_receipts.extend(receipts.into_values());
    }
    let mut private_receipts = Vec::new();
    for writer in private_writers {
        let (_, receipts) = writer.await.expect("writer");
        private_receipts.extend(receipts.into_values());
    }
    assert_eq!(receipt_seqs(&group_receipts), range(1, 200), "group seqs");
    assert_eq!(group_receipts.len(), 200);
    assert_eq!(
        receipt_seqs(&private_receipts),
        range(1, 100),
        "private seqs"
    );
    assert_eq!(private_receipts.len(), 100);

    for member in &mut members {
        member.assert_exactly(&conversation, &range(1, 200)).await;
    }
    watcher.assert_exactly(&conversation, &range(1, 200)).await;
    watcher
        .assert_exactly(&private(&alice, &carol), &range(1, 100))
        .await;
    let mut carol_inbox = Client::connect(&cluster.ws(2), &carol, Some("carol-new")).await;
    carol_inbox
        .subscribe(
            &inbox(&carol),
            "me",
            &[("since", &format!("{}=0", private(&alice, &carol)))],
        )
        .await;
    carol_inbox
        .assert_exactly(&private(&alice, &carol), &range(1, 100))
        .await;
}

// --- /queue ------------------------------------------------------------------

/// A guest (the default ACL opens `/queue/*` to every user).
async fn guest(url: &Url) -> Client {
    let (connection, _) = Connection::connect(url, Some("guest"), Some("guest"), "0,0")
        .await
        .expect("guest connects");
    Client {
        name: format!("guest@{url}"),
        connection,
        pending: VecDeque::new(),
        receipts: 0,
        stored: HashMap::new(),
        notices: Vec::new(),
    }
}

impl Client {
    /// The bodies of the next `count` queue MESSAGEs, each ACKed.
    async fn queue_bodies(&mut self, count: usize) -> Vec<String> {
        self.until(&format!("{count} queue messages"), |c| {
            c.notices.len() >= count
        })
        .await;
        self.notices
            .drain(..)
            .map(|frame| String::from_utf8_lossy(&frame.body).into_owned())
            .collect()
    }
}

/// What one queue consumer does with what it gets.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    /// ACK everything.
    Ack,
    /// NACK the first message, ACK the rest.
    NackFirst,
    /// Keep everything unacknowledged.
    Hold,
}

/// One delivery a consumer saw.
#[derive(Clone, Debug)]
struct Got {
    consumer: usize,
    body: String,
    redelivered: bool,
    acked: bool,
}

/// Consumes `/queue/jobs` on `url` by `policy` until `stop`, recording
/// every delivery in `log`.
async fn consume(
    index: usize,
    url: Url,
    policy: Policy,
    log: Arc<Mutex<Vec<Got>>>,
    stop: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut client = guest(&url).await;
    client
        .ok(Frame::new(Command::Subscribe)
            .header("destination", "/queue/jobs")
            .header("id", "jobs")
            .header("ack", "client-individual")
            .header("prefetch-count", "4"))
        .await;
    let _ = subscribed.send(());
    let mut nacked = false;
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return,
            frame = client.connection.receive() => frame,
        };
        let Ok(frame) = frame else {
            return; // its node died
        };
        if frame.command != Command::Message {
            continue;
        }
        let ack = frame.get("ack").expect("ack header").to_owned();
        let acked = match policy {
            Policy::Hold => false,
            Policy::NackFirst if !nacked => {
                nacked = true;
                let nack = Frame::new(Command::Nack).header("id", ack);
                client.connection.send(&nack).await.expect("NACK sent");
                false
            }
            Policy::Ack | Policy::NackFirst => {
                let frame = Frame::new(Command::Ack).header("id", ack);
                client.connection.send(&frame).await.expect("ACK sent");
                true
            }
        };
        log.lock().expect("log").push(Got {
            consumer: index,
            body: String::from_utf8_lossy(&frame.body).into_owned(),
            redelivered: frame.get("redelivered") == Some("true"),
            acked,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_consumers_on_every_node_share_one_queue() {
    const N: usize = 90;
    let _turn = one_at_a_time().await;
    let mut cluster = Cluster::start("queue").await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let policies = [Policy::NackFirst, Policy::Ack, Policy::Hold];
    let mut consumers = Vec::new();
    for (index, policy) in policies.into_iter().enumerate() {
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        consumers.push(tokio::spawn(consume(
            index,
            cluster.tcp(index),
            policy,
            log.clone(),
            stop.clone(),
            subscribed,
        )));
        ready.await.expect("consumer subscribed");
    }
    // Producers on every node, each SEND receipted (durable).
    let mut producers = Vec::new();
    for index in 0..3 {
        producers.push(guest(&cluster.ws(index)).await);
    }
    for n in 0..N {
        producers[n % 3]
            .ok(Frame::new(Command::Send)
                .header("destination", "/queue/jobs")
                .body(format!("job {n}")))
            .await;
    }
    let sent: BTreeSet<String> = (0..N).map(|n| format!("job {n}")).collect();
    let acked = |log: &[Got]| -> Vec<String> {
        log.iter()
            .filter(|got| got.acked)
            .map(|got| got.body.clone())
            .collect()
    };
    // Everything but what node 3's consumer holds is acknowledged.
    let deadline = Instant::now() + EXPECT;
    loop {
        let (done, held) = {
            let log = log.lock().expect("log");
            let held = log.iter().filter(|got| got.consumer == 2).count();
            (acked(&log).len(), held)
        };
        if held == 4 && done == N - 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} acknowledged, {held} held by node 3's consumer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node 3 dies holding 4: once its lease runs out they go to the others.
    let held: BTreeSet<String> = log
        .lock()
        .expect("log")
        .iter()
        .filter(|got| got.consumer == 2)
        .map(|got| got.body.clone())
        .collect();
    cluster.kill(2);
    let killed = Instant::now();
    loop {
        let done = acked(&log.lock().expect("log")).len();
        if done == N {
            break;
        }
        assert!(
            killed.elapsed() < EXPECT,
            "{done} of {N} acknowledged after node 3 died"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reclaimed = killed.elapsed();
    tokio::time::sleep(QUIET).await;
    stop.cancel();
    for consumer in consumers {
        consumer.await.expect("consumer");
    }
    let log = log.lock().expect("log").clone();

    // Every message acknowledged exactly once: no double delivery.
    let acked_bodies = acked(&log);
    assert_eq!(acked_bodies.len(), N, "acknowledged deliveries");
    assert_eq!(
        acked_bodies.iter().cloned().collect::<BTreeSet<_>>(),
        sent,
        "every message acknowledged"
    );
    // A first delivery happens once per message; every other is flagged.
    let mut first = HashSet::new();
    for got in log.iter().filter(|got| !got.redelivered) {
        assert!(
            first.insert(&got.body),
            "{} delivered twice unflagged",
            got.body
        );
    }
    assert_eq!(first.len(), N, "each message had one first delivery");
    // The NACKed one and those the dead node held came again, flagged.
    let nacked = log
        .iter()
        .find(|got| got.consumer == 0 && !got.acked)
        .expect("consumer 1 NACKed one");
    for body in held.iter().chain(std::iter::once(&nacked.body)) {
        assert!(
            log.iter()
                .any(|got| &got.body == body && got.redelivered && got.acked),
            "{body} was not redelivered with redelivered:true"
        );
    }
    assert!(
        reclaimed >= EXPIRY / 2,
        "the dead node's messages came back before its lease could end ({reclaimed:?})"
    );
    let per_consumer: Vec<usize> = (0..2)
        .map(|consumer| log.iter().filter(|got| got.consumer == consumer).count())
        .collect();
    assert!(
        per_consumer.iter().all(|count| *count > 0),
        "both live nodes' consumers took messages: {per_consumer:?}"
    );
    eprintln!(
        "queue: deliveries per consumer {per_consumer:?} + 4 held; dead node's messages back after {reclaimed:?}; logs in {}",
        cluster.logs().display()
    );
}
