//! The STOMP 1.2 frame grammar as nom streaming parsers over byte slices.
//!
//! Each parser recognises one production of the spec's Augmented BNF and
//! borrows from its input. Nothing here allocates, counts limits or decides
//! what a header means: that is the decoder's job. `Err::Incomplete` means
//! "the production is not all here yet", which the decoder turns into
//! "need more".

use nom::branch::alt;
use nom::bytes::{complete, streaming};
use nom::combinator::eof;
use nom::sequence::terminated;
use nom::{IResult, Parser};

/// `EOL = [CR] LF`
pub(super) fn eol(input: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((streaming::tag(&b"\r\n"[..]), streaming::tag(&b"\n"[..]))).parse(input)
}

/// `frame-stream = 1*frame` with `frame = ... NULL *( EOL )`: the EOLs a
/// peer sends between frames, heart-beats included.
///
/// Returns how many bytes of EOLs open `input`. An unfinished `CR` is left
/// alone, since its `LF` may be on its way.
pub(super) fn heart_beats(input: &[u8]) -> usize {
    let mut rest = input;
    while let Ok((after, _)) = eol(rest) {
        rest = after;
    }
    input.len() - rest.len()
}

/// `*<any OCTET except LF> EOL`: the shape shared by the command line, each
/// header line and the blank line that ends the headers.
///
/// The content excludes the EOL, so a CR just before the LF is not part of
/// it (`EOL = [CR] LF`); any other CR is, and is for the caller to judge.
pub(super) fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, content) = terminated(
        streaming::take_until(&b"\n"[..]),
        streaming::tag(&b"\n"[..]),
    )
    .parse(input)?;
    Ok((rest, content.strip_suffix(b"\r").unwrap_or(content)))
}

/// `header = header-name ":" header-value`, applied to one line's content,
/// with `header-name = 1*<any OCTET except CR or LF or ":">`.
///
/// The spec's `header-value = *<any OCTET except CR or LF or ":">` is
/// relaxed to allow colons, as every broker does: the value is everything
/// after the first colon. CR stays forbidden, so no decoded header can hold
/// one unless it was escaped.
pub(super) fn header(content: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let name = complete::take_till1(|byte| byte == b':' || byte == b'\r');
    let value = complete::take_till(|byte| byte == b'\r');
    let (rest, (name, _, value, _)) =
        (name, complete::tag(&b":"[..]), value, eof).parse(content)?;
    Ok((rest, (name, value)))
}

/// `*OCTET NULL` where the octets are exactly `content-length` of them, so a
/// body may hold NULs. An `Err::Error` means the byte after them is not NUL.
pub(super) fn sized_body(input: &[u8], length: usize) -> IResult<&[u8], &[u8]> {
    terminated(streaming::take(length), streaming::tag(&b"\0"[..])).parse(input)
}

/// `*<any OCTET except NULL> NULL`: a body without `content-length` runs to
/// the first NUL.
pub(super) fn body_to_nul(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(
        streaming::take_until(&b"\0"[..]),
        streaming::tag(&b"\0"[..]),
    )
    .parse(input)
}
