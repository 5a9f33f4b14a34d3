use diesel::result::{DatabaseErrorKind, Error};

pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// SQLSTATE 42P04 (duplicate_database) is not one of diesel's named kinds.
pub(crate) fn is_duplicate_database(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(_, info) if info.message().contains("already exists"))
}

/// The connection died under the query (server shut down, network cut, admin termination): the
/// request may succeed elsewhere, so callers answer "unavailable" (retryable), never "internal".
pub fn is_connection_lost(e: &Error) -> bool {
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("terminating connection")
                || m.contains("connection closed")
                || m.contains("server closed the connection")
                || m.contains("the database system is shutting down")
                || m.contains("the database system is starting up")
        }
        other => {
            let m = other.to_string();
            m.contains("connection closed") || m.contains("Connection reset") || m.contains("broken pipe")
        }
    }
}

/// Error of a transaction body: a domain refusal (which rolls the transaction back) or a database
/// error. Each adapter maps it into its domain error type.
pub(crate) enum TxError<E> {
    Domain(E),
    Db(Error),
}

impl<E> From<Error> for TxError<E> {
    fn from(e: Error) -> Self {
        TxError::Db(e)
    }
}
