//! Bad input never disturbs anyone else: garbage, truncated, oversize, badly
//! escaped and unknown frames, sent on many connections at once, each get an
//! ERROR and a close, while a bystander keeps chatting and the broker keeps
//! accepting.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{expect, guest, TestBroker};
use futures_util::{SinkExt, StreamExt};
use herald_protocol::{Command, Decoder, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const CONNECT: &[u8] = b"CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0";

/// Each bad input, after a valid CONNECT.
fn bad_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut many_headers = b"SEND\ndestination:/topic/x\n".to_vec();
    for i in 0..500 {
        many_headers.extend_from_slice(format!("h{i}:v\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\n\0");
    let mut long_header = b"SEND\ndestination:/topic/x\nh:".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 100_000));
    long_header.extend_from_slice(b"\n\n\0");
    let mut oversize = b"SEND\ndestination:/topic/x\ncontent-length:3000000\n\n".to_vec();
    oversize.extend(std::iter::repeat_n(b'z', 3_000_000));
    oversize.extend_from_slice(b"\0");
    vec![
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\0".to_vec(),
        ),
        ("unknown command", b"FOO\n\n\0".to_vec()),
        (
            "lowercase command",
            b"send\ndestination:/topic/x\n\nhi\0".to_vec(),
        ),
        (
            "bad escape",
            b"SEND\ndestination:/topic/x\nh:a\\tb\n\nhi\0".to_vec(),
        ),
        (
            "header without colon",
            b"SEND\ndestination:/topic/x\nnocolon\n\nhi\0".to_vec(),
        ),
        (
            "non-utf8 header",
            b"SEND\ndestination:/topic/x\nh:\xff\xfe\n\nhi\0".to_vec(),
        ),
        (
            "bad content-length",
            b"SEND\ndestination:/topic/x\ncontent-length:abc\n\nhi\0".to_vec(),
        ),
        (
            "content-length without NUL",
            b"SEND\ndestination:/topic/x\ncontent-length:1\n\nhi\0".to_vec(),
        ),
        ("too many headers", many_headers),
        ("header line too long", long_header),
        ("oversize body", oversize),
        (
            "unknown destination",
            b"SEND\ndestination:/exchange/x\n\nhi\0".to_vec(),
        ),
        ("missing destination", b"SEND\n\nhi\0".to_vec()),
        (
            "body on SUBSCRIBE",
            b"SUBSCRIBE\nid:1\ndestination:/topic/x\n\nbody\0".to_vec(),
        ),
        (
            "server frame",
            b"MESSAGE\ndestination:/topic/x\n\n\0".to_vec(),
        ),
        ("second CONNECT", CONNECT.to_vec()),
        ("unknown ack", b"ACK\nid:nope\n\n\0".to_vec()),
        (
            "commit unknown tx",
            b"COMMIT\ntransaction:t9\n\n\0".to_vec(),
        ),
    ]
}

/// Decodes every whole frame in `buffer`.
fn decode_all(decoder: &mut Decoder, buffer: &mut BytesMut, frames: &mut Vec<Frame>) {
    while let Ok(Some(frame)) = decoder.decode(buffer) {
        frames.push(frame);
    }
}

/// Sends CONNECT then `input` over TCP; returns what the broker sent until
/// it closed.
async fn tcp_exchange(addr: std::net::SocketAddr, input: Vec<u8>) -> Vec<Frame> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(CONNECT).await.unwrap();
    // Writing may fail part-way once the broker refuses and closes; what
    // matters is what it answered.
    let _ = stream.write_all(&input).await;
    let (mut decoder, mut buffer, mut frames) =
        (Decoder::new(Limits::default()), BytesMut::new(), Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read_buf(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => decode_all(&mut decoder, &mut buffer, &mut frames),
            Err(_) => panic!("broker did not close the connection"),
        }
    }
    decode_all(&mut decoder, &mut buffer, &mut frames);
    frames
}

/// The same over WebSocket.
async fn ws_exchange(url: &url::Url, input: Vec<u8>) -> Vec<Frame> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    socket
        .send(Message::Binary(Bytes::from_static(CONNECT)))
        .await
        .unwrap();
    let _ = socket.send(Message::Binary(Bytes::from(input))).await;
    let (mut decoder, mut buffer, mut frames) =
        (Decoder::new(Limits::default()), BytesMut::new(), Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Binary(data)))) => buffer.extend_from_slice(&data),
            Ok(Some(Ok(Message::Text(text)))) => buffer.extend_from_slice(text.as_bytes()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("broker did not close the websocket"),
        }
        decode_all(&mut decoder, &mut buffer, &mut frames);
    }
    decode_all(&mut decoder, &mut buffer, &mut frames);
    frames
}

