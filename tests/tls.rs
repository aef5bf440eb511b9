//! TLS listeners through real TLS: a throwaway CA made with rcgen signs the
//! broker's certificate, and clients that trust only that CA speak STOMP
//! over TLS and STOMP over `wss://`; reloading swaps the certificate for
//! new connections.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use herald_protocol::{Command, Decoder, Frame, Limits};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A CA and a `localhost` certificate it signed, written as PEM files.
struct Pki {
    ca: CertificateDer<'static>,
}

impl Pki {
    /// Makes a fresh CA and leaf, and writes the leaf's chain and key.
    fn write(cert_file: &Path, key_file: &Path) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        std::fs::write(cert_file, leaf.pem()).unwrap();
        std::fs::write(key_file, leaf_key.serialize_pem()).unwrap();
        Pki {
            ca: ca.der().clone(),
        }
    }

    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(TIMEOUT, self.connector().connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
    }
}

struct TlsBroker {
    broker: TestBroker,
    pki: Pki,
    cert_file: PathBuf,
    key_file: PathBuf,
    _files: tempfile::TempDir,
}

async fn start() -> TlsBroker {
    let files = tempfile::tempdir().unwrap();
    let cert_file = files.path().join("cert.pem");
    let key_file = files.path().join("key.pem");
    let pki = Pki::write(&cert_file, &key_file);
    let broker = TestBroker::start_with(|config| {
        config.tls.cert_file = cert_file.display().to_string();
        config.tls.key_file = key_file.display().to_string();
        config.tls.wss_listen = Some("127.0.0.1:0".parse().unwrap());
        config.tls.stomps_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    TlsBroker {
        broker,
        pki,
        cert_file,
        key_file,
        _files: files,
    }
}

/// Reads frames from a byte stream, skipping heart-beat EOLs.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut Decoder,
    buffer: &mut BytesMut,
) -> Frame {
    loop {
        if let Some(frame) = decoder.decode(buffer).expect("valid frame") {
            return frame;
        }
        let read = tokio::time::timeout(TIMEOUT, stream.read_buf(buffer))
            .await
            .expect("a frame in time")
            .unwrap();
        assert!(read > 0, "connection closed");
    }
}

/// CONNECT, SUBSCRIBE, SEND with a receipt: the RECEIPT and the MESSAGE
/// come back over the same TLS stream.
async fn stomp_round_trip<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let mut decoder = Decoder::new(Limits::default());
    let mut buffer = BytesMut::new();
    stream
        .write_all(
            b"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:guest\npasscode:guest\n\n\0",
        )
        .await
        .unwrap();
    let connected = read_frame(stream, &mut decoder, &mut buffer).await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    stream
        .write_all(
            b"SUBSCRIBE\nid:0\ndestination:/topic/tls\nreceipt:s\n\n\0\
              SEND\ndestination:/topic/tls\nreceipt:r1\n\nover tls\0",
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = read_frame(stream, &mut decoder, &mut buffer).await;
        assert_ne!(frame.command, Command::Error, "{frame:?}");
        seen.push(frame);
    }
    assert!(seen
        .iter()
        .any(|f| f.command == Command::Receipt && f.get("receipt-id") == Some("r1")));
    let message = seen
        .iter()
        .find(|f| f.command == Command::Message)
        .expect("MESSAGE");
    assert_eq!(&message.body[..], b"over tls");
}

#[tokio::test]
async fn stomp_over_tls_round_trip() {
    let tls = start().await;
    let addr = tls.broker.server.stomps_addr.expect("stomps listener");
    let mut stream = tls.pki.connect(addr).await.expect("TLS handshake");
    stomp_round_trip(&mut stream).await;
    assert!(tls.broker.metric("tls_connections_total") >= 1);
}

#[tokio::test]
async fn wss_round_trip_and_https_routes() {
    let tls = start().await;
    let addr = tls.broker.server.wss_addr.expect("wss listener");

    let stream = tls.pki.connect(addr).await.expect("TLS handshake");
    let mut request = format!("wss://localhost:{}/ws", addr.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "v12.stomp".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("WebSocket handshake over TLS");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "v12.stomp"
    );
    let frames = [
        "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:guest\npasscode:guest\n\n\0",
        "SUBSCRIBE\nid:0\ndestination:/topic/wss\n\n\0",
        "SEND\ndestination:/topic/wss\nreceipt:r1\n\nover wss\0",
    ];
    for frame in frames {
        socket.send(Message::text(frame)).await.unwrap();
    }
    let mut decoder = Decoder::new(Limits::default());
    let mut buffer = BytesMut::new();
    let mut commands = Vec::new();
    while !(commands.contains(&Command::Receipt) && commands.contains(&Command::Message)) {
        let message = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .unwrap();
        buffer.extend_from_slice(&message.into_data());
        while let Some(frame) = decoder.decode(&mut buffer).unwrap() {
            assert_ne!(frame.command, Command::Error, "{frame:?}");
            if frame.command == Command::Message {
                assert_eq!(&frame.body[..], b"over wss");
            }
            commands.push(frame.command);
        }
    }
    assert_eq!(commands[0], Command::Connected);

    // The API and health routes answer over HTTPS too.
    let mut stream = tls.pki.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
}

#[tokio::test]
async fn listening_line_names_the_tls_listeners() {
    let tls = start().await;
    let server = &tls.broker.server;
    let line = server.listening_line();
    let expected = format!(
        "listening http={} stomp={} wss={} stomps={}",
        server.http_addr,
        server.stomp_addr.unwrap(),
        server.wss_addr.unwrap(),
        server.stomps_addr.unwrap()
    );
    assert_eq!(line, expected);
}

#[tokio::test]
async fn reload_serves_the_new_certificate_to_new_connections() {
    let tls = start().await;
    let addr = tls.broker.server.stomps_addr.unwrap();
    let certificates = tls.broker.server.certificates.clone().unwrap();
    let mut open = tls.pki.connect(addr).await.unwrap();

    // A broken key file: the reload fails and the old pair stays in use.
    std::fs::write(&tls.key_file, "not a key").unwrap();
    let error = certificates.reload().unwrap_err();
    assert!(error.to_string().contains("no PEM private key"), "{error}");
    tls.pki.connect(addr).await.expect("old certificate kept");

    let second = Pki::write(&tls.cert_file, &tls.key_file);
    certificates.reload().expect("reload");
    let refused = tls.pki.connect(addr).await;
    assert!(refused.is_err(), "the old CA no longer matches");
    let mut fresh = second.connect(addr).await.expect("new certificate");
    stomp_round_trip(&mut fresh).await;
    // The connection opened before the reload goes on as it was.
    stomp_round_trip(&mut open).await;
}

#[tokio::test]
async fn missing_certificate_stops_start_up_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let mut config = common::test_config(data.path());
    config.tls.cert_file = "/nonexistent/cert.pem".into();
    config.tls.key_file = "/nonexistent/key.pem".into();
    config.tls.stomps_listen = Some("127.0.0.1:0".parse().unwrap());
    let error = match herald::server::Server::start(config).await {
        Ok(_) => panic!("started without a certificate"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("/nonexistent/cert.pem"), "{error}");
}
