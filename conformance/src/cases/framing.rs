//! Frame syntax: line endings, EOLs between frames, frames split over or
//! packed into writes, bodies with and without `content-length`, repeated
//! headers. Frames here are written byte by byte with [`raw_frame`] so the
//! suite's own encoder cannot hide a broker's mistake.

use herald_protocol::Command;

use super::raw_frame;
use crate::context::{ensure, ensure_header, Context, Outcome};

/// A CONNECT frame for this broker written with `eol`.
fn raw_connect(context: &Context, eol: &str) -> Vec<u8> {
    let mut headers = vec![
        ("accept-version", "1.2"),
        ("host", context.config.host.as_str()),
        ("heart-beat", "0,0"),
    ];
    if let Some(login) = &context.config.login {
        headers.push(("login", login.as_str()));
    }
    if let Some(passcode) = &context.config.passcode {
        headers.push(("passcode", passcode.as_str()));
    }
    raw_frame("CONNECT", &headers, b"", eol)
}

/// Connects, subscribes to `topic`, sends one frame with `eol` line endings
/// and checks that the header and body arrive intact.
async fn round_trip_with_eol(context: &Context, eol: &str, label: &str) -> Outcome {
    let mut connection = context.open().await?;
    connection.send_raw(&raw_connect(context, eol)).await?;
    connection.expect(Command::Connected).await?;
    let topic = context.topic(label);
    let subscribe = raw_frame(
        "SUBSCRIBE",
        &[("destination", &topic), ("id", "s1"), ("receipt", "sub")],
        b"",
        eol,
    );
    connection.send_raw(&subscribe).await?;
    connection.expect_receipt("sub").await?;
    let send = raw_frame(
        "SEND",
        &[("destination", &topic), ("x-eol", label)],
        label.as_bytes(),
        eol,
    );
    connection.send_raw(&send).await?;
    let message = context.expect_message(&mut connection, label).await?;
    ensure_header(&message, "destination", &topic)?;
    ensure_header(&message, "x-eol", label)?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn lf_eol(context: &Context) -> Outcome {
    round_trip_with_eol(context, "\n", "lf").await
}

pub async fn crlf_eol(context: &Context) -> Outcome {
    round_trip_with_eol(context, "\r\n", "crlf").await
}

pub async fn eols_between_frames(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("eols");
    connection.send_raw(b"\n").await?;
    connection.send_raw(b"\r\n\n").await?;
    let mut bytes = b"\n\r\n".to_vec();
    bytes.extend(raw_frame(
        "SUBSCRIBE",
        &[("destination", &topic), ("id", "s1"), ("receipt", "sub")],
        b"",
        "\n",
    ));
    bytes.extend_from_slice(b"\n\n\r\n");
    connection.send_raw(&bytes).await?;
    connection.expect_receipt("sub").await?;
    let mut send = raw_frame("SEND", &[("destination", &topic)], b"after eols", "\n");
    send.extend_from_slice(b"\r\n\n");
    connection.send_raw(&send).await?;
    context
        .expect_message(&mut connection, "after eols")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn several_frames_one_write(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("packed");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let mut bytes = Vec::new();
    for body in ["one", "two", "three"] {
        bytes.extend(raw_frame(
            "SEND",
            &[("destination", &topic)],
            body.as_bytes(),
            "\n",
        ));
    }
    bytes.extend(raw_frame(
        "SEND",
        &[("destination", &topic), ("receipt", "last")],
        b"four",
        "\n",
    ));
    connection.send_raw(&bytes).await?;
    connection.expect_receipt("last").await?;
    for body in ["one", "two", "three", "four"] {
        context.expect_message(&mut connection, body).await?;
    }
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn frame_over_several_writes(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("pieces");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let header = format!("{topic}\ncontent-length:11\nreceipt:split\n");
    let parts: [&[u8]; 5] = [
        b"SE",
        b"ND\ndestination:",
        header.as_bytes(),
        b"\nhello ",
        b"world\0",
    ];
    connection.send_parts(&parts).await?;
    connection.expect_receipt("split").await?;
    context
        .expect_message(&mut connection, "hello world")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn content_length_binary_body(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("binary");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let body: Vec<u8> = vec![b'a', 0, b'b', 0, 0, 0xff, 0xfe, b'\n', 0, b'z'];
    let length = body.len().to_string();
    let send = raw_frame(
        "SEND",
        &[
            ("destination", &topic),
            ("content-type", "application/octet-stream"),
            ("content-length", &length),
        ],
        &body,
        "\n",
    );
    connection.send_raw(&send).await?;
    let message = connection.expect(Command::Message).await?;
    ensure(message.body[..] == body[..], || {
        format!("body came back as {:?}, sent {:?}", &message.body[..], body)
    })?;
    if let Some(value) = message.get("content-length") {
        ensure(value == length, || {
            format!("MESSAGE content-length is {value}, body is {length} bytes")
        })?;
    }
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn body_without_content_length(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("to-nul");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = raw_frame(
        "SEND",
        &[("destination", &topic)],
        b"read up to the NUL",
        "\n",
    );
    connection.send_raw(&send).await?;
    context
        .expect_message(&mut connection, "read up to the NUL")
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn repeated_header_first_wins(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("repeated");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = raw_frame(
        "SEND",
        &[
            ("destination", &topic),
            ("x-repeat", "1"),
            ("x-repeat", "2"),
        ],
        b"repeated",
        "\n",
    );
    connection.send_raw(&send).await?;
    let message = context.expect_message(&mut connection, "repeated").await?;
    ensure_header(&message, "x-repeat", "1")?;
    context.disconnect(&mut connection).await;
    Ok(())
}
