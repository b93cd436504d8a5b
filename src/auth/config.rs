//! The authentication part of a realm's configuration: the static principals (who may join, under which
//! role, with which credentials) and the optional dynamic authenticator. Also the helpers that turn a
//! password into stored credentials, so no password has to be kept in the configuration.
//!
//! These types only describe; [`crate::auth::RealmAuth::new`] checks and compiles them (decoding keys,
//! parsing hashes), and its errors name the principal at fault.
//!
//! ```toml
//! [[realms.principals]]
//! authid = "joe"
//! role = "user"
//! # any subset of these credentials:
//! ticket = "plain secret"    # or "$argon2id$v=19$m=...,t=...,p=...$salt$hash" / "$pbkdf2-sha256$i=...,l=32$salt$hash"
//! wampcra = { secret = "...", salt = "salt123", iterations = 1000, keylen = 32 }  # salt.. optional
//! scram = { kdf = "argon2id13", iterations = 4096, memory = 512, salt = "<b64>", stored_key = "<b64>", server_key = "<b64>" }
//! cryptosign = { authorized_keys = ["<64 hex>"] }
//! tls_certificates = ["<SHA-256 of the DER certificate, 64 hex>"]
//! authextra = { any = "thing" }   # WELCOME.Details.authextra
//!
//! [realms.authenticator]
//! procedure = "com.example.authenticate"
//! realm = "auth"                  # default: the realm being joined
//! methods = ["ticket", "wampcra", "wamp-scram", "cryptosign", "tls"]
//! ```

use serde::{Deserialize, Serialize};

use super::{scram, wampcra};

/// One static principal: `[[realms.principals]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    pub authid: String,
    /// The role the principal is authenticated for (WELCOME.Details.authrole).
    pub role: String,
    /// A ticket (section 13.1): the plain secret, or a PHC hash of it
    /// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash` or `$pbkdf2-sha256$i=...,l=32$salt$hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wampcra: Option<WampcraCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram: Option<ScramCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptosign: Option<CryptosignCredentials>,
    /// SHA-256 digests (64 hex characters) of the DER client certificates that authenticate as this
    /// principal with the `tls` method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<String>,
    /// Sent to the client in WELCOME.Details.authextra.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authextra: Option<toml::Table>,
}

/// WAMP-CRA (section 13.2). Unsalted, `secret` is the shared secret. Salted (`salt` set), `secret` is the
/// key derived from the password as autobahn's `derive_key(password, salt, iterations, keylen)` returns
/// it (see [`wampcra_derive_key`]); the client derives the same key from the password and the salt
/// parameters sent in the CHALLENGE.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WampcraCredentials {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// PBKDF2 iterations when salted; default 1000 (autobahn's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Derived key length in bytes when salted; default 32 (autobahn's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keylen: Option<u32>,
}

/// The key derivation function of a WAMP-SCRAM credential (section 13.3, table 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum Kdf {
    #[serde(rename = "argon2id13")]
    Argon2id13,
    #[serde(rename = "pbkdf2")]
    Pbkdf2,
}

impl Kdf {
    /// The KDF type string of CHALLENGE.Details.kdf.
    pub fn as_str(self) -> &'static str {
        match self {
            Kdf::Argon2id13 => "argon2id13",
            Kdf::Pbkdf2 => "pbkdf2",
        }
    }

    /// The KDF named by a type string, if it is one WAMP-SCRAM defines.
    pub fn from_name(name: &str) -> Option<Kdf> {
        match name {
            "argon2id13" => Some(Kdf::Argon2id13),
            "pbkdf2" => Some(Kdf::Pbkdf2),
            _ => None,
        }
    }
}

/// What the server stores for a WAMP-SCRAM user (section 13.3, "Data Stored on the Server"): the KDF and
/// its parameters, the salt, StoredKey and ServerKey, the binary values in base64.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScramCredentials {
    pub kdf: Kdf,
    pub iterations: u32,
    /// Argon2 memory cost in KiB; only for `argon2id13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

/// WAMP-Cryptosign (section 13.4): the Ed25519 public keys (64 hex characters each) this principal may
/// authenticate with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignCredentials {
    pub authorized_keys: Vec<String>,
}

/// A dynamic authenticator: `[realms.authenticator]`. A procedure some client registers; the router
/// calls it with `[realm, authid, details]` for the methods listed, when no static principal has the
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorConfig {
    pub procedure: String,
    /// The realm the procedure is registered on; default: the realm being joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Among "ticket", "wampcra", "wamp-scram", "cryptosign", "tls".
    pub methods: Vec<String>,
}

/// The WAMP-SCRAM credentials for `password`, to put into a principal's `scram` (or to be returned by a
/// dynamic authenticator). The password is normalized with SASLprep first (section 13.3).
///
/// Panics on parameters the KDF rejects (0 iterations, Argon2 without memory or with less than
/// 8 KiB, ...) or a password SASLprep prohibits; [`try_scram_credentials`] returns those as errors.
pub fn scram_credentials(
    password: &str,
    kdf: Kdf,
    iterations: u32,
    memory: Option<u32>,
    salt: &[u8],
) -> ScramCredentials {
    match try_scram_credentials(password, kdf, iterations, memory, salt) {
        Ok(credentials) => credentials,
        Err(e) => panic!("cannot derive WAMP-SCRAM credentials: {e}"),
    }
}

/// [`scram_credentials`], with invalid parameters reported as an error.
pub fn try_scram_credentials(
    password: &str,
    kdf: Kdf,
    iterations: u32,
    memory: Option<u32>,
    salt: &[u8],
) -> Result<ScramCredentials, String> {
    scram::derive_credentials(password, kdf, iterations, memory, salt)
}

