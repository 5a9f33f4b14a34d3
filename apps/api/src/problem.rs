//! RFC 9457 problem details: the one shape every error leaves in.
//!
//! `type` is a stable URI reference per error kind (`/problems/<code>`), `code` repeats the kind
//! as a plain string for clients that switch on it, and `errors[]` names the offending fields of
//! a validation failure. Nothing internal (SQL, stack traces, library messages) is ever put in
//! `detail`: internal errors are logged with the request id and answered with a generic 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field (`email`, `lines[2].quantity`) or query parameter.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// The kind of problem, a URI reference: `/problems/<code>`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation-failed")]
    pub type_: String,
    /// Short summary of the kind of problem (the same for every occurrence).
    pub title: String,
    /// The HTTP status code.
    #[schema(value_type = u16, example = 422)]
    #[serde(serialize_with = "ser_status")]
    pub status: StatusCode,
    /// Stable machine-readable error code.
    #[schema(example = "validation-failed")]
    pub code: String,
    /// What went wrong this time, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The invalid fields or parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (RFC 9457 extensions), e.g. `order_id`; the schemas named
    /// `...Problem` list them for the answers that have them.
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    headers: Vec<(HeaderName, String)>,
}

fn ser_status<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.status)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Problem {
            type_: format!("/problems/{code}"),
            title: title.into(),
            status,
            code: code.into(),
            detail: None,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
        self
    }

    pub fn extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    // The catalogue of generic problems; domain errors add their own codes in `errors.rs`.

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "The request is malformed").detail(detail)
    }

    pub fn validation() -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed", "The request has invalid fields")
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation().field(field, message)
    }

    pub fn invalid_parameter(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        Self::new(StatusCode::BAD_REQUEST, "invalid-parameter", "A query or path parameter is invalid")
            .detail(format!("parameter `{param}` is invalid"))
            .field(param, message)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication is required")
            .detail(detail)
            .header(header::WWW_AUTHENTICATE, "Bearer realm=\"shop\"")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "You may not do this")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such resource")
    }

    pub fn conflict(code: &str, title: &str) -> Self {
        Self::new(StatusCode::CONFLICT, code, title)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests")
            .detail(format!("retry after {retry_after_secs} s"))
            .header(header::RETRY_AFTER, retry_after_secs.max(1).to_string())
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The service is temporarily unavailable")
            .header(header::RETRY_AFTER, "1")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error")
    }

    /// A problem for a bare status produced outside our handlers (unknown route, wrong method,
    /// extractor failures): keeps the status, gives it a stable code.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, title) = match status {
            StatusCode::NOT_FOUND => ("not-found", "No such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed on this resource"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "The request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported content type"),
            StatusCode::URI_TOO_LONG => ("uri-too-long", "The request URI is too long"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers-too-large", "Request headers are too large"),
            StatusCode::REQUEST_TIMEOUT => ("request-timeout", "The request took too long"),
            StatusCode::UNAUTHORIZED => {
                return Self::unauthorized("missing or invalid credentials");
            }
            StatusCode::FORBIDDEN => return Self::forbidden(),
            StatusCode::SERVICE_UNAVAILABLE => return Self::unavailable(),
            s if s.is_server_error() => return Self::internal().with_status(s),
            _ => ("bad-request", "The request is malformed"),
        };
        Self::new(status, code, title)
    }

    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl From<garde::Report> for Problem {
    fn from(report: garde::Report) -> Self {
        report.iter().fold(Problem::validation(), |p, (path, err)| {
            let field = path.to_string();
            p.field(if field.is_empty() { "body".to_string() } else { field }, err.message().to_string())
        })
    }
}

impl actix_web::Responder for Problem {
    type Body = actix_web::body::BoxBody;
    fn respond_to(self, _: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                res.insert_header((name.clone(), v));
            }
        }
        res.body(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Logs an unexpected error with its full chain and turns it into the generic 500.
pub fn internal(err: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %err, "internal error");
    Problem::internal()
}

pub type ApiResult<T> = Result<T, Problem>;
