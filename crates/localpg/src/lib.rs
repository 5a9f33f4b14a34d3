//! Starts a private PostgreSQL server in a directory, using the PostgreSQL binaries installed on
//! the machine (`initdb`, `pg_ctl`). Used by the dev profile when no server is reachable, and by
//! the test harness on machines without a running PostgreSQL. Never used in production.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install PostgreSQL \
         (Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install postgresql`) \
         or point the configuration at a running server"
    )]
    NotInstalled,
    #[error("could not start a local PostgreSQL in {dir}: {reason}")]
    Failed { dir: String, reason: String },
}

/// A running private server.
#[derive(Debug, Clone)]
pub struct LocalPg {
    pub data_dir: PathBuf,
    pub port: u16,
}

impl LocalPg {
    /// URL of database `db` on this server (trust authentication, user `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// Finds the directory holding `initdb` and `pg_ctl`: the `PATH` first, then Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest version first).
pub fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop().map(|(_, p)| p)
    })
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// PostgreSQL refuses to run as root; as root, run its tools as the `postgres` user.
fn tool(bin: &Path, name: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

fn run(mut cmd: Command, dir: &Path) -> Result<(), LocalPgError> {
    let out =
        cmd.output().map_err(|e| LocalPgError::Failed { dir: dir.display().to_string(), reason: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LocalPgError::Failed {
            dir: dir.display().to_string(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Initialises `data_dir` if needed and starts a server on 127.0.0.1:`port` unless one is already
/// running there. Blocking; call it before serving traffic.
pub fn start(data_dir: &Path, port: u16) -> Result<LocalPg, LocalPgError> {
    let bin = bin_dir().ok_or(LocalPgError::NotInstalled)?;
    let fail = |reason: String| LocalPgError::Failed { dir: data_dir.display().to_string(), reason };
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let data_dir = data_dir.canonicalize().map_err(|e| fail(e.to_string()))?;
    let as_postgres = running_as_root();
    if as_postgres {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&data_dir);
                c
            },
            &data_dir,
        )?;
    }
    if !data_dir.join("PG_VERSION").exists() {
        let mut c = tool(&bin, "initdb", as_postgres);
        c.arg("-D").arg(&data_dir).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]);
        run(c, &data_dir)?;
    }
    let mut status = tool(&bin, "pg_ctl", as_postgres);
    status.arg("status").arg("-D").arg(&data_dir);
    let running = status.output().is_ok_and(|o| o.status.success());
    if !running {
        let mut c = tool(&bin, "pg_ctl", as_postgres);
        c.arg("start")
            .arg("-w")
            .arg("-D")
            .arg(&data_dir)
            .arg("-l")
            .arg(data_dir.join("server.log"))
            .arg("-o")
            .arg(format!("-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200", data_dir.display()));
        run(c, &data_dir)?;
    }
    Ok(LocalPg { data_dir, port })
}
