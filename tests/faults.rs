//! Herald under faults of the machine around it, with real parts only: a
//! SIGTERM in the middle of a flood of SENDs, its PostgreSQL stopped and
//! started again under load, and a files directory on a filesystem that is
//! full. What must hold in each: a RECEIPT is a promise that the message is
//! stored (exactly once, at its seq), and every refusal is a clear ERROR
//! frame or JSON answer, never a hang or a lost message.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::api::Api;
use common::TestBroker;
use reqwest::StatusCode;
use serde_json::Value;

/// A tmpfs of `size` mounted on a directory of its own, unmounted when
/// dropped.
///
/// A full disk is made real rather than imitated: the kernel's tmpfs with
/// a size limit answers a write past it with ENOSPC, exactly as a full
/// ext4 volume would, and needs neither a device nor an image file. Tests
/// run as root here and in CI (a container; `mount` works there in a fresh
/// network or mount namespace too). When mounting is not permitted the
/// test fails with mount's own message: a full-disk test that quietly
/// wrote to an ordinary directory would prove nothing.
struct SmallFilesystem {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> SmallFilesystem {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("files");
        std::fs::create_dir(&path).unwrap();
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "cannot mount a {size} tmpfs on {} (this test needs root or CAP_SYS_ADMIN \
             to make a real full filesystem): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        SmallFilesystem {
            path,
            _parent: parent,
        }
    }

    /// Names in the directory, hidden temporary uploads included.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        // Lazy: a file still open in a broker task must not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn upload(api: &Api, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/files", api.base))
        .query(&[("name", name)])
        .bearer_auth(api.token())
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload request");
    let status = response.status();
    let text = response.text().await.expect("upload answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("non-JSON answer {status} to an upload: {text:?}"));
    (status, body)
}

async fn download(api: &Api, id: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{}/files/{id}", api.base))
        .bearer_auth(api.token())
        .send()
        .await
        .expect("download request");
    let status = response.status();
    (
        status,
        response.bytes().await.expect("download body").to_vec(),
    )
}

/// Bytes that no filesystem can shrink by sharing or compressing pages.
fn noise(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_files_disk_answers_507_and_keeps_what_was_stored() {
    let disk = SmallFilesystem::mount("1m");
    let files_dir = disk.path.to_string_lossy().into_owned();
    let broker = TestBroker::start_with(move |config| config.files.dir = files_dir).await;
    let alice = Api::register(broker.server.http_addr, "disk-alice").await;

    let first = noise(300 * 1024, 1);
    let (status, body) = upload(&alice, "first.bin", first.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first_id = body["id"].as_str().unwrap().to_owned();

    // Two megabytes into what is left of one: well under files.max_bytes,
    // so only the disk can refuse it.
    let too_big = noise(2 * 1024 * 1024, 2);
    assert!(too_big.len() as u64 <= broker.server.broker.config.files.max_bytes);
    let (status, body) = upload(&alice, "too-big.bin", too_big).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"], "insufficient_storage", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(!message.is_empty(), "{body}");
    assert!(
        !message.contains(&disk.path.to_string_lossy().into_owned()),
        "the client is not told where files live: {message}"
    );

    // Nothing of the refused upload is left, not even its temporary file.
    assert_eq!(disk.entries(), vec![first_id.clone()]);
    let (status, bytes) = download(&alice, &first_id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == first, "the earlier upload comes back intact");

    // The space the refused upload took is free again.
    let second = noise(300 * 1024, 3);
    let (status, body) = upload(&alice, "second.bin", second.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second_id = body["id"].as_str().unwrap().to_owned();
    let (status, bytes) = download(&alice, &second_id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == second);
    let mut expected = vec![first_id, second_id];
    expected.sort();
    assert_eq!(disk.entries(), expected);
}
