//! A STOMP frame: command, ordered headers and an opaque body.

use bytes::Bytes;

use crate::{Command, Headers};

/// One STOMP frame. The body is a `Bytes` split off the read buffer, so
/// decoding does not copy it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub command: Command,
    pub headers: Headers,
    pub body: Bytes,
}

impl Frame {
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Builder-style header append.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Frame {
        self.headers.push(name, value);
        self
    }

    /// Builder-style body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Frame {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}
