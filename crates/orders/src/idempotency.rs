//! The `Idempotency-Key` a client sends with a checkout: decoded here, so the rule is one pure
//! function that property tests reach.

/// A key as stored: 1 to 255 printable ASCII characters (surrounding whitespace trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("required")]
    Missing,
    #[error("1 to 255 printable ASCII characters")]
    Invalid,
}

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// The header's raw bytes (absent: `None`).
    pub fn parse(raw: Option<&[u8]>) -> Result<Self, KeyError> {
        let raw = raw.ok_or(KeyError::Missing)?;
        let key = raw.trim_ascii();
        if key.is_empty() {
            return Err(KeyError::Missing);
        }
        if key.len() > Self::MAX_LEN || !key.iter().all(u8::is_ascii_graphic) {
            return Err(KeyError::Invalid);
        }
        // All graphic ASCII: valid UTF-8.
        Ok(IdempotencyKey(String::from_utf8_lossy(key).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys() {
        assert_eq!(IdempotencyKey::parse(Some(b" abc ")).map(|k| k.0), Ok("abc".into()));
        assert_eq!(IdempotencyKey::parse(None), Err(KeyError::Missing));
        assert_eq!(IdempotencyKey::parse(Some(b"   ")), Err(KeyError::Missing));
        assert_eq!(IdempotencyKey::parse(Some(b"a b")), Err(KeyError::Invalid));
        assert_eq!(IdempotencyKey::parse(Some("ключ".as_bytes())), Err(KeyError::Invalid));
        assert!(IdempotencyKey::parse(Some(&[b'k'; 255])).is_ok());
        assert_eq!(IdempotencyKey::parse(Some(&[b'k'; 256])), Err(KeyError::Invalid));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_valid_key_or_a_refusal(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
            match IdempotencyKey::parse(Some(&raw)) {
                Ok(k) => {
                    prop_assert!((1..=255).contains(&k.as_str().len()));
                    prop_assert!(k.as_str().bytes().all(|b| b.is_ascii_graphic()));
                    prop_assert!(raw.windows(k.as_str().len()).any(|w| w == k.as_str().as_bytes()));
                }
                Err(_) => {
                    let t = raw.trim_ascii();
                    prop_assert!(t.is_empty() || t.len() > 255 || !t.iter().all(u8::is_ascii_graphic));
                }
            }
        }
    }
}
