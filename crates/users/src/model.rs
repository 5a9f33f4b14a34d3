use std::str::FromStr;

use chrono::{DateTime, Utc};
use primitives::{CursorTime, PageRequest};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role groups permissions. New roles (such as `staff`) are a new variant plus its permission
/// set; handlers check permissions, never role names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Staff,
    Admin,
}

/// Things a signed-in principal may be allowed to do beyond managing their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ManageUsers,
    ManageCatalog,
    ManageOrders,
    ModerateReviews,
    /// Promotions and customer groups (what shoppers pay).
    ManagePromotions,
    /// Operations: the outbox (inspect and re-queue events). Admins only.
    OperateSystem,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    pub fn has(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Staff => {
                matches!(
                    p,
                    Permission::ManageCatalog
                        | Permission::ManageOrders
                        | Permission::ModerateReviews
                        | Permission::ManagePromotions
                )
            }
            Role::Customer => false,
        }
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "customer" => Ok(Role::Customer),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            _ => Err(()),
        }
    }
}

/// A user as the rest of the system sees it (never with the password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// The address was confirmed from a link mailed to it.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What login needs: the user and their password hash.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// Fields a user may change on their own profile.
#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[garde(inner(length(chars, min = 1, max = 100), custom(crate::model::no_control_chars)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
}

/// Admin listing: optional search over email and name, keyset paginated.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub q: Option<String>,
    pub role: Option<Role>,
    /// Newest first; the key is (created_at, id) of the last user of the previous page.
    pub page: PageRequest<(CursorTime, Uuid)>,
}

pub(crate) fn no_control_chars(value: &str, _: &()) -> garde::Result {
    if value.chars().any(|c| c.is_control()) {
        Err(garde::Error::new("must not contain control characters"))
    } else if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_permissions() {
        assert!(Role::Admin.has(Permission::ManageUsers));
        assert!(!Role::Staff.has(Permission::ManageUsers));
        assert!(Role::Staff.has(Permission::ManageCatalog));
        assert!(!Role::Customer.has(Permission::ManageCatalog));
        for r in [Role::Customer, Role::Staff, Role::Admin] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }
}
