//! Keyset pagination: an opaque cursor the client hands back, and a page of items.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A page of results and the cursor for the next one (absent on the last page).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cursor is not one this API issued")]
pub struct CursorError;

/// Encodes and decodes a keyset position as an opaque URL-safe string. The position is any
/// serialisable value (for example `(created_at, id)`); clients must treat the string as opaque.
pub struct Cursor;

impl Cursor {
    pub fn encode<K: Serialize>(key: &K) -> String {
        // Serialising plain data to JSON cannot fail.
        let json = serde_json::to_vec(key).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode<K: DeserializeOwned>(s: &str) -> Result<K, CursorError> {
        if s.len() > 512 {
            return Err(CursorError);
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| CursorError)?;
        serde_json::from_slice(&bytes).map_err(|_| CursorError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let key = (42_i64, "abc".to_string());
        let c = Cursor::encode(&key);
        assert_eq!(Cursor::decode::<(i64, String)>(&c), Ok(key));
        assert_eq!(Cursor::decode::<(i64, String)>("!!!"), Err(CursorError));
        assert_eq!(Cursor::decode::<(i64, String)>(&Cursor::encode(&"x")), Err(CursorError));
    }
}
