//! JSON (RFC 8259) for WAMP, on simd-json, with binary data as `"\u0000" + base64` strings (section 15.4).
//!
//! simd-json does the parsing: it validates a whole frame (UTF-8, the full grammar, escapes and surrogate
//! pairs, numbers, nesting up to the depth limit, at most [`MAX_DEPTH`]) into a tape of nodes with
//! unescaped strings, from which header elements become [`Value`]s, [`decode_value`] builds values and
//! [`emit`] streams into another format's [`Sink`] (with container lengths known up front, from the tape).
//! simd-json parses in place, so the input is copied into a per-thread scratch buffer that is reused from
//! frame to frame, as are simd-json's buffers (which fix their depth limit when made: a thread keeps a set
//! for each of the few limits in use). The tape does not say where an element lies in the frame, so a
//! payload element's span is found from simd-json's structural indexes (the offsets of the brackets,
//! commas and value starts of its stage 1): the span runs from the element's first structural to the comma
//! or bracket closing it. Beyond simd-json's checks, the base64 of binary strings in payloads is checked,
//! so that everything `decode` accepts can be transcoded.
//!
//! A string value that starts with U+0000 (which MessagePack and CBOR can carry) cannot be a JSON string,
//! since that marks binary data: it is written as the binary value of its UTF-8 bytes (see
//! [`write_text`]). Dict keys are strings whatever they start with.
//!
//! Output goes through simd-json's generator (`value_trait::generator`, re-exported as
//! `simd_json::value::generator`): SIMD string escaping, `itoa` integers and `ryu` floats (non-finite
//! floats, which JSON cannot express, become `null`).
//!
//! Cost: simd-json validates and tapes the whole frame, payload included, after copying it into the
//! scratch buffer, where a header-only decode used to skip the payload with a hand-written scanner. On the
//! codec bench a header-only decode of a PUBLISH takes about 8.5 µs instead of 4.8 µs at 4 KiB and 550 ns
//! instead of 360 ns at 64 B; full parsing takes 1.3x to 1.6x as long, and transcoding from JSON is as
//! fast or faster (the tape gives container lengths up front). simd-json has no mode that validates a
//! range without building its tape, and validating what is forwarded is the job it is chosen for, so the
//! cost is accepted rather than bypassed with a hand-written validator.

use std::cell::RefCell;
use std::ops::Range;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use simd_json::value::generator::{BaseGenerator, WriterGenerator};
use simd_json::{Buffers, ErrorType, Node, StaticNode, Tape};

use super::schema::{self, Elem};
use super::transcode::{Out, Scalar, Sink, NO_PATCH};
use super::{DecodeError, Serializer, MAX_DEPTH};
use crate::wamp::message::Message;
use crate::wamp::value::{Dict, Value};

/// Standard alphabet; padding written, and optional when reading (some peers strip it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a binary value's string starts with on the wire: an escaped U+0000.
const BINARY_PREFIX: &[u8] = b"\\u0000";

/// The error reason for data after a value.
const TRAILING_VALUE: &str = "trailing data after the value";

/// Scratch buffers larger than this (after an unusually large frame) are given back rather than kept.
const SCRATCH_KEEP: usize = 1 << 20;

/// How many sets of simd-json buffers (one per depth limit) a thread keeps.
const LIMITS_KEPT: usize = 4;

fn syntax(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Syntax { format: Serializer::Json, offset, reason }
}

