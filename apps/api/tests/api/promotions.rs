//! Promotions through HTTP: every action and condition on the cart, the order of application,
//! per-line discounts that sum to the order's, the snapshot on the order, exact usage limits
//! under concurrent checkouts over two instances, and the release on cancellation.

use std::collections::HashMap;

use serde_json::{Value, json};
use testkit::Client;

use crate::catalog::{product, product_body};
use crate::helpers::{Session, TestApp, address, admin, checkouts_at_once, customer, db_i64, sibling, spawn_with};

/// An app taxing Germany at 19 %, so tax on the discounted amount shows.
async fn spawn() -> (TestApp, testkit::TestDb) {
    spawn_with(|c| {
        c.tax.rates.insert("DE".into(), 1900);
    })
    .await
}

/// An admin; product A (10.00, in a category) and product B (5.00, none), 1,000 in stock each;
/// a 4.90 EUR shipping method to DE.
struct Store {
    admin: Session,
    a: String,
    a_product: String,
    b: String,
    category: String,
    shipping: String,
}

async fn store(app: &TestApp) -> Store {
    let admin = admin(app).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let cat =
        admin.client.post("/api/v1/admin/categories", &json!({"slug": format!("c-{tag}"), "name": "Shirts"})).await;
    cat.assert_status(201);
    let category = cat.json()["id"].as_str().expect("id").to_owned();
    let pa =
        product(&admin, &product_body(&format!("a-{tag}"), "A", Some(&category), &[(&format!("A-{tag}"), 1000, 1000)]))
            .await;
    let pb = product(&admin, &product_body(&format!("b-{tag}"), "B", None, &[(&format!("B-{tag}"), 500, 1000)])).await;
    let m = admin
        .client
        .post(
            "/api/v1/admin/shipping-methods",
            &json!({"name": "Standard", "price_minor": 490, "currency": "EUR", "countries": ["DE"]}),
        )
        .await;
    m.assert_status(201);
    Store {
        a: pa["variants"][0]["id"].as_str().expect("variant").to_owned(),
        a_product: pa["id"].as_str().expect("id").to_owned(),
        b: pb["variants"][0]["id"].as_str().expect("variant").to_owned(),
        category,
        shipping: m.json()["id"].as_str().expect("id").to_owned(),
        admin,
    }
}

/// Creates an active promotion from `body` (name and status filled in); returns its id.
async fn promo(s: &Store, body: Value) -> String {
    let mut body = body;
    body["name"] = body.get("name").cloned().unwrap_or(json!("Promo"));
    body["status"] = body.get("status").cloned().unwrap_or(json!("active"));
    let res = s.admin.client.post("/api/v1/admin/promotions", &body).await;
    res.assert_status(201);
    let id = res.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(res.header("location"), Some(format!("/api/v1/admin/promotions/{id}").as_str()));
    id
}

async fn archive(s: &Store, id: &str) {
    s.admin.client.post(&format!("/api/v1/admin/promotions/{id}/archive"), &json!({})).await.assert_status(200);
}

async fn add(c: &Client, variant: &str, qty: i32) {
    c.post("/api/v1/cart/lines", &json!({"variant_id": variant, "quantity": qty})).await.assert_status(200);
}

async fn cart(c: &Client) -> Value {
    let res = c.get("/api/v1/cart").await;
    res.assert_status(200);
    res.json()
}

async fn cart_shipped(c: &Client, s: &Store) -> Value {
    let res = c.get(&format!("/api/v1/cart?shipping_method={}&country=DE", s.shipping)).await;
    res.assert_status(200);
    res.json()
}

fn minor(v: &Value) -> i64 {
    v["amount_minor"].as_i64().unwrap_or_else(|| panic!("no amount in {v}"))
}

/// Per-line discounts, in the cart's order.
fn line_discounts(view: &Value) -> Vec<i64> {
    view["lines"].as_array().expect("lines").iter().map(|l| minor(&l["discount"])).collect()
}

