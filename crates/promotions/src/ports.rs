//! What the promotions domain needs from storage.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use primitives::{Money, PageRequest, StorageError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::{Customer, Usage};
use crate::model::{InvalidInput, Promotion, PromotionStatus};

#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("the code is used by another promotion")]
    CodeTaken,
    #[error("a customer group has this name")]
    GroupNameTaken,
    #[error("no such promotion, group or user")]
    NotFound,
    /// `conditions.customer_group` names no group.
    #[error("no such customer group")]
    UnknownGroup,
    /// A promotion that is not archived names the group.
    #[error("a promotion uses this customer group")]
    GroupInUse,
    /// Archived promotions are kept as they were, for their usage report.
    #[error("the promotion is archived")]
    Archived,
    /// A new `usage_limit` below the redemptions already counted.
    #[error("the usage limit is below the {redemptions} redemptions counted")]
    LimitBelowUsage { redemptions: i64 },
    /// A redemption would pass the promotion's total or per-customer limit.
    #[error("the promotion's usage limit is reached")]
    LimitReached { promotion_id: Uuid },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One promotion applied to one placed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redemption {
    pub promotion_id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerGroup {
    pub id: Uuid,
    pub name: String,
    pub members: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMember {
    pub user_id: Uuid,
    pub email: String,
    pub added_at: DateTime<Utc>,
}

/// Code-based or automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    Code,
    Automatic,
}

/// Filters of the admin list; newest first, keyed by id (ids are time-ordered).
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    pub status: Option<PromotionStatus>,
    pub kind: Option<PromotionKind>,
    /// Case-insensitive substring of the name or code.
    pub q: Option<String>,
    pub page: PageRequest<Uuid>,
}

/// What a promotion did so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub promotion_id: Uuid,
    /// Live redemptions: orders placed with it and neither cancelled nor failed.
    pub redemptions: i64,
    /// Redemptions given back (the order was cancelled or its payment failed).
    pub released: i64,
    /// Distinct customers with a live redemption.
    pub customers: i64,
    /// What the live redemptions took off, per currency (currency order).
    pub discount_totals: Vec<Money>,
    /// The newest live redemptions' orders, at most 20.
    pub recent_orders: Vec<Uuid>,
}

#[async_trait::async_trait]
pub trait PromotionRepo: Send + Sync {
    /// Stores a new promotion (`CodeTaken` when another has its code, `UnknownGroup` when its
    /// group condition names none).
    async fn create(&self, promotion: &Promotion) -> Result<Promotion, PromotionError>;
    /// Replaces a promotion's definition (not its id or redemptions), under its row lock:
    /// `Archived` when it is archived, `LimitBelowUsage` when the new total limit is below
    /// the live redemptions.
    async fn replace(&self, promotion: &Promotion) -> Result<Promotion, PromotionError>;
    async fn get(&self, id: Uuid) -> Result<Option<Promotion>, PromotionError>;
    /// Up to `f.page.fetch()` promotions after the page's key, newest first.
    async fn list(&self, f: &PromotionFilter) -> Result<Vec<Promotion>, PromotionError>;
    async fn set_status(&self, id: Uuid, status: PromotionStatus) -> Result<Option<Promotion>, PromotionError>;
    async fn report(&self, id: Uuid) -> Result<Option<UsageReport>, PromotionError>;
    /// What [`crate::evaluate`] needs: the active automatic promotions, and the promotions of
    /// these codes whatever their status (so a refusal can say why).
    async fn candidates(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError>;
    /// The active automatic promotions only.
    async fn automatic(&self) -> Result<Vec<Promotion>, PromotionError>;
    /// The promotions of these codes, whatever their status.
    async fn by_codes(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError>;
    /// Live redemptions of these promotions, in all and by `customer`.
    async fn usage(&self, ids: &[Uuid], customer: Option<Uuid>) -> Result<HashMap<Uuid, Usage>, PromotionError>;
    /// The customer's groups and the orders that count for `first_order_only`.
    async fn customer(&self, user: Uuid) -> Result<Customer, PromotionError>;
    /// Counts the redemptions, all or none: `LimitReached` when one would pass its promotion's
    /// total or per-customer limit, decided under a lock so that concurrent redemptions of the
    /// last use cannot both pass. Checkout runs the same statements inside its transaction.
    async fn redeem(&self, redemptions: &[Redemption]) -> Result<(), PromotionError>;
    /// Releases the order's live redemptions (cancelled, payment failed); how many.
    async fn release(&self, order_id: Uuid) -> Result<u64, PromotionError>;
}

#[async_trait::async_trait]
pub trait GroupRepo: Send + Sync {
    async fn create_group(&self, name: &str) -> Result<CustomerGroup, PromotionError>;
    /// Up to `page.fetch()` groups by name after the page's key.
    async fn list_groups(&self, page: &PageRequest<String>) -> Result<Vec<CustomerGroup>, PromotionError>;
    async fn rename_group(&self, id: Uuid, name: &str) -> Result<Option<CustomerGroup>, PromotionError>;
    /// Deletes a group and its memberships: `GroupInUse` while a promotion that is not archived
    /// names it (checked under the group's row lock, which a promotion's write takes too).
    async fn delete_group(&self, id: Uuid) -> Result<bool, PromotionError>;
    /// Up to `page.fetch()` members by user id after the page's key; `None` for no such group.
    async fn members(
        &self,
        group_id: Uuid,
        page: &PageRequest<Uuid>,
    ) -> Result<Option<Vec<GroupMember>>, PromotionError>;
    /// Adds a member (already one: no change) and returns the membership; `NotFound` for an
    /// unknown group or user.
    async fn add_member(&self, group_id: Uuid, user_id: Uuid) -> Result<GroupMember, PromotionError>;
    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, PromotionError>;
    /// The groups a user belongs to (for the `customer_group` condition).
    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, PromotionError>;
}
