//! Deterministic demo data: a category tree, products with variants and stock, users, shipping
//! methods for the seeded countries, and a few reviews (so a demo store can be browsed, rated
//! and checked out without an admin step).
//! Generated inside PostgreSQL with `generate_series` (one statement per table), so 100,000
//! products load in seconds. Ids are derived from the row number, so seeding twice adds nothing.

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::{Db, DbError};

const TOP: [(&str, &[&str]); 8] = [
    ("clothing", &["t-shirts", "shirts", "jeans", "jackets", "dresses"]),
    ("shoes", &["sneakers", "boots", "sandals", "running-shoes", "loafers"]),
    ("home", &["kitchen", "bedding", "lighting", "furniture", "decor"]),
    ("electronics", &["headphones", "speakers", "chargers", "cameras", "keyboards"]),
    ("sports", &["cycling", "yoga", "camping", "fitness", "swimming"]),
    ("beauty", &["skincare", "haircare", "fragrance", "makeup", "bath"]),
    ("toys", &["puzzles", "board-games", "building-sets", "plush", "outdoor-toys"]),
    ("books", &["fiction", "cooking", "travel", "science", "children"]),
];

fn title(slug: &str) -> String {
    slug.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a seed run inserted (rows that already existed are not counted).
#[derive(Debug, Default, Clone, Copy)]
pub struct Seeded {
    pub categories: usize,
    pub products: usize,
    pub variants: usize,
    pub users: usize,
    pub shipping_methods: usize,
    pub reviews: usize,
    pub promotions: usize,
}

/// Shipping methods of the demo store: (name, price in cents, countries; empty = everywhere).
const SHIPPING: [(&str, i64, &str); 3] = [
    ("Standard (3-5 days)", 490, "{DE,AT,FR,IT,PT,NL,BE,ES}"),
    ("Express (next day)", 1290, "{DE,AT,FR,IT,PT,NL,BE,ES}"),
    ("International", 1990, "{}"),
];

/// Reviews of the demo store: up to three on each of the first 60 active products, by the first
/// seeded users (demo data: these reviewers bought nothing).
const REVIEWS_SQL: &str = r#"
INSERT INTO reviews (id, product_id, user_id, rating, title, body, created_at)
SELECT md5('seed-review-' || p.n || '-' || u.k)::uuid, p.id, md5('seed-user-' || u.k)::uuid,
       1 + ((p.n * 7 + u.k * 3) % 5),
       (ARRAY['Great value', 'Does the job', 'Not what I expected', 'Love it', 'Solid quality'])[1 + ((p.n + u.k) % 5)],
       (ARRAY['Arrived quickly and looks as pictured.', 'Good quality for the price.',
              'The size runs a little small.', 'Would buy again.', 'Nice, but the colour is darker.'])[1 + ((p.n * u.k) % 5)],
       timestamptz '2026-02-01 00:00:00+00' + ((p.n * 3 + u.k) || ' hours')::interval
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM products WHERE status = 'active'
      ORDER BY created_at, id LIMIT 60) p,
     generate_series(1, 3) AS u(k)
WHERE u.k <= $1 AND (p.n + u.k) % 4 <> 0
ON CONFLICT DO NOTHING
"#;

const PRODUCTS_SQL: &str = r#"
INSERT INTO products (id, slug, name, description, status, category_id, brand, attributes, images, currency, created_at)
SELECT md5('seed-product-' || i)::uuid,
       lower(replace(n.name, ' ', '-')) || '-' || i,
       n.name,
       'A ' || lower(n.adj) || ' ' || lower(n.noun) || ' made of ' || lower(n.mat) || '. '
         || (ARRAY['Built to last.', 'A customer favourite.', 'Lightweight and durable.', 'Designed in Berlin.',
                   'Easy to care for.', 'Ethically made.', 'Limited edition.', 'Our best seller.'])[1 + (i % 8)],
       CASE WHEN i % 20 = 0 THEN 'draft' ELSE 'active' END,
       (SELECT id FROM categories WHERE slug = (string_to_array($2, ','))[1 + (i % 40)]),
       (ARRAY['Acme', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka', 'Tyrell',
              'Cyberdyne', 'Soylent', 'Vandelay', 'Pied Piper', 'Aperture', 'Black Mesa', 'Oscorp', 'Gringotts',
              'Monarch', 'Dunder'])[1 + (i * 7 % 20)],
       jsonb_build_object('material', n.mat, 'origin', (ARRAY['DE', 'FR', 'IT', 'PT', 'JP', 'US'])[1 + (i % 6)]),
       ARRAY['https://img.example.com/p/' || i || '/1.jpg', 'https://img.example.com/p/' || i || '/2.jpg'],
       'EUR',
       timestamptz '2026-01-01 00:00:00+00' + (i || ' minutes')::interval
