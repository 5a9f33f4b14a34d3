use std::collections::HashMap;
use std::sync::Arc;

use primitives::secret::{hash_token, new_token};
use uuid::Uuid;

use crate::pricing::{price_lines, totals};
use crate::{AddLine, CartError, CartOwner, CartRepo, CartView, PricedLine, SetQuantity, ShippingRepo};

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
    tax: TaxRates,
}

impl CartService {
    pub fn new(repo: Arc<dyn CartRepo>, shipping: Arc<dyn ShippingRepo>, tax: TaxRates) -> Self {
        CartService { repo, shipping, tax }
    }

    pub fn tax_rate(&self, country: &str) -> i64 {
        self.tax.rate(country)
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
        self.view_of(cart, None, shipping).await
    }

    async fn view_of(
        &self,
        cart: Option<Uuid>,
        token: Option<String>,
        shipping: Option<(Uuid, &str)>,
    ) -> Result<CartView, CartError> {
        let lines = match cart {
            Some(id) => price_lines(&self.repo.lines(id).await?),
            None => Vec::new(),
        };
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
        let (subtotal, shipping_cost, tax, total) = match (currency, &method) {
            (Some(cur), Some((m, country))) => {
                if m.price.currency != cur {
                    return Err(CartError::CurrencyMismatch(cur));
                }
                let t = totals(&lines, m.price, self.tax.rate(country))
                    .map_err(|e| CartError::Invalid { field: "shipping_method", message: e.to_string() })?;
                (Some(t.subtotal), Some(t.shipping), Some(t.tax), Some(t.total))
            }
            (Some(cur), None) => {
                let t = totals(&lines, primitives::Money::zero(cur), 0)
                    .map_err(|e| CartError::Invalid { field: "lines", message: e.to_string() })?;
                (Some(t.subtotal), None, None, None)
            }
            (None, _) => (None, None, None, None),
        };
        Ok(CartView {
            cart_token: token,
            currency,
            item_count: lines.iter().map(|l| l.quantity).sum(),
            checkout_ready: !lines.is_empty() && lines.iter().all(|l: &PricedLine| l.issue.is_none()),
            lines,
            subtotal,
            shipping: shipping_cost,
            tax,
            total,
        })
    }

    pub async fn add(&self, shopper: &Shopper, line: AddLine) -> Result<CartView, CartError> {
        let (owner, token) = self.owner_for_write(shopper).await?;
        let cart = self.repo.add_line(&owner, line.variant_id, line.quantity).await?;
        self.view_of(Some(cart), token, None).await
    }

    async fn existing_cart(&self, shopper: &Shopper) -> Result<Uuid, CartError> {
        let owner = Self::owner(shopper).ok_or(CartError::NotFound)?;
        self.repo.find(&owner).await?.ok_or(CartError::NotFound)
    }

    pub async fn set_quantity(&self, shopper: &Shopper, variant: Uuid, q: SetQuantity) -> Result<CartView, CartError> {
        let cart = self.existing_cart(shopper).await?;
        self.repo.set_line(cart, variant, q.quantity).await?;
        self.view_of(Some(cart), None, None).await
    }

    pub async fn remove(&self, shopper: &Shopper, variant: Uuid) -> Result<CartView, CartError> {
        let cart = self.existing_cart(shopper).await?;
        self.repo.remove(cart, variant).await?;
        self.view_of(Some(cart), None, None).await
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
