//! Route registration. Every service registered here lands in the OpenAPI document.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub mod account;
pub mod admin_catalog;
pub mod admin_orders;
pub mod admin_outbox;
pub mod admin_promotions;
pub mod admin_users;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod me;
pub mod ops;
pub mod orders;
pub mod reviews;
pub mod sandbox;
pub mod shipping;
pub mod webhooks;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ops::live).service(ops::ready).service(ops::metrics);
    cfg.service(
        scope::scope("/api/v1")
            // The public catalog first: routes are tried in order, each dynamic one with a regex,
            // and these are the hot ones.
            .service(catalog::product)
            .service(catalog::list_products)
            .service(catalog::category_tree)
            .service(catalog::get_category)
            .service(auth::register)
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::logout_all)
            .service(account::request_password_reset)
            .service(account::confirm_password_reset)
            .service(account::verify_email)
            .service(account::confirm_email_change)
            .service(account::resend_verification)
            .service(account::request_email_change)
            .service(account::export_account)
            .service(account::erase_account)
            .service(account::erase_user)
            .service(me::get_me)
            .service(me::patch_me)
            .service(me::change_password)
            .service(me::list_addresses)
            .service(me::create_address)
            .service(me::get_address)
            .service(me::update_address)
            .service(me::delete_address)
            .service(admin_users::list_users)
            .service(admin_users::get_user)
            .service(admin_users::set_role)
            .service(admin_users::disable_user)
            .service(admin_users::enable_user)
            .service(admin_catalog::create_category)
            .service(admin_catalog::update_category)
            .service(admin_catalog::delete_category)
            .service(admin_catalog::create_product)
            .service(admin_catalog::get_product)
            .service(admin_catalog::update_product)
            .service(admin_catalog::delete_product)
            .service(admin_catalog::add_variant)
            .service(admin_catalog::update_variant)
            .service(admin_catalog::delete_variant)
            .service(admin_catalog::adjust_stock)
            .service(admin_catalog::ledger)
            .service(cart::get_cart)
            .service(cart::add_line)
            .service(cart::set_quantity)
            .service(cart::remove_line)
            .service(cart::clear_cart)
            .service(cart::merge)
            .service(cart::apply_code)
            .service(cart::remove_code)
            .service(shipping::shipping_methods)
            .service(orders::checkout)
            .service(orders::list_orders)
            .service(orders::get_order)
            .service(orders::cancel_order)
            .service(orders::confirm_payment)
            .service(orders::pay_again)
            .service(orders::request_return)
            .service(orders::withdraw_return)
            .service(orders::timeline)
            .service(admin_orders::list_orders)
            .service(admin_orders::get_order)
            .service(admin_orders::ship)
            .service(admin_orders::create_shipment)
            .service(admin_orders::deliver_shipment)
            .service(admin_orders::retry_capture)
            .service(admin_orders::deliver)
            .service(admin_orders::cancel)
            .service(admin_orders::refund)
            .service(admin_orders::create_refund)
            .service(admin_orders::approve_return)
            .service(admin_orders::reject_return)
            .service(admin_orders::receive_return)
            .service(admin_orders::refund_return)
            .service(admin_orders::timeline)
            .service(admin_promotions::create_promotion)
            .service(admin_promotions::list_promotions)
            .service(admin_promotions::get_promotion)
            .service(admin_promotions::replace_promotion)
            .service(admin_promotions::archive_promotion)
            .service(admin_promotions::promotion_usage)
            .service(admin_promotions::create_group)
            .service(admin_promotions::list_groups)
            .service(admin_promotions::rename_group)
            .service(admin_promotions::delete_group)
            .service(admin_promotions::list_members)
            .service(admin_promotions::add_member)
            .service(admin_promotions::remove_member)
            .service(shipping::list_shipping)
            .service(shipping::create_shipping)
            .service(shipping::update_shipping)
            .service(shipping::delete_shipping)
            .service(webhooks::payments)
            .service(sandbox::authenticate)
            .service(reviews::create)
            .service(reviews::list)
            .service(reviews::update)
            .service(reviews::remove)
            .service(reviews::hide)
            .service(reviews::unhide)
            .service(admin_outbox::list_events)
            .service(admin_outbox::stats)
            .service(admin_outbox::get_event)
            .service(admin_outbox::requeue),
    );
}
