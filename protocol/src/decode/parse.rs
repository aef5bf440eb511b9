//! The STOMP frame grammar (1.2's, with 1.1's header lines where they
//! differ) as nom streaming parsers over byte slices.
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
/// alone, since its `LF` may be on its way. `CR LF` counts in every version
/// (1.1 has `*( LF )` here): a decoder does not know the version before
/// CONNECT, and a CR there could begin nothing valid anyway.
pub(super) fn heart_beats(input: &[u8]) -> usize {
    let mut rest = input;
    while let Ok((after, _)) = eol(rest) {
        rest = after;
    }
    input.len() - rest.len()
}

/// `*<any OCTET except LF> LF`: the shape shared by the command line, each
/// header line and the blank line that ends the headers.
///
/// The content excludes the LF but not a CR before it: whether that CR is
/// part of the line end (`EOL = [CR] LF` in 1.2) or of a header value (1.1,
/// whose lines end at LF alone) is for the caller to decide, with
/// [`without_cr`] for the former.
pub(super) fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(
        streaming::take_until(&b"\n"[..]),
        streaming::tag(&b"\n"[..]),
    )
    .parse(input)
}

/// A line's content with the CR of a `CR LF` line end taken off.
pub(super) fn without_cr(content: &[u8]) -> &[u8] {
    content.strip_suffix(b"\r").unwrap_or(content)
}

/// Whether a line's content is the blank line that ends the headers: empty,
/// or a lone CR (a `CR LF`), which is accepted in every version. 1.1's
/// grammar has LF alone there, but a lone CR cannot be a header (it has no
/// colon), so taking it as the blank line rejects nothing valid and still
/// frames the frames of a 1.1 peer that ends its lines in `CR LF`.
pub(super) fn is_blank(content: &[u8]) -> bool {
    without_cr(content).is_empty()
}

/// `header = header-name ":" header-value`, applied to one line's content
/// (without its line end).
///
/// When `cr_is_data` is false (1.2's grammar, which Herald applies to 1.0
/// too), `header-name = 1*<any OCTET except CR or LF or ":">` and a CR
/// anywhere is malformed, so no decoded header can hold one unless it was
/// escaped. When it is true (1.1's grammar, `header-name = 1*<any OCTET
/// except LF or ":">`), a CR is an ordinary octet of the name or value.
///
/// Either way the spec's `header-value = *<any OCTET except ... ":">` is
/// relaxed to allow colons, as every broker does: the value is everything
/// after the first colon.
pub(super) fn header(content: &[u8], cr_is_data: bool) -> IResult<&[u8], (&[u8], &[u8])> {
    let forbidden = move |byte: u8| byte == b'\r' && !cr_is_data;
    let name = complete::take_till1(|byte| byte == b':' || forbidden(byte));
    let value = complete::take_till(forbidden);
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
