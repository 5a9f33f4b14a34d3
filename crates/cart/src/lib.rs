//! Carts: a server-side cart per signed-in user and guest carts behind a token, merged at login;
//! pricing (subtotal, shipping, tax, total) computed here, on the server, from current prices;
//! shipping methods.

mod model;
mod pricing;
mod repo;
pub mod rules;
mod service;
pub mod shipping;

pub use model::*;
pub use pricing::{Totals, TotalsError, apply_discounts, price_lines, promotion_lines, totals};
pub use repo::{CartContents, CartError, CartOwner, CartRepo};
pub use service::{CartService, Shopper, TaxRates};
pub use shipping::{
    NewShippingMethod, ShippingError, ShippingMethod, ShippingMethodPatch, ShippingRepo, ShippingService,
};