/// The salted WAMP-CRA key for `password`, exactly as autobahn's `derive_key(password, salt, iterations,
/// keylen)` returns it: base64 of PBKDF2-HMAC-SHA256(password, salt) (both as UTF-8). This goes into
/// `wampcra.secret`, with the same salt, iterations and keylen.
pub fn wampcra_derive_key(password: &str, salt: &str, iterations: u32, keylen: usize) -> String {
    wampcra::derive_key(password, salt, iterations, keylen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Realm {
        principals: Vec<Principal>,
        authenticator: Option<AuthenticatorConfig>,
    }

    fn parse(text: &str) -> Result<Realm, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn parses_the_documented_shape() {
        let realm = parse(
            r#"
            [[principals]]
            authid = "joe"
            role = "user"
            ticket = "plain secret"
            wampcra = { secret = "abc", salt = "salt123", iterations = 1000, keylen = 32 }
            scram = { kdf = "argon2id13", iterations = 4096, memory = 512, salt = "AAEC", stored_key = "AAEC", server_key = "AAEC" }
            cryptosign = { authorized_keys = ["545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"] }
            tls_certificates = ["00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"]
            authextra = { any = "thing", n = 3 }

            [[principals]]
            authid = "ann"
            role = "admin"
            scram = { kdf = "pbkdf2", iterations = 4096, salt = "AAEC", stored_key = "AAEC", server_key = "AAEC" }

            [authenticator]
            procedure = "com.example.authenticate"
            realm = "auth"
            methods = ["ticket", "wampcra", "wamp-scram", "cryptosign"]
            "#,
        )
        .unwrap();
        let joe = &realm.principals[0];
        assert_eq!(joe.authid, "joe");
        assert_eq!(joe.role, "user");
        assert_eq!(joe.ticket.as_deref(), Some("plain secret"));
        let cra = joe.wampcra.as_ref().unwrap();
        assert_eq!(
            (cra.salt.as_deref(), cra.iterations, cra.keylen),
            (Some("salt123"), Some(1000), Some(32))
        );
        let scram = joe.scram.as_ref().unwrap();
        assert_eq!((scram.kdf, scram.iterations, scram.memory), (Kdf::Argon2id13, 4096, Some(512)));
        assert_eq!(joe.cryptosign.as_ref().unwrap().authorized_keys.len(), 1);
        assert_eq!(joe.tls_certificates.len(), 1);
        assert_eq!(joe.authextra.as_ref().unwrap()["any"].as_str(), Some("thing"));
        let ann = &realm.principals[1];
        assert_eq!(ann.scram.as_ref().unwrap().kdf, Kdf::Pbkdf2);
        assert_eq!(ann.scram.as_ref().unwrap().memory, None);
        assert!(ann.ticket.is_none() && ann.wampcra.is_none() && ann.cryptosign.is_none());
        let authenticator = realm.authenticator.unwrap();
        assert_eq!(authenticator.procedure, "com.example.authenticate");
        assert_eq!(authenticator.realm.as_deref(), Some("auth"));
        assert_eq!(authenticator.methods, ["ticket", "wampcra", "wamp-scram", "cryptosign"]);
    }

    #[test]
    fn rejects_unknown_fields_and_kdfs() {
        let unknown_field = "[[principals]]\nauthid = \"a\"\nrole = \"r\"\npassword = \"x\"\n";
        assert!(parse(unknown_field).is_err());
        let unknown_in_wampcra =
            "[[principals]]\nauthid = \"a\"\nrole = \"r\"\nwampcra = { secret = \"x\", pepper = 1 }\n";
        assert!(parse(unknown_in_wampcra).is_err());
        let unknown_kdf = "[[principals]]\nauthid = \"a\"\nrole = \"r\"\nscram = { kdf = \"scrypt\", iterations = 1, salt = \"\", stored_key = \"\", server_key = \"\" }\n";
        assert!(parse(unknown_kdf).is_err());
        let missing_role = "[[principals]]\nauthid = \"a\"\n";
        assert!(parse(missing_role).is_err());
        let authenticator_without_methods = "principals = []\n[authenticator]\nprocedure = \"p\"\n";
        assert!(parse(authenticator_without_methods).is_err());
    }

    #[test]
    fn kdf_names_round_trip() {
        for kdf in [Kdf::Argon2id13, Kdf::Pbkdf2] {
            assert_eq!(Kdf::from_name(kdf.as_str()), Some(kdf));
        }
        assert_eq!(Kdf::from_name("argon2id-13"), None);
    }

    #[test]
    fn derived_credentials_serialize_to_a_principal_entry() {
        let credentials = scram_credentials("pencil", Kdf::Pbkdf2, 4096, None, &[0u8; 16]);
        let principal = Principal {
            authid: "user".into(),
            role: "frontend".into(),
            ticket: None,
            wampcra: None,
            scram: Some(credentials),
            cryptosign: None,
            tls_certificates: Vec::new(),
            authextra: None,
        };
        let text = toml::to_string(&principal).unwrap();
        let back: Principal = toml::from_str(&text).unwrap();
        assert_eq!(back, principal);
        assert!(!text.contains("memory"), "pbkdf2 has no memory: {text}");
    }

    #[test]
    fn try_scram_credentials_reports_bad_parameters() {
        assert!(try_scram_credentials("pw", Kdf::Argon2id13, 1, None, &[0; 16]).is_err());
        assert!(try_scram_credentials("pw", Kdf::Argon2id13, 1, Some(1), &[0; 16]).is_err());
        assert!(try_scram_credentials("pw", Kdf::Pbkdf2, 0, None, &[0; 16]).is_err());
        assert!(try_scram_credentials("pw", Kdf::Pbkdf2, 1, Some(8), &[0; 16]).is_err());
    }
}
