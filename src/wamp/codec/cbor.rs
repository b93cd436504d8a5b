//! CBOR (RFC 8949) for WAMP, on `ciborium-ll` (the low-level layer of ciborium).
//!
//! `ciborium_ll::Decoder` reads every item head — major type and argument, indefinite lengths, tags, simple
//! values, half/single/double floats (widened to `f64`) — and rejects malformed ones (reserved additional
//! information, indefinite integers or tags); `ciborium_ll::Encoder` writes every head, with the shortest
//! argument encoding and floats in the shortest form that keeps their value. This module keeps what a
//! router needs beyond that: zero-copy string contents and payload spans over the frame, every length
//! checked against the bytes left before use, nesting (tags included) bounded, UTF-8 of text strings,
//! two-byte simple values below 32 rejected. So hostile input cannot read out of bounds, reserve memory or
//! exhaust the stack. Tags carry no meaning for WAMP: a tagged item decodes as its content. Output always
//! uses definite lengths. Three readers share the grammar: [`Reader::skip`] (decode's payload spans),
//! [`Reader::value`] (header elements, [`Value`]s) and [`Reader::emit`] (streaming transcoding into another
//! format's [`Sink`]).
//!
//! One exception, for speed: the skip of payload spans ([`Reader::skip_items`]), which every CBOR payload
//! goes through in `decode`, reads heads by hand. Through ciborium-ll each head costs the decoder's reads
//! plus an out-of-line call to its `Title` → `Header` conversion, about 15 ns; on the codec bench a
//! header-only decode of a 4 KiB PUBLISH took 12.6 µs through ciborium-ll instead of 3.2 µs (4x), and
//! takes 3.5 µs with this loop. The hand-written loop accepts and rejects exactly what [`head_at`]
//! (ciborium-ll plus this module's checks) does. The header elements' dozen or so heads still go through
//! ciborium-ll, which is what a 64 B PUBLISH's header-only decode pays for: about 610 ns instead of 380 ns. Header elements, full parsing, transcoding and all output use ciborium-ll; its
//! encoder's out-of-line `Header` → `Title` conversion makes transcoding into CBOR about 1.7x as slow as
//! the former hand-written writer (12.6 µs instead of 7.6 µs for a 4 KiB payload from MessagePack), a cost
//! accepted there since transcoding is the uncommon path and encoding a message splices its payload.

use std::borrow::Cow;
use std::ops::Range;

use bytes::{BufMut, BytesMut};
use ciborium_ll::{simple, Decoder, Encoder, Header};

use super::schema::{self, Elem};
use super::transcode::{is_utf8, patch_header, Out, Scalar, Sink, NO_PATCH};
use super::{DecodeError, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

/// Major types, for the hand-written skip ([`Reader::skip_items`]).
const MAJOR_UINT: u8 = 0;
const MAJOR_NEGINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;

/// The "break" stop code ending an indefinite-length item.
const BREAK: u8 = 0xff;

/// The self-describe tag (55799), which a sender may put before any item.
const SELF_DESCRIBE: u64 = 55799;

/// The most list items reserved before they are seen.
const PREALLOCATE_MAX: usize = 64;

fn syntax(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Syntax { format: Serializer::Cbor, offset, reason }
}

fn unsupported(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Unsupported { format: Serializer::Cbor, offset, reason }
}

/// Decodes one complete value; nothing may follow it.
pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes, MAX_DEPTH);
    let value = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(syntax(r.pos, "trailing data after the value"));
    }
    Ok(value)
}

/// The input ciborium-ll's decoder reads a head from: a byte slice whose `read_exact` copies the initial
/// byte and the 1, 2, 4 or 8 argument bytes of a head as fixed-size moves (no `memcpy` call per head).
struct HeadInput<'a>(&'a [u8]);

impl ciborium_io::Read for HeadInput<'_> {
    type Error = ();

    #[inline]
    fn read_exact(&mut self, data: &mut [u8]) -> Result<(), ()> {
        let (src, rest) = self.0.split_at_checked(data.len()).ok_or(())?;
        match data.len() {
            1 => copy::<1>(data, src),
            2 => copy::<2>(data, src),
            4 => copy::<4>(data, src),
            8 => copy::<8>(data, src),
            _ => data.copy_from_slice(src),
        }
        self.0 = rest;
        Ok(())
    }
}

