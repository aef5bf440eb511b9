//! The incremental frame decoder: bytes in a growing buffer to [`Frame`]s.
//!
//! It owns framing, header decoding and the limits, and keeps the state of
//! a frame that is only partly in, so that bytes arriving one at a time
//! are read once rather than re-parsed on every call (which would let a
//! slow peer cost the broker time quadratic in the frame size). It does no
//! I/O and knows nothing of sessions: the grammar itself is in [`parse`].

#[cfg(test)]
mod limit_tests;
mod parse;
#[cfg(test)]
mod tests;

use bytes::{Buf, BytesMut};

use crate::{escape, Command, DecodeError, Escaping, Frame, Headers, Limit, Limits};

/// The longest command on the wire (`UNSUBSCRIBE`): a command line that
/// grows past it (and a CR) is rejected before its LF arrives.
const LONGEST_COMMAND: usize = 11;

/// Header slots reserved up front for each frame.
const TYPICAL_HEADERS: usize = 12;

/// How much of an unreadable line an error quotes, so that an ERROR frame
/// never echoes kilobytes of a peer's garbage.
const QUOTE_BYTES: usize = 64;

/// Decodes frames from a growing buffer. Partial input is "need more"
/// (`Ok(None)`), never an error, but the limits hold for it all the same.
///
/// A decoder follows one byte stream: between calls the caller only
/// appends to the buffer (or calls [`Decoder::reset`]).
///
/// Header lines are read under an [`Escaping`], which the caller sets from
/// the negotiated version with [`Decoder::set_escaping`]. The decoder cannot
/// know the version before CONNECT and starts with 1.2's rules, which is
/// harmless: CONNECT and STOMP headers are never unescaped, and the
/// `[CR] LF` line end 1.2 allows is accepted from a client of any version.
///
/// Under [`Escaping::V1_1`] a header line ends at LF alone, as 1.1's grammar
/// says, so a CR anywhere in it is an ordinary octet of the name or value,
/// even just before the LF: `name:value\r\n` has the value `value\r`. That
/// is how a 1.1 peer sends a CR: 1.1 has no `\r` escape, and one received
/// is an error. CONNECT, STOMP and CONNECTED are the exception: they pass
/// before any version is agreed, so they are read alike in every mode,
/// unescaped and with `[CR] LF` line ends.
///
/// The command line and the blank line after the headers accept `CR LF`
/// in 1.1 too, as do the EOLs between frames. 1.1's grammar has LF alone
/// there, but a CR could not be part of anything valid in those places, so
/// accepting it rejects nothing the grammar allows, and a peer that wrongly
/// ends its 1.1 lines in `CR LF` still has its frames framed (its header
/// values keep the CR, as the grammar says they must).
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    escaping: Escaping,
    frame: Progress,
}

/// What is known of the frame at the front of the buffer.
#[derive(Clone, Debug, Default)]
struct Progress {
    /// Bytes at the front of the buffer already read into this progress.
    read: usize,
    command: Option<Command>,
    headers: Headers,
    /// The first `content-length` header, once read.
    content_length: Option<usize>,
    /// Where the body starts, once the blank line after the headers is in.
    body_start: Option<usize>,
    /// Buffer offset before which the body is known to hold no NUL.
    scanned: usize,
}

