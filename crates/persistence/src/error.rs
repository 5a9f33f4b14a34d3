use diesel::result::{DatabaseErrorKind, Error};

pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// SQLSTATE 42P04 (duplicate_database) is not one of diesel's named kinds.
pub(crate) fn is_duplicate_database(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(_, info) if info.message().contains("already exists"))
}
