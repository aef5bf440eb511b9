//! Files and images over real HTTP: upload, type detection, size limit,
//! who may download, ranges, `Content-Disposition`, and ids that try to
//! leave the files directory.

mod common;
#[path = "files/support.rs"]
mod support;

use common::api::Api;
use common::TestBroker;
use herald::client::Connection;
use herald_protocol::{Command, Frame};
use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{assert_hidden, download, files_on_disk, png, raw_http, text, upload, uploaded};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn png_upload_records_type_and_size_and_comes_back_inline() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let image = png(3);
    let (status, body) = upload(&alice, "cat.png", "text/html", image.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "image/png", "{body}");
    assert_eq!(
        (body["width"].clone(), body["height"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(body["size"], json!(image.len()));
    assert_eq!(body["name"], "cat.png");
    assert!(body["created_at"].as_i64().unwrap() > 0);
    let id = body["id"].as_str().unwrap();
    assert_eq!(files_on_disk(&broker), vec![id.to_owned()]);

    let (status, headers, bytes) = download(&alice, id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, image);
    assert_eq!(text(&headers, header::CONTENT_TYPE), "image/png");
    assert_eq!(
        text(&headers, header::CONTENT_LENGTH),
        image.len().to_string()
    );
    assert!(text(&headers, header::CONTENT_DISPOSITION).starts_with("inline; filename=\"cat.png\""));
    assert_eq!(text(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(text(&headers, header::ACCEPT_RANGES), "bytes");
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_not_the_client() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let (status, body) = upload(
        &alice,
        "notes.txt",
        "image/png",
        b"hello, Herald\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "text/plain; charset=utf-8");
    assert_eq!(body["width"], Value::Null);
    let (_, headers, bytes) = download(&alice, body["id"].as_str().unwrap(), None).await;
    assert_eq!(bytes, b"hello, Herald\n");
    assert!(text(&headers, header::CONTENT_DISPOSITION).starts_with("attachment;"));

    let binary = vec![0u8, 1, 2, 3, 254, 255, 0, 7];
    let (status, body) = upload(&alice, "x.jpg", "image/jpeg", binary).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "application/octet-stream");
    assert_eq!(body["height"], Value::Null);

    // A GIF's logical screen: 4 x 7.
    let gif = b"GIF89a\x04\x00\x07\x00\x00\x00\x00;".to_vec();
    let (_, body) = upload(&alice, "anim.gif", "text/plain", gif).await;
    assert_eq!(body["content_type"], "image/gif", "{body}");
    assert_eq!(
        (body["width"].clone(), body["height"].clone()),
        (json!(4), json!(7))
    );

    // A PNG named and claimed as something else is still a PNG.
    let (_, body) = upload(&alice, "report.pdf", "application/pdf", png(5)).await;
    assert_eq!(body["content_type"], "image/png");
    assert_eq!(body["width"], 5);
}

#[tokio::test]
async fn over_the_limit_is_413_and_leaves_nothing_on_disk() {
    let broker = TestBroker::start_with(|config| config.files.max_bytes = 1024).await;
    let alice = Api::register(broker.server.http_addr, "alice").await;

    let (status, body) = upload(&alice, "big.bin", "application/octet-stream", vec![7; 4096]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "payload_too_large");
    assert!(body["message"].as_str().unwrap().contains("1024"), "{body}");

    // Without Content-Length the limit is found while streaming.
    let mut request = format!(
        "POST /api/files?name=big.bin HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        alice.token()
    )
    .into_bytes();
    for _ in 0..8 {
        request.extend(b"200\r\n");
        request.extend([b'x'; 512]);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    let (status, answer) = raw_http(broker.server.http_addr, &request).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(
        files_on_disk(&broker).is_empty(),
        "{:?}",
        files_on_disk(&broker)
    );

    // Exactly the limit is fine.
    let (status, body) = upload(&alice, "max.bin", "application/octet-stream", vec![7; 1024]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(files_on_disk(&broker).len(), 1);

    // The JSON limit of the rest of the API does not apply to uploads.
    assert!(broker.server.broker.config.api.max_body_bytes < 70_000);
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let (status, body) = upload(
        &alice,
        "mid.bin",
        "application/octet-stream",
        vec![1; 200_000],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], 200_000);
}

#[tokio::test]
async fn an_abandoned_upload_leaves_nothing_on_disk() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let mut stream = TcpStream::connect(broker.server.http_addr).await.unwrap();
    let head = format!(
        "POST /api/files?name=half.bin HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100000\r\n\r\n",
        alice.token()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[1; 30_000]).await.unwrap();
    // The temporary file appears while the upload runs ...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files_on_disk(&broker).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no temporary file");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // ... and goes when the client does.
    drop(stream);
    while !files_on_disk(&broker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            files_on_disk(&broker)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn only_the_uploader_and_the_conversation_may_download() {
    let broker = TestBroker::start().await;
    let addr = broker.server.http_addr;
    let alice = Api::register(addr, "alice").await;
    let bob = Api::register(addr, "bob").await;
    let carol = Api::register(addr, "carol").await;
    alice.befriend(&bob).await;
    let files = broker.server.broker.files();

    let id = uploaded(&alice, "plan.txt", b"the plan").await;
    assert_eq!(download(&alice, &id, None).await.0, StatusCode::OK);
    assert_hidden(download(&bob, &id, None).await);
    assert_hidden(download(&carol, &id, None).await);
    // An unknown id looks exactly the same.
    assert_hidden(download(&carol, &"0".repeat(32), None).await);

    let private = format!(
        "u{}-{}",
        alice.user_id.min(bob.user_id),
        alice.user_id.max(bob.user_id)
    );
    files.share_file(&id, &private).await.unwrap();
    let (status, _, bytes) = download(&bob, &id, None).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"the plan"[..])
    );
    assert_hidden(download(&carol, &id, None).await);

    // A group: its current members, and no one else.
    let (status, group) = alice
        .post(
            "/groups",
            json!({ "name": "team", "members": [bob.user_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    let id = uploaded(&alice, "minutes.txt", b"minutes").await;
    files
        .share_file(&id, &format!("g{group_id}"))
        .await
        .unwrap();
    assert_eq!(download(&bob, &id, None).await.0, StatusCode::OK);
    assert_hidden(download(&carol, &id, None).await);
    let (status, body) = alice
        .delete(&format!("/groups/{group_id}/members/{}", bob.user_id))
        .await;
    assert!(status.is_success(), "{body}");
    assert_hidden(download(&bob, &id, None).await);

    // A system conversation: its owner only.
    let id = uploaded(&alice, "note.txt", b"note").await;
    files
        .share_file(&id, &format!("s{}", carol.user_id))
        .await
        .unwrap();
    assert_eq!(download(&carol, &id, None).await.0, StatusCode::OK);
    assert_hidden(download(&bob, &id, None).await);

    // No token, no file (and no upload).
    let anonymous = reqwest::get(format!("{}/files/{id}", alice.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let anonymous = reqwest::Client::new()
        .post(format!("{}/files?name=a", alice.base))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_file_sent_in_a_chat_message_is_shared_with_its_conversation() {
    let broker = TestBroker::start().await;
    let addr = broker.server.http_addr;
    let alice = Api::register(addr, "alice").await;
    let bob = Api::register(addr, "bob").await;
    let carol = Api::register(addr, "carol").await;
    alice.befriend(&bob).await;
    let (_, file) = upload(&alice, "cat.png", "image/png", png(3)).await;
    let id = file["id"].as_str().unwrap();
    assert_hidden(download(&bob, id, None).await);

    let (mut stomp, _) = Connection::connect(&broker.ws_url(), None, Some(alice.token()), "0,0")
        .await
        .expect("token CONNECT");
    let body = json!({ "type": "image", "file": file }).to_string();
    stomp
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", format!("/user/{}", bob.user_id))
                .header("content-type", "application/json")
                .body(body),
            "sent",
        )
        .await
        .expect("the image message is accepted");
    let (status, headers, bytes) = download(&bob, id, None).await;
    assert_eq!((status, bytes), (StatusCode::OK, png(3)));
    assert!(text(&headers, header::CONTENT_DISPOSITION).starts_with("inline;"));
    assert_hidden(download(&carol, id, None).await);
}

#[tokio::test]
async fn ranges_give_206_and_unsatisfiable_ones_416() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let content: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    let id = uploaded(&alice, "letters.txt", &content).await;

    let cases = [
        ("bytes=0-9", 0..10),
        ("bytes=-5", 95..100),
        ("bytes=90-", 90..100),
        ("bytes=50-1000", 50..100),
    ];
    for (range, expected) in cases {
        let (status, headers, bytes) = download(&alice, &id, Some(range)).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(bytes, content[expected.clone()], "{range}");
        assert_eq!(
            text(&headers, header::CONTENT_RANGE),
            format!("bytes {}-{}/100", expected.start, expected.end - 1)
        );
        assert_eq!(
            text(&headers, header::CONTENT_LENGTH),
            expected.len().to_string()
        );
    }

    for range in ["bytes=100-", "bytes=200-300", "bytes=-0"] {
        let (status, headers, body) = download(&alice, &id, Some(range)).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(text(&headers, header::CONTENT_RANGE), "bytes */100");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "range_not_satisfiable");
    }

    // Ignored ranges serve the whole file.
    for range in ["bytes=0-1,5-6", "bytes=9-0", "lines=1-2"] {
        let (status, _, bytes) = download(&alice, &id, Some(range)).await;
        assert_eq!((status, bytes.len()), (StatusCode::OK, 100), "{range}");
    }
    let stale = reqwest::Client::new()
        .get(format!("{}/files/{id}", alice.base))
        .bearer_auth(alice.token())
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, "\"another-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn disposition_escapes_quotes_and_encodes_non_ascii() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let name = "say \"hi\" — привет.txt";
    let (status, body) = upload(&alice, name, "text/plain", b"hi".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], name);
    let (_, headers, _) = download(&alice, body["id"].as_str().unwrap(), None).await;
    assert_eq!(
        text(&headers, header::CONTENT_DISPOSITION),
        "attachment; filename=\"say _hi_ _ ______.txt\"; filename*=UTF-8''\
         say%20%22hi%22%20%E2%80%94%20%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82.txt"
    );

    // A path as the name keeps only its last segment.
    let (_, body) = upload(&alice, "../../etc/passwd", "text/plain", b"x".to_vec()).await;
    assert_eq!(body["name"], "passwd");
}

#[tokio::test]
async fn ids_that_leave_the_directory_are_not_found() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let id = uploaded(&alice, "a.txt", b"inside").await;
    std::fs::write(broker.data.path().join("secret"), "outside").unwrap();
    let attempts = [
        "/api/files/../secret".to_owned(),
        "/api/files/..%2fsecret".to_owned(),
        "/api/files/%2e%2e%2fsecret".to_owned(),
        "/api/files/%2e%2e".to_owned(),
        "/api/files/..".to_owned(),
        "/api/files/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        "/api/files/%2fetc%2fpasswd".to_owned(),
        format!("/api/files/{}", id.to_uppercase()),
        format!("/api/files/.upload-{id}"),
        format!("/api/files/{id}%00"),
    ];
    for path in attempts {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            alice.token()
        );
        let (status, answer) = raw_http(broker.server.http_addr, request.as_bytes()).await;
        assert!(matches!(status, 400 | 404), "{path}: {answer}");
        assert!(
            !answer.contains("outside") && !answer.contains("root:"),
            "{path}: {answer}"
        );
    }
    assert_eq!(download(&alice, &id, None).await.2, b"inside");
}

#[tokio::test]
async fn multipart_bodies_are_refused() {
    let broker = TestBroker::start().await;
    let alice = Api::register(broker.server.http_addr, "alice").await;
    let (status, body) = upload(
        &alice,
        "a.txt",
        "multipart/form-data; boundary=x",
        b"--x\r\n\r\nhi\r\n--x--\r\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"], "unsupported_media_type");
    assert!(files_on_disk(&broker).is_empty());
}
