//! What every case is handed: the suite's configuration, unique destination
//! names for this run, and the common steps (connect, subscribe with a
//! receipt, send) written once.
//!
//! It holds no broker-specific knowledge beyond the STOMP frames themselves.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use herald_protocol::{Command, Frame};

use crate::client::{describe, Connection};
use crate::SuiteConfig;

/// A case's result: `Err` carries why it failed.
pub type Outcome = Result<(), String>;

/// The environment of one suite run.
pub struct Context {
    pub config: SuiteConfig,
    run_id: String,
    counter: AtomicU32,
}

/// Fails with `why` unless `condition` holds.
pub fn ensure(condition: bool, why: impl FnOnce() -> String) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(why())
    }
}

/// Fails unless `frame` has header `name` equal to `want`.
pub fn ensure_header(frame: &Frame, name: &str, want: &str) -> Outcome {
    match frame.get(name) {
        Some(value) if value == want => Ok(()),
        Some(value) => Err(format!(
            "{} header {name} is {value:?}, expected {want:?}",
            frame.command
        )),
        None => Err(format!(
            "{} has no {name} header (expected {want:?})",
            frame.command
        )),
    }
}

/// The body of `frame` as text, for comparisons and messages.
pub fn body_text(frame: &Frame) -> String {
    String::from_utf8_lossy(&frame.body).into_owned()
}

impl Context {
    pub fn new(config: SuiteConfig) -> Context {
        Context {
            config,
            run_id: run_id(),
            counter: AtomicU32::new(0),
        }
    }

    /// The per-expectation timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// How long "nothing arrives" is watched for before it is believed.
    pub fn quiet(&self) -> Duration {
        (self.config.timeout / 4).max(Duration::from_millis(300))
    }

    /// A destination name no earlier run or other broker state can share,
    /// e.g. `/queue/herald-conformance-1a2b3c-7-ack`.
    pub fn destination(&self, kind: &str, label: &str) -> String {
        let number = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "/{kind}/herald-conformance-{}-{number}-{label}",
            self.run_id
        )
    }

    /// A fresh name for a queue.
    pub fn queue(&self, label: &str) -> String {
        self.destination("queue", label)
    }

    /// A fresh name for a topic.
    pub fn topic(&self, label: &str) -> String {
        self.destination("topic", label)
    }

    /// Opens a socket and sends nothing.
    pub async fn open(&self) -> Result<Connection, String> {
        Connection::open(&self.config.url, self.config.timeout).await
    }

    /// The CONNECT frame the suite normally sends: 1.2 only, no heart-beats,
    /// the configured host and credentials.
    pub fn connect_frame(&self) -> Frame {
        let mut frame = Frame::new(Command::Connect)
            .header("accept-version", "1.2")
            .header("host", self.config.host.clone())
            .header("heart-beat", "0,0");
        if let Some(login) = &self.config.login {
            frame = frame.header("login", login.clone());
        }
        if let Some(passcode) = &self.config.passcode {
            frame = frame.header("passcode", passcode.clone());
        }
        frame
    }

    /// Sends `frame` (a CONNECT or STOMP) on a fresh socket and expects
    /// CONNECTED.
    pub async fn connect_with(&self, frame: &Frame) -> Result<(Connection, Frame), String> {
        let mut connection = self.open().await?;
        connection.send(frame).await?;
        let connected = connection
            .expect(Command::Connected)
            .await
            .map_err(|why| format!("{} refused: {why}", frame.command))?;
        Ok((connection, connected))
    }

    /// A connected STOMP 1.2 session.
    pub async fn connect(&self) -> Result<Connection, String> {
        Ok(self.connect_with(&self.connect_frame()).await?.0)
    }

    /// Subscribes `id` to `destination` with extra `headers`, and waits for
    /// the RECEIPT so the subscription is known to be in place.
    pub async fn subscribe(
        &self,
        connection: &mut Connection,
        destination: &str,
        id: &str,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let receipt = connection.receipt_id();
        let mut frame = Frame::new(Command::Subscribe)
            .header("destination", destination)
            .header("id", id);
        for (name, value) in headers {
            frame = frame.header(*name, *value);
        }
        connection
            .send(&frame.header("receipt", receipt.clone()))
            .await?;
        connection
            .expect_receipt(&receipt)
            .await
            .map(|_| ())
            .map_err(|why| format!("SUBSCRIBE {id} to {destination}: {why}"))
    }

    /// Sends a text message and waits for its RECEIPT, so it is known to be
    /// accepted before the case goes on.
    pub async fn send_text(
        &self,
        connection: &mut Connection,
        destination: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let receipt = connection.receipt_id();
        let mut frame = Frame::new(Command::Send).header("destination", destination);
        for (name, value) in headers {
            frame = frame.header(*name, *value);
        }
        let frame = frame
            .header("receipt", receipt.clone())
            .body(body.as_bytes().to_vec());
        connection.send(&frame).await?;
        connection
            .expect_receipt(&receipt)
            .await
            .map(|_| ())
            .map_err(|why| format!("SEND to {destination}: {why}"))
    }

    /// Sends a frame carrying a `receipt` header and waits for the RECEIPT.
    pub async fn send_with_receipt(&self, connection: &mut Connection, frame: Frame) -> Outcome {
        let receipt = connection.receipt_id();
        let command = frame.command;
        connection
            .send(&frame.header("receipt", receipt.clone()))
            .await?;
        connection
            .expect_receipt(&receipt)
            .await
            .map(|_| ())
            .map_err(|why| format!("{command}: {why}"))
    }

    /// The next frame, which must be a MESSAGE with body `body`.
    pub async fn expect_message(
        &self,
        connection: &mut Connection,
        body: &str,
    ) -> Result<Frame, String> {
        let frame = connection.expect(Command::Message).await?;
        if frame.body[..] == *body.as_bytes() {
            Ok(frame)
        } else {
            Err(format!(
                "expected MESSAGE {body:?}, got {}",
                describe(&frame)
            ))
        }
    }

    /// Ends a session politely: DISCONNECT with a receipt, wait for it (or
    /// for the close), then close our side. Never fails the case.
    pub async fn disconnect(&self, connection: &mut Connection) {
        if !connection.is_closed() {
            let receipt = connection.receipt_id();
            let frame = Frame::new(Command::Disconnect).header("receipt", receipt.clone());
            if connection.send(&frame).await.is_ok() {
                let _ = connection.expect_receipt(&receipt).await;
            }
        }
        connection.shutdown().await;
    }

    /// Takes every message left on `queue` (auto ack) so a broker that keeps
    /// queues is left as clean as practical. Never fails the case.
    pub async fn drain(&self, queue: &str) {
        let Ok(mut connection) = self.connect().await else {
            return;
        };
        if self
            .subscribe(&mut connection, queue, "drain", &[])
            .await
            .is_ok()
        {
            while connection
                .recv_within(Duration::from_millis(200))
                .await
                .is_ok()
            {}
        }
        self.disconnect(&mut connection).await;
    }
}

/// A short id for this run, different each time: time and process based.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:x}", mixed & 0xff_ffff_ffff)
}
