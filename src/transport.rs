//! WebSocket messages or TCP bytes to and from a byte buffer for the codec.
//!
//! A STOMP frame may span several WebSocket messages and one message may
//! hold several frames, so inbound WebSocket payloads are simply appended
//! to the same buffer TCP bytes go to; the decoder finds the frames.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// How a session ends the connection, so WebSocket peers get a fitting
/// close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// Normal end (DISCONNECT, or after an ERROR frame).
    Normal,
    /// The broker is shutting down.
    GoingAway,
    /// The peer sent a text message that is not UTF-8 (code 1007).
    InvalidPayload,
}

/// One connection's byte stream, whatever carries it.
#[allow(async_fn_in_trait)]
pub trait Transport: Send {
    /// Appends received bytes to `buffer`; `Ok(0)` means the peer closed.
    /// Must be cancel-safe: the session drops it when another event wins.
    async fn read(&mut self, buffer: &mut BytesMut) -> io::Result<usize>;
    /// Queues one encoded frame (or heart-beat) for sending.
    async fn feed(&mut self, frame: Bytes) -> io::Result<()>;
    /// Sends everything queued.
    async fn flush(&mut self) -> io::Result<()>;
    /// Closes the connection after sending what is queued.
    async fn close(&mut self, kind: CloseKind);
    /// Which transport, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// Plain STOMP over a byte stream (TCP, later TLS).
pub struct StreamTransport<S> {
    stream: S,
    pending: BytesMut,
}

impl<S> StreamTransport<S> {
    pub fn new(stream: S) -> StreamTransport<S> {
        StreamTransport {
            stream,
            pending: BytesMut::new(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for StreamTransport<S> {
    async fn read(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        if buffer.capacity() - buffer.len() < 1024 {
            buffer.reserve(8 * 1024);
        }
        self.stream.read_buf(buffer).await
    }

    async fn feed(&mut self, frame: Bytes) -> io::Result<()> {
        self.pending.extend_from_slice(&frame);
        if self.pending.len() >= 64 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.stream.write_all(&self.pending).await?;
            self.pending.clear();
        }
        self.stream.flush().await
    }

    async fn close(&mut self, _kind: CloseKind) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    fn name(&self) -> &'static str {
        "tcp"
    }
}

/// STOMP over WebSocket: each outbound frame is one WebSocket message, text
/// when it is valid UTF-8 (unless configured always-binary), binary otherwise.
pub struct WebSocketTransport<S> {
    socket: WebSocketStream<S>,
    always_binary: bool,
}

impl<S> WebSocketTransport<S> {
    pub fn new(socket: WebSocketStream<S>, always_binary: bool) -> WebSocketTransport<S> {
        WebSocketTransport {
            socket,
            always_binary,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for WebSocketTransport<S> {
    async fn read(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        loop {
            match self.socket.next().await {
                None => return Ok(0),
                // An oversize message is the client's fault, not the
                // socket's: report it as bad data so the session answers
                // with an ERROR frame.
                Some(Err(tungstenite::Error::Capacity(error))) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        error.to_string(),
                    ))
                }
                // A text message that is not UTF-8 breaks RFC 6455 (close
                // code 1007); the session says so in an ERROR first.
                Some(Err(tungstenite::Error::Utf8(_))) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a WebSocket text message was not valid UTF-8; send binary messages for binary bodies",
                    ))
                }
                Some(Err(error)) => return Err(io::Error::other(error)),
                Some(Ok(Message::Text(text))) => {
                    buffer.extend_from_slice(text.as_bytes());
                    if !text.is_empty() {
                        return Ok(text.len());
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    buffer.extend_from_slice(&data);
                    if !data.is_empty() {
                        return Ok(data.len());
                    }
                }
                Some(Ok(Message::Close(_))) => return Ok(0),
                // Pings are answered by tungstenite itself; an empty or
                // control message carries no STOMP bytes.
                Some(Ok(_)) => {}
            }
        }
    }

    async fn feed(&mut self, frame: Bytes) -> io::Result<()> {
        let message = if self.always_binary {
            Message::Binary(frame)
        } else {
            // Cloning `Bytes` only bumps a reference count.
            match Utf8Bytes::try_from(frame.clone()) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(frame),
            }
        };
        self.socket.feed(message).await.map_err(io::Error::other)
    }

    async fn flush(&mut self) -> io::Result<()> {
        SinkExt::flush(&mut self.socket)
            .await
            .map_err(io::Error::other)
    }

    async fn close(&mut self, kind: CloseKind) {
        let code = match kind {
            CloseKind::Normal => CloseCode::Normal,
            CloseKind::GoingAway => CloseCode::Away,
            CloseKind::InvalidPayload => CloseCode::Invalid,
        };
        let _ = self
            .socket
            .close(Some(CloseFrame {
                code,
                reason: "".into(),
            }))
            .await;
    }

    fn name(&self) -> &'static str {
        "websocket"
    }
}
