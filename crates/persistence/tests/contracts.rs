//! Each adapter's contract, tested against a real PostgreSQL without HTTP: what a domain team
//! runs with `cargo test -p persistence`. Rules that must hold under concurrency are tested by
//! firing the calls at once; constraints are tried directly where the adapter would never break
//! them.

use std::sync::Arc;
use std::time::Duration;

use cart::{CartError, CartOwner, CartRepo, MAX_LINES, NewShippingMethod, ShippingRepo};
use catalog::{CatalogError, NewProduct, NewVariant, ProductRepo, ProductStatus, StockReason, StockRepo};
use futures_util::future::join_all;
use orders::{Claim, OrderRepo, OrderStatus, PlaceOrder};
use outbox::OutboxRepo;
use persistence::{Db, PgCartRepo, PgCatalogRepo, PgOrderRepo, PgOutboxRepo, PgShippingRepo, PgUserRepo};
use primitives::PageRequest;
use testkit::TestDb;
use users::{AddressInput, AddressPatch, NewUser, RepoError, Role, UserRepo};
use uuid::Uuid;

fn db(t: &TestDb) -> Db {
    t.pool(16)
}

async fn user(db: &Db, tag: &str) -> Uuid {
    let email = format!("{tag}-{}@example.com", Uuid::new_v4().simple());
    let u = PgUserRepo::new(db.clone())
        .create(NewUser {
            id: Uuid::now_v7(),
            email,
            password_hash: "x".into(),
            name: tag.into(),
            role: Role::Customer,
            verification: None,
        })
        .await
        .expect("user");
    u.id
}

/// A product in `currency` with `n` variants of `stock` each; the variant ids.
async fn variants(db: &Db, currency: &str, n: usize, stock: i32) -> Vec<Uuid> {
    let tag = Uuid::new_v4().simple().to_string();
    let p = PgCatalogRepo::new(db.clone())
        .create_product(
            &NewProduct {
                slug: format!("p-{tag}"),
                name: format!("P {tag}"),
                description: String::new(),
                status: ProductStatus::Active,
                category_id: None,
                brand: None,
                attributes: Default::default(),
                images: vec![],
                currency: currency.into(),
                variants: (0..n)
                    .map(|i| NewVariant {
                        sku: format!("{tag}-{i}"),
                        options: Default::default(),
                        price_minor: 1000,
                        compare_at_minor: None,
                        stock,
                        active: true,
                        position: i as i32,
                    })
                    .collect(),
            },
            Uuid::nil(),
        )
        .await
        .expect("product");
    p.variants.iter().map(|v| v.id).collect()
}

#[tokio::test]
async fn cart_rules_hold_under_concurrent_adds_and_merges_are_all_or_nothing() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgCartRepo::new(db.clone()));
    let owner = CartOwner::User(user(&db, "cart").await);
    let many = [variants(&db, "EUR", 90, 5).await, variants(&db, "EUR", 40, 5).await].concat();
    for v in &many[..90] {
        repo.add_line(&owner, *v, 1).await.expect("add");
    }
    // 40 new lines at once on a cart of 90: exactly 10 fit, the rest are refused as full.
    let adds = many[90..].iter().map(|v| {
        let (repo, owner) = (repo.clone(), owner.clone());
        async move { repo.add_line(&owner, *v, 1).await }
    });
    let results = join_all(adds).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(CartError::TooManyLines(MAX_LINES)))));
    let cart = repo.find(&owner).await.expect("find").expect("cart");
    assert_eq!(repo.lines(cart).await.expect("lines").len(), MAX_LINES);

    // A guest cart that would pass the limit: refused, both carts unchanged.
    let guest = CartOwner::Guest(vec![7; 32]);
    let g = repo.add_line(&guest, many[0], 2).await.expect("guest add").id;
    repo.add_line(&guest, variants(&db, "EUR", 1, 5).await[0], 1).await.expect("guest add");
    assert!(matches!(repo.merge(g, &owner).await, Err(CartError::TooManyLines(_))));
    assert_eq!(repo.lines(g).await.expect("guest lines").len(), 2);
    assert_eq!(repo.lines(cart).await.expect("lines").len(), MAX_LINES);

    // One currency: a USD line is refused in an EUR cart; an unknown variant creates nothing.
    let usd = variants(&db, "USD", 1, 5).await[0];
    assert!(matches!(repo.add_line(&owner, usd, 1).await, Err(CartError::CurrencyMismatch(_))));
    let fresh = CartOwner::Guest(vec![9; 32]);
    assert!(matches!(repo.add_line(&fresh, Uuid::new_v4(), 1).await, Err(CartError::UnknownVariant)));
    assert_eq!(repo.find(&fresh).await.expect("find"), None, "a refused add leaves no cart behind");
}

