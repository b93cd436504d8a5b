//! A realm's authentication setup, checked and compiled once at start: the static principals with their
//! credentials decoded (keys parsed, hashes validated), the lookups by authid, public key and client
//! certificate, the dynamic authenticator, and the decoys for unknown authids. Immutable, shared by
//! every handshake on the realm through an `Arc`.

use std::collections::{BTreeSet, HashMap};

use ed25519_dalek::VerifyingKey;

use super::config::{AuthenticatorConfig, Principal};
use super::decoy::Decoys;
use super::methods;
use super::scram::ScramSecret;
use super::ticket::TicketVerifier;
use super::wampcra::WampcraKey;
use crate::wamp::{Dict, Value};

/// One static principal, its credentials ready to check.
#[derive(Debug)]
pub(crate) struct CompiledPrincipal {
    pub authid: String,
    pub role: String,
    pub ticket: Option<TicketVerifier>,
    pub wampcra: Option<WampcraKey>,
    pub scram: Option<ScramSecret>,
    pub cryptosign_keys: Vec<VerifyingKey>,
    pub authextra: Dict,
}

/// The dynamic authenticator, its methods checked.
#[derive(Debug)]
pub(crate) struct Authenticator {
    pub procedure: String,
    /// Where the procedure is registered (the realm being joined unless configured otherwise).
    pub realm: String,
    pub methods: Vec<&'static str>,
}

/// Compiled, immutable per-realm authentication setup; built once at start, shared in an Arc.
#[derive(Debug)]
pub struct RealmAuth {
    pub(crate) realm: String,
    pub(crate) anonymous: bool,
    pub(crate) principals: Vec<CompiledPrincipal>,
    by_authid: HashMap<String, usize>,
    by_public_key: HashMap<[u8; 32], usize>,
    by_certificate: HashMap<[u8; 32], usize>,
    roles: BTreeSet<String>,
    pub(crate) authenticator: Option<Authenticator>,
    pub(crate) decoys: Decoys,
}

impl RealmAuth {
    /// `anonymous`: whether the "anonymous" method is allowed (authrole "anonymous", authid generated,
    /// authprovider "static"). Errors name the principal (or the authenticator) at fault.
    pub fn new(
        realm: &str,
        anonymous: bool,
        principals: &[Principal],
        authenticator: Option<&AuthenticatorConfig>,
    ) -> Result<RealmAuth, String> {
        let mut compiled = Vec::with_capacity(principals.len());
        let mut by_authid = HashMap::new();
        let mut by_public_key = HashMap::new();
        let mut by_certificate = HashMap::new();
        for (index, principal) in principals.iter().enumerate() {
            let context = |e: String| format!("realm {realm:?}, principal {:?}: {e}", principal.authid);
            let entry = compile_principal(principal).map_err(context)?;
            if by_authid.insert(entry.authid.clone(), index).is_some() {
                return Err(context("duplicate authid".into()));
            }
            for key in &entry.cryptosign_keys {
                if let Some(other) = by_public_key.insert(key.to_bytes(), index) {
                    if other != index {
                        let other = &principals[other].authid;
                        return Err(context(format!(
                            "cryptosign key {} is also authorized for {other:?}",
                            hex::encode(key.to_bytes())
                        )));
                    }
                }
            }
            for certificate in &principal.tls_certificates {
                let digest = decode_sha256_hex(certificate).ok_or_else(|| {
                    context(format!("tls_certificates entry {certificate:?} is not 64 hex characters"))
                })?;
                if let Some(other) = by_certificate.insert(digest, index) {
                    if other != index {
                        let other = &principals[other].authid;
                        return Err(context(format!(
                            "certificate {certificate} is also listed for {other:?}"
                        )));
                    }
                }
            }
            compiled.push(entry);
        }
        let authenticator = authenticator
            .map(|config| compile_authenticator(realm, config))
            .transpose()
            .map_err(|e| format!("realm {realm:?}, authenticator: {e}"))?;
        let roles = compiled.iter().map(|p| p.role.clone()).collect();
        let decoys = Decoys::new(realm, &compiled);
        Ok(RealmAuth {
            realm: realm.to_owned(),
            anonymous,
            principals: compiled,
            by_authid,
            by_public_key,
            by_certificate,
            roles,
            authenticator,
            decoys,
        })
    }

