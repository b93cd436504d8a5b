//! The element layout of every message type (sections 3.4, 9.2), shared by all serializers: which element
//! is an ID, a URI, a dict or the payload, and how many there may be. The formats only provide a
//! [`Walker`] over a message's top-level list and a writer for [`Elem`]s.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{cbor, json, msgpack, DecodeError, Serializer};
use crate::wamp::message::{code, code_name, Message, Payload, MAX_ID};
use crate::wamp::value::Dict;

/// Steps through the elements of a message's top-level list, in one serializer's encoding.
///
/// The typed readers return `Ok(None)` when the element has another type (the caller then fails with a
/// message naming the element) and `Err` when the bytes are malformed.
pub(super) trait Walker {
    /// Moves to the next element; `false` once the list has ended (then call nothing but [`Walker::finish`]).
    fn next(&mut self) -> Result<bool, DecodeError>;
    /// A non-negative integer that fits in `u64`.
    fn uint(&mut self) -> Result<Option<u64>, DecodeError>;
    /// A (non-binary) string.
    fn string(&mut self) -> Result<Option<String>, DecodeError>;
    fn dict(&mut self) -> Result<Option<Dict>, DecodeError>;
    /// Skips a list — or, if `transparent_ok`, a string/binary — returning its span and whether it was the
    /// latter.
    fn args(&mut self, transparent_ok: bool) -> Result<Option<(Range<usize>, bool)>, DecodeError>;
    /// Skips a dict whose keys are strings, returning its span.
    fn kwargs(&mut self) -> Result<Option<Range<usize>>, DecodeError>;
    /// Skips any element.
    fn skip(&mut self) -> Result<(), DecodeError>;
    /// Checks that nothing follows the list.
    fn finish(&mut self) -> Result<(), DecodeError>;
}

/// Decodes the message a walker is positioned at.
pub(super) fn decode_message<W: Walker>(
    w: &mut W,
    frame: &Bytes,
    format: Serializer,
) -> Result<Message, DecodeError> {
    if !w.next()? {
        return Err(DecodeError::EmptyMessage);
    }
    let type_code = w.uint()?.ok_or(DecodeError::MessageType)?;
    let message = code_name(type_code);
    if message == "UNKNOWN" {
        return Err(DecodeError::UnknownType(type_code));
    }
    let mut r = Elements { w, frame, format, message, index: 1, ended: false };
    let decoded = match type_code {
        code::HELLO => Message::Hello { realm: r.string("Realm")?, details: r.dict("Details")? },
        code::WELCOME => Message::Welcome { session: r.id("Session")?, details: r.dict("Details")? },
        code::ABORT => Message::Abort {
            details: r.dict("Details")?,
            reason: r.string("Reason")?,
            payload: r.payload(false)?,
        },
        code::CHALLENGE => {
            Message::Challenge { authmethod: r.string("AuthMethod")?, extra: r.dict("Extra")? }
        }
        code::AUTHENTICATE => {
            Message::Authenticate { signature: r.string("Signature")?, extra: r.dict("Extra")? }
        }
        code::GOODBYE => Message::Goodbye { details: r.dict("Details")?, reason: r.string("Reason")? },
        code::ERROR => Message::Error {
            request_type: r.uint("REQUEST.Type")?,
            request: r.id("Request")?,
            details: r.dict("Details")?,
            error: r.string("Error")?,
            payload: r.payload(true)?,
        },
        code::PUBLISH => Message::Publish {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            topic: r.string("Topic")?,
            payload: r.payload(true)?,
        },
        code::PUBLISHED => {
            Message::Published { request: r.id("Request")?, publication: r.id("Publication")? }
        }
        code::SUBSCRIBE => Message::Subscribe {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            topic: r.string("Topic")?,
        },
        code::SUBSCRIBED => {
            Message::Subscribed { request: r.id("Request")?, subscription: r.id("Subscription")? }
        }
        code::UNSUBSCRIBE => {
            Message::Unsubscribe { request: r.id("Request")?, subscription: r.id("Subscription")? }
        }
        code::UNSUBSCRIBED => {
            Message::Unsubscribed { request: r.id("Request")?, details: r.opt_dict("Details")? }
        }
        code::EVENT => Message::Event {
            subscription: r.id("Subscription")?,
            publication: r.id("Publication")?,
            details: r.dict("Details")?,
            payload: r.payload(true)?,
        },
        code::CALL => Message::Call {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            procedure: r.string("Procedure")?,
            payload: r.payload(true)?,
        },
        code::CANCEL => Message::Cancel { request: r.id("Request")?, options: r.dict("Options")? },
        code::RESULT => Message::Result {
            request: r.id("Request")?,
            details: r.dict("Details")?,
            payload: r.payload(true)?,
        },
        code::REGISTER => Message::Register {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            procedure: r.string("Procedure")?,
        },
        code::REGISTERED => {
            Message::Registered { request: r.id("Request")?, registration: r.id("Registration")? }
        }
        code::UNREGISTER => {
            Message::Unregister { request: r.id("Request")?, registration: r.id("Registration")? }
        }
        code::UNREGISTERED => {
            Message::Unregistered { request: r.id("Request")?, details: r.opt_dict("Details")? }
        }
        code::INVOCATION => Message::Invocation {
            request: r.id("Request")?,
            registration: r.id("Registration")?,
            details: r.dict("Details")?,
            payload: r.payload(true)?,
        },
        code::INTERRUPT => Message::Interrupt { request: r.id("Request")?, options: r.dict("Options")? },
        code::YIELD => Message::Yield {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            payload: r.payload(true)?,
        },
        _ => return Err(DecodeError::UnknownType(type_code)),
    };
    r.end()?;
    Ok(decoded)
}

