//! MessagePack (spec version 5, with distinct str and bin types, as section 2.2 requires) for WAMP.
//!
//! Hand-written over byte slices: every length is checked against the bytes actually left before it is
//! used, so a hostile length prefix can neither read out of bounds nor reserve memory. The skipper checks
//! markers, lengths, UTF-8 of strings and nesting depth; extension types pass through a skip (they are
//! legal application payload) but have no [`Value`] and so cannot be transcoded. Three readers share the
//! grammar: [`Reader::skip`] (decode's payload spans), [`Reader::value`] (header elements, [`Value`]s) and
//! [`Reader::emit`] (streaming transcoding into another format's [`Sink`]).

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use super::schema::{self, Elem};
use super::transcode::{is_utf8, patch_header, Scalar, Sink, NO_PATCH};
use super::{DecodeError, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

/// The most list items reserved before they are seen.
const PREALLOCATE_MAX: usize = 64;

fn syntax(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Syntax { format: Serializer::MsgPack, offset, reason }
}

fn unsupported(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Unsupported { format: Serializer::MsgPack, offset, reason }
}

/// Whether a marker starts a str or bin (a transparent payload).
pub(super) fn is_str_or_bin_marker(marker: u8) -> bool {
    matches!(marker, 0xa0..=0xbf | 0xc4..=0xc6 | 0xd9..=0xdb)
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

/// What a marker introduces, with its length or count already read.
enum Item {
    Nil,
    Bool(bool),
    UInt(u64),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(usize),
    Bin(usize),
    Array(usize),
    Map(usize),
    /// An extension type (its header and data not consumed: it has no `Value`).
    Ext,
}

/// A cursor over MessagePack bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
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

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| syntax(self.pos, "unexpected end of input"))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| syntax(self.pos, "length too large"))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Checks that `count` items (each at least `min_size` bytes) can still fit in the input.
    fn plausible(&self, count: usize, min_size: usize) -> Result<usize, DecodeError> {
        if count.saturating_mul(min_size) > self.remaining() {
            Err(syntax(self.pos, "unexpected end of input"))
        } else {
            Ok(count)
        }
    }

    /// Reads a marker and the length/count/scalar that follows it.
    fn item(&mut self) -> Result<Item, DecodeError> {
        let at = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => Item::UInt(u64::from(marker)),
            0x80..=0x8f => Item::Map(self.plausible(usize::from(marker & 0x0f), 2)?),
            0x90..=0x9f => Item::Array(self.plausible(usize::from(marker & 0x0f), 1)?),
            0xa0..=0xbf => Item::Str(usize::from(marker & 0x1f)),
            0xc0 => Item::Nil,
            0xc1 => return Err(syntax(at, "reserved marker 0xc1")),
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4 => Item::Bin(usize::from(self.u8()?)),
            0xc5 => Item::Bin(self.u16()?),
            0xc6 => Item::Bin(self.u32()?),
            0xc7..=0xc9 | 0xd4..=0xd8 => Item::Ext,
            0xca => Item::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Item::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Item::UInt(u64::from(self.u8()?)),
            0xcd => Item::UInt(u64::from(u16::from_be_bytes(self.array()?))),
            0xce => Item::UInt(u64::from(u32::from_be_bytes(self.array()?))),
            0xcf => Item::UInt(u64::from_be_bytes(self.array()?)),
            0xd0 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Item::Int(i64::from_be_bytes(self.array()?)),
            0xd9 => Item::Str(usize::from(self.u8()?)),
            0xda => Item::Str(self.u16()?),
            0xdb => Item::Str(self.u32()?),
            0xdc => {
                let n = self.u16()?;
                Item::Array(self.plausible(n, 1)?)
            }
            0xdd => {
                let n = self.u32()?;
                Item::Array(self.plausible(n, 1)?)
            }
            0xde => {
                let n = self.u16()?;
                Item::Map(self.plausible(n, 2)?)
            }
            0xdf => {
                let n = self.u32()?;
                Item::Map(self.plausible(n, 2)?)
            }
            0xe0..=0xff => Item::Int(i64::from(marker as i8)),
        })
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            Err(syntax(self.pos, "nesting too deep"))
        } else {
            Ok(depth + 1)
        }
    }

    /// A str's bytes, checked to be UTF-8.
    fn text(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let bytes = self.take(len)?;
        if is_utf8(bytes) {
            Ok(bytes)
        } else {
            Err(syntax(at, "invalid UTF-8 in string"))
        }
    }

    fn str(&mut self, len: usize) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        std::str::from_utf8(self.take(len)?).map_err(|_| syntax(at, "invalid UTF-8 in string"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        Ok(match self.item()? {
            Item::Nil => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::UInt(u) => Value::from(u),
            Item::Int(i) => Value::Int(i),
            Item::F32(f) => Value::Float(f64::from(f)),
            Item::F64(f) => Value::Float(f),
            Item::Str(n) => Value::Str(self.str(n)?.to_owned()),
            Item::Bin(n) => Value::Bytes(self.take(n)?.to_vec()),
            Item::Array(n) => Value::List(self.list(n, depth)?),
            Item::Map(n) => Value::Dict(self.dict(n, depth)?),
            Item::Ext => return Err(unsupported(at, "extension type")),
        })
    }

    fn list(&mut self, n: usize, depth: usize) -> Result<Vec<Value>, DecodeError> {
        let depth = self.enter(depth)?;
        // Grown as items arrive: reserving `n` up front at every nesting level would let small input
        // claim a multiple of its size.
        let mut list = Vec::with_capacity(n.min(PREALLOCATE_MAX));
        for _ in 0..n {
            list.push(self.value(depth)?);
        }
        Ok(list)
    }

    fn dict(&mut self, n: usize, depth: usize) -> Result<Dict, DecodeError> {
        let depth = self.enter(depth)?;
        let mut dict = Dict::new();
        for _ in 0..n {
            let key = self.key()?.to_owned();
            let value = self.value(depth)?;
            dict.insert(key, value);
        }
        Ok(dict)
    }

    /// Reads one value, feeding it to `sink` (the streaming twin of [`Reader::value`]).
    fn emit<S: Sink>(&mut self, sink: &mut S, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        match self.item()? {
            Item::Nil => sink.scalar(Scalar::Null),
            Item::Bool(b) => sink.scalar(Scalar::Bool(b)),
            Item::UInt(u) => sink.scalar(Scalar::UInt(u)),
            Item::Int(i) => sink.scalar(Scalar::Int(i)),
            Item::F32(f) => sink.scalar(Scalar::Float(f64::from(f))),
            Item::F64(f) => sink.scalar(Scalar::Float(f)),
            Item::Str(n) => sink.scalar(Scalar::Text(self.text(n)?)),
            Item::Bin(n) => sink.scalar(Scalar::Bytes(self.take(n)?)),
            Item::Array(n) => self.emit_container(sink, false, n, depth)?,
            Item::Map(n) => self.emit_container(sink, true, n, depth)?,
            Item::Ext => return Err(unsupported(at, "extension type")),
        }
        Ok(())
    }

    fn emit_container<S: Sink>(
        &mut self,
        sink: &mut S,
        map: bool,
        n: usize,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let depth = self.enter(depth)?;
        let mark = sink.open(map, Some(n));
        for i in 0..n {
            if i > 0 {
                sink.separator();
            }
            if map {
                let at = self.pos;
                match self.item()? {
                    Item::Str(n) => sink.scalar(Scalar::Text(self.text(n)?)),
                    _ => return Err(unsupported(at, "map key is not a string")),
                }
                sink.colon();
            }
            self.emit(sink, depth)?;
        }
        sink.close(map, mark, n);
        Ok(())
    }

    /// A map key, which WAMP requires to be a string.
    fn key(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        match self.item()? {
            Item::Str(n) => self.str(n),
            _ => Err(unsupported(at, "map key is not a string")),
        }
    }

    /// Skips one value, checking it as [`Reader::value`] would (bar the types a `Value` cannot hold).
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.skip_items(1, depth)
    }

    /// Skips `count` values. This is the hot path of `decode` (every payload goes through it): scalars and
    /// strings are handled in the loop, only containers recurse.
    fn skip_items(&mut self, count: usize, depth: usize) -> Result<(), DecodeError> {
        let b = self.b;
        let eof = |at: usize| syntax(at, "unexpected end of input");
        // Reads an `n`-byte big-endian length at `pos`.
        let len = |pos: &mut usize, at: usize, n: usize| -> Result<usize, DecodeError> {
            let bytes = b.get(*pos..*pos + n).ok_or_else(|| eof(at))?;
            *pos += n;
            Ok(bytes.iter().fold(0usize, |acc, &x| acc << 8 | usize::from(x)))
        };
        let mut pos = self.pos;
        for _ in 0..count {
            let at = pos;
            let marker = *b.get(pos).ok_or_else(|| eof(at))?;
            pos += 1;
            // (bytes to skip, whether they are UTF-8 text, items if a container)
            let (skip, text, items) = match marker {
                0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (0, false, None),
                0x80..=0x8f => (0, false, Some(usize::from(marker & 0x0f) * 2)),
                0x90..=0x9f => (0, false, Some(usize::from(marker & 0x0f))),
                0xa0..=0xbf => (usize::from(marker & 0x1f), true, None),
                0xc1 => return Err(syntax(at, "reserved marker 0xc1")),
                0xc4 => (len(&mut pos, at, 1)?, false, None),
                0xc5 => (len(&mut pos, at, 2)?, false, None),
                0xc6 => (len(&mut pos, at, 4)?, false, None),
                0xc7 => (len(&mut pos, at, 1)?.saturating_add(1), false, None),
                0xc8 => (len(&mut pos, at, 2)?.saturating_add(1), false, None),
                0xc9 => (len(&mut pos, at, 4)?.saturating_add(1), false, None),
                0xcc | 0xd0 => (1, false, None),
                0xcd | 0xd1 => (2, false, None),
                0xca | 0xce | 0xd2 => (4, false, None),
                0xcb | 0xcf | 0xd3 => (8, false, None),
                0xd4..=0xd8 => (1 + (1 << (marker - 0xd4)), false, None),
                0xd9 => (len(&mut pos, at, 1)?, true, None),
                0xda => (len(&mut pos, at, 2)?, true, None),
                0xdb => (len(&mut pos, at, 4)?, true, None),
                0xdc => (0, false, Some(len(&mut pos, at, 2)?)),
                0xdd => (0, false, Some(len(&mut pos, at, 4)?)),
                0xde => (0, false, Some(len(&mut pos, at, 2)?.saturating_mul(2))),
                0xdf => (0, false, Some(len(&mut pos, at, 4)?.saturating_mul(2))),
            };
            let data = b.get(pos..pos.saturating_add(skip)).ok_or_else(|| eof(at))?;
            if text && !is_utf8(data) {
                return Err(syntax(pos, "invalid UTF-8 in string"));
            }
            pos += skip;
            if let Some(items) = items {
                self.pos = at;
                let inner = self.enter(depth)?;
                self.pos = pos;
                self.plausible(items, 1)?;
                self.skip_items(items, inner)?;
                pos = self.pos;
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Skips a map whose keys are all strings (`ArgumentsKw|dict`).
    fn skip_string_keyed_map(&mut self, n: usize, depth: usize) -> Result<(), DecodeError> {
        let depth = self.enter(depth)?;
        for _ in 0..n {
            self.key()?;
            self.skip(depth)?;
        }
        Ok(())
    }
}

/// Reads one complete value, feeding it to `sink`; nothing may follow it.
pub(super) fn emit<S: Sink>(bytes: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    let mut r = Reader { b: bytes, pos: 0 };
    r.emit(sink, 0)?;
    if r.pos != bytes.len() {
        return Err(syntax(r.pos, "trailing data after the value"));
    }
    Ok(())
}

/// A [`Sink`] writing MessagePack.
pub(super) struct Writer<'a>(pub(super) &'a mut BytesMut);

/// The header a container of unknown length starts with until [`Sink::close`] knows it: the 32-bit form.
const PLACEHOLDER_LEN: usize = 5;

impl Sink for Writer<'_> {
    fn scalar(&mut self, value: Scalar<'_>) {
        let out = &mut *self.0;
        match value {
            Scalar::Null => out.put_u8(0xc0),
            Scalar::Bool(b) => out.put_u8(if b { 0xc3 } else { 0xc2 }),
            Scalar::Int(i) => write_int(out, i),
            Scalar::UInt(u) => write_uint(out, u),
            Scalar::Float(f) => {
                out.put_u8(0xcb);
                out.put_f64(f);
            }
            Scalar::Text(s) => write_str(out, s),
            Scalar::Bytes(b) => write_bin(out, b),
        }
    }

    fn open(&mut self, map: bool, len: Option<usize>) -> usize {
        match len {
            Some(n) => {
                write_container_header(self.0, map, n);
                NO_PATCH
            }
            None => {
                let mark = self.0.len();
                self.0.put_slice(&[0; PLACEHOLDER_LEN]);
                mark
            }
        }
    }

    fn separator(&mut self) {}

    fn colon(&mut self) {}

    fn close(&mut self, map: bool, mark: usize, len: usize) {
        if mark != NO_PATCH {
            let (header, header_len) = container_header(map, len);
            patch_header(self.0, mark, PLACEHOLDER_LEN, header.get(..header_len).unwrap_or_default());
        }
    }
}

