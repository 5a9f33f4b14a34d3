//! The search index's query path over a catalog shaped like `shop-api seed` (the words, brands,
//! categories and prices of `persistence::seed`): the searches of `just bench`'s search rows, a
//! long-tail typo, and a category listing, each a first page with its facets as the API asks.
//!
//! `cargo bench -p search`; figures in docs/performance.md (benches/micro.sh prints them).

use std::hint::black_box;

use catalog::{IndexedProduct, ListingQuery, ProductSummary, Sort};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use primitives::Money;
use search::Index;
use uuid::Uuid;

const ADJECTIVES: [&str; 20] = [
    "Classic",
    "Modern",
    "Vintage",
    "Urban",
    "Essential",
    "Premium",
    "Organic",
    "Slim",
    "Relaxed",
    "Heritage",
    "Sport",
    "Travel",
    "Compact",
    "Deluxe",
    "Everyday",
    "Outdoor",
    "Soft",
    "Bold",
    "Minimal",
    "Rugged",
];
const MATERIALS: [&str; 15] = [
    "Cotton", "Linen", "Wool", "Leather", "Denim", "Bamboo", "Steel", "Oak", "Ceramic", "Glass", "Canvas", "Silk",
    "Cork", "Hemp", "Titanium",
];
const NOUNS: [&str; 25] = [
    "Shirt",
    "Jacket",
    "Sneaker",
    "Lamp",
    "Mug",
    "Backpack",
    "Headphones",
    "Speaker",
    "Blanket",
    "Watch",
    "Bottle",
    "Chair",
    "Notebook",
    "Scarf",
    "Wallet",
    "Candle",
    "Kettle",
    "Pillow",
    "Helmet",
    "Tent",
    "Puzzle",
    "Novel",
    "Cookbook",
    "Serum",
    "Brush",
];
const BRANDS: [&str; 20] = [
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Aperture",
    "Black Mesa",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Dunder",
];
const TAILS: [&str; 8] = [
    "Built to last.",
    "A customer favourite.",
    "Lightweight and durable.",
    "Designed in Berlin.",
    "Easy to care for.",
    "Ethically made.",
    "Limited edition.",
    "Our best seller.",
];

/// Product `i` of the seed (drafts, every 20th, are not listed and so not indexed).
fn product(i: u64) -> IndexedProduct {
    let (adj, mat, noun) =
        (ADJECTIVES[(i % 20) as usize], MATERIALS[(i / 20 % 15) as usize], NOUNS[(i / 300 % 25) as usize]);
    let name = format!("{adj} {mat} {noun}");
    let price = 499 + (i as i64 * 37 % 19_500);
    let eur = "EUR".parse().expect("valid");
    IndexedProduct {
        summary: ProductSummary {
            id: Uuid::from_u128(u128::from(i) * 0x9E37_79B9_7F4A_7C15),
            slug: format!("{}-{i}", name.to_lowercase().replace(' ', "-")),
            brand: Some(BRANDS[(i * 7 % 20) as usize].into()),
            category_id: Some(Uuid::from_u128(u128::from(1 + i % 40))),
            image: Some(format!("https://img.example.com/p/{i}/1.jpg")),
            price_min: Money::new(price, eur),
            price_max: Money::new(price + 400, eur),
            in_stock: !(i * 13).is_multiple_of(60),
            rating_average: None,
            rating_count: 0,
            created_at: Utc.timestamp_opt(1_767_225_600 + i as i64 * 60, 0).single().expect("valid"),
            rank: 0.0,
            name,
        },
        description: format!(
            "A {} {} made of {}. {}",
            adj.to_lowercase(),
            noun.to_lowercase(),
            mat.to_lowercase(),
            TAILS[(i % 8) as usize]
        ),
        rating_sum: 0,
    }
}

/// As an instance loads it (`IndexedListing::rebuild`).
fn catalog(n: u64) -> Index {
    Index::of((1..=n).filter(|i| !i.is_multiple_of(20)).map(product).collect())
}

fn first_page(q: ListingQuery) -> ListingQuery {
    ListingQuery { limit: 24, ..q }
}

fn search(c: &mut Criterion) {
    let index = catalog(100_000);
    let mut group = c.benchmark_group("search_100k");
    // The terms of `just bench`'s search rows (benches/run.sh), three with a typo.
    let terms = ["cotton", "jaket", "leathr", "oak lamp", "kettel", "wool scarf", "headphones", "ceramic mug"];
    group.bench_function("bench_terms_each", |b| {
        let mut at = 0;
        b.iter(|| {
            at = (at + 1) % terms.len();
            let q = first_page(ListingQuery { q: Some(terms[at].into()), sort: Sort::Relevance, ..Default::default() });
            black_box(index.page(&q, true))
        })
    });
    for term in ["cotton", "leathr", "wool scarf", "premum cotten jakets"] {
        group.bench_function(term.replace(' ', "_"), |b| {
            let q = first_page(ListingQuery { q: Some(term.into()), sort: Sort::Relevance, ..Default::default() });
            b.iter(|| black_box(index.page(&q, true)))
        });
    }
    group.bench_function("category_price_newest", |b| {
        let q = first_page(ListingQuery {
            categories: Some(vec![Uuid::from_u128(3), Uuid::from_u128(4)]),
            price_min: Some(1_000),
            price_max: Some(5_000),
            sort: Sort::Newest,
            ..Default::default()
        });
        b.iter(|| black_box(index.page(&q, true)))
    });
    group.bench_function("all_price_asc", |b| {
        let q = first_page(ListingQuery { sort: Sort::PriceAsc, ..Default::default() });
        b.iter(|| black_box(index.page(&q, true)))
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
