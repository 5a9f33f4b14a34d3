//! Catalog: categories, products and variants, stock and ledger, listing and search, detail cache.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, admin, customer, sibling, soon, spawn, spawn_with, start, test_config};

pub async fn category(admin: &Session, slug: &str, parent: Option<&str>) -> Value {
    let res =
        admin.client.post("/api/v1/admin/categories", &json!({"slug": slug, "name": slug, "parent_id": parent})).await;
    res.assert_status(201);
    let doc = res.json();
    let location = format!("/api/v1/admin/categories/{}", doc["id"].as_str().expect("id"));
    assert_eq!(res.header("location"), Some(location.as_str()));
    doc
}

pub fn product_body(slug: &str, name: &str, category: Option<&str>, prices: &[(&str, i64, i32)]) -> Value {
    json!({
        "slug": slug,
        "name": name,
        "description": format!("{name}: a fine product for testing"),
        "status": "active",
        "category_id": category,
        "brand": "Acme",
        "currency": "EUR",
        "attributes": {"material": "cotton"},
        "images": ["https://img.example.com/a.jpg"],
        "variants": prices.iter().map(|(sku, price, stock)| json!({
            "sku": sku, "price_minor": price, "stock": stock, "options": {"size": "M"}
        })).collect::<Vec<_>>(),
    })
}

pub async fn product(admin: &Session, body: &Value) -> Value {
    let res = admin.client.post("/api/v1/admin/products", body).await;
    res.assert_status(201);
    let doc = res.json();
    let location = format!("/api/v1/admin/products/{}", doc["id"].as_str().expect("id"));
    assert_eq!(res.header("location"), Some(location.as_str()));
    doc
}

pub fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|p| p["name"].as_str().expect("name").to_owned()).collect()
}

pub async fn list(app: &TestApp, query: &str) -> Value {
    let res = app.client.get(&format!("/api/v1/products?{query}")).await;
    res.assert_status(200);
    res.json()
}