    /// The role names the static principals use (each once).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(String::as_str)
    }

    /// The realm this setup was built for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether the "anonymous" method is allowed.
    pub fn allows_anonymous(&self) -> bool {
        self.anonymous
    }

    /// The dynamic authenticator's procedure and the realm it is registered on, if one is configured.
    pub fn authenticator(&self) -> Option<(&str, &str)> {
        self.authenticator.as_ref().map(|a| (a.procedure.as_str(), a.realm.as_str()))
    }

    pub(crate) fn principal(&self, authid: &str) -> Option<&CompiledPrincipal> {
        self.by_authid.get(authid).map(|&i| &self.principals[i])
    }

    pub(crate) fn principal_by_public_key(&self, key: &VerifyingKey) -> Option<&CompiledPrincipal> {
        self.by_public_key.get(&key.to_bytes()).map(|&i| &self.principals[i])
    }

    pub(crate) fn principal_by_certificate(&self, sha256: &[u8; 32]) -> Option<&CompiledPrincipal> {
        self.by_certificate.get(sha256).map(|&i| &self.principals[i])
    }

    /// Whether the dynamic authenticator handles `method`.
    pub(crate) fn authenticator_serves(&self, method: &str) -> bool {
        self.authenticator.as_ref().is_some_and(|a| a.methods.contains(&method))
    }

    /// Whether this realm can do `method` for *some* authid: a static principal has that kind of
    /// credential or the authenticator serves it. Deliberately not per authid, so the choice of method
    /// does not tell whether an authid exists.
    pub(crate) fn offers(&self, method: &str) -> bool {
        let static_has = |has: fn(&CompiledPrincipal) -> bool| self.principals.iter().any(has);
        let static_offers = match method {
            methods::TICKET => static_has(|p| p.ticket.is_some()),
            methods::WAMPCRA => static_has(|p| p.wampcra.is_some()),
            methods::SCRAM => static_has(|p| p.scram.is_some()),
            methods::CRYPTOSIGN => static_has(|p| !p.cryptosign_keys.is_empty()),
            methods::TLS => !self.by_certificate.is_empty(),
            methods::ANONYMOUS => self.anonymous,
            _ => false,
        };
        static_offers || self.authenticator_serves(method)
    }
}

fn compile_principal(principal: &Principal) -> Result<CompiledPrincipal, String> {
    if principal.authid.is_empty() {
        return Err("authid is empty".into());
    }
    if principal.role.is_empty() {
        return Err("role is empty".into());
    }
    let ticket = principal
        .ticket
        .as_deref()
        .map(TicketVerifier::parse)
        .transpose()
        .map_err(|e| format!("ticket: {e}"))?;
    let wampcra = principal
        .wampcra
        .as_ref()
        .map(WampcraKey::from_credentials)
        .transpose()
        .map_err(|e| format!("wampcra: {e}"))?;
    let scram = principal
        .scram
        .as_ref()
        .map(ScramSecret::from_credentials)
        .transpose()
        .map_err(|e| format!("scram: {e}"))?;
    let cryptosign_keys = match &principal.cryptosign {
        None => Vec::new(),
        Some(cryptosign) => {
            if cryptosign.authorized_keys.is_empty() {
                return Err("cryptosign.authorized_keys is empty".into());
            }
            let parse = |key: &String| {
                super::cryptosign::parse_public_key(key).map_err(|e| format!("cryptosign key {key:?}: {e}"))
            };
            cryptosign.authorized_keys.iter().map(parse).collect::<Result<Vec<_>, _>>()?
        }
    };
    let authextra = match &principal.authextra {
        None => Dict::new(),
        Some(table) => table.iter().map(|(k, v)| (k.clone(), value_from_toml(v))).collect(),
    };
    Ok(CompiledPrincipal {
        authid: principal.authid.clone(),
        role: principal.role.clone(),
        ticket,
        wampcra,
        scram,
        cryptosign_keys,
        authextra,
    })
}

