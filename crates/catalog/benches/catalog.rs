//! Catalog hot paths that are pure code: the JSON of a product detail (built and serialised on
//! every cache miss), the JSON of a listing page (every listing and search request), and the
//! keyset cursor (encoded on every page with a next page, decoded on every later page).
//!
//! `cargo bench -p catalog`; figures in docs/performance.md.

use std::hint::black_box;

use catalog::{
    CategoryRef, Facet, Facets, ListingCursor, Product, ProductPage, ProductStatus, ProductSummary, PublicProduct,
    Sort, SortKey, Variant,
};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use primitives::{Currency, Money};
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn eur() -> Currency {
    "EUR".parse().expect("valid")
}

/// A product shaped like the seeded ones: three variants, a few attributes and images.
fn product() -> Product {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid date");
    let mut attributes = Map::new();
    attributes.insert("material".into(), json!("cotton"));
    attributes.insert("care".into(), json!(["machine wash 30", "do not tumble dry"]));
    attributes.insert("weight_g".into(), json!(240));
    Product {
        id: Uuid::from_u128(7),
        slug: "organic-cotton-t-shirt-1234".into(),
        name: "Organic cotton T-shirt 1234".into(),
        description: "A soft, breathable T-shirt made of organic cotton, cut for a relaxed fit. \
                      Pre-shrunk, with reinforced seams and a ribbed collar that keeps its shape."
            .repeat(3),
        status: ProductStatus::Active,
        category: Some(CategoryRef { id: Uuid::from_u128(3), slug: "t-shirts".into(), name: "T-shirts".into() }),
        brand: Some("Northwind".into()),
        attributes,
        images: (1..=3).map(|i| format!("https://cdn.example.com/products/1234/{i}.jpg")).collect(),
        currency: eur(),
        rating_count: 12,
        rating_sum: 51,
        version: 3,
        variants: ["S", "M", "L"]
            .iter()
            .enumerate()
            .map(|(i, size)| {
                let mut options = Map::new();
                options.insert("size".into(), Value::from(*size));
                options.insert("colour".into(), Value::from("navy"));
                Variant {
                    id: Uuid::from_u128(100 + i as u128),
                    sku: format!("TS-1234-{size}"),
                    options,
                    price: Money::new(2_499 + i as i64 * 200, eur()),
                    compare_at_price: Some(Money::new(2_999, eur())),
                    stock: 10 * i as i32,
                    active: true,
                    position: i as i32,
                }
            })
            .collect(),
        created_at: at,
        updated_at: at,
    }
}

/// A first listing page: 24 summaries and the facets.
fn page() -> ProductPage {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid date");
    let items: Vec<ProductSummary> = (0..24u128)
        .map(|i| ProductSummary {
            id: Uuid::from_u128(1_000 + i),
            slug: format!("organic-cotton-t-shirt-{i}"),
            name: format!("Organic cotton T-shirt {i}"),
            brand: Some("Northwind".into()),
            category_id: Some(Uuid::from_u128(3)),
            image: Some(format!("https://cdn.example.com/products/{i}/1.jpg")),
            price_min: Money::new(2_499, eur()),
            price_max: Money::new(2_899, eur()),
            in_stock: i % 5 != 0,
            rating_average: Some(4.25),
            rating_count: 12,
            created_at: at,
            rank: 0.5,
        })
        .collect();
    let next = ListingCursor::after(&items[23], Sort::Newest).encode();
    let facet = |value: String, count| Facet { value, count };
    ProductPage {
        page: primitives::Page { items, next_cursor: Some(next) },
        facets: Some(Facets {
            categories: (0..6).map(|i| facet(Uuid::from_u128(i).to_string(), 100 + i as i64)).collect(),
            brands: ["Northwind", "Contoso", "Fabrikam", "Tailspin"].iter().map(|b| facet(b.to_string(), 40)).collect(),
            prices: Facets::price_bands([20, 120, 200, 160, 90, 10]),
            in_stock: 480,
        }),
    }
}

fn json(c: &mut Criterion) {
    let p = product();
    c.bench_function("json/product_detail", |b| {
        b.iter(|| serde_json::to_vec(&PublicProduct::from(black_box(&p))).expect("serialises"))
    });
    let public = PublicProduct::from(&p);
    println!("product detail body: {} bytes", serde_json::to_vec(&public).map(|v| v.len()).unwrap_or(0));
    c.bench_function("json/product_detail_to_vec_only", |b| {
        b.iter(|| serde_json::to_vec(black_box(&public)).expect("serialises"))
    });
    let pg = page();
    println!("listing page body: {} bytes", serde_json::to_vec(&pg).map(|v| v.len()).unwrap_or(0));
    c.bench_function("json/listing_page_24_items", |b| {
        b.iter(|| serde_json::to_vec(black_box(&pg)).expect("serialises"))
    });
}

fn cursor(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid date");
    let newest = ListingCursor { key: SortKey::Newest(at.into()), id: Uuid::from_u128(42), fuzzy: false };
    let relevance = ListingCursor { key: SortKey::Relevance(0.123_456_789), id: Uuid::from_u128(42), fuzzy: true };
    c.bench_function("cursor/encode_newest", |b| b.iter(|| black_box(&newest).encode()));
    let s = newest.encode();
    c.bench_function("cursor/decode_newest", |b| {
        b.iter(|| ListingCursor::decode(black_box(&s), Sort::Newest).expect("valid"))
    });
    let r = relevance.encode();
    c.bench_function("cursor/decode_relevance_fuzzy", |b| {
        b.iter(|| ListingCursor::decode(black_box(&r), Sort::Relevance).expect("valid"))
    });
    c.bench_function("cursor/decode_garbage", |b| {
        b.iter(|| ListingCursor::decode(black_box("bm90IGEgY3Vyc29y"), Sort::Newest).is_none())
    });
}

criterion_group!(benches, json, cursor);
criterion_main!(benches);
