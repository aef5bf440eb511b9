//! One benchmark connection to any STOMP broker: a socket bound to a
//! spread-out loopback source address, WebSocket (`v12.stomp`) or plain TCP,
//! the CONNECT handshake, then a [`Writer`] and a [`Reader`] that separate
//! tasks own, so sending is never blocked behind receiving.
//!
//! It speaks plain STOMP 1.2 and nothing of Herald's own, so the same
//! scenario runs against any broker. The writer owns heart-beats: whoever
//! holds it calls [`Writer::heart_beat_if_due`] (or runs [`keep_alive`]), so
//! a broker that drops silent connections keeps idle ones open.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use herald_protocol::heartbeat::HeartBeat;
use herald_protocol::{encode, Command, Decoder, Frame, Limits};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use url::Url;

pub use super::reader::Reader;
use super::reader::Source;
use crate::client::describe_error;

/// Why a benchmark connection failed. Every variant ends that connection
/// only; the scenario counts it and reports it.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The URL is not ws://, tcp:// or stomp://, or its host does not resolve.
    #[error("unusable URL {0}")]
    Url(String),
    /// The socket or the WebSocket handshake failed.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The broker answered with an ERROR frame.
    #[error("the broker refused: {0}")]
    Refused(String),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Closed,
    /// Reading or writing the socket failed.
    #[error("connection error: {0}")]
    Io(String),
    /// The broker sent bytes that are not STOMP.
    #[error("bad frame from the broker: {0}")]
    Decode(#[from] herald_protocol::DecodeError),
    /// Nothing came within the time allowed.
    #[error("timed out waiting for the broker")]
    Timeout,
    /// A frame arrived that the scenario did not expect.
    #[error("unexpected {0} frame")]
    Unexpected(Command),
}

pub(super) type Socket = WebSocketStream<TcpStream>;

/// Where and how to connect; shared by every connection of a run.
#[derive(Clone, Debug)]
pub struct Target {
    /// The brokers: connection `index` goes to `endpoints[index % len]`.
    endpoints: Vec<Endpoint>,
    pub login: String,
    pub passcode: String,
    pub heart_beat: HeartBeat,
    /// The URL is a plain WebSocket echo server: every frame comes back.
    pub echo: bool,
    /// Loopback source addresses to spread connections over (0: any).
    pub sources: u32,
    pub timeout: Duration,
}

/// One broker URL, resolved.
#[derive(Clone, Debug)]
struct Endpoint {
    url: Url,
    address: SocketAddr,
    websocket: bool,
    /// The CONNECT `host` header (a virtual host for RabbitMQ).
    host: String,
}

impl Endpoint {
    /// Checks the URL and resolves its host.
    async fn resolve(url: Url, host: Option<String>) -> Result<Endpoint, LinkError> {
        let websocket = match url.scheme() {
            "ws" => true,
            "tcp" | "stomp" => false,
            _ => return Err(LinkError::Url(url.to_string())),
        };
        let name = url
            .host_str()
            .ok_or_else(|| LinkError::Url(url.to_string()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(if websocket { 80 } else { 61613 });
        let address = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|error| LinkError::Url(format!("{url}: {error}")))?
            .next()
            .ok_or_else(|| LinkError::Url(url.to_string()))?;
        Ok(Endpoint {
            host: host.unwrap_or(name),
            url,
            address,
            websocket,
        })
    }
}

impl Target {
    /// Checks the URLs and resolves their hosts once for the whole run.
    /// With several brokers (the nodes of a cluster) connections go to them
    /// in turn, so a `pairs` publisher and its subscriber sit on different
    /// brokers.
    pub async fn resolve_all(urls: Vec<Url>, host: Option<String>) -> Result<Target, LinkError> {
        if urls.is_empty() {
            return Err(LinkError::Url("no broker URL".into()));
        }
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in urls {
            endpoints.push(Endpoint::resolve(url, host.clone()).await?);
        }
        Ok(Target {
            endpoints,
            login: "guest".into(),
            passcode: "guest".into(),
            heart_beat: HeartBeat::default(),
            echo: false,
            sources: 0,
            timeout: Duration::from_secs(30),
        })
    }