#[tokio::test]
async fn an_add_answers_the_cart_as_a_fresh_read_finds_it() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgCartRepo::new(db.clone()));
    for owner in [CartOwner::User(user(&db, "answer").await), CartOwner::Guest(vec![3; 32])] {
        let v = variants(&db, "EUR", 4, 5).await;
        // New lines, more of a held one (it keeps its place), then another new one.
        for (variant, quantity) in [(v[2], 1), (v[0], 2), (v[2], 3), (v[1], 1), (v[3], 99)] {
            let answer = repo.add_line(&owner, variant, quantity).await.expect("add");
            let read = repo.lines(answer.id).await.expect("lines");
            assert_eq!(answer.lines, read, "the add's answer is what a read after it finds");
            assert_eq!(answer.codes, repo.codes(answer.id).await.expect("codes"));
        }
        let cart = repo.find(&owner).await.expect("find").expect("cart");
        let read = repo.lines(cart).await.expect("lines");
        assert_eq!(
            read.iter().map(|l| (l.variant_id, l.quantity)).collect::<Vec<_>>(),
            [(v[2], 4), (v[0], 2), (v[1], 1), (v[3], 99)]
        );
        // Lines added at once to one cart: every answer holds the lines committed before it,
        // in the order a read finds them.
        let more = variants(&db, "EUR", 12, 5).await;
        let adds = more.iter().map(|v| {
            let (repo, owner) = (repo.clone(), owner.clone());
            async move { repo.add_line(&owner, *v, 1).await.expect("add") }
        });
        let answers = join_all(adds).await;
        let read = repo.lines(cart).await.expect("lines");
        assert_eq!(read.len(), 16);
        let last = answers.iter().max_by_key(|a| a.lines.len()).expect("answers");
        assert_eq!(last.lines, read, "the last add to commit answers the cart as it is");
        for a in &answers {
            assert_eq!(a.lines[..], read[..a.lines.len()], "each answer is a prefix of the final order");
        }
    }
}

#[tokio::test]
async fn address_defaults_and_limit_hold_under_concurrency() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgUserRepo::new(db.clone()));
    let owner = user(&db, "addr").await;
    let input = |n: usize| AddressInput {
        label: None,
        full_name: format!("Home {n}"),
        line1: "1 Main St".into(),
        line2: None,
        city: "Berlin".into(),
        region: None,
        postal_code: "10115".into(),
        country: "DE".into(),
        phone: None,
        is_default_shipping: true,
        is_default_billing: false,
    };
    let creates = (0..25).map(|n| {
        let (repo, input) = (repo.clone(), input(n));
        async move { repo.create_address(owner, &input, 20).await }
    });
    let results = join_all(creates).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20, "the limit holds for concurrent creates");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(RepoError::AddressLimit))));
    let all = repo.list_addresses(owner).await.expect("list");
    let patches = all.iter().map(|a| {
        let repo = repo.clone();
        let patch = AddressPatch { is_default_billing: Some(true), ..Default::default() };
        async move { repo.update_address(owner, a.id, &patch).await }
    });
    assert!(join_all(patches).await.iter().all(Result::is_ok), "switching defaults at once never fails");
    let all = repo.list_addresses(owner).await.expect("list");
    assert_eq!(all.iter().filter(|a| a.is_default_shipping).count(), 1);
    assert_eq!(all.iter().filter(|a| a.is_default_billing).count(), 1);
    // Another user's address is not found, never changed.
    let other = user(&db, "other").await;
    assert!(matches!(repo.update_address(other, all[0].id, &AddressPatch::default()).await, Err(RepoError::NotFound)));
}

#[tokio::test]
async fn stock_adjustments_at_once_never_go_negative_and_the_ledger_sums() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgCatalogRepo::new(db.clone()));
    let v = variants(&db, "EUR", 1, 10).await[0];
    let deltas = [-4, -4, -4, 3, -2, 5, -6, 1];
    let calls = deltas.iter().map(|d| {
        let repo = repo.clone();
        let d = *d;
        async move { repo.adjust_stock(v, d, StockReason::Adjustment, None, None).await }
    });
    for r in join_all(calls).await {
        assert!(matches!(r, Ok(_) | Err(CatalogError::InsufficientStock { .. })), "{r:?}");
    }
    let ledger = repo.ledger(v, &PageRequest { after: None, limit: 100 }).await.expect("ledger");
    let sum: i32 = ledger.iter().map(|e| e.delta).sum();
    let stock = stock_of(&repo, v).await;
    assert_eq!(sum, stock);
    assert!(stock >= 0);
    assert!(ledger.iter().all(|e| e.stock_after >= 0));
    let big = repo.adjust_stock(v, 1_000_000_000, StockReason::Restock, None, None).await;
    assert!(matches!(big, Err(CatalogError::Invalid { field: "delta", .. })));
}

