//! `bench echo-server`: a minimal tokio-tungstenite WebSocket server that
//! sends every data message straight back. Driven by `bench pairs --echo`,
//! it measures what the WebSocket stack alone costs on this machine: the
//! ceiling no broker built on it can pass.
//!
//! It accepts the `v12.stomp` subprotocol so that STOMP clients connect
//! unchanged, and understands nothing of STOMP.

use std::io::Write;
use std::net::SocketAddr;

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::BenchError;

#[derive(Args, Debug)]
pub struct Options {
    /// Where to listen; port 0 picks one. Prints `listening ws=ADDR` when ready.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

pub async fn run(options: Options) -> Result<(), BenchError> {
    super::system::raise_open_files();
    let listener = TcpListener::bind(options.listen).await?;
    println!("listening ws={}", listener.local_addr()?);
    let _ = std::io::stdout().flush();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(echo(stream));
    }
}

/// Returns every text or binary message on one connection until it closes.
async fn echo(stream: TcpStream) {
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, accept_stomp).await else {
        return;
    };
    let (mut sink, mut source) = socket.split();
    while let Some(Ok(message)) = source.next().await {
        if message.is_close() {
            return;
        }
        if (message.is_text() || message.is_binary()) && sink.send(message).await.is_err() {
            return;
        }
    }
}

/// Agrees to `v12.stomp` when the client offers it.
#[allow(clippy::result_large_err)] // the signature tungstenite's callback takes
fn accept_stomp(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if offered.split(',').any(|name| name.trim() == "v12.stomp") {
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v12.stomp"),
        );
    }
    Ok(response)
}
