//! The suite's socket layer: opens a WebSocket (`ws://`) or plain TCP
//! (`tcp://`) connection to the broker, writes raw bytes, and runs one reader
//! task that turns everything the broker sends into [`Event`]s.
//!
//! It knows bytes, heart-beats and frames, and nothing of what a case expects:
//! expectations live in [`crate::client`]. It never panics on what the broker
//! sends; anything odd becomes an event or an error string.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use herald_protocol::{Decoder, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

/// The subprotocols offered in `Sec-WebSocket-Protocol`, best first.
pub const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How many events the reader may queue before it stops reading (and the
/// socket pushes back on the broker).
const EVENT_QUEUE: usize = 4096;

/// Generous decoder limits, so the suite's client is never the side that
/// refuses a frame.
fn client_limits() -> Limits {
    Limits {
        max_frame_bytes: 64 * 1024 * 1024,
        max_headers: 100_000,
        max_header_line: 16 * 1024 * 1024,
        max_body_bytes: 64 * 1024 * 1024,
    }
}

/// Something the broker did, stamped with when the reader saw it.
#[derive(Debug)]
pub enum Event {
    /// A whole frame.
    Frame(Frame),
    /// One EOL outside a frame (a heart-beat).
    HeartBeat(Instant),
    /// The connection ended (EOF, WebSocket close, reset); the text says how.
    Closed(String),
    /// The broker sent bytes that are not a STOMP frame.
    Garbage(String),
}

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The writing half of a connection.
enum Writer {
    Tcp(OwnedWriteHalf),
    WebSocket(SplitSink<WsStream, Message>),
}

/// An open connection: a writer, and the events of its reader task.
pub struct Transport {
    writer: Writer,
    pub events: mpsc::Receiver<Event>,
    reader: JoinHandle<()>,
    /// The `Sec-WebSocket-Protocol` the broker chose (WebSocket only).
    pub subprotocol: Option<String>,
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Whether `url` is a WebSocket URL (`ws://` or `wss://`).
pub fn is_websocket(url: &Url) -> bool {
    matches!(url.scheme(), "ws" | "wss")
}

impl Transport {
    /// Opens a connection to `url` within `timeout`.
    pub async fn open(url: &Url, timeout: Duration) -> Result<Transport, String> {
        match tokio::time::timeout(timeout, Transport::open_untimed(url)).await {
            Ok(result) => result,
            Err(_) => Err(format!("could not connect to {url} within {timeout:?}")),
        }
    }

    async fn open_untimed(url: &Url) -> Result<Transport, String> {
        match url.scheme() {
            "tcp" | "stomp" => Transport::open_tcp(url).await,
            "ws" | "wss" => Transport::open_websocket(url).await,
            other => Err(format!(
                "unsupported URL scheme {other:?} (use ws:// or tcp://)"
            )),
        }
    }

    async fn open_tcp(url: &Url) -> Result<Transport, String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        let port = url.port().unwrap_or(61613);
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|error| format!("TCP connect to {host}:{port}: {error}"))?;
        stream
            .set_nodelay(true)
            .map_err(|error| format!("set_nodelay: {error}"))?;
        let (read, write) = stream.into_split();
        let (sender, events) = mpsc::channel(EVENT_QUEUE);
        let reader = tokio::spawn(read_tcp(read, sender));
        Ok(Transport {
            writer: Writer::Tcp(write),
            events,
            reader,
            subprotocol: None,
        })
    }

    async fn open_websocket(url: &Url) -> Result<Transport, String> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|error| format!("bad WebSocket URL: {error}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v12.stomp, v11.stomp, v10.stomp"),
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(128 * 1024 * 1024))
            .max_frame_size(Some(128 * 1024 * 1024));
        let (stream, response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|error| format!("WebSocket handshake with {url}: {error}"))?;
        let subprotocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (sink, source) = stream.split();
        let (sender, events) = mpsc::channel(EVENT_QUEUE);
        let reader = tokio::spawn(read_websocket(source, sender));
        Ok(Transport {
            writer: Writer::WebSocket(sink),
            events,
            reader,
            subprotocol,
        })
    }

    /// Writes `bytes` as one TCP write, or as one WebSocket message (text
    /// when the bytes are UTF-8, binary otherwise).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let binary = std::str::from_utf8(bytes).is_err();
        self.write_message(bytes, binary).await
    }

    /// Like [`Transport::write`], choosing the WebSocket message type
    /// (ignored over TCP).
    pub async fn write_message(&mut self, bytes: &[u8], binary: bool) -> Result<(), String> {
        match &mut self.writer {
            Writer::Tcp(write) => {
                write
                    .write_all(bytes)
                    .await
                    .map_err(|error| format!("write failed: {error}"))?;
                write
                    .flush()
                    .await
                    .map_err(|error| format!("flush failed: {error}"))
            }
            Writer::WebSocket(sink) => {
                let message = match (binary, String::from_utf8(bytes.to_vec())) {
                    (false, Ok(text)) => Message::text(text),
                    (_, Ok(text)) => Message::binary(text.into_bytes()),
                    (_, Err(error)) => Message::binary(error.into_bytes()),
                };
                sink.send(message)
                    .await
                    .map_err(|error| format!("WebSocket send failed: {error}"))
            }
        }
    }

    /// Closes the writing side (TCP shutdown or WebSocket close), ignoring
    /// errors: the connection may already be gone.
    pub async fn shutdown(&mut self) {
        let grace = Duration::from_millis(500);
        match &mut self.writer {
            Writer::Tcp(write) => {
                let _ = tokio::time::timeout(grace, write.shutdown()).await;
            }
            Writer::WebSocket(sink) => {
                let _ = tokio::time::timeout(grace, sink.close()).await;
            }
        }
    }
}