impl Decoder {
    /// A decoder that reads headers under STOMP 1.2's rules
    /// ([`Escaping::V1_2`]) until told otherwise with
    /// [`Decoder::set_escaping`].
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            escaping: Escaping::V1_2,
            frame: Progress::default(),
        }
    }

    /// The rules for the header lines of the frames that follow, normally
    /// `Escaping::for_version(negotiated)` once CONNECT is read. CONNECT,
    /// STOMP and CONNECTED are never unescaped, whatever this says.
    pub fn set_escaping(&mut self, escaping: Escaping) {
        self.escaping = escaping;
    }

    /// The rules header lines are read under.
    pub fn escaping(&self) -> Escaping {
        self.escaping
    }

    /// Shorthand for [`Decoder::set_escaping`]: `true` is
    /// [`Escaping::V1_2`], `false` is [`Escaping::None`] (1.0: backslashes
    /// are literal). A 1.1 session needs [`Escaping::V1_1`] instead, or it
    /// accepts the `\r` escape 1.1 forbids and rejects the raw CR 1.1 allows.
    pub fn set_escapes(&mut self, escapes: bool) {
        self.escaping = Escaping::from_flag(escapes);
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets a partly read frame, for a caller that dropped or replaced
    /// its buffer; the next call starts at the front of the buffer it gets.
    pub fn reset(&mut self) {
        self.frame = Progress::default();
    }

    /// Takes the next frame off the front of `buffer`, skipping any EOLs
    /// (heart-beats) before it. `Ok(None)`: the buffer holds no whole frame
    /// yet (heart-beat bytes before it are consumed all the same).
    ///
    /// The frame's bytes are split off `buffer` and frozen, so its body is
    /// a slice of the same allocation, not a copy. Trailing EOLs after the
    /// NUL stay in `buffer` and are skipped by the next call.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if self.frame.read > buffer.len() {
            self.reset();
        }
        let result = self.step(buffer);
        if !matches!(result, Ok(None)) {
            self.reset();
        }
        result
    }

    fn step(&mut self, buffer: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if self.frame.read == 0 {
            buffer.advance(parse::heart_beats(buffer));
        }
        let Some((command, body_start)) = self.read_head(buffer)? else {
            return self.need_more(buffer);
        };
        let Some(body_end) = self.read_body(buffer, body_start)? else {
            return self.need_more(buffer);
        };
        let frame_end = body_end + 1;
        self.check(Limit::FrameBytes, frame_end)?;
        let bytes = buffer.split_to(frame_end).freeze();
        Ok(Some(Frame {
            command,
            headers: std::mem::take(&mut self.frame.headers),
            body: bytes.slice(body_start..body_end),
        }))
    }

    /// `Ok(None)`, unless the bytes already buffered for this unfinished
    /// frame are more than a whole frame may be.
    fn need_more(&self, buffer: &BytesMut) -> Result<Option<Frame>, DecodeError> {
        self.check(Limit::FrameBytes, buffer.len())?;
        Ok(None)
    }

    fn check(&self, limit: Limit, value: usize) -> Result<(), DecodeError> {
        let max = match limit {
            Limit::FrameBytes => self.limits.max_frame_bytes,
            Limit::Headers => self.limits.max_headers,
            Limit::HeaderLine => self.limits.max_header_line,
            Limit::BodyBytes => self.limits.max_body_bytes,
        };
        if value > max {
            return Err(DecodeError::Limit { limit, max });
        }
        Ok(())
    }

    /// Reads whatever lines of the command and headers are complete and not
    /// yet read. `Some((command, body_start))` once the blank line is in.
    fn read_head(&mut self, buffer: &[u8]) -> Result<Option<(Command, usize)>, DecodeError> {
        let command = match self.frame.command {
            Some(command) => command,
            None => match self.read_command(buffer)? {
                Some(command) => command,
                None => return Ok(None),
            },
        };
        if let Some(body_start) = self.frame.body_start {
            return Ok(Some((command, body_start)));
        }
        loop {
            let rest = &buffer[self.frame.read..];
            let Ok((after, line)) = parse::line(rest) else {
                self.check_partial_header(rest)?;
                return Ok(None);
            };
            self.frame.read += rest.len() - after.len();
            if parse::is_blank(line) {
                return self.end_head(command).map(Some);
            }
            self.read_header(command, line)?;
        }
    }

    /// `command EOL`, with `command = client-command | server-command`, in
    /// every version (see [`Decoder`] for why 1.1 gets `CR LF` here too).
    fn read_command(&mut self, buffer: &[u8]) -> Result<Option<Command>, DecodeError> {
        let Ok((after, line)) = parse::line(buffer) else {
            // The line may still end in CR LF, hence the one byte of slack.
            if buffer.len() > LONGEST_COMMAND + 1 {
                return Err(unknown_command(buffer));
            }
            return Ok(None);
        };
        let content = parse::without_cr(line);
        if content.len() > LONGEST_COMMAND {
            return Err(unknown_command(content));
        }
        let text = std::str::from_utf8(content).map_err(|_| DecodeError::InvalidUtf8("command"))?;
        let command = Command::from_bytes(content)
            .ok_or_else(|| DecodeError::UnknownCommand(text.to_owned()))?;
        self.frame.command = Some(command);
        // Chat frames carry around ten headers: one allocation, no regrowth.
        self.frame.headers = Headers::with_capacity(TYPICAL_HEADERS);
        self.frame.read = buffer.len() - after.len();
        Ok(Some(command))
    }

    /// Stops a header line that is not finished but already breaks a limit,
    /// so a peer cannot dribble an endless line or endless headers.
    ///
    /// A CR that ends the partial line is not counted: it may be the CR of
    /// a `CR LF`, and the complete line is judged again when its LF is in.
    fn check_partial_header(&self, partial: &[u8]) -> Result<(), DecodeError> {
        let content = parse::without_cr(partial);
        if content.is_empty() {
            // Still possibly the blank line that ends the headers.
            return Ok(());
        }
        self.check(Limit::Headers, self.frame.headers.len() + 1)?;
        self.check(Limit::HeaderLine, content.len())
    }

    /// One `header` line (its content up to the LF): line end, limits,
    /// grammar, UTF-8, escapes, and whether it is the `content-length` that
    /// shapes the body.
    ///
    /// The line end is 1.1's (LF alone, a CR is part of the value) in a 1.1
    /// session; otherwise, and in the CONNECT, STOMP and CONNECTED frames
    /// that are read before any version is agreed (and written without
    /// CRs), `[CR] LF`.
    fn read_header(&mut self, command: Command, line: &[u8]) -> Result<(), DecodeError> {
        let escaping = self.escaping.for_command(command);
        let cr_is_data = escaping.cr_is_header_data();
        let content = if cr_is_data {
            line
        } else {
            parse::without_cr(line)
        };
        self.check(Limit::Headers, self.frame.headers.len() + 1)?;
        self.check(Limit::HeaderLine, content.len())?;
        let (_, (name, value)) = parse::header(content, cr_is_data)
            .map_err(|_| DecodeError::MalformedHeader(quote(content)))?;
        let name = decode_text(name, escaping, "header name")?;
        let value = decode_text(value, escaping, "header value")?;
        if self.frame.content_length.is_none() && name == "content-length" {
            let length = parse_content_length(&value)?;
            self.check(Limit::BodyBytes, length)?;
            self.frame.content_length = Some(length);
        }
        self.frame.headers.push(name, value);
        Ok(())
    }

    /// The blank line is in: the body starts here, and a declared body
    /// length settles the frame's size before any of the body arrives.
    fn end_head(&mut self, command: Command) -> Result<(Command, usize), DecodeError> {
        let body_start = self.frame.read;
        if let Some(length) = self.frame.content_length {
            let frame_bytes = body_start.saturating_add(length).saturating_add(1);
            self.check(Limit::FrameBytes, frame_bytes)?;
        }
        self.frame.body_start = Some(body_start);
        self.frame.scanned = body_start;
        Ok((command, body_start))
    }

    /// Where the body ends (its NUL's offset), once it is all in.
    fn read_body(
        &mut self,
        buffer: &[u8],
        body_start: usize,
    ) -> Result<Option<usize>, DecodeError> {
        if let Some(length) = self.frame.content_length {
            return match parse::sized_body(&buffer[body_start..], length) {
                Ok(_) => Ok(Some(body_start + length)),
                Err(nom::Err::Incomplete(_)) => Ok(None),
                Err(_) => Err(DecodeError::MissingNul),
            };
        }
        // Look for the NUL no further than the longest body allowed, and
        // never again through bytes an earlier call already looked at.
        let window_end = buffer.len().min(
            body_start
                .saturating_add(self.limits.max_body_bytes)
                .saturating_add(1),
        );
        let from = self.frame.scanned.max(body_start).min(window_end);
        match parse::body_to_nul(&buffer[from..window_end]) {
            Ok((_, body_tail)) => Ok(Some(from + body_tail.len())),
            Err(_) => {
                self.check(Limit::BodyBytes, window_end - body_start)?;
                self.frame.scanned = window_end;
                Ok(None)
            }
        }
    }
}

/// A header name or value as text: UTF-8 checked on the raw bytes (escape
/// sequences are ASCII, so that is the same as checking the decoded text),
/// then unescaped under the frame's escaping.
fn decode_text(raw: &[u8], escaping: Escaping, what: &'static str) -> Result<String, DecodeError> {
    let text = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8(what))?;
    escape::unescape_as(text, escaping).map(|text| text.into_owned())
}

/// `content-length` is a plain decimal count of octets: no sign, no spaces.
fn parse_content_length(value: &str) -> Result<usize, DecodeError> {
    let invalid = || DecodeError::InvalidContentLength(value.chars().take(QUOTE_BYTES).collect());
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}

fn unknown_command(line: &[u8]) -> DecodeError {
    DecodeError::UnknownCommand(quote(line))
}

fn quote(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTE_BYTES)]).into_owned()
}
