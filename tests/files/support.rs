//! Helpers for the file tests: uploads and downloads over HTTP, raw HTTP
//! for requests a client library would tidy up, and a generated PNG.

use std::net::SocketAddr;

use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::api::Api;
use crate::common::TestBroker;

/// Uploads `bytes` as `name`, claiming `claimed` as the content type.
pub async fn upload(api: &Api, name: &str, claimed: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/files", api.base))
        .query(&[("name", name)])
        .bearer_auth(api.token())
        .header(header::CONTENT_TYPE, claimed)
        .body(bytes)
        .send()
        .await
        .expect("upload request");
    let status = response.status();
    (status, response.json().await.expect("JSON answer"))
}

/// Uploads and expects 201; returns the file's id.
pub async fn uploaded(api: &Api, name: &str, bytes: &[u8]) -> String {
    let (status, body) = upload(api, name, "application/octet-stream", bytes.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Downloads `/files/{id}`, with a `Range` header when given.
pub async fn download(
    api: &Api,
    id: &str,
    range: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .get(format!("{}/files/{id}", api.base))
        .bearer_auth(api.token());
    if let Some(range) = range {
        request = request.header(header::RANGE, range);
    }
    let response = request.send().await.expect("download request");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

pub fn text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Asserts a JSON 404 that tells nothing about the file.
pub fn assert_hidden((status, headers, body): (StatusCode, HeaderMap, Vec<u8>)) {
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text(&headers, header::CONTENT_TYPE).starts_with("application/json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
}

/// Files in the broker's files directory, temporary ones included.
pub fn files_on_disk(broker: &TestBroker) -> Vec<String> {
    match std::fs::read_dir(broker.data.path().join("files")) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Sends raw HTTP/1.1 bytes and returns the status and the whole answer.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and stop reading) before all is written.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, answer)
}

/// A valid `width` x 2 RGB PNG: signature, IHDR, one stored-deflate IDAT,
/// IEND.
pub fn png(width: u32) -> Vec<u8> {
    let height = 2u32;
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    let row = 1 + 3 * width as usize; // filter byte + pixels
    let raw: Vec<u8> = (0..height as usize * row).map(|i| (i * 37) as u8).collect();
    let raw: Vec<u8> = raw
        .chunks(row)
        .flat_map(|r| std::iter::once(0).chain(r[1..].iter().copied()))
        .collect();
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend((raw.len() as u16).to_le_bytes());
    zlib.extend((!(raw.len() as u16)).to_le_bytes());
    zlib.extend(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        png.extend((data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend(data);
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    png
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
