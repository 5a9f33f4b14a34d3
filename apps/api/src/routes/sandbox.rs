//! `/api/v1/sandbox`: the sandbox payment provider's own pages (only with `payments.provider =
//! sandbox`; 404 otherwise).

use actix_web::{post, web};
use payments::{AuthenticateError, PaymentState};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// What the customer's authentication decided.
#[derive(Serialize, ToSchema)]
pub struct SandboxAuthentication {
    pub payment_id: String,
    /// `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub status: String,
}

/// Play the customer's 3-D Secure authentication (sandbox)
///
/// What the bank's page does for a sandbox payment waiting for authentication (`redirect_url`
/// of the order's `payment_action`): `tok_3ds_success` succeeds, `tok_3ds_fail` fails,
/// `tok_3ds_abandon` never completes (409 `authentication-abandoned`; the order expires).
/// Repeating it answers the same. It sends no webhook: the client then calls
/// `confirmMyOrderPayment`, which asks the provider. 404 for an unknown payment, or when the
/// sandbox is not the configured provider.
#[utoipa::path(
    tag = "sandbox",
    operation_id = "sandboxAuthenticatePayment",
    security(()),
    params(("payment_id" = String, Path, description = "The sandbox payment id (`pi_sandbox_…`)", max_length = 64)),
    responses(
        (status = 200, description = "The authentication's outcome at the provider", body = SandboxAuthentication),
        (status = 404, description = "No such payment waiting, or no sandbox", body = Problem),
        (status = 409, description = "This payment's customer never authenticates (`authentication-abandoned`)", body = Problem)
    )
)]
#[post("/sandbox/payments/{payment_id}/authenticate")]
pub async fn authenticate(
    state: web::Data<AppState>,
    payment_id: web::Path<String>,
) -> ApiResult<web::Json<SandboxAuthentication>> {
    let Some(sandbox) = &state.sandbox else { return Err(Problem::not_found()) };
    if payment_id.len() > 64 {
        return Err(Problem::not_found());
    }
    let status = match sandbox.authenticate(&payment_id).await {
        Ok(PaymentState::Succeeded) => "succeeded",
        Ok(PaymentState::Canceled) => "canceled",
        Ok(_) => "failed",
        Err(AuthenticateError::UnknownPayment) => return Err(Problem::not_found()),
        Err(AuthenticateError::Abandoned) => {
            return Err(Problem::conflict("authentication-abandoned", "This payment's customer never authenticates")
                .detail("tok_3ds_abandon plays an abandoned authentication: the order expires"));
        }
    };
    Ok(web::Json(SandboxAuthentication { payment_id: payment_id.into_inner(), status: status.into() }))
}
