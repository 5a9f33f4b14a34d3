//! Keyset pagination at the HTTP edge: the `cursor` and `limit` query parameters become a
//! `primitives::PageRequest` (a cursor this API did not issue, or one carrying an out-of-range
//! key, is 400 naming `cursor`); services answer a `primitives::Page`, cut by `Page::cut`.

use primitives::PageRequest;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

pub fn page_request<K: DeserializeOwned>(cursor: Option<&str>, limit: Option<i64>) -> Result<PageRequest<K>, Problem> {
    page_request_or(cursor, limit, PageRequest::<K>::DEFAULT_LIMIT)
}

pub fn page_request_or<K: DeserializeOwned>(
    cursor: Option<&str>,
    limit: Option<i64>,
    default: i64,
) -> Result<PageRequest<K>, Problem> {
    PageRequest::decode(cursor, limit, default).map_err(|e| Problem::invalid_parameter("cursor", e.to_string()))
}
