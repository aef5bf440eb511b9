//! Heart-beating: the server sends EOLs at the negotiated interval, closes a
//! client that promised heart-beats and went silent, keeps one that sends
//! them, and sends none when none were asked for.
//!
//! Timing checks are lenient (the spec itself allows for timing error), and
//! intervals above [`LONGEST_CHECKED_MS`] are reported rather than waited
//! out, so these cases stay within a few seconds each.

use std::time::{Duration, Instant};

use herald_protocol::heartbeat::HeartBeat;
use herald_protocol::Frame;

use crate::client::Connection;
use crate::context::{ensure, Context, Outcome};

/// The longest negotiated interval these cases wait out.
const LONGEST_CHECKED_MS: u64 = 2_000;

/// The suite's CONNECT with `heart-beat` set to `value`.
fn connect_with_heart_beat(context: &Context, value: &str) -> Frame {
    let mut frame = context.connect_frame();
    frame.headers.set("heart-beat", value);
    frame
}

/// Connects with `heart-beat: value` and returns the server's heart-beat.
async fn negotiate(context: &Context, value: &str) -> Result<(Connection, HeartBeat), String> {
    let frame = connect_with_heart_beat(context, value);
    let (connection, connected) = context.connect_with(&frame).await?;
    let header = connected.get("heart-beat");
    let server = match header {
        None => HeartBeat::default(),
        Some(text) => HeartBeat::parse(text)
            .ok_or_else(|| format!("CONNECTED heart-beat {text:?} is not \"sx,sy\""))?,
    };
    Ok((connection, server))
}

pub async fn server_sends(context: &Context) -> Outcome {
    let (mut connection, server) = negotiate(context, "0,1000").await?;
    ensure(server.send_ms != 0, || {
        "the server declined to send heart-beats (CONNECTED heart-beat sx is 0)".to_owned()
    })?;
    let interval = server.send_ms.max(1000);
    ensure(interval <= LONGEST_CHECKED_MS, || {
        format!("the server sends heart-beats only every {interval} ms; asked for 1000")
    })?;
    let start = Instant::now();
    let window = Duration::from_millis(interval * 7 / 2);
    let beats = connection.watch_heartbeats(window).await;
    let closed = connection.is_closed();
    connection.shutdown().await;
    ensure(!closed, || "the server closed the connection".to_owned())?;
    ensure(beats.len() >= 2, || {
        format!(
            "{} heart-beats in {window:?}, expected one about every {interval} ms",
            beats.len()
        )
    })?;
    let mut previous = start;
    let longest = beats
        .iter()
        .map(|at| {
            let gap = at.duration_since(previous);
            previous = *at;
            gap
        })
        .max()
        .unwrap_or_default();
    let allowed = Duration::from_millis(interval * 2);
    ensure(longest <= allowed, || {
        format!("{longest:?} between heart-beats, negotiated {interval} ms")
    })
}

pub async fn silent_client_closed(context: &Context) -> Outcome {
    let (mut connection, server) = negotiate(context, "1000,0").await?;
    ensure(server.receive_ms != 0, || {
        "the server does not check client heart-beats (CONNECTED heart-beat sy is 0)".to_owned()
    })?;
    let interval = server.receive_ms.max(1000);
    ensure(interval <= LONGEST_CHECKED_MS, || {
        format!("the server expects heart-beats every {interval} ms; offered 1000")
    })?;
    let start = Instant::now();
    let within = Duration::from_millis(interval * 3) + context.timeout();
    connection
        .expect_closed_within(within)
        .await
        .map_err(|why| format!("a client silent after promising heart-beats: {why}"))?;
    let lasted = start.elapsed();
    ensure(lasted >= Duration::from_millis(interval / 2), || {
        format!("closed after {lasted:?}, before a heart-beat interval ({interval} ms) passed")
    })
}

pub async fn client_eols_keep_alive(context: &Context) -> Outcome {
    let (mut connection, server) = negotiate(context, "500,0").await?;
    let interval = server.receive_ms.max(500);
    ensure(interval <= LONGEST_CHECKED_MS, || {
        format!("the server expects heart-beats every {interval} ms; offered 500")
    })?;
    // Beat twice as often as promised, for longer than three intervals.
    let beat = Duration::from_millis(250);
    let until = Instant::now() + Duration::from_millis((interval * 3).max(2_500));
    while Instant::now() < until {
        connection.send_raw(b"\n").await?;
        connection
            .expect_silence(beat)
            .await
            .map_err(|why| format!("while the client sent heart-beats: {why}"))?;
    }
    let topic = context.topic("kept-alive");
    context
        .subscribe(&mut connection, &topic, "s1", &[])
        .await?;
    context.disconnect(&mut connection).await;
    Ok(())
}

pub async fn none_when_zero(context: &Context) -> Outcome {
    let (mut connection, _) = negotiate(context, "0,0").await?;
    let window = Duration::from_millis(2_000);
    let beats = connection.watch_heartbeats(window).await;
    ensure(!connection.is_closed(), || {
        "the server closed a connection that negotiated no heart-beats".to_owned()
    })?;
    context.disconnect(&mut connection).await;
    ensure(beats.is_empty(), || {
        format!(
            "{} heart-beats in {window:?} after heart-beat:0,0",
            beats.len()
        )
    })?;
    Ok(())
}