/// Walks the elements of a message's top-level MessagePack array.
pub(super) struct Walker<'a> {
    r: Reader<'a>,
    left: usize,
}

impl<'a> Walker<'a> {
    pub(super) fn open(frame: &'a [u8]) -> Result<Walker<'a>, DecodeError> {
        let mut r = Reader { b: frame, pos: 0 };
        match r.peek() {
            Some(0x90..=0x9f | 0xdc | 0xdd) => match r.item()? {
                Item::Array(left) => Ok(Walker { r, left }),
                _ => Err(DecodeError::NotAList),
            },
            _ => Err(DecodeError::NotAList),
        }
    }

    /// Skips the element at the cursor if its marker passes `accept`, returning its span.
    fn span_if(&mut self, accept: impl Fn(u8) -> bool) -> Result<Option<Range<usize>>, DecodeError> {
        if !self.r.peek().is_some_and(accept) {
            return Ok(None);
        }
        let start = self.r.pos;
        self.r.skip(1)?;
        Ok(Some(start..self.r.pos))
    }
}

impl schema::Walker for Walker<'_> {
    fn next(&mut self) -> Result<bool, DecodeError> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        Ok(true)
    }

    fn uint(&mut self) -> Result<Option<u64>, DecodeError> {
        if !matches!(self.r.peek(), Some(0x00..=0x7f | 0xcc..=0xcf | 0xd0..=0xd3)) {
            return Ok(None);
        }
        Ok(match self.r.item()? {
            Item::UInt(u) => Some(u),
            Item::Int(i) => u64::try_from(i).ok(),
            _ => None,
        })
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        if !matches!(self.r.peek(), Some(0xa0..=0xbf | 0xd9..=0xdb)) {
            return Ok(None);
        }
        match self.r.item()? {
            Item::Str(n) => Ok(Some(self.r.str(n)?.to_owned())),
            _ => Ok(None),
        }
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        if !matches!(self.r.peek(), Some(0x80..=0x8f | 0xde | 0xdf)) {
            return Ok(None);
        }
        match self.r.item()? {
            Item::Map(n) => self.r.dict(n, 1).map(Some),
            _ => Ok(None),
        }
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        if let Some(span) = self.span_if(|m| matches!(m, 0x90..=0x9f | 0xdc | 0xdd))? {
            return Ok(Some((span, false)));
        }
        if transparent_ok {
            if let Some(span) = self.span_if(is_str_or_bin_marker)? {
                return Ok(Some((span, true)));
            }
        }
        Ok(None)
    }

    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError> {
        if !matches!(self.r.peek(), Some(0x80..=0x8f | 0xde | 0xdf)) {
            return Ok(None);
        }
        let start = self.r.pos;
        match self.r.item()? {
            Item::Map(n) => self.r.skip_string_keyed_map(n, 1)?,
            _ => return Ok(None),
        }
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

/// Writes a header: the fix form if `n` fits, else the 8/16/32-bit forms whose markers are given.
fn write_len(out: &mut BytesMut, n: usize, fix: Option<(u8, usize)>, m8: Option<u8>, m16: u8, m32: u8) {
    match (fix, m8) {
        (Some((base, max)), _) if n <= max => out.put_u8(base | n as u8),
        (_, Some(m8)) if n <= 0xff => {
            out.put_u8(m8);
            out.put_u8(n as u8);
        }
        _ if n <= 0xffff => {
            out.put_u8(m16);
            out.put_u16(n as u16);
        }
        _ => {
            out.put_u8(m32);
            // Lengths above u32::MAX cannot be expressed; no WAMP frame comes near that size.
            out.put_u32(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
}

fn write_uint(out: &mut BytesMut, n: u64) {
    if n <= 0x7f {
        out.put_u8(n as u8);
    } else if n <= 0xff {
        out.put_u8(0xcc);
        out.put_u8(n as u8);
    } else if n <= 0xffff {
        out.put_u8(0xcd);
        out.put_u16(n as u16);
    } else if n <= 0xffff_ffff {
        out.put_u8(0xce);
        out.put_u32(n as u32);
    } else {
        out.put_u8(0xcf);
        out.put_u64(n);
    }
}

fn write_int(out: &mut BytesMut, n: i64) {
    if let Ok(u) = u64::try_from(n) {
        write_uint(out, u);
    } else if n >= -32 {
        out.put_i8(n as i8);
    } else if n >= i64::from(i8::MIN) {
        out.put_u8(0xd0);
        out.put_i8(n as i8);
    } else if n >= i64::from(i16::MIN) {
        out.put_u8(0xd1);
        out.put_i16(n as i16);
    } else if n >= i64::from(i32::MIN) {
        out.put_u8(0xd2);
        out.put_i32(n as i32);
    } else {
        out.put_u8(0xd3);
        out.put_i64(n);
    }
}

/// Writes a str (UTF-8 bytes).
fn write_str(out: &mut BytesMut, s: &[u8]) {
    write_len(out, s.len(), Some((0xa0, 31)), Some(0xd9), 0xda, 0xdb);
    out.put_slice(s);
}

fn write_array_header(out: &mut BytesMut, n: usize) {
    write_container_header(out, false, n);
}

fn write_container_header(out: &mut BytesMut, map: bool, n: usize) {
    let (header, len) = container_header(map, n);
    out.put_slice(header.get(..len).unwrap_or_default());
}

/// The shortest array (or map) header for `n` items (entries), and its length.
fn container_header(map: bool, n: usize) -> ([u8; PLACEHOLDER_LEN], usize) {
    let (fix, m16, m32) = if map { (0x80, 0xde, 0xdf) } else { (0x90, 0xdc, 0xdd) };
    if n <= 15 {
        ([fix | n as u8, 0, 0, 0, 0], 1)
    } else if let Ok(n) = u16::try_from(n) {
        let [a, b] = n.to_be_bytes();
        ([m16, a, b, 0, 0], 3)
    } else {
        // Counts above u32::MAX cannot be expressed; no WAMP frame comes near that size.
        let [a, b, c, d] = u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        ([m32, a, b, c, d], 5)
    }
}

fn write_bin(out: &mut BytesMut, b: &[u8]) {
    write_len(out, b.len(), None, Some(0xc4), 0xc5, 0xc6);
    out.put_slice(b);
}

pub(super) fn write_list(out: &mut BytesMut, list: &[Value]) {
    write_array_header(out, list.len());
    for item in list {
        write_value(out, item);
    }
}

pub(super) fn write_dict(out: &mut BytesMut, dict: &Dict) {
    write_container_header(out, true, dict.len());
    for (key, value) in dict {
        write_str(out, key.as_bytes());
        write_value(out, value);
    }
}

pub(super) fn write_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Null => out.put_u8(0xc0),
        Value::Bool(b) => out.put_u8(if *b { 0xc3 } else { 0xc2 }),
        Value::Int(i) => write_int(out, *i),
        Value::UInt(u) => write_uint(out, *u),
        Value::Float(f) => {
            out.put_u8(0xcb);
            out.put_f64(*f);
        }
        Value::Str(s) => write_str(out, s.as_bytes()),
        Value::Bytes(b) => write_bin(out, b),
        Value::List(list) => write_list(out, list),
        Value::Dict(dict) => write_dict(out, dict),
    }
}

pub(super) fn write_message(out: &mut BytesMut, elems: &[Elem<'_>]) {
    write_array_header(out, elems.len());
    for elem in elems {
        match elem {
            Elem::UInt(n) => write_uint(out, *n),
            Elem::Str(s) => write_str(out, s.as_bytes()),
            Elem::Dict(d) => write_dict(out, d),
            Elem::Raw(raw) => out.put_slice(raw),
            Elem::EmptyList => out.put_u8(0x90),
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

    #[test]
    fn smallest_integer_forms() {
        let cases: [(Value, &str); 14] = [
            (Value::Int(0), "00"),
            (Value::Int(127), "7f"),
            (Value::Int(128), "cc80"),
            (Value::Int(256), "cd0100"),
            (Value::Int(65536), "ce00010000"),
            (Value::Int(5512315355), "cf00000001488f41db"),
            (Value::UInt(u64::MAX), "cfffffffffffffffff"),
            (Value::Int(-1), "ff"),
            (Value::Int(-32), "e0"),
            (Value::Int(-33), "d0df"),
            (Value::Int(-129), "d1ff7f"),
            (Value::Int(-32769), "d2ffff7fff"),
            (Value::Int(i64::MIN), "d38000000000000000"),
            (Value::Float(1.5), "cb3ff8000000000000"),
        ];
        for (v, hex_bytes) in cases {
            assert_eq!(hex::encode(bytes(&v)), hex_bytes, "{v:?}");
            assert_eq!(decode_value(&bytes(&v)).unwrap(), v);
        }
    }

    #[test]
    fn lengths_and_types() {
        for n in [0usize, 31, 32, 255, 256, 65535, 65536] {
            let s = "a".repeat(n);
            assert_eq!(decode_value(&bytes(&Value::from(s.as_str()))).unwrap(), Value::from(s.as_str()));
            let b = Value::Bytes(vec![7; n]);
            assert_eq!(decode_value(&bytes(&b)).unwrap(), b);
        }
        for n in [0usize, 15, 16, 65535, 65536] {
            let l = Value::List(vec![Value::Null; n]);
            assert_eq!(decode_value(&bytes(&l)).unwrap(), l);
        }
        let d = Value::Dict(dict! { "k" => vec![Value::Bool(true)], "z" => dict!{ "n" => 1u64 } });
        assert_eq!(decode_value(&bytes(&d)).unwrap(), d);
        // float32 widens.
        assert_eq!(decode_value(&hex::decode("ca3fc00000").unwrap()).unwrap(), Value::Float(1.5));
    }

    #[test]
    fn rejects_and_bounds() {
        // Truncated, reserved marker, lying lengths, non-string keys, ext, bad UTF-8, trailing bytes.
        for bad in [
            "",
            "c1",
            "dd ffffffff",
            "df ffffffff",
            "db ffffffff",
            "c6 7fffffff 00",
            "81 01 02",
            "d4 01 02",
            "a1 ff",
            "00 00",
            "92 01",
        ] {
            let b = hex::decode(bad.replace(' ', "")).unwrap();
            assert!(decode_value(&b).is_err(), "{bad}");
        }
        // Ext is skippable (legal payload) but not a Value.
        let ext = hex::decode("d60100000000").unwrap();
        let mut r = Reader { b: &ext, pos: 0 };
        assert!(r.skip(0).is_ok() && r.pos == ext.len());
        assert!(matches!(decode_value(&ext), Err(DecodeError::Unsupported { .. })));
        let deep = [vec![0x91; MAX_DEPTH + 1], vec![0x90]].concat();
        assert!(decode_value(&deep).is_err());
        let ok = [vec![0x91; MAX_DEPTH - 1], vec![0x90]].concat();
        assert!(decode_value(&ok).is_ok());
    }
}
