//! JSON (RFC 8259) for WAMP, with binary data as `"\u0000" + base64` strings (section 15.4).
//!
//! A small hand-written parser over `&str` (the frame is checked to be UTF-8 once, up front): header
//! elements are parsed straight into [`Value`]s without copying the frame, payload elements are skipped by a
//! validating scanner that checks the full grammar (escapes, surrogate pairs, numbers, nesting depth) and
//! the base64 of binary strings, so that everything `decode` accepts can later be transcoded — which
//! [`emit`] does by streaming a value into another format's [`Sink`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::schema::{self, Elem};
use super::transcode::{Scalar, Sink, NO_PATCH};
use super::{DecodeError, Serializer, MAX_DEPTH};
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

fn syntax(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Syntax { format: Serializer::Json, offset, reason }
}

/// Checks that a frame is UTF-8, as every JSON text must be.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| syntax(e.valid_up_to(), "invalid UTF-8"))
}

/// Decodes one complete value, allowing whitespace around it.
pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut p = Parser { s: utf8(bytes)?, pos: 0 };
    p.ws();
    let value = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(syntax(p.pos, "trailing data after the value"));
    }
    Ok(value)
}

/// The index of the first byte at or after `i` that is `"`, `\` or a control character.
#[inline]
fn find_special(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Eight bytes at a time: a byte equal to `"` or `\` makes the xor zero; a control byte is below 0x20.
    // Each test flags its first hit exactly (a borrow only spreads upwards from a hit), so the lowest flag
    // of the three is the first special byte.
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let v = u64::from_le_bytes(word);
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (v.wrapping_sub(ONES * 0x20) & !v))
            & HIGH;
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i + 4)?;
    digits.iter().try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// A cursor over a JSON text.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn err(&self, reason: &'static str) -> DecodeError {
        syntax(self.pos, reason)
    }

    /// The error for a byte that cannot start or continue what was expected.
    fn unexpected(&self) -> DecodeError {
        if self.pos >= self.s.len() {
            self.err("unexpected end of input")
        } else {
            self.err("unexpected character")
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            Err(self.err("nesting too deep"))
        } else {
            Ok(depth + 1)
        }
    }

    fn literal(&mut self, text: &'static [u8]) -> Result<(), DecodeError> {
        if self.bytes().get(self.pos..self.pos + text.len()) == Some(text) {
            self.pos += text.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// After a list item or dict entry: consumes `,` (true: another follows) or the closing bracket.
    fn comma_or_close(&mut self, close: u8) -> Result<bool, DecodeError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            None => Err(self.err("unexpected end of input")),
            Some(_) => {
                Err(self.err(if close == b']' { "expected ',' or ']'" } else { "expected ',' or '}'" }))
            }
        }
    }

    /// Consumes an opening bracket and whitespace; true if the container is empty (and closed).
    fn open(&mut self, close: u8) -> bool {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes the `:` between a key and its value, with the whitespace around it.
    fn colon(&mut self) -> Result<(), DecodeError> {
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':'"));
        }
        self.pos += 1;
        self.ws();
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        match self.peek() {
            Some(b'{') => self.object(depth).map(Value::Dict),
            Some(b'[') => self.array(depth).map(Value::List),
            Some(b'"') => self.string_value(),
            Some(b't') => self.literal(b"true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Number::value),
            _ => Err(self.unexpected()),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Value>, DecodeError> {
        let depth = self.enter(depth)?;
        let mut list = Vec::new();
        if self.open(b']') {
            return Ok(list);
        }
        loop {
            list.push(self.value(depth)?);
            if !self.comma_or_close(b']')? {
                return Ok(list);
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Dict, DecodeError> {
        let depth = self.enter(depth)?;
        let mut dict = Dict::new();
        if self.open(b'}') {
            return Ok(dict);
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?.into_owned();
            self.colon()?;
            let value = self.value(depth)?;
            dict.insert(key, value);
            if !self.comma_or_close(b'}')? {
                return Ok(dict);
            }
        }
    }

    /// Checks the escape sequence at `i` (a backslash); returns the character and the index after it.
    fn escape(&self, i: usize) -> Result<(char, usize), DecodeError> {
        let b = self.bytes();
        let simple = match b.get(i + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = hex4(b, i + 2).ok_or_else(|| syntax(i, "invalid \\u escape"))?;
                return match unit {
                    0xD800..=0xDBFF => {
                        let low = match b.get(i + 6..i + 8) {
                            Some(b"\\u") => hex4(b, i + 8),
                            _ => None,
                        };
                        match low {
                            Some(low @ 0xDC00..=0xDFFF) => {
                                let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                char::from_u32(c)
                                    .map(|c| (c, i + 12))
                                    .ok_or_else(|| syntax(i, "invalid \\u escape"))
                            }
                            _ => Err(syntax(i, "unpaired surrogate in \\u escape")),
                        }
                    }
                    0xDC00..=0xDFFF => Err(syntax(i, "unpaired surrogate in \\u escape")),
                    _ => char::from_u32(unit)
                        .map(|c| (c, i + 6))
                        .ok_or_else(|| syntax(i, "invalid \\u escape")),
                };
            }
            _ => return Err(syntax(i, "invalid escape")),
        };
        Ok((simple, i + 2))
    }

    /// Parses the string at the cursor (on its opening quote) into its text.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let b = self.bytes();
        let mut run = self.pos + 1;
        let mut owned: Option<String> = None;
        loop {
            let j = find_special(b, run).ok_or_else(|| syntax(b.len(), "unterminated string"))?;
            let before = self.s.get(run..j).ok_or_else(|| syntax(run, "invalid string"))?;
            match b.get(j) {
                Some(b'"') => {
                    self.pos = j + 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(before),
                        Some(mut text) => {
                            text.push_str(before);
                            Cow::Owned(text)
                        }
                    });
                }
                Some(b'\\') => {
                    let (c, next) = self.escape(j)?;
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(before);
                    text.push(c);
                    run = next;
                }
                _ => return Err(syntax(j, "control character in string")),
            }
        }
    }

    /// Whether the string at the cursor is a binary value (starts with an escaped U+0000).
    fn at_binary(&self) -> bool {
        let b = self.bytes();
        b.get(self.pos + 1) == Some(&b'\\')
            && b.get(self.pos + 1..self.pos + 1 + BINARY_PREFIX.len()) == Some(BINARY_PREFIX)
    }

    fn string_value(&mut self) -> Result<Value, DecodeError> {
        let start = self.pos;
        let text = self.string()?;
        match text.strip_prefix('\0') {
            Some(b64) => BASE64
                .decode(b64)
                .map(Value::Bytes)
                .map_err(|_| syntax(start, "invalid base64 in binary string")),
            None => Ok(Value::Str(text.into_owned())),
        }
    }

    /// Skips the string at the cursor, checking escapes (and the base64 of a binary string).
    fn skip_string(&mut self) -> Result<(), DecodeError> {
        if self.at_binary() {
            return self.string_value().map(drop);
        }
        let b = self.bytes();
        let mut i = self.pos + 1;
        loop {
            let j = find_special(b, i).ok_or_else(|| syntax(b.len(), "unterminated string"))?;
            match b.get(j) {
                Some(b'"') => {
                    self.pos = j + 1;
                    return Ok(());
                }
                Some(b'\\') => i = self.escape(j)?.1,
                _ => return Err(syntax(j, "control character in string")),
            }
        }
    }

    /// Scans the number at the cursor; true if it is an integer (no fraction, no exponent).
    fn scan_number(&mut self) -> Result<bool, DecodeError> {
        let b = self.bytes();
        let digits = |mut i: usize| -> Result<usize, DecodeError> {
            let start = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == start {
                Err(syntax(i, "invalid number"))
            } else {
                Ok(i)
            }
        };
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match b.get(i) {
            Some(b'0') => i + 1,
            _ => digits(i)?,
        };
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i = digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            integer = false;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            i = digits(i)?;
        }
        self.pos = i;
        Ok(integer)
    }

    fn number(&mut self) -> Result<Number, DecodeError> {
        let start = self.pos;
        let integer = self.scan_number()?;
        let text = self.s.get(start..self.pos).ok_or_else(|| syntax(start, "invalid number"))?;
        if integer {
            if let Some(number) = parse_integer(text) {
                return Ok(number);
            }
        }
        // Fractions, exponents and integers beyond 64 bits.
        text.parse::<f64>().map(Number::Float).map_err(|_| syntax(start, "invalid number"))
    }

    /// Reads the number at the cursor if it is a non-negative integer that fits in `u64`.
    fn uint(&mut self) -> Result<Option<u64>, DecodeError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Ok(None);
        }
        let start = self.pos;
        if !self.scan_number()? {
            return Ok(None);
        }
        Ok(self.s.get(start..self.pos).and_then(|t| t.parse::<u64>().ok()))
    }

    /// Skips one value, checking it fully.
    fn skip_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        match self.peek() {
            Some(b'{') => {
                let depth = self.enter(depth)?;
                if self.open(b'}') {
                    return Ok(());
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    self.skip_string()?;
                    self.colon()?;
                    self.skip_value(depth)?;
                    if !self.comma_or_close(b'}')? {
                        return Ok(());
                    }
                }
            }
            Some(b'[') => {
                let depth = self.enter(depth)?;
                if self.open(b']') {
                    return Ok(());
                }
                loop {
                    self.skip_value(depth)?;
                    if !self.comma_or_close(b']')? {
                        return Ok(());
                    }
                }
            }
            Some(b'"') => self.skip_string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.scan_number().map(drop),
            _ => Err(self.unexpected()),
        }
    }

    /// Reads one value, feeding it to `sink` (the streaming twin of [`Parser::value`]).
    fn emit<S: Sink>(&mut self, sink: &mut S, depth: usize) -> Result<(), DecodeError> {
        match self.peek() {
            Some(open @ (b'[' | b'{')) => {
                let depth = self.enter(depth)?;
                let map = open == b'{';
                let close = if map { b'}' } else { b']' };
                let mark = sink.open(map, None);
                let mut len = 0;
                if !self.open(close) {
                    loop {
                        if len > 0 {
                            sink.separator();
                        }
                        if map {
                            if self.peek() != Some(b'"') {
                                return Err(self.err("expected a string key"));
                            }
                            sink.scalar(Scalar::Text(self.string()?.as_bytes()));
                            self.colon()?;
                            sink.colon();
                        }
                        self.emit(sink, depth)?;
                        len += 1;
                        if !self.comma_or_close(close)? {
                            break;
                        }
                    }
                }
                sink.close(map, mark, len);
            }
            Some(b'"') => {
                let start = self.pos;
                let text = self.string()?;
                match text.strip_prefix('\0') {
                    Some(b64) => {
                        let data = BASE64
                            .decode(b64)
                            .map_err(|_| syntax(start, "invalid base64 in binary string"))?;
                        sink.scalar(Scalar::Bytes(&data));
                    }
                    None => sink.scalar(Scalar::Text(text.as_bytes())),
                }
            }
            Some(b't') => self.literal(b"true").map(|()| sink.scalar(Scalar::Bool(true)))?,
            Some(b'f') => self.literal(b"false").map(|()| sink.scalar(Scalar::Bool(false)))?,
            Some(b'n') => self.literal(b"null").map(|()| sink.scalar(Scalar::Null))?,
            Some(b'-' | b'0'..=b'9') => sink.scalar(self.number()?.scalar()),
            _ => return Err(self.unexpected()),
        }
        Ok(())
    }

    /// Skips one value and returns its span.
    fn span(&mut self, depth: usize) -> Result<Range<usize>, DecodeError> {
        let start = self.pos;
        self.skip_value(depth)?;
        Ok(start..self.pos)
    }
}

/// A JSON number, as the value types hold it.
enum Number {
    Int(i64),
    /// Above `i64::MAX`.
    UInt(u64),
    Float(f64),
}

impl Number {
    fn value(self) -> Value {
        match self {
            Number::Int(i) => Value::Int(i),
            Number::UInt(u) => Value::UInt(u),
            Number::Float(f) => Value::Float(f),
        }
    }

    fn scalar(self) -> Scalar<'static> {
        match self {
            Number::Int(i) => Scalar::Int(i),
            Number::UInt(u) => Scalar::UInt(u),
            Number::Float(f) => Scalar::Float(f),
        }
    }
}

/// An integer literal as a [`Number`], or `None` if it needs more than 64 bits.
fn parse_integer(text: &str) -> Option<Number> {
    match text.strip_prefix('-') {
        None => {
            let n = text.parse::<u64>().ok()?;
            Some(i64::try_from(n).map_or(Number::UInt(n), Number::Int))
        }
        Some(magnitude) => {
            let magnitude = magnitude.parse::<u64>().ok()?;
            0i64.checked_sub_unsigned(magnitude).map(Number::Int)
        }
    }
}

/// Reads one complete value (whitespace around it allowed), feeding it to `sink`.
pub(super) fn emit<S: Sink>(bytes: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    let mut p = Parser { s: utf8(bytes)?, pos: 0 };
    p.ws();
    p.emit(sink, 0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(syntax(p.pos, "trailing data after the value"));
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
            Scalar::Int(i) => write_i64(out, i),
            Scalar::UInt(u) => write_u64(out, u),
            Scalar::Float(f) => write_f64(out, f),
            Scalar::Text(s) => write_str(out, s),
            Scalar::Bytes(b) => write_bytes(out, b),
        }
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

/// Walks the elements of a message's top-level JSON array.
pub(super) struct Walker<'a> {
    p: Parser<'a>,
    first: bool,
}

impl<'a> Walker<'a> {
    pub(super) fn open(text: &'a str) -> Result<Walker<'a>, DecodeError> {
        let mut p = Parser { s: text, pos: 0 };
        p.ws();
        if p.peek() != Some(b'[') {
            return Err(DecodeError::NotAList);
        }
        p.pos += 1;
        Ok(Walker { p, first: true })
    }
}

impl schema::Walker for Walker<'_> {
    fn next(&mut self) -> Result<bool, DecodeError> {
        let p = &mut self.p;
        p.ws();
        if std::mem::take(&mut self.first) {
            if p.peek() == Some(b']') {
                p.pos += 1;
                return Ok(false);
            }
            return Ok(true);
        }
        p.comma_or_close(b']')
    }

    fn uint(&mut self) -> Result<Option<u64>, DecodeError> {
        self.p.uint()
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        if self.p.peek() != Some(b'"') || self.p.at_binary() {
            return Ok(None);
        }
        self.p.string().map(|s| Some(s.into_owned()))
    }

    fn dict(&mut self) -> Result<Option<Dict>, DecodeError> {
        if self.p.peek() != Some(b'{') {
            return Ok(None);
        }
        self.p.object(1).map(Some)
    }

    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        match self.p.peek() {
            Some(b'[') => self.p.span(1).map(|span| Some((span, false))),
            Some(b'"') if transparent_ok => self.p.span(1).map(|span| Some((span, true))),
            _ => Ok(None),
        }
    }

    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError> {
        if self.p.peek() != Some(b'{') {
            return Ok(None);
        }
        self.p.span(1).map(Some)
    }

    fn skip(&mut self) -> Result<(), DecodeError> {
        self.p.skip_value(1)
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        self.p.ws();
        if self.p.pos != self.p.s.len() {
            return Err(self.p.err("trailing data after the message"));
        }
        Ok(())
    }
}

fn write_u64(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_slice(buf.get(i..).unwrap_or_default());
}

fn write_i64(out: &mut BytesMut, n: i64) {
    if n < 0 {
        out.put_u8(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

fn write_f64(out: &mut BytesMut, f: f64) {
    if f.is_finite() {
        // `{:?}` is the shortest text that reads back as the same f64, and always has a `.` or an exponent.
        let _ = write!(out, "{f:?}");
    } else {
        out.put_slice(b"null");
    }
}

/// Writes a string (UTF-8 bytes) with the escapes JSON requires.
fn write_str(out: &mut BytesMut, b: &[u8]) {
    out.reserve(b.len() + 2);
    out.put_u8(b'"');
    let mut run = 0;
    while let Some(j) = find_special(b, run) {
        out.put_slice(b.get(run..j).unwrap_or_default());
        match b.get(j).copied().unwrap_or_default() {
            b'"' => out.put_slice(b"\\\""),
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.put_slice(b"\\u00");
                out.put_u8(HEX[usize::from(c >> 4)]);
                out.put_u8(HEX[usize::from(c & 0xf)]);
            }
        }
        run = j + 1;
    }
    out.put_slice(b.get(run..).unwrap_or_default());
    out.put_u8(b'"');
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
        write_str(out, key.as_bytes());
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
        Value::Int(i) => write_i64(out, *i),
        Value::UInt(u) => write_u64(out, *u),
        Value::Float(f) => write_f64(out, *f),
        Value::Str(s) => write_str(out, s.as_bytes()),
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
            Elem::UInt(n) => write_u64(out, *n),
            Elem::Str(s) => write_str(out, s.as_bytes()),
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
            let text = std::str::from_utf8(bad).unwrap();
            let mut p = Parser { s: text, pos: 0 };
            let skipped =
                p.skip_value(0).and_then(|()| if p.pos == text.len() { Ok(()) } else { Err(p.err("x")) });
            assert!(skipped.is_err(), "skip accepted {text:?}");
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
    fn long_strings_use_the_word_scanner() {
        let long = format!("{}\"{}\\{}\u{1f}", "x".repeat(37), "é".repeat(20), "y".repeat(9));
        assert_eq!(roundtrip(&Value::from(long.as_str())), Value::from(long.as_str()));
        assert_eq!(find_special(b"abcdefghijklmnop\"", 0), Some(16));
        assert_eq!(find_special(b"abcdefgh\x01", 0), Some(8));
        assert_eq!(find_special(b"abcdefgh", 0), None);
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
