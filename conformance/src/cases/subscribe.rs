//! SUBSCRIBE, UNSUBSCRIBE and what a MESSAGE carries: the required `id`, the
//! headers the server sets, user headers passed through, one MESSAGE per
//! matching subscription, and silence after UNSUBSCRIBE.

use herald_protocol::{Command, Frame};

use crate::context::{ensure, ensure_header, Context, Outcome};

pub async fn missing_id(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let frame = Frame::new(Command::Subscribe)
        .header("destination", context.topic("no-id"))
        .header("receipt", "no-id");
    connection.send(&frame).await?;
    connection
        .expect_error_for("SUBSCRIBE without id")
        .await
        .map(|_| ())
}

pub async fn unsubscribe_missing_id(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("unsubscribe-no-id");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let frame = Frame::new(Command::Unsubscribe)
        .header("destination", topic)
        .header("receipt", "no-id");
    connection.send(&frame).await?;
    connection
        .expect_error_for("UNSUBSCRIBE without id")
        .await
        .map(|_| ())
}

pub async fn message_headers(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("headers");
    context
        .subscribe(&mut connection, &topic, "sub-42", &[])
        .await?;
    let body = "hello headers";
    let send = Frame::new(Command::Send)
        .header("destination", topic.clone())
        .header("content-type", "text/plain")
        .body(body.as_bytes().to_vec());
    connection.send(&send).await?;
    let message = context.expect_message(&mut connection, body).await?;
    ensure_header(&message, "destination", &topic)?;
    ensure_header(&message, "subscription", "sub-42")?;
    ensure_header(&message, "content-type", "text/plain")?;
    ensure_header(&message, "content-length", &body.len().to_string())?;
    let message_id = message.get("message-id").unwrap_or("");
    ensure(!message_id.is_empty(), || {
        "MESSAGE has no message-id".to_owned()
    })?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn user_headers_pass_through(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("user-headers");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let send = Frame::new(Command::Send)
        .header("destination", topic.clone())
        .header("x-herald-plain", "1")
        .header("x-herald-spaced", " two  words ")
        .header("x-herald-unicode", "h\u{e9}ra\u{ef}d \u{2713}")
        .body(&b"user headers"[..]);
    connection.send(&send).await?;
    let message = context
        .expect_message(&mut connection, "user headers")
        .await?;
    ensure_header(&message, "x-herald-plain", "1")?;
    ensure_header(&message, "x-herald-spaced", " two  words ")?;
    ensure_header(&message, "x-herald-unicode", "h\u{e9}ra\u{ef}d \u{2713}")?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn server_assigns_message_id(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("forged-id");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    let forged = "client-chosen-message-id";
    for body in ["first", "second"] {
        let send = Frame::new(Command::Send)
            .header("destination", topic.clone())
            .header("message-id", forged)
            .body(body.as_bytes().to_vec());
        connection.send(&send).await?;
    }
    let first = context.expect_message(&mut connection, "first").await?;
    let second = context.expect_message(&mut connection, "second").await?;
    context.disconnect(&mut connection).await;
    let ids = [first.get("message-id"), second.get("message-id")];
    ensure(ids.iter().all(|id| *id != Some(forged)), || {
        format!("MESSAGE carries the client's message-id {forged:?}")
    })?;
    ensure(ids[0] != ids[1], || {
        format!("two MESSAGEs share message-id {:?}", ids[0])
    })
}

pub async fn two_subscriptions(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("two-subs");
    context.subscribe(&mut connection, &topic, "a", &[]).await?;
    context.subscribe(&mut connection, &topic, "b", &[]).await?;
    let send = Frame::new(Command::Send)
        .header("destination", topic.clone())
        .body(&b"twice"[..]);
    connection.send(&send).await?;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let message = context.expect_message(&mut connection, "twice").await?;
        seen.push(message.get("subscription").unwrap_or("").to_owned());
    }
    seen.sort();
    ensure(seen == ["a", "b"], || {
        format!("MESSAGE subscription headers were {seen:?}, expected a and b")
    })?;
    connection.expect_silence(context.quiet()).await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn unsubscribe_stops_delivery(context: &Context) -> Outcome {
    let mut connection = context.connect().await?;
    let topic = context.topic("unsubscribe");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    context
        .send_text(&mut connection, &topic, "before", &[])
        .await?;
    context.expect_message(&mut connection, "before").await?;
    let unsubscribe = Frame::new(Command::Unsubscribe).header("id", "s1");
    context
        .send_with_receipt(&mut connection, unsubscribe)
        .await?;
    context
        .send_text(&mut connection, &topic, "after", &[])
        .await?;
    connection
        .expect_silence(context.quiet())
        .await
        .map_err(|why| format!("after UNSUBSCRIBE: {why}"))?;
    context.disconnect(&mut connection).await;
    Ok(())
}
