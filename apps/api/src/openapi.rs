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
        (name = "admin-outbox", description = "Domain events: delivery backlog, dead events and re-queueing (admin role)"),
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

/// Makes the document say what the middleware and extractors do for every operation, so route
/// annotations list only their own answers: problems are `application/problem+json`; operations
/// with a body can answer 400 (malformed JSON), 413, 415 and 422; operations with query or path
/// parameters 400 or 404, with a query 414 (over 4 KiB); operations taking a bearer token 401;
/// admin operations 403 (the admin gate); every `/api` operation 429 (rate limits) and 503
/// (database unavailable, timeout).
/// Applied after the routes are collected (`startup.rs`), since the paths are only known then.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

        const PROBLEM_JSON: &str = "application/problem+json";
        let problem = || Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                for resp in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = resp {
                        let is_problem = r.content.get("application/json").is_some_and(
                            |c| matches!(&c.schema, Some(RefOr::Ref(x)) if x.ref_location.ends_with("/Problem")),
                        );
                        if is_problem && let Some(c) = r.content.shift_remove("application/json") {
                            r.content.insert(PROBLEM_JSON.into(), c);
                        }
                    }
                }
                let mut add = |code: &str, description: &str| {
                    op.responses.responses.entry(code.into()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new().description(description).content(PROBLEM_JSON, problem()).build(),
                        )
                    });
                };
                let params = op.parameters.as_deref().unwrap_or_default();
                let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
                let has_body = op.request_body.is_some();
                let bearer = op
                    .security
                    .iter()
                    .flatten()
                    .any(|s| serde_json::to_value(s).is_ok_and(|v| v.get("bearer").is_some()));
                if bearer {
                    add(
                        "401",
                        "Not signed in, or the token or its session is no longer valid (`WWW-Authenticate: Bearer`)",
                    );
                }
                if path.starts_with("/api/v1/admin/") {
                    add("403", "The caller's role lacks the permission (decided before the body is read)");
                }
                if has_body || has_query {
                    add("400", "Malformed request or invalid parameter");
                }
                if has_query {
                    add("414", "Query string longer than 4 KiB");
                }
                if has_path {
                    add("404", "No such resource");
                }
                if has_body {
                    add("413", "Body too large");
                    add("415", "Body is not application/json");
                    add("422", "Invalid fields");
                }
                if path.starts_with("/api/") {
                    add("429", "Rate limited (`Retry-After`)");
                    add("503", "Temporarily unavailable or timed out (`Retry-After`)");
                }
            }
        }
    }
}