#[tokio::test]
async fn category_tree_moves_cycles_and_deletes() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let clothing = category(&a, "clothing", None).await;
    let cid = clothing["id"].as_str().expect("id");
    let shirts = category(&a, "shirts", Some(cid)).await;
    let sid = shirts["id"].as_str().expect("id");
    let formal = category(&a, "formal-shirts", Some(sid)).await;
    let fid = formal["id"].as_str().expect("id");

    let tree = app.client.get("/api/v1/categories").await.json();
    assert_eq!(tree[0]["slug"], "clothing");
    assert_eq!(tree[0]["children"][0]["children"][0]["slug"], "formal-shirts");
    let one = app.client.get("/api/v1/categories/shirts").await.json();
    assert_eq!(one["children"][0]["slug"], "formal-shirts");
    app.client.get("/api/v1/categories/nope").await.assert_problem(404, "not-found");

    a.client
        .post("/api/v1/admin/categories", &json!({"slug": "shirts", "name": "Again"}))
        .await
        .assert_problem(409, "slug-taken");
    // Cycles: under itself, under a descendant.
    a.client
        .patch(&format!("/api/v1/admin/categories/{cid}"), &json!({"parent_id": cid}))
        .await
        .assert_problem(409, "category-cycle");
    a.client
        .patch(&format!("/api/v1/admin/categories/{cid}"), &json!({"parent_id": fid}))
        .await
        .assert_problem(409, "category-cycle");
    // A legal move: formal-shirts to the top level, then rename.
    let moved =
        a.client.patch(&format!("/api/v1/admin/categories/{fid}"), &json!({"parent_id": null, "name": "Formal"})).await;
    moved.assert_status(200);
    assert_eq!(moved.json()["parent_id"], Value::Null);
    assert_eq!(moved.json()["name"], "Formal");
    assert_eq!(app.client.get("/api/v1/categories").await.json().as_array().map(Vec::len), Some(2));

    // Not empty: has a child, then has a product.
    a.client.delete(&format!("/api/v1/admin/categories/{cid}")).await.assert_problem(409, "category-not-empty");
    product(&a, &product_body("p1", "Shirt", Some(sid), &[("P1", 1000, 1)])).await;
    a.client.delete(&format!("/api/v1/admin/categories/{sid}")).await.assert_problem(409, "category-not-empty");
    a.client.delete(&format!("/api/v1/admin/categories/{fid}")).await.assert_status(204);
    a.client.delete(&format!("/api/v1/admin/categories/{fid}")).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn customers_cannot_write_the_catalog() {
    let (app, _db) = spawn().await;
    let c = customer(&app, "shopper").await;
    c.client
        .post("/api/v1/admin/categories", &json!({"slug": "x", "name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    c.client
        .post("/api/v1/admin/products", &product_body("x", "X", None, &[("X1", 100, 1)]))
        .await
        .assert_problem(403, "forbidden");
    app.client
        .post("/api/v1/admin/products", &product_body("x", "X", None, &[("X1", 100, 1)]))
        .await
        .assert_problem(401, "unauthorized");
    let a = admin(&app).await;
    let p = product(&a, &product_body("y", "Y", None, &[("Y1", 100, 1)])).await;
    let vid = p["variants"][0]["id"].as_str().expect("variant");
    c.client
        .post(&format!("/api/v1/admin/variants/{vid}/inventory"), &json!({"delta": 5, "reason": "restock"}))
        .await
        .assert_problem(403, "forbidden");
    c.client
        .get(&format!("/api/v1/admin/products/{}", p["id"].as_str().expect("id")))
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn product_validation_names_fields() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let mut body = product_body("ok-slug", "Name", None, &[("S1", 100, 1)]);
    body["slug"] = json!("Bad Slug");
    let doc = a.client.post("/api/v1/admin/products", &body).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "slug");
    let mut body = product_body("ok-slug", "Name", None, &[("S1", -5, 1)]);
    let doc = a.client.post("/api/v1/admin/products", &body).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "variants[0].price_minor");
    body = product_body("ok-slug", "Name", None, &[]);
    let doc = a.client.post("/api/v1/admin/products", &body).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "variants");
    body = product_body("ok-slug", "Name", None, &[("S1", 100, 1)]);
    body["currency"] = json!("euro");
    let doc = a.client.post("/api/v1/admin/products", &body).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "currency");
    body = product_body("ok-slug", "Name", Some(&uuid::Uuid::new_v4().to_string()), &[("S1", 100, 1)]);
    let doc = a.client.post("/api/v1/admin/products", &body).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "category_id");
    // Duplicates.
    product(&a, &product_body("taken", "T", None, &[("SKU-1", 100, 1)])).await;
    a.client
        .post("/api/v1/admin/products", &product_body("taken", "T", None, &[("SKU-2", 100, 1)]))
        .await
        .assert_problem(409, "slug-taken");
    a.client
        .post("/api/v1/admin/products", &product_body("fresh", "T", None, &[("SKU-1", 100, 1)]))
        .await
        .assert_problem(409, "sku-taken");
    // Nothing half-written: the refused product left no row behind.
    app.client.get("/api/v1/products/fresh").await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn drafts_are_invisible_to_the_public() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let mut body = product_body("secret", "Secret Gadget", None, &[("SG1", 100, 1)]);
    body["status"] = json!("draft");
    let p = product(&a, &body).await;
    let id = p["id"].as_str().expect("id");
    app.client.get(&format!("/api/v1/products/{id}")).await.assert_problem(404, "not-found");
    app.client.get("/api/v1/products/secret").await.assert_problem(404, "not-found");
    assert_eq!(list(&app, "q=secret").await["items"], json!([]));
    assert_eq!(list(&app, "").await["items"], json!([]));
    // Admins see it; publishing makes it public.
    a.client.get(&format!("/api/v1/admin/products/{id}")).await.assert_status(200);
    a.client.patch(&format!("/api/v1/admin/products/{id}"), &json!({"status": "active"})).await.assert_status(200);
    app.client.get("/api/v1/products/secret").await.assert_status(200);
    assert_eq!(names(&list(&app, "q=secret").await), vec!["Secret Gadget"]);
}

