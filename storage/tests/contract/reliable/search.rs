//! Full-text search over chat messages.

use std::future::Future;

use bytes::Bytes;
use herald_storage::{MessageLog, NewMessage, StoredMessage, Stores};

use super::{append_new, chat, chat_at};

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

async fn texts(log: &dyn MessageLog, conversations: &[&str], query: &str) -> Vec<String> {
    let found = log
        .search(&ids(conversations), query, 50)
        .await
        .unwrap_or_else(|error| panic!("search {query:?}: {error}"));
    found.iter().map(text_of).collect()
}

fn text_of(message: &StoredMessage) -> String {
    let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&message.body).into())
    });
    match body.get("text") {
        Some(serde_json::Value::String(text)) => text.clone(),
        _ => body.as_str().unwrap_or_default().to_owned(),
    }
}

pub async fn search_finds_all_words_newest_first<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let sent = [
        ("u1-2", "Lunch at noon?", 1_000),
        ("u1-2", "lunch is late today", 2_000),
        ("g7", "LUNCH for the whole group", 3_000),
        ("u1-3", "lunch with someone else", 4_000),
        ("u1-2", "no food words here", 5_000),
        ("g7", "the noon train", 6_000),
    ];
    for (conversation, text, at) in sent {
        append_new(log, chat_at(conversation, 1, text, at)).await;
    }
    let mine = ["u1-2", "g7"];
    assert_eq!(
        texts(log, &mine, "lunch").await,
        [
            "LUNCH for the whole group",
            "lunch is late today",
            "Lunch at noon?"
        ],
        "every word form, case folded, newest first, only the given conversations"
    );
    assert_eq!(texts(log, &mine, "NOON lunch").await, ["Lunch at noon?"]);
    assert_eq!(
        texts(log, &mine, "  noon  ").await,
        ["the noon train", "Lunch at noon?"]
    );
    assert!(texts(log, &mine, "dinner").await.is_empty());
    assert!(
        texts(log, &mine, "lunc").await.is_empty(),
        "whole words only"
    );
    assert_eq!(
        texts(log, &["u1-3"], "lunch").await,
        ["lunch with someone else"]
    );
    assert!(texts(log, &[], "lunch").await.is_empty());
    assert!(texts(log, &["g404"], "lunch").await.is_empty());

    let limited = log.search(&ids(&mine), "lunch", 2).await.expect("search");
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0].conversation, "g7");
    assert_eq!(
        (limited[1].conversation.as_str(), limited[1].seq),
        ("u1-2", 2)
    );
    assert!(log
        .search(&ids(&mine), "lunch", 0)
        .await
        .expect("zero")
        .is_empty());
    stores.close().await;
}

pub async fn search_reads_text_or_raw_bodies_of_chat_messages_only<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let raw = NewMessage {
        body: Bytes::from_static(b"plain zebra body"),
        ..chat("g1", 1, "")
    };
    let image = NewMessage {
        body: Bytes::from_static(br#"{"type":"image","file":{"id":"zebra"},"caption":"zebra"}"#),
        ..chat("g1", 1, "")
    };
    let event = NewMessage {
        kind: "member-joined".into(),
        ..chat("g1", 1, "zebra joined")
    };
    let binary = NewMessage {
        body: Bytes::from_static(&[0xff, b'z', 0xfe]),
        ..chat("g1", 1, "")
    };
    let nul = chat("g1", 1, "zebra\u{0}crossing");
    for message in [raw, image, event, binary, nul] {
        append_new(log, message).await;
    }
    let found = log
        .search(&ids(&["g1"]), "zebra", 10)
        .await
        .expect("search");
    let found: Vec<i64> = found.iter().map(|message| message.seq).collect();
    assert_eq!(found, [5, 1], "the raw body and the text field only");
    let crossing = log
        .search(&ids(&["g1"]), "crossing", 10)
        .await
        .expect("search");
    assert_eq!(crossing.len(), 1, "text around a NUL is indexed");
    stores.close().await;
}

pub async fn search_takes_any_query_text_literally<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Stores>,
{
    let stores = open().await;
    let log = &*stores.messages;
    let sent = [
        "rock and roll",
        "Grüße aus Köln",
        "Привет, мир",
        "she said \"hello\" and don't panic",
        "100% sure",
        "near(or) NOT a*b",
    ];
    for text in sent {
        append_new(log, chat("g1", 1, text)).await;
    }
    let g1 = ["g1"];
    for query in [
        "\"",
        "\"\"",
        "*",
        "'",
        "%",
        "_",
        "\\",
        "(",
        ")",
        ":",
        "^",
        "-",
        "+",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "a AND",
        "AND OR NOT",
        "x\" OR \"y",
        "col:value",
        "\"unbalanced",
        "a*",
        "*a",
        "NEAR(a b)",
        "{a b}",
        "a -b",
        "'; DROP TABLE messages; --",
        "%_%",
        "\u{0}",
        "中文",
        "🎉",
        "a\u{0}b",
    ] {
        log.search(&ids(&g1), query, 10)
            .await
            .unwrap_or_else(|error| panic!("query {query:?} failed: {error}"));
    }
    assert_eq!(
        texts(log, &g1, "AND").await,
        [sent[3], sent[0]],
        "AND is a word"
    );
    assert_eq!(texts(log, &g1, "not").await, [sent[5]]);
    assert_eq!(texts(log, &g1, "\"hello\"").await, [sent[3]]);
    assert_eq!(texts(log, &g1, "hello\"").await, [sent[3]]);
    assert_eq!(texts(log, &g1, "don't").await, [sent[3]]);
    assert_eq!(texts(log, &g1, "100%").await, [sent[4]]);
    assert_eq!(texts(log, &g1, "near(or)").await, [sent[5]]);
    assert_eq!(texts(log, &g1, "grüße").await, [sent[1]]);
    assert_eq!(
        texts(log, &g1, "KÖLN").await,
        [sent[1]],
        "non-ASCII case folds"
    );
    assert!(texts(log, &g1, "koln").await.is_empty(), "accents are kept");
    assert_eq!(texts(log, &g1, "привет").await, [sent[2]]);
    assert_eq!(texts(log, &g1, "мир,").await, [sent[2]]);
    for nothing in ["\"", "*", "'", "%", "", "   ", "-", "\u{0}"] {
        assert!(
            texts(log, &g1, nothing).await.is_empty(),
            "{nothing:?} has no word and finds nothing"
        );
    }
    stores.close().await;
}
