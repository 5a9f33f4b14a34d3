//! Domain errors mapped to problem documents, each with a stable code.

use actix_web::http::StatusCode;
use auth::AuthError;
use cart::CartError;
use catalog::CatalogError;
use orders::{CheckoutError, CheckoutRefusal, OrderError};
use primitives::StorageError;
use reviews::ReviewError;
use users::UserError;

use crate::problem::{Problem, internal};

/// For operations whose body names the password `new_password` (a change, a reset): a weak one
/// is reported under that field; everything else as usual.
pub fn new_password_problem(e: AuthError) -> Problem {
    match e {
        AuthError::WeakPassword(v) => Problem::invalid_field("new_password", v.to_string()),
        other => Problem::from(other),
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => Problem::conflict("email-taken", "This email is already registered")
                .detail("an account with this email exists; log in or reset the password"),
            AuthError::InvalidEmail(why) => Problem::invalid_field("email", why.to_string()),
            AuthError::WeakPassword(v) => Problem::invalid_field("password", v.to_string()),
            AuthError::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid-credentials", "The email or password is wrong")
            }
            AuthError::WrongCurrentPassword => Problem::invalid_field("current_password", "is wrong"),
            AuthError::AccountDisabled => {
                Problem::new(StatusCode::FORBIDDEN, "account-disabled", "This account is disabled")
            }
            AuthError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-refresh-token",
                "The refresh token is invalid, expired or revoked",
            ),
            AuthError::RefreshTokenReused => Problem::new(
                StatusCode::UNAUTHORIZED,
                "refresh-token-reused",
                "This refresh token was already used; the session has been revoked",
            ),
            AuthError::CsrfTokenInvalid => Problem::new(
                StatusCode::FORBIDDEN,
                "csrf-token-invalid",
                "The CSRF token is missing or wrong",
            )
            .detail(
                "a refresh by cookie needs the X-CSRF-Token header: the csrf_token of the last login or refresh answer",
            ),
            AuthError::Token(_) => Problem::unauthorized("the access token is invalid"),
            AuthError::SessionEnded => Problem::new(StatusCode::UNAUTHORIZED, "session-ended", "The session has ended")
                .detail("this session was signed out or revoked, or the account disabled; sign in again")
                .header(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    "Bearer realm=\"shop\", error=\"invalid_token\", error_description=\"session ended\"",
                ),
            AuthError::InvalidAccountToken => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-account-token", "The link is invalid or has expired")
                    .field("token", "unknown, already used, replaced by a newer link, or expired")
            }
            AuthError::EmailAlreadyVerified => {
                Problem::conflict("email-already-verified", "The email address is already verified")
            }
            AuthError::InvalidNewEmail(why) => Problem::invalid_field("new_email", why.to_string()),
            AuthError::SameEmail => Problem::invalid_field("new_email", "is the current address"),
            AuthError::RateLimited { retry_after_secs } => Problem::too_many_requests(retry_after_secs),
            AuthError::Storage(e) => storage(e),
        }
    }
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => Problem::not_found(),
            UserError::AddressLimit(max) => Problem::conflict("address-limit", "Too many addresses")
                .detail(format!("a user keeps at most {max} addresses")),
            UserError::SelfChange => Problem::conflict("self-change", "You cannot change your own role or status"),
            UserError::Storage(e) => storage(e),
        }
    }
}

/// Storage failures: a store that is unavailable is a 503 (retryable); anything else is a 500.
/// Neither leaks the cause, which is logged.
pub fn storage(e: StorageError) -> Problem {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "database unavailable");
        Problem::unavailable()
    } else {
        internal(e)
    }
}

impl From<accounts::AccountError> for Problem {
    fn from(e: accounts::AccountError) -> Self {
        match e {
            accounts::AccountError::NotFound => Problem::not_found(),
            accounts::AccountError::WrongPassword => Problem::invalid_field("password", "is wrong"),
            accounts::AccountError::AdminAccount => {
                Problem::conflict("admin-account", "An admin account cannot be erased").detail("change its role first")
            }
            accounts::AccountError::Auth(e) => e.into(),
            accounts::AccountError::Storage(e) => storage(e),
        }
    }
}

