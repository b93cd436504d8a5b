//! Checks the types of the `Options|dict` / `Details|dict` keys the spec defines for each message type
//! (sections 4-6, 11, 12, 14.1, 17), after the codec has checked the element types themselves.
//!
//! A peer that sends, say, `PUBLISH.Options.acknowledge = "yes"` commits a protocol violation; catching it
//! here keeps the routing code free of such checks. Keys the spec does not define are allowed and ignored
//! (section 3.1), as is the absence of any key.

use super::message::{code, Message, Payload, MAX_ID};
use super::value::{Dict, Value};

/// The type (or value set) a defined key must have.
#[derive(Clone, Copy)]
enum Rule {
    Bool,
    Str,
    NonEmptyStr,
    /// A non-negative integer.
    UInt,
    /// An integer of at least 1.
    PositiveInt,
    /// A WAMP ID: an integer in `[0, 2^53]`.
    Id,
    Dict,
    StrList,
    IdList,
    /// A list of `{session|id, authid|string, authrole|string}` dicts (Router-to-Router links, section 17).
    ForwardFor,
    /// `HELLO/WELCOME.Details.roles`: a dict of role dicts, each with an optional `features` dict.
    Roles,
    OneOf(&'static [&'static str]),
    /// One of the standard identifiers, or a custom one of the form `x_...`.
    Identifier(&'static [&'static str]),
}

impl Rule {
    fn accepts(self, value: &Value) -> bool {
        let is_id = |v: &Value| v.as_u64().is_some_and(|id| id <= MAX_ID);
        match self {
            Rule::Bool => matches!(value, Value::Bool(_)),
            Rule::Str => matches!(value, Value::Str(_)),
            Rule::NonEmptyStr => value.as_str().is_some_and(|s| !s.is_empty()),
            Rule::UInt => value.as_u64().is_some(),
            Rule::PositiveInt => value.as_u64().is_some_and(|n| n >= 1),
            Rule::Id => is_id(value),
            Rule::Dict => matches!(value, Value::Dict(_)),
            Rule::StrList => value.as_list().is_some_and(|l| l.iter().all(|v| matches!(v, Value::Str(_)))),
            Rule::IdList => value.as_list().is_some_and(|l| l.iter().all(is_id)),
            Rule::ForwardFor => value.as_list().is_some_and(|hops| {
                hops.iter().all(|hop| {
                    hop.as_dict().is_some_and(|hop| {
                        hop.get("session").is_some_and(is_id)
                            && hop.get("authid").is_some_and(|v| matches!(v, Value::Str(_)))
                            && hop.get("authrole").is_some_and(|v| matches!(v, Value::Str(_)))
                    })
                })
            }),
            Rule::Roles => value.as_dict().is_some_and(|roles| {
                roles.values().all(|role| {
                    role.as_dict()
                        .is_some_and(|role| role.get("features").is_none_or(|f| matches!(f, Value::Dict(_))))
                })
            }),
            Rule::OneOf(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
            Rule::Identifier(standard) => {
                value.as_str().is_some_and(|s| standard.contains(&s) || is_custom_identifier(s))
            }
        }
    }

    fn describe(self) -> String {
        let quoted = |list: &[&str]| list.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        match self {
            Rule::Bool => "a bool".into(),
            Rule::Str => "a string".into(),
            Rule::NonEmptyStr => "a non-empty string".into(),
            Rule::UInt => "a non-negative integer".into(),
            Rule::PositiveInt => "a positive integer".into(),
            Rule::Id => "an ID (an integer in [0, 2^53])".into(),
            Rule::Dict => "a dict".into(),
            Rule::StrList => "a list of strings".into(),
            Rule::IdList => "a list of IDs (integers in [0, 2^53])".into(),
            Rule::ForwardFor => "a list of {session, authid, authrole} dicts".into(),
            Rule::Roles => "a dict of role dicts (with an optional features dict)".into(),
            Rule::OneOf(allowed) => format!("one of {}", quoted(allowed)),
            Rule::Identifier(standard) => {
                format!("one of {} or a custom \"x_...\" identifier", quoted(standard))
            }
        }
    }
}

/// Custom payload-transparency identifiers: `x_`, optionally followed by `[a-z][0-9a-z_]+` (autobahn's
/// `^x_([a-z][\da-z_]+)?$`).
fn is_custom_identifier(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("x_") else {
        return false;
    };
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some(first) => {
            first.is_ascii_lowercase()
                && rest.len() >= 2
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
    }
}

type Rules = &'static [(&'static str, Rule)];

