//! The incremental frame decoder.

use bytes::BytesMut;

use crate::{DecodeError, Frame, Limits};

/// Decodes frames from a growing buffer. Partial input is "need more"
/// (`Ok(None)`), never an error.
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    escapes: bool,
}

impl Decoder {
    /// A decoder that unescapes headers (STOMP 1.1/1.2 rules) until told
    /// otherwise with [`Decoder::set_escapes`].
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            escapes: true,
        }
    }

    /// 1.0 sessions have no header escaping: backslashes are literal.
    /// CONNECT, STOMP and CONNECTED are never unescaped, whatever this says.
    pub fn set_escapes(&mut self, escapes: bool) {
        self.escapes = escapes;
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes the next frame off the front of `buffer`, skipping any EOLs
    /// (heart-beats) before it. `Ok(None)`: the buffer holds no whole frame
    /// yet (heart-beat bytes before it are consumed all the same).
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let _ = (buffer, &self.limits, self.escapes);
        todo!("implemented in decode.rs")
    }
}
