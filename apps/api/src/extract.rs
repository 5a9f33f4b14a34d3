//! Request extractors that validate as they parse: `ValidJson<T>` and `ValidQuery<T>` answer
//! 400/415/422 problem documents that name the offending field or parameter.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body, deserialised and then validated with garde.
pub struct ValidJson<T>(pub T);

/// Like [`ValidJson`], for free text whose domain strips control characters (reviews): NUL
/// characters are removed instead of refused.
pub struct StrippedJson<T>(pub T);

/// Query parameters, deserialised and then validated with garde.
pub struct ValidQuery<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// serde's "missing field `x`" is reported at the parent path; move it onto the field itself.
fn field_of(path: &str, message: &str) -> String {
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).map(str::to_owned);
    match (path, missing) {
        (".", Some(f)) | ("", Some(f)) => f,
        (p, Some(f)) => format!("{p}.{f}"),
        (".", None) | ("", None) => "body".into(),
        (p, None) => p.into(),
    }
}

/// Strips serde_json's " at line L column C" suffix from a data error message.
fn clean_message(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn malformed(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "The body is not valid JSON").detail(detail)
}

/// The path of the first string holding a NUL character (PostgreSQL text cannot store one).
fn find_nul(v: &serde_json::Value, path: &mut Vec<String>) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => {
            Some(if path.is_empty() { "body".into() } else { path.join(".") })
        }
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| {
            path.push(format!("[{i}]"));
            let found = find_nul(x, path);
            path.pop();
            found
        }),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
            // A key is stored too (JSONB attributes): it may not hold NUL either.
            path.push(k.replace('\0', "\\u0000"));
            let found = if k.contains('\0') { Some(path.join(".")) } else { find_nul(x, path) };
            path.pop();
            found
        }),
        _ => None,
    }
    .map(|p| p.replace(".[", "["))
}

/// Removes NUL characters from every string (for text whose domain strips control characters).
fn strip_nul(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul),
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map).into_iter().map(|(k, v)| (k.replace('\0', ""), v)).collect();
            }
            map.values_mut().for_each(strip_nul)
        }
        _ => {}
    }
}

/// Parses in two steps: JSON syntax first (400 `malformed-json`), then the shape of the value
/// (422 naming the field), so a well-formed body of the wrong shape is never called malformed.
/// Strings holding NUL are refused (422): PostgreSQL text cannot store them.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    parse_json_with(bytes, false)
}

fn parse_json_with<T: DeserializeOwned>(bytes: &[u8], strip: bool) -> Result<T, Problem> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Eof | serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            malformed(format!("syntax error at line {} column {}", e.line(), e.column()))
        }
        // Only reachable for invalid UTF-8 and similar byte-level problems.
        serde_json::error::Category::Data => malformed(e.to_string()),
    })?;
    if strip {
        strip_nul(&mut value);
    }
    if let Some(field) = find_nul(&value, &mut Vec::new()) {
        return Err(Problem::invalid_field(field, "must not contain NUL characters"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        Problem::invalid_field(field_of(&path, &msg), clean_message(&msg))
    })
}

/// Reads, parses and validates a JSON body (`strip`: remove NUL characters instead of refusing).
fn json_body<T>(
    req: &HttpRequest,
    payload: &mut Payload,
    strip: bool,
) -> LocalBoxFuture<'static, Result<T, actix_web::Error>>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    let json = is_json(req);
    let body = Bytes::from_request(req, payload);
    async move {
        if !json {
            return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .detail("send the body as application/json")
                .into());
        }
        let value: T = parse_json_with(&body.await?, strip)?;
        value.validate().map_err(Problem::from)?;
        Ok(value)
    }
    .boxed_local()
}

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        json_body(req, payload, false).map(|r| r.map(ValidJson)).boxed_local()
    }
}

impl<T> FromRequest for StrippedJson<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        json_body(req, payload, true).map(|r| r.map(StrippedJson)).boxed_local()
    }
}

impl<T> FromRequest for ValidQuery<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ValidQuery).map_err(Into::into))
    }
}

/// The longest query string accepted (414 beyond).
pub const MAX_QUERY_BYTES: usize = 4096;

pub fn uri_too_long() -> Problem {
    Problem::new(StatusCode::URI_TOO_LONG, "uri-too-long", "The query string is too long")
}

pub fn parse_query<T: DeserializeOwned + garde::Validate<Context = ()>>(qs: &str) -> Result<T, Problem> {
    if qs.len() > MAX_QUERY_BYTES {
        return Err(uri_too_long());
    }
    if let Some((name, _)) = form_urlencoded_parse(qs).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(Problem::invalid_parameter(name.replace('\0', ""), "must not contain NUL characters"));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(qs));
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let field = field_of(&path, &msg);
        Problem::invalid_parameter(field, msg)
    })?;
    value.validate().map_err(|report| {
        report.iter().fold(
            Problem::new(StatusCode::BAD_REQUEST, "invalid-parameter", "A query or path parameter is invalid"),
            |p, (path, err)| p.field(path.to_string(), err.message().to_string()),
        )
    })?;
    Ok(value)
}

fn form_urlencoded_parse(qs: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(qs.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named() {
        assert_eq!(field_of(".", "missing field `email`"), "email");
        assert_eq!(field_of("address", "missing field `city`"), "address.city");
        assert_eq!(field_of("lines[0].qty", "invalid type"), "lines[0].qty");
        assert_eq!(field_of(".", "invalid type: string"), "body");
    }
}