/// The cart's discount, checked to be the sum of its lines' and the shipping's parts, and every
/// line's discounted total to be its total less its discount.
fn discount(view: &Value) -> i64 {
    let lines: i64 = line_discounts(view).iter().sum();
    let shipping: i64 = view["promotions"].as_array().expect("promotions").iter().map(|p| minor(&p["shipping"])).sum();
    let applied: i64 = view["promotions"].as_array().expect("promotions").iter().map(|p| minor(&p["amount"])).sum();
    let total = minor(&view["discount"]);
    assert_eq!(total, lines + shipping, "the lines and the shipping sum to the discount: {view}");
    assert_eq!(total, applied, "the promotions sum to the discount: {view}");
    for l in view["lines"].as_array().expect("lines") {
        assert_eq!(minor(&l["discounted_total"]), minor(&l["line_total"]) - minor(&l["discount"]));
        assert!(minor(&l["discounted_total"]) >= 0);
    }
    total
}

fn checkout_body(s: &Store, token: &str) -> Value {
    json!({"shipping_address": address("Ada Lovelace"), "shipping_method_id": s.shipping, "payment_token": token})
}

async fn checkout(c: &Client, s: &Store, key: &str) -> testkit::Response {
    c.with_header("idempotency-key", key).post("/api/v1/checkout", &checkout_body(s, "tok_visa")).await
}

async fn apply(c: &Client, code: &str) -> testkit::Response {
    c.post("/api/v1/cart/promotions", &json!({"code": code})).await
}

async fn usage(s: &Store, id: &str) -> Value {
    let res = s.admin.client.get(&format!("/api/v1/admin/promotions/{id}/usage")).await;
    res.assert_status(200);
    res.json()
}

#[tokio::test]
async fn each_action_takes_off_what_it_says() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let c = customer(&app, "actions").await;
    // 3 x A (10.00) + 1 x B (5.00) = 35.00
    add(&c.client, &s.a, 3).await;
    add(&c.client, &s.b, 1).await;
    let eur = json!({"currency": "EUR"});
    let cases: Vec<(&str, Value, Vec<i64>, i64)> = vec![
        // 10 % of each line.
        (
            "percent off the order",
            json!({"action": {"type": "percent_off_order", "percent_bp": 1000}}),
            vec![300, 50],
            0,
        ),
        // 3.00 split 30:5 by the largest remainder: 257.14 + 42.86 -> 257 + 43.
        (
            "fixed off the order",
            json!({"action": {"type": "fixed_off_order", "amount_minor": 300}, "conditions": eur}),
            vec![257, 43],
            0,
        ),
        (
            "percent off matching lines",
            json!({"action": {"type": "percent_off_lines", "percent_bp": 5000}, "conditions": {"variants": [s.b]}}),
            vec![0, 250],
            0,
        ),
        (
            "fixed off each matching unit",
            json!({"action": {"type": "fixed_off_units", "amount_minor": 150},
                   "conditions": {"currency": "EUR", "products": [s.a_product]}}),
            vec![450, 0],
            0,
        ),
        // Of the 3 A and 1 B, dearest first: A A [A] B -> the third A free; B is a lone unit.
        (
            "buy 2 get 1 free",
            json!({"action": {"type": "buy_x_get_y", "buy": 2, "get": 1, "percent_bp": 10000}}),
            vec![1000, 0],
            0,
        ),
        (
            "buy 1 get 1 half price, by category",
            json!({"action": {"type": "buy_x_get_y", "buy": 1, "get": 1, "percent_bp": 5000},
                   "conditions": {"categories": [s.category]}}),
            vec![500, 0],
            0,
        ),
        // 50 % would be 17.50; the cap says 4.00, split like the discount (15.00:2.50).
        (
            "capped",
            json!({"action": {"type": "percent_off_order", "percent_bp": 5000}, "max_discount_minor": 400,
                   "conditions": eur}),
            vec![343, 57],
            0,
        ),
        ("free shipping", json!({"action": {"type": "free_shipping"}}), vec![0, 0], 490),
    ];
    for (what, body, lines, shipping) in cases {
        let id = promo(&s, body).await;
        let view = cart(&c.client).await;
        assert_eq!(line_discounts(&view), lines, "{what}: {view}");
        assert_eq!(discount(&view), lines.iter().sum::<i64>(), "{what}: before a shipping method, lines only");
        assert_eq!(view["promotions"][0]["promotion_id"], json!(id), "{what}");
        let shipped = cart_shipped(&c.client, &s).await;
        let total_discount = discount(&shipped);
        assert_eq!(total_discount, lines.iter().sum::<i64>() + shipping, "{what}: {shipped}");
        // 19 % DE tax on what is left; the total adds up.
        let taxable = 3500 + 490 - total_discount;
        assert_eq!(minor(&shipped["tax"]), (taxable * 1900 + 5000) / 10000, "{what}");
        assert_eq!(minor(&shipped["total"]), taxable + minor(&shipped["tax"]), "{what}");
        archive(&s, &id).await;
        assert_eq!(discount(&cart(&c.client).await), 0, "{what}: archived, it no longer applies");
    }
}

