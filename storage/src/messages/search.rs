//! What the search index holds for a message, and how a user's query is
//! cut into words, the same for every backend so that both match alike.
//!
//! Both sides are lowercased here rather than by the database: PostgreSQL
//! folds case by the database's locale, which under `C` (how Herald's
//! clusters are made) leaves every non-ASCII letter as it is, while
//! SQLite's tokenizer folds all of Unicode.

/// The text indexed for a message: for `kind = "message"`, the `"text"`
/// string of a JSON object body, or the whole body when it is not a JSON
/// object but is UTF-8; nothing for other kinds, other bodies, or a JSON
/// object without a `"text"` string (an image, a file). NUL characters
/// become spaces, since PostgreSQL text cannot hold them. Lowercased.
pub(crate) fn indexed_text(kind: &str, body: &[u8]) -> Option<String> {
    if kind != "message" {
        return None;
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => match fields.get("text") {
            Some(serde_json::Value::String(text)) => text.clone(),
            _ => return None,
        },
        _ => std::str::from_utf8(body).ok()?.to_owned(),
    };
    let text = text.replace('\0', " ").to_lowercase();
    (!text.trim().is_empty()).then_some(text)
}

/// The words of a query: whitespace-separated pieces with at least one
/// letter or digit (pieces of punctuation alone could never match a word).
/// NUL characters are dropped; words are lowercased. Each backend quotes
/// them its own way.
pub(crate) fn query_words(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .map(|word| word.replace('\0', "").to_lowercase())
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_the_text_of_json_bodies_and_raw_utf8_otherwise() {
        let json = br#"{"type":"text","text":"hello world"}"#;
        assert_eq!(
            indexed_text("message", json).as_deref(),
            Some("hello world")
        );
        let image = br#"{"type":"image","file":{"id":"f1"}}"#;
        assert_eq!(indexed_text("message", image), None);
        assert_eq!(
            indexed_text("message", b"plain words").as_deref(),
            Some("plain words")
        );
        assert_eq!(indexed_text("message", b"[1,2]").as_deref(), Some("[1,2]"));
        assert_eq!(indexed_text("message", &[0xff, 0xfe]), None);
        assert_eq!(indexed_text("friend-request", b"hello"), None);
        assert_eq!(indexed_text("message", b"a\0b").as_deref(), Some("a b"));
    }

    #[test]
    fn query_words_keep_only_pieces_with_letters_or_digits() {
        assert_eq!(
            query_words(r#" "quoted" * AND ' % Café "#),
            ["\"quoted\"", "and", "café"]
        );
        assert!(query_words("  * ' \" ").is_empty());
    }
}
