//! Adapter for `users::AccountTokens`: account tokens, each redeemed in the transaction of the
//! change it authorises (single use under any concurrency: the UPDATE that marks it used only
//! matches an unused, unexpired token).

use ::users::tokens::{AccountTokens, IssuedToken, TokenOwner, TokenPurpose};
use ::users::{RepoError, events};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use outbox::NewEvent;
use uuid::Uuid;

use crate::error::OrStorage;
use crate::schema::{account_tokens as at, refresh_tokens as rt, users};
use crate::{PgUserRepo, is_unique_violation};

/// Marks a live token of `purpose` used; its owner and the address it carries.
async fn redeem(
    conn: &mut AsyncPgConnection,
    purpose: TokenPurpose,
    hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(Uuid, Option<String>)>> {
    diesel::update(
        at::table
            .filter(at::token_hash.eq(hash))
            .filter(at::purpose.eq(purpose.as_str()))
            .filter(at::used_at.is_null())
            .filter(at::expires_at.gt(now)),
    )
    .set(at::used_at.eq(now))
    .returning((at::user_id, at::new_email))
    .get_result(conn)
    .await
    .optional()
}

/// Stores a token, replacing the user's previous one of that purpose (one live token per user
/// and purpose: only the latest link works).
pub(crate) async fn store_token(conn: &mut AsyncPgConnection, t: &IssuedToken) -> QueryResult<()> {
    diesel::insert_into(at::table)
        .values((
            at::id.eq(Uuid::now_v7()),
            at::user_id.eq(t.user_id),
            at::purpose.eq(t.purpose.as_str()),
            at::token_hash.eq(&t.hash),
            at::new_email.eq(&t.new_email),
            at::expires_at.eq(t.expires_at),
        ))
        .on_conflict((at::user_id, at::purpose))
        .do_update()
        .set((
            at::id.eq(excluded(at::id)),
            at::token_hash.eq(excluded(at::token_hash)),
            at::new_email.eq(excluded(at::new_email)),
            at::expires_at.eq(excluded(at::expires_at)),
            at::used_at.eq(None::<DateTime<Utc>>),
            at::created_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn enqueue(conn: &mut AsyncPgConnection, event: NewEvent) -> QueryResult<()> {
    crate::outbox::enqueue(conn, &[event]).await
}

#[async_trait::async_trait]
impl AccountTokens for PgUserRepo {
    async fn issue(&self, t: &IssuedToken, event: NewEvent) -> Result<(), RepoError> {
        let mut conn = self.db().conn().await?;
        conn.transaction(async |conn| {
            store_token(conn, t).await?;
            enqueue(conn, event).await
        })
        .await
        .storage()?;
        Ok(())
    }

    async fn owner(
        &self,
        purpose: TokenPurpose,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, RepoError> {
        let mut conn = self.db().conn().await?;
        let row: Option<(Uuid, String)> = at::table
            .inner_join(users::table)
            .filter(at::token_hash.eq(hash))
            .filter(at::purpose.eq(purpose.as_str()))
            .filter(at::used_at.is_null())
            .filter(at::expires_at.gt(now))
            .filter(users::erased_at.is_null())
            .select((users::id, users::email))
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(row.map(|(user_id, email)| TokenOwner { user_id, email }))
    }

    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Uuid>)>, RepoError> {
        let mut conn = self.db().conn().await?;
        let done: Option<(Uuid, Vec<Uuid>)> = conn
            .transaction(async |conn| {
                let Some((user_id, _)) = redeem(conn, TokenPurpose::PasswordReset, hash, now).await? else {
                    return Ok(None);
                };
                diesel::update(users::table.find(user_id))
                    .set(users::password_hash.eq(password_hash))
                    .execute(conn)
                    .await?;
                // The link reached the inbox: the address is proven too.
                diesel::update(users::table.find(user_id).filter(users::email_verified_at.is_null()))
                    .set(users::email_verified_at.eq(now))
                    .execute(conn)
                    .await?;
                // Every session ends: whoever knew the old password is signed out.
                let mut families: Vec<Uuid> =
                    diesel::update(rt::table.filter(rt::user_id.eq(user_id)).filter(rt::revoked_at.is_null()))
                        .set(rt::revoked_at.eq(now))
                        .returning(rt::family_id)
                        .get_results(conn)
                        .await?;
                families.sort_unstable();
                families.dedup();
                enqueue(conn, events::password_changed(user_id)).await?;
                Ok::<_, diesel::result::Error>(Some((user_id, families)))
            })
            .await
            .storage()?;
        Ok(done)
    }

    async fn verify_email(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<Uuid>, RepoError> {
        let mut conn = self.db().conn().await?;
        let user = conn
            .transaction(async |conn| {
                let Some((user_id, _)) = redeem(conn, TokenPurpose::EmailVerification, hash, now).await? else {
                    return Ok(None);
                };
                diesel::update(users::table.find(user_id)).set(users::email_verified_at.eq(now)).execute(conn).await?;
                enqueue(conn, events::email_verified(user_id)).await?;
                Ok::<_, diesel::result::Error>(Some(user_id))
            })
            .await
            .storage()?;
        Ok(user)
    }

    async fn change_email(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<Uuid>, RepoError> {
        let mut conn = self.db().conn().await?;
        let result: Result<Option<Uuid>, diesel::result::Error> = conn
            .transaction(async |conn| {
                let Some((user_id, Some(new_email))) = redeem(conn, TokenPurpose::EmailChange, hash, now).await? else {
                    return Ok(None);
                };
                let old_email: String =
                    users::table.find(user_id).select(users::email).for_update().first(conn).await?;
                // The unique index decides between two accounts claiming one address at once:
                // the second update fails and its transaction (token included) rolls back.
                diesel::update(users::table.find(user_id))
                    .set((users::email.eq(&new_email), users::email_verified_at.eq(now)))
                    .execute(conn)
                    .await?;
                enqueue(conn, events::email_changed(user_id, &old_email)).await?;
                Ok(Some(user_id))
            })
            .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(RepoError::EmailTaken),
            other => Ok(other.storage()?),
        }
    }
}
