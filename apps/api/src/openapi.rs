//! The OpenAPI 3.1 document. Paths are collected from the route registrations themselves
//! (utoipa-actix-web), so a route cannot be served without being documented.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shop API",
        description = "E-commerce backend: identity, catalog, carts, checkout, orders, reviews. \
                       Errors are RFC 9457 problem+json documents with a stable `code`.",
        contact(name = "shop maintainers", url = "https://github.com/shop/shop"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(Problem, crate::problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Health and metrics"),
        (name = "auth", description = "Registration, login, token refresh, logout; password reset, email verification and \
                                       email change confirmation from the mailed links"),
        (name = "me", description = "The signed-in user's profile, password, email address, addresses, data export and erasure"),
        (name = "admin", description = "User administration: roles, disabling, erasure (admin role)"),
        (name = "catalog", description = "Categories, product listing and search, product detail"),
        (name = "admin-catalog", description = "Catalog management: categories, products, variants, stock (staff and admin)"),
        (name = "cart", description = "Carts (signed-in or guest) and shipping methods"),
        (name = "checkout", description = "Idempotent checkout with payment"),
        (name = "orders", description = "The signed-in user's orders"),
        (name = "admin-orders", description = "Order fulfilment and shipping methods (staff and admin)"),
        (name = "admin-promotions", description = "Promotions (codes and automatic discounts), their usage, and customer groups (staff and admin)"),
        (name = "webhooks", description = "Signed events from the payment provider"),
        (name = "sandbox", description = "The sandbox payment provider's pages (development and tests only)"),
        (name = "reviews", description = "Product reviews and ratings, moderation"),
        (name = "admin-outbox", description = "Domain events: delivery backlog, dead events and re-queueing (admin role)"),
    )
)]
pub struct ApiDoc;

// Problem documents with extension members (RFC 9457, section 3.2). Documentation only: the
// problems are built with `Problem::extension` where they arise (`errors.rs`, `routes/orders.rs`).

/// 402 `payment-declined`: the order was placed but its payment declined. The order stays, as
/// `payment_failed`, and its items are back in stock.
#[derive(Serialize, ToSchema)]
pub struct PaymentDeclinedProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// The order that was placed (status `payment_failed`).
    pub order_id: Uuid,
    /// The payment provider's reason.
    #[schema(example = "card_declined")]
    pub reason: String,
}

/// 409 `illegal-transition`: the order's status does not allow the step asked for.
#[derive(Serialize, ToSchema)]
pub struct IllegalTransitionProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// The order's status at the time.
    pub order_status: orders::OrderStatus,
}

/// 409 for a refund: `order-not-refundable` (with `order_status`), `refund-exceeds-payment` (with
/// `refundable`: what is left), `refund-exceeds-line` (with `line_no` and `refundable_quantity`),
/// `shipping-already-refunded`. Nothing was written.
#[derive(Serialize, ToSchema)]
pub struct RefundConflictProblem {
    #[serde(flatten)]
    pub problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_status: Option<orders::OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refundable: Option<primitives::Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_no: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refundable_quantity: Option<i32>,
}

/// 409 for a shipment: `illegal-transition` (with `order_status`: not paid, or nothing left to
/// ship) or `shipment-exceeds-line` (with `line_no` and `shippable_quantity`). Nothing was
/// written.
#[derive(Serialize, ToSchema)]
pub struct ShipmentConflictProblem {
    #[serde(flatten)]
    pub problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_status: Option<orders::OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_no: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shippable_quantity: Option<i32>,
}

/// 409 at checkout: `cart-empty`, `insufficient-stock` (with `lines`), `currency-mismatch`,
/// `promotion-limit-reached` (with `promotion_code`), or `idempotency-in-progress` (with
/// `Retry-After`). Nothing was written.
#[derive(Serialize, ToSchema)]
pub struct CheckoutConflictProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// With `insufficient-stock`: the lines that cannot be bought as they are, and how many of
    /// each are available.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<orders::UnavailableLine>,
    /// With `promotion-limit-reached`: the code held on the cart that is used up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_code: Option<String>,
}

/// A promotion code that does not apply: `promotion-unknown`, `promotion-not-yet-valid`,
/// `promotion-expired`, `promotion-not-applicable`, `promotion-not-combinable` (422) or
/// `promotion-limit-reached` (409). Nothing was stored.
#[derive(Serialize, ToSchema)]
pub struct PromotionProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// With the `promotion-*` refusals: the code, as promotions store it (upper case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_code: Option<String>,
}

