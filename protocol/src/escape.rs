//! Header value encoding ("Value Encoding" in the STOMP 1.1 and 1.2 specs)
//! and which version uses which rules.
//!
//! This module owns the escape tables and nothing else; whether a frame is
//! escaped at all (never for CONNECT, STOMP and CONNECTED) is decided by
//! the decoder and the encoder.

use std::borrow::Cow;

use crate::{Command, DecodeError, Version};

/// How a session's header names and values are written on the wire, which
/// follows from the negotiated version.
///
/// | mode   | escapes              | header line end | raw CR in a header |
/// |--------|----------------------|-----------------|--------------------|
/// | `None` | none: `\` is literal | `[CR] LF`       | malformed          |
/// | `V1_1` | `\n` `\c` `\\`       | `LF`            | an ordinary octet  |
/// | `V1_2` | `\r` `\n` `\c` `\\`  | `[CR] LF`       | malformed          |
///
/// Any escape sequence a mode does not define (`\r` in 1.1 included) is a
/// [`DecodeError::InvalidEscape`], as both specs require. CONNECT, STOMP and
/// CONNECTED frames, which pass before a version is agreed, are read and
/// written as under `None`, whatever the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Escaping {
    /// STOMP 1.0: no escaping; backslashes are literal. CR and LF (and a
    /// colon in a name) cannot be represented and are sent as spaces.
    None,
    /// STOMP 1.1: `\n`, `\c` and `\\`. Lines end at LF alone, so a CR in a
    /// name or value travels raw, which is the only way 1.1 can carry one.
    V1_1,
    /// STOMP 1.2: `\r`, `\n`, `\c` and `\\`, with `[CR] LF` line ends. Also
    /// what a new [`crate::Decoder`] assumes until told otherwise.
    V1_2,
}

impl Escaping {
    /// Every mode, 1.0's first.
    pub const ALL: [Escaping; 3] = [Escaping::None, Escaping::V1_1, Escaping::V1_2];

    /// The rules of a session that negotiated `version`.
    pub fn for_version(version: Version) -> Escaping {
        match version {
            Version::V1_0 => Escaping::None,
            Version::V1_1 => Escaping::V1_1,
            Version::V1_2 => Escaping::V1_2,
        }
    }

    /// What the older `escapes: bool` arguments mean: `true` is 1.2's
    /// rules, `false` is none.
    pub(crate) fn from_flag(escapes: bool) -> Escaping {
        if escapes {
            Escaping::V1_2
        } else {
            Escaping::None
        }
    }

    /// The escaping that applies to the headers of a `command` frame: none
    /// for CONNECT, STOMP and CONNECTED, this one for the rest.
    pub(crate) fn for_command(self, command: Command) -> Escaping {
        if command.escapes_headers() {
            self
        } else {
            Escaping::None
        }
    }

    /// Whether a CR in a header line is part of the name or value rather
    /// than of the line end (1.1's `header-value = *<any OCTET except LF or
    /// ":">`; 1.2 and Herald's 1.0 take `[CR] LF` as the line end instead).
    pub(crate) fn cr_is_header_data(self) -> bool {
        self == Escaping::V1_1
    }
}

/// The escape sequence standing for `byte` under `escaping` (1.1 or 1.2),
/// when it needs one. 1.1 has no `\r`: a CR is written as it is.
fn escape_sequence(byte: u8, escaping: Escaping) -> Option<&'static [u8]> {
    match byte {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b':' => Some(b"\\c"),
        b'\r' if escaping == Escaping::V1_2 => Some(b"\\r"),
        _ => None,
    }
}

