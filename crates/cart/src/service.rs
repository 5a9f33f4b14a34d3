use std::collections::HashMap;
use std::sync::Arc;

use primitives::secret::{hash_token, new_token};
use uuid::Uuid;

use chrono::Utc;
use primitives::Money;
use promotions::{Evaluation, PromotionService, normalise_code};

use crate::pricing::{apply_discounts, price_lines, promotion_lines, totals};
use crate::{
    AddLine, ApplyCode, CartCode, CartError, CartOwner, CartPromotion, CartRepo, CartView, LineSnapshot, PricedLine,
    SetQuantity, ShippingRepo,
};

/// Tax rates in basis points (1900 = 19 %) per ISO country code, with a default.
#[derive(Debug, Clone, Default)]
pub struct TaxRates {
    pub default_bp: i64,
    pub by_country: HashMap<String, i64>,
}

impl TaxRates {
    pub fn rate(&self, country: &str) -> i64 {
        self.by_country.get(country).copied().unwrap_or(self.default_bp)
    }
}

/// Who is asking: a signed-in user, or a guest with (or without yet) a cart token.
#[derive(Debug, Clone)]
pub enum Shopper {
    User(Uuid),
    Guest(Option<String>),
}

pub struct CartService {
    repo: Arc<dyn CartRepo>,
    shipping: Arc<dyn ShippingRepo>,
    promotions: Arc<PromotionService>,
    tax: TaxRates,
}

impl CartService {
    pub fn new(
        repo: Arc<dyn CartRepo>,
        shipping: Arc<dyn ShippingRepo>,
        promotions: Arc<PromotionService>,
        tax: TaxRates,
    ) -> Self {
        CartService { repo, shipping, promotions, tax }
    }

    pub fn tax_rate(&self, country: &str) -> i64 {
        self.tax.rate(country)
    }

    fn customer(shopper: &Shopper) -> Option<Uuid> {
        match shopper {
            Shopper::User(id) => Some(*id),
            Shopper::Guest(_) => None,
        }
    }

    fn owner(shopper: &Shopper) -> Option<CartOwner> {
        match shopper {
            Shopper::User(id) => Some(CartOwner::User(*id)),
            Shopper::Guest(Some(token)) => Some(CartOwner::Guest(hash_token(token))),
            Shopper::Guest(None) => None,
        }
    }

    /// Whose cart a write goes to, and the token of a guest cart the write will create (a guest
    /// with an unknown or expired token starts a new cart with a new token: tokens are never
    /// chosen by the client).
    async fn owner_for_write(&self, shopper: &Shopper) -> Result<(CartOwner, Option<String>), CartError> {
        match Self::owner(shopper) {
            Some(owner @ CartOwner::User(_)) => Ok((owner, None)),
            Some(owner) if self.repo.find(&owner).await?.is_some() => Ok((owner, None)),
            _ => {
                let token = new_token();
                Ok((CartOwner::Guest(hash_token(&token)), Some(token)))
            }
        }
    }

    /// The cart priced now; with a shipping method and country also shipping, tax and total.
    pub async fn view(&self, shopper: &Shopper, shipping: Option<(Uuid, &str)>) -> Result<CartView, CartError> {
        let cart = match Self::owner(shopper) {
            Some(owner) => self.repo.find(&owner).await?,
            None => None,
        };
        self.view_of(cart, None, shipping, Self::customer(shopper)).await
    }

    /// The promotions' decision for these lines and codes (nothing for an empty cart).
    async fn quote(
        &self,
        snapshots: &[LineSnapshot],
        shipping_minor: i64,
        customer: Option<Uuid>,
        codes: &[String],
    ) -> Result<Evaluation, CartError> {
        let Some(first) = snapshots.first() else {
            return Ok(Evaluation::default());
        };
        let lines = promotion_lines(snapshots);
        Ok(self.promotions.quote(&lines, first.currency, shipping_minor, customer, codes, Utc::now()).await?)
    }

