//! Decoding shared by every adapter's rows. A value the domain does not know (a currency code,
//! a status, a role) read back from the database is an error, never a silent default: it means
//! the schema and the code disagree, and the request fails with a 500 that names it in the log.

use diesel::QueryResult;
use diesel::result::Error;
use primitives::Currency;
use serde_json::{Map, Value};

/// A currency code read from the database.
pub(crate) fn currency(s: &str) -> QueryResult<Currency> {
    s.parse().map_err(|e: primitives::CurrencyError| Error::DeserializationError(Box::new(e)))
}

/// A value of a domain enum read from the database (`what` names it in the error).
pub(crate) fn known<T>(what: &str, s: &str, parse: impl FnOnce(&str) -> Option<T>) -> QueryResult<T> {
    parse(s).ok_or_else(|| Error::DeserializationError(format!("unknown {what} `{s}` in the database").into()))
}

/// A JSONB column holding a domain type (a promotion's conditions or action); a shape the type
/// does not accept is an error (`what` names the column).
pub(crate) fn decoded<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> QueryResult<T> {
    serde_json::from_value(v).map_err(|e| Error::DeserializationError(format!("undecodable {what}: {e}").into()))
}

/// The JSONB form of a domain type, for writing.
pub(crate) fn encoded<T: serde::Serialize>(v: &T) -> QueryResult<Value> {
    serde_json::to_value(v).map_err(|e| Error::SerializationError(Box::new(e)))
}

/// A JSONB object column (options, attributes); anything but an object is an error.
pub(crate) fn object(v: Value) -> QueryResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::DeserializationError(format!("expected a JSON object, found {other}").into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_errors() {
        assert!(currency("EUR").is_ok());
        assert!(currency("eur").is_err());
        assert_eq!(known("role", "admin", |s| (s == "admin").then_some(1)).ok(), Some(1));
        assert!(known("role", "root", |s| (s == "admin").then_some(1)).is_err());
        assert!(object(serde_json::json!({"a": 1})).is_ok());
        assert!(object(serde_json::json!([1])).is_err());
    }
}