#[tokio::test]
async fn detail_by_id_and_slug_with_etag_and_cache_control() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let p = product(&a, &product_body("mug", "Ceramic Mug", None, &[("MUG-S", 1200, 3), ("MUG-L", 1500, 0)])).await;
    let id = p["id"].as_str().expect("id");

    let by_id = app.client.get(&format!("/api/v1/products/{id}")).await;
    by_id.assert_status(200);
    let by_slug = app.client.get("/api/v1/products/mug").await;
    assert_eq!(by_id.json(), by_slug.json());
    let body = by_id.json();
    assert_eq!(body["price_min"], json!({"amount_minor": 1200, "currency": "EUR"}));
    assert_eq!(body["price_max"], json!({"amount_minor": 1500, "currency": "EUR"}));
    let variant = |sku: &str| body["variants"].as_array().and_then(|vs| vs.iter().find(|v| v["sku"] == sku)).cloned();
    assert_eq!(variant("MUG-S").expect("MUG-S")["available"], true);
    assert_eq!(variant("MUG-L").expect("MUG-L")["available"], false);
    assert!(body["variants"][0].get("stock").is_none(), "stock counts are not public");
    assert_eq!(by_id.header("cache-control"), Some("public, no-cache"));

    let etag = by_id.header("etag").expect("etag").to_owned();
    let not_modified = app.client.with_header("if-none-match", &etag).get(&format!("/api/v1/products/{id}")).await;
    not_modified.assert_status(304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    app.client
        .with_header("if-none-match", "\"other\"")
        .get(&format!("/api/v1/products/{id}"))
        .await
        .assert_status(200);
    app.client.get(&format!("/api/v1/products/{}", uuid::Uuid::new_v4())).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn price_update_is_visible_at_once_on_every_instance() {
    let (app, db) = spawn().await;
    // A second instance sharing the database and the Redis key space.
    let other = sibling(&app, &db, |_| {}).await;

    let a = admin(&app).await;
    let p = product(&a, &product_body("lamp", "Desk Lamp", None, &[("LAMP", 4000, 5)])).await;
    let (id, vid) = (p["id"].as_str().expect("id"), p["variants"][0]["id"].as_str().expect("vid"));
    let path = format!("/api/v1/products/{id}");
    // Warm both caches (Redis, and each instance's near cache).
    for c in [&app.client, &other.client] {
        for _ in 0..2 {
            assert_eq!(c.get(&path).await.json()["price_min"]["amount_minor"], 4000);
        }
    }
    let etag_before = other.client.get(&path).await.header("etag").map(str::to_owned);
    // The second and third reads on `other` came from its in-process copy.
    let metrics = other.client.get("/metrics").await.text();
    assert!(metrics.contains(r#"near_cache{stat="live"} 1"#), "{metrics}");
    let hits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"near_cache{stat="hits"} "#))
        .and_then(|v| v.parse().ok())
        .expect("near_cache hits");
    assert!(hits >= 2, "{metrics}");

    a.client.patch(&format!("/api/v1/admin/variants/{vid}"), &json!({"price_minor": 3500})).await.assert_status(200);
    // The writing instance dropped its copy before answering.
    let res = app.client.get(&path).await;
    assert_eq!(res.json()["price_min"]["amount_minor"], 3500);
    assert_ne!(res.header("etag").map(str::to_owned), etag_before);
    // The other within milliseconds (its copy is younger than the 5 s it may be served for).
    let res = soon(&other.client, &path, |r| r.json()["price_min"]["amount_minor"] == 3500).await;
    assert_eq!(res.json()["price_min"]["amount_minor"], 3500);
    assert_ne!(res.header("etag").map(str::to_owned), etag_before);
    // Product fields too, through the slug.
    a.client.patch(&format!("/api/v1/admin/products/{id}"), &json!({"name": "Desk Lamp II"})).await.assert_status(200);
    let res = soon(&other.client, "/api/v1/products/lamp", |r| r.json()["name"] == "Desk Lamp II").await;
    assert_eq!(res.json()["name"], "Desk Lamp II");
    // A slug change: the old slug stops resolving, the new one works.
    a.client.patch(&format!("/api/v1/admin/products/{id}"), &json!({"slug": "lamp-2"})).await.assert_status(200);
    soon(&other.client, "/api/v1/products/lamp", |r| r.status == 404).await.assert_problem(404, "not-found");
    other.client.get("/api/v1/products/lamp-2").await.assert_status(200);
}

/// Renames a product in PostgreSQL directly, so nothing is invalidated.
async fn rename_behind_the_api(app: &TestApp, slug: &str, name: &str) {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&app.db_url).await.expect("connection");
    let renamed = diesel::sql_query("UPDATE products SET name = $1 WHERE slug = $2")
        .bind::<Text, _>(name)
        .bind::<Text, _>(slug)
        .execute(&mut conn)
        .await
        .expect("update");
    assert_eq!(renamed, 1);
}

#[tokio::test]
async fn anonymous_listing_pages_are_cached_and_catalog_writes_show_at_once() {
    // The page cache in front of the SQL listing (the search index is not cached: it follows
    // the catalog's feed itself, tested in search.rs).
    let (app, _db) = spawn_with(|c| {
        c.catalog.listing_cache_ttl_secs = 60;
        c.catalog.search_index = false;
    })
    .await;
    let a = admin(&app).await;
    product(&a, &product_body("kettle", "Kettle", None, &[("KET", 3000, 5)])).await;
    assert_eq!(names(&list(&app, "q=kettle").await), ["Kettle"]);

    // Changed behind the API's back (nothing invalidated): the anonymous page comes from the cache,
    // a signed-in caller's from PostgreSQL.
    rename_behind_the_api(&app, "kettle", "Renamed Kettle").await;
    assert_eq!(names(&list(&app, "q=kettle").await), ["Kettle"]);
    let fresh = a.client.get("/api/v1/products?q=kettle").await;
    assert_eq!(names(&fresh.json()), ["Renamed Kettle"]);

    // A write through the API starts a new listing version: the next anonymous page is read anew.
    product(&a, &product_body("kettle-2", "Kettle Two", None, &[("KET2", 2000, 5)])).await;
    let mut seen = names(&list(&app, "q=kettle").await);
    seen.sort();
    assert_eq!(seen, ["Kettle Two", "Renamed Kettle"]);
}

#[tokio::test]
async fn a_stale_listing_page_is_served_while_it_is_refreshed() {
    let (app, _db) = spawn_with(|c| {
        c.catalog.listing_cache_ttl_secs = 1;
        c.catalog.search_index = false;
    })
    .await;
    let a = admin(&app).await;
    product(&a, &product_body("teapot", "Teapot", None, &[("TEA", 3000, 5)])).await;
    assert_eq!(names(&list(&app, "q=teapot").await), ["Teapot"]);
    rename_behind_the_api(&app, "teapot", "Green Teapot").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Past its freshness: answered at once from the cache, and refreshed behind the answer.
    assert_eq!(names(&list(&app, "q=teapot").await), ["Teapot"]);
    let res = soon(&app.client, "/api/v1/products?q=teapot", |r| names(&r.json()) == ["Green Teapot"]).await;
    assert_eq!(names(&res.json()), ["Green Teapot"]);
}

#[tokio::test]
async fn stale_if_match_is_412() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let res = a.client.post("/api/v1/admin/products", &product_body("chair", "Chair", None, &[("CH", 9900, 2)])).await;
    let etag = res.header("etag").expect("etag").to_owned();
    let id = res.json()["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/admin/products/{id}");

    let first = a.client.with_header("if-match", &etag).patch(&path, &json!({"name": "Chair A"})).await;
    first.assert_status(200);
    let new_etag = first.header("etag").expect("etag").to_owned();
    assert_ne!(new_etag, etag);
    // Someone else's edit based on the old version loses.
    a.client
        .with_header("if-match", &etag)
        .patch(&path, &json!({"name": "Chair B"}))
        .await
        .assert_problem(412, "precondition-failed");
    a.client
        .with_header("if-match", "garbage")
        .patch(&path, &json!({"name": "Chair B"}))
        .await
        .assert_problem(412, "precondition-failed");
    assert_eq!(a.client.get(&path).await.json()["name"], "Chair A");
    a.client.with_header("if-match", &new_etag).patch(&path, &json!({"name": "Chair C"})).await.assert_status(200);
}

#[tokio::test]
async fn stock_never_goes_negative_and_the_ledger_sums_to_it() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let p = product(&a, &product_body("sock", "Sock", None, &[("SOCK", 500, 10)])).await;
    let vid = p["variants"][0]["id"].as_str().expect("vid").to_owned();
    let inv = format!("/api/v1/admin/variants/{vid}/inventory");

    let restocked = a.client.post(&inv, &json!({"delta": 5, "reason": "restock", "note": "supplier delivery"})).await;
    restocked.assert_status(201);
    assert_eq!(restocked.header("location"), Some(inv.as_str()), "the ledger that lists the entry");
    let doc = a
        .client
        .post(&inv, &json!({"delta": -16, "reason": "adjustment"}))
        .await
        .assert_problem(409, "insufficient-stock");
    assert!(doc["detail"].as_str().is_some_and(|d| d.contains("15")), "{doc}");
    let doc =
        a.client.post(&inv, &json!({"delta": 1, "reason": "sale"})).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "reason");

    // 40 concurrent decrements of 1 against 15 units: exactly 15 succeed.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let c = a.client.clone();
        let inv = inv.clone();
        tasks.push(tokio::spawn(async move {
            c.post(&inv, &json!({"delta": -1, "reason": "adjustment"})).await.status.as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            201 => ok += 1,
            409 => {}
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 15);

    let admin_view = a.client.get(&format!("/api/v1/admin/products/{}", p["id"].as_str().expect("id"))).await.json();
    assert_eq!(admin_view["variants"][0]["stock"], 0);
    // The ledger, read page by page, sums to the stock.
    let (mut sum, mut rows, mut cursor) = (0i64, 0, None::<String>);
    loop {
        let q = cursor.as_ref().map(|c| format!("{inv}?limit=7&cursor={c}")).unwrap_or(format!("{inv}?limit=7"));
        let page = a.client.get(&q).await.json();
        for e in page["items"].as_array().expect("items") {
            sum += e["delta"].as_i64().expect("delta");
            rows += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(sum, 0);
    assert_eq!(rows, 1 + 1 + 15, "initial, restock, 15 adjustments");
    let first = a.client.get(&inv).await.json();
    assert_eq!(first["items"][0]["reason"], "initial");
    assert_eq!(first["items"][1]["note"], "supplier delivery");
    assert_eq!(first["items"][1]["actor_id"], json!(a.id));
    // The public view follows: out of stock.
    assert_eq!(app.client.get("/api/v1/products/sock").await.json()["in_stock"], false);
}

#[tokio::test]
async fn variants_can_be_added_changed_and_removed_but_not_the_last() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let p = product(&a, &product_body("tee", "Tee", None, &[("TEE-M", 1500, 1)])).await;
    let id = p["id"].as_str().expect("id");
    let added = a
        .client
        .post(
            &format!("/api/v1/admin/products/{id}/variants"),
            &json!({"sku": "TEE-L", "price_minor": 1700, "stock": 2}),
        )
        .await;
    added.assert_status(201);
    let lid = added.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(added.header("location"), Some(format!("/api/v1/admin/variants/{lid}").as_str()));
    a.client
        .post(&format!("/api/v1/admin/products/{id}/variants"), &json!({"sku": "TEE-L", "price_minor": 1}))
        .await
        .assert_problem(409, "sku-taken");
    assert_eq!(app.client.get("/api/v1/products/tee").await.json()["price_max"]["amount_minor"], 1700);
    a.client.patch(&format!("/api/v1/admin/variants/{lid}"), &json!({"active": false})).await.assert_status(200);
    let public = app.client.get("/api/v1/products/tee").await.json();
    assert_eq!(public["variants"].as_array().map(Vec::len), Some(1), "inactive variants are hidden");
    assert_eq!(public["price_max"]["amount_minor"], 1500);
    a.client.delete(&format!("/api/v1/admin/variants/{lid}")).await.assert_status(204);
    let mid = p["variants"][0]["id"].as_str().expect("id");
    a.client.delete(&format!("/api/v1/admin/variants/{mid}")).await.assert_problem(409, "last-variant");
    a.client.delete(&format!("/api/v1/admin/products/{id}")).await.assert_status(204);
    app.client.get("/api/v1/products/tee").await.assert_problem(404, "not-found");
}

async fn search_fixture(app: &TestApp) -> (Session, String, String) {
    let a = admin(app).await;
    let apparel = category(&a, "apparel", None).await["id"].as_str().expect("id").to_owned();
    let jackets = category(&a, "jackets", Some(&apparel)).await["id"].as_str().expect("id").to_owned();
    let kitchen = category(&a, "kitchen", None).await["id"].as_str().expect("id").to_owned();
    let items: [(&str, &str, &str, i64, i32, &str); 6] = [
        ("black-leather-jacket", "Black Leather Jacket", &jackets, 19900, 3, "Acme"),
        ("denim-jacket", "Denim Jacket", &jackets, 8900, 0, "Globex"),
        ("cotton-shirt", "Cotton Shirt", &apparel, 2900, 10, "Acme"),
        ("steel-kettle", "Steel Kettle", &kitchen, 4500, 4, "Initech"),
        ("ceramic-mug", "Ceramic Mug", &kitchen, 1200, 8, "Acme"),
        ("linen-apron", "Linen Apron", &kitchen, 2200, 2, "Globex"),
    ];
    for (slug, name, cat, price, stock, brand) in items {
        let mut body = product_body(slug, name, Some(cat), &[(&slug.to_uppercase(), price, stock)]);
        body["brand"] = json!(brand);
        product(&a, &body).await;
    }
    (a, apparel, kitchen)
}

#[tokio::test]
async fn search_finds_by_name_and_tolerates_typos() {
    let (app, _db) = spawn().await;
    search_fixture(&app).await;
    assert_eq!(names(&list(&app, "q=leather").await)[0], "Black Leather Jacket");
    let jackets = names(&list(&app, "q=jacket").await);
    assert_eq!(jackets.len(), 2, "{jackets:?}");
    // Typos: a missing letter, a swapped one.
    assert!(names(&list(&app, "q=jaket").await).contains(&"Denim Jacket".to_owned()));
    assert_eq!(names(&list(&app, "q=kettel").await), vec!["Steel Kettle"]);
    // Description words count, below names.
    assert!(!list(&app, "q=product").await["items"].as_array().expect("items").is_empty());
    assert_eq!(list(&app, "q=zzzzqqq").await["items"], json!([]));
    // Hostile input is just text.
    assert_eq!(list(&app, "q=%27%3B%20DROP%20TABLE%20products%3B--").await["items"], json!([]));
    assert_eq!(list(&app, "q=%25").await["items"], json!([]));
}

#[tokio::test]
async fn filters_sorts_and_facets() {
    let (app, _db) = spawn().await;
    let (_a, apparel, _kitchen) = search_fixture(&app).await;

    // Category includes descendants.
    let mut got = names(&list(&app, "category=apparel&sort=price_asc").await);
    assert_eq!(got, vec!["Cotton Shirt", "Denim Jacket", "Black Leather Jacket"]);
    got = names(&list(&app, &format!("category={apparel}&sort=price_desc")).await);
    assert_eq!(got, vec!["Black Leather Jacket", "Denim Jacket", "Cotton Shirt"]);
    got = names(&list(&app, "category=jackets&in_stock=true").await);
    assert_eq!(got, vec!["Black Leather Jacket"]);
    got = names(&list(&app, "brand=Acme&sort=price_asc").await);
    assert_eq!(got, vec!["Ceramic Mug", "Cotton Shirt", "Black Leather Jacket"]);
    got = names(&list(&app, "price_min=2000&price_max=5000&sort=price_asc").await);
    assert_eq!(got, vec!["Linen Apron", "Cotton Shirt", "Steel Kettle"]);
    got = names(&list(&app, "sort=newest&limit=2").await);
    assert_eq!(got, vec!["Linen Apron", "Ceramic Mug"]);

    let page = list(&app, "category=apparel").await;
    let brands = &page["facets"]["brands"];
    assert_eq!(brands[0], json!({"value": "Acme", "count": 2}));
    assert_eq!(brands[1], json!({"value": "Globex", "count": 1}));
    let cats = page["facets"]["categories"].as_array().expect("categories");
    assert_eq!(cats.iter().map(|c| c["count"].as_i64().unwrap_or(0)).sum::<i64>(), 3);
    assert_eq!(page["items"][0]["in_stock"], true);
    assert!(page["items"][0]["price_min"]["amount_minor"].is_i64());
}

#[tokio::test]
async fn bad_filters_are_400_naming_the_parameter() {
    let (app, _db) = spawn().await;
    search_fixture(&app).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("price_min=-1", "price_min"),
        ("price_min=500&price_max=100", "price_min"),
        ("sort=cheapest", "sort"),
        ("sort=relevance", "sort"),
        ("in_stock=maybe", "in_stock"),
        ("category=no-such-category", "category"),
        ("cursor=garbage", "cursor"),
        ("colour=red", "colour"),
    ] {
        let res = app.client.get(&format!("/api/v1/products?{query}")).await;
        let doc = res.assert_problem(400, "invalid-parameter");
        let named = doc["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"].as_str().is_some_and(|f| f.contains(field)));
        assert!(named, "{query}: {doc}");
    }
    // A cursor from one sort cannot be used with another.
    let page = list(&app, "sort=price_asc&limit=1").await;
    let cursor = page["next_cursor"].as_str().expect("cursor");
    app.client
        .get(&format!("/api/v1/products?sort=newest&cursor={cursor}"))
        .await
        .assert_problem(400, "invalid-parameter");
}

