//! The OpenAPI 3.1 document. Paths are collected from the route registrations themselves
//! (utoipa-actix-web), so a route cannot be served without being documented.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shop API",
        description = "E-commerce backend: identity, catalog, carts, checkout, orders, reviews. \
                       Errors are RFC 9457 problem+json documents with a stable `code`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(crate::problem::Problem, crate::problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Health and metrics"),
        (name = "auth", description = "Registration, login, token refresh, logout"),
        (name = "me", description = "The signed-in user's profile, password and addresses"),
        (name = "admin", description = "User administration (admin role)"),
        (name = "catalog", description = "Categories, product listing and search, product detail"),
        (name = "admin-catalog", description = "Catalog management: categories, products, variants, stock (staff and admin)"),
        (name = "cart", description = "Carts (signed-in or guest) and shipping methods"),
        (name = "checkout", description = "Idempotent checkout with payment"),
        (name = "orders", description = "The signed-in user's orders"),
        (name = "admin-orders", description = "Order fulfilment and shipping methods (staff and admin)"),
        (name = "webhooks", description = "Signed events from the payment provider"),
        (name = "reviews", description = "Product reviews and ratings, moderation"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