impl From<CatalogError> for Problem {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound => Problem::not_found(),
            CatalogError::SlugTaken => Problem::conflict("slug-taken", "This slug is already in use"),
            CatalogError::SkuTaken => Problem::conflict("sku-taken", "This SKU is already in use"),
            CatalogError::UnknownParent => Problem::invalid_field("parent_id", "no such category"),
            CatalogError::UnknownCategory => Problem::invalid_field("category_id", "no such category"),
            CatalogError::CategoryCycle => Problem::conflict("category-cycle", "A category cannot move under itself")
                .detail("the new parent is the category itself or one of its descendants"),
            CatalogError::CategoryNotEmpty => Problem::conflict("category-not-empty", "The category is not empty")
                .detail("move or delete its sub-categories and products first"),
            CatalogError::VersionMismatch => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "The resource changed since you read it",
            )
            .detail("fetch it again and re-apply your change"),
            CatalogError::LastVariant => Problem::conflict("last-variant", "A product keeps at least one variant"),
            CatalogError::InsufficientStock { available } => {
                Problem::conflict("insufficient-stock", "Not enough stock").detail(format!("{available} available"))
            }
            CatalogError::Invalid { field: field @ ("category" | "sort"), message } => {
                Problem::invalid_parameter(field, message)
            }
            CatalogError::Invalid { field, message } => Problem::invalid_field(field, message),
            CatalogError::Storage(e) => storage(e),
        }
    }
}

impl From<CartError> for Problem {
    fn from(e: CartError) -> Self {
        match e {
            CartError::NotFound => Problem::not_found(),
            CartError::UnknownVariant => Problem::invalid_field("variant_id", "no such variant"),
            CartError::CurrencyMismatch(c) => Problem::conflict("currency-mismatch", "One currency per cart")
                .detail(format!("the cart is priced in {c}")),
            CartError::TooManyLines(n) => {
                Problem::conflict("cart-full", "The cart is full").detail(format!("at most {n} lines"))
            }
            CartError::TooManyCodes(n) => Problem::conflict("promotion-codes-full", "The cart holds its most codes")
                .detail(format!("at most {n} promotion codes; remove one first")),
            CartError::PromotionRefused { code, refusal } => promotion_refused(&code, refusal),
            CartError::Invalid { field: field @ ("shipping_method" | "country"), message } => {
                Problem::invalid_parameter(field, message)
            }
            CartError::Invalid { field, message } => Problem::invalid_field(field, message),
            CartError::Storage(e) => storage(e),
        }
    }
}

impl From<cart::ShippingError> for Problem {
    fn from(e: cart::ShippingError) -> Self {
        match e {
            cart::ShippingError::NotFound => Problem::not_found(),
            cart::ShippingError::Storage(e) => storage(e),
        }
    }
}

impl From<CheckoutRefusal> for Problem {
    fn from(r: CheckoutRefusal) -> Self {
        match r {
            CheckoutRefusal::CartEmpty => Problem::conflict("cart-empty", "The cart is empty"),
            CheckoutRefusal::LinesUnavailable { lines } => {
                let detail = lines
                    .iter()
                    .map(|l| format!("{}: {} available", l.sku, l.available_quantity))
                    .collect::<Vec<_>>()
                    .join("; ");
                Problem::conflict("insufficient-stock", "Some items are not available in the quantity asked for")
                    .detail(detail)
                    .extension("lines", serde_json::to_value(&lines).unwrap_or_default())
            }
            CheckoutRefusal::UnknownShippingMethod => {
                Problem::invalid_field("shipping_method_id", "no such active shipping method")
            }
            CheckoutRefusal::NotShippable { country } => Problem::invalid_field(
                "shipping_address.country",
                format!("the shipping method does not ship to {country}"),
            ),
            CheckoutRefusal::CurrencyMismatch => {
                Problem::conflict("currency-mismatch", "The cart and the shipping method use different currencies")
            }
            CheckoutRefusal::Promotion { promotion_code, refusal } => promotion_refused(&promotion_code, refusal)
                .detail(format!(
                    "the code {promotion_code} does not apply any more: remove it from the cart or change the cart"
                )),
        }
    }
}

