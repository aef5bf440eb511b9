//! Size limits: a frame over the broker's limits (a large body, very many
//! headers, one very long header line) gets an ERROR and a close, and the
//! broker is unharmed: a fresh connection still works afterwards.

use herald_protocol::{Command, Frame};

use super::raw_frame;
use crate::client::describe;
use crate::context::{Context, Outcome};

/// Sends `frame` (well over the broker's limits) on a fresh session and
/// expects ERROR then close; then checks that a new session still works.
async fn refused_then_healthy(context: &Context, frame: Vec<u8>, what: &str) -> Outcome {
    let mut connection = context.connect().await?;
    // The broker may stop reading and close mid-write: a failed write is
    // expected, what matters is what it said before closing.
    let written = connection.send_raw(&frame).await;
    let reply = connection.recv().await;
    let refused = match reply {
        Ok(frame) if frame.command == Command::Error => connection
            .expect_closed()
            .await
            .map(|_| ())
            .map_err(|why| format!("{what}: ERROR received, but then {why}")),
        Ok(frame) => Err(format!("{what} was accepted: got {}", describe(&frame))),
        Err(why) => match written {
            Err(write) => Err(format!("{what}: no ERROR ({why}; {write})")),
            Ok(()) => Err(format!("{what}: no ERROR ({why})")),
        },
    };
    connection.shutdown().await;
    healthy(context)
        .await
        .map_err(|why| format!("after {what}, a fresh session fails: {why}"))?;
    refused
}

/// A new session can subscribe, send and receive.
async fn healthy(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("healthy");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = Frame::new(Command::Send)
        .header("destination", topic.clone())
        .body(&b"still alive"[..]);
    connection.send(&send).await?;
    context
        .expect_message(&mut connection, "still alive")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn oversize_body(context: &Context) -> Outcome {
    let topic = context.topic("oversize");
    let size = context.config.oversize_body_bytes;
    let body = vec![b'x'; size];
    let length = size.to_string();
    let frame = raw_frame(
        "SEND",
        &[
            ("destination", &topic),
            ("content-length", &length),
            ("receipt", "big"),
        ],
        &body,
        "\n",
    );
    refused_then_healthy(context, frame, &format!("a {size}-byte body")).await
}

pub async fn too_many_headers(context: &Context) -> Outcome {
    let topic = context.topic("many-headers");
    let names: Vec<String> = (0..1000).map(|index| format!("x-header-{index}")).collect();
    let mut headers: Vec<(&str, &str)> = vec![("destination", &topic), ("receipt", "many")];
    headers.extend(names.iter().map(|name| (name.as_str(), "v")));
    let frame = raw_frame("SEND", &headers, b"many headers", "\n");
    refused_then_healthy(context, frame, "a SEND with 1,000 headers").await
}

pub async fn long_header_line(context: &Context) -> Outcome {
    let topic = context.topic("long-header");
    let value = "y".repeat(100 * 1024);
    let headers = [
        ("destination", topic.as_str()),
        ("x-long", &value),
        ("receipt", "long"),
    ];
    let frame = raw_frame("SEND", &headers, b"long header", "\n");
    refused_then_healthy(context, frame, "a 100 KiB header line").await
}
