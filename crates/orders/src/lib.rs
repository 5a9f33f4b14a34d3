//! Orders: the order state machine (pure), checkout (idempotent, no oversell), customer and
//! admin order management, payment webhooks, the payment-gateway port, and the sweeper that
//! cancels unpaid orders.

pub mod checkout;
pub mod events;
pub mod fulfilment;
mod idempotency;
mod model;
pub mod payment;
pub mod refund;
mod repo;
pub mod returns;
mod service;
pub mod state;
pub mod webhook;

pub use fulfilment::{
    CaptureMode, CaptureState, CaptureStatus, ShipLine, Shipment, ShipmentPlan, ShipmentRefusal, ShipmentRequest,
    ShipmentStatus,
};
pub use idempotency::{IdempotencyKey, KeyError};
pub use model::*;
pub use payment::{Authorization, AuthorizeRequest, PaymentAction, PaymentError, PaymentGateway, PaymentState};
pub use refund::{
    LineUnits, Refund, RefundLineRequest, RefundPlan, RefundRefusal, RefundRequest, RefundState, RefundStatus,
};
pub use repo::{
    Applied, CaptureDue, CheckoutRefusal, Claim, OrderError, OrderRepo, PayOut, PlaceOrder, RefundAsk, RefundCall,
    RefundOutcome, ReturnOutcome, ReturnStep, ShipCall, ShipOutcome, TransitionData, UnavailableLine,
};
pub use returns::{
    IllegalReturnTransition, LineRef, ReceiveReturn, RejectReturn, Return, ReturnEvent, ReturnLineRequest,
    ReturnRefusal, ReturnRequest, ReturnStatus,
};
pub use service::{CheckoutConfig, CheckoutError, CheckoutOutcome, OrderObserver, OrderService};
pub use state::{Changes, Effects, Event, IllegalTransition, OrderStatus, changes, transition};
pub use webhook::{PaymentNotice, PaymentRef};