/// The stock of a variant, read back through its product.
async fn stock_of(repo: &PgCatalogRepo, variant: Uuid) -> i32 {
    let (v, _) = repo.update_variant(variant, &catalog::VariantPatch::default()).await.expect("variant");
    v.stock
}

#[tokio::test]
async fn concurrent_checkouts_never_oversell_and_cancelling_twice_restocks_once() {
    let t = TestDb::new().await;
    let db = db(&t);
    let carts = PgCartRepo::new(db.clone());
    let orders = Arc::new(PgOrderRepo::new(db.clone()));
    let shipping = PgShippingRepo::new(db.clone())
        .create(&NewShippingMethod {
            name: "Std".into(),
            price_minor: 0,
            currency: "EUR".into(),
            countries: vec![],
            active: true,
        })
        .await
        .expect("shipping");
    let v = variants(&db, "EUR", 1, 5).await[0];
    let mut buyers = Vec::new();
    for n in 0..10 {
        let u = user(&db, &format!("buyer{n}")).await;
        carts.add_line(&CartOwner::User(u), v, 1).await.expect("add");
        assert_eq!(orders.claim_key(u, "k", b"h", 3600).await.expect("claim"), Claim::Fresh);
        buyers.push(u);
    }
    let places = buyers.iter().map(|u| {
        let (orders, shipping) = (orders.clone(), shipping.clone());
        let p = PlaceOrder {
            user_id: *u,
            idempotency_key: "k".into(),
            shipping_address: serde_json::to_value(AddressInput {
                label: None,
                full_name: "A".into(),
                line1: "1".into(),
                line2: None,
                city: "B".into(),
                region: None,
                postal_code: "1".into(),
                country: "DE".into(),
                phone: None,
                is_default_shipping: false,
                is_default_billing: false,
            })
            .expect("json"),
            shipping_method: shipping,
            tax_rate_bp: 0,
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
            low_stock_threshold: 1,
            capture_mode: orders::CaptureMode::Automatic,
        };
        async move { orders.place(&p).await }
    });
    let placed: Vec<_> = join_all(places).await.into_iter().filter_map(Result::ok).collect();
    assert_eq!(placed.len(), 5, "five in stock, five sold");
    // A second claim of a used key is in progress (not fresh): the work is not done twice.
    assert_ne!(orders.claim_key(buyers[0], "k", b"h", 3600).await.expect("claim"), Claim::Fresh);

    let order = placed[0].id;
    let cancels = (0..4).map(|_| {
        let orders = orders.clone();
        async move { orders.apply(order, orders::Event::Cancel, Default::default()).await }
    });
    let done = join_all(cancels).await.into_iter().filter(|r| matches!(r, Ok(orders::Applied::Done { .. }))).count();
    assert_eq!(done, 1, "one cancellation wins; the others are illegal transitions");
    assert_eq!(orders.get(order).await.expect("get").expect("order").status, OrderStatus::Cancelled);
    assert_eq!(stock_of(&PgCatalogRepo::new(db.clone()), v).await, 1, "restocked once");

    // Shipping the paid one-unit order four times at once: one shipment, the rest refused.
    let paid = placed[1].id;
    let data = orders::TransitionData { payment_id: Some("pi_contract".into()), ..Default::default() };
    orders.apply(paid, orders::Event::PaymentSucceeded, data).await.expect("paid");
    let ships = (0..4).map(|n| {
        let orders = orders.clone();
        let req = orders::ShipmentRequest { carrier: "DHL".into(), tracking_number: format!("T{n}"), lines: vec![] };
        let call = orders::ShipCall { key: None, request_hash: vec![], req, actor: None };
        async move { orders.ship(paid, call).await }
    });
    let results = join_all(ships).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "one parcel of the one unit");
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(orders::OrderError::Illegal(_)))));
    let o = orders.get(paid).await.expect("get").expect("order");
    assert_eq!((o.status, o.lines[0].shipped_quantity, o.shipments.len()), (OrderStatus::Shipped, 1, 1));
    assert_eq!(o.captured, o.total, "charged at checkout");
    let (delivered, _) = orders.deliver(paid, Some(o.shipments[0].id), None).await.expect("deliver");
    assert_eq!(delivered.status, OrderStatus::Delivered);
}

#[tokio::test]
async fn concurrent_outbox_claims_take_disjoint_events() {
    let t = TestDb::new().await;
    let db = db(&t);
    for n in 0..30 {
        user(&db, &format!("u{n}")).await; // each registration writes one event
    }
    let repo = Arc::new(PgOutboxRepo::new(db.clone()));
    let claims = (0..3).map(|_| {
        let repo = repo.clone();
        async move { repo.claim(20, Duration::from_secs(60)).await.expect("claim") }
    });
    let batches = join_all(claims).await;
    let mut ids: Vec<Uuid> = batches.iter().flatten().map(|c| c.id).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no event is claimed twice");
    assert_eq!(total, 30, "every pending event is claimed by one of them");
}

