//! STOMP over WebSocket: the subprotocol answer, frames that span several
//! WebSocket messages, several frames in one message, and frames in binary
//! messages. These run only against `ws://` URLs.

use herald_protocol::Command;

use super::raw_frame;
use crate::context::{ensure, Context, Outcome};
use crate::transport::SUBPROTOCOLS;

pub async fn subprotocol(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    let chosen = connection.subprotocol().map(str::to_owned);
    connection.send(&context.connect_frame()).await?;
    connection.expect(Command::Connected).await?;
    context.disconnect(&mut connection).await;
    let chosen = chosen.ok_or("the handshake answer has no Sec-WebSocket-Protocol")?;
    ensure(SUBPROTOCOLS.contains(&chosen.as_str()), || {
        format!("the server chose subprotocol {chosen:?}, offered {SUBPROTOCOLS:?}")
    })
}

pub async fn frame_over_several_messages(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("ws-split");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let frame = raw_frame(
        "SEND",
        &[("destination", &topic), ("receipt", "split")],
        b"split over messages",
        "\n",
    );
    let (head, rest) = frame.split_at(3);
    let (middle, tail) = rest.split_at(rest.len() - 6);
    connection.send_parts(&[head, middle, tail]).await?;
    connection.expect_receipt("split").await?;
    context
        .expect_message(&mut connection, "split over messages")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn several_frames_one_message(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("ws-packed");
    let mut bytes = raw_frame(
        "SUBSCRIBE",
        &[("destination", &topic), ("id", "s1"), ("receipt", "sub")],
        b"",
        "\n",
    );
    bytes.extend(raw_frame("SEND", &[("destination", &topic)], b"a", "\n"));
    bytes.extend(raw_frame(
        "SEND",
        &[("destination", &topic), ("receipt", "b")],
        b"b",
        "\n",
    ));
    connection.send_raw(&bytes).await?;
    connection.expect_receipt("sub").await?;
    connection.expect_receipt("b").await?;
    context.expect_message(&mut connection, "a").await?;
    context.expect_message(&mut connection, "b").await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn binary_message(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    let connect = herald_protocol::encode_to_vec(&context.connect_frame(), true);
    connection.send_binary(&connect).await?;
    connection.expect(Command::Connected).await?;
    let topic = context.topic("ws-binary");
    let subscribe = raw_frame(
        "SUBSCRIBE",
        &[("destination", &topic), ("id", "s1"), ("receipt", "sub")],
        b"",
        "\n",
    );
    connection.send_binary(&subscribe).await?;
    connection.expect_receipt("sub").await?;
    let send = raw_frame("SEND", &[("destination", &topic)], b"binary message", "\n");
    connection.send_binary(&send).await?;
    context
        .expect_message(&mut connection, "binary message")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}