/// simd-json's error as a [`DecodeError`], in the terms of the grammar. Errors that simd-json reports
/// only generically are told apart with its structural indexes: a document that never closes ends too
/// early, one followed by more structurals has trailing data (`trailing`).
fn parse_error(
    e: &simd_json::Error,
    input: &[u8],
    structurals: &[u32],
    trailing: &'static str,
    limit: usize,
) -> DecodeError {
    let reason = match e.error() {
        ErrorType::DepthLimitExceeded => return DecodeError::TooDeep { limit },
        ErrorType::InvalidUtf8 => {
            let offset = std::str::from_utf8(input).err().map_or(e.index(), |u| u.valid_up_to());
            return syntax(offset, "invalid UTF-8");
        }
        ErrorType::InvalidNumber | ErrorType::InvalidExponent => "invalid number",
        ErrorType::InvalidEscape | ErrorType::InvalidUnicodeEscape | ErrorType::InvalidUnicodeCodepoint => {
            "invalid escape"
        }
        ErrorType::ExpectedObjectColon => "expected ':'",
        ErrorType::ExpectedArrayComma | ErrorType::ExpectedArrayContent => "expected ',' or ']'",
        ErrorType::ExpectedMapComma | ErrorType::ExpectedObjectContent => "expected ',' or '}'",
        ErrorType::ExpectedObjectKey | ErrorType::KeyMustBeAString => "expected a string key",
        ErrorType::UnterminatedString => "unterminated string",
        _ => {
            // Where the first value ends: the structural that brings the depth back to zero.
            let mut depth = 0usize;
            let mut end = None;
            for (i, &at) in structurals.iter().enumerate() {
                match input.get(at as usize) {
                    Some(b'[' | b'{') => depth += 1,
                    Some(b']' | b'}') => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 {
                    end = Some(i);
                    break;
                }
            }
            return match end {
                None => syntax(input.len(), "unexpected end of input"),
                Some(i) => match structurals.get(i + 1) {
                    Some(&next) if (next as usize) < input.len() => syntax(next as usize, trailing),
                    _ => syntax(e.index(), "unexpected character"),
                },
            };
        }
    };
    syntax(e.index(), reason)
}

/// simd-json's per-thread state: the mutable copy of the input it parses in place, its buffers (structural
/// indexes, stack) and the tape's allocation.
#[derive(Default)]
struct Scratch {
    input: Vec<u8>,
    /// simd-json's buffers for each depth limit in use (a `Buffers` fixes its limit when made), the most
    /// recently used first; at most [`LIMITS_KEPT`].
    buffers: Vec<(usize, Buffers)>,
    tape: Option<Tape<'static>>,
}

impl Scratch {
    /// The buffers for `limit`, made if needed, moved to the front.
    fn buffers(&mut self, limit: usize) -> &mut Buffers {
        match self.buffers.iter().position(|(l, _)| *l == limit) {
            Some(i) => self.buffers[..=i].rotate_right(1),
            None => {
                self.buffers.truncate(LIMITS_KEPT - 1);
                self.buffers.insert(0, (limit, Buffers::with_max_depth(0, limit)));
            }
        }
        &mut self.buffers[0].1
    }

    /// Parses `bytes`, nested at most `limit` levels deep, and calls `f` with the tape and the structural
    /// indexes.
    fn parse<T>(
        &mut self,
        bytes: &[u8],
        limit: usize,
        trailing: &'static str,
        f: impl FnOnce(&[Node<'_>], &[u32]) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let mut input = std::mem::take(&mut self.input);
        input.clear();
        input.extend_from_slice(bytes);
        let mut tape = self.tape.take().unwrap_or_else(Tape::null).reset();
        let buffers = self.buffers(limit);
        let result = match simd_json::fill_tape(&mut input, buffers, &mut tape) {
            Ok(()) => f(&tape.0, buffers.structural_indexes()),
            Err(e) => Err(parse_error(&e, bytes, buffers.structural_indexes(), trailing, limit)),
        };
        self.tape = Some(tape.reset());
        self.input = input;
        if self.input.capacity() > SCRATCH_KEEP {
            *self = Scratch::default();
        }
        result
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Parses `bytes` with simd-json (in this thread's scratch buffers), nested at most `limit` levels deep,
/// and calls `f` with the tape and the structural indexes. `trailing` is the error reason for data after
/// the document.
fn with_tape<T>(
    bytes: &[u8],
    limit: usize,
    trailing: &'static str,
    f: impl FnOnce(&[Node<'_>], &[u32]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let limit = limit.min(MAX_DEPTH);
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => scratch.parse(bytes, limit, trailing, f),
        // Only if a parse were ever nested in another: it gets buffers of its own.
        Err(_) => Scratch::default().parse(bytes, limit, trailing, f),
    })
}

/// Decodes one whole message, nested at most `limit` levels deep (the message list is the first): header
/// elements from the tape, payload elements as spans of `frame`.
pub(super) fn decode(frame: &Bytes, limit: usize) -> Result<Message, DecodeError> {
    let first = frame.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first.and_then(|i| frame.get(i)) != Some(&b'[') {
        return Err(DecodeError::NotAList);
    }
    with_tape(frame, limit, "trailing data after the message", |nodes, structurals| {
        let mut walker = Walker::open(frame, nodes, structurals)?;
        schema::decode_message(&mut walker, frame, Serializer::Json)
    })
}

/// Decodes one complete value, allowing whitespace around it.
pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    with_tape(bytes, MAX_DEPTH, TRAILING_VALUE, |nodes, _| value(nodes, &mut 0))
}

/// Reads one complete value (whitespace around it allowed), feeding it to `sink`.
pub(super) fn emit<S: Sink>(bytes: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    with_tape(bytes, MAX_DEPTH, TRAILING_VALUE, |nodes, _| emit_node(nodes, &mut 0, sink))
}

/// The index of the node after the one (with everything it contains) at `i`.
fn after(nodes: &[Node<'_>], i: usize) -> usize {
    match nodes.get(i) {
        Some(Node::Array { count, .. } | Node::Object { count, .. }) => i + 1 + count,
        _ => i + 1,
    }
}

fn truncated() -> DecodeError {
    syntax(0, "unexpected end of input")
}

/// A binary string's data (the text after the U+0000 that marks it).
fn binary(b64: &str) -> Result<Vec<u8>, DecodeError> {
    BASE64.decode(b64).map_err(|_| syntax(0, "invalid base64 in binary string"))
}

/// A number node as a [`Value`]: integers become `Int` unless they need `UInt`.
fn number(node: StaticNode) -> Value {
    match node {
        StaticNode::I64(i) => Value::Int(i),
        StaticNode::U64(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
        StaticNode::F64(f) => Value::Float(f),
        StaticNode::Bool(b) => Value::Bool(b),
        StaticNode::Null => Value::Null,
    }
}

/// The value of the node at `*i`, moving `*i` past it.
fn value(nodes: &[Node<'_>], i: &mut usize) -> Result<Value, DecodeError> {
    let node = *nodes.get(*i).ok_or_else(truncated)?;
    *i += 1;
    Ok(match node {
        Node::Static(s) => number(s),
        Node::String(s) => match s.strip_prefix('\0') {
            Some(b64) => Value::Bytes(binary(b64)?),
            None => Value::Str(s.to_owned()),
        },
        Node::Array { len, .. } => {
            let mut list = Vec::with_capacity(len);
            for _ in 0..len {
                list.push(value(nodes, i)?);
            }
            Value::List(list)
        }
        Node::Object { len, .. } => Value::Dict(object(nodes, i, len)?),
    })
}

/// The `len` entries of an object whose node was read, moving `*i` past them.
fn object(nodes: &[Node<'_>], i: &mut usize, len: usize) -> Result<Dict, DecodeError> {
    let mut dict = Dict::new();
    for _ in 0..len {
        let Some(Node::String(key)) = nodes.get(*i) else {
            return Err(syntax(0, "expected a string key"));
        };
        *i += 1;
        dict.insert((*key).to_owned(), value(nodes, i)?);
    }
    Ok(dict)
}

/// Feeds the node at `*i` to `sink`, moving `*i` past it (the streaming twin of [`value`]).
fn emit_node<S: Sink>(nodes: &[Node<'_>], i: &mut usize, sink: &mut S) -> Result<(), DecodeError> {
    let node = *nodes.get(*i).ok_or_else(truncated)?;
    *i += 1;
    match node {
        Node::Static(s) => sink.scalar(match s {
            StaticNode::I64(i) => Scalar::Int(i),
            StaticNode::U64(u) => i64::try_from(u).map_or(Scalar::UInt(u), Scalar::Int),
            StaticNode::F64(f) => Scalar::Float(f),
            StaticNode::Bool(b) => Scalar::Bool(b),
            StaticNode::Null => Scalar::Null,
        }),
        Node::String(s) => match s.strip_prefix('\0') {
            Some(b64) => sink.scalar(Scalar::Bytes(&binary(b64)?)),
            None => sink.scalar(Scalar::Text(s)),
        },
        Node::Array { len, .. } | Node::Object { len, .. } => {
            let map = matches!(node, Node::Object { .. });
            let mark = sink.open(map, Some(len));
            for n in 0..len {
                if n > 0 {
                    sink.separator();
                }
                if map {
                    let Some(Node::String(key)) = nodes.get(*i) else {
                        return Err(syntax(0, "expected a string key"));
                    };
                    *i += 1;
                    sink.key(key);
                    sink.colon();
                }
                emit_node(nodes, i, sink)?;
            }
            sink.close(map, mark, len);
        }
    }
    Ok(())
}

/// A [`Sink`] writing JSON.
pub(super) struct Writer<'a>(pub(super) &'a mut BytesMut);

impl Sink for Writer<'_> {
    fn scalar(&mut self, value: Scalar<'_>) {
        let out = &mut *self.0;
        match value {
            Scalar::Null => out.put_slice(b"null"),
            Scalar::Bool(true) => out.put_slice(b"true"),
            Scalar::Bool(false) => out.put_slice(b"false"),
            Scalar::Int(i) => generate(out, |g| g.write_int(i)),
            Scalar::UInt(u) => generate(out, |g| g.write_int(u)),
            Scalar::Float(f) => generate(out, |g| g.write_float(f)),
            Scalar::Text(s) => write_text(out, s),
            Scalar::Bytes(b) => write_bytes(out, b),
        }
    }

    fn key(&mut self, key: &str) {
        write_str(self.0, key);
    }

    fn open(&mut self, map: bool, _len: Option<usize>) -> usize {
        self.0.put_u8(if map { b'{' } else { b'[' });
        NO_PATCH
    }

    fn separator(&mut self) {
        self.0.put_u8(b',');
    }

    fn colon(&mut self) {
        self.0.put_u8(b':');
    }

    fn close(&mut self, map: bool, _mark: usize, _len: usize) {
        self.0.put_u8(if map { b'}' } else { b']' });
    }
}

/// Walks the elements of a message's top-level JSON array: types and header values from the tape, spans
/// from the structural indexes.
struct Walker<'t, 'de> {
    frame: &'t [u8],
    nodes: &'t [Node<'de>],
    structurals: &'t [u32],
    /// The tape index of the element at the cursor.
    node: usize,
    /// The index (into `structurals`) of the first structural of the element at the cursor.
    structural: usize,
    /// Elements not yet stepped onto.
    left: usize,
}

impl<'t, 'de> Walker<'t, 'de> {
    fn open(frame: &'t [u8], nodes: &'t [Node<'de>], structurals: &'t [u32]) -> Result<Self, DecodeError> {
        match nodes.first() {
            // The list's own `[` is the first structural.
            Some(Node::Array { len, .. }) => {
                Ok(Walker { frame, nodes, structurals, node: 1, structural: 1, left: *len })
            }
            _ => Err(DecodeError::NotAList),
        }
    }

    fn peek(&self) -> Option<Node<'de>> {
        self.nodes.get(self.node).copied()
    }

    /// The offset in the frame of the element at the cursor.
    fn start(&self) -> usize {
        self.structurals.get(self.structural).map_or(self.frame.len(), |&s| s as usize)
    }

    /// Moves past the element at the cursor, returning its span: from its first structural to the comma or
    /// bracket after it (less the whitespace before that).
    fn consume(&mut self) -> Result<Range<usize>, DecodeError> {
        let start = self.start();
        let mut depth = 0usize;
        let mut i = self.structural;
        let mut end = loop {
            let at = *self.structurals.get(i).ok_or_else(truncated)? as usize;
            match self.frame.get(at) {
                Some(b'[' | b'{') => depth += 1,
                Some(b']' | b'}' | b',') if depth == 0 => break at,
                Some(b']' | b'}') => depth -= 1,
                _ => {}
            }
            i += 1;
        };
        self.structural = i + 1;
        self.node = after(self.nodes, self.node);
        while end > start && matches!(self.frame.get(end - 1), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            end -= 1;
        }
        Ok(start..end)
    }

    /// Moves past a payload element, checking the base64 of the binary strings in it, and returns its span.
    fn payload(&mut self) -> Result<Range<usize>, DecodeError> {
        let nodes = self.nodes.get(self.node..after(self.nodes, self.node)).unwrap_or_default();
        let span = self.consume()?;
        // Usually no string starts with U+0000: one quick pass. Otherwise the binary ones (not dict keys,
        // which are strings whatever they start with) must be valid base64.
        let marked = |node: &Node<'_>| matches!(node, Node::String(s) if s.starts_with('\0'));
        if nodes.iter().any(marked) && !binaries_valid(nodes, &mut 0) {
            return Err(syntax(span.start, "invalid base64 in binary string"));
        }
        Ok(span)
    }
}

/// Whether the binary strings in the value at `nodes[*i]` are valid base64, moving `*i` past it.
fn binaries_valid(nodes: &[Node<'_>], i: &mut usize) -> bool {
    let Some(node) = nodes.get(*i) else { return false };
    *i += 1;
    match node {
        Node::String(s) => s.strip_prefix('\0').is_none_or(|b64| binary(b64).is_ok()),
        Node::Array { len, .. } => (0..*len).all(|_| binaries_valid(nodes, i)),
        Node::Object { len, .. } => (0..*len).all(|_| {
            *i += 1; // the key
            binaries_valid(nodes, i)
        }),
        Node::Static(_) => true,
    }
}

impl schema::Walker for Walker<'_, '_> {
    fn next(&mut self) -> Result<bool, DecodeError> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        Ok(true)
    }

    fn uint(&mut self) -> Result<Option<u64>, DecodeError> {
        // An integer without a sign (simd-json reads `-0` as the integer 0).
        let n = match self.peek() {
            Some(Node::Static(StaticNode::U64(u))) => u,
            Some(Node::Static(StaticNode::I64(i))) => match u64::try_from(i) {
                Ok(u) => u,
                Err(_) => return Ok(None),
            },
            _ => return Ok(None),
        };
        if self.frame.get(self.start()) == Some(&b'-') {
            return Ok(None);
        }
        self.consume()?;
        Ok(Some(n))
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.peek() {
            Some(Node::String(s)) if !s.starts_with('\0') => {
                self.consume()?;
                Ok(Some(s.to_owned()))
            }
            _ => Ok(None),
        }
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        let Some(Node::Object { len, .. }) = self.peek() else {
            return Ok(None);
        };
        let dict = object(self.nodes, &mut (self.node + 1), len)?;
        self.consume()?;
        Ok(Some(dict))
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        match self.peek() {
            Some(Node::Array { .. }) => self.payload().map(|span| Some((span, false))),
            Some(Node::String(_)) if transparent_ok => self.payload().map(|span| Some((span, true))),
            _ => Ok(None),
        }
    }

    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError> {
        match self.peek() {
            Some(Node::Object { .. }) => self.payload().map(Some),
            _ => Ok(None),
        }
    }

    fn skip(&mut self) -> Result<(), DecodeError> {
        self.payload().map(drop)
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        // simd-json has checked that nothing but whitespace follows the list.
        Ok(())
    }
}

/// Runs simd-json's generator on `out`. It is generic over fallible writers; [`Out`] never fails, so the
/// `Result` it returns carries nothing here.
fn generate<T, E>(out: &mut BytesMut, write: impl FnOnce(&mut WriterGenerator<'_, Out<'_>>) -> Result<T, E>) {
    let _ = write(&mut WriterGenerator::new(&mut Out(out)));
}

/// Writes a string value. One that starts with U+0000 has no JSON form: a JSON string starting with
/// U+0000 is binary data (section 15.4), so such a string (which MessagePack and CBOR peers can send) is
/// written as the binary value of its UTF-8 bytes, which every JSON peer decodes (as binary). Written as a
/// string, it would be read as binary with invalid base64 (failing the whole message) or, worse, as
/// other bytes.
fn write_text(out: &mut BytesMut, s: &str) {
    if s.starts_with('\0') {
        write_bytes(out, s.as_bytes());
    } else {
        write_str(out, s);
    }
}

/// Writes a string with the escapes JSON requires (a dict key, a header string, or a value through
/// [`write_text`]).
fn write_str(out: &mut BytesMut, s: &str) {
    out.reserve(s.len() + 2);
    generate(out, |g| g.write_string(s));
}

fn write_bytes(out: &mut BytesMut, data: &[u8]) {
    out.put_u8(b'"');
    out.put_slice(BINARY_PREFIX);
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or_default();
    out.resize(start + len, 0);
    if let Some(buf) = out.get_mut(start..) {
        let written = BASE64.encode_slice(data, buf).unwrap_or_default();
        out.truncate(start + written);
    }
    out.put_u8(b'"');
}

pub(super) fn write_list(out: &mut BytesMut, list: &[Value]) {
    out.put_u8(b'[');
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_value(out, item);
    }
    out.put_u8(b']');
}

pub(super) fn write_dict(out: &mut BytesMut, dict: &Dict) {
    out.put_u8(b'{');
    for (i, (key, value)) in dict.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_str(out, key);
        out.put_u8(b':');
        write_value(out, value);
    }
    out.put_u8(b'}');
}

pub(super) fn write_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Null => out.put_slice(b"null"),
        Value::Bool(true) => out.put_slice(b"true"),
        Value::Bool(false) => out.put_slice(b"false"),
        Value::Int(i) => generate(out, |g| g.write_int(*i)),
        Value::UInt(u) => generate(out, |g| g.write_int(*u)),
        Value::Float(f) => generate(out, |g| g.write_float(*f)),
        Value::Str(s) => write_text(out, s),
        Value::Bytes(b) => write_bytes(out, b),
        Value::List(list) => write_list(out, list),
        Value::Dict(dict) => write_dict(out, dict),
    }
}

pub(super) fn write_message(out: &mut BytesMut, elems: &[Elem<'_>]) {
    out.put_u8(b'[');
    for (i, elem) in elems.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        match elem {
            Elem::UInt(n) => generate(out, |g| g.write_int(*n)),
            Elem::Str(s) => write_str(out, s),
            Elem::Dict(d) => write_dict(out, d),
            Elem::Raw(raw) => out.put_slice(raw),
            Elem::EmptyList => out.put_slice(b"[]"),
        }
    }
    out.put_u8(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    fn roundtrip(v: &Value) -> Value {
        let mut out = BytesMut::new();
        write_value(&mut out, v);
        decode_value(&out).unwrap()
    }

    fn text(v: &Value) -> String {
        let mut out = BytesMut::new();
        write_value(&mut out, v);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn parses_scalars() {
        assert_eq!(decode_value(b" 42 ").unwrap(), Value::Int(42));
        assert_eq!(decode_value(b"-7").unwrap(), Value::Int(-7));
        assert_eq!(decode_value(b"-0").unwrap(), Value::Int(0));
        assert_eq!(decode_value(b"18446744073709551615").unwrap(), Value::UInt(u64::MAX));
        assert_eq!(decode_value(b"-9223372036854775808").unwrap(), Value::Int(i64::MIN));
        assert_eq!(decode_value(b"18446744073709551616").unwrap(), Value::Float(18446744073709551616.0));
        assert_eq!(decode_value(b"1.5e3").unwrap(), Value::Float(1500.0));
        assert_eq!(decode_value(b"true").unwrap(), Value::Bool(true));
        assert_eq!(decode_value(b"null").unwrap(), Value::Null);
        assert_eq!(
            decode_value(br#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).unwrap(),
            Value::from("a\"b\\c/\n\u{e9}\u{1F600}")
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b"01"[..],
            b"1.",
            b".5",
            b"1e",
            b"-",
            b"+1",
            b"tru",
            b"nul",
            b"[1,]",
            b"[1 2]",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{1:2}",
            b"\"abc",
            b"\"a\\x\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\u12\"",
            b"\"tab\there\"",
            b"[1] x",
            b"",
            b"\"\\u0000!!\"",
        ] {
            assert!(decode_value(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
            // In a payload element, which decode keeps as a span.
            if !bad.is_empty() {
                let frame = [&b"[16,1,{},\"t\",["[..], bad, b"]]"].concat();
                assert!(
                    decode(&Bytes::from(frame), MAX_DEPTH).is_err(),
                    "span accepted {:?}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        assert!(decode_value(b"\xff").is_err());
    }

    #[test]
    fn binary_strings() {
        let v = decode_value(br#""\u0000EOP/kFMHXFJvX8BtT+N82w==""#).unwrap();
        assert_eq!(v, Value::Bytes(hex::decode("10e3ff9053075c526f5fc06d4fe37cdb").unwrap()));
        assert_eq!(text(&v), r#""\u0000EOP/kFMHXFJvX8BtT+N82w==""#);
        // Padding is optional on input, and an escaped slash is still base64.
        assert_eq!(decode_value(br#""\u0000EOP\/kFMHXFJvX8BtT+N82w""#).unwrap(), v);
        assert_eq!(roundtrip(&Value::Bytes(vec![])), Value::Bytes(vec![]));
        // U+0000 elsewhere is just a character.
        assert_eq!(decode_value(br#""a\u0000""#).unwrap(), Value::from("a\0"));
    }

    #[test]
    fn writes_escapes_and_numbers() {
        assert_eq!(text(&Value::from("q\"b\\n\n\u{1}\u{7f}é")), "\"q\\\"b\\\\n\\n\\u0001\u{7f}é\"");
        assert_eq!(text(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(text(&Value::Int(0)), "0");
        assert_eq!(text(&Value::Float(1.0)), "1.0");
        assert_eq!(text(&Value::Float(f64::NAN)), "null");
        assert_eq!(text(&Value::Float(f64::INFINITY)), "null");
        for f in [0.1, -2.5e-300, 1e300, f64::MAX, f64::MIN_POSITIVE, 123_456_789.123_456_79] {
            assert_eq!(roundtrip(&Value::Float(f)), Value::Float(f));
        }
        let nested = Value::Dict(
            dict! { "a" => vec![Value::Null, Value::Bool(false), Value::from("x")], "b" => dict!{} },
        );
        assert_eq!(text(&nested), r#"{"a":[null,false,"x"],"b":{}}"#);
        assert_eq!(roundtrip(&nested), nested);
    }

    #[test]
    fn long_strings_are_escaped() {
        let long = format!("{}\"{}\\{}\u{1f}", "x".repeat(37), "é".repeat(20), "y".repeat(9));
        assert_eq!(roundtrip(&Value::from(long.as_str())), Value::from(long.as_str()));
        let expected = format!("\"{}\\\"{}\\\\{}\\u001f\"", "x".repeat(37), "é".repeat(20), "y".repeat(9));
        assert_eq!(text(&Value::from(long.as_str())), expected);
    }

    #[test]
    fn spans_come_from_the_structural_indexes() {
        let frame = Bytes::from_static(
            b" [36 , 1 , 2 , {\"x\":[]} , [ \"a,]\" , {\"b\":[1,{}]} ]\n, {\"k\" : \"v]\\\"\"} ] ",
        );
        let Message::Event { payload, details, .. } = decode(&frame, MAX_DEPTH).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(details, dict! { "x" => Value::List(vec![]) });
        assert_eq!(payload.args.as_deref(), Some(&br#"[ "a,]" , {"b":[1,{}]} ]"#[..]));
        assert_eq!(payload.kwargs.as_deref(), Some(&br#"{"k" : "v]\""}"#[..]));
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(decode_value(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(decode_value(deep.as_bytes()).is_err());
        let very_deep = "[".repeat(1 << 20);
        assert!(decode_value(very_deep.as_bytes()).is_err());
    }
}