    /// The broker connection `index` goes to.
    fn endpoint(&self, index: usize) -> &Endpoint {
        &self.endpoints[index % self.endpoints.len()]
    }

    /// Opens connection number `index` and completes CONNECT.
    pub async fn open(&self, index: usize) -> Result<Link, LinkError> {
        tokio::time::timeout(self.timeout, self.open_now(index))
            .await
            .map_err(|_| LinkError::Timeout)?
    }

    async fn open_now(&self, index: usize) -> Result<Link, LinkError> {
        let endpoint = self.endpoint(index);
        let stream = self.socket(index).await?;
        let (sink, source) = if endpoint.websocket {
            let mut request = endpoint
                .url
                .as_str()
                .into_client_request()
                .map_err(|error| LinkError::Connect(error.to_string()))?;
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("v12.stomp"),
            );
            // Small eager read buffers: a generator may hold 19,000 of them.
            let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
            let (socket, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .map_err(|error| LinkError::Connect(error.to_string()))?;
            let (sink, source) = socket.split();
            (Sink::WebSocket(sink), Source::WebSocket(source))
        } else {
            let (read, write) = stream.into_split();
            (Sink::Tcp(write), Source::Tcp(read))
        };
        let mut link = Link {
            writer: Writer {
                sink,
                pending: BytesMut::new(),
                heart_beat: None,
                last_write: Instant::now(),
            },
            reader: Reader::new(source, Decoder::new(generous_limits())),
        };
        link.connect(self, &endpoint.host).await?;
        Ok(link)
    }

    async fn socket(&self, index: usize) -> Result<TcpStream, LinkError> {
        let failed = |error: std::io::Error| LinkError::Connect(error.to_string());
        let address = self.endpoint(index).address;
        let socket = match address {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(failed)?;
        if let Some(source) = self.source_address(index) {
            socket
                .bind(SocketAddr::new(IpAddr::V4(source), 0))
                .map_err(failed)?;
        }
        let stream = socket.connect(address).await.map_err(failed)?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// 127.0.0.2, 127.0.0.3, ... in turn, when the broker is on loopback,
    /// so that many connections do not run out of source ports.
    fn source_address(&self, index: usize) -> Option<Ipv4Addr> {
        match self.endpoint(index).address.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && self.sources > 0 => {
                let host = 2 + (index as u32 % self.sources);
                Some(Ipv4Addr::new(127, 0, (host >> 8) as u8, host as u8))
            }
            _ => None,
        }
    }
}

/// Decoder limits for what brokers send back: larger than any bench frame.
fn generous_limits() -> Limits {
    Limits {
        max_frame_bytes: 16 << 20,
        max_headers: 1024,
        max_header_line: 1 << 20,
        max_body_bytes: 16 << 20,
    }
}

/// A connected STOMP connection, before its halves go to separate tasks.
pub struct Link {
    pub writer: Writer,
    pub reader: Reader,
}

impl Link {
    async fn connect(&mut self, target: &Target, host: &str) -> Result<(), LinkError> {
        let connect = Frame::new(Command::Connect)
            .header("accept-version", "1.2")
            .header("host", host)
            .header("login", target.login.clone())
            .header("passcode", target.passcode.clone())
            .header("heart-beat", target.heart_beat.header_value());
        self.writer.send(&connect).await?;
        let reply = self.reader.next_frame().await?;
        match reply.command {
            Command::Connected => {
                let server = reply
                    .get("heart-beat")
                    .and_then(HeartBeat::parse)
                    .unwrap_or_default();
                // We send every max(cx, sy) when neither is zero.
                let ours = target.heart_beat.send_ms;
                if ours > 0 && server.receive_ms > 0 {
                    let interval = ours.max(server.receive_ms);
                    self.writer.heart_beat = Some(Duration::from_millis(interval));
                }
                Ok(())
            }
            // An echo server returns our own CONNECT.
            Command::Connect if target.echo => Ok(()),
            Command::Error => Err(LinkError::Refused(describe_error(&reply))),
            other => Err(LinkError::Unexpected(other)),
        }
    }

