//! Leftovers of killed runs are swept; live test databases are not.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    e: bool,
}

async fn exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .expect("query")
        .e
}

#[tokio::test]
async fn an_old_test_database_is_dropped_and_a_live_one_kept() {
    let live = testkit::TestDb::new().await;
    let mut conn = AsyncPgConnection::establish(&format!("{}/postgres", testkit::server_url())).await.expect("connect");
    let leftover = format!("shop_test_1000_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {leftover}")).execute(&mut conn).await.expect("create leftover");
    assert!(testkit::sweep_leftovers().await >= 1);
    assert!(!exists(&mut conn, &leftover).await, "a database stamped in 1970 is a leftover");
    assert!(exists(&mut conn, &live.name).await, "a database of this run stays");
}
