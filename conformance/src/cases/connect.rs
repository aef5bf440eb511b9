//! Connecting: version negotiation, the STOMP command, what CONNECTED
//! carries, and the refusals (no common version, frames before CONNECT, bad
//! credentials), each of which must be an ERROR followed by a close.

use herald_protocol::heartbeat::HeartBeat;
use herald_protocol::{Command, Frame};

use crate::context::{ensure, ensure_header, Context, Outcome};

/// The suite's CONNECT with `accept-version` replaced (or removed when `None`).
fn connect_accepting(context: &Context, accept: Option<&str>) -> Frame {
    let mut frame = context.connect_frame();
    frame.headers.remove("accept-version");
    if let Some(versions) = accept {
        frame.headers.push("accept-version", versions);
    }
    frame
}

pub async fn version_negotiation(context: &Context) -> Outcome {
    let frame = connect_accepting(context, Some("1.0,1.1,1.2"));
    let (mut connection, connected) = context.connect_with(&frame).await?;
    ensure_header(&connected, "version", "1.2")?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn no_accept_version(context: &Context) -> Outcome {
    let frame = connect_accepting(context, None);
    let (mut connection, connected) = context.connect_with(&frame).await?;
    let version = connected.get("version");
    ensure(matches!(version, None | Some("1.0")), || {
        format!("a CONNECT without accept-version got version {version:?}, expected 1.0")
    })?;
    connection.shutdown().await;
    Ok(())
}

pub async fn unsupported_version(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    connection
        .send(&connect_accepting(context, Some("9.9")))
        .await?;
    let error = connection.expect_error_then_closed().await?;
    ensure(error.get("version").is_some(), || {
        "the ERROR has no version header listing the supported versions".to_owned()
    })
}

pub async fn stomp_command(context: &Context) -> Outcome {
    let mut frame = context.connect_frame();
    frame.command = Command::Stomp;
    let (mut connection, connected) = context.connect_with(&frame).await?;
    ensure_header(&connected, "version", "1.2")?;
    // The session works like any other.
    let topic = context.topic("stomp-command");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn connected_version_heart_beat(context: &Context) -> Outcome {
    let (mut connection, connected) = context.connect_with(&context.connect_frame()).await?;
    ensure_header(&connected, "version", "1.2")?;
    let heart_beat = connected.get("heart-beat");
    ensure(heart_beat.and_then(HeartBeat::parse).is_some(), || {
        format!("CONNECTED heart-beat is {heart_beat:?}, expected \"sx,sy\"")
    })?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn connected_session_server(context: &Context) -> Outcome {
    let (mut connection, connected) = context.connect_with(&context.connect_frame()).await?;
    let missing: Vec<&str> = ["session", "server"]
        .into_iter()
        .filter(|name| connected.get(name).is_none())
        .collect();
    context.disconnect(&mut connection).await;
    ensure(missing.is_empty(), || {
        format!("CONNECTED lacks {}", missing.join(" and "))
    })
}

pub async fn frame_before_connect(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    let frame = Frame::new(Command::Send)
        .header("destination", context.topic("too-early"))
        .body(&b"before CONNECT"[..]);
    connection.send(&frame).await?;
    connection.expect_error_then_closed().await.map(|_| ())
}

pub async fn bad_passcode(context: &Context) -> Outcome {
    let mut connection = context.open().await?;
    let mut frame = context.connect_frame();
    frame.headers.remove("login");
    frame.headers.remove("passcode");
    let login = context.config.login.as_deref().unwrap_or("guest");
    frame.headers.push("login", login);
    frame
        .headers
        .push("passcode", "herald-conformance-wrong-passcode");
    connection.send(&frame).await?;
    connection
        .expect_error_for(&format!("a wrong passcode for {login:?}"))
        .await?;
    connection
        .expect_closed()
        .await
        .map(|_| ())
        .map_err(|why| format!("ERROR received, but then {why}"))
}
