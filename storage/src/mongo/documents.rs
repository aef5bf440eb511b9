//! The stored form of a chat message in MongoDB, and typed reads of stored
//! documents. One document holds everything that must live and die with
//! the message: its dedupe key, its mentions and its search words, so one
//! insert stores them all and one delete removes them all.

use bytes::Bytes;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};

use super::search;
use crate::messages::{distinct, indexed_text};
use crate::{NewMessage, StoreError, StoredMessage};

/// The field holding a message's `client-msg-id` for as long as the dedupe
/// window keeps it; unique per sender (see `INDEXES` in the parent module).
/// `client_msg_id` holds the same value for good, for history.
pub(super) const DEDUPE_ID: &str = "dedupe_id";

/// The document for `message` under `seq`. Its `_id` is the message id,
/// so a repeated id is refused by MongoDB's own index.
pub(super) fn message_document(message: &NewMessage, seq: i64) -> Document {
    let headers: Vec<Bson> = message
        .headers
        .iter()
        .map(|(name, value)| Bson::Array(vec![name.as_str().into(), value.as_str().into()]))
        .collect();
    let words = indexed_text(&message.kind, &message.body)
        .map(|text| search::words(&text))
        .unwrap_or_default();
    let mut document = doc! {
        "_id": message.message_id,
        "conversation": &message.conversation,
        "seq": seq,
        "sender": message.sender,
        "kind": &message.kind,
        "headers": headers,
        "body": binary(&message.body),
        "created_at": message.created_at,
        "mentions": distinct(&message.mentions),
        "words": words,
    };
    if let Some(client_msg_id) = &message.client_msg_id {
        document.insert("client_msg_id", client_msg_id);
        document.insert(DEDUPE_ID, client_msg_id);
    }
    document
}

pub(super) fn binary(bytes: &[u8]) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    }
}

/// A stored message read back.
pub(super) fn message(document: &Document) -> Result<StoredMessage, StoreError> {
    let headers = match document.get("headers") {
        Some(Bson::Array(pairs)) => pairs.iter().map(header).collect::<Result<_, _>>()?,
        _ => return Err(corrupt("headers", document)),
    };
    let body = match document.get("body") {
        Some(Bson::Binary(binary)) => Bytes::from(binary.bytes.clone()),
        _ => return Err(corrupt("body", document)),
    };
    Ok(StoredMessage {
        conversation: text(document, "conversation")?,
        seq: int(document, "seq")?,
        message_id: int(document, "_id")?,
        sender: int(document, "sender")?,
        kind: text(document, "kind")?,
        headers,
        body,
        created_at: int(document, "created_at")?,
        client_msg_id: optional_text(document, "client_msg_id")?,
    })
}

fn header(pair: &Bson) -> Result<(String, String), StoreError> {
    match pair {
        Bson::Array(pair) => match pair.as_slice() {
            [Bson::String(name), Bson::String(value)] => Ok((name.clone(), value.clone())),
            _ => Err(StoreError::Corrupt(format!("stored header {pair:?}"))),
        },
        other => Err(StoreError::Corrupt(format!("stored header {other:?}"))),
    }
}

/// An integer field. Servers may hand back small 64-bit integers as
/// 32-bit ones, so both are read.
pub(super) fn int(document: &Document, field: &str) -> Result<i64, StoreError> {
    optional_int(document, field)?.ok_or_else(|| corrupt(field, document))
}

/// An integer field that may be absent (or `null`).
pub(super) fn optional_int(document: &Document, field: &str) -> Result<Option<i64>, StoreError> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int64(value)) => Ok(Some(*value)),
        Some(Bson::Int32(value)) => Ok(Some(i64::from(*value))),
        Some(_) => Err(corrupt(field, document)),
    }
}

/// A string field.
pub(super) fn text(document: &Document, field: &str) -> Result<String, StoreError> {
    optional_text(document, field)?.ok_or_else(|| corrupt(field, document))
}

fn optional_text(document: &Document, field: &str) -> Result<Option<String>, StoreError> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(corrupt(field, document)),
    }
}

/// A string array field; absent reads as empty.
pub(super) fn texts(document: &Document, field: &str) -> Result<Vec<String>, StoreError> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(items)) => items
            .iter()
            .map(|item| match item {
                Bson::String(value) => Ok(value.clone()),
                _ => Err(corrupt(field, document)),
            })
            .collect(),
        Some(_) => Err(corrupt(field, document)),
    }
}

fn corrupt(field: &str, document: &Document) -> StoreError {
    let id = document.get("_id").map(ToString::to_string);
    StoreError::Corrupt(format!(
        "field {field:?} of stored document {}",
        id.as_deref().unwrap_or("without _id")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewMessage {
        NewMessage {
            conversation: "u1-2".into(),
            message_id: 42,
            sender: 1,
            kind: "message".into(),
            headers: vec![("x".into(), "a\0b".into()), ("x".into(), String::new())],
            body: Bytes::from_static(br#"{"type":"text","text":"Hello, World"}"#),
            created_at: 7,
            client_msg_id: Some("c1".into()),
            participants: vec![1, 2],
            mentions: vec![2, 2, 3],
            files: Vec::new(),
        }
    }

    #[test]
    fn a_message_reads_back_as_stored() {
        let given = sample();
        let document = message_document(&given, 5);
        let read = message(&document).expect("read back");
        assert_eq!(read, crate::messages::stored(given, 5));
        assert_eq!(document.get_str(DEDUPE_ID), Ok("c1"));
        assert_eq!(
            texts(&document, "words").expect("words"),
            ["hello", "world"]
        );
        let mentions = document.get_array("mentions").expect("mentions");
        assert_eq!(mentions, &vec![Bson::Int64(2), Bson::Int64(3)]);
    }

    #[test]
    fn small_integers_read_as_32_bits_are_accepted() {
        let document = doc! { "_id": 1_i32, "seq": Bson::Int32(3), "bad": "3" };
        assert_eq!(int(&document, "seq").expect("int32"), 3);
        assert!(matches!(int(&document, "bad"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            int(&document, "none"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(optional_int(&document, "none").expect("absent"), None);
    }
}
