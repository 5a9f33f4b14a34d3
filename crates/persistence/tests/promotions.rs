//! The promotions adapter's contract against a real PostgreSQL: promotions round-trip (and an
//! undecodable row is an error, not a default), candidates, customer groups, and redemptions
//! that stay within their limits when fired at once.

use std::sync::Arc;

use diesel_async::RunQueryDsl;
use futures_util::future::join_all;
use persistence::{Db, PgPromotionRepo, PgUserRepo};
use promotions::{
    Action, Conditions, GroupRepo, Promotion, PromotionError, PromotionRepo, PromotionStatus, Redemption,
};
use testkit::TestDb;
use users::{NewUser, Role, UserRepo};
use uuid::Uuid;

fn db(t: &TestDb) -> Db {
    t.pool(16)
}

async fn user(db: &Db) -> Uuid {
    PgUserRepo::new(db.clone())
        .create(NewUser {
            id: Uuid::now_v7(),
            email: format!("p-{}@example.com", Uuid::new_v4().simple()),
            password_hash: "x".into(),
            name: "P".into(),
            role: Role::Customer,
            verification: None,
        })
        .await
        .expect("user")
        .id
}

/// A placed order of `user` (the row only: redemptions belong to orders).
async fn order(db: &Db, user: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let mut conn = db.conn().await.expect("conn");
    diesel::sql_query(
        "INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, tax_minor, total_minor, \
         shipping_address, shipping_method, expires_at) \
         VALUES ($1, $2, 'paid', 'EUR', 1000, 0, 0, 1000, '{}', 'Standard', now() + interval '1 hour')",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Uuid, _>(user)
    .execute(&mut conn)
    .await
    .expect("order");
    id
}

fn promotion(code: Option<&str>) -> Promotion {
    Promotion {
        id: Uuid::now_v7(),
        name: "Ten off".into(),
        code: code.map(str::to_owned),
        status: PromotionStatus::Active,
        starts_at: None,
        ends_at: None,
        priority: 0,
        combinable: true,
        conditions: Conditions {
            min_subtotal_minor: Some(500),
            categories: vec![Uuid::from_u128(3)],
            ..Default::default()
        },
        action: Action::BuyXGetY { buy: 2, get: 1, percent_bp: 10_000 },
        max_discount_minor: Some(2_000),
        usage_limit: None,
        per_customer_limit: None,
    }
}

/// Opens the pool's connections first, so the calls fired next start together instead of one
/// connection at a time.
async fn warm(repo: &PgPromotionRepo) {
    join_all((0..16).map(|_| repo.usage(&[], None))).await;
}

fn redemption(promotion_id: Uuid, order_id: Uuid, user_id: Uuid) -> Redemption {
    Redemption { promotion_id, order_id, user_id, amount_minor: 100 }
}

#[tokio::test]
async fn promotions_round_trip_and_candidates_are_the_active_automatic_ones_and_the_codes() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = PgPromotionRepo::new(db.clone());
    let coded = repo.create(&promotion(Some("TEN"))).await.expect("create");
    assert_eq!(repo.get(coded.id).await.expect("get"), Some(coded.clone()), "every field round-trips");
    assert!(matches!(repo.create(&promotion(Some("TEN"))).await, Err(PromotionError::CodeTaken)));

    let automatic = repo.create(&Promotion { priority: -1, ..promotion(None) }).await.expect("auto");
    let paused = repo.create(&Promotion { status: PromotionStatus::Paused, ..promotion(None) }).await.expect("paused");
    let paused_code =
        repo.create(&Promotion { status: PromotionStatus::Paused, ..promotion(Some("LATER")) }).await.expect("code");
    let ids = |ps: Vec<Promotion>| ps.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(repo.candidates(&[]).await.expect("candidates")), vec![automatic.id]);
    let with_codes = ids(repo.candidates(&["TEN".into(), "LATER".into(), "NONE".into()]).await.expect("candidates"));
    assert_eq!(with_codes.len(), 3, "automatic + both codes, whatever their status");
    assert!(with_codes.contains(&coded.id) && with_codes.contains(&paused_code.id) && !with_codes.contains(&paused.id));

    let archived = repo.set_status(coded.id, PromotionStatus::Archived).await.expect("status").expect("found");
    assert_eq!(archived.status, PromotionStatus::Archived);
    assert_eq!(repo.set_status(Uuid::now_v7(), PromotionStatus::Active).await.expect("status"), None);

    // A row the domain cannot read is an error, never a default.
    let mut conn = db.conn().await.expect("conn");
    diesel::sql_query("UPDATE promotions SET action = '{\"type\": \"free_lunch\"}' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(automatic.id)
        .execute(&mut conn)
        .await
        .expect("corrupt");
    assert!(matches!(repo.get(automatic.id).await, Err(PromotionError::Storage(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_total_limit_of_one_admits_exactly_one_of_a_hundred_concurrent_redemptions() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgPromotionRepo::new(db.clone()));
    let once = repo.create(&Promotion { usage_limit: Some(1), ..promotion(Some("ONCE")) }).await.expect("create");
    let mut orders = Vec::new();
    for _ in 0..100 {
        let u = user(&db).await;
        orders.push((u, order(&db, u).await));
    }
    warm(&repo).await;
    let attempts = orders.iter().map(|(u, o)| {
        let repo = repo.clone();
        let x = redemption(once.id, *o, *u);
        async move { repo.redeem(&[x]).await }
    });
    let results = join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(PromotionError::LimitReached { promotion_id }) if *promotion_id == once.id))
    );
    assert_eq!(repo.usage(&[once.id], None).await.expect("usage")[&once.id].total, 1);

    // Releasing the order that got it frees the use for another order.
    let winner = orders.iter().zip(&results).find(|(_, r)| r.is_ok()).map(|(o, _)| *o).expect("winner");
    assert_eq!(repo.release(winner.1).await.expect("release"), 1);
    assert_eq!(repo.release(winner.1).await.expect("release again"), 0, "released once");
    assert_eq!(repo.usage(&[once.id], None).await.expect("usage")[&once.id].total, 0);
    let report = repo.report(once.id).await.expect("report").expect("found");
    assert_eq!((report.redemptions, report.released), (0, 1));
    let (u, o) = orders[if orders[0] == winner { 1 } else { 0 }];
    repo.redeem(&[redemption(once.id, o, u)]).await.expect("the freed use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_per_customer_limit_holds_for_concurrent_orders_of_one_customer_only() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = Arc::new(PgPromotionRepo::new(db.clone()));
    let mine =
        repo.create(&Promotion { per_customer_limit: Some(1), ..promotion(Some("MINE")) }).await.expect("create");
    let (alice, bob) = (user(&db).await, user(&db).await);
    let mut alice_orders = Vec::new();
    for _ in 0..30 {
        alice_orders.push(order(&db, alice).await);
    }
    warm(&repo).await;
    let attempts = alice_orders.iter().map(|o| {
        let repo = repo.clone();
        let x = redemption(mine.id, *o, alice);
        async move { repo.redeem(&[x]).await }
    });
    let results = join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    // (No total limit: no live count is kept, only the customer's redemptions are counted.)
    let usage = repo.usage(&[mine.id], Some(alice)).await.expect("usage")[&mine.id];
    assert_eq!(usage.by_customer, 1);
    // Another customer is not limited by Alice's use.
    repo.redeem(&[redemption(mine.id, order(&db, bob).await, bob)]).await.expect("bob");
    let usage = repo.usage(&[mine.id], Some(bob)).await.expect("usage")[&mine.id];
    assert_eq!(usage.by_customer, 1);
    let report = repo.report(mine.id).await.expect("report").expect("found");
    assert_eq!((report.redemptions, report.customers), (2, 2));
}

#[tokio::test]
async fn redemptions_of_an_order_are_all_or_nothing() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = PgPromotionRepo::new(db.clone());
    let free = repo.create(&promotion(None)).await.expect("unlimited");
    let used_up = repo.create(&Promotion { usage_limit: Some(0), ..promotion(Some("ZERO")) }).await.expect("zero");
    let u = user(&db).await;
    let o = order(&db, u).await;
    let both = [redemption(free.id, o, u), redemption(used_up.id, o, u)];
    assert!(
        matches!(repo.redeem(&both).await, Err(PromotionError::LimitReached { promotion_id }) if promotion_id == used_up.id)
    );
    let report = repo.report(free.id).await.expect("report").expect("found");
    assert_eq!(report.redemptions, 0, "the unlimited one was not counted either");
    assert!(matches!(repo.redeem(&[redemption(Uuid::now_v7(), o, u)]).await, Err(PromotionError::NotFound)));
    repo.redeem(&[redemption(free.id, o, u)]).await.expect("alone");
}

