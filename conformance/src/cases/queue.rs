//! `/queue` semantics (the de-facto convention of STOMP brokers): messages
//! wait for a consumer, competing consumers share them, a consumer's unacked
//! messages go to another with `redelivered:true` when it leaves, and an
//! acked message is gone for good.

use std::collections::BTreeSet;

use herald_protocol::{Command, Frame};

use super::ack::{ack_id, bodies, fill, leftovers, take};
use crate::context::{body_text, ensure, Context, Outcome};

pub async fn kept_for_later_subscriber(context: &Context) -> Outcome {
    let queue = context.queue("kept");
    fill(context, &queue, &["waited"]).await?;
    let mut connection = context.connect().await?;
    context
        .subscribe(&mut connection, &queue, "s1", &[])
        .await?;
    context
        .expect_message(&mut connection, "waited")
        .await
        .map_err(|why| format!("a message sent before anyone subscribed: {why}"))?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn round_robin(context: &Context) -> Outcome {
    let queue = context.queue("round-robin");
    let mut first = context.connect().await?;
    let mut second = context.connect().await?;
    context.subscribe(&mut first, &queue, "s1", &[]).await?;
    context.subscribe(&mut second, &queue, "s2", &[]).await?;
    fill(context, &queue, &["1", "2", "3", "4"]).await?;
    let mut got = [Vec::new(), Vec::new()];
    for (index, connection) in [&mut first, &mut second].into_iter().enumerate() {
        while let Ok(frame) = connection.recv_within(context.quiet()).await {
            got[index].push(body_text(&frame));
        }
    }
    context.disconnect(&mut first).await;
    context.disconnect(&mut second).await;
    let mut all: Vec<&String> = got.iter().flatten().collect();
    all.sort();
    ensure(all == ["1", "2", "3", "4"], || {
        format!("the two consumers got {got:?}, expected 1-4 once each")
    })?;
    ensure(got[0].len() == 2 && got[1].len() == 2, || {
        format!(
            "4 messages split {} / {} between two consumers, expected 2 / 2: {got:?}",
            got[0].len(),
            got[1].len()
        )
    })
}

pub async fn unacked_redelivered_on_disconnect(context: &Context) -> Outcome {
    let queue = context.queue("redeliver");
    let individual = [("ack", "client-individual")];
    let mut leaving = context.connect().await?;
    context
        .subscribe(&mut leaving, &queue, "s1", &individual)
        .await?;
    fill(context, &queue, &["unacked"]).await?;
    context.expect_message(&mut leaving, "unacked").await?;
    let mut staying = context.connect().await?;
    context
        .subscribe(&mut staying, &queue, "s2", &individual)
        .await?;
    context.disconnect(&mut leaving).await;
    let message = context
        .expect_message(&mut staying, "unacked")
        .await
        .map_err(|why| format!("after its consumer left without ACK: {why}"))?;
    let redelivered = message.get("redelivered");
    let ack = Frame::new(Command::Ack).header("id", ack_id(&message)?);
    context.send_with_receipt(&mut staying, ack).await?;
    context.disconnect(&mut staying).await;
    ensure(redelivered == Some("true"), || {
        format!("the redelivery has redelivered:{redelivered:?}, expected true")
    })
}

pub async fn acked_not_redelivered(context: &Context) -> Outcome {
    let queue = context.queue("acked");
    fill(context, &queue, &["1", "2"]).await?;
    let mut connection = context.connect().await?;
    let individual = [("ack", "client-individual")];
    context
        .subscribe(&mut connection, &queue, "s1", &individual)
        .await?;
    let messages = take(&mut connection, 2).await?;
    let names: BTreeSet<String> = bodies(&messages).into_iter().collect();
    ensure(names.len() == 2, || format!("got {names:?}"))?;
    for message in &messages {
        let ack = Frame::new(Command::Ack).header("id", ack_id(message)?);
        context.send_with_receipt(&mut connection, ack).await?;
    }
    context.disconnect(&mut connection).await;
    let left = leftovers(context, &queue).await?;
    ensure(left.is_empty(), || {
        format!("acknowledged messages came back: {left:?}")
    })
}
