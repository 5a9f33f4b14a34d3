//! Adapter for `accounts::PersonalData`: the export reads one snapshot (a read-only
//! repeatable-read transaction); the erasure is one transaction under the user's row lock, so a
//! request of the person racing it either finishes before or finds the account gone.

use ::users::{Address, Role, events};
use accounts::{AccountError, AccountExport, Erased, PersonalData, SessionRecord};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::PgUserRepo;
use crate::error::OrStorage;
use crate::identity::{AddressRow, UserRow};
use crate::rows::known;
use crate::schema::{
    account_tokens, addresses, carts, customer_group_members, idempotency_keys, orders, refresh_tokens as rt, users,
};

/// No password verifies against this: it is not a PHC string.
const NO_PASSWORD: &str = "!erased";

#[async_trait::async_trait]
impl PersonalData for PgUserRepo {
    async fn export(&self, user: Uuid) -> Result<Option<AccountExport>, AccountError> {
        let mut conn = self.db().conn().await?;
        let export = conn
            .build_transaction()
            .read_only()
            .repeatable_read()
            .run(async |conn| {
                let row: Option<UserRow> = users::table
                    .find(user)
                    .filter(users::erased_at.is_null())
                    .select(UserRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Ok(None) };
                let addresses: Vec<AddressRow> = addresses::table
                    .filter(addresses::user_id.eq(user))
                    .order((addresses::created_at, addresses::id))
                    .select(AddressRow::as_select())
                    .load(conn)
                    .await?;
                type SessionRow = (Uuid, Option<String>, DateTime<Utc>, DateTime<Utc>, bool);
                let sessions: Vec<SessionRow> = rt::table
                    .filter(rt::user_id.eq(user))
                    .group_by(rt::family_id)
                    .select((
                        rt::family_id,
                        diesel::dsl::max(rt::device),
                        diesel::dsl::min(rt::created_at).assume_not_null(),
                        diesel::dsl::max(rt::created_at).assume_not_null(),
                        diesel::dsl::sql::<diesel::sql_types::Bool>(
                            "bool_and(refresh_tokens.revoked_at IS NULL) AND max(refresh_tokens.expires_at) > now()",
                        ),
                    ))
                    .order(diesel::dsl::min(rt::created_at).desc())
                    .load(conn)
                    .await?;
                Ok::<_, diesel::result::Error>(Some(AccountExport {
                    exported_at: Utc::now(),
                    profile: row.user()?,
                    addresses: addresses.into_iter().map(Address::from).collect(),
                    orders: crate::ordering::orders_of(conn, user).await?,
                    reviews: crate::reviewing::reviews_of(conn, user).await?,
                    sessions: sessions
                        .into_iter()
                        .map(|(id, device, created_at, last_used_at, active)| SessionRecord {
                            id,
                            device,
                            created_at,
                            last_used_at,
                            active,
                        })
                        .collect(),
                    consents: Vec::new(),
                }))
            })
            .await
            .storage()?;
        Ok(export)
    }

    async fn erase(&self, user: Uuid, actor: Uuid, keep_reviews: bool) -> Result<Option<Erased>, AccountError> {
        let mut conn = self.db().conn().await?;
        let erased = conn
            .transaction(async |conn| {
                let found: Option<Option<DateTime<Utc>>> =
                    users::table.find(user).select(users::erased_at).for_update().first(conn).await.optional()?;
                if !matches!(found, Some(None)) {
                    return Ok(None);
                }
                let now = Utc::now();
                diesel::update(users::table.find(user))
                    .set((
                        users::email.eq(accounts::erased_email(user)),
                        users::name.eq(accounts::ERASED_NAME),
                        users::password_hash.eq(NO_PASSWORD),
                        users::email_verified_at.eq(None::<DateTime<Utc>>),
                        users::disabled_at.eq(now),
                        users::erased_at.eq(now),
                        users::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                let mut sessions: Vec<Uuid> = diesel::delete(rt::table.filter(rt::user_id.eq(user)))
                    .returning(rt::family_id)
                    .get_results(conn)
                    .await?;
                sessions.sort_unstable();
                sessions.dedup();
                diesel::delete(addresses::table.filter(addresses::user_id.eq(user))).execute(conn).await?;
                diesel::delete(carts::table.filter(carts::user_id.eq(user))).execute(conn).await?;
                diesel::delete(account_tokens::table.filter(account_tokens::user_id.eq(user))).execute(conn).await?;
                // Group memberships say something about the person; redemptions stay with the
                // (anonymised) orders, for the promotions' usage counts.
                diesel::delete(customer_group_members::table.filter(customer_group_members::user_id.eq(user)))
                    .execute(conn)
                    .await?;
                // Recorded checkout answers hold whole orders, addresses included.
                diesel::delete(idempotency_keys::table.filter(idempotency_keys::user_id.eq(user)))
                    .execute(conn)
                    .await?;
                let placed: Vec<(Uuid, Value)> = orders::table
                    .filter(orders::user_id.eq(user))
                    .select((orders::id, orders::shipping_address))
                    .for_update()
                    .load(conn)
                    .await?;
                for (id, address) in placed {
                    diesel::update(orders::table.find(id))
                        .set(orders::shipping_address.eq(accounts::anonymised_address(&address)))
                        .execute(conn)
                        .await?;
                }
                let products =
                    if keep_reviews { Vec::new() } else { crate::reviewing::remove_reviews_of(conn, user).await? };
                // Account events that named addresses (email change and its notice) keep no copy.
                diesel::sql_query(
                    "UPDATE outbox SET payload = payload - 'old_email' - 'new_email' \
                     WHERE aggregate_id = $1 AND (payload ? 'old_email' OR payload ? 'new_email')",
                )
                .bind::<SqlUuid, _>(user)
                .execute(conn)
                .await?;
                crate::outbox::enqueue(conn, &[events::erased(user, actor)]).await?;
                Ok::<_, diesel::result::Error>(Some(Erased { sessions, products }))
            })
            .await
            .storage()?;
        Ok(erased)
    }

    async fn role(&self, user: Uuid) -> Result<Option<Role>, AccountError> {
        let mut conn = self.db().conn().await?;
        let role: Option<String> = users::table
            .find(user)
            .filter(users::erased_at.is_null())
            .select(users::role)
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(role.map(|r| known("role", &r, |s| s.parse().ok())).transpose().storage()?)
    }
}
