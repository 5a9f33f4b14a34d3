//! Keyset pagination: an opaque cursor the client hands back, and a page of items.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// A page of results and the cursor for the next one (absent on the last page).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts a page from rows fetched with [`PageRequest::fetch`] (one more than the page holds):
    /// when the extra row came, it is dropped and the last kept row's key becomes the cursor.
    pub fn cut<K: Serialize>(mut rows: Vec<T>, req_limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(req_limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| Cursor::encode(&key(last)))
        } else {
            None
        };
        Page { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// A page asked for: the position after which it starts (decoded from the client's cursor) and
/// how many items it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<K> {
    pub after: Option<K>,
    pub limit: i64,
}

impl<K: DeserializeOwned> PageRequest<K> {
    /// From the `cursor` and `limit` query parameters (`limit` already bounded by validation;
    /// `default` when absent).
    pub fn decode(cursor: Option<&str>, limit: Option<i64>, default: i64) -> Result<Self, CursorError> {
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok(PageRequest { after, limit: limit.unwrap_or(default) })
    }
}

impl<K> Default for PageRequest<K> {
    /// The first page, of [`PageRequest::DEFAULT_LIMIT`] items.
    fn default() -> Self {
        PageRequest { after: None, limit: Self::DEFAULT_LIMIT }
    }
}

impl<K> PageRequest<K> {
    /// Items per page when the client does not say.
    pub const DEFAULT_LIMIT: i64 = 20;

    /// How many rows to fetch: one more than the page holds, so [`Page::cut`] knows whether
    /// another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit.saturating_add(1)
    }
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
    fn pages_cut_at_the_limit_and_name_the_last_key() {
        let req = PageRequest::<i64>::decode(None, Some(2), 20).unwrap();
        assert_eq!(req.fetch(), 3);
        let page = Page::cut(vec![10, 20, 30], req.limit, |n| *n);
        assert_eq!(page.items, vec![10, 20]);
        let next = PageRequest::<i64>::decode(page.next_cursor.as_deref(), Some(2), 20).unwrap();
        assert_eq!(next.after, Some(20));
        let last = Page::cut(vec![30], 2, |n| *n);
        assert_eq!((last.items, last.next_cursor), (vec![30], None));
        assert_eq!(PageRequest::<i64>::decode(None, None, 20).unwrap().limit, 20);
        assert_eq!(PageRequest::<i64>::decode(Some("!!"), None, 20), Err(CursorError));
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
