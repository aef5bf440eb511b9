//! A small STOMP client over WebSocket or TCP, for `herald client` and
//! tools that drive a broker from the command line.
//!
//! It reuses the broker's own transports, which are generic over the byte
//! stream, so the client speaks exactly what the server reads.

use std::time::Duration;

use bytes::BytesMut;
use herald_protocol::{encode_with, Command, Decoder, Escaping, Frame, Limits, Version};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::MaybeTlsStream;
use url::Url;

use crate::transport::{CloseKind, StreamTransport, Transport, WebSocketTransport};

/// Why the client could not talk to the broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("unsupported URL {0:?}: use ws://host:port/path or tcp://host:port")]
    Url(String),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame from the broker: {0}")]
    Decode(#[from] herald_protocol::DecodeError),
    #[error("the broker refused: {0}")]
    Refused(String),
    #[error("the broker closed the connection")]
    Closed,
    #[error("timed out waiting for the broker")]
    Timeout,
}

enum Link {
    WebSocket(Box<WebSocketTransport<MaybeTlsStream<TcpStream>>>),
    Tcp(StreamTransport<TcpStream>),
}

/// One client connection: frames out, frames in.
pub struct Connection {
    link: Link,
    decoder: Decoder,
    buffer: BytesMut,
    escaping: Escaping,
}

impl Connection {
    /// Opens the socket (no STOMP yet).
    pub async fn open(url: &Url) -> Result<Connection, ClientError> {
        let connect_error = |reason: String| ClientError::Connect {
            url: url.to_string(),
            reason,
        };
        let link = match url.scheme() {
            "ws" | "wss" => {
                let mut request = url
                    .as_str()
                    .into_client_request()
                    .map_err(|e| connect_error(e.to_string()))?;
                request.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static("v12.stomp, v11.stomp, v10.stomp"),
                );
                let (socket, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .map_err(|e| connect_error(e.to_string()))?;
                Link::WebSocket(Box::new(WebSocketTransport::new(socket, false)))
            }
            "tcp" | "stomp" => {
                let host = url
                    .host_str()
                    .ok_or_else(|| ClientError::Url(url.to_string()))?;
                let port = url.port().unwrap_or(61613);
                let stream = TcpStream::connect((host, port))
                    .await
                    .map_err(|e| connect_error(e.to_string()))?;
                let _ = stream.set_nodelay(true);
                Link::Tcp(StreamTransport::new(stream))
            }
            _ => return Err(ClientError::Url(url.to_string())),
        };
        let limits = Limits {
            max_frame_bytes: 64 << 20,
            max_headers: 4096,
            max_header_line: 1 << 20,
            max_body_bytes: 64 << 20,
        };
        Ok(Connection {
            link,
            decoder: Decoder::new(limits),
            buffer: BytesMut::new(),
            escaping: Escaping::V1_2,
        })
    }

    /// Opens the socket and completes CONNECT; returns the CONNECTED frame.
    pub async fn connect(
        url: &Url,
        login: Option<&str>,
        passcode: Option<&str>,
        heart_beat: &str,
    ) -> Result<(Connection, Frame), ClientError> {
        let mut connection = Connection::open(url).await?;
        let mut frame = Frame::new(Command::Connect)
            .header("accept-version", "1.0,1.1,1.2")
            .header("host", url.host_str().unwrap_or("localhost"))
            .header("heart-beat", heart_beat);
        if let Some(login) = login {
            frame.headers.push("login", login);
        }
        if let Some(passcode) = passcode {
            frame.headers.push("passcode", passcode);
        }
        connection.send(&frame).await?;
        let reply = connection.receive_timeout(Duration::from_secs(10)).await?;
        match reply.command {
            Command::Connected => {
                let version = reply
                    .get("version")
                    .and_then(Version::parse)
                    .unwrap_or(Version::V1_2);
                connection.escaping = Escaping::for_version(version);
                connection.decoder.set_escaping(connection.escaping);
                Ok((connection, reply))
            }
            Command::Error => Err(ClientError::Refused(describe_error(&reply))),
            other => Err(ClientError::Refused(format!(
                "expected CONNECTED, got {other}"
            ))),
        }
    }

    pub async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        let mut bytes = BytesMut::new();
        encode_with(frame, self.escaping, &mut bytes);
        self.send_raw(bytes.freeze()).await
    }

    /// Sends bytes as they are (one WebSocket message), for raw frames and
    /// heart-beats.
    pub async fn send_raw(&mut self, bytes: bytes::Bytes) -> Result<(), ClientError> {
        match &mut self.link {
            Link::WebSocket(link) => {
                link.feed(bytes).await?;
                link.flush().await?;
            }
            Link::Tcp(link) => {
                link.feed(bytes).await?;
                link.flush().await?;
            }
        }
        Ok(())
    }

    /// The next frame, skipping heart-beats; `Closed` when the broker closed.
    pub async fn receive(&mut self) -> Result<Frame, ClientError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer)? {
                return Ok(frame);
            }
            let read = match &mut self.link {
                Link::WebSocket(link) => link.read(&mut self.buffer).await?,
                Link::Tcp(link) => link.read(&mut self.buffer).await?,
            };
            if read == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    pub async fn receive_timeout(&mut self, timeout: Duration) -> Result<Frame, ClientError> {
        tokio::time::timeout(timeout, self.receive())
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Sends `frame` with a `receipt` header and waits for that RECEIPT,
    /// returning frames that arrived meanwhile.
    pub async fn send_with_receipt(
        &mut self,
        mut frame: Frame,
        receipt: &str,
    ) -> Result<Vec<Frame>, ClientError> {
        frame.headers.set("receipt", receipt);
        self.send(&frame).await?;
        let mut others = Vec::new();
        loop {
            let reply = self.receive_timeout(Duration::from_secs(30)).await?;
            match reply.command {
                Command::Receipt if reply.get("receipt-id") == Some(receipt) => return Ok(others),
                Command::Error => return Err(ClientError::Refused(describe_error(&reply))),
                _ => others.push(reply),
            }
        }
    }

    /// DISCONNECT with a receipt, then close.
    pub async fn disconnect(mut self) -> Result<(), ClientError> {
        self.send_with_receipt(Frame::new(Command::Disconnect), "disconnect")
            .await?;
        self.close().await;
        Ok(())
    }

    pub async fn close(&mut self) {
        match &mut self.link {
            Link::WebSocket(link) => link.close(CloseKind::Normal).await,
            Link::Tcp(link) => link.close(CloseKind::Normal).await,
        }
    }
}

/// An ERROR frame as one line: its message and body.
pub fn describe_error(frame: &Frame) -> String {
    let message = frame.get("message").unwrap_or("ERROR");
    let body = String::from_utf8_lossy(&frame.body);
    if body.trim().is_empty() || body.trim() == message {
        message.to_owned()
    } else {
        format!("{message}: {}", body.trim())
    }
}
