use diesel::QueryResult;
use diesel::result::{DatabaseErrorKind, Error};
use primitives::StorageError;

pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// SQLSTATE 42P04 (duplicate_database) is not one of diesel's named kinds.
pub(crate) fn is_duplicate_database(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(_, info) if info.message().contains("already exists"))
}

/// The connection died under the query (server shut down, network cut, admin termination): the
/// request may succeed elsewhere, so callers answer "unavailable" (retryable), never "internal".
///
/// Decided by kind first: diesel-async reports every failure that carries no SQLSTATE (the socket
/// closed, reset, broken pipe, the server gone mid-message) as `UnableToSendCommand`, so that kind is
/// always a lost connection; so is a transaction manager left broken by a rollback that could not
/// reach the server. Server-side refusals with a SQLSTATE are matched on the messages of classes 57
/// (operator intervention: admin/crash shutdown, cannot connect now) and 08 (connection exception).
pub fn is_connection_lost(e: &Error) -> bool {
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            [
                "terminating connection",
                "connection closed",
                "server closed the connection",
                "the database system is shutting down",
                "the database system is starting up",
                "the database system is in recovery mode",
                "the database system is not yet accepting connections",
                "error communicating with the server",
                "connection reset",
                "broken pipe",
                "no connection to the server",
            ]
            .iter()
            .any(|p| m.contains(p))
        }
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, rollback_error } => {
            is_connection_lost(commit_error) || is_connection_lost(rollback_error)
        }
        other => {
            let m = other.to_string().to_ascii_lowercase();
            m.contains("connection closed") || m.contains("connection reset") || m.contains("broken pipe")
        }
    }
}

/// The one classification of a diesel error into the storage error every domain error wraps:
/// a lost connection is `unavailable` (retryable, 503), anything else `other` (500).
pub fn storage(e: Error) -> StorageError {
    if is_connection_lost(&e) { StorageError::unavailable(e) } else { StorageError::other(e) }
}

/// `.storage()?` on a query's result: the diesel error classified by [`storage`], which every
/// domain error converts from (`Storage(#[from] StorageError)`).
pub(crate) trait OrStorage<T> {
    fn storage(self) -> Result<T, StorageError>;
}

impl<T> OrStorage<T> for QueryResult<T> {
    fn storage(self) -> Result<T, StorageError> {
        self.map_err(storage)
    }
}

/// Error of a transaction body: a domain refusal (which rolls the transaction back) or a database
/// error. [`Settle::settle`] turns a transaction's result into the domain's own error.
pub(crate) enum TxError<E> {
    Domain(E),
    Db(Error),
}

impl<E> From<Error> for TxError<E> {
    fn from(e: Error) -> Self {
        TxError::Db(e)
    }
}

impl<E> From<StorageError> for TxError<E>
where
    E: From<StorageError>,
{
    fn from(e: StorageError) -> Self {
        TxError::Domain(E::from(e))
    }
}

pub(crate) trait Settle<T, E> {
    /// The domain's refusal, or the database error classified by [`storage`].
    fn settle(self) -> Result<T, E>;
    /// The domain's refusal, or the database error mapped by `db` (constraint names to domain
    /// errors, for instance).
    fn settle_with(self, db: impl FnOnce(Error) -> E) -> Result<T, E>;
}

impl<T, E: From<StorageError>> Settle<T, E> for Result<T, TxError<E>> {
    fn settle(self) -> Result<T, E> {
        self.settle_with(|e| E::from(storage(e)))
    }

    fn settle_with(self, db: impl FnOnce(Error) -> E) -> Result<T, E> {
        self.map_err(|e| match e {
            TxError::Domain(d) => d,
            TxError::Db(e) => db(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_string()))
    }

    #[test]
    fn transport_failures_are_unavailable() {
        for e in [
            db(
                DatabaseErrorKind::UnableToSendCommand,
                "error communicating with the server: Broken pipe (os error 32)",
            ),
            db(DatabaseErrorKind::UnableToSendCommand, "unexpected message from server"),
            db(DatabaseErrorKind::ClosedConnection, "whatever"),
            db(DatabaseErrorKind::Unknown, "terminating connection due to administrator command"),
            db(DatabaseErrorKind::Unknown, "the database system is in recovery mode"),
            Error::BrokenTransactionManager,
            Error::RollbackErrorOnCommit {
                commit_error: Box::new(db(DatabaseErrorKind::UnableToSendCommand, "connection closed")),
                rollback_error: Box::new(Error::BrokenTransactionManager),
            },
        ] {
            assert!(storage(e).is_unavailable());
        }
    }

    #[test]
    fn refusals_and_bugs_are_not_unavailable() {
        for e in [
            db(DatabaseErrorKind::UniqueViolation, "duplicate key value violates unique constraint"),
            db(DatabaseErrorKind::Unknown, "integer out of range"),
            db(DatabaseErrorKind::CheckViolation, "new row violates check constraint"),
            Error::NotFound,
        ] {
            assert!(!storage(e).is_unavailable());
        }
    }
}