FROM generate_series(1, $1::bigint) AS i,
LATERAL (SELECT a AS adj, m AS mat, o AS noun, a || ' ' || m || ' ' || o AS name FROM (SELECT
       (ARRAY['Classic', 'Modern', 'Vintage', 'Urban', 'Essential', 'Premium', 'Organic', 'Slim', 'Relaxed',
              'Heritage', 'Sport', 'Travel', 'Compact', 'Deluxe', 'Everyday', 'Outdoor', 'Soft', 'Bold', 'Minimal',
              'Rugged'])[1 + (i % 20)] AS a,
       (ARRAY['Cotton', 'Linen', 'Wool', 'Leather', 'Denim', 'Bamboo', 'Steel', 'Oak', 'Ceramic', 'Glass',
              'Canvas', 'Silk', 'Cork', 'Hemp', 'Titanium'])[1 + (i / 20 % 15)] AS m,
       (ARRAY['Shirt', 'Jacket', 'Sneaker', 'Lamp', 'Mug', 'Backpack', 'Headphones', 'Speaker', 'Blanket',
              'Watch', 'Bottle', 'Chair', 'Notebook', 'Scarf', 'Wallet', 'Candle', 'Kettle', 'Pillow', 'Helmet',
              'Tent', 'Puzzle', 'Novel', 'Cookbook', 'Serum', 'Brush'])[1 + (i / 300 % 25)] AS o) w) n
ON CONFLICT (id) DO NOTHING
"#;

const VARIANTS_SQL: &str = r#"
INSERT INTO variants (id, product_id, sku, options, price_minor, compare_at_minor, stock, position)
SELECT md5('seed-variant-' || i || '-' || s.pos)::uuid,
       md5('seed-product-' || i)::uuid,
       'SKU-' || i || '-' || s.size,
       jsonb_build_object('size', s.size),
       499 + (i * 37 % 19500) + s.pos * 200,
       CASE WHEN i % 5 = 0 THEN 499 + (i * 37 % 19500) + s.pos * 200 + 1000 END,
       (i * 13 + s.pos * 7) % 60,
       s.pos
FROM generate_series(1, $1::bigint) AS i,
     (VALUES (0, 'S'), (1, 'M'), (2, 'L')) AS s(pos, size)
ON CONFLICT (id) DO NOTHING
"#;

