//! What the promotions domain needs from storage.

use std::collections::HashMap;

use primitives::StorageError;
use uuid::Uuid;

use crate::engine::Usage;
use crate::model::{Promotion, PromotionStatus};

#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    #[error("the code is used by another promotion")]
    CodeTaken,
    #[error("a customer group has this name")]
    GroupNameTaken,
    #[error("no such promotion, group or user")]
    NotFound,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerGroup {
    pub id: Uuid,
    pub name: String,
}

#[async_trait::async_trait]
pub trait PromotionRepo: Send + Sync {
    /// Stores a new promotion (its code normalised; `CodeTaken` when another has it).
    async fn create(&self, promotion: &Promotion) -> Result<Promotion, PromotionError>;
    async fn get(&self, id: Uuid) -> Result<Option<Promotion>, PromotionError>;
    async fn set_status(&self, id: Uuid, status: PromotionStatus) -> Result<Option<Promotion>, PromotionError>;
    /// What [`crate::evaluate`] needs: the active automatic promotions, and the promotions of
    /// these codes whatever their status (so a refusal can say why).
    async fn candidates(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError>;
    /// Live redemptions of these promotions, in all and by `customer`.
    async fn usage(&self, ids: &[Uuid], customer: Option<Uuid>) -> Result<HashMap<Uuid, Usage>, PromotionError>;
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
    /// Adds a member (already one: no change); `NotFound` for an unknown group or user.
    async fn add_member(&self, group_id: Uuid, user_id: Uuid) -> Result<(), PromotionError>;
    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, PromotionError>;
    /// The groups a user belongs to (for the `customer_group` condition).
    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, PromotionError>;
}