#[tokio::test]
async fn conditions_decide_which_carts_and_shoppers() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let member = customer(&app, "member").await;
    let other = customer(&app, "other").await;
    for c in [&member, &other] {
        add(&c.client, &s.a, 1).await;
    }
    let guest = app.client.post("/api/v1/cart/lines", &json!({"variant_id": s.a, "quantity": 1})).await;
    guest.assert_status(200);
    let guest = app.client.with_header("x-cart-token", guest.json()["cart_token"].as_str().expect("token"));

    // A customer group.
    let g = s.admin.client.post("/api/v1/admin/customer-groups", &json!({"name": "VIP"})).await;
    g.assert_status(201);
    let group = g.json()["id"].as_str().expect("id").to_owned();
    s.admin
        .client
        .put(&format!("/api/v1/admin/customer-groups/{group}/members/{}", member.id), &json!({}))
        .await
        .assert_status(200);
    let vip = promo(
        &s,
        json!({"code": "vip10", "action": {"type": "percent_off_order", "percent_bp": 1000},
        "conditions": {"customer_group": group}}),
    )
    .await;
    apply(&member.client, "VIP10").await.assert_status(200);
    assert_eq!(discount(&cart(&member.client).await), 100);
    let refused = apply(&other.client, "vip10").await.assert_problem(422, "promotion-not-applicable");
    assert_eq!(refused["promotion_code"], "VIP10");
    apply(&guest, "vip10").await.assert_problem(422, "promotion-not-applicable");
    // A group in use cannot be deleted.
    s.admin.client.delete(&format!("/api/v1/admin/customer-groups/{group}")).await.assert_problem(409, "group-in-use");
    archive(&s, &vip).await;
    let member_cart = cart(&member.client).await;
    assert_eq!(member_cart["codes"], json!([{"code": "VIP10", "applied": false, "refused": "unknown_code"}]));
    s.admin.client.delete(&format!("/api/v1/admin/customer-groups/{group}")).await.assert_status(204);
    member.client.delete("/api/v1/cart/promotions/vip10").await.assert_status(200);

    // Minimum subtotal and currency.
    let min = promo(
        &s,
        json!({"code": "MIN20", "action": {"type": "fixed_off_order", "amount_minor": 200},
        "conditions": {"min_subtotal_minor": 2000, "currency": "EUR"}}),
    )
    .await;
    apply(&other.client, "MIN20").await.assert_problem(422, "promotion-not-applicable");
    add(&other.client, &s.a, 1).await;
    apply(&other.client, "min20").await.assert_status(200);
    assert_eq!(discount(&cart(&other.client).await), 200);
    other.client.delete("/api/v1/cart/promotions/MIN20").await.assert_status(200);
    other.client.delete("/api/v1/cart/promotions/MIN20").await.assert_status(404);
    archive(&s, &min).await;
    promo(
        &s,
        json!({"code": "USD5", "action": {"type": "fixed_off_order", "amount_minor": 500},
        "conditions": {"currency": "USD"}}),
    )
    .await;
    apply(&other.client, "USD5").await.assert_problem(422, "promotion-not-applicable");

    // The window, the status, unknown codes.
    let hour = chrono::Duration::hours(1);
    promo(
        &s,
        json!({"code": "LATER", "action": {"type": "free_shipping"},
        "starts_at": chrono::Utc::now() + hour}),
    )
    .await;
    apply(&other.client, "later").await.assert_problem(422, "promotion-not-yet-valid");
    promo(
        &s,
        json!({"code": "GONE", "action": {"type": "free_shipping"},
        "starts_at": chrono::Utc::now() - hour - hour, "ends_at": chrono::Utc::now() - hour}),
    )
    .await;
    apply(&other.client, "gone").await.assert_problem(422, "promotion-expired");
    promo(&s, json!({"code": "DRAFTY", "status": "draft", "action": {"type": "free_shipping"}})).await;
    apply(&other.client, "drafty").await.assert_problem(422, "promotion-unknown");
    apply(&other.client, "NO-SUCH").await.assert_problem(422, "promotion-unknown");
    let bad = apply(&other.client, "x").await.assert_problem(422, "validation-failed");
    assert!(bad.to_string().contains("code"), "{bad}");
    assert_eq!(cart(&other.client).await["codes"], json!([]), "refused codes are not kept");

    // First order only: applies until the customer has an order.
    let first = promo(
        &s,
        json!({"code": "FIRST", "action": {"type": "percent_off_order", "percent_bp": 2000},
        "conditions": {"first_order_only": true}}),
    )
    .await;
    apply(&other.client, "first").await.assert_status(200);
    let placed = checkout(&other.client, &s, "first-order").await;
    placed.assert_status(201);
    assert_eq!(minor(&placed.json()["discount"]), 400, "20 % of 20.00");
    add(&other.client, &s.a, 1).await;
    apply(&other.client, "first").await.assert_problem(422, "promotion-not-applicable");
    assert_eq!(usage(&s, &first).await["redemptions"], 1);
}

