use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use persistence::db::{quote_ident, run_migrations};

/// Lock key serialising template creation across concurrently running test binaries.
const TEMPLATE_LOCK: i64 = 0x73686f702d746d70;

static SERVER: OnceLock<String> = OnceLock::new();

/// The PostgreSQL server tests use (no database in the URL), starting a throwaway one if needed.
pub fn server_url() -> String {
    SERVER
        .get_or_init(|| {
            let configured = std::env::var("SHOP_TEST_DATABASE_URL").ok();
            let url = configured.clone().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
            if configured.is_some() || reachable(&url) {
                return url.trim_end_matches('/').to_owned();
            }
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testkit-pg");
            match localpg::start(&dir, 54330) {
                Ok(pg) => pg.url("").trim_end_matches('/').to_owned(),
                Err(e) => panic!("no PostgreSQL at {url} and none could be started: {e}"),
            }
        })
        .clone()
}

fn reachable(server: &str) -> bool {
    let addr = server.rsplit('@').next().unwrap_or(server).trim_start_matches("postgres://");
    let addr = addr.split('/').next().unwrap_or(addr);
    std::net::ToSocketAddrs::to_socket_addrs(addr)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// A hash of every migration file and of the migrations compiled into this binary, so a changed
/// migration gets a fresh template, and a binary built before a migration was added (still
/// running while it is written) never builds a template under the new set's name.
fn migrations_fingerprint() -> u64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    persistence::db::embedded_names().hash(&mut h);
    for f in files {
        f.to_string_lossy().hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries.filter_map(|e| e.ok().map(|e| e.path())).flat_map(|p| if p.is_dir() { walk(&p) } else { vec![p] }).collect()
}

#[derive(diesel::QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

async fn admin() -> AsyncPgConnection {
    let url = format!("{}/postgres", server_url());
    AsyncPgConnection::establish(&url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// Creates (once per migration set) the migrated template database and returns its name.
async fn template() -> String {
    let name = format!("shop_template_{:016x}", migrations_fingerprint());
    let mut conn = admin().await;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("lock");
    let ready: Flag =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate) AS flag")
            .bind::<Text, _>(&name)
            .get_result(&mut conn)
            .await
            .expect("query pg_database");
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        sweep(&mut conn).await;
    }
    if !ready.flag {
        let q = quote_ident(&name).expect("plain name");
        // A half-built template from an interrupted run is rebuilt.
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)")).execute(&mut conn).await.expect("drop");
        diesel::sql_query(format!("CREATE DATABASE {q}")).execute(&mut conn).await.expect("create template");
        run_migrations(&format!("{}/{name}", server_url())).await.expect("migrate template");
        diesel::sql_query(format!("ALTER DATABASE {q} WITH IS_TEMPLATE true"))
            .execute(&mut conn)
            .await
            .expect("mark template");
    }
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("unlock");
    name
}

static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long a test database may live before a later run takes it for a leftover.
const LEFTOVER_AFTER_SECS: u64 = 3600;

/// Drops the test databases killed runs left behind (once per process, under the template lock):
/// those older than an hour (their names carry their creation time) and unstamped ones of earlier
/// versions nothing is connected to. Templates stay: another checkout's run may be using one.
pub async fn sweep_leftovers() -> usize {
    sweep(&mut admin().await).await
}

async fn sweep(conn: &mut AsyncPgConnection) -> usize {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        datname: String,
        #[diesel(sql_type = Bool)]
        in_use: bool,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT d.datname, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname) AS in_use \
         FROM pg_database d WHERE d.datname LIKE 'shop\\_test\\_%'",
    )
    .load(conn)
    .await
    .unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut dropped = 0;
    for Row { datname, in_use } in rows {
        let leftover = match datname.strip_prefix("shop_test_").map(|rest| rest.split_once('_')) {
            Some(Some((secs, _))) => secs.parse::<u64>().is_ok_and(|t| now.saturating_sub(t) > LEFTOVER_AFTER_SECS),
            Some(None) => !in_use, // the unstamped names of earlier versions
            None => false,
        };
        let Some(q) = leftover.then(|| quote_ident(&datname).ok()).flatten() else { continue };
        if diesel::sql_query(format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)")).execute(conn).await.is_ok() {
            dropped += 1;
        }
    }
    if dropped > 0 {
        eprintln!("testkit: dropped {dropped} databases left by earlier runs");
    }
    dropped
}

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn new() -> TestDb {
        let template = template().await;
        Self::create(Some(&template)).await
    }

    /// A pool of `size` connections to this database, for adapter tests without HTTP (generous
    /// timeouts: tests fire many calls at once).
    pub fn pool(&self, size: usize) -> persistence::Db {
        persistence::Db::connect(&persistence::DbConfig {
            url: self.url.clone(),
            pool_size: size,
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            acquire_timeout: Duration::from_secs(20),
            replica_urls: vec![],
        })
        .expect("pool")
    }

    /// A fresh, empty database (no migrations): for tests of start-up itself.
    pub async fn empty() -> TestDb {
        Self::create(None).await
    }

    async fn create(template: Option<&str>) -> TestDb {
        // Stamped with its creation time, so a run after a killed one can tell leftovers.
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("shop_test_{secs}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin().await;
        let sql = match template {
            Some(t) => format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name).expect("plain"),
                quote_ident(t).expect("plain")
            ),
            None => format!("CREATE DATABASE {}", quote_ident(&name).expect("plain")),
        };
        // Copying a template fails while another session is connected to it; that only happens
        // for a moment while another binary checks it, so retry briefly.
        let mut attempt = 0;
        loop {
            match diesel::sql_query(&sql).execute(&mut conn).await {
                Ok(_) => break,
                Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("creating test database: {e}"),
            }
        }
        let url = format!("{}/{name}", server_url());
        TestDb { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context; use a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let mut conn = admin().await;
                let q = quote_ident(&name).expect("plain");
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)")).execute(&mut conn).await;
            });
        })
        .join();
    }
}
