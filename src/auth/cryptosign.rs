//! WAMP-Cryptosign client authentication (section 13.4.1): the client names its Ed25519 public key in
//! HELLO, the router sends 32 random bytes, the client signs them (XORed with the TLS channel binding
//! data when bound, section 13.4.2) and returns signature || signed message. Verification uses
//! `verify_strict`, which also rejects small-order keys and malleable signatures.
//!
//! Router authentication (HELLO.Details.authextra.challenge, signed by a router key) is not done: the
//! router has no key of its own, and the spec makes it optional.

use ed25519_dalek::{Signature, VerifyingKey};
use rand::RngCore;

use super::constant_time;

/// Length of the AUTHENTICATE signature: hex of 64 bytes signature and 32 bytes message.
const SIGNATURE_HEX_LEN: usize = 192;

/// A public key from hex (64 characters), checked to be a valid Ed25519 point.
pub fn parse_public_key(hex_text: &str) -> Result<VerifyingKey, String> {
    let bytes = decode_hex32(hex_text).ok_or("a cryptosign public key must be 64 hex characters")?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "the cryptosign public key is not a valid Ed25519 key".to_owned())
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// 32 fresh random bytes to be signed.
pub fn new_challenge() -> [u8; 32] {
    let mut challenge = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut challenge);
    challenge
}

/// The message the client must sign: the challenge, XORed with the channel binding data when bound.
pub fn message_to_sign(challenge: &[u8; 32], channel_binding: Option<&[u8; 32]>) -> [u8; 32] {
    let mut message = *challenge;
    if let Some(binding) = channel_binding {
        for (m, b) in message.iter_mut().zip(binding.iter()) {
            *m ^= b;
        }
    }
    message
}

/// Whether `signature_hex` (192 hex characters) signs the expected message with `key`.
pub fn verify(
    key: &VerifyingKey,
    challenge: &[u8; 32],
    channel_binding: Option<&[u8; 32]>,
    signature_hex: &str,
) -> bool {
    if signature_hex.len() != SIGNATURE_HEX_LEN {
        return false;
    }
    let mut raw = [0u8; 96];
    if hex::decode_to_slice(signature_hex, &mut raw).is_err() {
        return false;
    }
    let (signature, signed) = raw.split_at(64);
    let expected = message_to_sign(challenge, channel_binding);
    if !constant_time::fixed_equal(signed, &expected) {
        return false;
    }
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(&expected, &signature).is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// Section 13.4.1.3: (channel_id, private_key, challenge, signature).
    pub const SPEC_VECTORS: [(Option<&str>, &str, &str, &str); 6] = [
        (None, "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        (None, "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd", "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d", "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d"),
        (None, "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b", "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2", "7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"), "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"), "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd", "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d", "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"), "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b", "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2", "ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d"),
    ];

    pub fn signing_key(private_hex: &str) -> SigningKey {
        SigningKey::from_bytes(&decode_hex32(private_hex).unwrap())
    }

    /// What a client sends: hex(signature || message).
    pub fn client_signature(
        key: &SigningKey,
        challenge: &[u8; 32],
        channel_binding: Option<&[u8; 32]>,
    ) -> String {
        let message = message_to_sign(challenge, channel_binding);
        let signature = key.sign(&message);
        format!("{}{}", hex::encode(signature.to_bytes()), hex::encode(message))
    }

    #[test]
    fn spec_vectors_verify_and_are_reproduced() {
        for (channel_id, private, challenge, signature) in SPEC_VECTORS {
            let key = signing_key(private);
            let challenge = decode_hex32(challenge).unwrap();
            let channel_id = channel_id.map(|c| decode_hex32(c).unwrap());
            assert!(verify(&key.verifying_key(), &challenge, channel_id.as_ref(), signature));
            assert_eq!(
                client_signature(&key, &challenge, channel_id.as_ref()),
                signature,
                "Ed25519 is deterministic"
            );
        }
    }

    #[test]
    fn wrong_signatures_fail() {
        let (_, private, challenge, signature) = SPEC_VECTORS[0];
        let key = signing_key(private).verifying_key();
        let challenge = decode_hex32(challenge).unwrap();
        let other_key = signing_key(SPEC_VECTORS[1].1).verifying_key();
        assert!(!verify(&other_key, &challenge, None, signature), "another key");
        let mut flipped = signature.to_owned();
        flipped.replace_range(0..2, "b2");
        assert!(!verify(&key, &challenge, None, &flipped), "tampered signature");
        assert!(!verify(&key, &[0u8; 32], None, signature), "another challenge");
        assert!(
            !verify(&key, &challenge, Some(&[1u8; 32]), signature),
            "bound where the client did not bind"
        );
        assert!(!verify(&key, &challenge, None, &signature[..128]), "no message");
        assert!(!verify(&key, &challenge, None, &signature.replace('f', "g")), "not hex");
        assert!(!verify(&key, &challenge, None, ""), "empty");
        // Bound vector checked without binding: the signed message is not the bare challenge.
        let (channel, private, challenge, signature) = SPEC_VECTORS[3];
        let key = signing_key(private).verifying_key();
        let challenge = decode_hex32(challenge).unwrap();
        assert!(!verify(&key, &challenge, None, signature));
        assert!(verify(&key, &challenge, Some(&decode_hex32(channel.unwrap()).unwrap()), signature));
    }

    #[test]
    fn public_keys_are_checked() {
        let key = signing_key(SPEC_VECTORS[0].1).verifying_key();
        assert_eq!(parse_public_key(&hex::encode(key.to_bytes())).unwrap(), key);
        assert!(parse_public_key("545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122").is_ok());
        assert!(parse_public_key("545efb0a").is_err());
        assert!(parse_public_key(&"zz".repeat(32)).is_err());
        assert!(parse_public_key(&"ab".repeat(33)).is_err());
    }

    #[test]
    fn challenges_are_fresh() {
        assert_ne!(new_challenge(), new_challenge());
    }
}
