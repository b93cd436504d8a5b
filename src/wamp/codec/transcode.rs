//! Streaming transcoding of encoded elements between serializers: the path a payload takes when its
//! receiver speaks another serializer than its sender.
//!
//! A source format's reader walks the element and feeds each scalar and container boundary straight to a
//! target format's [`Sink`], so no [`Value`](crate::wamp::value::Value) tree and no per-string allocation
//! is made. Readers check exactly what `decode_value` checks (and fail on the same input); dict entries keep
//! their order. Targets that need a container's length up front (MessagePack, CBOR) when the source does
//! not know it (indefinite-length CBOR; JSON's lengths come from simd-json's tape) write a placeholder
//! header and patch it, shifting the container's bytes left when the real header is shorter.

use bytes::{BufMut, BytesMut};

use super::{cbor, json, msgpack, DecodeError, Serializer};

/// A leaf value on its way from one format to another.
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A text string (the reader has checked its UTF-8).
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Whether bytes are UTF-8, quickly for the common all-ASCII case.
pub(super) fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// An output buffer as an [`std::io::Write`], for the crates' writers (rmp's `write_*`, ciborium-ll's
/// `Encoder`, simd-json's generator). Unlike `bytes`' generic `Writer` adapter, it appends each piece with
/// one `extend_from_slice` (a single byte with `put_u8`), and it never fails: a `BytesMut` grows.
pub(super) struct Out<'a>(pub(super) &'a mut BytesMut);

impl std::io::Write for Out<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data).map(|()| data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match data {
            [byte] => self.0.put_u8(*byte),
            _ => self.0.extend_from_slice(data),
        }
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What [`Sink::open`] returns when the header needs no patching.
pub(super) const NO_PATCH: usize = usize::MAX;

/// Receives what a reader reads, in order.
pub(super) trait Sink {
    fn scalar(&mut self, value: Scalar<'_>);
    /// A dict key (a text string, which JSON writes as a string whatever it starts with).
    fn key(&mut self, key: &str) {
        self.scalar(Scalar::Text(key));
    }
    /// Opens a list (or, if `map`, a dict) of `len` items (entries), if known. Returns a mark for
    /// [`Sink::close`].
    fn open(&mut self, map: bool, len: Option<usize>) -> usize;
    /// Comes before every item (or key) of a container but the first.
    fn separator(&mut self);
    /// Comes between a key and its value.
    fn colon(&mut self);
    /// Closes the container that [`Sink::open`] returned `mark` for, now that it holds `len` items.
    fn close(&mut self, map: bool, mark: usize, len: usize);
}

/// Re-encodes one complete element from `from` into `to`, appending it to `out`. On error, `out` may hold
/// part of the element: the caller discards it.
pub(super) fn transcode(
    from: Serializer,
    element: &[u8],
    to: Serializer,
    out: &mut BytesMut,
) -> Result<(), DecodeError> {
    match to {
        Serializer::Json => read(from, element, &mut json::Writer(out)),
        Serializer::MsgPack => read(from, element, &mut msgpack::Writer(out)),
        Serializer::Cbor => read(from, element, &mut cbor::Writer(out)),
    }
}

fn read<S: Sink>(from: Serializer, element: &[u8], sink: &mut S) -> Result<(), DecodeError> {
    match from {
        Serializer::Json => json::emit(element, sink),
        Serializer::MsgPack => msgpack::emit(element, sink),
        Serializer::Cbor => cbor::emit(element, sink),
    }
}

/// Replaces the placeholder header at `mark` (`placeholder_len` bytes) by `header`, moving the container's
/// content left if the header is shorter.
pub(super) fn patch_header(out: &mut BytesMut, mark: usize, placeholder_len: usize, header: &[u8]) {
    let end = out.len();
    let Some(content_start) = mark.checked_add(placeholder_len).filter(|&s| s <= end) else { return };
    let shrink = placeholder_len.saturating_sub(header.len());
    if let Some(slot) = out.get_mut(mark..mark + header.len().min(placeholder_len)) {
        slot.copy_from_slice(header.get(..slot.len()).unwrap_or_default());
    }
    if shrink > 0 {
        out.copy_within(content_start..end, content_start - shrink);
        out.truncate(end - shrink);
    }
}