/// A promotion code that does not apply, with the code in `promotion_code`: 409 when its usage
/// limit is reached, 422 otherwise; the problem code names why.
pub fn promotion_refused(code: &str, refusal: promotions::Refusal) -> Problem {
    use promotions::Refusal as R;
    let title = match refusal {
        R::UnknownCode => "No such promotion code",
        R::NotYetValid => "The promotion has not started yet",
        R::Expired => "The promotion has ended",
        R::NotApplicable => "The promotion does not apply to this cart",
        R::LimitReached => "The promotion's usage limit is reached",
        R::NotCombinable => "The promotion does not combine with another one applied",
    };
    let status = if refusal == R::LimitReached { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
    Problem::new(status, refusal.problem_code(), title).extension("promotion_code", serde_json::json!(code))
}

impl From<promotions::PromotionError> for Problem {
    fn from(e: promotions::PromotionError) -> Self {
        use promotions::PromotionError as E;
        match e {
            E::Invalid(i) => Problem::invalid_field(i.field, i.message),
            E::CodeTaken => Problem::conflict("promotion-code-taken", "Another promotion has this code"),
            E::GroupNameTaken => Problem::conflict("group-name-taken", "A customer group has this name"),
            E::NotFound => Problem::not_found(),
            E::UnknownGroup => Problem::invalid_field("conditions.customer_group", "no such customer group"),
            E::GroupInUse => Problem::conflict("group-in-use", "A promotion uses this customer group")
                .detail("archive the promotions that name it, or change their conditions, first"),
            E::Archived => Problem::conflict("promotion-archived", "The promotion is archived")
                .detail("an archived promotion is kept as it was; create a new one"),
            E::LimitBelowUsage { redemptions } => {
                Problem::invalid_field("usage_limit", format!("is below the {redemptions} redemptions already counted"))
            }
            E::LimitReached { .. } => {
                Problem::conflict("promotion-limit-reached", "The promotion's usage limit is reached")
            }
            E::Storage(e) => storage(e),
        }
    }
}

impl From<OrderError> for Problem {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => Problem::not_found(),
            OrderError::Refused(r) => r.into(),
            OrderError::Illegal(t) => {
                Problem::conflict("illegal-transition", "The order cannot do this in its current state")
                    .detail(format!("an order that is {} cannot be {}", t.from.as_str(), event_verb(t.event)))
                    .extension("order_status", serde_json::json!(t.from.as_str()))
            }
            OrderError::Refund(r) => refund_refused(r),
            OrderError::Shipment(r) => shipment_refused(r),
            OrderError::KeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "This Idempotency-Key was used with a different request",
            )
            .field("Idempotency-Key", "already used for another request body"),
            OrderError::Return(r) => return_refused(r),
            OrderError::IllegalReturn(t) => {
                Problem::conflict("illegal-return-transition", "The return cannot do this in its current state")
                    .detail(t.to_string())
                    .extension("return_status", serde_json::json!(t.from.as_str()))
            }
            OrderError::Payment(orders::PaymentError::Rejected(_)) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "payment-provider-error",
                "The payment provider refused the request",
            ),
            OrderError::Payment(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-provider-unavailable",
                "The payment provider did not answer",
            )
            .detail("retry in a moment; nothing was changed")
            .header(actix_web::http::header::RETRY_AFTER, "1"),
            OrderError::Storage(e) => storage(e),
        }
    }
}

/// A refund that cannot be made: 409 for what the order's state forbids (naming what is left),
/// 422 for a request that cannot mean anything.
fn refund_refused(r: orders::RefundRefusal) -> Problem {
    use orders::RefundRefusal as R;
    match r {
        R::NotRefundable(status) => Problem::conflict("order-not-refundable", "The order has no payment to refund")
            .detail(format!("an order that is {} cannot be refunded", status.as_str()))
            .extension("order_status", serde_json::json!(status.as_str())),
        R::Invalid { field, message } => Problem::invalid_field(field, message),
        R::UnknownLine { line_no } => Problem::invalid_field("lines", format!("the order has no line {line_no}")),
        R::LineExceeded { line_no, refundable_quantity } => {
            Problem::conflict("refund-exceeds-line", "More units than are left to refund on a line")
                .detail(format!("line {line_no} has {refundable_quantity} units left to refund"))
                .extension("line_no", serde_json::json!(line_no))
                .extension("refundable_quantity", serde_json::json!(refundable_quantity))
        }
        R::ShippingRefunded => Problem::conflict("shipping-already-refunded", "The shipping is refunded already"),
        R::AmountExceeded { refundable } => {
            Problem::conflict("refund-exceeds-payment", "More than is left of the payment to refund")
                .detail(format!("at most {} minor units are left to refund", refundable.amount_minor))
                .extension("refundable", serde_json::json!(refundable))
        }
    }
}

