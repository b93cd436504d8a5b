//! CBOR (RFC 8949) for WAMP.
//!
//! Hand-written over byte slices, accepting everything well-formed: definite and indefinite lengths
//! (strings, arrays, maps), tags, simple values and half/single/double floats. Lengths are checked against
//! the bytes left before use and nesting (tags included) is bounded, so hostile input cannot read out of
//! bounds, reserve memory or exhaust the stack. Tags carry no meaning for WAMP: a tagged item decodes as
//! its content. Output always uses definite lengths and the shortest integer/length heads. Three readers
//! share the grammar: [`Reader::skip`] (decode's payload spans), [`Reader::value`] (header elements,
//! [`Value`]s) and [`Reader::emit`] (streaming transcoding into another format's [`Sink`]).

use std::borrow::Cow;
use std::ops::Range;

use bytes::{BufMut, BytesMut};

use super::schema::{self, Elem};
use super::transcode::{is_utf8, patch_header, Scalar, Sink, NO_PATCH};
use super::{DecodeError, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

const UINT: u8 = 0;
const NEGINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

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
    let mut r = Reader { b: bytes, pos: 0 };
    let value = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(syntax(r.pos, "trailing data after the value"));
    }
    Ok(value)
}

/// An item's head: major type and argument.
#[derive(Clone, Copy)]
struct Head {
    major: u8,
    /// The additional information (low five bits of the initial byte).
    info: u8,
    /// The argument; meaningless when `info` is 31 (indefinite length / break).
    arg: u64,
}

impl Head {
    fn indefinite(self) -> bool {
        self.info == 31
    }
}

