//! The in-memory listing and search index (crates/search): typos and prefixes through HTTP, facets
//! that agree with the listing, freshness across instances, a rebuild from PostgreSQL, and
//! PostgreSQL answering while an index is stale.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::catalog::{list, names, product, product_body};
use crate::helpers::*;
use testkit::TestDb;

/// The index figure `stat` in a `/metrics` text (-1 when absent).
fn stat_in(metrics: &str, stat: &str) -> i64 {
    let key = format!("search_index{{stat=\"{stat}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
}

async fn metric(app: &TestApp, stat: &str) -> i64 {
    stat_in(&app.client.get("/metrics").await.text(), stat)
}

/// Waits (at most 10 s) until the instance's index figure `stat` is `value`.
async fn until_metric(app: &TestApp, stat: &str, value: i64) {
    let res = crate::helpers::within(TEN_SECONDS, &app.client, "/metrics", |r| stat_in(&r.text(), stat) == value).await;
    let now = stat_in(&res.text(), stat);
    assert_eq!(now, value, "search_index {stat} stayed {now}, not {value}");
}

const TEN_SECONDS: Duration = Duration::from_secs(10);

/// Waits until the instance's index answers queries (it loads at start, in the background).
async fn serving(app: &TestApp) {
    until_metric(app, "serving", 1).await;
}

/// Two instances on one database (dropped with the last element), the fixture catalog in it,
/// both indexes serving.
async fn two_instances() -> (TestApp, TestApp, Session, TestDb) {
    let (a_app, db) = spawn().await;
    let b_app = sibling(&a_app, &db, |_| {}).await;
    let admin = fixture(&a_app).await;
    serving(&a_app).await;
    serving(&b_app).await;
    (a_app, b_app, admin, db)
}

/// How long until `path` on `app` answers 200 with a page that satisfies `done` (at most 10 s).
async fn time_until(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    let res = crate::helpers::within(TEN_SECONDS, &app.client, path, |r| {
        r.assert_status(200);
        done(&r.json())
    })
    .await;
    assert!(done(&res.json()), "{path} never showed the change: {}", res.text());
    start.elapsed()
}

async fn sql(app: &TestApp, statement: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&app.db_url).await.expect("connection");
    diesel::sql_query(statement).execute(&mut conn).await.expect(statement);
}

/// A small catalog: three brands, two categories, typo-prone names.
async fn fixture(app: &TestApp) -> Session {
    let a = admin(app).await;
    let home = a.client.post("/api/v1/admin/categories", &json!({"slug": "home", "name": "Home"})).await.json();
    let home = home["id"].as_str().expect("id").to_owned();
    for (slug, name, category, price, stock, brand) in [
        ("leather-jacket", "Rugged Leather Jacket", None, 14900, 3, "Globex"),
        ("denim-jackets", "Denim Jackets", None, 8900, 0, "Acme"),
        ("headphones", "Wireless Headphones", None, 9900, 5, "Hooli"),
        ("oak-lamp", "Oak Lamp", Some(home.as_str()), 4900, 2, "Acme"),
        ("steel-kettle", "Steel Kettle", Some(home.as_str()), 3900, 7, "Acme"),
    ] {
        let mut body = product_body(slug, name, category, &[(&slug.to_uppercase(), price, stock)]);
        body["brand"] = json!(brand);
        product(&a, &body).await;
    }
    a
}

#[tokio::test]
async fn typos_and_prefixes_find_products_and_facets_agree_with_the_listing() {
    let (app, db) = spawn().await;
    let _a = fixture(&app).await;
    serving(&app).await;
    // The SQL listing on the same data, for the facets.
    let sql_app = sibling(&app, &db, |c| c.catalog.search_index = false).await;
    assert_eq!(names(&list(&app, "q=leathr").await), ["Rugged Leather Jacket"], "one edit");
    assert_eq!(names(&list(&app, "q=hedphonez").await), ["Wireless Headphones"], "two edits in nine letters");
    assert_eq!(names(&list(&app, "q=kettel").await), ["Steel Kettle"], "a swap");
    assert_eq!(names(&list(&app, "q=oak%20la").await), ["Oak Lamp"], "the last word as a prefix");
    assert_eq!(names(&list(&app, "q=wirel").await), ["Wireless Headphones"]);
    let mut jackets = names(&list(&app, "q=jacket").await);
    jackets.sort();
    assert_eq!(jackets, ["Denim Jackets", "Rugged Leather Jacket"], "stems");
    assert_eq!(list(&app, "q=zzzzqqq").await["items"], json!([]));
    assert_eq!(list(&app, "q=%27%3B%20DROP%20TABLE%20products%3B--").await["items"], json!([]));

    // Every facet count is what the listing with that filter returns, from the index and from SQL.
    for (app, query) in ["", "q=jacket", "in_stock=true", "category=home", "price_min=4000&price_max=10000"]
        .into_iter()
        .flat_map(|q| [(&app, q), (&sql_app, q)])
    {
        let page = list(app, &format!("{query}&limit=100")).await;
        let total = page["items"].as_array().expect("items").len() as i64;
        let brands = page["facets"]["brands"].as_array().expect("brands");
        assert_eq!(brands.iter().map(|f| f["count"].as_i64().unwrap_or(0)).sum::<i64>(), total, "{query}");
        for f in brands {
            let brand = f["value"].as_str().expect("brand");
            let filtered = list(app, &format!("{query}&brand={brand}&limit=100")).await;
            assert_eq!(filtered["items"].as_array().expect("items").len() as i64, f["count"], "{query} brand {brand}");
        }
        let categories = page["facets"]["categories"].as_array().expect("categories");
        for f in categories.iter().filter(|_| !query.starts_with("category=")) {
            let category = f["value"].as_str().expect("category");
            let filtered = list(app, &format!("{query}&category={category}&limit=100")).await;
            assert_eq!(filtered["items"].as_array().expect("items").len() as i64, f["count"], "{query} {category}");
        }
        let prices = page["facets"]["prices"].as_array().expect("prices");
        assert_eq!(prices.len(), catalog::PRICE_BANDS.len(), "every band, empty ones too");
        assert_eq!(prices.iter().map(|f| f["count"].as_i64().unwrap_or(0)).sum::<i64>(), total, "{query}");
        for f in prices.iter().filter(|_| !query.contains("price_")) {
            let band = match f["max"].as_i64() {
                Some(max) => format!("price_min={}&price_max={max}", f["min"]),
                None => format!("price_min={}", f["min"]),
            };
            let filtered = list(app, &format!("{query}&{band}&limit=100")).await;
            assert_eq!(filtered["items"].as_array().expect("items").len() as i64, f["count"], "{query} {band}");
        }
        if !query.contains("in_stock") {
            let stocked = list(app, &format!("{query}&in_stock=true&limit=100")).await;
            assert_eq!(stocked["items"].as_array().expect("items").len() as i64, page["facets"]["in_stock"], "{query}");
        }
    }
    assert_eq!(metric(&app, "products").await, 5);
}