#[tokio::test]
async fn stacking_follows_priority_then_id_never_arrival() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let c = customer(&app, "stack").await;
    add(&c.client, &s.a, 2).await; // 20.00
    // Created in the opposite order of their priorities.
    let pct = promo(
        &s,
        json!({"name": "Ten percent", "priority": 2,
        "action": {"type": "percent_off_order", "percent_bp": 1000}}),
    )
    .await;
    let fixed = promo(
        &s,
        json!({"name": "Five off", "priority": 1, "conditions": {"currency": "EUR"},
        "action": {"type": "fixed_off_order", "amount_minor": 500}}),
    )
    .await;
    let view = cart(&c.client).await;
    // 5.00 first, then 10 % of the 15.00 left.
    let applied: Vec<(Value, i64)> = view["promotions"]
        .as_array()
        .expect("promotions")
        .iter()
        .map(|p| (p["promotion_id"].clone(), minor(&p["amount"])))
        .collect();
    assert_eq!(applied, vec![(json!(fixed), 500), (json!(pct), 150)]);
    assert_eq!(discount(&view), 650);

    // One that does not combine, first by priority: it alone applies; a code after it is refused.
    let solo = promo(
        &s,
        json!({"name": "Solo", "priority": 0, "combinable": false,
        "action": {"type": "percent_off_order", "percent_bp": 3000}}),
    )
    .await;
    promo(&s, json!({"code": "EXTRA", "priority": 5, "action": {"type": "free_shipping"}})).await;
    let view = cart(&c.client).await;
    assert_eq!(view["promotions"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["promotions"][0]["promotion_id"], json!(solo));
    assert_eq!(discount(&view), 600);
    apply(&c.client, "EXTRA").await.assert_problem(422, "promotion-not-combinable");
    // The same cart asked again decides the same.
    for _ in 0..3 {
        assert_eq!(cart(&c.client).await["promotions"], view["promotions"]);
    }
}

