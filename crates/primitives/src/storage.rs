//! The one error every domain reports for its storage (PostgreSQL behind the ports): either the
//! store is unavailable (connection lost, pool exhausted, server restarting: worth retrying, an
//! HTTP 503) or something else went wrong (a bug or a broken invariant: an HTTP 500). The source
//! is kept for the logs and never shown to a client. Every domain error enum wraps it
//! (`Storage(#[from] StorageError)`); adapters build it in one place (`persistence::error`).

use std::error::Error as StdError;
use std::fmt;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// A storage failure, classified.
pub struct StorageError {
    kind: StorageErrorKind,
    source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The store could not be reached or went away mid-request: retryable.
    Unavailable,
    /// Anything else: not retryable as it is.
    Other,
}

impl StorageError {
    pub fn unavailable(source: impl Into<Source>) -> Self {
        StorageError { kind: StorageErrorKind::Unavailable, source: source.into() }
    }

    pub fn other(source: impl Into<Source>) -> Self {
        StorageError { kind: StorageErrorKind::Other, source: source.into() }
    }

    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    pub fn is_unavailable(&self) -> bool {
        self.kind == StorageErrorKind::Unavailable
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StorageErrorKind::Unavailable => write!(f, "storage unavailable: {}", self.source),
            StorageErrorKind::Other => write!(f, "storage failure: {}", self.source),
        }
    }
}

impl fmt::Debug for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageError").field("kind", &self.kind).field("source", &self.source).finish()
    }
}

impl StdError for StorageError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_message_and_source() {
        let e = StorageError::unavailable("connection refused");
        assert!(e.is_unavailable());
        assert_eq!(e.to_string(), "storage unavailable: connection refused");
        assert_eq!(e.source().map(|s| s.to_string()), Some("connection refused".into()));
        let e = StorageError::other(std::io::Error::other("disk full"));
        assert_eq!(e.kind(), StorageErrorKind::Other);
        assert_eq!(e.to_string(), "storage failure: disk full");
    }
}