pub async fn seed(db: &Db, products: i64, users: i64, password_hash: &str) -> Result<Seeded, DbError> {
    let mut conn = db.conn().await?;
    let mut out = Seeded::default();
    let leaves: Vec<&str> = TOP.iter().flat_map(|(_, subs)| subs.iter().copied()).collect();
    let leaves = leaves.join(",");
    conn.transaction(async |conn| {
        // Bulk work: lift the per-statement limit for this transaction only.
        diesel::sql_query("SET LOCAL statement_timeout = 0").execute(conn).await?;
        for (pos, (top, subs)) in TOP.iter().enumerate() {
            out.categories += diesel::sql_query(
                "INSERT INTO categories (id, slug, name, position) VALUES (md5('seed-category-' || $1)::uuid, $1, $2, $3) \
                 ON CONFLICT (slug) DO NOTHING",
            )
            .bind::<Text, _>(*top)
            .bind::<Text, _>(title(top))
            .bind::<diesel::sql_types::Integer, _>(pos as i32)
            .execute(conn)
            .await?;
            for (sub_pos, sub) in subs.iter().enumerate() {
                out.categories += diesel::sql_query(
                    "INSERT INTO categories (id, parent_id, slug, name, position) \
                     VALUES (md5('seed-category-' || $1)::uuid, (SELECT id FROM categories WHERE slug = $2), $1, $3, $4) \
                     ON CONFLICT (slug) DO NOTHING",
                )
                .bind::<Text, _>(*sub)
                .bind::<Text, _>(*top)
                .bind::<Text, _>(title(sub))
                .bind::<diesel::sql_types::Integer, _>(sub_pos as i32)
                .execute(conn)
                .await?;
            }
        }
        out.products =
            diesel::sql_query(PRODUCTS_SQL).bind::<BigInt, _>(products).bind::<Text, _>(&leaves).execute(conn).await?;
        // Prices are set in bulk below instead of by the per-row trigger.
        diesel::sql_query("ALTER TABLE variants DISABLE TRIGGER variants_prices").execute(conn).await?;
        out.variants = diesel::sql_query(VARIANTS_SQL).bind::<BigInt, _>(products).execute(conn).await?;
        diesel::sql_query("ALTER TABLE variants ENABLE TRIGGER variants_prices").execute(conn).await?;
        diesel::sql_query(
            "UPDATE products p SET min_price = v.lo, max_price = v.hi \
             FROM (SELECT product_id, min(price_minor) AS lo, max(price_minor) AS hi FROM variants WHERE active GROUP BY product_id) v \
             WHERE v.product_id = p.id AND (p.min_price, p.max_price) IS DISTINCT FROM (v.lo, v.hi)",
        )
        .execute(conn)
        .await?;
        diesel::sql_query(
            "INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after) \
             SELECT v.id, v.stock, 'initial', v.stock FROM variants v \
             WHERE v.stock > 0 AND NOT EXISTS (SELECT 1 FROM inventory_ledger l WHERE l.variant_id = v.id)",
        )
        .execute(conn)
        .await?;
        out.users = diesel::sql_query(
            "INSERT INTO users (id, email, password_hash, name) \
             SELECT md5('seed-user-' || i)::uuid, 'user' || i || '@example.com', $2, 'User ' || i \
             FROM generate_series(1, $1::bigint) AS i ON CONFLICT DO NOTHING",
        )
        .bind::<BigInt, _>(users)
        .bind::<Text, _>(password_hash)
        .execute(conn)
        .await?;
        for (name, price, countries) in SHIPPING {
            out.shipping_methods += diesel::sql_query(
                "INSERT INTO shipping_methods (id, name, price_minor, currency, countries) \
                 VALUES (md5('seed-shipping-' || $1)::uuid, $1, $2, 'EUR', $3::text[]) ON CONFLICT (id) DO NOTHING",
            )
            .bind::<Text, _>(name)
            .bind::<BigInt, _>(price)
            .bind::<Text, _>(countries)
            .execute(conn)
            .await?;
        }
        // A code to try the promotions with (docs/promotions.md); code-based, so carts without it
        // are priced as before.
        out.promotions = diesel::sql_query(
            "INSERT INTO promotions (id, name, code, status, conditions, action, per_customer_limit) \
             VALUES (md5('seed-promotion-welcome')::uuid, 'Welcome: 10 % off your first order', 'WELCOME10', 'active', \
                     '{\"first_order_only\": true}', '{\"type\": \"percent_off_order\", \"percent_bp\": 1000}', 1) \
             ON CONFLICT DO NOTHING",
        )
        .execute(conn)
        .await?;
        out.reviews = diesel::sql_query(REVIEWS_SQL).bind::<BigInt, _>(users.min(3)).execute(conn).await?;
        // The ratings the catalog shows and sorts by, from the visible reviews.
        diesel::sql_query(
            "UPDATE products p SET rating_sum = r.s, rating_count = r.c \
             FROM (SELECT product_id, sum(rating)::int AS s, count(*)::int AS c FROM reviews \
                   WHERE hidden_at IS NULL GROUP BY product_id) r \
             WHERE r.product_id = p.id AND (p.rating_sum, p.rating_count) IS DISTINCT FROM (r.s, r.c)",
        )
        .execute(conn)
        .await?;
        Ok::<_, diesel::result::Error>(())
    })
    .await?;
    diesel::sql_query("SET statement_timeout = 0").execute(&mut conn).await?;
    diesel::sql_query("ANALYZE categories, products, variants").execute(&mut conn).await?;
    // The connection goes back to the pool: restore the configured limit by dropping it instead.
    drop(deadpool::managed::Object::take(conn));
    Ok(out)
}