#[tokio::test]
async fn the_order_keeps_what_the_promotions_took_to_the_cent() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let c = customer(&app, "snapshot").await;
    add(&c.client, &s.a, 3).await;
    add(&c.client, &s.b, 1).await;
    let auto =
        promo(&s, json!({"name": "Seven percent", "action": {"type": "percent_off_order", "percent_bp": 700}})).await;
    let code = promo(
        &s,
        json!({"code": "ODD", "name": "Odd amount", "conditions": {"currency": "EUR"},
        "action": {"type": "fixed_off_order", "amount_minor": 333}}),
    )
    .await;
    promo(&s, json!({"code": "SHIP", "action": {"type": "free_shipping"}})).await;
    apply(&c.client, "odd").await.assert_status(200);
    apply(&c.client, "ship").await.assert_status(200);
    let quoted = cart_shipped(&c.client, &s).await;
    let placed = checkout(&c.client, &s, "snap-1").await;
    placed.assert_status(201);
    let order = placed.json();
    let discount_total = minor(&order["discount"]);
    assert_eq!(discount_total, discount(&quoted), "checkout decides as the cart showed");
    let lines: i64 = order["lines"].as_array().expect("lines").iter().map(|l| minor(&l["discount"])).sum();
    let snapshot = order["promotions"].as_array().expect("promotions");
    assert_eq!(snapshot.len(), 3);
    let shipping_part: i64 = snapshot.iter().map(|p| minor(&p["shipping"])).sum();
    assert_eq!(shipping_part, 490);
    assert_eq!(lines + shipping_part, discount_total, "per-line discounts and shipping sum to the order's");
    for p in snapshot {
        let parts: i64 = p["lines"].as_array().expect("parts").iter().map(minor).sum();
        assert_eq!(parts + minor(&p["shipping"]), minor(&p["amount"]), "{p}");
    }
    for (i, l) in order["lines"].as_array().expect("lines").iter().enumerate() {
        let parts: i64 = snapshot.iter().map(|p| minor(&p["lines"][i])).sum();
        assert_eq!(parts, minor(&l["discount"]), "line {i}: the promotions' parts sum to its discount");
    }
    let taxable = minor(&order["subtotal"]) + minor(&order["shipping"]) - discount_total;
    assert_eq!(minor(&order["tax"]), (taxable * 1900 + 5000) / 10000);
    assert_eq!(minor(&order["total"]), taxable + minor(&order["tax"]));
    // The order as read back is the same, and the cart starts afresh.
    let id = order["id"].as_str().expect("id");
    assert_eq!(c.client.get(&format!("/api/v1/orders/{id}")).await.json()["promotions"], order["promotions"]);
    assert_eq!(cart(&c.client).await["codes"], json!([]));
    // Reports and events.
    for p in [&auto, &code] {
        let u = usage(&s, p).await;
        assert_eq!((u["redemptions"].as_i64(), u["customers"].as_i64()), (Some(1), Some(1)), "{u}");
        assert_eq!(u["recent_orders"], json!([id]));
    }
    assert_eq!(minor(&usage(&s, &code).await["discount_totals"][0]), 333);
    let events = s.admin.client.get("/api/v1/admin/outbox?event_type=promotion.redeemed").await;
    events.assert_status(200);
    let events = events.json()["items"].as_array().expect("items").clone();
    assert_eq!(events.len(), 1, "one event for the order");
    let payload = &events[0]["payload"];
    assert_eq!(payload["order_id"], json!(id));
    assert_eq!(payload["promotions"].as_array().map(Vec::len), Some(3));
    assert_eq!(minor(&payload["discount"]), discount_total);
}

/// 100 customers, each with the code on a cart, check out at once over two instances: the
/// code's single use goes to exactly one of them; the other 99 are refused with the limit code
/// and nothing of theirs is placed.
#[tokio::test]
async fn a_code_with_one_use_gives_exactly_one_discounted_order_over_two_instances() {
    let (app, db) = spawn_with(|c| c.database.pool_size = 10).await;
    let other = sibling(&app, &db, |c| c.database.pool_size = 10).await;
    let s = store(&app).await;
    let id = promo(
        &s,
        json!({"code": "ONCE", "usage_limit": 1, "action": {"type": "percent_off_order", "percent_bp": 5000}}),
    )
    .await;
    let variant = &s.a;
    let buyers = crate::helpers::customers_ready(&app, 100, |c| async move {
        add(&c, variant, 1).await;
        apply(&c, "ONCE").await.assert_status(200);
    })
    .await;
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for res in checkouts_at_once(&app, &other, &buyers, &checkout_body(&s, "tok_visa")).await {
        match res.status.as_u16() {
            201 => assert_eq!(minor(&res.json()["discount"]), 500),
            _ => {
                let p = res.assert_problem(409, "promotion-limit-reached");
                assert_eq!(p["promotion_code"], "ONCE");
            }
        }
        *statuses.entry(res.status.as_u16()).or_default() += 1;
    }
    assert_eq!(statuses, HashMap::from([(201, 1), (409, 99)]));
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM orders").await, 1, "nothing else was placed");
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM promotion_redemptions").await, 1);
    assert_eq!(db_i64(&db.url, "SELECT 1000 - stock FROM variants WHERE stock < 1000").await, 1);
    assert_eq!(usage(&s, &id).await["redemptions"], 1);
}

