use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();

fn common_passwords() -> &'static HashSet<&'static str> {
    COMMON.get_or_init(|| include_str!("../data/common-passwords.txt").lines().collect())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("is one of the most common passwords; choose another")]
    Common,
    #[error("must not contain `{0}`, the part of your email address before the @")]
    ContainsEmailName(String),
}

/// Length limits and the common-password list (NIST SP 800-63B style: no composition rules).
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_chars: 10, max_chars: 128 }
    }
}

impl PasswordPolicy {
    pub fn check(&self, password: &str, email: &str) -> Result<(), PolicyViolation> {
        let n = password.chars().count();
        if n < self.min_chars {
            return Err(PolicyViolation::TooShort(self.min_chars));
        }
        if n > self.max_chars {
            return Err(PolicyViolation::TooLong(self.max_chars));
        }
        let lower = password.to_lowercase();
        if common_passwords().contains(lower.as_str()) {
            return Err(PolicyViolation::Common);
        }
        let local = email.split('@').next().unwrap_or("");
        if local.chars().count() >= 4 && lower.contains(&local.to_lowercase()) {
            return Err(PolicyViolation::ContainsEmailName(local.to_owned()));
        }
        Ok(())
    }
}

/// argon2id hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1) on the blocking pool, at most
/// `max_concurrent` at a time so a flood of logins queues here instead of starving the executor.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon
            .hash_password(b"dummy password for unknown accounts", &salt)
            .expect("hashing a constant cannot fail")
            .to_string();
        PasswordHasher { argon, permits: Arc::new(Semaphore::new(max_concurrent.max(1))), dummy: dummy.into() }
    }

    pub async fn hash(&self, password: &str) -> String {
        let _permit = self.permits.acquire().await.expect("semaphore never closed");
        let argon = self.argon.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.as_bytes(), &salt).expect("argon2 with valid params").to_string()
        })
        .await
        .expect("hashing task panicked")
    }

    /// Verifies against `hash`, or against a dummy hash when there is none, so unknown accounts
    /// cost the same time as wrong passwords.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let _permit = self.permits.acquire().await.expect("semaphore never closed");
        let argon = self.argon.clone();
        let password = password.to_owned();
        let known = hash.is_some();
        let hash = hash.map(str::to_owned).unwrap_or_else(|| self.dummy.to_string());
        tokio::task::spawn_blocking(move || {
            let ok = PasswordHash::new(&hash).is_ok_and(|h| argon.verify_password(password.as_bytes(), &h).is_ok());
            ok && known
        })
        .await
        .expect("verify task panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check("short", "a@b.c"), Err(PolicyViolation::TooShort(10)));
        assert_eq!(p.check(&"x".repeat(129), "a@b.c"), Err(PolicyViolation::TooLong(128)));
        assert_eq!(p.check("1234567890", "a@b.c"), Err(PolicyViolation::Common));
        assert_eq!(p.check("Qwertyuiop", "a@b.c"), Err(PolicyViolation::Common));
        assert_eq!(
            p.check("my alice secret", "alice@example.com"),
            Err(PolicyViolation::ContainsEmailName("alice".into()))
        );
        assert_eq!(p.check("correct horse battery", "alice@example.com"), Ok(()));
        assert!(common_passwords().len() >= 10_000);
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(2);
        let hash = h.hash("correct horse battery").await;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("correct horse battery", Some(&hash)).await);
        assert!(!h.verify("wrong horse battery", Some(&hash)).await);
        assert!(!h.verify("dummy password for unknown accounts", None).await);
    }
}