/// Reads one message's elements in order, keeping the position for error messages.
struct Elements<'w, 'f, W> {
    w: &'w mut W,
    frame: &'f Bytes,
    format: Serializer,
    message: &'static str,
    /// The index of the next element (the type code is element 0).
    index: usize,
    /// The list has ended (the walker returned `false`).
    ended: bool,
}

impl<W: Walker> Elements<'_, '_, W> {
    fn element_error(&self, name: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::Element { message: self.message, index: self.index, name, expected }
    }

    /// Moves to the next element, which may be absent.
    fn advance(&mut self) -> Result<bool, DecodeError> {
        if !self.ended && !self.w.next()? {
            self.ended = true;
        }
        Ok(!self.ended)
    }

    /// Moves to the next element, which must be present.
    fn required(&mut self) -> Result<(), DecodeError> {
        if self.advance()? {
            Ok(())
        } else {
            Err(DecodeError::Arity { message: self.message, count: self.index })
        }
    }

    fn id(&mut self, name: &'static str) -> Result<u64, DecodeError> {
        self.required()?;
        match self.w.uint()? {
            Some(id) if id <= MAX_ID => {
                self.index += 1;
                Ok(id)
            }
            _ => Err(self.element_error(name, "an ID (an integer in [0, 2^53])")),
        }
    }

    fn uint(&mut self, name: &'static str) -> Result<u64, DecodeError> {
        self.required()?;
        let value = self.w.uint()?.ok_or_else(|| self.element_error(name, "a non-negative integer"))?;
        self.index += 1;
        Ok(value)
    }

    fn string(&mut self, name: &'static str) -> Result<String, DecodeError> {
        self.required()?;
        let value = self.w.string()?.ok_or_else(|| self.element_error(name, "a string"))?;
        self.index += 1;
        Ok(value)
    }

    fn dict(&mut self, name: &'static str) -> Result<Dict, DecodeError> {
        self.required()?;
        let value = self.w.dict()?.ok_or_else(|| self.element_error(name, "a dict"))?;
        self.index += 1;
        Ok(value)
    }

    fn opt_dict(&mut self, name: &'static str) -> Result<Option<Dict>, DecodeError> {
        if !self.advance()? {
            return Ok(None);
        }
        let value = self.w.dict()?.ok_or_else(|| self.element_error(name, "a dict"))?;
        self.index += 1;
        Ok(Some(value))
    }

    /// The optional trailing `Arguments|list` and `ArgumentsKw|dict`, as spans of the frame.
    fn payload(&mut self, transparent_ok: bool) -> Result<Payload, DecodeError> {
        let mut payload = Payload { format: self.format, args: None, kwargs: None };
        if !self.advance()? {
            return Ok(payload);
        }
        let (span, transparent) =
            self.w.args(transparent_ok)?.ok_or_else(|| self.element_error("Arguments", "a list"))?;
        payload.args = Some(self.frame.slice(span));
        self.index += 1;
        if !self.advance()? {
            return Ok(payload);
        }
        if transparent {
            // A transparent payload stands alone; with keyword arguments after it, it was meant as a list.
            self.index -= 1;
            return Err(self.element_error("Arguments", "a list"));
        }
        let span =
            self.w.kwargs()?.ok_or_else(|| self.element_error("ArgumentsKw", "a dict with string keys"))?;
        payload.kwargs = Some(self.frame.slice(span));
        self.index += 1;
        Ok(payload)
    }

    /// Checks that no element and no byte follows.
    fn end(&mut self) -> Result<(), DecodeError> {
        if self.advance()? {
            let mut count = self.index;
            loop {
                self.w.skip()?;
                count += 1;
                if !self.w.next()? {
                    break;
                }
            }
            return Err(DecodeError::Arity { message: self.message, count });
        }
        self.w.finish()
    }
}

