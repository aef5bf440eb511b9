//! Reliable chat delivery end to end: receipts that survive `kill -9`,
//! resuming a device at its cursor without a gap or a duplicate, devices
//! with their own cursors, `client-msg-id` dedupe (across a restart too),
//! `since` / `since-seq` and the last-N replay of a new device, delivered
//! and read notices, ack-timeout and NACK redelivery up to dead letters,
//! recall, and seq order under concurrent senders.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use common::api::Api;
use common::{BrokerProcess, TestBroker};
use herald::client::{describe_error, ClientError, Connection};
use herald_protocol::{Command, Frame};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;
use url::Url;

/// How long a test waits for a frame it expects.
const EXPECT: Duration = Duration::from_secs(15);
/// How long a test listens to be sure nothing more arrives.
const QUIET: Duration = Duration::from_millis(600);

/// The private conversation id of two users.
fn private(a: &Api, b: &Api) -> String {
    format!("u{}-{}", a.user_id.min(b.user_id), a.user_id.max(b.user_id))
}

fn seq_of(frame: &Frame) -> i64 {
    frame
        .get("seq")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seq in {frame:?}"))
}

fn seqs(frames: &[Frame]) -> Vec<i64> {
    frames.iter().map(seq_of).collect()
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

/// Whether `frame` is a stored chat message (`kind:message`) of `conversation`.
fn is_message_of(frame: &Frame, conversation: &str) -> bool {
    frame.command == Command::Message
        && frame.get("conversation") == Some(conversation)
        && frame.get("kind") == Some("message")
}

/// A STOMP 1.2 client that keeps the frames that arrive while it waits for
/// a RECEIPT, so nothing is dropped.
struct Client {
    connection: Connection,
    pending: VecDeque<Frame>,
    receipts: u64,
}

impl Client {
    /// CONNECTs with the user's token and, when given, a `device-id`.
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
            "{} could not connect: {}",
            api.username,
            describe_error(&reply)
        );
        Client {
            connection,
            pending: VecDeque::new(),
            receipts: 0,
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
                .unwrap_or_else(|error| panic!("waiting for receipt {receipt}: {error}"));
            match reply.command {
                Command::Receipt if reply.get("receipt-id") == Some(receipt.as_str()) => {
                    return Ok(reply)
                }
                Command::Error => return Err(reply),
                _ => self.pending.push_back(reply),
            }
        }
    }

    /// [`Client::request`] that must succeed.
    async fn ok(&mut self, frame: Frame) -> Frame {
        match self.request(frame).await {
            Ok(receipt) => receipt,
            Err(error) => panic!("refused: {}", describe_error(&error)),
        }
    }

    /// A chat message to `destination` with a JSON text body; returns its
    /// RECEIPT.
    async fn chat(&mut self, destination: &str, text: &str, client_msg_id: Option<&str>) -> Frame {
        let body = json!({ "type": "text", "text": text }).to_string();
        self.send_body(destination, body, client_msg_id).await
    }

    /// A chat message to `destination` with `body` as it is; returns its
    /// RECEIPT.
    async fn send_body(
        &mut self,
        destination: &str,
        body: String,
        client_msg_id: Option<&str>,
    ) -> Frame {
        let mut frame = Frame::new(Command::Send)
            .header("destination", destination)
            .body(body);
        if let Some(id) = client_msg_id {
            frame = frame.header("client-msg-id", id);
        }
        let receipt = self.ok(frame).await;
        assert!(
            receipt.get("seq").is_some(),
            "receipt without seq: {receipt:?}"
        );
        receipt
    }

    async fn subscribe(&mut self, destination: &str, id: &str, ack: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new(Command::Subscribe)
            .header("destination", destination)
            .header("id", id)
            .header("ack", ack);
        for (name, value) in extra {
            frame = frame.header(*name, *value);
        }
        self.ok(frame).await;
    }

    /// The next frame within `timeout` (kept ones first); `None` on timeout.
    async fn next(&mut self, timeout: Duration) -> Option<Frame> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        match self.connection.receive_timeout(timeout).await {
            Ok(frame) => Some(frame),
            Err(ClientError::Timeout) => None,
            Err(error) => panic!("connection failed: {error}"),
        }
    }

    /// The next MESSAGE within `timeout`; an ERROR fails the test.
    async fn next_message(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next(left).await?;
            match frame.command {
                Command::Message => return Some(frame),
                Command::Error => panic!("unexpected ERROR: {}", describe_error(&frame)),
                _ => {}
            }
        }
    }

    async fn ack(&mut self, frame: &Frame) {
        if let Some(id) = frame.get("ack") {
            self.connection
                .send(&Frame::new(Command::Ack).header("id", id))
                .await
                .expect("ACK sent");
        }
    }

    async fn nack(&mut self, frame: &Frame) {
        let id = frame
            .get("ack")
            .expect("a client-ack MESSAGE has an ack header");
        self.connection
            .send(&Frame::new(Command::Nack).header("id", id))
            .await
            .expect("NACK sent");
    }

    /// Receives until `count` chat messages of `conversation` arrived;
    /// ACKs every MESSAGE (other conversations' too) when `ack`.
    async fn collect(&mut self, conversation: &str, count: usize, ack: bool) -> Vec<Frame> {
        let mut got = Vec::new();
        while got.len() < count {
            let frame = self.next_message(EXPECT).await.unwrap_or_else(|| {
                panic!(
                    "{} of {count} messages of {conversation} arrived: seqs {:?}",
                    got.len(),
                    seqs(&got)
                )
            });
            if ack {
                self.ack(&frame).await;
            }
            if is_message_of(&frame, conversation) {
                got.push(frame);
            }
        }
        got
    }

    /// The chat messages of `conversation` that arrive until nothing has
    /// come for [`QUIET`]; ACKs every MESSAGE when `ack`.
    async fn quiet(&mut self, conversation: &str, ack: bool) -> Vec<Frame> {
        let mut got = Vec::new();
        while let Some(frame) = self.next_message(QUIET).await {
            if ack {
                self.ack(&frame).await;
            }
            if is_message_of(&frame, conversation) {
                got.push(frame);
            }
        }
        got
    }

    /// Receives (ACKing everything) until a MESSAGE of `kind` arrives.
    async fn expect_kind(&mut self, kind: &str) -> Frame {
        loop {
            let frame = self
                .next_message(EXPECT)
                .await
                .unwrap_or_else(|| panic!("no kind:{kind} MESSAGE arrived"));
            self.ack(&frame).await;
            if frame.get("kind") == Some(kind) {
                return frame;
            }
        }
    }

    async fn disconnect(mut self) {
        self.ok(Frame::new(Command::Disconnect)).await;
        self.connection.close().await;
    }
}

