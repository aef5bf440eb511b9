//! A MongoDB server for the contract tests, and a fresh database per test.
//!
//! With `HERALD_TEST_MONGO_URL` set (`mongodb://host:port`), tests use that
//! server. Otherwise the first test to need one starts a MongoDB-wire
//! server with `scripts/mongo.sh start` in a directory of its own, and a
//! watchdog process stops it once this test process has ended, however it
//! ended (a panic, a kill). When no server can be had the tests fail,
//! saying why: they never skip.
//!
//! The stores under test keep their directory, queue and files in SQLite
//! (a temporary directory per test), as `Stores::with_mongo` wires them.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use herald_storage::MongoDatabase;
use tempfile::TempDir;

const URL_VARIABLE: &str = "HERALD_TEST_MONGO_URL";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh");

/// The server's URL, once a test asked for it.
static URL: OnceLock<String> = OnceLock::new();

/// The server's URL, without a database; starts a server the first time
/// it is needed in this process.
pub fn server_url() -> &'static str {
    URL.get_or_init(|| match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => start_server(),
    })
}

fn start_server() -> String {
    let directory = std::env::temp_dir().join(format!("herald-test-mongo-{}", std::process::id()));
    let output = Command::new("bash")
        .arg(SCRIPT)
        .arg("start")
        .env("HERALD_MONGO_DIR", &directory)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {SCRIPT}: {error}"));
    // Stop the server once this process is gone, even if it panicked or
    // was killed: a shell polls for our pid. It is started in the
    // background of a shell that exits at once (and is reaped here), so it
    // outlives us without being our child.
    let watchdog = format!(
        "(while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         HERALD_MONGO_DIR='{dir}' bash '{SCRIPT}' stop) >/dev/null 2>&1 &",
        pid = std::process::id(),
        dir = directory.display(),
    );
    let started = Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the MongoDB watchdog");
    assert!(started.success(), "the MongoDB watchdog did not start");
    assert!(
        output.status.success(),
        "a MongoDB-wire server could not be started for the contract tests (set \
         {URL_VARIABLE} to use a running server instead).\n{SCRIPT} start said:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(url.starts_with("mongodb://"), "{SCRIPT} printed {url:?}");
    url
}

/// A MongoDB database and a SQLite directory of their own for one test;
/// the database is dropped when the place is dropped.
pub struct MongoPlace {
    sql: TempDir,
    name: String,
}

impl MongoPlace {
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
        Self {
            sql: TempDir::new().expect("temp dir"),
            name,
        }
    }

    /// The URL of the test's database.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the SQL stores keep their file.
    pub fn sql_dir(&self) -> &std::path::Path {
        self.sql.path()
    }
}

impl Drop for MongoPlace {
    /// Drops the database, on a thread of its own because a test's runtime
    /// may be the one dropping us. Without a server (it failed to start)
    /// there is nothing to drop.
    fn drop(&mut self) {
        let Some(server) = URL.get() else {
            return;
        };
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(database) = MongoDatabase::connect(server, &name).await {
                    let _ = database.drop_database().await;
                    database.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}
