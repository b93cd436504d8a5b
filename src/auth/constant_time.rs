//! Comparisons of secrets and of values derived from them, in time that does not depend on where they
//! differ, so a peer cannot recover a secret byte by byte from response times.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether two equally long values (digests, keys, signatures) are equal; constant time in their
/// content. Values of different lengths are unequal (their lengths are public: fixed by the method).
pub fn fixed_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether two secrets of any length (tickets) are equal, comparing their SHA-256 digests in constant
/// time so that neither the content nor the length of the stored secret shows in the timing.
pub fn secret_equal(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_equal_compares_content_and_length() {
        assert!(fixed_equal(&[1, 2, 3], &[1, 2, 3]));
        assert!(!fixed_equal(&[1, 2, 3], &[1, 2, 4]));
        assert!(!fixed_equal(&[0, 2, 3], &[1, 2, 3]));
        assert!(!fixed_equal(&[1, 2], &[1, 2, 3]));
        assert!(fixed_equal(&[], &[]));
    }

    #[test]
    fn secret_equal_compares_any_length() {
        assert!(secret_equal(b"ticket", b"ticket"));
        assert!(!secret_equal(b"ticket", b"ticket2"));
        assert!(!secret_equal(b"ticket", b"ticke"));
        assert!(!secret_equal(b"", b"x"));
        assert!(secret_equal(b"", b""));
    }
}