const MATCH: Rule = Rule::OneOf(&["exact", "prefix", "wildcard"]);

/// Payload Passthru Mode (section 14.1) and the older end-to-end encryption attributes.
const PASSTHRU: Rules = &[
    ("ppt_scheme", Rule::NonEmptyStr),
    ("ppt_serializer", Rule::Str),
    ("ppt_cipher", Rule::Str),
    ("ppt_keyid", Rule::Str),
    ("enc_algo", Rule::Identifier(&["cryptobox", "mqtt", "xbr"])),
    ("enc_serializer", Rule::Identifier(&["json", "msgpack", "cbor", "ubjson", "flatbuffers"])),
    ("enc_key", Rule::Str),
];

const FORWARD_FOR: Rules = &[("forward_for", Rule::ForwardFor)];

const HELLO_DETAILS: Rules = &[
    ("roles", Rule::Roles),
    ("agent", Rule::Str),
    ("authmethods", Rule::StrList),
    ("authid", Rule::Str),
    ("authrole", Rule::Str),
    ("authextra", Rule::Dict),
    ("resumable", Rule::Bool),
];

const WELCOME_DETAILS: Rules = &[
    ("roles", Rule::Roles),
    ("agent", Rule::Str),
    ("realm", Rule::Str),
    ("authid", Rule::Str),
    ("authrole", Rule::Str),
    ("authmethod", Rule::Str),
    ("authprovider", Rule::Str),
    ("authextra", Rule::Dict),
    ("resumed", Rule::Bool),
    ("resumable", Rule::Bool),
    ("resume_token", Rule::Str),
];

const ABORT_DETAILS: Rules = &[("message", Rule::Str)];

const GOODBYE_DETAILS: Rules = &[("message", Rule::Str), ("resumable", Rule::Bool)];

const ERROR_DETAILS: Rules =
    &[("callee", Rule::Id), ("callee_authid", Rule::Str), ("callee_authrole", Rule::Str)];

const PUBLISH_OPTIONS: Rules = &[
    ("acknowledge", Rule::Bool),
    ("exclude_me", Rule::Bool),
    ("exclude", Rule::IdList),
    ("exclude_authid", Rule::StrList),
    ("exclude_authrole", Rule::StrList),
    ("eligible", Rule::IdList),
    ("eligible_authid", Rule::StrList),
    ("eligible_authrole", Rule::StrList),
    ("disclose_me", Rule::Bool),
    ("retain", Rule::Bool),
    ("transaction_hash", Rule::Str),
    ("rkey", Rule::Str),
];

const SUBSCRIBE_OPTIONS: Rules = &[("match", MATCH), ("get_retained", Rule::Bool), ("nkey", Rule::Str)];

const UNSUBSCRIBED_DETAILS: Rules = &[("subscription", Rule::Id), ("reason", Rule::Str)];

const EVENT_DETAILS: Rules = &[
    ("publisher", Rule::Id),
    ("publisher_authid", Rule::Str),
    ("publisher_authrole", Rule::Str),
    ("topic", Rule::Str),
    ("retained", Rule::Bool),
    ("trustlevel", Rule::UInt),
    ("transaction_hash", Rule::Str),
    ("x_acknowledged_delivery", Rule::Bool),
];

