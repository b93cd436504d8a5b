//! WAMP-CRA (section 13.2): the router sends a JSON challenge, the client answers with
//! base64(HMAC-SHA256(secret, challenge)). With salting, both sides use a PBKDF2-derived key instead of
//! the password. As in autobahn, the HMAC key is the secret *string's* UTF-8 bytes; for a salted
//! secret that string is the base64 text of the derived key.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::BytesMut;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::config::WampcraCredentials;
use super::constant_time;
use super::timestamp::iso8601_utc_millis;
use crate::wamp::codec::{encode_value, Serializer};
use crate::wamp::{Dict, Id, Value};

/// autobahn's defaults for salted secrets.
const DEFAULT_ITERATIONS: u32 = 1000;
const DEFAULT_KEYLEN: u32 = 32;
/// Derived keys longer than this are refused (PBKDF2 allows more, nobody needs it).
const MAX_KEYLEN: u32 = 1024;

/// PBKDF2 parameters that the CHALLENGE announces for a salted secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salting {
    pub salt: String,
    pub iterations: u32,
    pub keylen: u32,
}

/// A checked WAMP-CRA secret: the HMAC key and, when salted, the parameters the client needs.
#[derive(Clone)]
pub struct WampcraKey {
    hmac_key: Vec<u8>,
    salting: Option<Salting>,
}

impl std::fmt::Debug for WampcraKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WampcraKey").field("salting", &self.salting).finish_non_exhaustive()
    }
}

impl WampcraKey {
    pub fn from_credentials(credentials: &WampcraCredentials) -> Result<WampcraKey, String> {
        Self::new(
            &credentials.secret,
            credentials.salt.as_deref(),
            credentials.iterations,
            credentials.keylen,
        )
    }

    /// `salt` decides whether the secret is salted; iterations and keylen default as in autobahn.
    pub fn new(
        secret: &str,
        salt: Option<&str>,
        iterations: Option<u32>,
        keylen: Option<u32>,
    ) -> Result<WampcraKey, String> {
        if secret.is_empty() {
            return Err("the wampcra secret is empty".into());
        }
        let salting = match salt {
            None => {
                if iterations.is_some() || keylen.is_some() {
                    return Err("wampcra iterations/keylen are only meaningful with a salt".into());
                }
                None
            }
            Some(salt) => {
                let iterations = iterations.unwrap_or(DEFAULT_ITERATIONS);
                let keylen = keylen.unwrap_or(DEFAULT_KEYLEN);
                if iterations == 0 {
                    return Err("wampcra iterations must be at least 1".into());
                }
                if keylen == 0 || keylen > MAX_KEYLEN {
                    return Err(format!("wampcra keylen must be within 1..={MAX_KEYLEN}, not {keylen}"));
                }
                Some(Salting { salt: salt.to_owned(), iterations, keylen })
            }
        };
        Ok(WampcraKey { hmac_key: secret.as_bytes().to_vec(), salting })
    }

    /// A key nobody knows, for the mock challenge of an unknown authid.
    pub fn unguessable(salting: Option<Salting>) -> WampcraKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        WampcraKey { hmac_key: BASE64.encode(key).into_bytes(), salting }
    }

    /// The HMAC key, for deriving keys from the realm's secrets.
    pub fn material(&self) -> &[u8] {
        &self.hmac_key
    }

    pub fn salting(&self) -> Option<&Salting> {
        self.salting.as_ref()
    }

    /// Whether `signature` (base64) is the HMAC of `challenge` under this key; constant time.
    pub fn verify(&self, challenge: &str, signature: &str) -> bool {
        let Ok(received) = BASE64.decode(signature.trim()) else {
            return false;
        };
        constant_time::fixed_equal(&sign(&self.hmac_key, challenge), &received)
    }
}

/// base64(HMAC-SHA256(key, challenge)) as raw bytes: what a client computes (autobahn's `compute_wcs`).
pub fn sign(key: &[u8], challenge: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(challenge.as_bytes());
    mac.finalize().into_bytes().into()
}

/// autobahn's `derive_key`: base64 of PBKDF2-HMAC-SHA256 over the UTF-8 password and salt.
pub fn derive_key(password: &str, salt: &str, iterations: u32, keylen: usize) -> String {
    let mut key = vec![0u8; keylen];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    BASE64.encode(key)
}

/// What the challenge string says about the identity being authenticated.
pub struct ChallengeSubject<'a> {
    pub authid: &'a str,
    pub authrole: &'a str,
    pub authprovider: &'a str,
    pub session: Id,
}

/// The CHALLENGE.Details.challenge JSON string (section 13.2) with a fresh nonce and the current time.
pub fn challenge_string(subject: &ChallengeSubject<'_>) -> String {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    challenge_string_with(subject, &BASE64.encode(nonce), &iso8601_utc_millis(SystemTime::now()))
}

fn challenge_string_with(subject: &ChallengeSubject<'_>, nonce: &str, timestamp: &str) -> String {
    let fields: Dict = crate::dict! {
        "authid" => subject.authid,
        "authrole" => subject.authrole,
        "authmethod" => "wampcra",
        "authprovider" => subject.authprovider,
        "nonce" => nonce,
        "timestamp" => timestamp,
        "session" => subject.session,
    };
    let mut out = BytesMut::new();
    encode_value(Serializer::Json, &Value::Dict(fields), &mut out);
    String::from_utf8(out.to_vec()).expect("the JSON encoder writes UTF-8")
}

