use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An HTTP client bound to one running app.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
    token: Option<String>,
    headers: HeaderMap,
}

/// A fully read response.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("unexpected body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "unexpected status; body: {}", self.text());
        self
    }

    /// Asserts an RFC 9457 problem with this status and code; returns the document.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        self.assert_status(status);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "not problem+json: {}", self.text());
        let doc = self.json();
        assert_eq!(doc["status"], status, "{doc}");
        assert_eq!(doc["code"], code, "{doc}");
        assert_eq!(doc["type"], format!("/problems/{code}"), "{doc}");
        assert!(doc["title"].is_string(), "{doc}");
        doc
    }
}

impl Client {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(8)
            .build()
            .expect("http client");
        Client { base: base.into(), http, token: None, headers: HeaderMap::new() }
    }

    /// The same client, sending `Authorization: Bearer <token>`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Client { token: Some(token.into()), ..self.clone() }
    }

    /// The same client, sending one more header on every request.
    pub fn with_header(&self, name: &'static str, value: &str) -> Self {
        let mut c = self.clone();
        c.headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).expect("header value"));
        c
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Response {
        let mut req = self.http.request(method, self.url(path)).headers(self.headers.clone());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("read body").to_vec();
        Response { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None).await
    }

    /// A DELETE with a JSON body (a step-up password, say).
    pub async fn delete_json<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.send(Method::DELETE, path, Some(("application/json", serde_json::to_vec(body).expect("json")))).await
    }

    pub async fn post<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.send(Method::POST, path, Some(("application/json", serde_json::to_vec(body).expect("json")))).await
    }

    pub async fn patch<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.send(Method::PATCH, path, Some(("application/json", serde_json::to_vec(body).expect("json")))).await
    }

    pub async fn put<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.send(Method::PUT, path, Some(("application/json", serde_json::to_vec(body).expect("json")))).await
    }

    /// Sends raw bytes with an arbitrary content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.send(Method::POST, path, Some((content_type, body.into()))).await
    }
}