/// Copies `N` bytes (both slices are `N` long).
#[inline]
fn copy<const N: usize>(data: &mut [u8], src: &[u8]) {
    if let (Ok(data), Ok(src)) = (<&mut [u8; N]>::try_from(data), <&[u8; N]>::try_from(src)) {
        *data = *src;
    }
}

/// Reads the head at `b[at..]` with ciborium-ll, returning it and its length in bytes.
#[inline]
fn head_at(b: &[u8], at: usize) -> Result<(Header, usize), DecodeError> {
    let mut decoder = Decoder::from(HeadInput(b.get(at..).unwrap_or_default()));
    let header = decoder.pull().map_err(|e| match e {
        ciborium_ll::Error::Io(_) => syntax(at, "unexpected end of input"),
        ciborium_ll::Error::Syntax(_) => syntax(at, "malformed head"),
    })?;
    let len = decoder.offset();
    if matches!(header, Header::Simple(n) if n < 32) && len == 2 {
        return Err(syntax(at, "simple value encoded in two bytes"));
    }
    Ok((header, len))
}

/// Whether an encoded item is a byte or text string (a transparent payload).
pub(super) fn is_string(item: &[u8]) -> bool {
    matches!(head_at(item, 0), Ok((Header::Bytes(_) | Header::Text(_), _)))
}

