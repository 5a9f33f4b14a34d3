//! The promotions service: admin operations over the ports, and the quote a cart shows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use primitives::{Currency, Page, PageRequest};
use uuid::Uuid;

use crate::engine::{CartLine, Customer, Evaluation, Shopper, evaluate, limited, needs_customer};
use crate::model::{InvalidInput, Promotion, PromotionInput, PromotionStatus};
use crate::ports::{
    CustomerGroup, GroupMember, GroupRepo, PromotionError, PromotionFilter, PromotionRepo, UsageReport,
};

pub struct PromotionService {
    repo: Arc<dyn PromotionRepo>,
    groups: Arc<dyn GroupRepo>,
    /// How long the cart view reuses the active automatic promotions it read (zero: never).
    automatic_ttl: Duration,
    automatic: Mutex<Option<(Instant, Arc<Vec<Promotion>>)>>,
}

/// A group name: trimmed, 1 to 100 characters, no control characters.
fn group_name(name: &str) -> Result<String, PromotionError> {
    let name = name.trim();
    if (1..=100).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(InvalidInput { field: "name", message: "must be 1 to 100 characters, no control characters".into() }.into())
    }
}

impl PromotionService {
    /// `automatic_ttl`: how long cart views reuse the list of active automatic promotions (every
    /// cart answer evaluates them; checkout always reads them from the database, under its
    /// transaction). This instance's own edits take effect at once; another instance's within
    /// the TTL.
    pub fn new(repo: Arc<dyn PromotionRepo>, groups: Arc<dyn GroupRepo>, automatic_ttl: Duration) -> Self {
        PromotionService { repo, groups, automatic_ttl, automatic: Mutex::new(None) }
    }

    fn forget_automatic(&self) {
        if let Ok(mut cached) = self.automatic.lock() {
            *cached = None;
        }
    }

    /// The active automatic promotions, from the copy read within the TTL when there is one.
    async fn automatic(&self) -> Result<Arc<Vec<Promotion>>, PromotionError> {
        if let Ok(cached) = self.automatic.lock()
            && let Some((at, list)) = cached.as_ref()
            && at.elapsed() < self.automatic_ttl
        {
            return Ok(list.clone());
        }
        let list = Arc::new(self.repo.automatic().await?);
        if !self.automatic_ttl.is_zero()
            && let Ok(mut cached) = self.automatic.lock()
        {
            *cached = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    pub async fn create(&self, input: PromotionInput) -> Result<Promotion, PromotionError> {
        let promotion = input.into_promotion(Uuid::now_v7())?;
        let created = self.repo.create(&promotion).await;
        self.forget_automatic();
        created
    }

    pub async fn replace(&self, id: Uuid, input: PromotionInput) -> Result<Promotion, PromotionError> {
        let promotion = input.into_promotion(id)?;
        let replaced = self.repo.replace(&promotion).await;
        self.forget_automatic();
        replaced
    }

    pub async fn get(&self, id: Uuid) -> Result<Promotion, PromotionError> {
        self.repo.get(id).await?.ok_or(PromotionError::NotFound)
    }

    pub async fn list(&self, filter: &PromotionFilter) -> Result<Page<Promotion>, PromotionError> {
        let rows = self.repo.list(filter).await?;
        Ok(Page::cut(rows, filter.page.limit, |p| p.id))
    }

    /// Archives a promotion: it stops applying at once and for good (its redemptions and
    /// report stay). Archiving an archived one changes nothing.
    pub async fn archive(&self, id: Uuid) -> Result<Promotion, PromotionError> {
        let archived = self.repo.set_status(id, PromotionStatus::Archived).await;
        self.forget_automatic();
        archived?.ok_or(PromotionError::NotFound)
    }

    pub async fn report(&self, id: Uuid) -> Result<UsageReport, PromotionError> {
        self.repo.report(id).await?.ok_or(PromotionError::NotFound)
    }

    pub async fn create_group(&self, name: &str) -> Result<CustomerGroup, PromotionError> {
        self.groups.create_group(&group_name(name)?).await
    }

    pub async fn list_groups(&self, page: &PageRequest<String>) -> Result<Page<CustomerGroup>, PromotionError> {
        let rows = self.groups.list_groups(page).await?;
        Ok(Page::cut(rows, page.limit, |g| g.name.clone()))
    }

    pub async fn rename_group(&self, id: Uuid, name: &str) -> Result<CustomerGroup, PromotionError> {
        self.groups.rename_group(id, &group_name(name)?).await?.ok_or(PromotionError::NotFound)
    }

    pub async fn delete_group(&self, id: Uuid) -> Result<(), PromotionError> {
        if self.groups.delete_group(id).await? { Ok(()) } else { Err(PromotionError::NotFound) }
    }

    pub async fn members(&self, id: Uuid, page: &PageRequest<Uuid>) -> Result<Page<GroupMember>, PromotionError> {
        let rows = self.groups.members(id, page).await?.ok_or(PromotionError::NotFound)?;
        Ok(Page::cut(rows, page.limit, |m| m.user_id))
    }

    pub async fn add_member(&self, group: Uuid, user: Uuid) -> Result<GroupMember, PromotionError> {
        self.groups.add_member(group, user).await
    }

    pub async fn remove_member(&self, group: Uuid, user: Uuid) -> Result<(), PromotionError> {
        if self.groups.remove_member(group, user).await? { Ok(()) } else { Err(PromotionError::NotFound) }
    }

    /// The discounts of a cart as it stands: loads the candidates, and the usage counts and the
    /// customer only when a candidate needs them, then [`evaluate`]s. Checkout decides again,
    /// under its locks, from the same function.
    pub async fn quote(
        &self,
        lines: &[CartLine],
        currency: Currency,
        shipping_minor: i64,
        customer: Option<Uuid>,
        codes: &[String],
        now: DateTime<Utc>,
    ) -> Result<Evaluation, PromotionError> {
        let mut candidates: Vec<Promotion> = self.automatic().await?.as_ref().clone();
        if !codes.is_empty() {
            candidates.extend(self.repo.by_codes(codes).await?);
        }
        let limited = limited(&candidates);
        let usage = if limited.is_empty() { HashMap::new() } else { self.repo.usage(&limited, customer).await? };
        let customer = match customer {
            Some(id) if needs_customer(&candidates) => Some(self.repo.customer(id).await?),
            Some(id) => Some(Customer { id, ..Customer::default() }),
            None => None,
        };
        let shopper = Shopper { customer, codes: codes.to_vec() };
        Ok(evaluate(&candidates, lines, currency, shipping_minor, &shopper, &usage, now))
    }
}