/// One element of a message to encode.
pub(super) enum Elem<'a> {
    UInt(u64),
    Str(&'a str),
    Dict(&'a Dict),
    /// An element already encoded in the target format (a payload span).
    Raw(&'a [u8]),
    /// `[]`, standing in for absent `Arguments` before present `ArgumentsKw`.
    EmptyList,
}

/// At most seven elements: ERROR with both payload elements.
const MAX_ELEMENTS: usize = 7;

/// Encodes `message` with `payload` (already in `format`, or `None` to leave the payload out) in place of
/// its own payload.
pub(super) fn encode_message<'a>(
    message: &'a Message,
    payload: Option<&'a Payload>,
    format: Serializer,
    out: &mut BytesMut,
) {
    let mut elems: [Elem<'a>; MAX_ELEMENTS] = std::array::from_fn(|_| Elem::EmptyList);
    let mut n = 0;
    let mut push = |e: Elem<'a>| {
        // `n` never exceeds MAX_ELEMENTS: no arm below pushes more than seven elements.
        if let Some(slot) = elems.get_mut(n) {
            *slot = e;
            n += 1;
        }
    };
    push(Elem::UInt(message.code()));
    match message {
        Message::Hello { realm, details } => {
            push(Elem::Str(realm));
            push(Elem::Dict(details));
        }
        Message::Welcome { session, details } => {
            push(Elem::UInt(*session));
            push(Elem::Dict(details));
        }
        Message::Abort { details, reason, .. } => {
            push(Elem::Dict(details));
            push(Elem::Str(reason));
        }
        Message::Challenge { authmethod, extra } => {
            push(Elem::Str(authmethod));
            push(Elem::Dict(extra));
        }
        Message::Authenticate { signature, extra } => {
            push(Elem::Str(signature));
            push(Elem::Dict(extra));
        }
        Message::Goodbye { details, reason } => {
            push(Elem::Dict(details));
            push(Elem::Str(reason));
        }
        Message::Error { request_type, request, details, error, .. } => {
            push(Elem::UInt(*request_type));
            push(Elem::UInt(*request));
            push(Elem::Dict(details));
            push(Elem::Str(error));
        }
        Message::Publish { request, options, topic, .. } | Message::Subscribe { request, options, topic } => {
            push(Elem::UInt(*request));
            push(Elem::Dict(options));
            push(Elem::Str(topic));
        }
        Message::Published { request, publication: other }
        | Message::Subscribed { request, subscription: other }
        | Message::Unsubscribe { request, subscription: other }
        | Message::Registered { request, registration: other }
        | Message::Unregister { request, registration: other } => {
            push(Elem::UInt(*request));
            push(Elem::UInt(*other));
        }
        Message::Unsubscribed { request, details } | Message::Unregistered { request, details } => {
            push(Elem::UInt(*request));
            if let Some(details) = details {
                push(Elem::Dict(details));
            }
        }
        Message::Event { subscription, publication, details, .. } => {
            push(Elem::UInt(*subscription));
            push(Elem::UInt(*publication));
            push(Elem::Dict(details));
        }
        Message::Call { request, options, procedure, .. }
        | Message::Register { request, options, procedure } => {
            push(Elem::UInt(*request));
            push(Elem::Dict(options));
            push(Elem::Str(procedure));
        }
        Message::Cancel { request, options }
        | Message::Interrupt { request, options }
        | Message::Yield { request, options, .. } => {
            push(Elem::UInt(*request));
            push(Elem::Dict(options));
        }
        Message::Result { request, details, .. } => {
            push(Elem::UInt(*request));
            push(Elem::Dict(details));
        }
        Message::Invocation { request, registration, details, .. } => {
            push(Elem::UInt(*request));
            push(Elem::UInt(*registration));
            push(Elem::Dict(details));
        }
    }
    if let Some(payload) = payload {
        match (&payload.args, &payload.kwargs) {
            (Some(args), kwargs) => {
                push(Elem::Raw(args));
                if let Some(kwargs) = kwargs {
                    push(Elem::Raw(kwargs));
                }
            }
            (None, Some(kwargs)) => {
                push(Elem::EmptyList);
                push(Elem::Raw(kwargs));
            }
            (None, None) => {}
        }
    }
    let elems = elems.get(..n).unwrap_or_default();
    match format {
        Serializer::Json => json::write_message(out, elems),
        Serializer::MsgPack => msgpack::write_message(out, elems),
        Serializer::Cbor => cbor::write_message(out, elems),
    }
}