/// A cursor over CBOR bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    /// How deep containers and tags may nest (at most [`MAX_DEPTH`]).
    limit: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], limit: usize) -> Reader<'a> {
        Reader { b, pos: 0, limit: limit.min(MAX_DEPTH) }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// The head at the cursor and the offset after it, without moving past it.
    fn peek_head(&self) -> Option<(Header, usize)> {
        head_at(self.b, self.pos).ok().map(|(header, len)| (header, self.pos + len))
    }

    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let bytes = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| syntax(self.pos, "unexpected end of input"))?;
        self.pos += n;
        Ok(bytes)
    }

    fn head(&mut self) -> Result<Header, DecodeError> {
        let (header, len) = head_at(self.b, self.pos)?;
        self.pos += len;
        Ok(header)
    }

    /// Checks that `count` items (each at least `min_size` bytes) can still fit in the input.
    fn plausible(&self, count: usize, min_size: usize) -> Result<usize, DecodeError> {
        if count.saturating_mul(min_size) > self.remaining() {
            Err(syntax(self.pos, "unexpected end of input"))
        } else {
            Ok(count)
        }
    }

    /// The depth inside a container (or tag) opened at `depth`, if that is within the limit.
    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.limit {
            Err(DecodeError::TooDeep { limit: self.limit })
        } else {
            Ok(depth + 1)
        }
    }

    /// In an indefinite-length item: consumes the break code if it is next.
    fn at_break(&mut self) -> Result<bool, DecodeError> {
        match self.peek() {
            Some(BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(syntax(self.pos, "unexpected end of input")),
        }
    }

    /// The chunks of an indefinite-length text (or byte) string whose head was read, calling `chunk` on each
    /// with its offset.
    fn string_chunks(
        &mut self,
        text: bool,
        mut chunk: impl FnMut(usize, &'a [u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        while !self.at_break()? {
            let at = self.pos;
            let len = match self.head()? {
                Header::Text(Some(len)) if text => len,
                Header::Bytes(Some(len)) if !text => len,
                _ => return Err(syntax(at, "invalid chunk in indefinite-length string")),
            };
            let at = self.pos;
            chunk(at, self.take(len)?)?;
        }
        Ok(())
    }

    /// A text string's content (its head, with length `len`, was read): borrowed if it is in one piece,
    /// assembled from its chunks if not.
    fn text(&mut self, len: Option<usize>) -> Result<Cow<'a, str>, DecodeError> {
        let utf8 = |at: usize, part: &'a [u8]| {
            std::str::from_utf8(part).map_err(|_| syntax(at, "invalid UTF-8 in text string"))
        };
        if let Some(len) = len {
            let at = self.pos;
            return utf8(at, self.take(len)?).map(Cow::Borrowed);
        }
        let mut text = String::new();
        self.string_chunks(true, |at, part| {
            text.push_str(utf8(at, part)?);
            Ok(())
        })?;
        Ok(Cow::Owned(text))
    }

    /// Skips a text string's content, checking it to be UTF-8.
    fn skip_text(&mut self, len: Option<usize>) -> Result<(), DecodeError> {
        match len {
            Some(len) => {
                let at = self.pos;
                if !is_utf8(self.take(len)?) {
                    return Err(syntax(at, "invalid UTF-8 in text string"));
                }
                Ok(())
            }
            None => self.string_chunks(true, |at, part| {
                if is_utf8(part) {
                    Ok(())
                } else {
                    Err(syntax(at, "invalid UTF-8 in text string"))
                }
            }),
        }
    }

    /// A byte string's content: borrowed if it is in one piece, assembled from its chunks if not.
    fn byte_string(&mut self, len: Option<usize>) -> Result<Cow<'a, [u8]>, DecodeError> {
        if let Some(len) = len {
            return self.take(len).map(Cow::Borrowed);
        }
        let mut bytes = Vec::new();
        self.string_chunks(false, |_, part| {
            bytes.extend_from_slice(part);
            Ok(())
        })?;
        Ok(Cow::Owned(bytes))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        Ok(match self.head()? {
            Header::Positive(n) => Value::from(n),
            Header::Negative(n) => Value::Int(negative(at, n)?),
            Header::Bytes(len) => Value::Bytes(self.byte_string(len)?.into_owned()),
            Header::Text(len) => Value::Str(self.text(len)?.into_owned()),
            Header::Array(len) => {
                let depth = self.enter(depth)?;
                let mut list = Vec::new();
                match len {
                    None => {
                        while !self.at_break()? {
                            list.push(self.value(depth)?);
                        }
                    }
                    Some(n) => {
                        let n = self.plausible(n, 1)?;
                        // Grown as items arrive: reserving `n` up front at every nesting level would let small
                        // input claim a multiple of its size.
                        list.reserve_exact(n.min(PREALLOCATE_MAX));
                        for _ in 0..n {
                            list.push(self.value(depth)?);
                        }
                    }
                }
                Value::List(list)
            }
            Header::Map(len) => {
                let depth = self.enter(depth)?;
                let mut dict = Dict::new();
                match len {
                    None => {
                        while !self.at_break()? {
                            let key = self.key()?.into_owned();
                            dict.insert(key, self.value(depth)?);
                        }
                    }
                    Some(n) => {
                        for _ in 0..self.plausible(n, 2)? {
                            let key = self.key()?.into_owned();
                            dict.insert(key, self.value(depth)?);
                        }
                    }
                }
                Value::Dict(dict)
            }
            Header::Tag(_) => {
                let depth = self.enter(depth)?;
                self.value(depth)?
            }
            Header::Float(f) => Value::Float(f),
            Header::Simple(simple) => match simple {
                simple::FALSE => Value::Bool(false),
                simple::TRUE => Value::Bool(true),
                simple::NULL | simple::UNDEFINED => Value::Null,
                _ => return Err(unsupported(at, "simple value")),
            },
            Header::Break => return Err(syntax(at, "unexpected break")),
        })
    }

    /// Reads one item, feeding it to `sink` (the streaming twin of [`Reader::value`]).
    fn emit<S: Sink>(&mut self, sink: &mut S, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        match self.head()? {
            Header::Positive(n) => sink.scalar(Scalar::UInt(n)),
            Header::Negative(n) => sink.scalar(Scalar::Int(negative(at, n)?)),
            Header::Bytes(len) => sink.scalar(Scalar::Bytes(&self.byte_string(len)?)),
            Header::Text(len) => sink.scalar(Scalar::Text(&self.text(len)?)),
            Header::Array(len) => self.emit_container(sink, false, len, depth)?,
            Header::Map(len) => self.emit_container(sink, true, len, depth)?,
            Header::Tag(_) => {
                let depth = self.enter(depth)?;
                self.emit(sink, depth)?;
            }
            Header::Float(f) => sink.scalar(Scalar::Float(f)),
            Header::Simple(simple) => match simple {
                simple::FALSE => sink.scalar(Scalar::Bool(false)),
                simple::TRUE => sink.scalar(Scalar::Bool(true)),
                simple::NULL | simple::UNDEFINED => sink.scalar(Scalar::Null),
                _ => return Err(unsupported(at, "simple value")),
            },
            Header::Break => return Err(syntax(at, "unexpected break")),
        }
        Ok(())
    }

    fn emit_container<S: Sink>(
        &mut self,
        sink: &mut S,
        map: bool,
        len: Option<usize>,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let depth = self.enter(depth)?;
        let known = len.map(|n| self.plausible(n, if map { 2 } else { 1 })).transpose()?;
        let mark = sink.open(map, known);
        let mut len = 0;
        loop {
            match known {
                Some(n) if len == n => break,
                None if self.at_break()? => break,
                _ => {}
            }
            if len > 0 {
                sink.separator();
            }
            if map {
                let at = self.pos;
                let Header::Text(key) = self.head()? else {
                    return Err(unsupported(at, "map key is not a text string"));
                };
                sink.key(&self.text(key)?);
                sink.colon();
            }
            self.emit(sink, depth)?;
            len += 1;
        }
        sink.close(map, mark, len);
        Ok(())
    }

    /// A map key, which WAMP requires to be a text string.
    fn key(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let at = self.pos;
        match self.head()? {
            Header::Text(len) => self.text(len),
            _ => Err(unsupported(at, "map key is not a text string")),
        }
    }

    /// Skips one item, checking that it is well-formed (and its text strings UTF-8).
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.skip_items(Some(1), false, depth)
    }

    /// Skips `count` items, or — for `None` — items up to a break code (an even number if `pairs`).
    ///
    /// This is the hot path of `decode` (every payload goes through it): heads, scalars and definite
    /// strings are handled in the loop, only containers and tags recurse. It is the one place that reads
    /// heads by hand rather than through ciborium-ll (see the module documentation for why); it accepts and
    /// rejects exactly what [`head_at`] does.
    fn skip_items(&mut self, count: Option<usize>, pairs: bool, depth: usize) -> Result<(), DecodeError> {
        let b = self.b;
        let eof = |at: usize| syntax(at, "unexpected end of input");
        let mut pos = self.pos;
        let mut done = 0usize;
        loop {
            match count {
                Some(n) if done == n => break,
                None if b.get(pos) == Some(&BREAK) => {
                    if pairs && done % 2 == 1 {
                        return Err(syntax(pos, "unexpected break"));
                    }
                    pos += 1;
                    break;
                }
                _ => {}
            }
            done += 1;
            let at = pos;
            let initial = *b.get(pos).ok_or_else(|| eof(at))?;
            pos += 1;
            let major = initial >> 5;
            let info = initial & 0x1f;
            let arg = match info {
                0..=23 => u64::from(info),
                24..=27 => {
                    let n = 1 << (info - 24);
                    let bytes = b.get(pos..pos + n).ok_or_else(|| eof(at))?;
                    pos += n;
                    bytes.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
                }
                28..=30 => return Err(syntax(at, "malformed head")),
                _ => 0,
            };
            let indefinite = info == 31;
            match major {
                MAJOR_UINT | MAJOR_NEGINT | MAJOR_TAG if indefinite => {
                    return Err(syntax(at, "malformed head"))
                }
                MAJOR_UINT | MAJOR_NEGINT => {}
                MAJOR_BYTES | MAJOR_TEXT if indefinite => {
                    self.pos = pos;
                    self.string_chunks(major == MAJOR_TEXT, |at, part| check_text(major, at, part))?;
                    pos = self.pos;
                }
                MAJOR_BYTES | MAJOR_TEXT => {
                    let len = usize::try_from(arg).map_err(|_| eof(at))?;
                    let part = b.get(pos..pos.saturating_add(len)).ok_or_else(|| eof(at))?;
                    check_text(major, pos, part)?;
                    pos += len;
                }
                MAJOR_ARRAY | MAJOR_MAP | MAJOR_TAG => {
                    let inner = self.enter(depth)?;
                    self.pos = pos;
                    match major {
                        MAJOR_TAG => self.skip_items(Some(1), false, inner)?,
                        _ if indefinite => self.skip_items(None, major == MAJOR_MAP, inner)?,
                        _ => {
                            let per_entry = if major == MAJOR_MAP { 2 } else { 1 };
                            let n = usize::try_from(arg).map_err(|_| eof(at))?;
                            let n = self.plausible(n, per_entry)?;
                            self.skip_items(Some(n * per_entry), false, inner)?;
                        }
                    }
                    pos = self.pos;
                }
                _ => match info {
                    24 if arg < 32 => return Err(syntax(at, "simple value encoded in two bytes")),
                    31 => return Err(syntax(at, "unexpected break")),
                    _ => {}
                },
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Skips a map whose keys are all text strings (`ArgumentsKw|dict`); its head, with length `len`, was
    /// read.
    fn skip_string_keyed_map(&mut self, len: Option<usize>, depth: usize) -> Result<(), DecodeError> {
        let depth = self.enter(depth)?;
        let entry = |r: &mut Self| -> Result<(), DecodeError> {
            let at = r.pos;
            match r.head()? {
                Header::Text(len) => r.skip_text(len)?,
                _ => return Err(unsupported(at, "map key is not a text string")),
            }
            r.skip_items(Some(1), false, depth)
        };
        match len {
            None => {
                while !self.at_break()? {
                    entry(self)?;
                }
            }
            Some(n) => {
                for _ in 0..self.plausible(n, 2)? {
                    entry(self)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks that a text string's bytes (or a chunk's) are UTF-8; byte strings pass.
fn check_text(major: u8, at: usize, part: &[u8]) -> Result<(), DecodeError> {
    if major == MAJOR_TEXT && !is_utf8(part) {
        return Err(syntax(at, "invalid UTF-8 in text string"));
    }
    Ok(())
}

/// The value of a negative integer whose head holds `n` (it stands for `-1 - n`).
fn negative(at: usize, n: u64) -> Result<i64, DecodeError> {
    match i64::try_from(n) {
        Ok(n) => Ok(-1 - n),
        Err(_) => Err(unsupported(at, "negative integer below -2^63")),
    }
}

/// Reads one complete item, feeding it to `sink`; nothing may follow it.
pub(super) fn emit<S: Sink>(bytes: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes, MAX_DEPTH);
    r.emit(sink, 0)?;
    if r.pos != bytes.len() {
        return Err(syntax(r.pos, "trailing data after the value"));
    }
    Ok(())
}

/// A [`Sink`] writing CBOR.
pub(super) struct Writer<'a>(pub(super) &'a mut BytesMut);

/// The longest head: the initial byte and a 64-bit argument. Containers of unknown length start with one,
/// until [`Sink::close`] knows the length.
const MAX_HEAD: usize = 9;

impl Sink for Writer<'_> {
    fn scalar(&mut self, value: Scalar<'_>) {
        let out = &mut *self.0;
        match value {
            Scalar::Null => put(out, Header::Simple(simple::NULL)),
            Scalar::Bool(b) => write_bool(out, b),
            Scalar::Int(i) => write_int(out, i),
            Scalar::UInt(u) => put(out, Header::Positive(u)),
            Scalar::Float(f) => put(out, Header::Float(f)),
            Scalar::Text(s) => write_str(out, s.as_bytes()),
            Scalar::Bytes(b) => write_bytes(out, b),
        }
    }

    fn open(&mut self, map: bool, len: Option<usize>) -> usize {
        match len {
            Some(n) => {
                put(self.0, container(map, n));
                NO_PATCH
            }
            None => {
                let mark = self.0.len();
                self.0.put_slice(&[0; MAX_HEAD]);
                mark
            }
        }
    }

    fn separator(&mut self) {}

    fn colon(&mut self) {}

    fn close(&mut self, map: bool, mark: usize, len: usize) {
        if mark != NO_PATCH {
            let mut head = [0; MAX_HEAD];
            let mut rest = &mut head[..];
            // A head is at most `MAX_HEAD` bytes, so it fits.
            let _ = Encoder::from(&mut rest).push(container(map, len));
            let head_len = MAX_HEAD - rest.len();
            patch_header(self.0, mark, MAX_HEAD, head.get(..head_len).unwrap_or_default());
        }
    }
}

/// Walks the elements of a message's top-level CBOR array.
pub(super) struct Walker<'a> {
    r: Reader<'a>,
    /// Elements left in a definite-length array; `None` for an indefinite one.
    left: Option<usize>,
}

impl<'a> Walker<'a> {
    /// Opens the message list (after any self-describe tags), which counts as the first of the `limit`
    /// levels containers may nest.
    pub(super) fn open(frame: &'a [u8], limit: usize) -> Result<Walker<'a>, DecodeError> {
        let mut r = Reader::new(frame, limit);
        loop {
            match r.head().map_err(|_| DecodeError::NotAList)? {
                Header::Tag(SELF_DESCRIBE) => continue,
                Header::Array(None) => {
                    r.enter(0)?;
                    return Ok(Walker { r, left: None });
                }
                Header::Array(Some(n)) => {
                    r.enter(0)?;
                    let left = r.plausible(n, 1)?;
                    return Ok(Walker { r, left: Some(left) });
                }
                _ => return Err(DecodeError::NotAList),
            }
        }
    }

    fn span(&mut self) -> Result<Range<usize>, DecodeError> {
        let start = self.r.pos;
        self.r.skip(1)?;
        Ok(start..self.r.pos)
    }
}

impl schema::Walker for Walker<'_> {
    fn next(&mut self) -> Result<bool, DecodeError> {
        match &mut self.left {
            Some(0) => Ok(false),
            Some(left) => {
                *left -= 1;
                Ok(true)
            }
            None => self.r.at_break().map(|ended| !ended),
        }
    }

    fn uint(&mut self) -> Result<Option<u64>, DecodeError> {
        let Some((Header::Positive(n), next)) = self.r.peek_head() else {
            return Ok(None);
        };
        self.r.pos = next;
        Ok(Some(n))
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        let Some((Header::Text(len), next)) = self.r.peek_head() else {
            return Ok(None);
        };
        self.r.pos = next;
        self.r.text(len).map(|text| Some(text.into_owned()))
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        if !matches!(self.r.peek_head(), Some((Header::Map(_), _))) {
            return Ok(None);
        }
        match self.r.value(1)? {
            Value::Dict(dict) => Ok(Some(dict)),
            _ => Ok(None),
        }
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        match self.r.peek_head() {
            Some((Header::Array(_), _)) => self.span().map(|span| Some((span, false))),
            Some((Header::Bytes(_) | Header::Text(_), _)) if transparent_ok => {
                self.span().map(|span| Some((span, true)))
            }
            _ => Ok(None),
        }
    }

    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError> {
        let Some((Header::Map(len), next)) = self.r.peek_head() else {
            return Ok(None);
        };
        let start = self.r.pos;
        self.r.pos = next;
        self.r.skip_string_keyed_map(len, 1)?;
        Ok(Some(start..self.r.pos))
    }

    fn skip(&mut self) -> Result<(), DecodeError> {
        self.r.skip(1)
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        if self.r.pos != self.r.b.len() {
            return Err(syntax(self.r.pos, "trailing data after the message"));
        }
        Ok(())
    }
}

/// Writes a head with ciborium-ll's encoder (shortest argument; shortest lossless float).
fn put(out: &mut BytesMut, header: Header) {
    // `Out` never fails, so neither can the write.
    let _ = Encoder::from(Out(out)).push(header);
}

/// A definite-length array (or map) head for `n` items (entries).
fn container(map: bool, n: usize) -> Header {
    if map {
        Header::Map(Some(n))
    } else {
        Header::Array(Some(n))
    }
}

fn write_bool(out: &mut BytesMut, b: bool) {
    put(out, Header::Simple(if b { simple::TRUE } else { simple::FALSE }));
}

fn write_int(out: &mut BytesMut, i: i64) {
    match u64::try_from(i) {
        Ok(u) => put(out, Header::Positive(u)),
        Err(_) => put(out, Header::Negative(!(i as u64))),
    }
}

fn write_bytes(out: &mut BytesMut, b: &[u8]) {
    put(out, Header::Bytes(Some(b.len())));
    out.put_slice(b);
}

/// Writes a text string (UTF-8 bytes).
fn write_str(out: &mut BytesMut, s: &[u8]) {
    put(out, Header::Text(Some(s.len())));
    out.put_slice(s);
}

pub(super) fn write_list(out: &mut BytesMut, list: &[Value]) {
    put(out, Header::Array(Some(list.len())));
    for item in list {
        write_value(out, item);
    }
}

pub(super) fn write_dict(out: &mut BytesMut, dict: &Dict) {
    put(out, Header::Map(Some(dict.len())));
    for (key, value) in dict {
        write_str(out, key.as_bytes());
        write_value(out, value);
    }
}

pub(super) fn write_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Null => put(out, Header::Simple(simple::NULL)),
        Value::Bool(b) => write_bool(out, *b),
        Value::Int(i) => write_int(out, *i),
        Value::UInt(u) => put(out, Header::Positive(*u)),
        Value::Float(f) => put(out, Header::Float(*f)),
        Value::Str(s) => write_str(out, s.as_bytes()),
        Value::Bytes(b) => write_bytes(out, b),
        Value::List(list) => write_list(out, list),
        Value::Dict(dict) => write_dict(out, dict),
    }
}