/// CHALLENGE.Details for `challenge` under `key`: the challenge, plus salt/iterations/keylen if salted.
pub fn challenge_extra(challenge: &str, key: &WampcraKey) -> Dict {
    let mut extra = crate::dict! { "challenge" => challenge };
    if let Some(salting) = key.salting() {
        extra.insert("salt".into(), Value::from(salting.salt.as_str()));
        extra.insert("iterations".into(), Value::from(u64::from(salting.iterations)));
        extra.insert("keylen".into(), Value::from(u64::from(salting.keylen)));
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from autobahn-python 26.10.2: compute_wcs(key, CHALLENGE) and derive_key(...).
    const CHALLENGE: &str = r#"{"authid":"peter","authmethod":"wampcra","authprovider":"static","authrole":"user","nonce":"LHRTC9zeOIrt_9U3","session":3251278072152162,"timestamp":"2014-06-22T16:36:25.448Z"}"#;

    fn b64_sign(key: &str, challenge: &str) -> String {
        BASE64.encode(sign(key.as_bytes(), challenge))
    }

    #[test]
    fn unsalted_signatures_match_autobahn() {
        assert_eq!(b64_sign("secret123", CHALLENGE), "V8uUlvmdCIhuU89kmjuOT5bG1Tr08XYUeJVkhlyS1OY=");
        assert_eq!(b64_sign("pässwörd", CHALLENGE), "9SlG/ANUDErz55O5cV8B8ydMiy1JzoyQHjgdFcjZoq0=");
    }

    #[test]
    fn derived_keys_match_autobahn() {
        assert_eq!(derive_key("secret", "salt123", 1000, 32), "MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvo=");
        assert_eq!(derive_key("secret", "salt123", 100, 16), "EX1Y3Q9BMM2oGLxsGqDgFQ==");
        assert_eq!(
            derive_key("pässwörd", "sälz", 10, 64),
            "25QQ663SMCmnLwCBUqe5eC1GvmH0ag0awOVZDy+KnD2sRNSaWBBTTCvW5gYM6GfGbIYkmZ9YBMPHWQddqZlkiw=="
        );
    }

    #[test]
    fn salted_signatures_match_autobahn() {
        let key = derive_key("secret", "salt123", 1000, 32);
        assert_eq!(b64_sign(&key, CHALLENGE), "3B9BCwU7wBzmDLHIeugrXjjdvGn1cscs7jJPSbkuxCE=");
        let key = derive_key("secret", "salt123", 100, 16);
        assert_eq!(b64_sign(&key, CHALLENGE), "kN5LoeS6xVoV6y48LQhR0R3xlItD0cv7ZIHxytIqbkE=");
    }

    #[test]
    fn verify_accepts_the_right_signature_only() {
        let key =
            WampcraKey::new("MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvo=", Some("salt123"), None, None)
                .unwrap();
        assert!(key.verify(CHALLENGE, "3B9BCwU7wBzmDLHIeugrXjjdvGn1cscs7jJPSbkuxCE="));
        assert!(!key.verify(CHALLENGE, "4B9BCwU7wBzmDLHIeugrXjjdvGn1cscs7jJPSbkuxCE="));
        assert!(!key.verify(CHALLENGE, "V8uUlvmdCIhuU89kmjuOT5bG1Tr08XYUeJVkhlyS1OY="));
        assert!(!key.verify(CHALLENGE, "not base64!"));
        assert!(!key.verify(CHALLENGE, ""));
        assert!(
            !key.verify(&CHALLENGE.replace("peter", "petra"), "3B9BCwU7wBzmDLHIeugrXjjdvGn1cscs7jJPSbkuxCE=")
        );
    }

    #[test]
    fn salting_defaults_and_limits() {
        let key = WampcraKey::new("k", Some("s"), None, None).unwrap();
        assert_eq!(key.salting(), Some(&Salting { salt: "s".into(), iterations: 1000, keylen: 32 }));
        assert!(WampcraKey::new("", None, None, None).is_err());
        assert!(WampcraKey::new("k", None, Some(10), None).is_err());
        assert!(WampcraKey::new("k", Some("s"), Some(0), None).is_err());
        assert!(WampcraKey::new("k", Some("s"), None, Some(0)).is_err());
        assert!(WampcraKey::new("k", Some("s"), None, Some(4096)).is_err());
    }

    #[test]
    fn challenge_string_has_the_fields_the_spec_requires() {
        let subject = ChallengeSubject {
            authid: "peter",
            authrole: "user",
            authprovider: "static",
            session: 3251278072152162,
        };
        assert_eq!(
            challenge_string_with(&subject, "LHRTC9zeOIrt_9U3", "2014-06-22T16:36:25.448Z"),
            CHALLENGE
        );
        let fresh = challenge_string(&subject);
        let parsed = crate::wamp::codec::decode_value(Serializer::Json, fresh.as_bytes()).unwrap();
        let fields = parsed.as_dict().unwrap();
        for field in ["authid", "authrole", "authmethod", "authprovider", "nonce", "timestamp", "session"] {
            assert!(fields.contains_key(field), "{field} missing in {fresh}");
        }
        assert_ne!(challenge_string(&subject), fresh, "each challenge has a fresh nonce");
    }

    #[test]
    fn challenge_extra_announces_salting() {
        let plain = WampcraKey::new("k", None, None, None).unwrap();
        assert_eq!(challenge_extra("c", &plain), crate::dict! { "challenge" => "c" });
        let salted = WampcraKey::new("k", Some("salt123"), Some(1000), Some(32)).unwrap();
        assert_eq!(
            challenge_extra("c", &salted),
            crate::dict! { "challenge" => "c", "salt" => "salt123", "iterations" => 1000u64, "keylen" => 32u64 }
        );
    }
}
