//! The receiving half of a benchmark connection: WebSocket messages or TCP
//! bytes into one buffer, decoded into frames, heart-beats skipped. It only
//! reads; [`super::link`] opens the connection and owns the writing half.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use herald_protocol::{Decoder, Frame};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio_tungstenite::tungstenite::Message;

use super::link::{io_error, LinkError, Socket};

pub(super) enum Source {
    WebSocket(SplitStream<Socket>),
    Tcp(OwnedReadHalf),
}

/// The receiving half: frames in, heart-beats skipped.
pub struct Reader {
    source: Source,
    decoder: Decoder,
    buffer: BytesMut,
}

impl Reader {
    pub(super) fn new(source: Source, decoder: Decoder) -> Reader {
        Reader {
            source,
            decoder,
            buffer: BytesMut::with_capacity(4096),
        }
    }
}

impl Reader {
    /// The next frame; [`LinkError::Closed`] when the broker closed.
    /// Cancel-safe: a partly read frame stays in the buffer.
    pub async fn next_frame(&mut self) -> Result<Frame, LinkError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer)? {
                return Ok(frame);
            }
            match &mut self.source {
                Source::WebSocket(source) => match source.next().await {
                    None => return Err(LinkError::Closed),
                    Some(Err(error)) => return Err(io_error(error)),
                    Some(Ok(Message::Text(text))) => self.buffer.extend_from_slice(text.as_bytes()),
                    Some(Ok(Message::Binary(data))) => self.buffer.extend_from_slice(&data),
                    Some(Ok(Message::Close(_))) => return Err(LinkError::Closed),
                    Some(Ok(_)) => {}
                },
                Source::Tcp(stream) => {
                    if self.buffer.capacity() - self.buffer.len() < 1024 {
                        self.buffer.reserve(16 * 1024);
                    }
                    let read = stream.read_buf(&mut self.buffer).await.map_err(io_error)?;
                    if read == 0 {
                        return Err(LinkError::Closed);
                    }
                }
            }
        }
    }

    /// [`Reader::next_frame`] with a time limit.
    pub async fn next_frame_within(&mut self, limit: Duration) -> Result<Frame, LinkError> {
        tokio::time::timeout(limit, self.next_frame())
            .await
            .map_err(|_| LinkError::Timeout)?
    }
}