#[tokio::test]
async fn paging_while_inserting_sees_every_existing_product_exactly_once() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let mut existing = std::collections::BTreeSet::new();
    for i in 0..23 {
        let p = product(
            &a,
            &product_body(
                &format!("item-{i}"),
                &format!("Item {i}"),
                None,
                &[(&format!("IT-{i}"), 1000 + (i % 5) * 100, 1)],
            ),
        )
        .await;
        existing.insert(p["id"].as_str().expect("id").to_owned());
    }
    for sort in ["newest", "price_asc", "price_desc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        loop {
            let q = match &cursor {
                Some(c) => format!("sort={sort}&limit=4&cursor={c}"),
                None => format!("sort={sort}&limit=4"),
            };
            let page = list(&app, &q).await;
            for p in page["items"].as_array().expect("items") {
                seen.push(p["id"].as_str().expect("id").to_owned());
            }
            // Insert new products between pages, at both ends of every ordering.
            for price in [1, 999_999] {
                inserted += 1;
                product(
                    &a,
                    &product_body(
                        &format!("new-{}-{inserted}", sort.replace('_', "-")),
                        "New",
                        None,
                        &[(&format!("NEW-{sort}-{inserted}"), price, 1)],
                    ),
                )
                .await;
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: an item was repeated");
        assert!(existing.is_subset(&unique), "{sort}: a pre-existing item was skipped");
    }
}

