use std::collections::HashMap;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use users::Role;
use uuid::Uuid;

/// The authenticated caller, as read from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    /// The refresh-token family (session) this access token was issued for.
    pub session_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub role: Role,
    pub sid: String,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Signs new tokens.
    pub current_secret: String,
    /// Still accepted for verification.
    pub previous_secrets: Vec<String>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// The key id of a secret: the first 16 hex digits of its SHA-256, so ids follow the keys
/// without separate configuration and reveal nothing usable.
pub fn key_id(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..8])
}

/// Issues and verifies access tokens: HS256 only (pinned), `kid` in the header selects the key.
#[derive(Clone)]
pub struct Tokens {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: i64,
}

impl Tokens {
    pub fn new(cfg: &TokenConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let decoding = std::iter::once(&cfg.current_secret)
            .chain(cfg.previous_secrets.iter())
            .map(|s| (key_id(s), DecodingKey::from_secret(s.as_bytes())))
            .collect();
        Tokens {
            kid: key_id(&cfg.current_secret),
            encoding: EncodingKey::from_secret(cfg.current_secret.as_bytes()),
            decoding,
            validation,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl: cfg.access_ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl
    }

    pub fn issue(&self, user_id: Uuid, role: Role, session_id: Uuid) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            exp: now + self.ttl,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4().to_string(),
            role,
            sid: session_id.to_string(),
        };
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::HS256) };
        encode(&header, &claims, &self.encoding).expect("HS256 encoding cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let key = header.kid.as_deref().and_then(|k| self.decoding.get(k)).ok_or(TokenError::Invalid)?;
        let data = decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let c = data.claims;
        Ok(Principal {
            user_id: c.sub.parse().map_err(|_| TokenError::Invalid)?,
            role: c.role,
            session_id: c.sid.parse().map_err(|_| TokenError::Invalid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(secret: &str) -> TokenConfig {
        TokenConfig {
            current_secret: secret.into(),
            previous_secrets: vec![],
            issuer: "shop".into(),
            audience: "shop-api".into(),
            access_ttl_secs: 900,
        }
    }

    #[test]
    fn round_trip_and_rotation() {
        let old = Tokens::new(&cfg("old-secret-old-secret-old-secret!"));
        let (u, s) = (Uuid::new_v4(), Uuid::new_v4());
        let t = old.issue(u, Role::Admin, s);
        assert_eq!(old.verify(&t), Ok(Principal { user_id: u, role: Role::Admin, session_id: s }));

        let mut rotated = cfg("new-secret-new-secret-new-secret!");
        rotated.previous_secrets = vec!["old-secret-old-secret-old-secret!".into()];
        let new = Tokens::new(&rotated);
        assert!(new.verify(&t).is_ok(), "old tokens stay valid after rotation");
        let fresh = new.issue(u, Role::Customer, s);
        assert!(old.verify(&fresh).is_err(), "the old key set does not know the new key");
    }

    #[test]
    fn refuses_wrong_audience_and_garbage() {
        let a = Tokens::new(&cfg("secret-secret-secret-secret-secret"));
        let mut other = cfg("secret-secret-secret-secret-secret");
        other.audience = "someone-else".into();
        let b = Tokens::new(&other);
        let t = b.issue(Uuid::new_v4(), Role::Customer, Uuid::new_v4());
        assert_eq!(a.verify(&t), Err(TokenError::Invalid));
        assert_eq!(a.verify("not.a.token"), Err(TokenError::Invalid));
    }
}
