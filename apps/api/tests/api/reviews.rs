//! Reviews: verified purchasers, one each, moderation, aggregates, rating sort.

use serde_json::{Value, json};

use crate::catalog::{product, product_body};
use crate::helpers::{Session, TestApp, address, admin, customer, spawn};

/// A product with plenty of stock, a shipping method, and a way to make purchasers.
struct Fixture {
    admin: Session,
    product: String,
    variant: String,
    shipping: String,
}

async fn fixture(app: &TestApp, slug: &str) -> Fixture {
    let a = admin(app).await;
    let p = product(&a, &product_body(slug, &format!("Product {slug}"), None, &[(&format!("SKU-{slug}"), 1000, 500)]))
        .await;
    let m = a
        .client
        .post("/api/v1/admin/shipping-methods", &json!({"name": "Std", "price_minor": 0, "currency": "EUR"}))
        .await;
    Fixture {
        product: p["id"].as_str().expect("id").to_owned(),
        variant: p["variants"][0]["id"].as_str().expect("id").to_owned(),
        shipping: m.json()["id"].as_str().expect("id").to_owned(),
        admin: a,
    }
}

/// A customer with a paid order containing the fixture's product.
async fn purchaser(app: &TestApp, f: &Fixture, tag: &str) -> Session {
    let c = customer(app, tag).await;
    c.client.post("/api/v1/cart/lines", &json!({"variant_id": f.variant, "quantity": 1})).await.assert_status(200);
    c.client
        .with_header("idempotency-key", "buy")
        .post(
            "/api/v1/checkout",
            &json!({"shipping_address": address(tag), "shipping_method_id": f.shipping, "payment_token": "tok_visa"}),
        )
        .await
        .assert_status(201);
    c
}

async fn review(s: &Session, f: &Fixture, rating: i64) -> testkit::Response {
    s.client
        .post(
            &format!("/api/v1/products/{}/reviews", f.product),
            &json!({"rating": rating, "title": "Title", "body": "Body text"}),
        )
        .await
}

async fn aggregates(app: &TestApp, f: &Fixture) -> (Value, Value) {
    let p = app.client.get(&format!("/api/v1/products/{}", f.product)).await.json();
    (p["rating_average"].clone(), p["rating_count"].clone())
}