#[tokio::test]
async fn cancellation_and_a_failed_payment_release_the_redemption() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let id = promo(
        &s,
        json!({"code": "ONE", "usage_limit": 1, "per_customer_limit": 1,
        "action": {"type": "percent_off_order", "percent_bp": 1000}}),
    )
    .await;
    let ada = customer(&app, "ada").await;
    let bob = customer(&app, "bob").await;
    for c in [&ada, &bob] {
        add(&c.client, &s.a, 1).await;
    }
    apply(&ada.client, "ONE").await.assert_status(200);
    apply(&bob.client, "ONE").await.assert_status(200);
    let placed = checkout(&ada.client, &s, "ada-1").await;
    placed.assert_status(201);
    let order = placed.json()["id"].as_str().expect("id").to_owned();
    // Used up: Bob's held code is refused at checkout, and cannot be entered again.
    checkout(&bob.client, &s, "bob-1").await.assert_problem(409, "promotion-limit-reached");
    bob.client.delete("/api/v1/cart/promotions/ONE").await.assert_status(200);
    apply(&bob.client, "ONE").await.assert_problem(409, "promotion-limit-reached");
    // Ada's per-customer use too.
    add(&ada.client, &s.a, 1).await;
    apply(&ada.client, "ONE").await.assert_problem(409, "promotion-limit-reached");

    // Ada cancels: the use comes back.
    s.admin.client.post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({})).await.assert_status(200);
    let u = usage(&s, &id).await;
    assert_eq!((u["redemptions"].as_i64(), u["released"].as_i64()), (Some(0), Some(1)), "{u}");
    apply(&bob.client, "ONE").await.assert_status(200);

    // Bob's payment is declined: released again.
    let declined = bob
        .client
        .with_header("idempotency-key", "bob-2")
        .post("/api/v1/checkout", &checkout_body(&s, "tok_declined"))
        .await;
    declined.assert_problem(402, "payment-declined");
    let u = usage(&s, &id).await;
    assert_eq!((u["redemptions"].as_i64(), u["released"].as_i64()), (Some(0), Some(2)), "{u}");
    // Bob's cart is as it was, code included, for another card.
    let cart = bob.client.get("/api/v1/cart").await.json();
    assert_eq!(
        (cart["codes"][0]["code"].as_str(), cart["lines"].as_array().map(Vec::len)),
        (Some("ONE"), Some(1)),
        "{cart}"
    );
    // And Ada may use it again.
    apply(&ada.client, "ONE").await.assert_status(200);
    checkout(&ada.client, &s, "ada-2").await.assert_status(201);
    assert_eq!(usage(&s, &id).await["redemptions"], 1);
}

