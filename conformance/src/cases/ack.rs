//! Acknowledgement modes on a `/queue`: `auto`, `client` (cumulative),
//! `client-individual`, the required ACK `id`, NACK redelivery, and the
//! common `prefetch-count` extension. Whether a message was acknowledged is
//! observed the only way a client can: by whether a later consumer gets it.

use herald_protocol::{Command, Frame};

use crate::client::Connection;
use crate::context::{body_text, ensure, Context, Outcome};

/// Sends `bodies` to `queue` from a connection of their own, each with a
/// receipt, so they are all on the queue when this returns.
pub async fn fill(context: &Context, queue: &str, bodies: &[&str]) -> Outcome {
    let mut sender = context.connect().await?;
    for body in bodies {
        context.send_text(&mut sender, queue, body, &[]).await?;
    }
    context.disconnect(&mut sender).await;
    Ok(())
}

/// Receives `count` MESSAGEs and returns them in order.
pub async fn take(connection: &mut Connection, count: usize) -> Result<Vec<Frame>, String> {
    let mut messages = Vec::with_capacity(count);
    for index in 0..count {
        let frame = connection
            .expect(Command::Message)
            .await
            .map_err(|why| format!("MESSAGE {} of {count}: {why}", index + 1))?;
        messages.push(frame);
    }
    Ok(messages)
}

/// The bodies of `messages`, for comparisons.
pub fn bodies(messages: &[Frame]) -> Vec<String> {
    messages.iter().map(body_text).collect()
}

/// The `ack` header of a MESSAGE, required for client acknowledgement.
pub fn ack_id(message: &Frame) -> Result<String, String> {
    message
        .get("ack")
        .map(str::to_owned)
        .ok_or_else(|| "MESSAGE from a client-ack subscription has no ack header".to_owned())
}

/// Subscribes a fresh connection to `queue` (auto ack) and returns the
/// bodies of every message it gets within the quiet period.
pub async fn leftovers(context: &Context, queue: &str) -> Result<Vec<String>, String> {
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, queue, "check", &[])
        .await?;
    let mut found = Vec::new();
    while let Ok(frame) = connection.recv_within(context.quiet()).await {
        found.push(body_text(&frame));
    }
    context.disconnect(&mut connection).await;
    Ok(found)
}

