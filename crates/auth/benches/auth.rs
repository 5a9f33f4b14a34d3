//! Access-token verification: runs on every signed-in request (`AuthUser` extractor).
//!
//! `cargo bench -p auth`; figures in docs/performance.md.

use std::hint::black_box;

use auth::{TokenConfig, Tokens};
use criterion::{Criterion, criterion_group, criterion_main};
use users::Role;
use uuid::Uuid;

fn tokens() -> Tokens {
    Tokens::new(&TokenConfig {
        current_secret: "bench-secret-bench-secret-bench-secret!".into(),
        previous_secrets: vec!["older-secret-older-secret-older-secret".into()],
        issuer: "shop".into(),
        audience: "shop-api".into(),
        access_ttl_secs: 900,
    })
}

fn jwt(c: &mut Criterion) {
    let t = tokens();
    let token = t.issue(Uuid::new_v4(), Role::Customer, Uuid::new_v4());
    c.bench_function("jwt/verify", |b| b.iter(|| t.verify(black_box(&token)).expect("valid")));
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push('A');
    c.bench_function("jwt/verify_bad_signature", |b| b.iter(|| t.verify(black_box(&tampered)).is_err()));
    c.bench_function("jwt/issue", |b| {
        b.iter(|| t.issue(black_box(Uuid::nil()), Role::Customer, black_box(Uuid::nil())))
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
