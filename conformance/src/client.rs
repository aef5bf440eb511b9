//! A small STOMP client made for checking a broker, not for using one: it
//! writes frames or raw bytes, and states expectations about what comes back
//! ("a RECEIPT for r1", "an ERROR", "closed within T", "nothing for T").
//!
//! Every expectation has a deadline and returns `Err(reason)` instead of
//! panicking, so a silent or misbehaving broker fails a case and never hangs
//! the suite. Frames that arrive while waiting for something else are kept
//! and handed out by later expectations, in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use herald_protocol::{encode_to_vec, Command, Frame};
use url::Url;

use crate::transport::{Event, Transport};

/// One connection to the broker under test.
pub struct Connection {
    transport: Transport,
    /// Frames received but not yet claimed by an expectation.
    pending: VecDeque<Frame>,
    /// How the connection ended, once it has.
    closed: Option<String>,
    /// Every heart-beat seen so far.
    heartbeats: Vec<Instant>,
    timeout: Duration,
    next_receipt: u32,
}

/// A short description of a frame for failure messages.
pub fn describe(frame: &Frame) -> String {
    match frame.command {
        Command::Error => format!(
            "ERROR (message: {:?}, body: {:?})",
            frame.get("message").unwrap_or(""),
            String::from_utf8_lossy(&frame.body[..frame.body.len().min(200)])
        ),
        Command::Receipt => format!("RECEIPT {}", frame.get("receipt-id").unwrap_or("?")),
        Command::Message => format!(
            "MESSAGE on {} (body {:?})",
            frame.get("destination").unwrap_or("?"),
            String::from_utf8_lossy(&frame.body[..frame.body.len().min(60)])
        ),
        other => other.to_string(),
    }
}

impl Connection {
    /// Opens a socket to `url`; no STOMP frame is sent yet.
    pub async fn open(url: &Url, timeout: Duration) -> Result<Connection, String> {
        Ok(Connection {
            transport: Transport::open(url, timeout).await?,
            pending: VecDeque::new(),
            closed: None,
            heartbeats: Vec::new(),
            timeout,
            next_receipt: 0,
        })
    }

