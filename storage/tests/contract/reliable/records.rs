//! Dead letters and file records.

use std::future::Future;

use herald_storage::{DeadLetter, FileRecord, NewMessage, Stores};

use super::{append, append_new, chat};
use crate::contract::chat::{expect_conflict, expect_not_found, expect_rejected, TRICKY_TEXTS};

fn letter(number: i64, reason: &str) -> DeadLetter {
    DeadLetter {
        user: number,
        device: format!("device-{number}"),
        conversation: format!("g{number}"),
        seq: number * 10,
        message_id: 9_000 + number,
        attempts: u32::try_from(number).expect("small"),
        reason: reason.to_owned(),
        at: 1_700_000_000_000 + number,
    }
}

fn file(id: &str, uploader: i64) -> FileRecord {
    FileRecord {
        id: id.to_owned(),
        uploader,
        name: "holiday photo.jpg".into(),
        content_type: "image/jpeg".into(),
        size: 123_456,
        width: Some(1_920),
        height: Some(1_080),
        created_at: 1_700_000_000_000,
    }
}

pub async fn dead_letters_page_in_order<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let store = &*stores.dead_letters;
    assert!(store.dead_letters(10, 0).await.expect("none").is_empty());
    let mut ids = Vec::new();
    for (number, reason) in (1..=5).zip(TRICKY_TEXTS.iter().cycle()) {
        ids.push(
            store
                .dead_letter(letter(number, reason))
                .await
                .expect("record"),
        );
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase: {ids:?}"
    );
    let first = store.dead_letters(2, 0).await.expect("page");
    assert_eq!(
        first,
        [
            (ids[0], letter(1, TRICKY_TEXTS[0])),
            (ids[1], letter(2, TRICKY_TEXTS[1]))
        ]
    );
    let rest = store.dead_letters(10, ids[1]).await.expect("page");
    let rest_ids: Vec<i64> = rest.iter().map(|&(id, _)| id).collect();
    assert_eq!(rest_ids, ids[2..]);
    assert_eq!(rest[2].1, letter(5, TRICKY_TEXTS[4]));
    assert!(store
        .dead_letters(10, ids[4])
        .await
        .expect("end")
        .is_empty());
    assert!(store.dead_letters(0, 0).await.expect("zero").is_empty());
    stores.close().await;

    let stores = open().await;
    let kept = stores
        .dead_letters
        .dead_letters(10, 0)
        .await
        .expect("reopened");
    assert_eq!(kept.len(), 5, "dead letters survive reopen");
    stores.close().await;
}

pub async fn files_are_recorded_and_shared<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let files = &*stores.files;
    assert_eq!(files.file("f-1").await.expect("unknown"), None);
    files.create_file(file("f-1", 7)).await.expect("create");
    let plain = FileRecord {
        name: TRICKY_TEXTS[3].into(),
        content_type: "application/octet-stream".into(),
        width: None,
        height: None,
        ..file("f-2", 8)
    };
    files.create_file(plain.clone()).await.expect("create");
    assert_eq!(files.file("f-1").await.expect("read"), Some(file("f-1", 7)));
    assert_eq!(files.file("f-2").await.expect("read"), Some(plain));
    expect_conflict(files.create_file(file("f-1", 9)).await, "a taken file id");
    assert_eq!(files.file("f-1").await.expect("read"), Some(file("f-1", 7)));
    expect_rejected(files.create_file(file("", 9)).await, "an empty file id");

    assert!(files
        .file_shared_with("f-1")
        .await
        .expect("none")
        .is_empty());
    for conversation in ["u1-7", "g3", "u1-7"] {
        files.share_file("f-1", conversation).await.expect("share");
    }
    assert_eq!(
        files.file_shared_with("f-1").await.expect("shared"),
        ["g3", "u1-7"]
    );
    expect_not_found(
        files.share_file("f-404", "g3").await,
        "sharing an unknown file",
    );
    assert!(files
        .file_shared_with("f-404")
        .await
        .expect("unknown")
        .is_empty());
    stores.close().await;

    let stores = open().await;
    assert_eq!(
        stores.files.file("f-1").await.expect("reopened"),
        Some(file("f-1", 7))
    );
    let shared = stores
        .files
        .file_shared_with("f-1")
        .await
        .expect("reopened");
    assert_eq!(shared, ["g3", "u1-7"]);
    stores.close().await;
}

pub async fn appends_share_their_files<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    stores
        .files
        .create_file(file("f-1", 1))
        .await
        .expect("create");
    stores
        .files
        .create_file(file("f-2", 1))
        .await
        .expect("create");
    let with_files = |conversation: &str, ids: &[&str]| NewMessage {
        files: ids.iter().map(|&id| id.to_owned()).collect(),
        ..chat(conversation, 1, "see attached")
    };
    append_new(
        &*stores.messages,
        with_files("u1-2", &["f-1", "f-2", "f-1"]),
    )
    .await;
    append_new(&*stores.messages, with_files("g5", &["f-1"])).await;
    let files = &*stores.files;
    assert_eq!(
        files.file_shared_with("f-1").await.expect("shared"),
        ["g5", "u1-2"]
    );
    assert_eq!(
        files.file_shared_with("f-2").await.expect("shared"),
        ["u1-2"]
    );

    let refused = stores
        .messages
        .append(with_files("g6", &["f-2", "f-404"]))
        .await;
    expect_not_found(refused, "a message naming an unknown file");
    assert_eq!(
        stores.messages.last_seq("g6").await.expect("last"),
        0,
        "nothing stored"
    );
    assert_eq!(
        files.file_shared_with("f-2").await.expect("shared"),
        ["u1-2"]
    );
    let next = append(&*stores.messages, chat("g6", 1, "text only")).await;
    assert_eq!(next.message.seq, 1, "the refused append took no seq");
    stores.close().await;
}