fn assert_refused(case: &str, transport: &str, frames: &[Frame]) {
    assert_eq!(
        frames.first().map(|f| f.command),
        Some(Command::Connected),
        "{transport} {case}: {frames:?}"
    );
    let error = frames
        .iter()
        .find(|f| f.command == Command::Error)
        .unwrap_or_else(|| panic!("{transport} {case}: no ERROR in {frames:?}"));
    assert!(
        error.get("message").is_some_and(|m| !m.is_empty()),
        "{transport} {case}: ERROR without message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_on_many_connections_get_error_and_close_without_harm() {
    let broker = TestBroker::start().await;
    let ws_url = broker.ws_url();
    let tcp_addr = broker.server.stomp_addr.unwrap();

    // A bystander subscribed throughout, and a sender it hears from.
    let mut bystander = guest(&ws_url).await;
    bystander
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("id", "b")
                .header("destination", "/topic/bystander"),
            "sub",
        )
        .await
        .unwrap();
    let mut sender = guest(&broker.tcp_url()).await;

    let mut attacks = Vec::new();
    for round in 0..3 {
        for (case, input) in bad_inputs() {
            let url = ws_url.clone();
            let ws_input = input.clone();
            attacks.push(tokio::spawn(async move {
                assert_refused(case, "tcp", &tcp_exchange(tcp_addr, input).await);
                assert_refused(case, "ws", &ws_exchange(&url, ws_input).await);
                round
            }));
        }
        // Truncated frames: the client vanishes mid-frame.
        attacks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(tcp_addr).await.unwrap();
            stream.write_all(CONNECT).await.unwrap();
            stream
                .write_all(b"SEND\ndestination:/topic/x\ncontent-length:100\n\nonly a bit")
                .await
                .unwrap();
            drop(stream);
            round
        }));
        for n in 0..20 {
            sender
                .send(
                    &Frame::new(Command::Send)
                        .header("destination", "/topic/bystander")
                        .body(format!("{round}-{n}")),
                )
                .await
                .unwrap();
        }
    }
    for attack in attacks {
        attack.await.expect("attack task");
    }
    for round in 0..3 {
        for n in 0..20 {
            let frame = expect(&mut bystander, Command::Message).await;
            assert_eq!(
                frame.body,
                Bytes::from(format!("{round}-{n}")),
                "bystander lost or reordered a message"
            );
        }
    }
    // The broker still accepts and serves new connections.
    let mut late = guest(&broker.tcp_url()).await;
    late.send_with_receipt(
        Frame::new(Command::Send)
            .header("destination", "/queue/still-up")
            .body("ok"),
        "r",
    )
    .await
    .unwrap();
    let cases = bad_inputs().len() as u64;
    assert!(
        broker.metric("error_frames_total") >= cases * 2 * 3,
        "every bad frame was answered with ERROR"
    );
}

#[tokio::test]
async fn silent_client_is_closed_after_connect_timeout() {
    let broker = TestBroker::start_with(|config| config.stomp.connect_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(broker.server.stomp_addr.unwrap())
        .await
        .unwrap();
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the broker kept a silent connection open");
    assert!(
        received.starts_with(b"ERROR\n"),
        "expected an ERROR, got {:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_disconnected_and_others_keep_receiving() {
    let broker = TestBroker::start_with(|config| config.stomp.outbound_queue = 8).await;
    let addr = broker.server.stomp_addr.unwrap();
    // The slow one subscribes and then never reads its socket.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(CONNECT).await.unwrap();
    slow.write_all(b"SUBSCRIBE\nid:1\ndestination:/topic/firehose\nreceipt:s\n\n\0")
        .await
        .unwrap();
    let mut healthy = guest(&broker.ws_url()).await;
    healthy
        .send_with_receipt(
            Frame::new(Command::Subscribe)
                .header("id", "h")
                .header("destination", "/topic/firehose"),
            "sub",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sender = guest(&broker.tcp_url()).await;
    let body = Bytes::from(vec![b'x'; 256 * 1024]);
    let count = 200;
    let reader = tokio::spawn(async move {
        for _ in 0..count {
            expect(&mut healthy, Command::Message).await;
        }
    });
    for _ in 0..count {
        sender
            .send(
                &Frame::new(Command::Send)
                    .header("destination", "/topic/firehose")
                    .body(body.clone()),
            )
            .await
            .unwrap();
        // Let the healthy reader keep up with its own bounded queue.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    reader
        .await
        .expect("the healthy subscriber got every message");
    assert!(broker.metric("slow_consumer_disconnects_total") >= 1);
    drop(slow);
}

#[tokio::test]
async fn shutdown_tells_sessions_and_closes_them() {
    let broker = TestBroker::start().await;
    let mut client = guest(&broker.ws_url()).await;
    let TestBroker {
        server,
        data: _data,
    } = broker;
    let shutdown = tokio::spawn(server.shutdown());
    let error = expect(&mut client, Command::Error).await;
    assert_eq!(error.get("message"), Some("broker shutting down"));
    assert!(matches!(
        client.receive_timeout(Duration::from_secs(5)).await,
        Err(herald::client::ClientError::Closed) | Err(herald::client::ClientError::Io(_))
    ));
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown finishes")
        .unwrap();
}

/// A masked client WebSocket frame, written by hand so the payload can be
/// anything (a library would refuse to send invalid UTF-8 as text).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let mask = [1u8, 2, 3, 4];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test]
async fn invalid_utf8_text_message_gets_error_and_close_1007() {
    let broker = TestBroker::start().await;
    let mut stream = TcpStream::connect(broker.server.http_addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n",
        broker.server.http_addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(&client_frame(0x1, CONNECT)).await.unwrap();
    stream
        .write_all(&client_frame(
            0x1,
            b"SEND\ndestination:/topic/x\n\n\xff\xfe\0",
        ))
        .await
        .unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the broker closes")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("CONNECTED\n"), "{text}");
    assert!(text.contains("ERROR\n"), "{text}");
    assert!(text.contains("not valid UTF-8"), "{text}");
    // The close frame: opcode 8, then the status code 1007 (0x03EF).
    let close = received
        .windows(4)
        .any(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xEF);
    assert!(close, "no close frame with code 1007 in {received:?}");
}
