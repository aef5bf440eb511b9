//! Header value encoding (STOMP 1.1/1.2 "Value Encoding"): `\r`, `\n`,
//! `\c` (colon) and `\\` (backslash).
//!
//! This module owns the escape table and nothing else; whether a frame is
//! escaped at all (not in 1.0 sessions, never for CONNECT, STOMP and
//! CONNECTED) is decided by the decoder and the encoder.

use std::borrow::Cow;

use crate::DecodeError;

/// The escape sequence standing for `byte`, when it needs one.
fn escape_sequence(byte: u8) -> Option<&'static [u8]> {
    match byte {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        b':' => Some(b"\\c"),
        _ => None,
    }
}

/// Hands `text` to `emit` in runs, with every byte that needs it replaced by
/// its escape sequence. Runs keep the copying to one `extend` per run rather
/// than one per byte.
pub(crate) fn for_each_escaped(text: &[u8], mut emit: impl FnMut(&[u8])) {
    let mut start = 0;
    for (index, &byte) in text.iter().enumerate() {
        if let Some(sequence) = escape_sequence(byte) {
            emit(&text[start..index]);
            emit(sequence);
            start = index + 1;
        }
    }
    emit(&text[start..]);
}

/// Hands `text` to `emit` with CR and LF (and, in a header name, colons)
/// replaced by spaces, for frames that cannot be escaped.
///
/// Without escaping these bytes cannot be represented, and written as they
/// are they would let one header forge another (a 1.1 sender's `x\nack:1`
/// reaching a 1.0 subscriber) or end the frame early.
pub(crate) fn for_each_literal(text: &[u8], is_name: bool, mut emit: impl FnMut(&[u8])) {
    let mut start = 0;
    for (index, &byte) in text.iter().enumerate() {
        if byte == b'\n' || byte == b'\r' || (is_name && byte == b':') {
            emit(&text[start..index]);
            emit(b" ");
            start = index + 1;
        }
    }
    emit(&text[start..]);
}

/// `text` as it goes on the wire in a frame that escapes its headers.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| escape_sequence(byte).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    // Escape sequences are ASCII and runs are cut at ASCII bytes only, so
    // every run is itself valid UTF-8.
    for_each_escaped(text.as_bytes(), |run| {
        escaped.push_str(std::str::from_utf8(run).unwrap_or_default())
    });
    Cow::Owned(escaped)
}

/// Decodes the escape sequences of a header name or value read from a frame
/// that escapes its headers.
///
/// Any sequence but the four the spec defines is an error, as the spec
/// requires, rather than a literal backslash: a peer that sends one is not
/// speaking 1.1/1.2. A backslash that ends the text is reported as
/// `InvalidEscape('\n')`, the line end that follows it on the wire.
pub fn unescape(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !text.contains('\\') {
        return Ok(Cow::Borrowed(text));
    }
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        decoded.push_str(&rest[..at]);
        let mut after = rest[at + 1..].chars();
        decoded.push(match after.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            Some(other) => return Err(DecodeError::InvalidEscape(other)),
            None => return Err(DecodeError::InvalidEscape('\n')),
        });
        rest = after.as_str();
    }
    decoded.push_str(rest);
    Ok(Cow::Owned(decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_the_four_special_characters() {
        assert_eq!(escape("a:b\\c\nd\re"), "a\\cb\\\\c\\nd\\re");
    }

    #[test]
    fn escape_borrows_plain_text() {
        assert!(matches!(escape("plain text é"), Cow::Borrowed(_)));
    }

    #[test]
    fn unescape_decodes_the_four_sequences() {
        assert_eq!(unescape("a\\cb\\\\c\\nd\\re").unwrap(), "a:b\\c\nd\re");
    }

    #[test]
    fn unescape_borrows_plain_text() {
        assert!(matches!(unescape("plain").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn unescape_rejects_unknown_sequences() {
        assert_eq!(unescape("a\\tb"), Err(DecodeError::InvalidEscape('t')));
        assert_eq!(unescape("\\é"), Err(DecodeError::InvalidEscape('é')));
    }

    #[test]
    fn unescape_rejects_trailing_backslash() {
        assert_eq!(unescape("abc\\"), Err(DecodeError::InvalidEscape('\n')));
    }

    #[test]
    fn escape_then_unescape_is_identity_on_unicode() {
        let text = "ключ:значение\\ \r\n 漢字 🙂";
        assert_eq!(unescape(&escape(text)).unwrap(), text);
    }

    #[test]
    fn literal_replaces_line_ends_and_name_colons() {
        let mut written = Vec::new();
        for_each_literal(b"a\nb\rc:d", true, |run| written.extend_from_slice(run));
        assert_eq!(written, b"a b c d");
        written.clear();
        for_each_literal(b"a\nb:c", false, |run| written.extend_from_slice(run));
        assert_eq!(written, b"a b:c");
    }
}