const CALL_OPTIONS: Rules = &[
    ("timeout", Rule::UInt),
    ("receive_progress", Rule::Bool),
    ("progress", Rule::Bool),
    ("disclose_me", Rule::Bool),
    ("transaction_hash", Rule::Str),
    ("caller", Rule::Id),
    ("caller_authid", Rule::Str),
    ("caller_authrole", Rule::Str),
    ("rkey", Rule::Str),
    ("runmode", Rule::OneOf(&["all", "partition"])),
];

const CANCEL_OPTIONS: Rules = &[("mode", Rule::OneOf(&["skip", "kill", "killnowait"]))];

const RESULT_DETAILS: Rules = &[
    ("progress", Rule::Bool),
    ("callee", Rule::Id),
    ("callee_authid", Rule::Str),
    ("callee_authrole", Rule::Str),
];

const REGISTER_OPTIONS: Rules = &[
    ("match", MATCH),
    ("invoke", Rule::OneOf(&["single", "roundrobin", "random", "first", "last"])),
    ("concurrency", Rule::PositiveInt),
    ("force_reregister", Rule::Bool),
    ("disclose_caller", Rule::Bool),
];

const UNREGISTERED_DETAILS: Rules = &[("registration", Rule::Id), ("reason", Rule::Str)];

const INVOCATION_DETAILS: Rules = &[
    ("caller", Rule::Id),
    ("caller_authid", Rule::Str),
    ("caller_authrole", Rule::Str),
    ("procedure", Rule::Str),
    ("receive_progress", Rule::Bool),
    ("progress", Rule::Bool),
    ("timeout", Rule::UInt),
    ("trustlevel", Rule::UInt),
    ("transaction_hash", Rule::Str),
];

const INTERRUPT_OPTIONS: Rules = &[("mode", Rule::OneOf(&["kill", "killnowait"])), ("reason", Rule::Str)];

const YIELD_OPTIONS: Rules = &[
    ("progress", Rule::Bool),
    ("callee", Rule::Id),
    ("callee_authid", Rule::Str),
    ("callee_authrole", Rule::Str),
];

/// The request types an ERROR can answer (sections 5, 6).
const ERROR_REQUEST_TYPES: [u64; 7] = [
    code::SUBSCRIBE,
    code::UNSUBSCRIBE,
    code::PUBLISH,
    code::REGISTER,
    code::UNREGISTER,
    code::CALL,
    code::INVOCATION,
];

/// Checks the keys `dict` defines against the rule sets; `scope` names the dict in the error.
fn check(scope: &str, dict: &Dict, rule_sets: &[Rules]) -> Result<(), String> {
    // Most Options/Details dicts are empty: nothing to look up.
    if dict.is_empty() {
        return Ok(());
    }
    for &(key, rule) in rule_sets.iter().flat_map(|rules| rules.iter()) {
        if let Some(value) = dict.get(key) {
            if !rule.accepts(value) {
                return Err(format!("{scope}.{key} must be {}", rule.describe()));
            }
        }
    }
    Ok(())
}

/// [`check`] for a message with a payload; a transparent payload must say how it is encoded.
fn check_with_payload(
    scope: &str,
    dict: &Dict,
    rule_sets: &[Rules],
    payload: &Payload,
) -> Result<(), String> {
    check(scope, dict, rule_sets)?;
    if payload.is_transparent() && !dict.contains_key("ppt_scheme") && !dict.contains_key("enc_algo") {
        return Err(format!("{scope} must have ppt_scheme (or enc_algo) for a transparent binary payload"));
    }
    Ok(())
}

