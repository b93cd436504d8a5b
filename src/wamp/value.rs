//! A dynamically typed WAMP value: what `Options`, `Details` and (when transcoding) payloads decode to.
//!
//! WAMP is defined over JSON-like values plus binary strings (section 15.4). Every serializer decodes into
//! and encodes from this one type, so the router logic never depends on a wire format.

use std::collections::BTreeMap;

/// A WAMP dictionary: string keys, any values. Ordered so encodings are deterministic.
pub type Dict = BTreeMap<String, Value>;

/// One WAMP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Signed integers, and unsigned ones up to `i64::MAX`.
    Int(i64),
    /// Unsigned integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(String),
    /// Binary data: a native byte string in MessagePack/CBOR, `"\u0000" + base64` in JSON (15.4).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(Dict),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a non-negative integer, whatever integer variant holds it.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        if u <= i64::MAX as u64 {
            Value::Int(u as i64)
        } else {
            Value::UInt(u)
        }
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

/// Builds a [`Dict`] from `key => value` pairs: `dict! { "acknowledge" => true }`.
#[macro_export]
macro_rules! dict {
    () => { $crate::wamp::value::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::wamp::value::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::wamp::value::Value::from($v)); )+
        d
    }};
}