    /// The per-expectation timeout this connection was opened with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The WebSocket subprotocol the broker chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.transport.subprotocol.as_deref()
    }

    /// A receipt id unique on this connection.
    pub fn receipt_id(&mut self) -> String {
        self.next_receipt += 1;
        format!("r{}", self.next_receipt)
    }

    /// Writes raw bytes in one write (one WebSocket message).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        let timeout = self.timeout * 4;
        match tokio::time::timeout(timeout, self.transport.write(bytes)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "writing {} bytes took over {timeout:?}",
                bytes.len()
            )),
        }
    }

    /// Writes raw bytes as a binary WebSocket message (one write over TCP).
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), String> {
        let timeout = self.timeout * 4;
        match tokio::time::timeout(timeout, self.transport.write_message(bytes, true)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "writing {} bytes took over {timeout:?}",
                bytes.len()
            )),
        }
    }

    /// Writes each part separately (separate WebSocket messages, separate
    /// TCP writes), pausing between them so they arrive apart.
    pub async fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), String> {
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            self.send_raw(part).await?;
        }
        Ok(())
    }

    /// Encodes and writes one frame (headers escaped except on CONNECT/STOMP).
    pub async fn send(&mut self, frame: &Frame) -> Result<(), String> {
        self.send_raw(&encode_to_vec(frame, true)).await
    }

    /// Closes our side of the connection, ignoring errors.
    pub async fn shutdown(&mut self) {
        self.transport.shutdown().await;
    }

    /// The next event before `deadline`, or `None` when the deadline passed.
    async fn next_event(&mut self, deadline: Instant) -> Option<Event> {
        if let Some(how) = &self.closed {
            return Some(Event::Closed(how.clone()));
        }
        let event = tokio::time::timeout_at(deadline.into(), self.transport.events.recv()).await;
        match event {
            Err(_) => None,
            Ok(None) => Some(self.mark_closed("the reader stopped".to_owned())),
            Ok(Some(Event::Closed(how))) => Some(self.mark_closed(how)),
            Ok(Some(Event::Garbage(what))) => Some(self.mark_closed(what)),
            Ok(Some(Event::HeartBeat(at))) => {
                self.heartbeats.push(at);
                Some(Event::HeartBeat(at))
            }
            Ok(Some(frame)) => Some(frame),
        }
    }

    fn mark_closed(&mut self, how: String) -> Event {
        self.closed = Some(how.clone());
        Event::Closed(how)
    }

    /// The next frame within `within`, heart-beats skipped.
    pub async fn recv_within(&mut self, within: Duration) -> Result<Frame, String> {
        if let Some(frame) = self.pending.pop_front() {
            return Ok(frame);
        }
        let deadline = Instant::now() + within;
        loop {
            match self.next_event(deadline).await {
                None => return Err(format!("no frame within {within:?}")),
                Some(Event::Frame(frame)) => return Ok(frame),
                Some(Event::Closed(how)) => {
                    return Err(format!(
                        "connection closed while waiting for a frame ({how})"
                    ))
                }
                Some(_) => continue,
            }
        }
    }

    /// The next frame within the default timeout.
    pub async fn recv(&mut self) -> Result<Frame, String> {
        self.recv_within(self.timeout).await
    }

    /// The next frame, which must be a `command`.
    pub async fn expect(&mut self, command: Command) -> Result<Frame, String> {
        let frame = self
            .recv()
            .await
            .map_err(|why| format!("expected {command}: {why}"))?;
        if frame.command == command {
            Ok(frame)
        } else {
            Err(format!("expected {command}, got {}", describe(&frame)))
        }
    }

    /// The next frame, which must be an ERROR; `action` says what provoked
    /// it, for the failure message.
    pub async fn expect_error_for(&mut self, action: &str) -> Result<Frame, String> {
        let frame = self
            .recv()
            .await
            .map_err(|why| format!("expected ERROR for {action}: {why}"))?;
        if frame.command == Command::Error {
            Ok(frame)
        } else {
            Err(format!("{action} got {}", describe(&frame)))
        }
    }

    /// Waits for the RECEIPT whose `receipt-id` is `id`; other frames that
    /// come first are kept for later, but an ERROR fails at once.
    pub async fn expect_receipt(&mut self, id: &str) -> Result<Frame, String> {
        let deadline = Instant::now() + self.timeout;
        let mut skipped = VecDeque::new();
        let result = loop {
            let next = match self.pending.pop_front() {
                Some(frame) => Some(Event::Frame(frame)),
                None => self.next_event(deadline).await,
            };
            match next {
                None => break Err(format!("no RECEIPT for {id} within {:?}", self.timeout)),
                Some(Event::Closed(how)) => {
                    break Err(format!("connection closed before RECEIPT {id} ({how})"))
                }
                Some(Event::Frame(frame)) => {
                    if frame.command == Command::Receipt && frame.get("receipt-id") == Some(id) {
                        break Ok(frame);
                    }
                    if frame.command == Command::Error {
                        break Err(format!("expected RECEIPT {id}, got {}", describe(&frame)));
                    }
                    skipped.push_back(frame);
                }
                Some(_) => continue,
            }
        };
        skipped.append(&mut self.pending);
        self.pending = skipped;
        result
    }

    /// Expects the connection to end within `within`; frames before the end
    /// are returned (heart-beats dropped).
    pub async fn expect_closed_within(&mut self, within: Duration) -> Result<Vec<Frame>, String> {
        let mut frames: Vec<Frame> = self.pending.drain(..).collect();
        let deadline = Instant::now() + within;
        loop {
            match self.next_event(deadline).await {
                None => {
                    let seen: Vec<String> = frames.iter().map(describe).collect();
                    return Err(format!(
                        "connection still open after {within:?} (frames seen: {seen:?})"
                    ));
                }
                Some(Event::Closed(_)) => return Ok(frames),
                Some(Event::Frame(frame)) => frames.push(frame),
                Some(_) => continue,
            }
        }
    }

    /// Expects the connection to end within the default timeout.
    pub async fn expect_closed(&mut self) -> Result<Vec<Frame>, String> {
        self.expect_closed_within(self.timeout).await
    }

    /// Expects an ERROR next, then the connection to end.
    pub async fn expect_error_then_closed(&mut self) -> Result<Frame, String> {
        let error = self.expect(Command::Error).await?;
        self.expect_closed()
            .await
            .map_err(|why| format!("ERROR received, but then {why}"))?;
        Ok(error)
    }

    /// Expects no frame for `quiet` (heart-beats allowed).
    pub async fn expect_silence(&mut self, quiet: Duration) -> Result<(), String> {
        if let Some(frame) = self.pending.pop_front() {
            return Err(format!("expected no frame, got {}", describe(&frame)));
        }
        let deadline = Instant::now() + quiet;
        loop {
            match self.next_event(deadline).await {
                None => return Ok(()),
                Some(Event::Frame(frame)) => {
                    return Err(format!(
                        "expected no frame for {quiet:?}, got {}",
                        describe(&frame)
                    ))
                }
                Some(Event::Closed(how)) => {
                    return Err(format!("connection closed unexpectedly ({how})"))
                }
                Some(_) => continue,
            }
        }
    }

    /// Watches the connection for `period` and returns the heart-beats seen
    /// in it; frames are kept for later, and the end of the connection stops
    /// the watch early.
    pub async fn watch_heartbeats(&mut self, period: Duration) -> Vec<Instant> {
        let start = Instant::now();
        let deadline = start + period;
        loop {
            match self.next_event(deadline).await {
                None | Some(Event::Closed(_)) => break,
                Some(Event::Frame(frame)) => self.pending.push_back(frame),
                Some(_) => continue,
            }
        }
        self.heartbeats
            .iter()
            .copied()
            .filter(|at| *at >= start)
            .collect()
    }

    /// Whether the connection is known to have ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }
}
