//! Receipts: every client frame with a `receipt` header gets a RECEIPT whose
//! `receipt-id` matches, and DISCONNECT with a receipt gets it before the
//! server closes.

use herald_protocol::{Command, Frame};

use super::ack::{ack_id, fill};
use crate::context::{Context, Outcome};

pub async fn send(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("receipt-send");
    context
        .send_text(&mut connection, &topic, "receipted", &[])
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn subscribe(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("receipt-subscribe");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn unsubscribe(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("receipt-unsubscribe");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let frame = Frame::new(Command::Unsubscribe).header("id", "s1");
    context.send_with_receipt(&mut connection, frame).await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn ack_nack(context: &Context) -> Outcome {
    let queue = context.queue("receipt-ack");
    fill(context, &queue, &["nack then ack"]).await?;
    let mut connection = context.connect().await?;
    let individual = [("ack", "client-individual")];
    context
        .subscribe(&mut connection, &queue, "s1", &individual)
        .await?;
    let message = context
        .expect_message(&mut connection, "nack then ack")
        .await?;
    let nack = Frame::new(Command::Nack).header("id", ack_id(&message)?);
    context.send_with_receipt(&mut connection, nack).await?;
    let again = context
        .expect_message(&mut connection, "nack then ack")
        .await?;
    let ack = Frame::new(Command::Ack).header("id", ack_id(&again)?);
    context.send_with_receipt(&mut connection, ack).await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn begin_commit_abort(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    for (command, transaction) in [
        (Command::Begin, "t1"),
        (Command::Commit, "t1"),
        (Command::Begin, "t2"),
        (Command::Abort, "t2"),
    ] {
        let frame = Frame::new(command).header("transaction", transaction);
        context.send_with_receipt(&mut connection, frame).await?;
    }
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn disconnect(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let frame = Frame::new(Command::Disconnect).header("receipt", "bye-77");
    connection.send(&frame).await?;
    connection.expect_receipt("bye-77").await?;
    connection
        .expect_closed()
        .await
        .map(|_| ())
        .map_err(|why| format!("RECEIPT for DISCONNECT received, but then {why}"))
}