pub async fn auto(context: &Context) -> Outcome {
    let queue = context.queue("ack-auto");
    fill(context, &queue, &["auto"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, &queue, "s1", &[])
        .await?;
    context.expect_message(&mut connection, "auto").await?;
    context.disconnect(&mut connection).await;
    let left = leftovers(context, &queue).await?;
    ensure(left.is_empty(), || {
        format!("an auto-ack message was delivered again: {left:?}")
    })
}

pub async fn client_has_ack_header(context: &Context) -> Outcome {
    let queue = context.queue("ack-header");
    fill(context, &queue, &["needs ack"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, &queue, "s1", &[("ack", "client")])
        .await?;
    let message = context.expect_message(&mut connection, "needs ack").await?;
    let id = ack_id(&message)?;
    let ack = Frame::new(Command::Ack).header("id", id);
    context.send_with_receipt(&mut connection, ack).await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn client_cumulative(context: &Context) -> Outcome {
    let queue = context.queue("ack-client");
    fill(context, &queue, &["1", "2", "3"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, &queue, "s1", &[("ack", "client")])
        .await?;
    let messages = take(&mut connection, 3).await?;
    let third = ack_id(&messages[2])?;
    let ack = Frame::new(Command::Ack).header("id", third);
    context.send_with_receipt(&mut connection, ack).await?;
    context.disconnect(&mut connection).await;
    let left = leftovers(context, &queue).await?;
    ensure(left.is_empty(), || {
        format!("after a client ACK of the 3rd message, {left:?} came back")
    })
}

pub async fn client_individual(context: &Context) -> Outcome {
    let queue = context.queue("ack-individual");
    fill(context, &queue, &["1", "2", "3"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(
            &mut connection,
            &queue,
            "s1",
            &[("ack", "client-individual")],
        )
        .await?;
    let messages = take(&mut connection, 3).await?;
    let third = ack_id(&messages[2])?;
    let ack = Frame::new(Command::Ack).header("id", third);
    context.send_with_receipt(&mut connection, ack).await?;
    context.disconnect(&mut connection).await;
    let mut left = leftovers(context, &queue).await?;
    left.sort();
    ensure(left == ["1", "2"], || {
        format!(
            "after a client-individual ACK of \"3\" only, {left:?} came back (expected 1 and 2)"
        )
    })
}

pub async fn missing_id(context: &Context) -> Outcome {
    let queue = context.queue("ack-no-id");
    fill(context, &queue, &["ack me"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(
            &mut connection,
            &queue,
            "s1",
            &[("ack", "client-individual")],
        )
        .await?;
    let message = context.expect_message(&mut connection, "ack me").await?;
    // 1.1 named the message with message-id and subscription; 1.2 needs id.
    let mut ack = Frame::new(Command::Ack).header("subscription", "s1");
    if let Some(message_id) = message.get("message-id") {
        ack = ack.header("message-id", message_id);
    }
    connection.send(&ack.header("receipt", "no-id")).await?;
    let reply = connection.expect_error_for("ACK without id").await;
    connection.shutdown().await;
    context.drain(&queue).await;
    reply.map(|_| ())
}

pub async fn nack_missing_id(context: &Context) -> Outcome {
    let queue = context.queue("nack-no-id");
    fill(context, &queue, &["nack me"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(
            &mut connection,
            &queue,
            "s1",
            &[("ack", "client-individual")],
        )
        .await?;
    context.expect_message(&mut connection, "nack me").await?;
    let nack = Frame::new(Command::Nack)
        .header("subscription", "s1")
        .header("receipt", "no-id");
    connection.send(&nack).await?;
    let reply = connection.expect_error_for("NACK without id").await;
    connection.shutdown().await;
    context.drain(&queue).await;
    reply.map(|_| ())
}

pub async fn nack_redelivers(context: &Context) -> Outcome {
    let queue = context.queue("nack");
    fill(context, &queue, &["nack me"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(
            &mut connection,
            &queue,
            "s1",
            &[("ack", "client-individual")],
        )
        .await?;
    let message = context.expect_message(&mut connection, "nack me").await?;
    ensure(message.get("redelivered") != Some("true"), || {
        "a first delivery is marked redelivered:true".to_owned()
    })?;
    let nack = Frame::new(Command::Nack).header("id", ack_id(&message)?);
    connection.send(&nack).await?;
    let again = context
        .expect_message(&mut connection, "nack me")
        .await
        .map_err(|why| format!("after NACK: {why}"))?;
    let redelivered = again.get("redelivered");
    let ack = Frame::new(Command::Ack).header("id", ack_id(&again)?);
    connection.send(&ack).await?;
    context.disconnect(&mut connection).await;
    ensure(redelivered == Some("true"), || {
        format!("the redelivery has redelivered:{redelivered:?}, expected true")
    })
}

pub async fn prefetch_count(context: &Context) -> Outcome {
    let queue = context.queue("prefetch");
    fill(context, &queue, &["1", "2", "3"]).await?;
    let mut connection = context.connect().await?;
    let headers = [("ack", "client-individual"), ("prefetch-count", "1")];
    context
        .subscribe(&mut connection, &queue, "s1", &headers)
        .await?;
    let result = async {
        let first = context.expect_message(&mut connection, "1").await?;
        connection
            .expect_silence(context.quiet())
            .await
            .map_err(|why| format!("with prefetch-count:1 and one unacked message: {why}"))?;
        let ack = Frame::new(Command::Ack).header("id", ack_id(&first)?);
        connection.send(&ack).await?;
        let second = context
            .expect_message(&mut connection, "2")
            .await
            .map_err(|why| format!("after the ACK: {why}"))?;
        let ack = Frame::new(Command::Ack).header("id", ack_id(&second)?);
        connection.send(&ack).await?;
        context
            .expect_message(&mut connection, "3")
            .await
            .map(|_| ())
    }
    .await;
    context.disconnect(&mut connection).await;
    context.drain(&queue).await;
    result
}
