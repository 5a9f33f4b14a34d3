//! Cart pricing: runs on every cart view and again inside the checkout transaction.
//!
//! `cargo bench -p cart`; figures in docs/performance.md.

use std::hint::black_box;

use cart::{LineSnapshot, price_lines, totals};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use primitives::{Currency, Money};
use serde_json::{Map, Value};
use uuid::Uuid;

fn lines(n: usize) -> Vec<LineSnapshot> {
    let eur: Currency = "EUR".parse().expect("valid");
    (0..n)
        .map(|i| {
            let mut options = Map::new();
            options.insert("size".into(), Value::from(["S", "M", "L"][i % 3]));
            options.insert("colour".into(), Value::from("blue"));
            LineSnapshot {
                variant_id: Uuid::from_u128(i as u128 + 1),
                product_id: Uuid::from_u128(i as u128 + 1_000),
                category_id: None,
                product_slug: format!("product-{i}"),
                name: format!("Product number {i}"),
                sku: format!("SKU-{i:06}"),
                options,
                unit_price_minor: 1_999 + i as i64 * 100,
                currency: eur,
                quantity: 1 + (i % 3) as i32,
                stock: 50,
                purchasable: true,
            }
        })
        .collect()
}

fn pricing(c: &mut Criterion) {
    let eur: Currency = "EUR".parse().expect("valid");
    let shipping = Money::new(490, eur);
    let mut g = c.benchmark_group("cart");
    for n in [3usize, 20] {
        let snapshot = lines(n);
        g.bench_with_input(BenchmarkId::new("price_lines+totals", n), &snapshot, |b, s| {
            b.iter(|| {
                let priced = price_lines(black_box(s));
                totals(&priced, shipping, 0, 1_900).expect("totals")
            })
        });
        let priced = price_lines(&snapshot);
        g.bench_with_input(BenchmarkId::new("totals", n), &priced, |b, p| {
            b.iter(|| totals(black_box(p), shipping, 0, 1_900).expect("totals"))
        });
    }
    g.finish();
}

criterion_group!(benches, pricing);
criterion_main!(benches);
