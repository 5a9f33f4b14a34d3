//! Adapter for `users::UserRepo`.

use ::users::{
    Address, AddressInput, AddressPatch, NewUser, RepoError, Role, User, UserCredentials, UserListQuery, UserRepo,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::OrStorage;
use crate::rows::known;
use crate::schema::{addresses, users};
use crate::{Db, is_unique_violation};

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    name: String,
    role: String,
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    email_verified_at: Option<DateTime<Utc>>,
}

impl UserRow {
    pub(crate) fn user(self) -> QueryResult<User> {
        Ok(User {
            id: self.id,
            email: self.email,
            name: self.name,
            role: known("role", &self.role, |s| s.parse().ok())?,
            disabled: self.disabled_at.is_some(),
            email_verified: self.email_verified_at.is_some(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn credentials(self) -> QueryResult<UserCredentials> {
        let password_hash = self.password_hash.clone();
        Ok(UserCredentials { user: self.user()?, password_hash })
    }
}

/// The account fields an update changes (the others stay).
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
struct UserChanges<'a> {
    name: Option<&'a str>,
    role: Option<&'a str>,
    disabled_at: Option<Option<DateTime<Utc>>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = addresses, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AddressRow {
    id: Uuid,
    label: Option<String>,
    full_name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
    phone: Option<String>,
    is_default_shipping: bool,
    is_default_billing: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AddressRow> for Address {
    fn from(r: AddressRow) -> Self {
        Address {
            id: r.id,
            label: r.label,
            full_name: r.full_name,
            line1: r.line1,
            line2: r.line2,
            city: r.city,
            region: r.region,
            postal_code: r.postal_code,
            country: r.country,
            phone: r.phone,
            is_default_shipping: r.is_default_shipping,
            is_default_billing: r.is_default_billing,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(AsChangeset, Insertable)]
#[diesel(table_name = addresses, treat_none_as_null = true)]
struct AddressValues<'a> {
    label: Option<&'a str>,
    full_name: &'a str,
    line1: &'a str,
    line2: Option<&'a str>,
    city: &'a str,
    region: Option<&'a str>,
    postal_code: &'a str,
    country: &'a str,
    phone: Option<&'a str>,
    is_default_shipping: bool,
    is_default_billing: bool,
}

impl<'a> From<&'a AddressInput> for AddressValues<'a> {
    fn from(a: &'a AddressInput) -> Self {
        AddressValues {
            label: a.label.as_deref(),
            full_name: a.full_name.trim(),
            line1: a.line1.trim(),
            line2: a.line2.as_deref(),
            city: a.city.trim(),
            region: a.region.as_deref(),
            postal_code: a.postal_code.trim(),
            country: &a.country,
            phone: a.phone.as_deref(),
            is_default_shipping: a.is_default_shipping,
            is_default_billing: a.is_default_billing,
        }
    }
}

/// Escapes LIKE wildcards so user input matches literally.
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

pub struct PgUserRepo {
    db: Db,
}

impl PgUserRepo {
    pub fn new(db: Db) -> Self {
        PgUserRepo { db }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    async fn update(&self, id: Uuid, changes: UserChanges<'_>) -> Result<User, RepoError> {
        let mut conn = self.db.conn().await?;
        let row: Option<UserRow> = diesel::update(users::table.find(id))
            .set(&changes)
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .storage()?;
        row.map(UserRow::user).transpose().storage()?.ok_or(RepoError::NotFound)
    }
}

/// Clears the other default flags of a user when `values` sets one (the partial unique indexes
/// would otherwise refuse the write).
async fn clear_other_defaults(
    conn: &mut diesel_async::AsyncPgConnection,
    user: Uuid,
    except: Option<Uuid>,
    values: &AddressValues<'_>,
) -> QueryResult<()> {
    let others = || {
        addresses::table.filter(addresses::user_id.eq(user)).filter(addresses::id.nullable().is_distinct_from(except))
    };
    if values.is_default_shipping {
        diesel::update(others().filter(addresses::is_default_shipping))
            .set(addresses::is_default_shipping.eq(false))
            .execute(conn)
            .await?;
    }
    if values.is_default_billing {
        diesel::update(others().filter(addresses::is_default_billing))
            .set(addresses::is_default_billing.eq(false))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl UserRepo for PgUserRepo {
    async fn create(&self, u: NewUser) -> Result<User, RepoError> {
        let mut conn = self.db.conn().await?;
        let user: Result<User, diesel::result::Error> = conn
            .transaction(async |conn| {
                let row: UserRow = diesel::insert_into(users::table)
                    .values((
                        users::id.eq(u.id),
                        users::email.eq(&u.email),
                        users::password_hash.eq(&u.password_hash),
                        users::name.eq(&u.name),
                        users::role.eq(u.role.as_str()),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                let user = row.user()?;
                crate::outbox::enqueue(conn, &[::users::events::registered(&user)]).await?;
                if let Some(t) = &u.verification {
                    crate::accounts::store_token(conn, t).await?;
                    crate::outbox::enqueue(conn, &[::users::events::token_requested(t)]).await?;
                }
                Ok(user)
            })
            .await;
        user.map_err(|e| if is_unique_violation(&e) { RepoError::EmailTaken } else { crate::error::storage(e).into() })
    }

    async fn credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>, RepoError> {
        let mut conn = self.db.conn().await?;
        let row: Option<UserRow> = users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(row.map(UserRow::credentials).transpose().storage()?)
    }

    async fn credentials_by_id(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError> {
        let mut conn = self.db.conn().await?;
        let row: Option<UserRow> =
            users::table.find(id).select(UserRow::as_select()).first(&mut conn).await.optional().storage()?;
        Ok(row.map(UserRow::credentials).transpose().storage()?)
    }

    async fn get(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        Ok(self.credentials_by_id(id).await?.map(|c| c.user))
    }

    async fn update_name(&self, id: Uuid, name: &str) -> Result<User, RepoError> {
        self.update(id, UserChanges { name: Some(name), ..Default::default() }).await
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), RepoError> {
        let mut conn = self.db.conn().await?;
        let n: usize = conn
            .transaction(async |conn| {
                let n = diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(conn).await?;
                if n > 0 {
                    crate::outbox::enqueue(conn, &[::users::events::password_changed(id)]).await?;
                }
                Ok::<_, diesel::result::Error>(n)
            })
            .await
            .storage()?;
        if n == 0 { Err(RepoError::NotFound) } else { Ok(()) }
    }

    async fn set_role(&self, id: Uuid, role: Role) -> Result<User, RepoError> {
        self.update(id, UserChanges { role: Some(role.as_str()), ..Default::default() }).await
    }

    async fn set_disabled(&self, id: Uuid, disabled: bool) -> Result<User, RepoError> {
        self.update(id, UserChanges { disabled_at: Some(disabled.then(Utc::now)), ..Default::default() }).await
    }

    async fn list(&self, q: &UserListQuery) -> Result<Vec<User>, RepoError> {
        let mut conn = self.db.conn().await?;
        let mut query = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
            let pattern = like_pattern(text);
            query = query.filter(users::email.ilike(pattern.clone()).or(users::name.ilike(pattern)));
        }
        if let Some(role) = q.role {
            query = query.filter(users::role.eq(role.as_str()));
        }
        if let Some((primitives::CursorTime(ts), id)) = q.page.after {
            query = query.filter(users::created_at.lt(ts).or(users::created_at.eq(ts).and(users::id.lt(id))));
        }
        let rows: Vec<UserRow> = query
            .order((users::created_at.desc(), users::id.desc()))
            .limit(q.page.fetch())
            .load(&mut conn)
            .await
            .storage()?;
        rows.into_iter().map(UserRow::user).collect::<QueryResult<_>>().storage().map_err(Into::into)
    }

    async fn any_admin(&self) -> Result<bool, RepoError> {
        let mut conn = self.db.conn().await?;
        Ok(diesel::select(diesel::dsl::exists(users::table.filter(users::role.eq("admin"))))
            .get_result(&mut conn)
            .await
            .storage()?)
    }

    async fn list_addresses(&self, user: Uuid) -> Result<Vec<Address>, RepoError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<AddressRow> = addresses::table
            .filter(addresses::user_id.eq(user))
            .order((addresses::created_at, addresses::id))
            .select(AddressRow::as_select())
            .load(&mut conn)
            .await
            .storage()?;
        Ok(rows.into_iter().map(Address::from).collect())
    }

    async fn get_address(&self, user: Uuid, id: Uuid) -> Result<Option<Address>, RepoError> {
        let mut conn = self.db.conn().await?;
        let row: Option<AddressRow> = addresses::table
            .filter(addresses::user_id.eq(user))
            .filter(addresses::id.eq(id))
            .select(AddressRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(row.map(Address::from))
    }

    async fn create_address(&self, user: Uuid, input: &AddressInput, max: i64) -> Result<Address, RepoError> {
        let mut conn = self.db.conn().await?;
        let values = AddressValues::from(input);
        let result: Result<Result<AddressRow, RepoError>, diesel::result::Error> = conn
            .transaction(async |conn| {
                // Lock the owner so concurrent inserts cannot both pass the count.
                let owner: Option<Uuid> =
                    users::table.find(user).select(users::id).for_update().first(conn).await.optional()?;
                if owner.is_none() {
                    return Ok(Err(RepoError::NotFound));
                }
                let count: i64 = addresses::table.filter(addresses::user_id.eq(user)).count().get_result(conn).await?;
                if count >= max {
                    return Ok(Err(RepoError::AddressLimit));
                }
                clear_other_defaults(conn, user, None, &values).await?;
                let row = diesel::insert_into(addresses::table)
                    .values((addresses::id.eq(Uuid::now_v7()), addresses::user_id.eq(user), &values))
                    .returning(AddressRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Ok(row))
            })
            .await;
        result.storage()?.map(Address::from)
    }

    async fn update_address(&self, user: Uuid, id: Uuid, patch: &AddressPatch) -> Result<Address, RepoError> {
        let mut conn = self.db.conn().await?;
        let row: Option<AddressRow> = conn
            .transaction(async |conn| {
                // The owner's lock orders every address write of this user (as in create_address):
                // two edits making different addresses the default cannot both clear, then both set.
                let owner: Option<Uuid> =
                    users::table.find(user).select(users::id).for_update().first(conn).await.optional()?;
                if owner.is_none() {
                    return Ok(None);
                }
                let current: Option<AddressRow> = addresses::table
                    .filter(addresses::user_id.eq(user))
                    .filter(addresses::id.eq(id))
                    .select(AddressRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(current) = current else { return Ok(None) };
                let input = patch.apply(&Address::from(current));
                let values = AddressValues::from(&input);
                clear_other_defaults(conn, user, Some(id), &values).await?;
                diesel::update(addresses::table.find(id))
                    .set(&values)
                    .returning(AddressRow::as_returning())
                    .get_result(conn)
                    .await
                    .map(Some)
            })
            .await
            .storage()?;
        row.map(Address::from).ok_or(RepoError::NotFound)
    }

    async fn delete_address(&self, user: Uuid, id: Uuid) -> Result<(), RepoError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(addresses::table.filter(addresses::user_id.eq(user)).filter(addresses::id.eq(id)))
            .execute(&mut conn)
            .await
            .storage()?;
        if n == 0 { Err(RepoError::NotFound) } else { Ok(()) }
    }
}
