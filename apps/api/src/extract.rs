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

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let path = e.path().to_string();
                    let msg = inner.to_string();
                    Problem::invalid_field(field_of(&path, &msg), clean_message(&msg))
                }
                _ => Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "The body is not valid JSON")
                    .detail(format!("syntax error at line {} column {}", inner.line(), inner.column())),
            }
        })?;
    de.end().map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "The body is not valid JSON")
            .detail("trailing characters after the JSON value")
    })?;
    Ok(value)
}

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = Bytes::from_request(req, payload);
        async move {
            if !json {
                return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                    .detail("send the body as application/json")
                    .into());
            }
            let bytes = body.await?;
            let value: T = parse_json(&bytes)?;
            value.validate().map_err(Problem::from)?;
            Ok(ValidJson(value))
        }
        .boxed_local()
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

pub fn parse_query<T: DeserializeOwned + garde::Validate<Context = ()>>(qs: &str) -> Result<T, Problem> {
    if qs.len() > 4096 {
        return Err(Problem::new(StatusCode::URI_TOO_LONG, "uri-too-long", "The query string is too long"));
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
