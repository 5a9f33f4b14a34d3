//! Shipping methods: flat-priced, per list of countries (empty: everywhere). The cart prices
//! with one, checkout snapshots its name and price. A room of their own: their port, their
//! service, their routes (`apps/api/src/routes/shipping.rs`).

use std::sync::Arc;

use primitives::{Currency, Money, StorageError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Storage of shipping methods.
#[async_trait::async_trait]
pub trait ShippingRepo: Send + Sync + 'static {
    async fn list(&self, active_only: bool) -> Result<Vec<ShippingMethod>, StorageError>;
    async fn get(&self, id: Uuid) -> Result<Option<ShippingMethod>, StorageError>;
    async fn create(&self, m: &NewShippingMethod) -> Result<ShippingMethod, StorageError>;
    /// `None`: no such method.
    async fn update(&self, id: Uuid, p: &ShippingMethodPatch) -> Result<Option<ShippingMethod>, StorageError>;
    /// False: no such method.
    async fn delete(&self, id: Uuid) -> Result<bool, StorageError>;
}

pub struct ShippingService {
    repo: Arc<dyn ShippingRepo>,
}

impl ShippingService {
    pub fn new(repo: Arc<dyn ShippingRepo>) -> Self {
        ShippingService { repo }
    }

    /// Active methods, only those shipping to `country` when given.
    pub async fn for_country(&self, country: Option<&str>) -> Result<Vec<ShippingMethod>, ShippingError> {
        let all = self.repo.list(true).await?;
        Ok(all.into_iter().filter(|m| country.is_none_or(|c| m.ships_to(c))).collect())
    }

    pub async fn all(&self) -> Result<Vec<ShippingMethod>, ShippingError> {
        Ok(self.repo.list(false).await?)
    }

    pub async fn get(&self, id: Uuid) -> Result<ShippingMethod, ShippingError> {
        self.repo.get(id).await?.ok_or(ShippingError::NotFound)
    }

    pub async fn create(&self, m: NewShippingMethod) -> Result<ShippingMethod, ShippingError> {
        Ok(self.repo.create(&m).await?)
    }

    pub async fn update(&self, id: Uuid, p: ShippingMethodPatch) -> Result<ShippingMethod, ShippingError> {
        self.repo.update(id, &p).await?.ok_or(ShippingError::NotFound)
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), ShippingError> {
        if self.repo.delete(id).await? { Ok(()) } else { Err(ShippingError::NotFound) }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShippingMethod {
    pub id: Uuid,
    pub name: String,
    pub price: Money,
    /// ISO 3166-1 alpha-2 codes it ships to; empty means everywhere.
    pub countries: Vec<String>,
    pub active: bool,
}

impl ShippingMethod {
    pub fn ships_to(&self, country: &str) -> bool {
        self.active && (self.countries.is_empty() || self.countries.iter().any(|c| c == country))
    }
}

fn valid_countries(value: &[String], _: &()) -> garde::Result {
    if value.len() > 250 {
        return Err(garde::Error::new("at most 250 countries"));
    }
    if value.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
        Ok(())
    } else {
        Err(garde::Error::new("each must be an ISO 3166-1 alpha-2 code such as DE"))
    }
}

fn opt_countries(value: &Option<Vec<String>>, ctx: &()) -> garde::Result {
    value.as_ref().map_or(Ok(()), |v| valid_countries(v, ctx))
}

/// The rules of [`valid_countries`] as a schema.
#[cfg(feature = "openapi")]
fn countries_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(250, 2, "^[A-Z]{2}$", false)
}

#[cfg(feature = "openapi")]
fn opt_countries_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(250, 2, "^[A-Z]{2}$", true)
}

fn currency_code(value: &str, _: &()) -> garde::Result {
    value.parse::<Currency>().map(|_| ()).map_err(|_| garde::Error::new("must be an ISO 4217 code such as EUR"))
}

fn valid_name(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        Err(garde::Error::new("must be non-blank text without control characters"))
    } else {
        Ok(())
    }
}

fn opt_name(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| valid_name(v, ctx))
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewShippingMethod {
    #[garde(length(chars, min = 1, max = 100), custom(valid_name))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[garde(range(min = 0, max = 100_000_000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000))]
    pub price_minor: i64,
    #[garde(custom(currency_code))]
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 3, pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    #[serde(default)]
    #[garde(custom(valid_countries))]
    #[cfg_attr(feature = "openapi", schema(schema_with = countries_schema))]
    pub countries: Vec<String>,
    #[serde(default = "yes")]
    #[garde(skip)]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodPatch {
    #[garde(inner(length(chars, min = 1, max = 100)), custom(opt_name))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[garde(inner(range(min = 0, max = 100_000_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000))]
    pub price_minor: Option<i64>,
    #[garde(custom(opt_countries))]
    #[cfg_attr(feature = "openapi", schema(schema_with = opt_countries_schema))]
    pub countries: Option<Vec<String>>,
    #[garde(skip)]
    pub active: Option<bool>,
}
