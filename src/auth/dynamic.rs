//! The dynamic authenticator's protocol: what the router asks (a call with `[realm, authid, details]`)
//! and how its answer is read. The answer's first positional argument (or, if there is none, the
//! keyword arguments) is either the role as a string, or a dict with "role" (required), "authid" (an
//! override), "extra" (for WELCOME.Details.authextra), and the credentials the method needs:
//!
//! * wampcra: "secret", and "salt", "iterations", "keylen" when salted;
//! * wamp-scram: "kdf", "iterations", "memory" (argon2id13), "salt", "stored_key", "server_key";
//! * cryptosign: "pubkey", which must be the one the client announced (optional: without it the
//!   announced key is accepted);
//! * ticket and tls: nothing, the authenticator has decided.

use ed25519_dalek::VerifyingKey;

use super::config::{Kdf, ScramCredentials};
use super::scram::{ScramSecret, TLS_EXPORTER};
use super::transport_info::TransportInfo;
use super::uris;
use super::wampcra::WampcraKey;
use crate::wamp::{Dict, Id, Value};

/// What the authenticator is told about the authentication under way.
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub authid: Option<&'a str>,
    /// HELLO.Details.authextra.
    pub authextra: &'a Dict,
    pub session: Id,
    pub transport: &'a TransportInfo,
    /// The ticket from AUTHENTICATE (ticket method only).
    pub ticket: Option<&'a str>,
}

/// The call's positional arguments: `[realm, authid, details]`.
pub(crate) fn call_arguments(realm: &str, request: &Request<'_>) -> Vec<Value> {
    let authid = request.authid.map(Value::from).unwrap_or(Value::Null);
    vec![Value::from(realm), authid.clone(), Value::Dict(details(request, authid))]
}

fn details(request: &Request<'_>, authid: Value) -> Dict {
    let mut transport = crate::dict! { "peer" => request.transport.peer_string() };
    let tls = request.transport.tls.as_deref();
    let channel_binding = match tls.and_then(|t| t.channel_binding_exporter) {
        Some(_) => Value::from(TLS_EXPORTER),
        None => Value::Null,
    };
    transport.insert("channel_binding".into(), channel_binding);
    if let Some(tls) = tls {
        if let Some(digest) = tls.client_cert_sha256 {
            transport.insert("client_cert_sha256".into(), Value::from(hex::encode(digest)));
        }
        if let Some(cn) = &tls.client_cert_cn {
            transport.insert("client_cert_cn".into(), Value::from(cn.as_str()));
        }
    }
    let mut details = crate::dict! {
        "authmethod" => request.method,
        "authid" => authid,
        "authextra" => request.authextra.clone(),
        "session" => request.session,
        "transport" => transport,
    };
    if let Some(ticket) = request.ticket {
        details.insert("ticket".into(), Value::from(ticket));
    }
    details
}

/// An accepted answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub role: String,
    pub authid: Option<String>,
    pub extra: Dict,
    /// The whole answer dict, for the method's credentials (empty for a bare role).
    pub fields: Dict,
}

/// Why an answer does not admit the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rejection {
    /// The authenticator said no (an ERROR, or it could not be called): ABORT with this reason.
    Denied(&'static str),
    /// The answer does not have the documented shape.
    Malformed(String),
}

pub(crate) fn parse_answer(answer: Result<(Vec<Value>, Dict), String>) -> Result<Answer, Rejection> {
    let (args, kwargs) = answer.map_err(|uri| Rejection::Denied(abort_reason(&uri)))?;
    let first = match args.into_iter().next() {
        Some(value) => value,
        None if !kwargs.is_empty() => Value::Dict(kwargs),
        None => return Err(Rejection::Malformed("the answer has no arguments".into())),
    };
    match first {
        Value::Str(role) if !role.is_empty() => {
            Ok(Answer { role, authid: None, extra: Dict::new(), fields: Dict::new() })
        }
        Value::Dict(fields) => {
            let role = match fields.get("role") {
                Some(Value::Str(role)) if !role.is_empty() => role.clone(),
                _ => {
                    return Err(Rejection::Malformed(
                        "the answer's \"role\" is missing or not a non-empty string".into(),
                    ))
                }
            };
            let authid = match fields.get("authid") {
                None | Some(Value::Null) => None,
                Some(Value::Str(authid)) if !authid.is_empty() => Some(authid.clone()),
                Some(_) => {
                    return Err(Rejection::Malformed(
                        "the answer's \"authid\" is not a non-empty string".into(),
                    ))
                }
            };
            let extra = match fields.get("extra") {
                None | Some(Value::Null) => Dict::new(),
                Some(Value::Dict(extra)) => extra.clone(),
                Some(_) => return Err(Rejection::Malformed("the answer's \"extra\" is not a dict".into())),
            };
            Ok(Answer { role, authid, extra, fields })
        }
        other => Err(Rejection::Malformed(format!("the answer is neither a role nor a dict: {other:?}"))),
    }
}

