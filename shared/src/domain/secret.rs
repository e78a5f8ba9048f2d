//! A string that must never be printed: secret keys, ExternalIds, passwords, tokens.

use std::fmt;

/// Holds a secret in memory. `Debug`/`Display` print `[redacted]`, it does not implement
/// `Serialize`, and reading it takes an explicit `expose()` so every use is easy to audit.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `other` holds the same secret, in time that tells nothing about the secret:
    /// their SHA-256 digests (fixed length) are compared with every byte read, so how long
    /// the comparison takes does not say how much of a guess was right.
    pub fn same_as(&self, other: &Secret) -> bool {
        use sha2::Digest;
        let (a, b) = (
            sha2::Sha256::digest(self.0.as_bytes()),
            sha2::Sha256::digest(other.0.as_bytes()),
        );
        std::hint::black_box(a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y))) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    // Best effort: overwrite the bytes so a freed secret does not linger in the heap.
    fn drop(&mut self) {
        // SAFETY: writing zero bytes keeps the String valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }

    #[test]
    fn compared_whole() {
        let id = Secret::new("cib-0123456789abcdef0123456789abcdef");
        assert!(id.same_as(&Secret::new("cib-0123456789abcdef0123456789abcdef")));
        // A prefix, a longer string and a last-character change are all different secrets.
        for other in [
            "cib-0123456789abcdef0123456789abcde",
            "cib-0123456789abcdef0123456789abcdef0",
            "cib-0123456789abcdef0123456789abcdee",
            "",
        ] {
            assert!(!id.same_as(&Secret::new(other)), "{other}");
        }
    }
}
