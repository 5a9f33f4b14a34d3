//! Opaque bearer secrets (refresh tokens, guest-cart tokens): 256 random bits, URL-safe, stored
//! only as SHA-256 hashes. Account tokens (password reset, email verification, email change) are
//! derived instead: `HMAC-SHA256(key, seed)` of a random 256-bit seed, so the outbox event that
//! mails the link carries only the seed, the token table only the token's hash, and the token
//! exists in clear only in the email (see `docs/auth.md`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The account token of a `seed` ([`new_token`]: 256 random bits) under `key` (256 bits,
/// URL-safe).
pub fn account_token(key: &[u8], seed: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"shop account token v1:");
    mac.update(seed.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The CSRF token that goes with a refresh token held in a cookie: `HMAC-SHA256(key, token)`
/// under its own label, so it proves its sender saw a login or refresh answer (a page on
/// another site never does) without the server storing anything, and changes with every
/// rotation of the refresh token.
pub fn csrf_token(key: &[u8], refresh_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(csrf_mac(key, refresh_token).finalize().into_bytes())
}

/// Whether `presented` is the CSRF token of `refresh_token`, compared in constant time.
pub fn csrf_matches(key: &[u8], refresh_token: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.as_bytes()) else { return false };
    csrf_mac(key, refresh_token).verify_slice(&presented).is_ok()
}

fn csrf_mac(key: &[u8], refresh_token: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"shop refresh csrf v1:");
    mac.update(refresh_token.as_bytes());
    mac
}

/// The key account tokens are derived with, from a server secret (domain-separated, so it is not
/// the secret itself).
pub fn account_token_key(secret: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"shop account-token key v1");
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 32);
    }

    #[test]
    fn csrf_tokens_belong_to_one_refresh_token_and_key() {
        let key = account_token_key("secret");
        let (t1, t2) = (new_token(), new_token());
        let csrf = csrf_token(&key, &t1);
        assert!(csrf_matches(&key, &t1, &csrf));
        assert!(!csrf_matches(&key, &t2, &csrf), "another refresh token");
        assert!(!csrf_matches(&account_token_key("other"), &t1, &csrf), "another key");
        assert!(!csrf_matches(&key, &t1, &account_token(&key, &t1)), "not an account token");
        for bad in ["", "not base64!", &csrf[..20]] {
            assert!(!csrf_matches(&key, &t1, bad), "{bad}");
        }
    }

    #[test]
    fn account_tokens_are_keyed_and_stable() {
        let (k1, k2) = (account_token_key("one secret"), account_token_key("another"));
        let seed = new_token();
        assert_eq!(account_token(&k1, &seed), account_token(&k1, &seed));
        assert_ne!(account_token(&k1, &seed), account_token(&k2, &seed), "another key, another token");
        assert_ne!(account_token(&k1, &seed), account_token(&k1, &new_token()));
        assert_ne!(account_token(&k1, &seed), seed, "the seed is not the token");
        assert_eq!(account_token(&k1, &seed).len(), 43, "256 bits");
    }
}
