//! Console passwords: random, never stored, and compliant with the account's password policy.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::domain::Secret;
use crate::ports::PasswordPolicy;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
// IAM accepts these symbols; quotes and backslashes are left out so the password survives shells.
const SYMBOLS: &[u8] = b"!@#$%^&*()_+-=[]{}|";

/// At least 24 characters (more if the policy says so, at most IAM's 128), with every class
/// IAM policies can require.
pub fn generate(policy: PasswordPolicy) -> Secret {
    let length = (policy.minimum_length.max(24) as usize).min(128);
    let mut rng = rand::rng();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .map(|set| set[rng.random_range(0..set.len())])
        .collect();
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    while chars.len() < length {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    Secret::new(String::from_utf8(chars).expect("ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meets_policy() {
        for min in [0, 8, 24, 40, 200] {
            let p = generate(PasswordPolicy { minimum_length: min });
            let s = p.expose();
            assert!(s.len() >= min.clamp(24, 128) as usize && s.len() <= 128);
            assert!(s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| SYMBOLS.contains(&b)));
        }
        assert_ne!(generate(PasswordPolicy::default()), generate(PasswordPolicy::default()));
    }
}
