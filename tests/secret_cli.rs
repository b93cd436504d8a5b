//! `switchyard secret ...` prints credential lines that the configuration accepts and that match the
//! password they were made from.

use std::io::Write;
use std::process::{Command, Stdio};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;
use switchyard::auth::{try_scram_credentials, wampcra_derive_key, Kdf, Principal};
use switchyard::Config;

/// Runs `switchyard secret <args>` with `password` on stdin; returns the principal it describes.
fn secret(args: &[&str], password: &str) -> Principal {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("secret")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchyard runs");
    child.stdin.take().expect("stdin").write_all(password.as_bytes()).expect("write password");
    let output = child.wait_with_output().expect("switchyard ends");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).expect("utf-8");
    let toml = format!(
        "[[realms]]\nname = \"r\"\nanonymous = false\n[[realms.principals]]\nauthid = \"joe\"\nrole = \"user\"\n{line}\
         [[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n"
    );
    let config = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}:\n{toml}"));
    config.realms[0].principals[0].clone()
}

#[test]
fn ticket_hash_verifies_the_password_only() {
    let principal = secret(&["ticket"], "correct horse\n");
    let stored = principal.ticket.expect("ticket");
    let hash = PasswordHash::new(&stored).expect("PHC string");
    assert!(argon2::Argon2::default().verify_password(b"correct horse", &hash).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"correct horsf", &hash).is_err());
}

#[test]
fn wampcra_key_is_derived_from_the_password_and_printed_salt() {
    let principal = secret(&["wampcra", "--iterations", "100", "--keylen", "16"], "pw");
    let cra = principal.wampcra.expect("wampcra");
    let salt = cra.salt.expect("salt");
    assert_eq!((cra.iterations, cra.keylen), (Some(100), Some(16)));
    assert_eq!(cra.secret, wampcra_derive_key("pw", &salt, 100, 16));
    assert_ne!(cra.secret, wampcra_derive_key("px", &salt, 100, 16));
}

#[test]
fn scram_keys_are_derived_from_the_password_and_printed_salt() {
    for (args, kdf, memory) in [
        (vec!["scram", "--kdf", "pbkdf2", "--iterations", "1000"], Kdf::Pbkdf2, None),
        (vec!["scram", "--iterations", "1", "--memory", "1024"], Kdf::Argon2id13, Some(1024)),
    ] {
        let scram = secret(&args, "pencil").scram.expect("scram");
        let salt = base64::prelude::BASE64_STANDARD.decode(&scram.salt).expect("base64 salt");
        let expected = try_scram_credentials("pencil", kdf, scram.iterations, memory, &salt).expect("derive");
        assert_eq!((scram.stored_key, scram.server_key), (expected.stored_key, expected.server_key));
        assert_eq!(scram.kdf, kdf);
    }
    let scram =
        secret(&["scram", "--dialect", "autobahn", "--iterations", "2", "--memory", "1024"], "pencil")
            .scram
            .expect("scram");
    let salt = base64::prelude::BASE64_STANDARD.decode(&scram.salt).expect("base64 salt");
    let expected = switchyard::auth::try_scram_credentials_for(
        switchyard::auth::ScramDialect::Autobahn,
        "pencil",
        Kdf::Argon2id13,
        2,
        Some(1024),
        &salt,
    )
    .expect("derive");
    assert_eq!(scram.dialect, switchyard::auth::ScramDialect::Autobahn);
    assert_eq!(scram.stored_key, expected.stored_key);
}

#[test]
fn an_empty_password_is_refused() {
    let status = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["secret", "ticket"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("switchyard runs");
    assert!(!status.success());
}
