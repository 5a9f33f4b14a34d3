//! Adapter for `auth::SessionRepo`: refresh-token families.

use ::users::RepoError;
use auth::{NewSession, Rotation, SessionRepo, SessionState};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::Db;
use crate::error::OrStorage;
use crate::rows::known;
use crate::schema::{refresh_tokens as rt, users};

pub struct PgSessionRepo {
    db: Db,
}

impl PgSessionRepo {
    pub fn new(db: Db) -> Self {
        PgSessionRepo { db }
    }
}

#[async_trait::async_trait]
impl SessionRepo for PgSessionRepo {
    async fn create(&self, s: NewSession) -> Result<(), RepoError> {
        let mut conn = self.db.conn().await?;
        diesel::insert_into(rt::table)
            .values((
                rt::id.eq(Uuid::now_v7()),
                rt::user_id.eq(s.user_id),
                rt::family_id.eq(s.family_id),
                rt::token_hash.eq(&s.token_hash),
                rt::expires_at.eq(s.expires_at),
                rt::device.eq(&s.device),
            ))
            .execute(&mut conn)
            .await
            .storage()?;
        Ok(())
    }

    async fn rotate(
        &self,
        presented: &[u8],
        successor: &[u8],
        successor_expires_at: DateTime<Utc>,
    ) -> Result<Rotation, RepoError> {
        let mut conn = self.db.conn().await?;
        conn.transaction(async |conn| {
            type Row = (Uuid, Uuid, DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);
            let row: Option<Row> = rt::table
                .filter(rt::token_hash.eq(presented))
                .select((rt::user_id, rt::family_id, rt::expires_at, rt::used_at, rt::revoked_at, rt::device))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some((user_id, family_id, expires_at, used_at, revoked_at, device)) = row else {
                return Ok(Rotation::Invalid);
            };
            let now = Utc::now();
            if revoked_at.is_some() {
                return Ok(Rotation::Invalid);
            }
            if used_at.is_some() {
                diesel::update(rt::table.filter(rt::family_id.eq(family_id)).filter(rt::revoked_at.is_null()))
                    .set(rt::revoked_at.eq(now))
                    .execute(conn)
                    .await?;
                return Ok(Rotation::Reused { user_id, family_id });
            }
            if expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            diesel::update(rt::table.filter(rt::token_hash.eq(presented)))
                .set(rt::used_at.eq(now))
                .execute(conn)
                .await?;
            diesel::insert_into(rt::table)
                .values((
                    rt::id.eq(Uuid::now_v7()),
                    rt::user_id.eq(user_id),
                    rt::family_id.eq(family_id),
                    rt::token_hash.eq(successor),
                    rt::expires_at.eq(successor_expires_at),
                    rt::device.eq(&device),
                ))
                .execute(conn)
                .await?;
            Ok(Rotation::Rotated { user_id, family_id })
        })
        .await
        .map_err(|e: diesel::result::Error| crate::error::storage(e).into())
    }

    async fn revoke_family(&self, user_id: Uuid, family_id: Uuid) -> Result<(), RepoError> {
        let mut conn = self.db.conn().await?;
        diesel::update(
            rt::table
                .filter(rt::user_id.eq(user_id))
                .filter(rt::family_id.eq(family_id))
                .filter(rt::revoked_at.is_null()),
        )
        .set(rt::revoked_at.eq(Utc::now()))
        .execute(&mut conn)
        .await
        .storage()?;
        Ok(())
    }

    async fn revoke_all(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<Vec<Uuid>, RepoError> {
        let mut conn = self.db.conn().await?;
        let mut families: Vec<Uuid> = diesel::update(
            rt::table
                .filter(rt::user_id.eq(user_id))
                .filter(rt::revoked_at.is_null())
                .filter(rt::family_id.nullable().is_distinct_from(keep)),
        )
        .set(rt::revoked_at.eq(Utc::now()))
        .returning(rt::family_id)
        .get_results(&mut conn)
        .await
        .storage()?;
        families.sort_unstable();
        families.dedup();
        Ok(families)
    }

    async fn state(&self, family_id: Uuid) -> Result<Option<SessionState>, RepoError> {
        let mut conn = self.db.conn().await?;
        // A family is live while one of its tokens is not revoked; that row sorts first.
        let row: Option<(Uuid, String, bool, bool)> = rt::table
            .inner_join(users::table)
            .filter(rt::family_id.eq(family_id))
            .select((users::id, users::role, users::disabled_at.is_null(), rt::revoked_at.is_null()))
            .order(rt::revoked_at.desc().nulls_first())
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        let state = row.map(|(user_id, role, enabled, unrevoked)| {
            Ok(SessionState { user_id, role: known("role", &role, |s| s.parse().ok())?, live: enabled && unrevoked })
        });
        Ok(state.transpose().storage()?)
    }

    async fn live_families(&self, user_id: Uuid) -> Result<Vec<Uuid>, RepoError> {
        let mut conn = self.db.conn().await?;
        Ok(rt::table
            .filter(rt::user_id.eq(user_id))
            .filter(rt::revoked_at.is_null())
            .select(rt::family_id)
            .distinct()
            .load(&mut conn)
            .await
            .storage()?)
    }
}