/// 409 `event-not-dead`: only dead events can be re-queued.
#[derive(Serialize, ToSchema)]
pub struct EventNotDeadProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// The event's state.
    pub event_status: outbox::OutboxStatus,
}

/// The operations of a path, whatever their method.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// utoipa writes `security(())` as `[{}]` (one requirement that asks for nothing); an operation
/// that takes no credentials at all says so as `security: []`. Operations that take a bearer
/// token or none (`[{}, {"bearer": []}]`) stay as they are.
pub struct AnonymousSecurity;

impl Modify for AnonymousSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let anonymous_only = op.security.as_ref().is_some_and(|s| {
                    s.len() == 1
                        && serde_json::to_value(&s[0]).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
                });
                if anonymous_only {
                    op.security = Some(Vec::new());
                }
            }
        }
    }
}

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
/// annotations list only their own answers: problems (`Problem` and the `...Problem` schemas
/// with extension members) are `application/problem+json`; operations with a body can answer 400
/// (malformed JSON), 413, 415 and 422; operations with query or path parameters 400 or 404, with
/// a query 414 (over 4 KiB); operations taking a bearer token 401; admin operations 403 (the
/// admin gate); every operation 400 for ambiguous framing (`middleware::envelope`); every `/api`
/// operation 429 (rate limits) and 503 (database unavailable, timeout), both with `Retry-After`,
/// and the `RateLimit-*` headers `hygiene::rate_limit` sets on its answers. These shared answers
/// are `components/responses`, referenced by the operations that have no answer of their own
/// for the status.
/// Applied after the routes are collected (`startup.rs`), since the paths are only known then.
pub struct ErrorResponses;

/// A shared answer: component name, status, description.
type Shared = (&'static str, &'static str, &'static str);

const UNAUTHORIZED: Shared = (
    "Unauthorized",
    "401",
    "Not signed in, or the token or its session is no longer valid (`WWW-Authenticate: Bearer`)",
);
const FORBIDDEN: Shared =
    ("Forbidden", "403", "The caller's role lacks the permission (decided before the body is read)");
const BAD_REQUEST: Shared = (
    "BadRequest",
    "400",
    "Malformed request (such as `malformed-json`, `ambiguous-framing`) or an invalid parameter (`invalid-parameter`)",
);
const URI_TOO_LONG: Shared = ("UriTooLong", "414", "Query string longer than 4 KiB");
const NOT_FOUND: Shared = ("NotFound", "404", "No such resource");
const TOO_LARGE: Shared = ("PayloadTooLarge", "413", "Body too large");
const NOT_JSON: Shared = ("UnsupportedMediaType", "415", "Body is not application/json");
const INVALID: Shared = ("ValidationFailed", "422", "Invalid fields");
const RATE_LIMITED: Shared = ("TooManyRequests", "429", "Rate limited (`rate-limited`; `Retry-After`)");
const UNAVAILABLE: Shared =
    ("Unavailable", "503", "Temporarily unavailable or timed out (`unavailable`, `timeout`; `Retry-After`)");
/// Any request, before routing and rate limiting (so without `RateLimit-*`): the connection is
/// closed after it.
const AMBIGUOUS_FRAMING: Shared = (
    "AmbiguousFraming",
    "400",
    "Malformed request framing (`ambiguous-framing`): both `Content-Length` and `Transfer-Encoding`, or a \
     transfer coding other than `chunked`",
);

/// The headers `hygiene::rate_limit` sets on every `/api` answer while rate limiting is on
/// (`rate_limit.enabled`), for the tighter of the per-client and per-user limits.
const RATE_LIMIT_HEADERS: [(&str, &str); 3] = [
    (
        "RateLimit-Limit",
        "Requests allowed per window (rate limiting on; the tighter of the per-client and per-user limits)",
    ),
    ("RateLimit-Remaining", "Requests left in the window"),
    ("RateLimit-Reset", "Seconds until the full quota is available again"),
];

fn header(kind: utoipa::openapi::schema::Type, description: &str) -> utoipa::openapi::header::Header {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let minimum = (kind == Type::Integer).then_some(0);
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(kind).minimum(minimum))
        .description(Some(description))
        .build()
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    header(utoipa::openapi::schema::Type::Integer, description)
}