    async fn view_of(
        &self,
        cart: Option<Uuid>,
        token: Option<String>,
        shipping: Option<(Uuid, &str)>,
        customer: Option<Uuid>,
    ) -> Result<CartView, CartError> {
        let (snapshots, codes) = match cart {
            Some(id) => (self.repo.lines(id).await?, self.repo.codes(id).await?),
            None => (Vec::new(), Vec::new()),
        };
        self.priced(snapshots, codes, token, shipping, customer).await
    }

    /// The view of these lines and codes, priced now.
    async fn priced(
        &self,
        snapshots: Vec<LineSnapshot>,
        codes: Vec<String>,
        token: Option<String>,
        shipping: Option<(Uuid, &str)>,
        customer: Option<Uuid>,
    ) -> Result<CartView, CartError> {
        let mut lines = price_lines(&snapshots);
        let currency = lines.first().map(|l| l.unit_price.currency);
        let method = match shipping {
            Some((id, country)) => {
                let m = self.shipping.get(id).await?.ok_or(CartError::Invalid {
                    field: "shipping_method",
                    message: "no such shipping method".into(),
                })?;
                if !m.ships_to(country) {
                    return Err(CartError::Invalid {
                        field: "country",
                        message: format!("{} does not ship to {country}", m.name),
                    });
                }
                Some((m, country))
            }
            None => None,
        };
        if let (Some(cur), Some((m, _))) = (currency, &method)
            && m.price.currency != cur
        {
            return Err(CartError::CurrencyMismatch(cur));
        }
        let shipping_minor = method.as_ref().map_or(0, |(m, _)| m.price.amount_minor);
        let evaluation = self.quote(&snapshots, shipping_minor, customer, &codes).await?;
        apply_discounts(&mut lines, &evaluation);
        let (subtotal, shipping_cost, discount, tax, total) = match (currency, &method) {
            (Some(_), Some((m, country))) => {
                let t = totals(&lines, m.price, evaluation.shipping_discount_minor, self.tax.rate(country))
                    .map_err(|e| CartError::Invalid { field: "shipping_method", message: e.to_string() })?;
                (Some(t.subtotal), Some(t.shipping), Some(t.discount), Some(t.tax), Some(t.total))
            }
            (Some(cur), None) => {
                let t = totals(&lines, Money::zero(cur), 0, 0)
                    .map_err(|e| CartError::Invalid { field: "lines", message: e.to_string() })?;
                (Some(t.subtotal), None, Some(t.discount), None, None)
            }
            (None, _) => (None, None, None, None, None),
        };
        let promotions = match currency {
            Some(cur) => evaluation
                .applied
                .iter()
                .map(|a| CartPromotion {
                    promotion_id: a.promotion_id,
                    name: a.name.clone(),
                    code: a.code.clone(),
                    amount: Money::new(a.amount_minor, cur),
                    shipping: Money::new(a.shipping_minor, cur),
                })
                .collect(),
            None => Vec::new(),
        };
        let codes = codes
            .iter()
            .map(|code| {
                let refused = evaluation.refused.iter().find(|(c, _)| c == code).map(|(_, why)| *why);
                let applied = evaluation.applied.iter().any(|a| a.code.as_deref() == Some(code.as_str()));
                // An empty cart has nothing to apply a code to.
                let refused = refused.or((!applied).then_some(promotions::Refusal::NotApplicable));
                CartCode { code: code.clone(), applied, refused }
            })
            .collect();
        Ok(CartView {
            cart_token: token,
            currency,
            item_count: lines.iter().map(|l| l.quantity).sum(),
            checkout_ready: !lines.is_empty() && lines.iter().all(|l: &PricedLine| l.issue.is_none()),
            lines,
            subtotal,
            shipping: shipping_cost,
            discount,
            tax,
            total,
            promotions,
            codes,
        })
    }

