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