    /// SUBSCRIBE with a receipt, waiting for it (an echo server returns the
    /// SUBSCRIBE itself).
    pub async fn subscribe(
        &mut self,
        destination: &str,
        id: &str,
        ack: &str,
        echo: bool,
    ) -> Result<(), LinkError> {
        let receipt = format!("subscribed-{id}");
        let frame = Frame::new(Command::Subscribe)
            .header("destination", destination)
            .header("id", id)
            .header("ack", ack)
            .header("receipt", receipt.clone());
        self.writer.send(&frame).await?;
        loop {
            let reply = self.reader.next_frame().await?;
            match reply.command {
                Command::Receipt if reply.get("receipt-id") == Some(receipt.as_str()) => {
                    return Ok(())
                }
                Command::Subscribe if echo => return Ok(()),
                Command::Error => return Err(LinkError::Refused(describe_error(&reply))),
                // Frames for an earlier subscription may arrive first.
                _ => {}
            }
        }
    }
}

enum Sink {
    WebSocket(SplitSink<Socket, Message>),
    Tcp(OwnedWriteHalf),
}

/// The sending half: frames out, heart-beats when idle.
pub struct Writer {
    sink: Sink,
    /// TCP bytes waiting for the next flush.
    pending: BytesMut,
    /// How often we must send something, as negotiated.
    pub heart_beat: Option<Duration>,
    last_write: Instant,
}

impl Writer {
    /// Queues encoded bytes (one WebSocket message) until [`Writer::flush`].
    pub async fn feed_bytes(&mut self, bytes: Bytes) -> Result<(), LinkError> {
        match &mut self.sink {
            Sink::WebSocket(sink) => {
                // Text, as browsers send STOMP; binary if it is not UTF-8.
                let message = match Utf8Bytes::try_from(bytes.clone()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => Message::Binary(bytes),
                };
                sink.feed(message).await.map_err(io_error)?;
            }
            Sink::Tcp(_) => self.pending.extend_from_slice(&bytes),
        }
        Ok(())
    }

    pub async fn feed(&mut self, frame: &Frame) -> Result<(), LinkError> {
        let mut bytes = BytesMut::new();
        encode(frame, true, &mut bytes);
        self.feed_bytes(bytes.freeze()).await
    }

    pub async fn flush(&mut self) -> Result<(), LinkError> {
        match &mut self.sink {
            Sink::WebSocket(sink) => sink.flush().await.map_err(io_error)?,
            Sink::Tcp(stream) => {
                if !self.pending.is_empty() {
                    stream.write_all(&self.pending).await.map_err(io_error)?;
                    self.pending.clear();
                }
            }
        }
        self.last_write = Instant::now();
        Ok(())
    }

    pub async fn send(&mut self, frame: &Frame) -> Result<(), LinkError> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// Sends an EOL when nothing was sent for most of the interval.
    pub async fn heart_beat_if_due(&mut self) -> Result<(), LinkError> {
        if let Some(interval) = self.heart_beat {
            if self.last_write.elapsed() >= interval.mul_f32(0.6) {
                self.feed_bytes(Bytes::from_static(b"\n")).await?;
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// How long a task holding this writer may sleep before a heart-beat.
    pub fn idle_allowance(&self) -> Duration {
        self.heart_beat
            .map_or(Duration::from_secs(3600), |interval| interval.mul_f32(0.3))
    }

    /// DISCONNECT without waiting for a receipt, then close the socket.
    pub async fn close(&mut self) {
        let _ = self.send(&Frame::new(Command::Disconnect)).await;
        match &mut self.sink {
            Sink::WebSocket(sink) => {
                let _ = sink.close().await;
            }
            Sink::Tcp(stream) => {
                let _ = stream.shutdown().await;
            }
        }
    }
}

/// Holds a writer that sends nothing else, heart-beating until `stop`.
pub async fn keep_alive(mut writer: Writer, stop: tokio_util::sync::CancellationToken) -> Writer {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return writer,
            _ = tokio::time::sleep(writer.idle_allowance()) => {
                if writer.heart_beat_if_due().await.is_err() {
                    stop.cancelled().await;
                    return writer;
                }
            }
        }
    }
}

pub(super) fn io_error(error: impl std::fmt::Display) -> LinkError {
    LinkError::Io(error.to_string())
}