/// Checks the types of the Options/Details keys that the spec defines for this message type. The error is
/// a human-readable message naming the offending key, e.g. `"PUBLISH.Options.acknowledge must be a bool"`.
pub fn validate(message: &Message) -> Result<(), String> {
    match message {
        Message::Hello { details, .. } => check("HELLO.Details", details, &[HELLO_DETAILS]),
        Message::Welcome { details, .. } => check("WELCOME.Details", details, &[WELCOME_DETAILS]),
        Message::Abort { details, .. } => check("ABORT.Details", details, &[ABORT_DETAILS]),
        Message::Challenge { .. } | Message::Authenticate { .. } => Ok(()),
        Message::Goodbye { details, .. } => check("GOODBYE.Details", details, &[GOODBYE_DETAILS]),
        Message::Error { request_type, details, error, payload, .. } => {
            if !ERROR_REQUEST_TYPES.contains(request_type) {
                return Err(format!("ERROR.REQUEST.Type {request_type} is not a request that can fail"));
            }
            // The router forwards it to the caller, possibly in another serializer.
            if !super::uri::is_valid(error, super::uri::UriCheck::Loose) {
                return Err(format!("ERROR.Error {error:?} is not a valid URI"));
            }
            check_with_payload("ERROR.Details", details, &[ERROR_DETAILS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Publish { options, payload, .. } => {
            check_with_payload("PUBLISH.Options", options, &[PUBLISH_OPTIONS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Subscribe { options, .. } => {
            check("SUBSCRIBE.Options", options, &[SUBSCRIBE_OPTIONS, FORWARD_FOR])
        }
        Message::Unsubscribed { details: Some(details), .. } => {
            check("UNSUBSCRIBED.Details", details, &[UNSUBSCRIBED_DETAILS])
        }
        Message::Event { details, payload, .. } => {
            check_with_payload("EVENT.Details", details, &[EVENT_DETAILS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Call { options, payload, .. } => {
            check_with_payload("CALL.Options", options, &[CALL_OPTIONS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Cancel { options, .. } => check("CANCEL.Options", options, &[CANCEL_OPTIONS, FORWARD_FOR]),
        Message::Result { details, payload, .. } => {
            check_with_payload("RESULT.Details", details, &[RESULT_DETAILS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Register { options, .. } => {
            check("REGISTER.Options", options, &[REGISTER_OPTIONS, FORWARD_FOR])
        }
        Message::Unregistered { details: Some(details), .. } => {
            check("UNREGISTERED.Details", details, &[UNREGISTERED_DETAILS])
        }
        Message::Invocation { details, payload, .. } => check_with_payload(
            "INVOCATION.Details",
            details,
            &[INVOCATION_DETAILS, FORWARD_FOR, PASSTHRU],
            payload,
        ),
        Message::Interrupt { options, .. } => {
            check("INTERRUPT.Options", options, &[INTERRUPT_OPTIONS, FORWARD_FOR])
        }
        Message::Yield { options, payload, .. } => {
            check_with_payload("YIELD.Options", options, &[YIELD_OPTIONS, FORWARD_FOR, PASSTHRU], payload)
        }
        Message::Published { .. }
        | Message::Subscribed { .. }
        | Message::Unsubscribe { .. }
        | Message::Unsubscribed { details: None, .. }
        | Message::Registered { .. }
        | Message::Unregister { .. }
        | Message::Unregistered { details: None, .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::wamp::codec::Serializer;

    fn publish(options: Dict) -> Message {
        Message::Publish { request: 1, options, topic: "t".into(), payload: Payload::empty() }
    }

    #[test]
    fn publish_options() {
        assert!(validate(&publish(dict! { "acknowledge" => true, "unknown_key" => "anything" })).is_ok());
        let err = validate(&publish(dict! { "acknowledge" => "yes" })).unwrap_err();
        assert_eq!(err, "PUBLISH.Options.acknowledge must be a bool");
        assert!(validate(&publish(dict! { "acknowledge" => Value::Int(1) })).is_err());
        assert!(validate(&publish(dict! { "exclude" => vec![Value::Int(1), Value::Int(2)] })).is_ok());
        assert!(validate(&publish(dict! { "exclude" => vec![Value::Int(-1)] })).is_err());
        assert!(validate(&publish(dict! { "exclude" => vec![Value::UInt(u64::MAX)] })).is_err());
        assert!(validate(&publish(dict! { "eligible_authrole" => vec![Value::from("a")] })).is_ok());
        assert!(validate(&publish(dict! { "eligible_authrole" => vec![Value::Int(3)] }))
            .unwrap_err()
            .contains("eligible_authrole"));
    }

    #[test]
    fn forward_for_and_identifiers() {
        let hop = dict! { "session" => 5u64, "authid" => "a", "authrole" => "r" };
        assert!(validate(&publish(dict! { "forward_for" => vec![Value::Dict(hop.clone())] })).is_ok());
        let mut bad_hop = hop;
        bad_hop.remove("authrole");
        assert!(validate(&publish(dict! { "forward_for" => vec![Value::Dict(bad_hop)] }))
            .unwrap_err()
            .contains("forward_for"));
        assert!(validate(&publish(dict! { "enc_algo" => "x_mine" })).is_ok());
        assert!(validate(&publish(dict! { "enc_algo" => "x_" })).is_ok());
        assert!(validate(&publish(dict! { "enc_algo" => "x_a" })).is_err());
        assert!(validate(&publish(dict! { "enc_algo" => "x_Ab" })).is_err());
        assert!(validate(&publish(dict! { "enc_algo" => "aes" })).unwrap_err().contains("enc_algo"));
        assert!(validate(&publish(dict! { "ppt_scheme" => "" })).unwrap_err().contains("ppt_scheme"));
    }

    #[test]
    fn transparent_payload_needs_a_scheme() {
        let payload = Payload::from_transparent(Serializer::MsgPack, b"\x01\x02");
        let bare =
            Message::Publish { request: 1, options: dict! {}, topic: "t".into(), payload: payload.clone() };
        assert!(validate(&bare).unwrap_err().contains("ppt_scheme"));
        let with_scheme = Message::Publish {
            request: 1,
            options: dict! { "ppt_scheme" => "mqtt" },
            topic: "t".into(),
            payload,
        };
        assert!(validate(&with_scheme).is_ok());
    }

    #[test]
    fn other_messages() {
        let sub =
            |m: &str| Message::Subscribe { request: 1, options: dict! { "match" => m }, topic: "a".into() };
        assert!(validate(&sub("prefix")).is_ok());
        assert_eq!(
            validate(&sub("regex")).unwrap_err(),
            "SUBSCRIBE.Options.match must be one of \"exact\", \"prefix\", \"wildcard\""
        );
        let hello = |roles: Value| Message::Hello { realm: "r".into(), details: dict! { "roles" => roles } };
        assert!(validate(&hello(Value::Dict(dict! { "caller" => dict! { "features" => dict!{} } }))).is_ok());
        assert!(validate(&hello(Value::Dict(dict! { "caller" => dict! { "features" => true } }))).is_err());
        assert!(validate(&hello(Value::from("caller"))).unwrap_err().contains("HELLO.Details.roles"));
        let register = Message::Register {
            request: 1,
            options: dict! { "concurrency" => Value::Int(0) },
            procedure: "p".into(),
        };
        assert!(validate(&register).unwrap_err().contains("concurrency"));
        let error = Message::Error {
            request_type: 1,
            request: 1,
            details: dict! {},
            error: "e".into(),
            payload: Payload::empty(),
        };
        assert!(validate(&error).is_err());
        let call = Message::Call {
            request: 1,
            options: dict! { "timeout" => Value::Int(-5) },
            procedure: "p".into(),
            payload: Payload::empty(),
        };
        assert!(validate(&call).unwrap_err().contains("CALL.Options.timeout"));
        let error = Message::Error {
            request_type: 68,
            request: 1,
            details: dict! {},
            error: "\u{0}x".into(),
            payload: Payload::empty(),
        };
        assert!(
            validate(&error).unwrap_err().contains("ERROR.Error"),
            "a URI the JSON peer would read as binary"
        );
        assert!(validate(&Message::Unsubscribed {
            request: 1,
            details: Some(dict! { "subscription" => "x" })
        })
        .is_err());
        assert!(validate(&Message::Unregistered { request: 1, details: None }).is_ok());
    }
}
