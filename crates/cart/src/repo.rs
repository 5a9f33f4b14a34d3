use primitives::Currency;
use uuid::Uuid;

use crate::{LineSnapshot, NewShippingMethod, ShippingMethod, ShippingMethodPatch};

/// Whose cart: a signed-in user's, or a guest's (by the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    User(Uuid),
    Guest(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("not found")]
    NotFound,
    #[error("no such variant")]
    UnknownVariant,
    #[error("the cart holds {0}; one currency per cart")]
    CurrencyMismatch(Currency),
    #[error("a cart holds at most {0} lines")]
    TooManyLines(usize),
    #[error("invalid: {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("storage failure: {0}")]
    Storage(String),
}

#[async_trait::async_trait]
pub trait CartRepo: Send + Sync + 'static {
    async fn find(&self, owner: &CartOwner) -> Result<Option<Uuid>, CartError>;
    /// The owner's cart, created if needed.
    async fn get_or_create(&self, owner: &CartOwner) -> Result<Uuid, CartError>;
    /// Lines with their variants' current price, stock and state, oldest first.
    async fn lines(&self, cart: Uuid) -> Result<Vec<LineSnapshot>, CartError>;
    /// The currency of a variant's product (`None`: no such variant).
    async fn variant_currency(&self, variant: Uuid) -> Result<Option<Currency>, CartError>;
    /// Adds `quantity` (the line's total is capped at 99).
    async fn add(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError>;
    async fn set_quantity(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError>;
    async fn remove(&self, cart: Uuid, variant: Uuid) -> Result<(), CartError>;
    async fn clear(&self, cart: Uuid) -> Result<(), CartError>;
    /// Moves every line of `from` into `into` (quantities added, capped at 99) and deletes
    /// `from`, in one transaction.
    async fn merge(&self, from: Uuid, into: Uuid) -> Result<(), CartError>;
    /// Deletes guest carts untouched for `older_than_secs`; returns how many.
    async fn purge_guest_carts(&self, older_than_secs: i64) -> Result<u64, CartError>;

    async fn shipping_methods(&self, active_only: bool) -> Result<Vec<ShippingMethod>, CartError>;
    async fn shipping_method(&self, id: Uuid) -> Result<Option<ShippingMethod>, CartError>;
    async fn create_shipping_method(&self, m: &NewShippingMethod) -> Result<ShippingMethod, CartError>;
    async fn update_shipping_method(&self, id: Uuid, p: &ShippingMethodPatch) -> Result<ShippingMethod, CartError>;
    async fn delete_shipping_method(&self, id: Uuid) -> Result<(), CartError>;
}