#[tokio::test]
async fn an_edit_shows_in_every_instance_within_a_second() {
    let (a_app, b_app, a, _db) = two_instances().await;

    // Through the API on instance A: its own answer shows it at once, B's within a second.
    let id = list(&a_app, "q=kettle").await["items"][0]["id"].as_str().expect("id").to_owned();
    a.client.patch(&format!("/api/v1/admin/products/{id}"), &json!({"name": "Copper Kettle"})).await.assert_status(200);
    assert_eq!(names(&list(&a_app, "q=copper").await), ["Copper Kettle"], "the writer's instance at once");
    let took = time_until(&b_app, "/api/v1/products?q=copper", |p| names(p) == ["Copper Kettle"]).await;
    assert!(took < Duration::from_secs(1), "instance B showed the edit after {took:?}");

    // Behind the API (nothing invalidated, no instance told): both within a second, through the
    // catalog's change feed.
    sql(&a_app, "UPDATE products SET name = 'Brass Lamp' WHERE slug = 'oak-lamp'").await;
    for app in [&a_app, &b_app] {
        let took = time_until(app, "/api/v1/products?q=brass", |p| names(p) == ["Brass Lamp"]).await;
        assert!(took < Duration::from_secs(1), "an instance showed the edit after {took:?}");
    }
    // Stock crossing zero changes availability; a deleted product leaves the index.
    sql(&a_app, "UPDATE variants SET stock = 0 WHERE sku = 'HEADPHONES'").await;
    for app in [&a_app, &b_app] {
        time_until(app, "/api/v1/products?q=headphones&in_stock=true", |p| names(p).is_empty()).await;
    }
    a.client.delete(&format!("/api/v1/admin/products/{id}")).await.assert_status(204);
    time_until(&b_app, "/api/v1/products?q=kettle", |p| names(p).is_empty()).await;
}

#[tokio::test]
async fn a_rebuild_request_reloads_every_instance_from_postgresql() {
    let (a_app, b_app, _a, _db) = two_instances().await;
    // A change the feed never hears of (its trigger off): the indexes keep the old name.
    sql(&a_app, "ALTER TABLE products DISABLE TRIGGER products_feed").await;
    sql(&a_app, "UPDATE products SET name = 'Walnut Lamp' WHERE slug = 'oak-lamp'").await;
    sql(&a_app, "ALTER TABLE products ENABLE TRIGGER products_feed").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(names(&list(&a_app, "q=oak").await), ["Oak Lamp"], "the index did not hear of it");
    let before = [metric(&a_app, "rebuilds").await, metric(&b_app, "rebuilds").await];
    // What `shop-api admin reindex` does.
    catalog::CatalogFeed::request_rebuild(&persistence::PgCatalogRepo::new(
        persistence::Db::connect(&a_app.config.db_config()).expect("db"),
    ))
    .await
    .expect("rebuild requested");
    // Each instance rebuilds once (the count moves after the new index is in place), then
    // answers from it: serving, so the rename does not come from PostgreSQL answering instead.
    for (app, rebuilds) in [&a_app, &b_app].into_iter().zip(before) {
        until_metric(app, "rebuilds", rebuilds + 1).await;
        serving(app).await;
        assert_eq!(names(&list(app, "q=walnut").await), ["Walnut Lamp"]);
        assert_eq!(metric(app, "products").await, 5);
    }
    assert_eq!(metric(&b_app, "rebuilds").await, before[1] + 1, "one rebuild per request");
}

#[tokio::test]
async fn a_stale_index_hands_queries_to_postgresql() {
    // An index that stops following the feed (its round is an hour away after the first load).
    let (app, _db) = spawn_with(|c| c.catalog.search_feed_interval_ms = 3_600_000).await;
    let _a = fixture(&app).await;
    serving(&app).await;
    sql(&app, "UPDATE products SET name = 'Pine Lamp' WHERE slug = 'oak-lamp'").await;
    assert_eq!(names(&list(&app, "q=oak").await), ["Oak Lamp"], "the index answers, a round behind");
    // Past search::STALE_AFTER without a round, PostgreSQL answers: the rename shows.
    let took = time_until(&app, "/api/v1/products?q=pine", |p| names(p) == ["Pine Lamp"]).await;
    assert!(took >= Duration::from_secs(3), "answered by PostgreSQL only once stale ({took:?})");
    assert_eq!(metric(&app, "serving").await, 0);
}
