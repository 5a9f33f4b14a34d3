// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    account_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        purpose -> Text,
        token_hash -> Bytea,
        new_email -> Nullable<Text>,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    addresses (id) {
        id -> Uuid,
        user_id -> Uuid,
        label -> Nullable<Text>,
        full_name -> Text,
        line1 -> Text,
        line2 -> Nullable<Text>,
        city -> Text,
        region -> Nullable<Text>,
        postal_code -> Text,
        country -> Text,
        phone -> Nullable<Text>,
        is_default_shipping -> Bool,
        is_default_billing -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cart_lines (cart_id, variant_id) {
        cart_id -> Uuid,
        variant_id -> Uuid,
        quantity -> Int4,
        added_at -> Timestamptz,
        currency -> Text,
    }
}

diesel::table! {
    carts (id) {
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        token_hash -> Nullable<Bytea>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        currency -> Nullable<Text>,
        line_count -> Int4,
        promotion_codes -> Array<Nullable<Text>>,
    }
}

diesel::table! {
    catalog_changes (seq) {
        seq -> Int8,
        xid -> Int8,
        product_id -> Nullable<Uuid>,
        at -> Timestamptz,
    }
}

diesel::table! {
    categories (id) {
        id -> Uuid,
        parent_id -> Nullable<Uuid>,
        slug -> Text,
        name -> Text,
        description -> Text,
        position -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    customer_group_members (group_id, user_id) {
        group_id -> Uuid,
        user_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    customer_groups (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        order_id -> Nullable<Uuid>,
        outcome -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    inventory_ledger (id) {
        id -> Int8,
        variant_id -> Uuid,
        delta -> Int4,
        reason -> Text,
        stock_after -> Int4,
        actor_id -> Nullable<Uuid>,
        order_id -> Nullable<Uuid>,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    order_events (id) {
        id -> Int8,
        order_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_id -> Nullable<Uuid>,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    order_lines (order_id, line_no) {
        order_id -> Uuid,
        line_no -> Int4,
        variant_id -> Nullable<Uuid>,
        product_id -> Nullable<Uuid>,
        sku -> Text,
        name -> Text,
        options -> Jsonb,
        unit_price_minor -> Int8,
        quantity -> Int4,
        line_total_minor -> Int8,
        discount_minor -> Int8,
        refunded_quantity -> Int4,
        restocked_quantity -> Int4,
        returned_quantity -> Int4,
        shipped_quantity -> Int4,
    }
}

diesel::table! {
    orders (id) {
        id -> Uuid,
        user_id -> Uuid,
        status -> Text,
        currency -> Text,
        subtotal_minor -> Int8,
        shipping_minor -> Int8,
        tax_minor -> Int8,
        total_minor -> Int8,
        shipping_address -> Jsonb,
        shipping_method_id -> Nullable<Uuid>,
        shipping_method -> Text,
        payment_id -> Nullable<Text>,
        payment_error -> Nullable<Text>,
        carrier -> Nullable<Text>,
        tracking_number -> Nullable<Text>,
        expires_at -> Timestamptz,
        paid_at -> Nullable<Timestamptz>,
        shipped_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
        refunded_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        discount_minor -> Int8,
        promotions -> Jsonb,
        refunded_minor -> Int8,
        shipping_refunded -> Bool,
        payment_action -> Nullable<Jsonb>,
        payment_attempts -> Int4,
        capture_mode -> Text,
        captured_minor -> Int8,
        capture_failed -> Bool,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        event_type -> Text,
        schema_version -> Int4,
        aggregate_type -> Text,
        aggregate_id -> Uuid,
        payload -> Jsonb,
        occurred_at -> Timestamptz,
        status -> Text,
        attempts -> Int4,
        available_at -> Timestamptz,
        claim_id -> Nullable<Uuid>,
        notified_at -> Nullable<Timestamptz>,
        published_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    payment_events (event_id) {
        event_id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        order_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    products (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        description -> Text,
        status -> Text,
        category_id -> Nullable<Uuid>,
        brand -> Nullable<Text>,
        attributes -> Jsonb,
        images -> Array<Text>,
        currency -> Text,
        min_price -> Int8,
        max_price -> Int8,
        rating_count -> Int4,
        rating_sum -> Int4,
        search -> Nullable<Tsvector>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    promotion_redemptions (promotion_id, order_id) {
        promotion_id -> Uuid,
        order_id -> Uuid,
        user_id -> Uuid,
        amount_minor -> Int8,
        released_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    promotions (id) {
        id -> Uuid,
        name -> Text,
        code -> Nullable<Text>,
        status -> Text,
        starts_at -> Nullable<Timestamptz>,
        ends_at -> Nullable<Timestamptz>,
        priority -> Int4,
        combinable -> Bool,
        conditions -> Jsonb,
        action -> Jsonb,
        max_discount_minor -> Nullable<Int8>,
        usage_limit -> Nullable<Int8>,
        per_customer_limit -> Nullable<Int8>,
        redemptions -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        device -> Nullable<Text>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Uuid,
        order_id -> Uuid,
        idempotency_key -> Text,
        request_hash -> Bytea,
        provider_key -> Text,
        amount_minor -> Int8,
        currency -> Text,
        lines -> Jsonb,
        shipping -> Bool,
        reason -> Nullable<Text>,
        status -> Text,
        provider_refund_id -> Nullable<Text>,
        error -> Nullable<Text>,
        actor_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        settled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    returns (id) {
        id -> Uuid,
        order_id -> Uuid,
        status -> Text,
        lines -> Jsonb,
        reason -> Text,
        note -> Nullable<Text>,
        refund_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reviews (id) {
        id -> Uuid,
        product_id -> Uuid,
        user_id -> Uuid,
        rating -> Int2,
        title -> Text,
        body -> Text,
        hidden_at -> Nullable<Timestamptz>,
        hidden_reason -> Nullable<Text>,
        hidden_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    shipments (id) {
        id -> Uuid,
        order_id -> Uuid,
        number -> Int4,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Bytea>,
        carrier -> Text,
        tracking_number -> Text,
        lines -> Jsonb,
        status -> Text,
        capture_minor -> Int8,
        currency -> Text,
        final_capture -> Bool,
        capture_status -> Text,
        capture_error -> Nullable<Text>,
        actor_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        captured_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    shipping_methods (id) {
        id -> Uuid,
        name -> Text,
        price_minor -> Int8,
        currency -> Text,
        countries -> Array<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        name -> Text,
        role -> Text,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        email_verified_at -> Nullable<Timestamptz>,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    variants (id) {
        id -> Uuid,
        product_id -> Uuid,
        sku -> Text,
        options -> Jsonb,
        price_minor -> Int8,
        compare_at_minor -> Nullable<Int8>,
        stock -> Int4,
        active -> Bool,
        position -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(account_tokens -> users (user_id));
diesel::joinable!(addresses -> users (user_id));
diesel::joinable!(cart_lines -> variants (variant_id));
diesel::joinable!(carts -> users (user_id));
diesel::joinable!(customer_group_members -> customer_groups (group_id));
diesel::joinable!(customer_group_members -> users (user_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(inventory_ledger -> orders (order_id));
diesel::joinable!(inventory_ledger -> variants (variant_id));
diesel::joinable!(order_events -> orders (order_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> variants (variant_id));
diesel::joinable!(orders -> shipping_methods (shipping_method_id));
diesel::joinable!(orders -> users (user_id));
diesel::joinable!(products -> categories (category_id));
diesel::joinable!(promotion_redemptions -> orders (order_id));
diesel::joinable!(promotion_redemptions -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(refunds -> orders (order_id));
diesel::joinable!(returns -> orders (order_id));
diesel::joinable!(returns -> refunds (refund_id));
diesel::joinable!(reviews -> products (product_id));
diesel::joinable!(reviews -> users (user_id));
diesel::joinable!(shipments -> orders (order_id));
diesel::joinable!(variants -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_tokens,
    addresses,
    cart_lines,
    carts,
    catalog_changes,
    categories,
    customer_group_members,
    customer_groups,
    idempotency_keys,
    inventory_ledger,
    order_events,
    order_lines,
    orders,
    outbox,
    payment_events,
    products,
    promotion_redemptions,
    promotions,
    refresh_tokens,
    refunds,
    returns,
    reviews,
    shipments,
    shipping_methods,
    users,
    variants,
);
