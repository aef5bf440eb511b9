//! ERROR semantics: a `message` header, `receipt-id` when the bad frame
//! asked for a receipt, the connection closed afterwards, and the frames that
//! must be refused (SEND without destination, unknown and lowercase
//! commands).

use herald_protocol::{Command, Frame};

use super::raw_frame;
use crate::client::Connection;
use crate::context::{ensure, Context, Outcome};

/// A connected session that has just sent SEND without a destination and a
/// `receipt: bad-send`.
async fn provoke(context: &Context) -> Result<Connection, String> {
    let mut connection = context.connect().await?;
    let frame = Frame::new(Command::Send)
        .header("receipt", "bad-send")
        .body(&b"to nowhere"[..]);
    connection.send(&frame).await?;
    Ok(connection)
}

pub async fn message_header(context: &Context) -> Outcome {
    let mut connection = provoke(context).await?;
    let error = connection
        .expect_error_for("SEND without destination")
        .await?;
    let message = error.get("message").unwrap_or("");
    ensure(!message.is_empty(), || {
        "the ERROR has no message header".to_owned()
    })
}

pub async fn receipt_id(context: &Context) -> Outcome {
    let mut connection = provoke(context).await?;
    let error = connection
        .expect_error_for("SEND without destination")
        .await?;
    let receipt_id = error.get("receipt-id");
    ensure(receipt_id == Some("bad-send"), || {
        format!("the ERROR has receipt-id {receipt_id:?}, the bad frame had receipt:bad-send")
    })
}

pub async fn then_close(context: &Context) -> Outcome {
    let mut connection = provoke(context).await?;
    connection
        .expect_error_for("SEND without destination")
        .await?;
    connection
        .expect_closed()
        .await
        .map(|_| ())
        .map_err(|why| format!("after the ERROR: {why}"))
}

pub async fn send_without_destination(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let frame = Frame::new(Command::Send).body(&b"to nowhere"[..]);
    connection.send(&frame).await?;
    connection
        .expect_error_for("SEND without destination")
        .await
        .map(|_| ())
}

pub async fn unknown_command(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let frame = raw_frame("FOO", &[("receipt", "foo")], b"", "\n");
    connection.send_raw(&frame).await?;
    connection.expect_error_for("command FOO").await.map(|_| ())
}

pub async fn lowercase_command(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("lowercase");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let frame = raw_frame(
        "send",
        &[("destination", &topic), ("receipt", "lower")],
        b"lowercase",
        "\n",
    );
    connection.send_raw(&frame).await?;
    connection
        .expect_error_for("command send (lowercase)")
        .await
        .map(|_| ())
}