/// A cursor over CBOR bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| syntax(self.pos, "unexpected end of input"))?;
        let bytes = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| syntax(self.pos, "unexpected end of input"))?;
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N as u64)?;
        <[u8; N]>::try_from(bytes).map_err(|_| syntax(self.pos, "unexpected end of input"))
    }

    fn head(&mut self) -> Result<Head, DecodeError> {
        let at = self.pos;
        let [initial] = self.array::<1>()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.array::<1>()?[0]),
            25 => u64::from(u16::from_be_bytes(self.array()?)),
            26 => u64::from(u32::from_be_bytes(self.array()?)),
            27 => u64::from_be_bytes(self.array()?),
            28..=30 => return Err(syntax(at, "reserved additional information")),
            _ => match major {
                BYTES | TEXT | ARRAY | MAP | SIMPLE => 0,
                _ => return Err(syntax(at, "indefinite length not allowed for this major type")),
            },
        };
        if major == SIMPLE && info == 24 && arg < 32 {
            return Err(syntax(at, "simple value encoded in two bytes"));
        }
        Ok(Head { major, info, arg })
    }

    /// Checks that `count` items (each at least `min_size` bytes) can still fit in the input.
    fn plausible(&self, count: u64, min_size: u64) -> Result<usize, DecodeError> {
        match usize::try_from(count.saturating_mul(min_size)) {
            Ok(needed) if needed <= self.remaining() => {
                usize::try_from(count).map_err(|_| syntax(self.pos, "unexpected end of input"))
            }
            _ => Err(syntax(self.pos, "unexpected end of input")),
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            Err(syntax(self.pos, "nesting too deep"))
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

    /// The chunks of an indefinite-length byte or text string (whose head was read), calling `chunk` on
    /// each with its offset.
    fn string_chunks(
        &mut self,
        head: Head,
        mut chunk: impl FnMut(usize, &'a [u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        while !self.at_break()? {
            let at = self.pos;
            let part = self.head()?;
            if part.major != head.major || part.indefinite() {
                return Err(syntax(at, "invalid chunk in indefinite-length string"));
            }
            let at = self.pos;
            chunk(at, self.take(part.arg)?)?;
        }
        Ok(())
    }

    /// A text string's content: borrowed if it is in one piece, assembled from its chunks if not.
    fn text(&mut self, head: Head) -> Result<Cow<'a, str>, DecodeError> {
        let utf8 = |at: usize, part: &'a [u8]| {
            std::str::from_utf8(part).map_err(|_| syntax(at, "invalid UTF-8 in text string"))
        };
        if !head.indefinite() {
            let at = self.pos;
            return utf8(at, self.take(head.arg)?).map(Cow::Borrowed);
        }
        let mut text = String::new();
        self.string_chunks(head, |at, part| {
            text.push_str(utf8(at, part)?);
            Ok(())
        })?;
        Ok(Cow::Owned(text))
    }

    /// A text string's bytes, checked to be UTF-8 as [`Reader::text`] checks them.
    fn text_bytes(&mut self, head: Head) -> Result<Cow<'a, [u8]>, DecodeError> {
        if head.indefinite() {
            return self.text(head).map(|text| Cow::Owned(text.into_owned().into_bytes()));
        }
        let at = self.pos;
        let bytes = self.take(head.arg)?;
        if is_utf8(bytes) {
            Ok(Cow::Borrowed(bytes))
        } else {
            Err(syntax(at, "invalid UTF-8 in text string"))
        }
    }

    /// A byte string's content: borrowed if it is in one piece, assembled from its chunks if not.
    fn byte_string(&mut self, head: Head) -> Result<Cow<'a, [u8]>, DecodeError> {
        if !head.indefinite() {
            return self.take(head.arg).map(Cow::Borrowed);
        }
        let mut bytes = Vec::new();
        self.string_chunks(head, |_, part| {
            bytes.extend_from_slice(part);
            Ok(())
        })?;
        Ok(Cow::Owned(bytes))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let head = self.head()?;
        Ok(match head.major {
            UINT => Value::from(head.arg),
            NEGINT => match i64::try_from(head.arg) {
                Ok(n) => Value::Int(-1 - n),
                Err(_) => return Err(unsupported(at, "negative integer below -2^63")),
            },
            BYTES => Value::Bytes(self.byte_string(head)?.into_owned()),
            TEXT => Value::Str(self.text(head)?.into_owned()),
            ARRAY => {
                let depth = self.enter(depth)?;
                let mut list = Vec::new();
                if head.indefinite() {
                    while !self.at_break()? {
                        list.push(self.value(depth)?);
                    }
                } else {
                    let n = self.plausible(head.arg, 1)?;
                    // Grown as items arrive: reserving `n` up front at every nesting level would let small
                    // input claim a multiple of its size.
                    list.reserve_exact(n.min(PREALLOCATE_MAX));
                    for _ in 0..n {
                        list.push(self.value(depth)?);
                    }
                }
                Value::List(list)
            }
            MAP => {
                let depth = self.enter(depth)?;
                let mut dict = Dict::new();
                if head.indefinite() {
                    while !self.at_break()? {
                        let key = self.key()?.into_owned();
                        dict.insert(key, self.value(depth)?);
                    }
                } else {
                    for _ in 0..self.plausible(head.arg, 2)? {
                        let key = self.key()?.into_owned();
                        dict.insert(key, self.value(depth)?);
                    }
                }
                Value::Dict(dict)
            }
            TAG => {
                let depth = self.enter(depth)?;
                self.value(depth)?
            }
            _ => match head.info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 | 23 => Value::Null,
                25 => Value::Float(f16_to_f64(head.arg as u16)),
                26 => Value::Float(f64::from(f32::from_bits(head.arg as u32))),
                27 => Value::Float(f64::from_bits(head.arg)),
                31 => return Err(syntax(at, "unexpected break")),
                _ => return Err(unsupported(at, "simple value")),
            },
        })
    }

    /// Reads one item, feeding it to `sink` (the streaming twin of [`Reader::value`]).
    fn emit<S: Sink>(&mut self, sink: &mut S, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let head = self.head()?;
        match head.major {
            UINT => sink.scalar(Scalar::UInt(head.arg)),
            NEGINT => match i64::try_from(head.arg) {
                Ok(n) => sink.scalar(Scalar::Int(-1 - n)),
                Err(_) => return Err(unsupported(at, "negative integer below -2^63")),
            },
            BYTES => sink.scalar(Scalar::Bytes(&self.byte_string(head)?)),
            TEXT => sink.scalar(Scalar::Text(&self.text_bytes(head)?)),
            ARRAY | MAP => {
                let depth = self.enter(depth)?;
                let map = head.major == MAP;
                let known = if head.indefinite() {
                    None
                } else {
                    Some(self.plausible(head.arg, if map { 2 } else { 1 })?)
                };
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
                        let key = self.head()?;
                        if key.major != TEXT {
                            return Err(unsupported(at, "map key is not a text string"));
                        }
                        sink.scalar(Scalar::Text(&self.text_bytes(key)?));
                        sink.colon();
                    }
                    self.emit(sink, depth)?;
                    len += 1;
                }
                sink.close(map, mark, len);
            }
            TAG => {
                let depth = self.enter(depth)?;
                self.emit(sink, depth)?;
            }
            _ => match head.info {
                20 => sink.scalar(Scalar::Bool(false)),
                21 => sink.scalar(Scalar::Bool(true)),
                22 | 23 => sink.scalar(Scalar::Null),
                25 => sink.scalar(Scalar::Float(f16_to_f64(head.arg as u16))),
                26 => sink.scalar(Scalar::Float(f64::from(f32::from_bits(head.arg as u32)))),
                27 => sink.scalar(Scalar::Float(f64::from_bits(head.arg))),
                31 => return Err(syntax(at, "unexpected break")),
                _ => return Err(unsupported(at, "simple value")),
            },
        }
        Ok(())
    }

    /// A map key, which WAMP requires to be a text string.
    fn key(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let at = self.pos;
        let head = self.head()?;
        if head.major != TEXT {
            return Err(unsupported(at, "map key is not a text string"));
        }
        self.text(head)
    }

    /// Skips one item, checking that it is well-formed (and its text strings UTF-8).
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.skip_items(Some(1), false, depth)
    }

    /// Skips `count` items, or — for `None` — items up to a break code (an even number if `pairs`).
    ///
    /// This is the hot path of `decode` (every payload goes through it): heads, scalars and definite
    /// strings are handled in the loop, only containers and tags recurse.
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
                28..=30 => return Err(syntax(at, "reserved additional information")),
                _ => 0,
            };
            let indefinite = info == 31;
            match major {
                UINT | NEGINT if indefinite => {
                    return Err(syntax(at, "indefinite length not allowed for this major type"));
                }
                UINT | NEGINT => {}
                BYTES | TEXT if indefinite => {
                    self.pos = pos;
                    self.string_chunks(Head { major, info, arg }, |at, part| check_text(major, at, part))?;
                    pos = self.pos;
                }
                BYTES | TEXT => {
                    let len = usize::try_from(arg).map_err(|_| eof(at))?;
                    let part = b.get(pos..pos.saturating_add(len)).ok_or_else(|| eof(at))?;
                    check_text(major, pos, part)?;
                    pos += len;
                }
                ARRAY | MAP | TAG => {
                    self.pos = at;
                    let inner = self.enter(depth)?;
                    self.pos = pos;
                    match major {
                        TAG if indefinite => {
                            return Err(syntax(at, "indefinite length not allowed for this major type"));
                        }
                        TAG => self.skip_items(Some(1), false, inner)?,
                        _ if indefinite => self.skip_items(None, major == MAP, inner)?,
                        _ => {
                            let per_entry = if major == MAP { 2 } else { 1 };
                            let n = self.plausible(arg, per_entry)?;
                            self.skip_items(Some(n * per_entry as usize), false, inner)?;
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

    /// Skips a map whose keys are all text strings (`ArgumentsKw|dict`); its head was read.
    fn skip_string_keyed_map(&mut self, head: Head, depth: usize) -> Result<(), DecodeError> {
        let depth = self.enter(depth)?;
        let entry = |r: &mut Self| -> Result<(), DecodeError> {
            match r.peek() {
                None => Err(syntax(r.pos, "unexpected end of input")),
                Some(initial) if initial >> 5 != TEXT => {
                    Err(unsupported(r.pos, "map key is not a text string"))
                }
                Some(_) => r.skip_items(Some(2), false, depth),
            }
        };
        if head.indefinite() {
            while !self.at_break()? {
                entry(self)?;
            }
        } else {
            for _ in 0..self.plausible(head.arg, 2)? {
                entry(self)?;
            }
        }
        Ok(())
    }
}

/// Checks that a text string's bytes (or a chunk's) are UTF-8; byte strings pass.
fn check_text(major: u8, at: usize, part: &[u8]) -> Result<(), DecodeError> {
    if major == TEXT && !is_utf8(part) {
        return Err(syntax(at, "invalid UTF-8 in text string"));
    }
    Ok(())
}

/// IEEE 754 half precision to double.
fn f16_to_f64(half: u16) -> f64 {
    let sign = if half & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((half >> 10) & 0x1f);
    let mantissa = f64::from(half & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + mantissa) * 2f64.powi(exponent - 25),
    }
}

/// Reads one complete item, feeding it to `sink`; nothing may follow it.
pub(super) fn emit<S: Sink>(bytes: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    let mut r = Reader { b: bytes, pos: 0 };
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
            Scalar::Null => out.put_u8(0xf6),
            Scalar::Bool(b) => out.put_u8(if b { 0xf5 } else { 0xf4 }),
            Scalar::Int(i) => write_int(out, i),
            Scalar::UInt(u) => write_head(out, UINT, u),
            Scalar::Float(f) => {
                out.put_u8(0xfb);
                out.put_f64(f);
            }
            Scalar::Text(s) => write_str(out, s),
            Scalar::Bytes(b) => write_bytes(out, b),
        }
    }

    fn open(&mut self, map: bool, len: Option<usize>) -> usize {
        let major = if map { MAP } else { ARRAY };
        match len {
            Some(n) => {
                write_head(self.0, major, n as u64);
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
            let (head, head_len) = encode_head(if map { MAP } else { ARRAY }, len as u64);
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
    pub(super) fn open(frame: &'a [u8]) -> Result<Walker<'a>, DecodeError> {
        let mut r = Reader { b: frame, pos: 0 };
        loop {
            let head = r.head().map_err(|_| DecodeError::NotAList)?;
            match head.major {
                TAG if head.arg == SELF_DESCRIBE => continue,
                ARRAY if head.indefinite() => return Ok(Walker { r, left: None }),
                ARRAY => {
                    let left = r.plausible(head.arg, 1)?;
                    return Ok(Walker { r, left: Some(left) });
                }
                _ => return Err(DecodeError::NotAList),
            }
        }
    }

    fn peek_major(&self) -> Option<u8> {
        self.r.peek().map(|b| b >> 5)
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
        if self.peek_major() != Some(UINT) {
            return Ok(None);
        }
        self.r.head().map(|head| Some(head.arg))
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        if self.peek_major() != Some(TEXT) {
            return Ok(None);
        }
        let head = self.r.head()?;
        self.r.text(head).map(|text| Some(text.into_owned()))
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        if self.peek_major() != Some(MAP) {
            return Ok(None);
        }
        match self.r.value(1)? {
            Value::Dict(dict) => Ok(Some(dict)),
            _ => Ok(None),
        }
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        match self.peek_major() {
            Some(ARRAY) => self.span().map(|span| Some((span, false))),
            Some(BYTES | TEXT) if transparent_ok => self.span().map(|span| Some((span, true))),
            _ => Ok(None),
        }
    }

    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError> {
        if self.peek_major() != Some(MAP) {
            return Ok(None);
        }
        let start = self.r.pos;
        let head = self.r.head()?;
        self.r.skip_string_keyed_map(head, 1)?;
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

/// The head with the shortest argument encoding, and its length.
fn encode_head(major: u8, n: u64) -> ([u8; MAX_HEAD], usize) {
    let (info, size) = match n {
        0..=23 => (n as u8, 0),
        24..=0xff => (24, 1),
        0x100..=0xffff => (25, 2),
        0x1_0000..=0xffff_ffff => (26, 4),
        _ => (27, 8),
    };
    let mut head = [major << 5 | info, 0, 0, 0, 0, 0, 0, 0, 0];
    let bytes = n.to_be_bytes();
    if let (Some(dst), Some(src)) = (head.get_mut(1..1 + size), bytes.get(8 - size..)) {
        dst.copy_from_slice(src);
    }
    (head, 1 + size)
}

/// Writes a head with the shortest argument encoding.
fn write_head(out: &mut BytesMut, major: u8, n: u64) {
    if n < 24 {
        out.put_u8(major << 5 | n as u8);
    } else {
        let (head, len) = encode_head(major, n);
        out.put_slice(head.get(..len).unwrap_or_default());
    }
}

fn write_int(out: &mut BytesMut, i: i64) {
    match u64::try_from(i) {
        Ok(u) => write_head(out, UINT, u),
        Err(_) => write_head(out, NEGINT, !(i as u64)),
    }
}

fn write_bytes(out: &mut BytesMut, b: &[u8]) {
    write_head(out, BYTES, b.len() as u64);
    out.put_slice(b);
}

/// Writes a text string (UTF-8 bytes).
fn write_str(out: &mut BytesMut, s: &[u8]) {
    write_head(out, TEXT, s.len() as u64);
    out.put_slice(s);
}

pub(super) fn write_list(out: &mut BytesMut, list: &[Value]) {
    write_head(out, ARRAY, list.len() as u64);
    for item in list {
        write_value(out, item);
    }
}

pub(super) fn write_dict(out: &mut BytesMut, dict: &Dict) {
    write_head(out, MAP, dict.len() as u64);
    for (key, value) in dict {
        write_str(out, key.as_bytes());
        write_value(out, value);
    }
}

pub(super) fn write_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Null => out.put_u8(0xf6),
        Value::Bool(b) => out.put_u8(if *b { 0xf5 } else { 0xf4 }),
        Value::Int(i) => write_int(out, *i),
        Value::UInt(u) => write_head(out, UINT, *u),
        Value::Float(f) => {
            out.put_u8(0xfb);
            out.put_f64(*f);
        }
        Value::Str(s) => write_str(out, s.as_bytes()),
        Value::Bytes(b) => write_bytes(out, b),
        Value::List(list) => write_list(out, list),
        Value::Dict(dict) => write_dict(out, dict),
    }
}

pub(super) fn write_message(out: &mut BytesMut, elems: &[Elem<'_>]) {
    write_head(out, ARRAY, elems.len() as u64);
    for elem in elems {
        match elem {
            Elem::UInt(n) => write_head(out, UINT, *n),
            Elem::Str(s) => write_str(out, s.as_bytes()),
            Elem::Dict(d) => write_dict(out, d),
            Elem::Raw(raw) => out.put_slice(raw),
            Elem::EmptyList => out.put_u8(0x80),
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