#[tokio::test]
async fn admins_manage_promotions_and_groups_with_every_rule_checked() {
    let (app, _db) = spawn().await;
    let s = store(&app).await;
    let post = |body: Value| {
        let client = s.admin.client.clone();
        async move { client.post("/api/v1/admin/promotions", &body).await }
    };
    let invalid: Vec<(Value, &str)> = vec![
        (json!({"name": "x", "action": {"type": "percent_off_order", "percent_bp": 0}}), "action.percent_bp"),
        (json!({"name": "x", "action": {"type": "percent_off_order", "percent_bp": 10001}}), "action.percent_bp"),
        (json!({"name": "x", "action": {"type": "fixed_off_order", "amount_minor": 100}}), "conditions.currency"),
        (json!({"name": "x", "action": {"type": "buy_x_get_y", "buy": 0, "get": 1, "percent_bp": 100}}), "action.buy"),
        (json!({"name": "x", "code": "a b", "action": {"type": "free_shipping"}}), "code"),
        (json!({"name": "x", "status": "archived", "action": {"type": "free_shipping"}}), "status"),
        (
            json!({"name": "x", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z",
                   "action": {"type": "free_shipping"}}),
            "ends_at",
        ),
        (json!({"name": "x", "usage_limit": 0, "action": {"type": "free_shipping"}}), "usage_limit"),
        (json!({"name": "x", "priority": 2_000_000, "action": {"type": "free_shipping"}}), "priority"),
        (
            json!({"name": "x", "conditions": {"customer_group": uuid::Uuid::new_v4()},
                   "action": {"type": "free_shipping"}}),
            "conditions.customer_group",
        ),
        (json!({"name": "x", "action": {"type": "free_shipping", "extra": 1}}), "action"),
        (json!({"name": "x", "conditions": {"colour": "red"}, "action": {"type": "free_shipping"}}), "conditions"),
        (json!({"name": "", "action": {"type": "free_shipping"}}), "name"),
    ];
    for (body, field) in invalid {
        let res = post(body.clone()).await;
        assert!(matches!(res.status.as_u16(), 400 | 422), "{body}: {}", res.status);
        assert!(res.text().contains(field), "{body}: expected {field} named in {}", res.text());
    }
    let first = promo(&s, json!({"code": "Spring", "name": "Spring sale", "action": {"type": "free_shipping"}})).await;
    post(json!({"name": "dup", "code": "SPRING", "action": {"type": "free_shipping"}}))
        .await
        .assert_problem(409, "promotion-code-taken");
    let auto =
        promo(&s, json!({"name": "Everything", "action": {"type": "percent_off_order", "percent_bp": 100}})).await;
    let list = |q: &'static str| {
        let client = s.admin.client.clone();
        async move {
            let page = client.get(&format!("/api/v1/admin/promotions?{q}")).await;
            page.assert_status(200);
            page.json()["items"].as_array().expect("items").iter().map(|p| p["id"].clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(list("kind=code").await, vec![json!(first)]);
    assert_eq!(list("kind=automatic").await, vec![json!(auto)]);
    assert_eq!(list("q=spring").await, vec![json!(first)]);
    assert_eq!(list("").await, vec![json!(auto), json!(first)], "newest first");
    let page = s.admin.client.get("/api/v1/admin/promotions?limit=1").await.json();
    let next = page["next_cursor"].as_str().expect("cursor");
    assert_eq!(
        s.admin.client.get(&format!("/api/v1/admin/promotions?limit=1&cursor={next}")).await.json()["items"][0]["id"],
        json!(first)
    );
    s.admin.client.get("/api/v1/admin/promotions?kind=nope").await.assert_status(400);

    // Replace: the whole definition; an archived one is final.
    let replaced = s
        .admin
        .client
        .put(
            &format!("/api/v1/admin/promotions/{first}"),
            &json!({"name": "Spring II", "code": "spring2",
            "status": "paused", "action": {"type": "free_shipping"}}),
        )
        .await;
    replaced.assert_status(200);
    assert_eq!(
        (replaced.json()["code"].as_str(), replaced.json()["status"].as_str()),
        (Some("SPRING2"), Some("paused"))
    );
    let got = s.admin.client.get(&format!("/api/v1/admin/promotions/{first}")).await;
    assert_eq!(got.json(), replaced.json());
    archive(&s, &first).await;
    archive(&s, &first).await;
    s.admin
        .client
        .put(
            &format!("/api/v1/admin/promotions/{first}"),
            &json!({"name": "Back", "action": {"type": "free_shipping"}}),
        )
        .await
        .assert_problem(409, "promotion-archived");
    s.admin.client.get(&format!("/api/v1/admin/promotions/{}", uuid::Uuid::new_v4())).await.assert_status(404);

    // A limit below what was used is refused.
    let c = customer(&app, "used").await;
    add(&c.client, &s.a, 1).await;
    let limited = promo(&s, json!({"code": "TWICE", "usage_limit": 2, "action": {"type": "free_shipping"}})).await;
    apply(&c.client, "twice").await.assert_status(200);
    checkout(&c.client, &s, "twice-1").await.assert_status(201);
    add(&c.client, &s.a, 1).await;
    apply(&c.client, "twice").await.assert_status(200);
    checkout(&c.client, &s, "twice-2").await.assert_status(201);
    let res = s
        .admin
        .client
        .put(
            &format!("/api/v1/admin/promotions/{limited}"),
            &json!({"name": "Once", "code": "TWICE",
            "usage_limit": 1, "status": "active", "action": {"type": "free_shipping"}}),
        )
        .await;
    let p = res.assert_problem(422, "validation-failed");
    assert!(p.to_string().contains("usage_limit"), "{p}");

    // Groups.
    let g = s.admin.client.post("/api/v1/admin/customer-groups", &json!({"name": "Wholesale"})).await;
    g.assert_status(201);
    let group = g.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(g.header("location"), Some(format!("/api/v1/admin/customer-groups/{group}/members").as_str()));
    s.admin
        .client
        .post("/api/v1/admin/customer-groups", &json!({"name": "Wholesale"}))
        .await
        .assert_problem(409, "group-name-taken");
    s.admin.client.post("/api/v1/admin/customer-groups", &json!({"name": ""})).await.assert_status(422);
    let members = format!("/api/v1/admin/customer-groups/{group}/members");
    s.admin.client.put(&format!("{members}/{}", uuid::Uuid::new_v4()), &json!({})).await.assert_status(404);
    let joined = s.admin.client.put(&format!("{members}/{}", c.id), &json!({})).await;
    joined.assert_status(200);
    let again = s.admin.client.put(&format!("{members}/{}", c.id), &json!({})).await;
    assert_eq!(again.json(), joined.json(), "adding a member twice changes nothing");
    let listed = s.admin.client.get(&members).await.json();
    assert_eq!(listed["items"][0]["email"], json!(c.email));
    let groups = s.admin.client.get("/api/v1/admin/customer-groups").await.json();
    assert_eq!(groups["items"][0]["members"], 1);
    let renamed =
        s.admin.client.put(&format!("/api/v1/admin/customer-groups/{group}"), &json!({"name": "Trade"})).await;
    assert_eq!(renamed.json()["name"], "Trade");
    s.admin.client.delete(&format!("{members}/{}", c.id)).await.assert_status(204);
    s.admin.client.delete(&format!("{members}/{}", c.id)).await.assert_status(404);
    s.admin.client.delete(&format!("/api/v1/admin/customer-groups/{group}")).await.assert_status(204);
    s.admin.client.get(&members).await.assert_status(404);

    // Staff may, customers may not.
    c.client.get("/api/v1/admin/promotions").await.assert_status(403);
}

/// An admin sets a usage limit on an automatic promotion while 30 checkouts apply it: the live
/// count the edit keeps equals the redemptions written, whatever the interleaving (the edit waits
/// for the checkouts in flight; those that start meanwhile see the limit).
#[tokio::test]
async fn a_limit_set_during_checkouts_counts_every_redemption() {
    let (app, db) = spawn().await;
    let s = store(&app).await;
    let id = promo(&s, json!({"name": "Everyone", "action": {"type": "percent_off_order", "percent_bp": 500}})).await;
    let mut buyers = Vec::new();
    for i in 0..30 {
        let c = customer(&app, &format!("edit{i}")).await;
        add(&c.client, &s.a, 1).await;
        buyers.push(c);
    }
    let mut tasks = Vec::new();
    for (i, c) in buyers.iter().enumerate() {
        let (client, body) = (c.client.clone(), checkout_body(&s, "tok_visa"));
        tasks.push(tokio::spawn(async move {
            client.with_header("idempotency-key", &format!("edit-{i}")).post("/api/v1/checkout", &body).await
        }));
        if i == 10 {
            let (client, path) = (s.admin.client.clone(), format!("/api/v1/admin/promotions/{id}"));
            tasks.push(tokio::spawn(async move {
                client
                    .put(
                        &path,
                        &json!({"name": "Everyone", "status": "active", "usage_limit": 1000,
                        "action": {"type": "percent_off_order", "percent_bp": 500}}),
                    )
                    .await
            }));
        }
    }
    for t in tasks {
        let res = t.await.expect("request");
        assert!(matches!(res.status.as_u16(), 200 | 201), "{} {}", res.status, res.text());
    }
    let live = db_i64(&db.url, "SELECT count(*) FROM promotion_redemptions WHERE released_at IS NULL").await;
    assert_eq!(live, 30);
    let counted = db_i64(&db.url, &format!("SELECT redemptions FROM promotions WHERE id = '{id}'")).await;
    assert_eq!(counted, live, "the limit's count includes every redemption, before and after the edit");
    assert_eq!(usage(&s, &id).await["redemptions"], 30);
}