/// Two friends on a broker whose HTTP API is at `http`.
async fn friends(http: impl std::fmt::Display + Copy) -> (Api, Api) {
    let alice = Api::register(http, "alice").await;
    let bob = Api::register(http, "bob").await;
    alice.befriend(&bob).await;
    (alice, bob)
}

/// The same user (and token) on the API of a restarted broker at `http`.
fn on(api: &Api, http: &str) -> Api {
    let mut api = api.clone();
    api.base = format!("http://{http}/api");
    api
}

/// Every stored message of a conversation, oldest first.
async fn history(api: &Api, conversation: &str) -> Vec<Value> {
    let (status, body) = api
        .get(&format!(
            "/conversations/{conversation}/messages?after_seq=0&limit=500"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"].as_array().expect("messages").clone()
}

/// A broker that lets tests send as fast as they like.
async fn fast_broker(adjust: impl FnOnce(&mut herald::config::Config)) -> TestBroker {
    TestBroker::start_with(|config| {
        config.chat.sends_per_second = 1_000_000;
        adjust(config);
    })
    .await
}

/// Environment of a `herald serve` process that lets tests send fast.
const FAST: &[(&str, &str)] = &[("HERALD_CHAT__SENDS_PER_SECOND", "1000000")];

/// Makes `device` known to the broker: it connects, subscribes to its
/// inbox with client-individual acks, ACKs what it is given, and leaves.
async fn register_device(url: &Url, api: &Api, device: &str) {
    let mut client = Client::connect(url, api, Some(device)).await;
    client
        .subscribe(
            &format!("/user/{}", api.user_id),
            "me",
            "client-individual",
            &[],
        )
        .await;
    client.quiet("-", true).await;
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receipted_message_survives_kill_9_exactly_once_in_order() {
    const N: usize = 200;
    const KILL_AFTER: usize = 100;
    const WINDOW: usize = 16;
    let data = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::spawn_with_env(data.path(), FAST);
    let (alice, bob) = friends(&broker.http).await;
    let conversation = private(&alice, &bob);
    register_device(&broker.ws_url(), &bob, "bob-phone").await;

    // alice sends with up to WINDOW SENDs in flight; the broker is killed
    // the moment the KILL_AFTER-th receipt arrives.
    let mut sender = Client::connect(&broker.tcp_url(), &alice, Some("alice-phone")).await;
    let destination = format!("/user/{}", bob.user_id);
    let task = tokio::spawn(async move {
        let mut broker = broker;
        let mut receipts: HashMap<String, (i64, String)> = HashMap::new();
        let (mut sent, mut in_flight, mut killed) = (0, 0, false);
        loop {
            while !killed && in_flight < WINDOW && sent < N {
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
                    let seq = seq_of(&frame);
                    let message_id = frame.get("message-id").expect("message-id").to_owned();
                    assert!(receipts.insert(id, (seq, message_id)).is_none());
                    in_flight -= 1;
                    if receipts.len() == KILL_AFTER && !killed {
                        broker.kill_9();
                        killed = true;
                    }
                }
                Ok(frame) if frame.command == Command::Error => {
                    panic!("send refused: {}", describe_error(&frame))
                }
                Ok(_) => {}
                Err(_) if killed => break,
                Err(error) => panic!("sender failed before the kill: {error}"),
            }
        }
        (receipts, broker)
    });
    let (mut receipts, broker) = task.await.expect("sender task");
    drop(broker);
    assert!(
        (KILL_AFTER..N).contains(&receipts.len()),
        "the broker died part-way: {} receipts",
        receipts.len()
    );
    let receipted_before_kill = receipts.clone();

    // Restart on the same data directory; alice's token still works (the
    // JWT secret lives there) and she sends again what had no receipt.
    let broker = BrokerProcess::spawn_with_env(data.path(), FAST);
    let mut alice_client = Client::connect(&broker.ws_url(), &alice, Some("alice-phone")).await;
    for n in 0..N {
        let id = format!("m{n}");
        if receipts.contains_key(&id) {
            continue;
        }
        let receipt = alice_client
            .send_body(
                &format!("/user/{}", bob.user_id),
                format!("message {n}"),
                Some(&id),
            )
            .await;
        assert_eq!(receipt.get("conversation"), Some(conversation.as_str()));
        let message_id = receipt.get("message-id").unwrap().to_owned();
        receipts.insert(id, (seq_of(&receipt), message_id));
    }
    // Every message has one seq, and the seqs are 1..=N with no gap.
    let all: BTreeSet<i64> = receipts.values().map(|(seq, _)| *seq).collect();
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        range(1, N as i64),
        "seqs of the receipts"
    );
    let ids: HashSet<&String> = receipts.values().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), N, "every message has its own message-id");

    // bob's phone comes back: everything, each once, in seq order.
    let mut bob_client = Client::connect(&broker.ws_url(), &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(
            &format!("/user/{}", bob.user_id),
            "me",
            "client-individual",
            &[],
        )
        .await;
    let mut got = bob_client.collect(&conversation, N, true).await;
    got.extend(bob_client.quiet(&conversation, true).await);
    assert_eq!(seqs(&got), range(1, N as i64), "bob's seqs");
    let by_seq: HashMap<i64, &Frame> = got.iter().map(|f| (seq_of(f), f)).collect();
    for (client_msg_id, (seq, message_id)) in &receipts {
        let frame = by_seq[seq];
        assert_eq!(frame.get("client-msg-id"), Some(client_msg_id.as_str()));
        assert_eq!(frame.get("message-id"), Some(message_id.as_str()));
        let n = &client_msg_id[1..];
        assert_eq!(&frame.body[..], format!("message {n}").as_bytes());
    }
    for (client_msg_id, before) in &receipted_before_kill {
        assert_eq!(&receipts[client_msg_id], before, "a receipt changed");
    }
    // History agrees: N messages, each client-msg-id once.
    let stored = history(&on(&bob, &broker.http), &conversation).await;
    let stored_ids: HashSet<&str> = stored
        .iter()
        .map(|m| {
            m["headers"]["client-msg-id"]
                .as_str()
                .expect("client-msg-id")
        })
        .collect();
    assert_eq!((stored.len(), stored_ids.len()), (N, N));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_resumes_at_its_cursor_without_gap_or_duplicate() {
    let broker = fast_broker(|_| {}).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let inbox = format!("/user/{}", bob.user_id);

    let mut phone = Client::connect(&broker.ws_url(), &bob, Some("bob-phone")).await;
    phone
        .subscribe(&inbox, "me", "client-individual", &[])
        .await;
    let mut alice_client = Client::connect(&broker.ws_url(), &alice, None).await;
    for n in 1..=15 {
        alice_client.chat(&to_bob, &format!("m{n}"), None).await;
    }
    // bob reads all 15 live, ACKs 1..=10 and leaves 11..=15 unacknowledged.
    let first = phone.collect(&conversation, 15, false).await;
    assert_eq!(seqs(&first), range(1, 15));
    for frame in &first[..9] {
        phone.ack(frame).await;
    }
    // The last ACK asks for a receipt: all ten are handled when it comes.
    phone
        .ok(Frame::new(Command::Ack).header("id", first[9].get("ack").unwrap()))
        .await;

    // alice keeps sending while bob's phone drops off and comes back.
    let url = broker.ws_url();
    let sending = tokio::spawn(async move {
        for n in 16..=40 {
            alice_client.chat(&to_bob, &format!("m{n}"), None).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    phone.connection.close().await;
    drop(phone);
    let mut phone = Client::connect(&url, &bob, Some("bob-phone")).await;
    phone
        .subscribe(&inbox, "me", "client-individual", &[])
        .await;
    let mut second = phone.collect(&conversation, 30, true).await;
    sending.await.unwrap();
    second.extend(phone.quiet(&conversation, true).await);
    assert_eq!(
        seqs(&second),
        range(11, 40),
        "after the reconnect: from the cursor (10) on, each once, in order"
    );
    for (frame, n) in second.iter().zip(11..) {
        let text = format!("m{n}");
        assert_eq!(
            serde_json::from_slice::<Value>(&frame.body).unwrap()["text"],
            text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_get_everything_and_keep_their_own_cursors() {
    let broker = fast_broker(|_| {}).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let inbox = format!("/user/{}", bob.user_id);
    let url = broker.ws_url();

    let mut a = Client::connect(&url, &bob, Some("device-a")).await;
    let mut b = Client::connect(&url, &bob, Some("device-b")).await;
    a.subscribe(&inbox, "me", "client-individual", &[]).await;
    b.subscribe(&inbox, "me", "client-individual", &[]).await;
    let mut alice_client = Client::connect(&url, &alice, None).await;
    for n in 1..=10 {
        alice_client.chat(&to_bob, &format!("m{n}"), None).await;
    }
    // Live: both devices get all ten; A acknowledges, B does not.
    assert_eq!(
        seqs(&a.collect(&conversation, 10, true).await),
        range(1, 10)
    );
    assert_eq!(
        seqs(&b.collect(&conversation, 10, false).await),
        range(1, 10)
    );
    a.disconnect().await;
    b.disconnect().await;

    // Offline: five more.
    for n in 11..=15 {
        alice_client.chat(&to_bob, &format!("m{n}"), None).await;
    }
    // B never acknowledged: it gets all fifteen again.
    let mut b = Client::connect(&url, &bob, Some("device-b")).await;
    b.subscribe(&inbox, "me", "client-individual", &[]).await;
    let mut replayed_b = b.collect(&conversation, 15, true).await;
    replayed_b.extend(b.quiet(&conversation, true).await);
    assert_eq!(seqs(&replayed_b), range(1, 15), "device B replays from 0");
    // A acknowledged 1..=10: it gets only what came while it was away.
    let mut a = Client::connect(&url, &bob, Some("device-a")).await;
    a.subscribe(&inbox, "me", "client-individual", &[]).await;
    let mut replayed_a = a.collect(&conversation, 5, true).await;
    replayed_a.extend(a.quiet(&conversation, true).await);
    assert_eq!(seqs(&replayed_a), range(11, 15), "device A resumes at 10");

    // Both are live again.
    alice_client.chat(&to_bob, "m16", None).await;
    for device in [&mut a, &mut b] {
        let mut live = device.collect(&conversation, 1, true).await;
        live.extend(device.quiet(&conversation, true).await);
        assert_eq!(seqs(&live), [16]);
    }
    // B's ACKs moved its own cursor: a reconnect replays nothing old.
    b.disconnect().await;
    let mut b = Client::connect(&url, &bob, Some("device-b")).await;
    b.subscribe(&inbox, "me", "client-individual", &[]).await;
    assert_eq!(seqs(&b.quiet(&conversation, true).await), Vec::<i64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_msg_id_sent_five_times_is_stored_and_delivered_once() {
    let broker = fast_broker(|_| {}).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let url = broker.ws_url();
    let mut bob_client = Client::connect(&url, &bob, None).await;
    bob_client
        .subscribe(&format!("/user/{}", bob.user_id), "me", "auto", &[])
        .await;

    // Five repeats on one connection, one after the other.
    let mut alice_client = Client::connect(&url, &alice, None).await;
    let mut receipts = Vec::new();
    for _ in 0..5 {
        receipts.push(alice_client.chat(&to_bob, "once", Some("dup-1")).await);
    }
    // Five more at the same time from five connections of alice.
    let mut repeats = Vec::new();
    for _ in 0..5 {
        let mut client = Client::connect(&url, &alice, None).await;
        let to_bob = to_bob.clone();
        repeats.push(tokio::spawn(async move {
            client.chat(&to_bob, "twice", Some("dup-2")).await
        }));
    }
    let mut concurrent = Vec::new();
    for repeat in repeats {
        concurrent.push(repeat.await.unwrap());
    }
    let after = alice_client.chat(&to_bob, "after", Some("dup-3")).await;

    for group in [&receipts, &concurrent] {
        let first = &group[0];
        for receipt in group.iter() {
            assert_eq!(receipt.get("message-id"), first.get("message-id"));
            assert_eq!(receipt.get("seq"), first.get("seq"));
            assert_eq!(receipt.get("timestamp"), first.get("timestamp"));
        }
    }
    assert_eq!(seq_of(&receipts[0]), 1);
    assert_eq!(seq_of(&concurrent[0]), 2);
    assert_eq!(seq_of(&after), 3, "repeats take no seq");

    let mut got = bob_client.collect(&conversation, 3, false).await;
    got.extend(bob_client.quiet(&conversation, false).await);
    assert_eq!(seqs(&got), [1, 2, 3], "each delivered once");
    let ids: Vec<_> = got.iter().map(|f| f.get("client-msg-id")).collect();
    assert_eq!(ids, [Some("dup-1"), Some("dup-2"), Some("dup-3")]);
    let stored = history(&bob, &conversation).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_msg_id_is_remembered_across_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn_with_env(data.path(), FAST);
    let (alice, bob) = friends(&broker.http).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    register_device(&broker.ws_url(), &bob, "bob-phone").await;

    let mut alice_client = Client::connect(&broker.tcp_url(), &alice, None).await;
    let first = alice_client.chat(&to_bob, "only once", Some("same")).await;
    let second = alice_client.chat(&to_bob, "only once", Some("same")).await;
    assert_eq!(first.get("message-id"), second.get("message-id"));
    broker.kill_9();
    drop(broker);

    let broker = BrokerProcess::spawn_with_env(data.path(), FAST);
    let mut alice_client = Client::connect(&broker.tcp_url(), &alice, None).await;
    for _ in 0..3 {
        let again = alice_client.chat(&to_bob, "only once", Some("same")).await;
        assert_eq!(again.get("message-id"), first.get("message-id"));
        assert_eq!(again.get("seq"), Some("1"));
        assert_eq!(again.get("timestamp"), first.get("timestamp"));
    }
    let next = alice_client.chat(&to_bob, "next", Some("other")).await;
    assert_eq!(seq_of(&next), 2, "repeats take no seq");

    let stored = history(&on(&alice, &broker.http), &conversation).await;
    let kept: Vec<_> = stored
        .iter()
        .map(|m| m["headers"]["client-msg-id"].as_str())
        .collect();
    assert_eq!(kept, [Some("same"), Some("other")]);
    let mut bob_client = Client::connect(&broker.ws_url(), &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(
            &format!("/user/{}", bob.user_id),
            "me",
            "client-individual",
            &[],
        )
        .await;
    let mut got = bob_client.collect(&conversation, 2, true).await;
    got.extend(bob_client.quiet(&conversation, true).await);
    assert_eq!(seqs(&got), [1, 2]);
    assert_eq!(got[0].get("message-id"), first.get("message-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_since_seq_resume_where_the_client_says_and_new_devices_get_the_last_n() {
    let broker = fast_broker(|config| config.chat.replay_last = 5).await;
    let http = broker.server.http_addr;
    let (alice, bob) = friends(http).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let inbox = format!("/user/{}", bob.user_id);
    let url = broker.ws_url();
    let mut alice_client = Client::connect(&url, &alice, None).await;
    for n in 1..=12 {
        alice_client.chat(&to_bob, &format!("m{n}"), None).await;
    }

    // `since` on /user, from a new device: exactly 4..=12, then live.
    let mut client = Client::connect(&url, &bob, Some("since-device")).await;
    let since = format!("{conversation}=3");
    client
        .subscribe(&inbox, "me", "auto", &[("since", since.as_str())])
        .await;
    let mut got = client.collect(&conversation, 9, false).await;
    got.extend(client.quiet(&conversation, false).await);
    assert_eq!(seqs(&got), range(4, 12));
    alice_client.chat(&to_bob, "m13", None).await;
    let mut live = client.collect(&conversation, 1, false).await;
    live.extend(client.quiet(&conversation, false).await);
    assert_eq!(seqs(&live), [13]);
    client.disconnect().await;

    // The same (now known) device: `since` wins over its cursor (13).
    let mut client = Client::connect(&url, &bob, Some("since-device")).await;
    let since = format!("{conversation}=10");
    client
        .subscribe(&inbox, "me", "auto", &[("since", since.as_str())])
        .await;
    let mut got = client.collect(&conversation, 3, false).await;
    got.extend(client.quiet(&conversation, false).await);
    assert_eq!(seqs(&got), range(11, 13));
    client.disconnect().await;

    // A device never seen before, and a client naming no device: the last 5.
    for device in [Some("fresh-device"), None] {
        let mut client = Client::connect(&url, &bob, device).await;
        client.subscribe(&inbox, "me", "auto", &[]).await;
        let mut got = client.collect(&conversation, 5, false).await;
        got.extend(client.quiet(&conversation, false).await);
        assert_eq!(seqs(&got), range(9, 13), "device {device:?}");
        client.disconnect().await;
    }

    // `since-seq` on /group.
    let (status, group) = alice
        .post("/groups", json!({ "name": "g", "members": [bob.user_id] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    let destination = format!("/group/{group_id}");
    let group_conversation = format!("g{group_id}");
    for n in 1..=12 {
        alice_client
            .chat(&destination, &format!("g{n}"), None)
            .await;
    }
    let mut client = Client::connect(&url, &bob, Some("group-device")).await;
    client
        .subscribe(
            &destination,
            "g",
            "client-individual",
            &[("since-seq", "4")],
        )
        .await;
    let mut got = client.collect(&group_conversation, 8, true).await;
    got.extend(client.quiet(&group_conversation, true).await);
    assert_eq!(seqs(&got), range(5, 12));
    client.disconnect().await;
    // The known device, acknowledged up to 12, asks again from 10.
    let mut client = Client::connect(&url, &bob, Some("group-device")).await;
    client
        .subscribe(
            &destination,
            "g",
            "client-individual",
            &[("since-seq", "10")],
        )
        .await;
    let mut got = client.collect(&group_conversation, 2, true).await;
    got.extend(client.quiet(&group_conversation, true).await);
    assert_eq!(seqs(&got), range(11, 12));
    client.disconnect().await;
    // Without since-seq it resumes at its cursor: nothing.
    let mut client = Client::connect(&url, &bob, Some("group-device")).await;
    client
        .subscribe(&destination, "g", "client-individual", &[])
        .await;
    assert_eq!(
        seqs(&client.quiet(&group_conversation, true).await),
        Vec::<i64>::new()
    );
    client.disconnect().await;
    // A new device on the group: the last 5.
    let mut client = Client::connect(&url, &bob, Some("new-group-device")).await;
    client
        .subscribe(&destination, "g", "client-individual", &[])
        .await;
    let mut got = client.collect(&group_conversation, 5, true).await;
    got.extend(client.quiet(&group_conversation, true).await);
    assert_eq!(seqs(&got), range(8, 12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_hears_delivered_on_ack_and_read_on_kind_read() {
    let broker = fast_broker(|_| {}).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let url = broker.ws_url();

    let mut alice_client = Client::connect(&url, &alice, Some("alice-phone")).await;
    alice_client
        .subscribe(
            &format!("/user/{}", alice.user_id),
            "me",
            "client-individual",
            &[],
        )
        .await;
    let mut bob_client = Client::connect(&url, &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(
            &format!("/user/{}", bob.user_id),
            "me",
            "client-individual",
            &[],
        )
        .await;
    // bob's phone ACKs whatever the new device was given (kept events).
    bob_client.quiet("-", true).await;
    alice_client.quiet("-", true).await;

    let to_bob = format!("/user/{}", bob.user_id);
    let first = alice_client.chat(&to_bob, "one", None).await;
    let second = alice_client.chat(&to_bob, "two", None).await;
    assert_eq!((seq_of(&first), seq_of(&second)), (1, 2));
    // bob receives both and ACKs only the first: delivered up to 1.
    let got = bob_client.collect(&conversation, 2, false).await;
    bob_client.ack(&got[0]).await;
    let delivered = alice_client.expect_kind("delivered").await;
    assert_eq!(delivered.get("seq"), Some("1"));
    assert_eq!(delivered.get("conversation"), Some(conversation.as_str()));
    assert_eq!(
        delivered.get("sender"),
        Some(bob.user_id.to_string().as_str())
    );
    bob_client.ack(&got[1]).await;
    let delivered = alice_client.expect_kind("delivered").await;
    assert_eq!(delivered.get("seq"), Some("2"));

    // bob reads up to 1: alice hears it; the read cursor is stored.
    bob_client
        .ok(Frame::new(Command::Send)
            .header("destination", format!("/user/{}", alice.user_id))
            .header("kind", "read")
            .header("seq", "1"))
        .await;
    let read = alice_client.expect_kind("read").await;
    assert_eq!(read.get("seq"), Some("1"));
    assert_eq!(read.get("conversation"), Some(conversation.as_str()));
    assert_eq!(read.get("sender"), Some(bob.user_id.to_string().as_str()));
    // bob's own inbox hears it too (for his other devices).
    let own = bob_client.expect_kind("read").await;
    assert_eq!(own.get("seq"), Some("1"));
    let cursors = broker.server.broker.chat().cursors().clone();
    assert_eq!(cursors.read(bob.user_id, &conversation).await.unwrap(), 1);
    // A read beyond the last seq is clamped to it.
    bob_client
        .ok(Frame::new(Command::Send)
            .header("destination", format!("/user/{}", alice.user_id))
            .header("kind", "read")
            .header("seq", "99"))
        .await;
    assert_eq!(alice_client.expect_kind("read").await.get("seq"), Some("2"));
    assert_eq!(cursors.read(bob.user_id, &conversation).await.unwrap(), 2);
    // The API's conversation list shows the peer's read seq, once it exists.
    if herald::api::ROUTES.contains(&("get", "/conversations")) {
        let (status, list) = alice.get("/conversations").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(
            list.to_string().contains(&conversation),
            "conversation list: {list}"
        );
    }
}

/// Dead letters in the store of an in-process broker, once they appear.
async fn dead_letters_for(broker: &TestBroker, seq: i64) -> Vec<herald_storage::DeadLetter> {
    let store = broker.server.broker.chat().dead_letters().clone();
    let deadline = Instant::now() + EXPECT;
    loop {
        let letters: Vec<_> = store
            .dead_letters(1000, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, letter)| letter)
            .filter(|letter| letter.seq == seq)
            .collect();
        if !letters.is_empty() || Instant::now() > deadline {
            return letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The admin API lists the dead letter, once that route exists.
async fn admin_lists_dead_letter(broker: &TestBroker, message_id: &str) {
    if !herald::api::ROUTES.contains(&("get", "/admin/dead-letters")) {
        return;
    }
    let admin = Api::register(broker.server.http_addr, "root").await;
    let (status, body) = admin.get("/admin/dead-letters").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.to_string().contains(message_id),
        "dead letters: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_come_again_then_go_to_dead_letters() {
    let broker = fast_broker(|config| {
        config.chat.ack_timeout_ms = 300;
        config.chat.max_deliveries = 3;
        config.auth.admins = vec!["root".to_owned()];
    })
    .await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let inbox = format!("/user/{}", bob.user_id);
    let url = broker.ws_url();
    let mut bob_client = Client::connect(&url, &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(&inbox, "me", "client-individual", &[])
        .await;
    let mut alice_client = Client::connect(&url, &alice, None).await;
    let receipt = alice_client.chat(&to_bob, "ignored", None).await;
    let message_id = receipt.get("message-id").unwrap().to_owned();

    // bob never ACKs it (everything else he does): it comes three times.
    let mut copies = Vec::new();
    while let Some(frame) = bob_client.next_message(Duration::from_millis(1500)).await {
        if is_message_of(&frame, &conversation) {
            copies.push(frame);
        } else {
            bob_client.ack(&frame).await;
        }
    }
    let flags: Vec<_> = copies.iter().map(|f| f.get("redelivered")).collect();
    assert_eq!(flags, [None, Some("true"), Some("true")]);
    for copy in &copies {
        assert_eq!(copy.get("message-id"), Some(message_id.as_str()));
        assert_eq!(seq_of(copy), 1);
    }
    let letters = dead_letters_for(&broker, 1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(
        (
            letter.user,
            letter.device.as_str(),
            letter.conversation.as_str()
        ),
        (bob.user_id, "bob-phone", conversation.as_str())
    );
    assert_eq!(letter.message_id.to_string(), message_id);
    assert_eq!(letter.attempts, 3);
    assert!(letter.reason.contains("timeout"), "{}", letter.reason);
    admin_lists_dead_letter(&broker, &message_id).await;

    // The device's cursor moved past it: a reconnect replays seq 2, not 1.
    bob_client.disconnect().await;
    alice_client.chat(&to_bob, "later", None).await;
    let mut bob_client = Client::connect(&url, &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(&inbox, "me", "client-individual", &[])
        .await;
    let mut got = bob_client.collect(&conversation, 1, true).await;
    got.extend(bob_client.quiet(&conversation, true).await);
    assert_eq!(seqs(&got), [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_redelivers_at_once_until_the_message_is_dead_lettered() {
    // The ack timeout is far beyond the test: every redelivery is the NACK's.
    let broker = fast_broker(|config| {
        config.chat.ack_timeout_ms = 600_000;
        config.chat.max_deliveries = 3;
    })
    .await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let inbox = format!("/user/{}", bob.user_id);
    let url = broker.ws_url();
    let mut bob_client = Client::connect(&url, &bob, Some("bob-phone")).await;
    bob_client
        .subscribe(&inbox, "me", "client-individual", &[])
        .await;
    let mut alice_client = Client::connect(&url, &alice, None).await;
    let receipt = alice_client.chat(&to_bob, "refused", None).await;
    let message_id = receipt.get("message-id").unwrap().to_owned();

    let mut copies = Vec::new();
    for _ in 0..3 {
        let copy = bob_client.collect(&conversation, 1, false).await.remove(0);
        bob_client.nack(&copy).await;
        copies.push(copy);
    }
    let flags: Vec<_> = copies.iter().map(|f| f.get("redelivered")).collect();
    assert_eq!(flags, [None, Some("true"), Some("true")]);
    assert!(copies
        .iter()
        .all(|c| c.get("message-id") == Some(message_id.as_str())));
    // The third NACK gives up on it.
    assert_eq!(
        seqs(&bob_client.quiet(&conversation, true).await),
        Vec::<i64>::new()
    );
    let letters = dead_letters_for(&broker, 1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].reason.contains("nack"), "{}", letters[0].reason);

    // The subscription goes on: the next message is delivered and ACKed.
    alice_client.chat(&to_bob, "accepted", None).await;
    let next = bob_client.collect(&conversation, 1, true).await;
    assert_eq!(seqs(&next), [2]);
    assert_eq!(next[0].get("redelivered"), None);
}

/// A recall of `message_id` sent to `destination`.
fn recall(destination: &str, message_id: &str) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .header("kind", "recall")
        .header("recall-id", message_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_recalls_a_message_and_nobody_else_may() {
    let broker = fast_broker(|_| {}).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let to_alice = format!("/user/{}", alice.user_id);
    let url = broker.ws_url();
    let mut bob_client = Client::connect(&url, &bob, None).await;
    bob_client
        .subscribe(&format!("/user/{}", bob.user_id), "me", "auto", &[])
        .await;
    let mut alice_client = Client::connect(&url, &alice, None).await;
    let sent = alice_client.chat(&to_bob, "oops", None).await;
    let kept = alice_client.chat(&to_bob, "keep me", None).await;
    let message_id = sent.get("message-id").unwrap().to_owned();
    bob_client.collect(&conversation, 2, false).await;

    alice_client.ok(recall(&to_bob, &message_id)).await;
    let notice = bob_client.expect_kind("recall").await;
    assert_eq!(notice.get("recall-id"), Some(message_id.as_str()));
    assert_eq!(notice.get("recall-seq"), Some("1"));
    assert_eq!(notice.get("conversation"), Some(conversation.as_str()));
    let stored = history(&bob, &conversation).await;
    assert_eq!(stored[0]["message_id"], message_id);
    assert_eq!(stored[0]["kind"], "recalled");
    assert_eq!(stored[0]["body"], "");
    assert_eq!(stored[1]["kind"], "message", "the other message stays");
    assert!(stored[1]["body"].as_str().unwrap().contains("keep me"));

    // bob may not recall alice's message.
    let refused = bob_client
        .request(recall(&to_alice, kept.get("message-id").unwrap()))
        .await
        .expect_err("bob's recall is refused");
    let text = describe_error(&refused);
    assert!(text.contains("recall-owner"), "{text}");
    let stored = history(&alice, &conversation).await;
    assert_eq!(stored[1]["kind"], "message");
    assert!(stored[1]["body"].as_str().unwrap().contains("keep me"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_after_the_window_is_refused() {
    let broker = fast_broker(|config| config.chat.recall_window_secs = 1).await;
    let (alice, bob) = friends(broker.server.http_addr).await;
    let conversation = private(&alice, &bob);
    let to_bob = format!("/user/{}", bob.user_id);
    let mut alice_client = Client::connect(&broker.ws_url(), &alice, None).await;
    let sent = alice_client.chat(&to_bob, "too late", None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let refused = alice_client
        .request(recall(&to_bob, sent.get("message-id").unwrap()))
        .await
        .expect_err("a late recall is refused");
    let text = describe_error(&refused);
    assert!(text.contains("recall-window"), "{text}");
    let stored = history(&alice, &conversation).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["kind"], "message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_in_a_group_and_every_member_sees_one_order() {
    const EACH: usize = 50;
    let broker = fast_broker(|_| {}).await;
    let http = broker.server.http_addr;
    let alice = Api::register(http, "alice").await;
    let mut users = vec![alice.clone()];
    for name in ["bob", "carol", "dave"] {
        let user = Api::register(http, name).await;
        alice.befriend(&user).await;
        users.push(user);
    }
    let members: Vec<i64> = users[1..].iter().map(|u| u.user_id).collect();
    let (status, group) = alice
        .post("/groups", json!({ "name": "busy", "members": members }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    let destination = format!("/group/{group_id}");
    let conversation = format!("g{group_id}");
    let url = broker.ws_url();

    // Every member listens (half with client acks, half auto).
    let mut listeners = Vec::new();
    for (index, user) in users.iter().enumerate() {
        let mut client = Client::connect(&url, user, Some("listener")).await;
        let ack = if index % 2 == 0 {
            "client-individual"
        } else {
            "auto"
        };
        client.subscribe(&destination, "g", ack, &[]).await;
        listeners.push(client);
    }
    // Three senders at once, each waiting for its receipts.
    let mut senders = Vec::new();
    for (index, user) in users[..3].iter().enumerate() {
        let mut client = Client::connect(&url, user, Some("sender")).await;
        let destination = destination.clone();
        senders.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let receipt = client
                    .chat(&destination, &format!("{index}-{n}"), None)
                    .await;
                seqs.push(seq_of(&receipt));
            }
            seqs
        }));
    }
    let mut receipted = Vec::new();
    for sender in senders {
        let seqs = sender.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's seqs rise: {seqs:?}"
        );
        receipted.extend(seqs);
    }
    receipted.sort_unstable();
    let total = (3 * EACH) as i64;
    assert_eq!(receipted, range(1, total));

    for (index, listener) in listeners.iter_mut().enumerate() {
        let mut got = listener.collect(&conversation, 3 * EACH, true).await;
        got.extend(listener.quiet(&conversation, true).await);
        assert_eq!(seqs(&got), range(1, total), "member {index}");
        // Each sender's messages in the order they were sent.
        let mut next = [0usize; 3];
        for frame in &got {
            let text = serde_json::from_slice::<Value>(&frame.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned();
            let (sender, n) = text.split_once('-').unwrap();
            let sender: usize = sender.parse().unwrap();
            assert_eq!(n.parse::<usize>().unwrap(), next[sender], "member {index}");
            next[sender] += 1;
        }
        assert_eq!(next, [EACH; 3]);
    }
}