fn compile_authenticator(realm: &str, config: &AuthenticatorConfig) -> Result<Authenticator, String> {
    if config.procedure.is_empty() {
        return Err("procedure is empty".into());
    }
    if config.methods.is_empty() {
        return Err("methods is empty".into());
    }
    let mut compiled = Vec::new();
    for method in &config.methods {
        let known = methods::DYNAMIC.iter().find(|&&m| m == method).ok_or_else(|| {
            format!("method {method:?} cannot be served dynamically (one of {:?})", methods::DYNAMIC)
        })?;
        if !compiled.contains(known) {
            compiled.push(*known);
        }
    }
    Ok(Authenticator {
        procedure: config.procedure.clone(),
        realm: config.realm.clone().unwrap_or_else(|| realm.to_owned()),
        methods: compiled,
    })
}

/// A SHA-256 digest from 64 hex characters.
fn decode_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// A configured TOML value as a WAMP value (datetimes become their text).
fn value_from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(items) => Value::List(items.iter().map(value_from_toml).collect()),
        toml::Value::Table(table) => {
            Value::Dict(table.iter().map(|(k, v)| (k.clone(), value_from_toml(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122";
    const CERT_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn principals(text: &str) -> Vec<Principal> {
        #[derive(serde::Deserialize)]
        struct Doc {
            principals: Vec<Principal>,
        }
        toml::from_str::<Doc>(text).unwrap().principals
    }

    fn build(text: &str) -> Result<RealmAuth, String> {
        RealmAuth::new("realm1", false, &principals(text), None)
    }

    #[test]
    fn compiles_a_valid_setup_and_lists_roles_once() {
        let auth = build(&format!(
            r#"
            [[principals]]
            authid = "joe"
            role = "user"
            ticket = "secret"
            cryptosign = {{ authorized_keys = ["{KEY_A}"] }}
            tls_certificates = ["{CERT_A}"]
            authextra = {{ team = "blue", level = 3, tags = ["a"], nested = {{ on = true }} }}
            [[principals]]
            authid = "ann"
            role = "user"
            wampcra = {{ secret = "s" }}
            [[principals]]
            authid = "root"
            role = "admin"
            ticket = "other"
            "#
        ))
        .unwrap();
        assert_eq!(auth.roles().collect::<Vec<_>>(), ["admin", "user"]);
        let joe = auth.principal("joe").unwrap();
        assert_eq!(
            joe.authextra,
            crate::dict! {
                "team" => "blue",
                "level" => Value::Int(3),
                "tags" => vec![Value::from("a")],
                "nested" => crate::dict! { "on" => true },
            }
        );
        let key = super::super::cryptosign::parse_public_key(KEY_A).unwrap();
        assert_eq!(auth.principal_by_public_key(&key).unwrap().authid, "joe");
        assert_eq!(auth.principal_by_certificate(&decode_sha256_hex(CERT_A).unwrap()).unwrap().authid, "joe");
        assert!(
            auth.offers("ticket")
                && auth.offers("wampcra")
                && auth.offers("cryptosign")
                && auth.offers("tls")
        );
        assert!(!auth.offers("wamp-scram") && !auth.offers("anonymous") && !auth.offers("nonsense"));
    }

    fn assert_rejected(text: &str, expected_fragment: &str) {
        let error = build(text).expect_err(text);
        assert!(error.contains(expected_fragment), "{error:?} should mention {expected_fragment:?}");
        assert!(error.contains("principal"), "{error:?} names the principal");
    }

    #[test]
    fn rejects_malformed_credentials_naming_the_principal() {
        let head = "[[principals]]\nauthid = \"joe\"\nrole = \"user\"\n";
        assert_rejected(&format!("{head}cryptosign = {{ authorized_keys = [\"545efb\"] }}"), "\"joe\"");
        assert_rejected(
            &format!("{head}cryptosign = {{ authorized_keys = [\"{}\"] }}", "zz".repeat(32)),
            "cryptosign",
        );
        assert_rejected(&format!("{head}cryptosign = {{ authorized_keys = [] }}"), "authorized_keys");
        assert_rejected(&format!("{head}tls_certificates = [\"abcd\"]"), "tls_certificates");
        assert_rejected(&format!("{head}tls_certificates = [\"{}\"]", "g".repeat(64)), "tls_certificates");
        assert_rejected(
            &format!("{head}scram = {{ kdf = \"pbkdf2\", iterations = 1, salt = \"!!\", stored_key = \"AA==\", server_key = \"AA==\" }}"),
            "salt",
        );
        assert_rejected(
            &format!("{head}scram = {{ kdf = \"pbkdf2\", iterations = 1, salt = \"AAAA\", stored_key = \"AAAA\", server_key = \"AAAA\" }}"),
            "stored_key",
        );
        assert_rejected(&format!("{head}ticket = \"$argon2id$v=19$broken\""), "ticket");
        assert_rejected(&format!("{head}ticket = \"\""), "ticket");
        assert_rejected(&format!("{head}wampcra = {{ secret = \"\" }}"), "wampcra");
        assert_rejected("[[principals]]\nauthid = \"\"\nrole = \"user\"\n", "authid");
        assert_rejected("[[principals]]\nauthid = \"joe\"\nrole = \"\"\n", "role");
    }

    #[test]
    fn rejects_duplicates() {
        assert_rejected("[[principals]]\nauthid = \"joe\"\nrole = \"a\"\n[[principals]]\nauthid = \"joe\"\nrole = \"b\"\n", "duplicate authid");
        let shared_key = format!(
            "[[principals]]\nauthid = \"a\"\nrole = \"r\"\ncryptosign = {{ authorized_keys = [\"{KEY_A}\"] }}\n\
             [[principals]]\nauthid = \"b\"\nrole = \"r\"\ncryptosign = {{ authorized_keys = [\"{KEY_A}\"] }}\n"
        );
        assert_rejected(&shared_key, "also authorized");
        let shared_cert = format!(
            "[[principals]]\nauthid = \"a\"\nrole = \"r\"\ntls_certificates = [\"{CERT_A}\"]\n\
             [[principals]]\nauthid = \"b\"\nrole = \"r\"\ntls_certificates = [\"{CERT_A}\"]\n"
        );
        assert_rejected(&shared_cert, "also listed");
    }

    #[test]
    fn authenticator_methods_are_checked() {
        let config = |methods: &[&str]| AuthenticatorConfig {
            procedure: "com.example.authenticate".into(),
            realm: None,
            methods: methods.iter().map(|m| m.to_string()).collect(),
        };
        let auth = RealmAuth::new("realm1", false, &[], Some(&config(&["ticket", "tls", "ticket"]))).unwrap();
        assert_eq!(auth.authenticator(), Some(("com.example.authenticate", "realm1")));
        assert!(auth.offers("ticket") && auth.offers("tls") && !auth.offers("wampcra"));
        let error = RealmAuth::new("realm1", false, &[], Some(&config(&["anonymous"]))).unwrap_err();
        assert!(error.contains("authenticator") && error.contains("anonymous"), "{error}");
        assert!(RealmAuth::new("realm1", false, &[], Some(&config(&[]))).is_err());
        let mut elsewhere = config(&["wampcra"]);
        elsewhere.realm = Some("auth".into());
        elsewhere.procedure = String::new();
        assert!(RealmAuth::new("realm1", false, &[], Some(&elsewhere)).is_err());
        elsewhere.procedure = "p".into();
        let auth = RealmAuth::new("realm1", true, &[], Some(&elsewhere)).unwrap();
        assert_eq!(auth.authenticator(), Some(("p", "auth")));
        assert!(auth.allows_anonymous() && auth.offers("anonymous"));
    }
}
