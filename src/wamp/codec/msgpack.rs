//! MessagePack (spec version 5, with distinct str and bin types, as section 2.2 requires) for WAMP, on rmp.
//!
//! rmp handles the wire primitives: markers are classified by [`Marker::from_u8`]; scalars, lengths and
//! counts are read by `rmp::decode`'s `read_*` functions over byte slices (`rmp::decode::Bytes`), and
//! everything is written by `rmp::encode`'s `write_*` functions (always the smallest form). This module adds
//! what a router needs around them: every length rmp reads is checked against the bytes actually left
//! before it is used, so a hostile length prefix can neither read out of bounds nor reserve memory; strings
//! and payload spans stay zero-copy slices of the frame. The skipper checks markers, lengths, UTF-8 of
//! strings and nesting depth; extension types pass through a skip (they are legal application payload) but
//! have no [`Value`] and so cannot be transcoded. Three readers share the grammar: [`Reader::skip`]
//! (decode's payload spans), [`Reader::value`] (header elements, [`Value`]s) and [`Reader::emit`]
//! (streaming transcoding into another format's [`Sink`]).

use std::ops::Range;

use bytes::{BufMut, BytesMut};
use rmp::decode::{self, Bytes as RmpBytes};
use rmp::{encode, Marker};

use super::schema::{self, Elem};
use super::transcode::{is_utf8, patch_header, Out, Scalar, Sink, NO_PATCH};
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
    is_str(marker) || is_bin(marker)
}

fn is_str(marker: u8) -> bool {
    matches!(Marker::from_u8(marker), Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32)
}

fn is_bin(marker: u8) -> bool {
    matches!(Marker::from_u8(marker), Marker::Bin8 | Marker::Bin16 | Marker::Bin32)
}

fn is_array(marker: u8) -> bool {
    matches!(Marker::from_u8(marker), Marker::FixArray(_) | Marker::Array16 | Marker::Array32)
}

fn is_map(marker: u8) -> bool {
    matches!(Marker::from_u8(marker), Marker::FixMap(_) | Marker::Map16 | Marker::Map32)
}

/// Whether a marker starts an integer (of any width or sign).
fn is_int(marker: u8) -> bool {
    matches!(
        Marker::from_u8(marker),
        Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64
    )
}

/// Runs one of rmp's readers on `b[at..]`, returning what it read and the offset after it. The caller has
/// classified the marker, so the reader can only fail by running out of input.
fn read_at<'a, T, E>(
    b: &'a [u8],
    at: usize,
    read: impl FnOnce(&mut RmpBytes<'a>) -> Result<T, E>,
) -> Result<(T, usize), DecodeError> {
    let rest = b.get(at..).unwrap_or_default();
    let mut rd = RmpBytes::new(rest);
    let value = read(&mut rd).map_err(|_| syntax(at, "unexpected end of input"))?;
    Ok((value, at + (rest.len() - rd.remaining_slice().len())))
}

