//! Header value encoding (STOMP 1.2 "Value Encoding"): the four escapes
//! round-trip from SEND to MESSAGE, an undefined escape is fatal, and CONNECT
//! headers are taken literally. Escaped bytes are written by hand.

use herald_protocol::Command;

use super::raw_frame;
use crate::client::describe;
use crate::context::{ensure, Context, Outcome};

pub async fn value_round_trip(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("escape-value");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = raw_frame(
        "SEND",
        &[("destination", &topic), ("x-escaped", "a\\rb\\nc\\cd\\\\e")],
        b"escaped",
        "\n",
    );
    connection.send_raw(&send).await?;
    let message = context.expect_message(&mut connection, "escaped").await?;
    let value = message.get("x-escaped");
    ensure(value == Some("a\rb\nc:d\\e"), || {
        format!("x-escaped arrived as {value:?}, expected \"a\\rb\\nc:d\\\\e\"")
    })?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn name_round_trip(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("escape-name");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = raw_frame(
        "SEND",
        &[("destination", &topic), ("x\\cname\\\\x", "named")],
        b"escaped name",
        "\n",
    );
    connection.send_raw(&send).await?;
    let message = context
        .expect_message(&mut connection, "escaped name")
        .await?;
    let value = message.get("x:name\\x");
    ensure(value == Some("named"), || {
        let names: Vec<&str> = message.headers.iter().map(|(name, _)| name).collect();
        format!("no header named \"x:name\\\\x\" in MESSAGE (headers: {names:?})")
    })?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn undefined_escape_error(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("escape-bad");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = raw_frame(
        "SEND",
        &[
            ("destination", &topic),
            ("x-bad", "a\\tb"),
            ("receipt", "bad"),
        ],
        b"bad escape",
        "\n",
    );
    connection.send_raw(&send).await?;
    connection
        .expect_error_for("the undefined escape \\t")
        .await
        .map(|_| ())
}

pub async fn connect_not_unescaped(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    let mut frame = context.connect_frame();
    // A 1.0-style value with backslashes: unescaping it would find `\t`.
    frame.headers.push("x-path", "c:\\temp\\new");
    connection.send(&frame).await?;
    let reply = connection
        .recv()
        .await
        .map_err(|why| format!("expected CONNECTED: {why}"))?;
    ensure(reply.command == Command::Connected, || {
        format!(
            "CONNECT with a literal backslash header got {}",
            describe(&reply)
        )
    })?;
    context.disconnect(&mut connection).await;
    Ok(())
}
