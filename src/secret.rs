//! `switchyard secret ...`: turns a password (read from stdin, so it stays out of the process list and
//! the shell history) into the credential line a `[[realms.principals]]` entry takes, so the
//! configuration never holds a plain password: an Argon2id hash for tickets, a salted PBKDF2 key for
//! wampcra, stored and server keys for wamp-scram.

use std::io::{BufRead, Write};

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use clap::{Subcommand, ValueEnum};
use rand::RngCore;
use switchyard::auth::{try_scram_credentials_for, wampcra_derive_key, Kdf, ScramDialect};

#[derive(Subcommand, Debug)]
pub enum Secret {
    /// A ticket's Argon2id hash (PHC string) for `ticket = "..."`.
    Ticket,
    /// A salted WAMP-CRA key for `wampcra = { ... }` (autobahn's derive_key).
    Wampcra {
        #[arg(long, default_value_t = 1000)]
        iterations: u32,
        #[arg(long, default_value_t = 32)]
        keylen: usize,
        /// Default: 16 random bytes, base64.
        #[arg(long)]
        salt: Option<String>,
    },
    /// WAMP-SCRAM stored and server keys for `scram = { ... }`.
    Scram {
        #[arg(long, value_enum, default_value_t = ScramKdf::Argon2id13)]
        kdf: ScramKdf,
        /// Default: 4096 for pbkdf2, 3 for argon2id13.
        #[arg(long)]
        iterations: Option<u32>,
        /// Argon2 memory in KiB.
        #[arg(long, default_value_t = 65536)]
        memory: u32,
        /// "spec" (authmethod wamp-scram) or "autobahn" (authmethod scram, as autobahn-python's AuthScram
        /// and Crossbar speak it; argon2id13 only).
        #[arg(long, value_enum, default_value_t = Dialect::Spec)]
        dialect: Dialect,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Dialect {
    Spec,
    Autobahn,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ScramKdf {
    Argon2id13,
    Pbkdf2,
}

/// Reads the password (the first line of stdin) and prints the credential line.
pub fn run(secret: &Secret) -> Result<(), String> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| format!("cannot read stdin: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("no password on stdin (e.g. `printf %s 'pw' | switchyard secret scram`)".into());
    }
    let line = match secret {
        Secret::Ticket => {
            let salt = SaltString::encode_b64(&random_bytes()).map_err(|e| e.to_string())?;
            let hash = argon2::Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| format!("cannot hash the ticket: {e}"))?;
            format!("ticket = \"{hash}\"")
        }
        Secret::Wampcra { iterations, keylen, salt } => {
            let salt =
                salt.clone().unwrap_or_else(|| base64::prelude::BASE64_STANDARD.encode(random_bytes()));
            let key = wampcra_derive_key(password, &salt, *iterations, *keylen);
            format!(
                "wampcra = {{ secret = \"{key}\", salt = \"{salt}\", iterations = {iterations}, keylen = {keylen} }}"
            )
        }
        Secret::Scram { kdf, iterations, memory, dialect } => {
            let (kdf, iterations, memory) = match kdf {
                ScramKdf::Argon2id13 => (Kdf::Argon2id13, iterations.unwrap_or(3), Some(*memory)),
                ScramKdf::Pbkdf2 => (Kdf::Pbkdf2, iterations.unwrap_or(4096), None),
            };
            let (dialect, dialect_key) = match dialect {
                Dialect::Spec => (ScramDialect::Spec, ""),
                Dialect::Autobahn => (ScramDialect::Autobahn, "dialect = \"autobahn\", "),
            };
            let c = try_scram_credentials_for(dialect, password, kdf, iterations, memory, &random_bytes())?;
            let memory = c.memory.map(|m| format!(", memory = {m}")).unwrap_or_default();
            format!(
                "scram = {{ {dialect_key}kdf = \"{}\", iterations = {}{memory}, salt = \"{}\", stored_key = \"{}\", server_key = \"{}\" }}",
                c.kdf.as_str(),
                c.iterations,
                c.salt,
                c.stored_key,
                c.server_key
            )
        }
    };
    writeln!(std::io::stdout(), "{line}").map_err(|e| e.to_string())
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}