pub(super) fn write_message(out: &mut BytesMut, elems: &[Elem<'_>]) {
    put(out, Header::Array(Some(elems.len())));
    for elem in elems {
        match elem {
            Elem::UInt(n) => put(out, Header::Positive(*n)),
            Elem::Str(s) => write_str(out, s.as_bytes()),
            Elem::Dict(d) => write_dict(out, d),
            Elem::Raw(raw) => out.put_slice(raw),
            Elem::EmptyList => put(out, Header::Array(Some(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    fn bytes(v: &Value) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_value(&mut out, v);
        out.to_vec()
    }

    fn decode_hex(h: &str) -> Result<Value, DecodeError> {
        decode_value(&hex::decode(h.replace(' ', "")).unwrap())
    }

    #[test]
    fn smallest_integer_heads() {
        let cases: [(Value, &str); 10] = [
            (Value::Int(0), "00"),
            (Value::Int(23), "17"),
            (Value::Int(24), "1818"),
            (Value::Int(256), "190100"),
            (Value::Int(65536), "1a00010000"),
            (Value::Int(5512315355), "1b00000001488f41db"),
            (Value::UInt(u64::MAX), "1bffffffffffffffff"),
            (Value::Int(-1), "20"),
            (Value::Int(-25), "3818"),
            (Value::Int(i64::MIN), "3b7fffffffffffffff"),
        ];
        for (v, hex_bytes) in cases {
            assert_eq!(hex::encode(bytes(&v)), hex_bytes, "{v:?}");
            assert_eq!(decode_value(&bytes(&v)).unwrap(), v);
        }
    }

    #[test]
    fn rfc8949_examples() {
        assert_eq!(decode_hex("f93c00").unwrap(), Value::Float(1.0));
        assert_eq!(decode_hex("f97bff").unwrap(), Value::Float(65504.0));
        assert_eq!(decode_hex("f90001").unwrap(), Value::Float(5.960464477539063e-8));
        assert_eq!(decode_hex("f9fc00").unwrap(), Value::Float(f64::NEG_INFINITY));
        assert_eq!(decode_hex("fa47c35000").unwrap(), Value::Float(100000.0));
        assert_eq!(decode_hex("5f42010243030405ff").unwrap(), Value::Bytes(vec![1, 2, 3, 4, 5]));
        assert_eq!(decode_hex("7f657374726561646d696e67ff").unwrap(), Value::from("streaming"));
        assert_eq!(
            decode_hex("9f018202039f0405ffff").unwrap(),
            Value::List(vec![
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::Int(3)]),
                Value::List(vec![Value::Int(4), Value::Int(5)])
            ])
        );
        assert_eq!(
            decode_hex("bf61610161629f0203ffff").unwrap(),
            Value::Dict(dict! { "a" => 1u64, "b" => vec![Value::Int(2), Value::Int(3)] })
        );
        // Tags decode as their content; undefined as null.
        assert_eq!(decode_hex("c11a514b67b0").unwrap(), Value::Int(1363896240));
        assert_eq!(decode_hex("f7").unwrap(), Value::Null);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1c",
            "5f 01 ff",
            "5f 5f ff ff",
            "7f 41 00 ff",
            "9f 01",
            "ff",
            "f8 10",
            "1f",
            "3f",
            "df",
            "62 ff ff",
            "9b ffffffffffffffff",
            "5b 7fffffffffffffff",
            "a1 01 02",
            "3b 8000000000000000",
            "f0",
            "01 02",
        ] {
            assert!(decode_hex(bad).is_err(), "{bad}");
        }
        let deep = format!("{}80", "81".repeat(MAX_DEPTH));
        assert!(decode_hex(&deep).is_err());
        let deep_tags = format!("{}00", "c1".repeat(MAX_DEPTH + 1));
        assert!(decode_hex(&deep_tags).is_err());
        let ok = format!("{}80", "81".repeat(MAX_DEPTH - 1));
        assert!(decode_hex(&ok).is_ok());
    }

    #[test]
    fn cross_checks_with_ciborium() {
        let v = Value::Dict(dict! {
            "s" => "héllo",
            "l" => vec![Value::Int(-3), Value::UInt(u64::MAX), Value::Float(0.25), Value::Null, Value::Bytes(vec![0, 255])],
        });
        let ours = bytes(&v);
        let theirs: ciborium::Value = ciborium::from_reader(&ours[..]).unwrap();
        let mut again = Vec::new();
        ciborium::into_writer(&theirs, &mut again).unwrap();
        assert_eq!(decode_value(&again).unwrap(), v);
    }
}
