//! Route registration. Every service registered here lands in the OpenAPI document.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub mod admin_catalog;
pub mod admin_users;
pub mod auth;
pub mod catalog;
pub mod me;
pub mod ops;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ops::live).service(ops::ready).service(ops::metrics);
    cfg.service(
        scope::scope("/api/v1")
            .service(auth::register)
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::logout_all)
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
            .service(catalog::category_tree)
            .service(catalog::get_category)
            .service(catalog::list_products)
            .service(catalog::product)
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
            .service(admin_catalog::ledger),
    );
}
