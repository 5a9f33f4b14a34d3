use primitives::Currency;
use uuid::Uuid;

use crate::LineSnapshot;

/// A cart as one transaction left it: its id, its lines (oldest first) and its codes.
#[derive(Debug, Clone, PartialEq)]
pub struct CartContents {
    pub id: Uuid,
    pub lines: Vec<LineSnapshot>,
    pub codes: Vec<String>,
}

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
    #[error("a cart holds at most {0} promotion codes")]
    TooManyCodes(usize),
    /// The code does not apply to this cart (the refusal says why).
    #[error("the promotion code {code} does not apply: {refusal:?}")]
    PromotionRefused { code: String, refusal: promotions::Refusal },
    #[error("invalid: {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

#[async_trait::async_trait]
pub trait CartRepo: Send + Sync + 'static {
    async fn find(&self, owner: &CartOwner) -> Result<Option<Uuid>, CartError>;
    /// Lines with their variants' current price, stock and state, oldest first.
    async fn lines(&self, cart: Uuid) -> Result<Vec<LineSnapshot>, CartError>;
    /// Adds `quantity` of `variant` to the owner's cart (created if the owner has none) as
    /// [`crate::rules::add`] decides, in one transaction under the cart's row lock; returns the
    /// cart as that transaction left it ([`crate::rules::with_write`]). Nothing is written when
    /// it refuses (an unknown variant included).
    async fn add_line(&self, owner: &CartOwner, variant: Uuid, quantity: i32) -> Result<CartContents, CartError>;
    /// Sets a line's quantity as [`crate::rules::set_quantity`] decides, under the cart's lock.
    async fn set_line(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError>;
    async fn remove(&self, cart: Uuid, variant: Uuid) -> Result<(), CartError>;
    async fn clear(&self, cart: Uuid) -> Result<(), CartError>;
    /// The promotion codes entered on the cart, in the order entered.
    async fn codes(&self, cart: Uuid) -> Result<Vec<String>, CartError>;
    /// Enters a code as [`crate::rules::add_code`] decides, under the cart's lock.
    async fn add_code(&self, cart: Uuid, code: &str) -> Result<(), CartError>;
    /// Removes a code; false when the cart does not hold it.
    async fn remove_code(&self, cart: Uuid, code: &str) -> Result<bool, CartError>;
    /// Moves every line of cart `from` into the owner's cart (created if needed) as
    /// [`crate::rules::merge`] decides, and its codes as [`crate::rules::merge_codes`] does,
    /// and deletes `from`, in one transaction holding both carts'
    /// locks. A refusal changes neither cart.
    async fn merge(&self, from: Uuid, into: &CartOwner) -> Result<(), CartError>;
    /// Deletes guest carts untouched for `older_than_secs`; returns how many.
    async fn purge_guest_carts(&self, older_than_secs: i64) -> Result<u64, CartError>;
}

impl From<promotions::PromotionError> for CartError {
    fn from(e: promotions::PromotionError) -> Self {
        match e {
            promotions::PromotionError::Storage(s) => CartError::Storage(s),
            other => CartError::Storage(primitives::StorageError::other(other)),
        }
    }
}
