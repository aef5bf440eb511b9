//! Herald: a STOMP 1.2 message broker spoken over WebSocket and TCP, built
//! for instant messaging.
//!
//! Data flows one way: socket -> [`transport`] -> codec
//! (`herald-protocol`) -> [`session`] -> [`router`] -> destination
//! ([`chat`] for `/user` and `/group`) -> subscriber sessions -> codec ->
//! socket. The HTTP JSON API ([`api`]) shares the broker's state.

#![recursion_limit = "256"]

pub mod abuse;
pub mod acl;
pub mod api;
pub mod auth;
pub mod broker;
pub mod chat;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod files;
pub mod metrics;
pub mod router;
pub mod server;
pub mod session;
pub mod transport;
