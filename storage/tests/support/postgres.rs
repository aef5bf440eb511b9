//! A PostgreSQL server for the contract tests, and a fresh database per
//! test.
//!
//! With `HERALD_TEST_POSTGRES_URL` set (a URL whose user may create
//! databases), tests use that server. Otherwise the first test to need one
//! starts a throwaway cluster with `scripts/postgres.sh start` in a
//! directory of its own, and a watchdog process stops it once this test
//! process has ended, however it ended (a panic, a kill). When no server
//! can be had the tests fail, saying why: they never skip.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

const URL_VARIABLE: &str = "HERALD_TEST_POSTGRES_URL";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");

/// The server's URL (its `postgres` database); starts a cluster the first
/// time it is needed in this process.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => start_cluster(),
    })
}

fn start_cluster() -> String {
    let directory = std::env::temp_dir().join(format!("herald-test-pg-{}", std::process::id()));
    let output = Command::new("bash")
        .arg(SCRIPT)
        .arg("start")
        .env("HERALD_PG_DIR", &directory)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {SCRIPT}: {error}"));
    // Stop the cluster once this process is gone, even if it panicked or
    // was killed: a shell polls for our pid. It is started in the
    // background of a shell that exits at once (and is reaped here), so it
    // outlives us without being our child.
    let watchdog = format!(
        "(while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         HERALD_PG_DIR='{dir}' bash '{SCRIPT}' stop) >/dev/null 2>&1 &",
        pid = std::process::id(),
        dir = directory.display(),
    );
    let started = Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the PostgreSQL watchdog");
    assert!(started.success(), "the PostgreSQL watchdog did not start");
    assert!(
        output.status.success(),
        "PostgreSQL could not be started for the contract tests (set {URL_VARIABLE} to use \
         a running server instead).\n{SCRIPT} start said:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(url.starts_with("postgres://"), "{SCRIPT} printed {url:?}");
    url
}

/// A database of its own for one test: created on first `url`, dropped
/// when the place is dropped.
pub struct PgPlace {
    name: String,
    url: String,
}

impl PgPlace {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let server = server_url();
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("{URL_VARIABLE} must end in /database: {server}"),
        };
        Self { name, url }
    }

    /// The test database's URL, creating the database if it is not there.
    pub async fn url(&self) -> &str {
        let mut admin = PgConnection::connect(server_url())
            .await
            .unwrap_or_else(|error| panic!("connect to {}: {error}", server_url()));
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&self.name)
                .fetch_one(&mut admin)
                .await
                .expect("look for the test database");
        if !exists {
            // A name can't be a bound parameter; this one is ours, made of
            // [a-z0-9_] only.
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {}", self.name)))
                .execute(&mut admin)
                .await
                .expect("create the test database");
        }
        let _ = admin.close().await;
        &self.url
    }
}

impl Drop for PgPlace {
    /// Drops the database, on a thread of its own because a test's runtime
    /// may be the one dropping us.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(server_url()).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(AssertSqlSafe(statement))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}