/// The ABORT reason for an authenticator's error: the error URI itself if it is one a client should
/// see, else authentication_failed.
pub(crate) fn abort_reason(uri: &str) -> &'static str {
    match uri {
        uris::NOT_AUTHORIZED => uris::NOT_AUTHORIZED,
        uris::NO_SUCH_ROLE => uris::NO_SUCH_ROLE,
        _ => uris::AUTHENTICATION_FAILED,
    }
}

fn string_field<'a>(fields: &'a Dict, name: &str) -> Result<&'a str, String> {
    fields
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the answer's {name:?} is missing or not a string"))
}

fn optional_u32_field(fields: &Dict, name: &str) -> Result<Option<u32>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("the answer's {name:?} is not an integer in 0..2^32")),
    }
}

fn optional_string_field<'a>(fields: &'a Dict, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(format!("the answer's {name:?} is not a string")),
    }
}

/// The WAMP-CRA secret an answer carries.
pub(crate) fn wampcra_key(fields: &Dict) -> Result<WampcraKey, String> {
    WampcraKey::new(
        string_field(fields, "secret")?,
        optional_string_field(fields, "salt")?,
        optional_u32_field(fields, "iterations")?,
        optional_u32_field(fields, "keylen")?,
    )
}

/// The WAMP-SCRAM credentials an answer carries.
pub(crate) fn scram_secret(fields: &Dict) -> Result<ScramSecret, String> {
    let kdf_name = string_field(fields, "kdf")?;
    let kdf = Kdf::from_name(kdf_name)
        .ok_or_else(|| format!("the answer's kdf {kdf_name:?} is not argon2id13 or pbkdf2"))?;
    let credentials = ScramCredentials {
        kdf,
        iterations: optional_u32_field(fields, "iterations")?
            .ok_or("the answer's \"iterations\" is missing")?,
        memory: optional_u32_field(fields, "memory")?,
        salt: string_field(fields, "salt")?.to_owned(),
        stored_key: string_field(fields, "stored_key")?.to_owned(),
        server_key: string_field(fields, "server_key")?.to_owned(),
    };
    ScramSecret::from_credentials(&credentials)
}

