//! Ticket authentication (section 13.1): the client sends a secret, the router compares it with the
//! stored one. The stored form may be the plain ticket or a PHC hash (Argon2 or PBKDF2), so the
//! configuration need not hold the ticket itself. Plain tickets are compared through their digests in
//! constant time; PHC verification compares in constant time inside the `password-hash` crate.

use argon2::password_hash::{PasswordHash, PasswordVerifier};

use super::constant_time;

/// How a stored ticket is checked.
#[derive(Clone)]
pub enum TicketVerifier {
    Plain(Vec<u8>),
    /// A PHC string whose algorithm and parameters were checked when it was loaded.
    Phc(String),
}

impl std::fmt::Debug for TicketVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TicketVerifier::Plain(_) => f.write_str("TicketVerifier::Plain(..)"),
            TicketVerifier::Phc(_) => f.write_str("TicketVerifier::Phc(..)"),
        }
    }
}

/// The PHC algorithms a stored ticket may use.
enum PhcFamily {
    Argon2,
    Pbkdf2,
}

fn family_of(hash: &PasswordHash<'_>) -> Option<PhcFamily> {
    match hash.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Some(PhcFamily::Argon2),
        "pbkdf2-sha256" | "pbkdf2-sha512" => Some(PhcFamily::Pbkdf2),
        _ => None,
    }
}

impl TicketVerifier {
    /// A configured ticket: a PHC string if it starts with "$argon2" or "$pbkdf2", else the plain ticket.
    pub fn parse(stored: &str) -> Result<TicketVerifier, String> {
        if stored.is_empty() {
            return Err("the ticket is empty".into());
        }
        if !(stored.starts_with("$argon2") || stored.starts_with("$pbkdf2")) {
            return Ok(TicketVerifier::Plain(stored.as_bytes().to_vec()));
        }
        let hash = PasswordHash::new(stored)
            .map_err(|e| format!("the ticket hash is not a valid PHC string: {e}"))?;
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err("the ticket hash lacks its salt or hash".into());
        }
        let params_ok = match family_of(&hash) {
            Some(PhcFamily::Argon2) => argon2::Params::try_from(&hash).map(drop),
            Some(PhcFamily::Pbkdf2) => pbkdf2::Params::try_from(&hash).map(drop),
            None => return Err(format!("the ticket hash algorithm {} is not supported", hash.algorithm)),
        };
        params_ok.map_err(|e| format!("the ticket hash parameters are invalid: {e}"))?;
        Ok(TicketVerifier::Phc(stored.to_owned()))
    }

    /// The stored form, for deriving keys from the realm's secrets.
    pub fn material(&self) -> &[u8] {
        match self {
            TicketVerifier::Plain(stored) => stored,
            TicketVerifier::Phc(stored) => stored.as_bytes(),
        }
    }

    pub fn is_hashed(&self) -> bool {
        matches!(self, TicketVerifier::Phc(_))
    }

    /// Whether `ticket` is the stored one.
    pub fn verify(&self, ticket: &str) -> bool {
        match self {
            TicketVerifier::Plain(stored) => constant_time::secret_equal(stored, ticket.as_bytes()),
            TicketVerifier::Phc(stored) => {
                let Ok(hash) = PasswordHash::new(stored) else {
                    return false;
                };
                let verified = match family_of(&hash) {
                    Some(PhcFamily::Argon2) => {
                        argon2::Argon2::default().verify_password(ticket.as_bytes(), &hash)
                    }
                    Some(PhcFamily::Pbkdf2) => pbkdf2::Pbkdf2.verify_password(ticket.as_bytes(), &hash),
                    None => return false,
                };
                verified.is_ok()
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// argon2-cffi `hash_secret(b"s3cret ticket", b"0123456789abcdef", t=2, m=256, p=1, Type.ID)`.
    pub const ARGON2_PHC: &str =
        "$argon2id$v=19$m=256,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$13g2+fhTMkuGL2cU+xVndLMEtWhDDbjLf32sGE1evX0";
    /// Python hashlib.pbkdf2_hmac("sha256", b"s3cret ticket", b"saltsaltsaltsalt", 1000, 32) in PHC form.
    pub const PBKDF2_PHC: &str =
        "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$ojQ60vqJ37arGphYtxZWIQGFzUzqH/namtnGTmu/1As";
    pub const TICKET: &str = "s3cret ticket";

    #[test]
    fn plain_tickets() {
        let verifier = TicketVerifier::parse("secret!!!").unwrap();
        assert!(!verifier.is_hashed());
        assert!(verifier.verify("secret!!!"));
        assert!(!verifier.verify("secret!!"));
        assert!(!verifier.verify("secret!!!!"));
        assert!(!verifier.verify(""));
    }

    #[test]
    fn argon2_phc_tickets() {
        let verifier = TicketVerifier::parse(ARGON2_PHC).unwrap();
        assert!(verifier.is_hashed());
        assert!(verifier.verify(TICKET));
        assert!(!verifier.verify("s3cret tickets"));
        assert!(!verifier.verify(ARGON2_PHC), "the hash itself is not the ticket");
    }

    #[test]
    fn pbkdf2_phc_tickets() {
        let verifier = TicketVerifier::parse(PBKDF2_PHC).unwrap();
        assert!(verifier.verify(TICKET));
        assert!(!verifier.verify("S3cret ticket"));
    }

    #[test]
    fn malformed_hashes_are_rejected() {
        assert!(TicketVerifier::parse("").is_err());
        assert!(TicketVerifier::parse("$argon2id$v=19$m=256,t=2,p=1$").is_err());
        assert!(TicketVerifier::parse(
            "$argon2id$v=19$m=1,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$13g2+fhTMkuGL2cU+xVndLMEtWhDDbjLf32sGE1evX0"
        )
        .is_err());
        assert!(TicketVerifier::parse(
            "$pbkdf2-md5$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$ojQ60vqJ37arGphYtxZWIQGFzUzqH/namtnGTmu/1As"
        )
        .is_err());
        assert!(TicketVerifier::parse("$pbkdf2-sha256$i=1000$not valid base64!$x").is_err());
        // Other '$' strings are plain tickets.
        assert!(!TicketVerifier::parse("$dollar").unwrap().is_hashed());
    }
}