    /// Enters a promotion code on the caller's cart, when it applies to the cart as it is:
    /// otherwise the refusal says why (unknown, not yet valid, expired, not applicable, limit
    /// reached, not combinable) and nothing is written. Entering a code twice is a no-op.
    pub async fn apply_code(&self, shopper: &Shopper, body: ApplyCode) -> Result<CartView, CartError> {
        let code =
            normalise_code(&body.code).map_err(|e| CartError::Invalid { field: "code", message: e.to_string() })?;
        let cart = self.existing_cart(shopper).await?;
        let customer = Self::customer(shopper);
        let mut codes = self.repo.codes(cart).await?;
        if !codes.contains(&code) {
            codes.push(code.clone());
            let evaluation = self.quote(&self.repo.lines(cart).await?, 0, customer, &codes).await?;
            let applied = evaluation.applied.iter().any(|a| a.code.as_deref() == Some(code.as_str()));
            if !applied {
                let refusal = evaluation
                    .refused
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map_or(promotions::Refusal::NotApplicable, |(_, why)| *why);
                return Err(CartError::PromotionRefused { code, refusal });
            }
            self.repo.add_code(cart, &code).await?;
        }
        self.view_of(Some(cart), None, None, customer).await
    }

    /// Takes a code off the caller's cart; a code the cart does not hold is 404.
    pub async fn remove_code(&self, shopper: &Shopper, code: &str) -> Result<CartView, CartError> {
        let code = normalise_code(code).map_err(|_| CartError::NotFound)?;
        let cart = self.existing_cart(shopper).await?;
        if !self.repo.remove_code(cart, &code).await? {
            return Err(CartError::NotFound);
        }
        self.view_of(Some(cart), None, None, Self::customer(shopper)).await
    }

    pub async fn add(&self, shopper: &Shopper, line: AddLine) -> Result<CartView, CartError> {
        let (owner, token) = self.owner_for_write(shopper).await?;
        // The answer is the cart as the add's own transaction left it: no second read.
        let cart = self.repo.add_line(&owner, line.variant_id, line.quantity).await?;
        self.priced(cart.lines, cart.codes, token, None, Self::customer(shopper)).await
    }

    async fn existing_cart(&self, shopper: &Shopper) -> Result<Uuid, CartError> {
        let owner = Self::owner(shopper).ok_or(CartError::NotFound)?;
        self.repo.find(&owner).await?.ok_or(CartError::NotFound)
    }

    pub async fn set_quantity(&self, shopper: &Shopper, variant: Uuid, q: SetQuantity) -> Result<CartView, CartError> {
        let cart = self.existing_cart(shopper).await?;
        self.repo.set_line(cart, variant, q.quantity).await?;
        self.view_of(Some(cart), None, None, Self::customer(shopper)).await
    }

    pub async fn remove(&self, shopper: &Shopper, variant: Uuid) -> Result<CartView, CartError> {
        let cart = self.existing_cart(shopper).await?;
        self.repo.remove(cart, variant).await?;
        self.view_of(Some(cart), None, None, Self::customer(shopper)).await
    }

    pub async fn clear(&self, shopper: &Shopper) -> Result<(), CartError> {
        match self.existing_cart(shopper).await {
            Ok(cart) => self.repo.clear(cart).await,
            Err(CartError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves a guest cart into the user's cart (at login or later). An unknown token is ignored;
    /// a merge the cart rules refuse (two currencies, more than [`crate::MAX_LINES`] lines)
    /// changes neither cart.
    pub async fn merge_guest(&self, user: Uuid, guest_token: &str) -> Result<(), CartError> {
        let Some(guest) = self.repo.find(&CartOwner::Guest(hash_token(guest_token))).await? else {
            return Ok(());
        };
        self.repo.merge(guest, &CartOwner::User(user)).await
    }

    /// Deletes guest carts untouched for `older_than_secs` (abandoned); returns how many.
    pub async fn purge_abandoned(&self, older_than_secs: i64) -> Result<u64, CartError> {
        self.repo.purge_guest_carts(older_than_secs).await
    }
}
