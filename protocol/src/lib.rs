//! STOMP 1.0/1.1/1.2 frames as bytes: the types, an incremental decoder, an
//! encoder and heart-beat negotiation.
//!
//! This crate knows bytes and nothing else: no sockets, no tokio, no broker
//! policy. The broker feeds received bytes into a [`Decoder`] and writes what
//! [`encode_with()`] produces, both under the [`Escaping`] of the negotiated
//! version; everything about sessions lives in the `herald` crate.

mod command;
mod decode;
mod encode;
mod error;
mod escape;
mod frame;
mod headers;
pub mod heartbeat;
mod limits;
mod version;

pub use command::Command;
pub use decode::Decoder;
pub use encode::{encode, encode_to_vec, encode_to_vec_with, encode_with};
pub use error::{DecodeError, Limit};
pub use escape::{escape, unescape, Escaping};
pub use frame::Frame;
pub use headers::Headers;
pub use limits::Limits;
pub use version::Version;