async fn read_tcp(mut read: OwnedReadHalf, events: mpsc::Sender<Event>) {
    let mut reader = FrameReader::new(events);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match read.read(&mut chunk).await {
            Ok(0) => return reader.closed("EOF").await,
            Ok(count) => {
                if !reader.feed(&chunk[..count]).await {
                    return;
                }
            }
            Err(error) => return reader.closed(&format!("read error: {error}")).await,
        }
    }
}

async fn read_websocket(mut source: SplitStream<WsStream>, events: mpsc::Sender<Event>) {
    let mut reader = FrameReader::new(events);
    loop {
        let payload: Bytes = match source.next().await {
            None => return reader.closed("WebSocket stream ended").await,
            Some(Err(error)) => return reader.closed(&format!("WebSocket error: {error}")).await,
            Some(Ok(Message::Text(text))) => Bytes::from(text),
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(frame))) => {
                let how = match frame {
                    Some(frame) => {
                        format!("WebSocket close {} {:?}", frame.code, frame.reason.as_str())
                    }
                    None => "WebSocket close".to_owned(),
                };
                return reader.closed(&how).await;
            }
            Some(Ok(_)) => continue, // ping, pong: tungstenite answers pings itself
        };
        if !reader.feed(&payload).await {
            return;
        }
    }
}

/// Bytes in, events out: heart-beat EOLs are reported one by one, and whole
/// frames are decoded with the project's codec.
struct FrameReader {
    buffer: BytesMut,
    decoder: Decoder,
    events: mpsc::Sender<Event>,
}

impl FrameReader {
    fn new(events: mpsc::Sender<Event>) -> FrameReader {
        FrameReader {
            buffer: BytesMut::new(),
            decoder: Decoder::new(client_limits()),
            events,
        }
    }

    /// Appends `bytes` and emits what became whole. False: stop reading.
    async fn feed(&mut self, bytes: &[u8]) -> bool {
        self.buffer.extend_from_slice(bytes);
        loop {
            while let Some(eol) = leading_eol(&self.buffer) {
                let _ = self.buffer.split_to(eol);
                if self
                    .events
                    .send(Event::HeartBeat(Instant::now()))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            if self.buffer.is_empty() || self.buffer[..] == b"\r"[..] {
                return true;
            }
            let event = match self.decoder.decode(&mut self.buffer) {
                Ok(None) => return true,
                Ok(Some(frame)) => Event::Frame(frame),
                Err(error) => Event::Garbage(format!("undecodable bytes from the broker: {error}")),
            };
            let stop = matches!(event, Event::Garbage(_));
            if self.events.send(event).await.is_err() || stop {
                return false;
            }
        }
    }

    async fn closed(&mut self, how: &str) {
        let how = if self.buffer.is_empty() {
            how.to_owned()
        } else {
            format!("{how} ({} undecoded bytes left)", self.buffer.len())
        };
        let _ = self.events.send(Event::Closed(how)).await;
    }
}

/// The length of an EOL (`\n` or `\r\n`) at the start of `buffer`.
fn leading_eol(buffer: &[u8]) -> Option<usize> {
    match buffer {
        [b'\n', ..] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn heart_beats_and_frames_come_out_in_order() {
        let (sender, mut events) = mpsc::channel(16);
        let mut reader = FrameReader::new(sender);
        assert!(reader.feed(b"\n\r\nCONNECTED\nversion:1.2\n\n\0\r").await);
        assert!(reader.feed(b"\nMESSAGE\ndestination:/topic/a\n\nhi").await);
        assert!(reader.feed(b"\0\n").await);
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(match event {
                Event::Frame(frame) => frame.command.to_string(),
                Event::HeartBeat(_) => "EOL".to_owned(),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(seen, ["EOL", "EOL", "CONNECTED", "EOL", "MESSAGE", "EOL"]);
    }

    #[tokio::test]
    async fn garbage_stops_the_reader_with_an_event() {
        let (sender, mut events) = mpsc::channel(16);
        let mut reader = FrameReader::new(sender);
        assert!(!reader.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n").await);
        assert!(matches!(events.try_recv(), Ok(Event::Garbage(_))));
    }

    #[test]
    fn leading_eols() {
        assert_eq!(leading_eol(b"\nX"), Some(1));
        assert_eq!(leading_eol(b"\r\nX"), Some(2));
        assert_eq!(leading_eol(b"\r"), None);
        assert_eq!(leading_eol(b"SEND"), None);
    }
}