/// [`read_at`] for a length or count, as a `usize` (not yet checked against the input left).
fn len_at<'a, E>(
    b: &'a [u8],
    at: usize,
    read: impl FnOnce(&mut RmpBytes<'a>) -> Result<u32, E>,
) -> Result<(usize, usize), DecodeError> {
    let (n, end) = read_at(b, at, read)?;
    let n = usize::try_from(n).map_err(|_| syntax(at, "length too large"))?;
    Ok((n, end))
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
    /// How deep containers may nest (at most [`MAX_DEPTH`]).
    limit: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], limit: usize) -> Reader<'a> {
        Reader { b, pos: 0, limit: limit.min(MAX_DEPTH) }
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

    /// Runs one of rmp's readers on the bytes at the cursor and moves past what it consumed.
    fn read<T, E>(&mut self, read: impl FnOnce(&mut RmpBytes<'a>) -> Result<T, E>) -> Result<T, DecodeError> {
        let (value, pos) = read_at(self.b, self.pos, read)?;
        self.pos = pos;
        Ok(value)
    }

    /// A length or count read by rmp, as a `usize`.
    fn len<E>(
        &mut self,
        read: impl FnOnce(&mut RmpBytes<'a>) -> Result<u32, E>,
    ) -> Result<usize, DecodeError> {
        let (n, pos) = len_at(self.b, self.pos, read)?;
        self.pos = pos;
        Ok(n)
    }

    /// Reads a marker and the length/count/scalar that follows it (through rmp).
    fn item(&mut self) -> Result<Item, DecodeError> {
        let at = self.pos;
        let marker = Marker::from_u8(self.peek().ok_or_else(|| syntax(at, "unexpected end of input"))?);
        Ok(match marker {
            Marker::Null => {
                self.read(decode::read_nil)?;
                Item::Nil
            }
            Marker::True | Marker::False => Item::Bool(self.read(decode::read_bool)?),
            Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
                Item::UInt(self.read(decode::read_int)?)
            }
            Marker::FixNeg(_) | Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
                Item::Int(self.read(decode::read_int)?)
            }
            Marker::F32 => Item::F32(self.read(decode::read_f32)?),
            Marker::F64 => Item::F64(self.read(decode::read_f64)?),
            // The fix forms carry their length in the marker, as rmp decodes it.
            Marker::FixStr(n) => {
                self.pos += 1;
                Item::Str(usize::from(n))
            }
            Marker::FixArray(n) => {
                self.pos += 1;
                Item::Array(self.plausible(usize::from(n), 1)?)
            }
            Marker::FixMap(n) => {
                self.pos += 1;
                Item::Map(self.plausible(usize::from(n), 2)?)
            }
            Marker::Str8 | Marker::Str16 | Marker::Str32 => Item::Str(self.len(decode::read_str_len)?),
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => Item::Bin(self.len(decode::read_bin_len)?),
            Marker::Array16 | Marker::Array32 => {
                let n = self.len(decode::read_array_len)?;
                Item::Array(self.plausible(n, 1)?)
            }
            Marker::Map16 | Marker::Map32 => {
                let n = self.len(decode::read_map_len)?;
                Item::Map(self.plausible(n, 2)?)
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => Item::Ext,
            Marker::Reserved => return Err(syntax(at, "reserved marker 0xc1")),
        })
    }

    /// The depth inside a container opened at `depth`, if that is within the limit.
    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.limit {
            Err(DecodeError::TooDeep { limit: self.limit })
        } else {
            Ok(depth + 1)
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
            Item::Str(n) => sink.scalar(Scalar::Text(self.str(n)?)),
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
                    Item::Str(n) => sink.key(self.str(n)?),
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
    /// strings are handled in the loop, only containers recurse. Markers are classified by rmp's
    /// [`Marker::from_u8`] and the lengths of strings, binaries, extensions and containers read by rmp's
    /// `read_*_len` / `read_ext_meta`; each length is checked against the bytes left before it is used.
    fn skip_items(&mut self, count: usize, depth: usize) -> Result<(), DecodeError> {
        let b = self.b;
        let eof = |at: usize| syntax(at, "unexpected end of input");
        let mut pos = self.pos;
        for _ in 0..count {
            let at = pos;
            let marker = Marker::from_u8(*b.get(pos).ok_or_else(|| eof(at))?);
            // (where the header ends, data bytes after it, whether they are UTF-8 text, items if a container)
            let (header_end, skip, text, items) = match marker {
                Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                    (at + 1, 0, false, None)
                }
                Marker::U8 | Marker::I8 => (at + 1, 1, false, None),
                Marker::U16 | Marker::I16 => (at + 1, 2, false, None),
                Marker::U32 | Marker::I32 | Marker::F32 => (at + 1, 4, false, None),
                Marker::U64 | Marker::I64 | Marker::F64 => (at + 1, 8, false, None),
                Marker::Reserved => return Err(syntax(at, "reserved marker 0xc1")),
                // The fix forms carry their length in the marker, as rmp decodes it.
                Marker::FixStr(n) => (at + 1, usize::from(n), true, None),
                Marker::FixArray(n) => (at + 1, 0, false, Some(usize::from(n))),
                Marker::FixMap(n) => (at + 1, 0, false, Some(usize::from(n) * 2)),
                Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                    let (n, end) = len_at(b, at, decode::read_str_len)?;
                    (end, n, true, None)
                }
                Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                    let (n, end) = len_at(b, at, decode::read_bin_len)?;
                    (end, n, false, None)
                }
                Marker::FixExt1
                | Marker::FixExt2
                | Marker::FixExt4
                | Marker::FixExt8
                | Marker::FixExt16
                | Marker::Ext8
                | Marker::Ext16
                | Marker::Ext32 => {
                    let (meta, end) = len_at(b, at, |rd| decode::read_ext_meta(rd).map(|meta| meta.size))?;
                    (end, meta, false, None)
                }
                Marker::Array16 | Marker::Array32 => {
                    let (n, end) = len_at(b, at, decode::read_array_len)?;
                    (end, 0, false, Some(n))
                }
                Marker::Map16 | Marker::Map32 => {
                    let (n, end) = len_at(b, at, decode::read_map_len)?;
                    (end, 0, false, Some(n.saturating_mul(2)))
                }
            };
            let data = b.get(header_end..header_end.saturating_add(skip)).ok_or_else(|| eof(at))?;
            if text && !is_utf8(data) {
                return Err(syntax(header_end, "invalid UTF-8 in string"));
            }
            pos = header_end + skip;
            if let Some(items) = items {
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
    let mut r = Reader::new(bytes, MAX_DEPTH);
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
            Scalar::Null => put(out, |w| encode::write_nil(w)),
            Scalar::Bool(b) => put(out, |w| encode::write_bool(w, b)),
            Scalar::Int(i) => put(out, |w| encode::write_sint(w, i)),
            Scalar::UInt(u) => put(out, |w| encode::write_uint(w, u)),
            Scalar::Float(f) => put(out, |w| encode::write_f64(w, f)),
            Scalar::Text(s) => write_str(out, s.as_bytes()),
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
    /// Opens the message list, which counts as the first of the `limit` levels containers may nest.
    pub(super) fn open(frame: &'a [u8], limit: usize) -> Result<Walker<'a>, DecodeError> {
        let mut r = Reader::new(frame, limit);
        match r.peek() {
            Some(marker) if is_array(marker) => match r.item()? {
                Item::Array(left) => {
                    r.enter(0)?;
                    Ok(Walker { r, left })
                }
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
        if !self.r.peek().is_some_and(is_int) {
            return Ok(None);
        }
        Ok(match self.r.item()? {
            Item::UInt(u) => Some(u),
            Item::Int(i) => u64::try_from(i).ok(),
            _ => None,
        })
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        if !self.r.peek().is_some_and(is_str) {
            return Ok(None);
        }
        match self.r.item()? {
            Item::Str(n) => Ok(Some(self.r.str(n)?.to_owned())),
            _ => Ok(None),
        }
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        if !self.r.peek().is_some_and(is_map) {
            return Ok(None);
        }
        match self.r.item()? {
            Item::Map(n) => self.r.dict(n, 1).map(Some),
            _ => Ok(None),
        }
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        if let Some(span) = self.span_if(is_array)? {
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
        if !self.r.peek().is_some_and(is_map) {
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

/// Runs one of rmp's writers on `out`. They are generic over fallible writers; [`Out`] never fails, so the
/// `Result` they return carries nothing here.
fn put<T, E>(out: &mut BytesMut, write: impl FnOnce(&mut Out<'_>) -> Result<T, E>) {
    let _ = write(&mut Out(out));
}

/// A length or count as MessagePack can express it. Lengths above `u32::MAX` cannot be expressed; no WAMP
/// frame comes near that size.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes a str (UTF-8 bytes).
fn write_str(out: &mut BytesMut, s: &[u8]) {
    put(out, |w| encode::write_str_len(w, len32(s.len())));
    out.put_slice(s);
}

fn write_bin(out: &mut BytesMut, b: &[u8]) {
    put(out, |w| encode::write_bin_len(w, len32(b.len())));
    out.put_slice(b);
}

fn write_container_header(out: &mut BytesMut, map: bool, n: usize) {
    if map {
        put(out, |w| encode::write_map_len(w, len32(n)));
    } else {
        put(out, |w| encode::write_array_len(w, len32(n)));
    }
}

/// The shortest array (or map) header for `n` items (entries), and its length.
fn container_header(map: bool, n: usize) -> ([u8; PLACEHOLDER_LEN], usize) {
    let mut header = [0; PLACEHOLDER_LEN];
    let mut w = &mut header[..];
    // A header is at most `PLACEHOLDER_LEN` bytes, so it fits.
    let _ =
        if map { encode::write_map_len(&mut w, len32(n)) } else { encode::write_array_len(&mut w, len32(n)) };
    let len = PLACEHOLDER_LEN - w.len();
    (header, len)
}

pub(super) fn write_list(out: &mut BytesMut, list: &[Value]) {
    write_container_header(out, false, list.len());
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
        Value::Null => put(out, |w| encode::write_nil(w)),
        Value::Bool(b) => put(out, |w| encode::write_bool(w, *b)),
        Value::Int(i) => put(out, |w| encode::write_sint(w, *i)),
        Value::UInt(u) => put(out, |w| encode::write_uint(w, *u)),
        Value::Float(f) => put(out, |w| encode::write_f64(w, *f)),
        Value::Str(s) => write_str(out, s.as_bytes()),
        Value::Bytes(b) => write_bin(out, b),
        Value::List(list) => write_list(out, list),
        Value::Dict(dict) => write_dict(out, dict),
    }
}

pub(super) fn write_message(out: &mut BytesMut, elems: &[Elem<'_>]) {
    write_container_header(out, false, elems.len());
    for elem in elems {
        match elem {
            Elem::UInt(n) => put(out, |w| encode::write_uint(w, *n)),
            Elem::Str(s) => write_str(out, s.as_bytes()),
            Elem::Dict(d) => write_dict(out, d),
            Elem::Raw(raw) => out.put_slice(raw),
            Elem::EmptyList => write_container_header(out, false, 0),
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
        let mut r = Reader::new(&ext, MAX_DEPTH);
        assert!(r.skip(0).is_ok() && r.pos == ext.len());
        assert!(matches!(decode_value(&ext), Err(DecodeError::Unsupported { .. })));
        let deep = [vec![0x91; MAX_DEPTH + 1], vec![0x90]].concat();
        assert!(decode_value(&deep).is_err());
        let ok = [vec![0x91; MAX_DEPTH - 1], vec![0x90]].concat();
        assert!(decode_value(&ok).is_ok());
    }
}
