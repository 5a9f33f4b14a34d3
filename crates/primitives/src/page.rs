//! Keyset pagination: an opaque cursor the client hands back, and a page of items.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

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

/// A point in time as a cursor carries it. Decoding refuses years outside 1..=9999: what RFC 3339
/// writes with four digits and well inside PostgreSQL's `timestamptz` range, so a crafted cursor
/// is a 400 at the edge, never an out-of-range error from the database. Every cursor key holds
/// its timestamps in this type rather than a bare `DateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CursorTime(pub DateTime<Utc>);

impl CursorTime {
    pub const MIN_YEAR: i32 = 1;
    pub const MAX_YEAR: i32 = 9999;
}

impl From<DateTime<Utc>> for CursorTime {
    fn from(t: DateTime<Utc>) -> Self {
        CursorTime(t)
    }
}

impl From<CursorTime> for DateTime<Utc> {
    fn from(t: CursorTime) -> Self {
        t.0
    }
}

impl<'de> Deserialize<'de> for CursorTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = DateTime::<Utc>::deserialize(d)?;
        if (Self::MIN_YEAR..=Self::MAX_YEAR).contains(&t.year()) {
            Ok(CursorTime(t))
        } else {
            Err(serde::de::Error::custom("timestamp out of range"))
        }
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

    use proptest::prelude::*;

    proptest! {
        /// Whatever a client sends as a cursor, decoding answers a key or a refusal, never a panic,
        /// and never a timestamp outside 1..=9999.
        #[test]
        fn any_string_decodes_or_is_refused(s in ".{0,600}") {
            let _ = Cursor::decode::<(CursorTime, uuid::Uuid)>(&s);
            let _ = Cursor::decode::<(i64, String)>(&s);
        }

        #[test]
        fn any_json_in_a_cursor_decodes_in_range_or_is_refused(secs in any::<i64>(), nanos in 0u32..2_000_000_000) {
            let text = chrono::DateTime::from_timestamp(secs / 1_000, nanos).map(|t| t.to_rfc3339());
            if let Some(text) = text {
                let c = Cursor::encode(&(text, uuid::Uuid::nil()));
                if let Ok((t, _)) = Cursor::decode::<(CursorTime, uuid::Uuid)>(&c) {
                    prop_assert!((1..=9999).contains(&t.0.year()));
                }
            }
        }

        #[test]
        fn issued_cursors_round_trip(secs in -62_135_596_800i64..253_402_300_799, id in any::<u128>()) {
            let key = (CursorTime(chrono::DateTime::from_timestamp(secs, 0).expect("in range")), uuid::Uuid::from_u128(id));
            prop_assert_eq!(Cursor::decode::<(CursorTime, uuid::Uuid)>(&Cursor::encode(&key)), Ok(key));
        }
    }

    #[test]
    fn cursor_times_stay_in_range() {
        let now = (CursorTime(Utc::now()), uuid::Uuid::nil());
        assert_eq!(Cursor::decode::<(CursorTime, uuid::Uuid)>(&Cursor::encode(&now)), Ok(now));
        for bad in
            ["-9999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "+262143-01-01T00:00:00Z"]
        {
            let c = Cursor::encode(&(bad, uuid::Uuid::nil()));
            assert_eq!(Cursor::decode::<(CursorTime, uuid::Uuid)>(&c), Err(CursorError), "{bad}");
        }
        let edge = Cursor::encode(&("9999-12-31T23:59:59.999999Z", uuid::Uuid::nil()));
        assert!(Cursor::decode::<(CursorTime, uuid::Uuid)>(&edge).is_ok());
    }
}