#[tokio::test]
async fn anonymous_listing_reads_the_replica_and_falls_back_to_the_primary() {
    // A stand-in "replica": a second migrated database that never receives the writes, so
    // which one answered is visible in the result.
    let replica = testkit::TestDb::new().await;
    // The SQL listing's routing (with the search index on, anonymous listings never reach
    // PostgreSQL once it has loaded).
    let (app, db) = crate::helpers::spawn_with(|c| {
        c.database.replica_urls = vec![replica.url.clone()];
        c.catalog.search_index = false;
    })
    .await;
    let a = admin(&app).await;
    product(&a, &product_body("only-on-primary", "Only On Primary", None, &[("OOP", 100, 1)])).await;

    assert_eq!(list(&app, "").await["items"], json!([]), "anonymous listing answered by the replica");
    let signed_in = a.client.get("/api/v1/products").await.json();
    assert_eq!(names(&signed_in), vec!["Only On Primary"], "signed-in callers read their writes from the primary");
    // Detail feeds the cache, so it always reads the primary.
    app.client.get("/api/v1/products/only-on-primary").await.assert_status(200);
    let metrics = app.client.get("/metrics").await.text();
    assert!(metrics.contains(r#"db_pool_connections{pool="reads",state="replica"} 2"#), "{metrics}");

    // A replica that is down: reads fall back to the primary.
    let mut config = test_config(&db);
    config.database.replica_urls = vec!["postgres://postgres@127.0.0.1:1/none".into()];
    config.database.connect_timeout_ms = 300;
    config.catalog.search_index = false;
    let fallback = start(config).await;
    assert_eq!(names(&list(&fallback, "").await), vec!["Only On Primary"]);
}