/// Whether the answer accepts the public key the client announced: it names that key, or none.
pub(crate) fn accepts_public_key(fields: &Dict, announced: &VerifyingKey) -> Result<(), String> {
    match optional_string_field(fields, "pubkey")? {
        None => Ok(()),
        Some(text) => {
            let key = super::cryptosign::parse_public_key(text)?;
            if key == *announced {
                Ok(())
            } else {
                Err("the answer's \"pubkey\" is not the key the client announced".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TlsInfo;

    #[test]
    fn call_arguments_carry_realm_authid_and_details() {
        let transport = TransportInfo {
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            tls: Some(Box::new(TlsInfo {
                channel_binding_exporter: Some([1; 32]),
                client_cert_sha256: Some([0xab; 32]),
                client_cert_cn: Some("client1".into()),
            })),
        };
        let authextra = crate::dict! { "pubkey" => "00" };
        let request = Request {
            method: "ticket",
            authid: Some("joe"),
            authextra: &authextra,
            session: 42,
            transport: &transport,
            ticket: Some("t"),
        };
        let args = call_arguments("realm1", &request);
        assert_eq!(args[0], Value::from("realm1"));
        assert_eq!(args[1], Value::from("joe"));
        assert_eq!(
            args[2],
            Value::Dict(crate::dict! {
                "authmethod" => "ticket",
                "authid" => "joe",
                "authextra" => authextra.clone(),
                "session" => 42u64,
                "ticket" => "t",
                "transport" => crate::dict! {
                    "peer" => "tcp4:127.0.0.1:5000",
                    "channel_binding" => "tls-exporter",
                    "client_cert_sha256" => "ab".repeat(32),
                    "client_cert_cn" => "client1",
                },
            })
        );
        let plain = TransportInfo::default();
        let request = Request {
            method: "cryptosign",
            authid: None,
            authextra: &authextra,
            session: 1,
            transport: &plain,
            ticket: None,
        };
        let args = call_arguments("realm1", &request);
        assert_eq!(args[1], Value::Null);
        let details = args[2].as_dict().unwrap();
        assert_eq!(
            details["transport"],
            Value::Dict(crate::dict! { "peer" => "unix", "channel_binding" => Value::Null })
        );
        assert!(!details.contains_key("ticket"));
    }

    #[test]
    fn answers_as_role_or_dict() {
        let role = parse_answer(Ok((vec![Value::from("user")], Dict::new()))).unwrap();
        assert_eq!((role.role.as_str(), role.authid, role.extra.len()), ("user", None, 0));
        let dict =
            crate::dict! { "role" => "admin", "authid" => "joe2", "extra" => crate::dict! { "x" => 1u64 } };
        let answer = parse_answer(Ok((vec![Value::Dict(dict.clone())], Dict::new()))).unwrap();
        assert_eq!(answer.role, "admin");
        assert_eq!(answer.authid.as_deref(), Some("joe2"));
        assert_eq!(answer.extra, crate::dict! { "x" => 1u64 });
        let from_kwargs = parse_answer(Ok((vec![], dict))).unwrap();
        assert_eq!(from_kwargs, answer);
    }

    #[test]
    fn wrong_shaped_answers_are_malformed() {
        let malformed =
            |args: Vec<Value>| matches!(parse_answer(Ok((args, Dict::new()))), Err(Rejection::Malformed(_)));
        assert!(malformed(vec![]));
        assert!(malformed(vec![Value::from("")]));
        assert!(malformed(vec![Value::Int(3)]));
        assert!(malformed(vec![Value::Dict(crate::dict! { "authid" => "joe" })]));
        assert!(malformed(vec![Value::Dict(crate::dict! { "role" => 1u64 })]));
        assert!(malformed(vec![Value::Dict(crate::dict! { "role" => "r", "authid" => 5u64 })]));
        assert!(malformed(vec![Value::Dict(crate::dict! { "role" => "r", "extra" => "x" })]));
    }

    #[test]
    fn errors_map_to_abort_reasons() {
        let denied = |uri: &str| parse_answer(Err(uri.to_owned())).unwrap_err();
        assert_eq!(denied("wamp.error.not_authorized"), Rejection::Denied(uris::NOT_AUTHORIZED));
        assert_eq!(denied("wamp.error.no_such_role"), Rejection::Denied(uris::NO_SUCH_ROLE));
        assert_eq!(
            denied("wamp.error.authentication_failed"),
            Rejection::Denied(uris::AUTHENTICATION_FAILED)
        );
        assert_eq!(denied("wamp.error.no_such_procedure"), Rejection::Denied(uris::AUTHENTICATION_FAILED));
        assert_eq!(denied("com.example.oops"), Rejection::Denied(uris::AUTHENTICATION_FAILED));
    }

    #[test]
    fn method_credentials_from_answers() {
        assert!(wampcra_key(&crate::dict! { "secret" => "s" }).is_ok());
        let salted = wampcra_key(
            &crate::dict! { "secret" => "s", "salt" => "x", "iterations" => 10u64, "keylen" => 16u64 },
        )
        .unwrap();
        assert_eq!(salted.salting().map(|s| (s.iterations, s.keylen)), Some((10, 16)));
        assert!(wampcra_key(&crate::dict! { "secret" => 1u64 }).is_err());
        assert!(wampcra_key(&crate::dict! { "secret" => "s", "salt" => "x", "iterations" => "ten" }).is_err());
        assert!(wampcra_key(&crate::dict! { "secret" => "s", "salt" => "x", "keylen" => Value::Int(-1) })
            .is_err());

        let scram = crate::dict! {
            "kdf" => "pbkdf2", "iterations" => 4096u64, "salt" => "AAECAwQFBgcICQoLDA0ODw==",
            "stored_key" => "zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=", "server_key" => "dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE=",
        };
        assert_eq!(scram_secret(&scram).unwrap().kdf, Kdf::Pbkdf2);
        let mut bad = scram.clone();
        bad.insert("kdf".into(), Value::from("argon2id-13"));
        assert!(scram_secret(&bad).is_err());
        let mut bad = scram.clone();
        bad.remove("iterations");
        assert!(scram_secret(&bad).is_err());
        let mut bad = scram;
        bad.insert("stored_key".into(), Value::from("short"));
        assert!(scram_secret(&bad).is_err());

        let key = super::super::cryptosign::parse_public_key(
            "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122",
        )
        .unwrap();
        assert!(accepts_public_key(&Dict::new(), &key).is_ok());
        assert!(accepts_public_key(
            &crate::dict! { "pubkey" => "545EFB0A2192DB8D43F118E9BF9AEE081466E1EF36C708B96EE6F62DDDAD9122" },
            &key
        )
        .is_ok());
        let other = hex::encode(ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes());
        assert!(accepts_public_key(&crate::dict! { "pubkey" => other }, &key).is_err());
        assert!(accepts_public_key(&crate::dict! { "pubkey" => 5u64 }, &key).is_err());
    }
}