/// The headers of an `/api` answer with this status.
fn add_headers(status: &str, headers: &mut std::collections::BTreeMap<String, utoipa::openapi::header::Header>) {
    if status == "429" || status == "503" {
        headers.entry("Retry-After".into()).or_insert_with(|| integer_header("Seconds to wait before retrying"));
    }
    for (name, description) in RATE_LIMIT_HEADERS {
        headers.entry(name.into()).or_insert_with(|| integer_header(description));
    }
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

        const PROBLEM_JSON: &str = "application/problem+json";
        // The shared answers referenced, and whether only by `/api` operations.
        let mut used = std::collections::BTreeMap::<&str, bool>::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for op in operations(item) {
                for (status, resp) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = resp {
                        let is_problem = r.content.get("application/json").is_some_and(
                            |c| matches!(&c.schema, Some(RefOr::Ref(x)) if x.ref_location.ends_with("Problem")),
                        );
                        if is_problem && let Some(c) = r.content.shift_remove("application/json") {
                            r.content.insert(PROBLEM_JSON.into(), c);
                        }
                        if api {
                            add_headers(status, &mut r.headers);
                        }
                    }
                }
                let mut add = |(name, status, _): Shared| {
                    if !op.responses.responses.contains_key(status) {
                        op.responses.responses.insert(status.into(), RefOr::Ref(Ref::from_response_name(name)));
                        *used.entry(name).or_insert(true) &= api;
                    }
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
                    add(UNAUTHORIZED);
                }
                if path.starts_with("/api/v1/admin/") {
                    add(FORBIDDEN);
                }
                if has_body || has_query {
                    add(BAD_REQUEST);
                }
                if has_query {
                    add(URI_TOO_LONG);
                }
                if has_path {
                    add(NOT_FOUND);
                }
                if has_body {
                    add(TOO_LARGE);
                    add(NOT_JSON);
                    add(INVALID);
                }
                if api {
                    add(RATE_LIMITED);
                    add(UNAVAILABLE);
                }
                add(AMBIGUOUS_FRAMING);
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        let all = [
            UNAUTHORIZED,
            FORBIDDEN,
            BAD_REQUEST,
            URI_TOO_LONG,
            NOT_FOUND,
            TOO_LARGE,
            NOT_JSON,
            INVALID,
            RATE_LIMITED,
            UNAVAILABLE,
            AMBIGUOUS_FRAMING,
        ];
        for (name, status, description) in all {
            let Some(&api_only) = used.get(name) else { continue };
            // Referenced by `/api` operations only (all but the framing refusal, which comes
            // before the rate limiter), so the rate-limit headers hold wherever it is.
            debug_assert!(api_only || name == AMBIGUOUS_FRAMING.0, "{name} outside /api");
            let mut response = ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_JSON, Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))))
                .build();
            if name != AMBIGUOUS_FRAMING.0 {
                add_headers(status, &mut response.headers);
            }
            if name == UNAUTHORIZED.0 {
                let challenge = "`Bearer realm=\"shop\"`, with `error=\"invalid_token\"` once the session has ended";
                let h = header(utoipa::openapi::schema::Type::String, challenge);
                response.headers.insert("WWW-Authenticate".into(), h);
            }
            components.responses.insert(name.into(), RefOr::T(response));
        }
    }
}

/// Declares the request id every operation takes and every answer carries (`middleware::envelope`):
/// an optional `X-Request-Id` request header (1 to 128 of `A-Z a-z 0-9 - _ . :`; another value
/// is replaced, not refused) and the `X-Request-Id` response header on every answer, shared ones
/// included. Applied after [`ErrorResponses`].
pub struct RequestIds;

impl Modify for RequestIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};

        const NAME: &str = "X-Request-Id";
        let schema = || ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(128));
        let parameter = ParameterBuilder::new()
            .name(NAME)
            .parameter_in(ParameterIn::Header)
            .required(utoipa::openapi::Required::False)
            .description(Some(
                "Your id for this request, echoed in the answer and on every log line of it (1 to 128 of \
                 `A-Z a-z 0-9 - _ . :`; another value is replaced by a generated one)",
            ))
            .schema(Some(schema().pattern(Some("^[A-Za-z0-9._:-]{1,128}$"))))
            .build();
        let echoed = || {
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(schema())
                .description(Some("The request's id: the one sent, or a generated UUID"))
                .build()
        };
        let add_header = |r: &mut utoipa::openapi::Response| {
            r.headers.entry(NAME.into()).or_insert_with(echoed);
        };
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let params = op.parameters.get_or_insert_with(Vec::new);
                if !params.iter().any(|p| p.name == NAME) {
                    params.push(parameter.clone());
                }
                for resp in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = resp {
                        add_header(r);
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for resp in components.responses.values_mut() {
                if let RefOr::T(r) = resp {
                    add_header(r);
                }
            }
        }
    }
}