/// Hands `text` to `emit` in runs, with every byte that needs it under
/// `escaping` (1.1 or 1.2) replaced by its escape sequence. Runs keep the
/// copying to one `extend` per run rather than one per byte.
pub(crate) fn for_each_escaped(text: &[u8], escaping: Escaping, mut emit: impl FnMut(&[u8])) {
    let mut start = 0;
    for (index, &byte) in text.iter().enumerate() {
        if let Some(sequence) = escape_sequence(byte, escaping) {
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

/// `text` as it goes on the wire in a frame that escapes its headers under
/// STOMP 1.2's rules (`\r`, `\n`, `\c`, `\\`).
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_as(text, Escaping::V1_2)
}

/// `text` escaped under `escaping`, which must be 1.1 or 1.2.
pub(crate) fn escape_as(text: &str, escaping: Escaping) -> Cow<'_, str> {
    if !text
        .bytes()
        .any(|byte| escape_sequence(byte, escaping).is_some())
    {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    // Escape sequences are ASCII and runs are cut at ASCII bytes only, so
    // every run is itself valid UTF-8.
    for_each_escaped(text.as_bytes(), escaping, |run| {
        escaped.push_str(std::str::from_utf8(run).unwrap_or_default())
    });
    Cow::Owned(escaped)
}

/// Decodes the escape sequences of a header name or value read from a frame
/// that escapes its headers under STOMP 1.2's rules.
///
/// Any sequence but the four the spec defines is an error, as the spec
/// requires, rather than a literal backslash: a peer that sends one is not
/// speaking 1.1/1.2. A backslash that ends the text is reported as
/// `InvalidEscape('\n')`, the line end that follows it on the wire.
pub fn unescape(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    unescape_as(text, Escaping::V1_2)
}

/// [`unescape`] under `escaping`: nothing to do for [`Escaping::None`], and
/// `\r` is an undefined sequence, so an error, under [`Escaping::V1_1`].
pub(crate) fn unescape_as(text: &str, escaping: Escaping) -> Result<Cow<'_, str>, DecodeError> {
    if escaping == Escaping::None || !text.contains('\\') {
        return Ok(Cow::Borrowed(text));
    }
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        decoded.push_str(&rest[..at]);
        let mut after = rest[at + 1..].chars();
        decoded.push(match after.next() {
            Some('r') if escaping == Escaping::V1_2 => '\r',
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
    fn escaping_follows_the_version() {
        assert_eq!(Escaping::for_version(Version::V1_0), Escaping::None);
        assert_eq!(Escaping::for_version(Version::V1_1), Escaping::V1_1);
        assert_eq!(Escaping::for_version(Version::V1_2), Escaping::V1_2);
    }

    #[test]
    fn never_escaped_commands_get_no_escaping() {
        for command in Command::ALL {
            let expected = if command.escapes_headers() {
                Escaping::V1_1
            } else {
                Escaping::None
            };
            assert_eq!(Escaping::V1_1.for_command(command), expected);
        }
    }

    #[test]
    fn v1_1_escape_leaves_cr_raw() {
        assert_eq!(
            escape_as("a:b\\c\nd\re", Escaping::V1_1),
            "a\\cb\\\\c\\nd\re"
        );
        assert!(matches!(
            escape_as("a\rb", Escaping::V1_1),
            Cow::Borrowed("a\rb")
        ));
    }

    #[test]
    fn v1_1_unescape_rejects_the_cr_escape() {
        assert_eq!(
            unescape_as("a\\rb", Escaping::V1_1),
            Err(DecodeError::InvalidEscape('r'))
        );
        assert_eq!(
            unescape_as("a\\cb\\\\c\\nd\re", Escaping::V1_1).unwrap(),
            "a:b\\c\nd\re"
        );
    }

    #[test]
    fn unescape_as_none_changes_nothing() {
        assert!(matches!(
            unescape_as("a\\rb\\", Escaping::None),
            Ok(Cow::Borrowed("a\\rb\\"))
        ));
    }

    #[test]
    fn v1_1_escape_then_unescape_is_identity() {
        let text = "ключ:значение\\ \r\n 漢字 🙂 \\r";
        assert_eq!(
            unescape_as(&escape_as(text, Escaping::V1_1), Escaping::V1_1).unwrap(),
            text
        );
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
