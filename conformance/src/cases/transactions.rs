//! Transactions: SENDs and ACKs in a transaction take effect at COMMIT, are
//! dropped by ABORT and by a DISCONNECT that leaves the transaction open;
//! COMMIT of an unknown transaction, a second BEGIN and a BEGIN without its
//! header are errors.
//!
//! To show that a transactional SEND has not been delivered yet without
//! waiting on a timer alone, a plain "marker" SEND follows it on the same
//! connection: the subscriber must see the marker and nothing before it.

use herald_protocol::{Command, Frame};

use super::ack::{ack_id, fill, leftovers};
use crate::client::Connection;
use crate::context::{ensure, Context, Outcome};

fn begin(transaction: &str) -> Frame {
    Frame::new(Command::Begin).header("transaction", transaction)
}

fn commit(transaction: &str) -> Frame {
    Frame::new(Command::Commit).header("transaction", transaction)
}

fn abort(transaction: &str) -> Frame {
    Frame::new(Command::Abort).header("transaction", transaction)
}

fn send_in(transaction: &str, destination: &str, body: &str) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .header("transaction", transaction)
        .body(body.as_bytes().to_vec())
}

/// A connection subscribed to a fresh topic, and that topic.
async fn subscriber(context: &Context, label: &str) -> Result<(Connection, String), String> {
    let topic = context.topic(label);
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    Ok((connection, topic))
}

pub async fn send_at_commit(context: &Context) -> Outcome {
    let (mut receiver, topic) = subscriber(context, "tx-commit").await?;
    let mut sender = context.connect().await?;
    context.send_with_receipt(&mut sender, begin("t1")).await?;
    sender.send(&send_in("t1", &topic, "in tx")).await?;
    context
        .send_text(&mut sender, &topic, "marker", &[])
        .await?;
    context
        .expect_message(&mut receiver, "marker")
        .await
        .map_err(|why| format!("before COMMIT: {why}"))?;
    receiver.expect_silence(context.quiet()).await?;
    context.send_with_receipt(&mut sender, commit("t1")).await?;
    context
        .expect_message(&mut receiver, "in tx")
        .await
        .map_err(|why| format!("after COMMIT: {why}"))?;
    context.disconnect(&mut sender).await;
    context.disconnect(&mut receiver).await;
    Ok(())
}

pub async fn abort_discards(context: &Context) -> Outcome {
    let (mut receiver, topic) = subscriber(context, "tx-abort").await?;
    let mut sender = context.connect().await?;
    context.send_with_receipt(&mut sender, begin("t1")).await?;
    sender.send(&send_in("t1", &topic, "aborted")).await?;
    context.send_with_receipt(&mut sender, abort("t1")).await?;
    context
        .send_text(&mut sender, &topic, "marker", &[])
        .await?;
    context.expect_message(&mut receiver, "marker").await?;
    receiver
        .expect_silence(context.quiet())
        .await
        .map_err(|why| format!("after ABORT: {why}"))?;
    context.disconnect(&mut sender).await;
    context.disconnect(&mut receiver).await;
    Ok(())
}

/// Takes the one message on `queue` with client-individual ack, ACKs it in
/// a transaction, ends the transaction with `end`, and disconnects.
async fn ack_in_transaction(context: &Context, queue: &str, body: &str, end: Frame) -> Outcome {
    let mut connection = context.connect().await?;
    let individual = [("ack", "client-individual")];
    context
        .subscribe(&mut connection, queue, "s1", &individual)
        .await?;
    let message = context.expect_message(&mut connection, body).await?;
    context
        .send_with_receipt(&mut connection, begin("t1"))
        .await?;
    let ack = Frame::new(Command::Ack)
        .header("id", ack_id(&message)?)
        .header("transaction", "t1");
    connection.send(&ack).await?;
    context.send_with_receipt(&mut connection, end).await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn ack_at_commit(context: &Context) -> Outcome {
    let queue = context.queue("tx-ack");
    fill(context, &queue, &["ack in tx"]).await?;
    ack_in_transaction(context, &queue, "ack in tx", abort("t1")).await?;
    // The aborted ACK never happened: the message is still on the queue.
    ack_in_transaction(context, &queue, "ack in tx", commit("t1"))
        .await
        .map_err(|why| format!("after an ACK in an aborted transaction: {why}"))?;
    let left = leftovers(context, &queue).await?;
    ensure(left.is_empty(), || {
        format!("after an ACK in a committed transaction, {left:?} came back")
    })
}

pub async fn commit_unknown(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    connection.send(&commit("never-begun")).await?;
    connection
        .expect_error_for("COMMIT of a transaction never begun")
        .await
        .map(|_| ())
}

pub async fn begin_twice(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    context
        .send_with_receipt(&mut connection, begin("t1"))
        .await?;
    connection.send(&begin("t1")).await?;
    connection
        .expect_error_for("a second BEGIN of t1")
        .await
        .map(|_| ())
}

pub async fn begin_without_transaction(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    connection.send(&Frame::new(Command::Begin)).await?;
    connection
        .expect_error_for("BEGIN without transaction")
        .await
        .map(|_| ())
}

pub async fn open_at_disconnect(context: &Context) -> Outcome {
    let (mut receiver, topic) = subscriber(context, "tx-disconnect").await?;
    let mut sender = context.connect().await?;
    context.send_with_receipt(&mut sender, begin("t1")).await?;
    sender.send(&send_in("t1", &topic, "orphan")).await?;
    let receipt = sender.receipt_id();
    sender
        .send(&Frame::new(Command::Disconnect).header("receipt", receipt.clone()))
        .await?;
    // Whether or not the broker sends the RECEIPT before closing (another
    // case checks that), the DISCONNECT has been handled once either comes.
    if sender.expect_receipt(&receipt).await.is_err() && !sender.is_closed() {
        return Err("DISCONNECT got neither a RECEIPT nor a close".to_owned());
    }
    sender.shutdown().await;
    receiver
        .expect_silence(context.quiet())
        .await
        .map_err(|why| format!("after DISCONNECT with t1 open: {why}"))?;
    context.disconnect(&mut receiver).await;
    Ok(())
}