/// A shipment that cannot be made: 409 for more units than are left to ship (naming how many
/// are), 422 for a line the order does not have, 404 for a shipment it does not have.
fn shipment_refused(r: orders::ShipmentRefusal) -> Problem {
    use orders::ShipmentRefusal as R;
    match r {
        R::UnknownLine { line_no } => Problem::invalid_field("lines", format!("the order has no line {line_no}")),
        R::LineExceeded { line_no, shippable_quantity } => {
            Problem::conflict("shipment-exceeds-line", "More units than are left to ship on a line")
                .detail(format!("line {line_no} has {shippable_quantity} units left to ship"))
                .extension("line_no", serde_json::json!(line_no))
                .extension("shippable_quantity", serde_json::json!(shippable_quantity))
        }
        R::UnknownShipment(_) => Problem::not_found(),
        R::CaptureNotFailed(status) => Problem::conflict("capture-not-failed", "Only a failed capture can be retried")
            .detail(format!("the shipment's capture is {}", status.as_str()))
            .extension("capture_status", serde_json::json!(status.as_str())),
    }
}

/// A return that cannot be asked for: 409 for what the order's state forbids, 422 for a line
/// the order does not have.
fn return_refused(r: orders::ReturnRefusal) -> Problem {
    use orders::ReturnRefusal as R;
    match r {
        R::NotDelivered(status) => Problem::conflict("order-not-returnable", "Only a delivered order can be returned")
            .detail(format!("an order that is {} cannot be returned", status.as_str()))
            .extension("order_status", serde_json::json!(status.as_str())),
        R::WindowClosed(at) => Problem::conflict("return-window-closed", "The return window has closed")
            .extension("closed_at", serde_json::json!(at)),
        R::UnknownLine { line_no } => Problem::invalid_field("lines", format!("the order has no line {line_no}")),
        R::LineExceeded { line_no, returnable_quantity } => {
            Problem::conflict("return-exceeds-line", "More units than can be returned of a line")
                .detail(format!("line {line_no} has {returnable_quantity} units that can be returned"))
                .extension("line_no", serde_json::json!(line_no))
                .extension("returnable_quantity", serde_json::json!(returnable_quantity))
        }
    }
}

fn event_verb(e: orders::Event) -> &'static str {
    use orders::Event::*;
    match e {
        ActionRequired => "sent to authentication",
        PaymentSucceeded => "marked paid",
        PaymentFailed => "marked payment-failed",
        Ship => "shipped",
        ShipPart => "shipped in part",
        Deliver => "delivered",
        Cancel => "cancelled",
        Expire => "expired",
        Refund => "refunded",
    }
}

impl From<CheckoutError> for Problem {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::KeyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "This Idempotency-Key was used with a different request",
            )
            .field("Idempotency-Key", "already used for another request body"),
            CheckoutError::InProgress => {
                Problem::conflict("idempotency-in-progress", "A request with this Idempotency-Key is in progress")
                    .detail("retry after it finishes to get its answer")
                    .header(actix_web::http::header::RETRY_AFTER, "1")
            }
            CheckoutError::EmailNotVerified => Problem::new(
                StatusCode::FORBIDDEN,
                "email-not-verified",
                "Verify your email address before checking out",
            )
            .detail("follow the link mailed to you, or ask for a new one with POST /api/v1/me/verification-email"),
            CheckoutError::Order(e) => e.into(),
        }
    }
}

impl From<outbox::OutboxError> for Problem {
    fn from(e: outbox::OutboxError) -> Self {
        match e {
            outbox::OutboxError::NotFound => Problem::not_found(),
            outbox::OutboxError::NotDead(status) => {
                Problem::conflict("event-not-dead", "Only dead events can be re-queued")
                    .detail(format!("this event is {status}"))
                    .extension("event_status", serde_json::json!(status))
            }
            outbox::OutboxError::Storage(e) => storage(e),
        }
    }
}

impl From<ReviewError> for Problem {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound => Problem::not_found(),
            ReviewError::NotAPurchaser => Problem::new(
                StatusCode::FORBIDDEN,
                "not-a-purchaser",
                "Only customers who bought this product may review it",
            ),
            ReviewError::AlreadyReviewed => Problem::conflict("already-reviewed", "You already reviewed this product")
                .detail("edit your existing review instead"),
            ReviewError::CursorOfAnotherSort => Problem::invalid_parameter("cursor", "belongs to another sort"),
            ReviewError::Storage(e) => storage(e),
        }
    }
}
