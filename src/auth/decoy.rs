//! Decoys for authids the realm does not know, so a peer cannot tell an unknown authid from a wrong
//! credential: the mock CHALLENGE looks like a real one (a WAMP-SCRAM salt that is the same for the same
//! authid every time, as section 13.3 asks; wampcra salting parameters and a role like the real
//! principals'), and ticket checks cost about what a real one costs. The mock exchange always fails.
//!
//! The per-authid values come from a key derived from the realm's secrets, so they stay the same across
//! restarts as long as the configuration does (a key drawn at start would change a "user's" salt at
//! every restart and give the mock away); a realm without secrets draws a random key.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::config::Kdf;
use super::realm_auth::CompiledPrincipal;
use super::scram::ScramSecret;
use super::ticket::TicketVerifier;
use super::wampcra::{Salting, WampcraKey};

/// The role a mock WAMP-CRA challenge names when the realm has no principals to imitate.
const FALLBACK_ROLE: &str = "user";
const DEFAULT_SALT_LEN: usize = 16;

/// WAMP-SCRAM parameters that mock challenges imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ScramShape {
    kdf: Kdf,
    iterations: u32,
    memory: Option<u32>,
    salt_len: usize,
}

/// Everything a handshake needs to fake a principal; built with the realm's setup.
pub(crate) struct Decoys {
    key: [u8; 32],
    wampcra_role: String,
    /// iterations, keylen and salt length of the salted WAMP-CRA principals, if most are salted.
    wampcra_salting: Option<(u32, u32, usize)>,
    scram: ScramShape,
    /// A hashed ticket to check failed attempts against, so they take as long as real ones.
    hashed_ticket: Option<TicketVerifier>,
}

impl std::fmt::Debug for Decoys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoys").field("wampcra_role", &self.wampcra_role).finish_non_exhaustive()
    }
}

impl Decoys {
    pub fn new(realm: &str, principals: &[CompiledPrincipal]) -> Decoys {
        let wampcra_principals: Vec<_> = principals.iter().filter(|p| p.wampcra.is_some()).collect();
        let wampcra_role = most_common(wampcra_principals.iter().map(|p| p.role.clone()))
            .or_else(|| most_common(principals.iter().map(|p| p.role.clone())))
            .unwrap_or_else(|| FALLBACK_ROLE.to_owned());
        // Salted or not, and with which parameters, like most WAMP-CRA principals.
        let wampcra_salting = most_common(wampcra_principals.iter().map(|p| {
            let salting = p.wampcra.as_ref()?.salting()?;
            Some((salting.iterations, salting.keylen, salting.salt.len()))
        }))
        .flatten();
        let scram = most_common(principals.iter().filter_map(|p| {
            let secret = p.scram.as_ref()?;
            let salt_len = BASE64.decode(&secret.salt).map(|s| s.len()).unwrap_or(DEFAULT_SALT_LEN);
            Some(ScramShape {
                kdf: secret.kdf,
                iterations: secret.iterations,
                memory: secret.memory,
                salt_len,
            })
        }))
        .unwrap_or(ScramShape {
            kdf: Kdf::Pbkdf2,
            iterations: 4096,
            memory: None,
            salt_len: DEFAULT_SALT_LEN,
        });
        let hashed_ticket =
            principals.iter().filter_map(|p| p.ticket.clone()).find(TicketVerifier::is_hashed);
        Decoys { key: decoy_key(realm, principals), wampcra_role, wampcra_salting, scram, hashed_ticket }
    }

    /// The role a mock WAMP-CRA challenge names.
    pub fn wampcra_role(&self) -> &str {
        &self.wampcra_role
    }

    /// A WAMP-CRA key nobody knows, salted like the real principals (with a salt fixed per authid).
    pub fn wampcra_key(&self, authid: &str) -> WampcraKey {
        let salting = self.wampcra_salting.map(|(iterations, keylen, salt_len)| {
            let mut salt = URL_SAFE_NO_PAD.encode(self.derive(b"wampcra salt", authid));
            salt.truncate(salt_len.clamp(1, salt.len()));
            Salting { salt, iterations, keylen }
        });
        WampcraKey::unguessable(salting)
    }

    /// WAMP-SCRAM credentials nobody can satisfy, with the salt always the same for `authid`.
    pub fn scram_secret(&self, authid: &str) -> ScramSecret {
        let salt_bytes = self.derive(b"scram salt", authid);
        let salt = BASE64.encode(&salt_bytes[..self.scram.salt_len.clamp(1, salt_bytes.len())]);
        let mut stored_key = [0u8; 32];
        let mut server_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut stored_key);
        rand::rngs::OsRng.fill_bytes(&mut server_key);
        ScramSecret {
            kdf: self.scram.kdf,
            iterations: self.scram.iterations,
            memory: self.scram.memory,
            salt,
            stored_key,
            server_key,
        }
    }

    /// Spends about the time a real ticket check takes; the result is thrown away.
    pub fn waste_ticket_check(&self, ticket: &str) {
        match &self.hashed_ticket {
            Some(verifier) => {
                let _ = verifier.verify(ticket);
            }
            None => {
                let _ = super::constant_time::secret_equal(&self.key, ticket.as_bytes());
            }
        }
    }

    fn derive(&self, purpose: &[u8], authid: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(authid.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// SHA-256 over the realm's secret material, or random bytes if it has none.
fn decoy_key(realm: &str, principals: &[CompiledPrincipal]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"switchyard auth decoys v1\0");
    hasher.update(realm.as_bytes());
    let mut any_secret = false;
    for principal in principals {
        let mut absorb = |material: &[u8]| {
            any_secret = true;
            hasher.update((material.len() as u64).to_be_bytes());
            hasher.update(material);
        };
        if let Some(ticket) = &principal.ticket {
            absorb(ticket.material());
        }
        if let Some(wampcra) = &principal.wampcra {
            absorb(wampcra.material());
        }
        if let Some(scram) = &principal.scram {
            absorb(&scram.stored_key);
            absorb(&scram.server_key);
        }
    }
    if any_secret {
        hasher.finalize().into()
    } else {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }
}

/// The value that occurs most often (the smallest of those tied, for determinism).
fn most_common<T: Ord + Clone + std::hash::Hash>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    counts.into_iter().max_by(|(a, ca), (b, cb)| ca.cmp(cb).then_with(|| b.cmp(a))).map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_common_prefers_counts_then_the_smallest() {
        assert_eq!(most_common(["b", "a", "b"].into_iter()), Some("b"));
        assert_eq!(most_common(["b", "a"].into_iter()), Some("a"));
        assert_eq!(most_common(std::iter::empty::<&str>()), None);
    }
}