#[tokio::test]
async fn customer_groups_hold_members() {
    let t = TestDb::new().await;
    let db = db(&t);
    let repo = PgPromotionRepo::new(db.clone());
    let vip = repo.create_group("VIP").await.expect("group");
    assert_eq!((vip.name.as_str(), vip.members), ("VIP", 0));
    assert!(matches!(repo.create_group("VIP").await, Err(PromotionError::GroupNameTaken)));
    let staff = repo.create_group("Staff").await.expect("group");
    let u = user(&db).await;
    repo.add_member(vip.id, u).await.expect("add");
    repo.add_member(vip.id, u).await.expect("twice is once");
    repo.add_member(staff.id, u).await.expect("add");
    let mut expected = vec![vip.id, staff.id];
    expected.sort();
    assert_eq!(repo.groups_of(u).await.expect("groups"), expected);
    assert!(matches!(repo.add_member(Uuid::now_v7(), u).await, Err(PromotionError::NotFound)));
    assert!(matches!(repo.add_member(vip.id, Uuid::now_v7()).await, Err(PromotionError::NotFound)));
    assert!(repo.remove_member(vip.id, u).await.expect("remove"));
    assert!(!repo.remove_member(vip.id, u).await.expect("remove again"));
    assert_eq!(repo.groups_of(u).await.expect("groups"), vec![staff.id]);
}