#[tokio::test]
async fn only_purchasers_review_once_and_aggregates_follow_every_change() {
    let (app, _db) = spawn().await;
    let f = fixture(&app, "reviewed").await;
    let stranger = customer(&app, "stranger").await;
    review(&stranger, &f, 5).await.assert_problem(403, "not-a-purchaser");
    app.client
        .post(&format!("/api/v1/products/{}/reviews", f.product), &json!({"rating": 5, "title": "t", "body": "b"}))
        .await
        .assert_status(401);

    let a = purchaser(&app, &f, "alice").await;
    let b = purchaser(&app, &f, "bob").await;
    // Warm the detail cache: aggregates must not be served stale after a review.
    assert_eq!(aggregates(&app, &f).await, (Value::Null, json!(0)));

    let ra = review(&a, &f, 5).await;
    ra.assert_status(201);
    let location = ra.header("location").map(str::to_owned);
    let ra = ra.json();
    assert_eq!(location, Some(format!("/api/v1/reviews/{}", ra["id"].as_str().expect("id"))));
    assert_eq!(ra["author"], "alice");
    review(&a, &f, 4).await.assert_problem(409, "already-reviewed");
    let rb = review(&b, &f, 2).await.json();
    assert_eq!(aggregates(&app, &f).await, (json!(3.5), json!(2)));

    // Validation names the field.
    for (body, field) in [
        (json!({"rating": 6, "title": "t", "body": "b"}), "rating"),
        (json!({"rating": 0, "title": "t", "body": "b"}), "rating"),
        (json!({"rating": 3, "title": "", "body": "b"}), "title"),
        (json!({"rating": 3, "title": "t", "body": "x".repeat(5001)}), "body"),
        (json!({"rating": 3, "title": "t"}), "body"),
    ] {
        let c = customer(&app, "v").await;
        let doc = c
            .client
            .post(&format!("/api/v1/products/{}/reviews", f.product), &body)
            .await
            .assert_problem(422, "validation-failed");
        assert_eq!(doc["errors"][0]["field"], field, "{doc}");
    }

    // Edit: 2 -> 4.
    let path_b = format!("/api/v1/reviews/{}", rb["id"].as_str().expect("id"));
    let edited = b.client.patch(&path_b, &json!({"rating": 4})).await;
    edited.assert_status(200);
    assert_eq!(aggregates(&app, &f).await, (json!(4.5), json!(2)));
    // Another user cannot edit or delete it.
    a.client.patch(&path_b, &json!({"rating": 1})).await.assert_problem(404, "not-found");
    a.client.delete(&path_b).await.assert_problem(404, "not-found");

    // Hide (moderation) leaves the aggregates; unhide restores them.
    let path_a = format!("/api/v1/admin/reviews/{}", ra["id"].as_str().expect("id"));
    b.client.post(&format!("{path_a}/hide"), &json!({"reason": "spam"})).await.assert_problem(403, "forbidden");
    let doc = f
        .admin
        .client
        .post(&format!("{path_a}/hide"), &json!({"reason": ""}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "reason");
    let hidden = f.admin.client.post(&format!("{path_a}/hide"), &json!({"reason": "off-topic"})).await;
    hidden.assert_status(200);
    assert_eq!(hidden.json()["hidden"], true);
    assert_eq!(aggregates(&app, &f).await, (json!(4.0), json!(1)));
    let list = app.client.get(&format!("/api/v1/products/{}/reviews", f.product)).await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "hidden reviews are not listed");
    f.admin.client.post(&format!("{path_a}/unhide"), &json!({})).await.assert_status(200);
    assert_eq!(aggregates(&app, &f).await, (json!(4.5), json!(2)));

    // Delete.
    b.client.delete(&path_b).await.assert_status(204);
    assert_eq!(aggregates(&app, &f).await, (json!(5.0), json!(1)));
    b.client.delete(&path_b).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn text_is_stored_as_given_minus_control_characters() {
    let (app, _db) = spawn().await;
    let f = fixture(&app, "xss").await;
    let c = purchaser(&app, &f, "xss").await;
    let title = "<script>alert('x')</script> & \"quotes\"";
    let res = c
        .client
        .post(
            &format!("/api/v1/products/{}/reviews", f.product),
            &json!({"rating": 3, "title": title, "body": "line one\nline\u{0} two\u{7}"}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let list = app.client.get(&format!("/api/v1/products/{}/reviews", f.product)).await.json();
    assert_eq!(list["items"][0]["title"], title);
    assert_eq!(list["items"][0]["body"], "line one\nline two");
    // The public sees the author's display name, never their account id.
    assert!(list["items"][0]["author"].is_string());
    assert!(list["items"][0].get("user_id").is_none(), "{}", list["items"][0]);
}

#[tokio::test]
async fn fifty_concurrent_reviews_keep_exact_aggregates() {
    let (app, _db) = spawn().await;
    let f = fixture(&app, "popular").await;
    let mut buyers = Vec::new();
    for i in 0..50 {
        buyers.push(purchaser(&app, &f, &format!("p{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, b) in buyers.into_iter().enumerate() {
        let path = format!("/api/v1/products/{}/reviews", f.product);
        tasks.push(tokio::spawn(async move {
            let rating = (i % 5) as i64 + 1;
            b.client.post(&path, &json!({"rating": rating, "title": "t", "body": "b"})).await.status.as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 201);
    }
    // 10 reviews of each star: average 3.0.
    assert_eq!(aggregates(&app, &f).await, (json!(3.0), json!(50)));
    let page = app.client.get(&format!("/api/v1/products/{}/reviews?limit=100", f.product)).await.json();
    assert_eq!(page["histogram"], json!({"1": 10, "2": 10, "3": 10, "4": 10, "5": 10}));
}

#[tokio::test]
async fn review_listing_sorts_and_pages() {
    let (app, _db) = spawn().await;
    let f = fixture(&app, "sorted").await;
    for (i, rating) in [3, 5, 1, 4, 2].into_iter().enumerate() {
        let p = purchaser(&app, &f, &format!("s{i}")).await;
        review(&p, &f, rating).await.assert_status(201);
    }
    let stars = |page: &Value| {
        page["items"].as_array().expect("items").iter().map(|r| r["rating"].as_i64().unwrap_or(0)).collect::<Vec<_>>()
    };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/products/{}/reviews?sort=highest&limit=2&cursor={c}", f.product),
            None => format!("/api/v1/products/{}/reviews?sort=highest&limit=2", f.product),
        };
        let page = app.client.get(&q).await.json();
        all.extend(stars(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(all, vec![5, 4, 3, 2, 1]);
    let lowest = app.client.get(&format!("/api/v1/products/{}/reviews?sort=lowest", f.product)).await.json();
    assert_eq!(stars(&lowest), vec![1, 2, 3, 4, 5]);
    let newest = app.client.get(&format!("/api/v1/products/{}/reviews", f.product)).await.json();
    assert_eq!(stars(&newest), vec![2, 4, 1, 5, 3]);
    app.client
        .get(&format!("/api/v1/products/{}/reviews?sort=best", f.product))
        .await
        .assert_problem(400, "invalid-parameter");
    app.client
        .get(&format!("/api/v1/products/{}/reviews", uuid::Uuid::new_v4()))
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn the_catalog_sorts_by_rating() {
    let (app, _db) = spawn().await;
    let good = fixture(&app, "good").await;
    let bad = fixture(&app, "bad").await;
    let _unrated = product(&good.admin, &product_body("unrated", "Unrated", None, &[("UNR", 100, 1)])).await;
    let g = purchaser(&app, &good, "g").await;
    let b = purchaser(&app, &bad, "b").await;
    review(&g, &good, 5).await.assert_status(201);
    review(&b, &bad, 2).await.assert_status(201);
    let page = app.client.get("/api/v1/products?sort=rating&limit=2").await.json();
    let names: Vec<_> =
        page["items"].as_array().expect("items").iter().map(|p| p["name"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(names, vec!["Product good", "Product bad"]);
    assert_eq!(page["items"][0]["rating_average"], 5.0);
    let next = page["next_cursor"].as_str().expect("cursor");
    let rest = app.client.get(&format!("/api/v1/products?sort=rating&limit=2&cursor={next}")).await.json();
    assert_eq!(rest["items"][0]["name"], "Unrated");
}
