// Kept in step with migrations/ by hand (the shape `diesel print-schema` would produce).

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

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(addresses -> users (user_id));

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
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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

diesel::joinable!(products -> categories (category_id));
diesel::joinable!(variants -> products (product_id));
diesel::joinable!(inventory_ledger -> variants (variant_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    addresses,
    categories,
    products,
    variants,
    inventory_ledger,
);
