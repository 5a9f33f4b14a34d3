//! Keyset pagination at the HTTP edge: the `cursor` and `limit` query parameters
//! ([`PageParams`], documented once and shared by every listing) become a
//! `primitives::PageRequest` (a cursor this API did not issue, or one carrying an out-of-range
//! key, is 400 naming `cursor`); services answer a `primitives::Page`, cut by `Page::cut`.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use primitives::PageRequest;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::extract::{MAX_QUERY_BYTES, parse_query, uri_too_long};
use crate::problem::Problem;

/// The page a listing is asked for.
#[derive(Debug, Default, Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page (with the same filters and sort).
    #[garde(inner(length(max = 512)))]
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20, or as the operation says).
    #[garde(inner(range(min = 1, max = 100)))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

impl PageParams {
    /// The page, [`PageRequest::DEFAULT_LIMIT`] items unless the client said.
    pub fn request<K: DeserializeOwned>(&self) -> Result<PageRequest<K>, Problem> {
        self.request_or(PageRequest::<K>::DEFAULT_LIMIT)
    }

    pub fn request_or<K: DeserializeOwned>(&self, default: i64) -> Result<PageRequest<K>, Problem> {
        page_request_or(self.cursor.as_deref(), self.limit, default)
    }
}

pub fn page_request_or<K: DeserializeOwned>(
    cursor: Option<&str>,
    limit: Option<i64>,
    default: i64,
) -> Result<PageRequest<K>, Problem> {
    PageRequest::decode(cursor, limit, default).map_err(|e| Problem::invalid_parameter("cursor", e.to_string()))
}

/// A listing's query: its filters `T` (validated as `ValidQuery` does, unknown parameters
/// refused) and the page ([`PageParams`]). Document it with `params(T, PageParams)`.
pub struct Paged<T>(pub T, pub PageParams);

impl<T> FromRequest for Paged<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(split(req.query_string()).map_err(Into::into))
    }
}

fn split<T: DeserializeOwned + garde::Validate<Context = ()>>(qs: &str) -> Result<Paged<T>, Problem> {
    if qs.len() > MAX_QUERY_BYTES {
        return Err(uri_too_long());
    }
    let mut page = form_urlencoded::Serializer::new(String::new());
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
        let part = if k == "cursor" || k == "limit" { &mut page } else { &mut rest };
        part.append_pair(&k, &v);
    }
    Ok(Paged(parse_query(&rest.finish())?, parse_query(&page.finish())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        #[garde(skip)]
        status: Option<String>,
    }

    #[test]
    fn filters_and_page_are_parsed_apart_and_unknown_parameters_refused() {
        let Paged(f, p) = split::<Filter>("status=paid&cursor=abc&limit=5").unwrap();
        assert_eq!((f.status.as_deref(), p.cursor.as_deref(), p.limit), (Some("paid"), Some("abc"), Some(5)));
        assert!(split::<Filter>("status=paid&colour=red").is_err());
        assert!(split::<Filter>("limit=0").is_err());
        assert!(split::<Filter>("limit=many").is_err());
        let Paged(f, p) = split::<Filter>("").unwrap();
        assert_eq!((f.status, p.cursor, p.limit), (None, None, None));
    }
}