#[tokio::test]
async fn unique_emails_and_shipping_methods_round_trip() {
    let t = TestDb::new().await;
    let db = db(&t);
    let users = PgUserRepo::new(db.clone());
    let email = format!("dup-{}@example.com", Uuid::new_v4().simple());
    let new = || NewUser {
        id: Uuid::now_v7(),
        email: email.clone(),
        password_hash: "x".into(),
        name: "D".into(),
        role: Role::Customer,
        verification: None,
    };
    users.create(new()).await.expect("first");
    assert!(matches!(users.create(new()).await, Err(RepoError::EmailTaken)));

    let ship = PgShippingRepo::new(db.clone());
    let m = ship
        .create(&NewShippingMethod {
            name: " Express ".into(),
            price_minor: 990,
            currency: "EUR".into(),
            countries: vec!["DE".into()],
            active: true,
        })
        .await
        .expect("create");
    assert_eq!(m.name, "Express", "names are stored trimmed");
    assert_eq!(ship.get(m.id).await.expect("get").map(|g| g.price.amount_minor), Some(990));
    assert!(ship.delete(m.id).await.expect("delete"));
    assert!(!ship.delete(m.id).await.expect("delete again"), "a second delete finds nothing");
}

/// The catalog feed never misses a change: one written by a transaction that was still open
/// when the feed was read is returned by the next read from the horizon it gave.
#[tokio::test]
async fn the_catalog_feed_returns_late_commits_and_stock_crossing_zero() {
    use catalog::CatalogFeed;
    use diesel_async::RunQueryDsl;
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = PgCatalogRepo::new(db.clone());
    let v = variants(&db, "EUR", 2, 1).await;
    let (products, horizon) = repo.snapshot().await.expect("snapshot");
    let product = products.iter().find(|p| p.summary.in_stock).expect("the product is listed").summary.id;

    // Entries of transactions at or above the horizon are read again: the product's own
    // creation among them while a transaction elsewhere in the cluster (another test's) holds
    // the horizon back. What a change adds is what is new after it.
    let (before, _) = repo.changes(horizon).await.expect("changes");
    let known: Vec<i64> = before.iter().map(|c| c.seq).collect();
    // A stock change that stays above zero writes nothing; one that reaches zero does.
    repo.adjust_stock(v[0], 5, StockReason::Restock, None, None).await.expect("restock");
    let (changes, h1) = repo.changes(horizon).await.expect("changes");
    assert!(changes.iter().filter(|c| !known.contains(&c.seq)).all(|c| c.product != Some(product)), "{changes:?}");
    repo.adjust_stock(v[1], -1, StockReason::Adjustment, None, None).await.expect("to zero");
    let (changes, h2) = repo.changes(h1).await.expect("changes");
    assert!(changes.iter().any(|c| c.product == Some(product)), "{changes:?}");
    assert!(h2 >= h1);

    // A rename in a transaction left open across a read: the read's horizon stays below it, so
    // the read after the commit returns it.
    let mut open = db.conn().await.expect("conn");
    diesel::sql_query("BEGIN").execute(&mut open).await.expect("begin");
    diesel::sql_query("UPDATE products SET name = 'Renamed' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(product)
        .execute(&mut open)
        .await
        .expect("rename");
    // A later transaction commits meanwhile (the open one is no longer the newest).
    repo.adjust_stock(v[0], 1, StockReason::Restock, None, None).await.expect("restock");
    let (during, h3) = repo.changes(h2).await.expect("changes");
    let seen: Vec<i64> = during.iter().map(|c| c.seq).collect();
    diesel::sql_query("COMMIT").execute(&mut open).await.expect("commit");
    let (after, _) = repo.changes(h3).await.expect("changes");
    let late: Vec<_> = after.iter().filter(|c| !seen.contains(&c.seq)).collect();
    assert_eq!(late.len(), 1, "the late commit is read once it commits: {after:?}");
    assert_eq!(late[0].product, Some(product));
    let now = repo.products(&[product]).await.expect("products");
    assert_eq!(now[0].summary.name, "Renamed");

    // A rebuild request is an entry without a product; a draft product is not listed.
    repo.request_rebuild().await.expect("rebuild");
    let (changes, _) = repo.changes(h3).await.expect("changes");
    assert!(changes.iter().any(|c| c.product.is_none()));
    diesel::sql_query("UPDATE products SET status = 'draft' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(product)
        .execute(&mut open)
        .await
        .expect("draft");
    assert_eq!(repo.products(&[product]).await.expect("products"), vec![]);
}
