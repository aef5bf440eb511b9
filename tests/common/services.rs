//! Throwaway servers (PostgreSQL, Redis, a MongoDB-wire server) for tests,
//! started once per test process by the project's own scripts and stopped
//! by a watchdog when the process ends, even after a panic. A test that
//! cannot start one fails with the script's output; it never skips.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The URL `scripts/{script} start` prints, run once per process with its
/// directory variable `dir_variable` set to a fresh temp dir. When
/// `override_variable` is set and not empty, that URL is used instead.
pub fn shared(
    script: &str,
    dir_variable: &str,
    override_variable: &str,
    cell: &'static OnceLock<String>,
) -> &'static str {
    cell.get_or_init(|| {
        if let Ok(url) = std::env::var(override_variable) {
            if !url.is_empty() {
                return url;
            }
        }
        let directory =
            std::env::temp_dir().join(format!("herald-test-{script}-{}", std::process::id()));
        start_server(script, dir_variable, &directory)
    })
}

fn script_path(script: &str) -> String {
    format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/{script} start` with `dir_variable` naming `directory`
/// and returns what it printed (the server's URL). A watchdog runs the
/// script's `stop` once the test process ends, even after a panic.
fn start_server(script: &str, dir_variable: &str, directory: &Path) -> String {
    let path = script_path(script);
    let output = Command::new("bash")
        .args([&path, "start"])
        .env(dir_variable, directory)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {path}: {error}"));
    let watchdog = format!(
        "(while kill -0 {} 2>/dev/null; do sleep 1; done; {dir_variable}='{}' bash '{path}' stop) >/dev/null 2>&1 &",
        std::process::id(),
        directory.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .status()
        .expect("start the watchdog");
    assert!(
        output.status.success(),
        "{script} could not start its server: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `scripts/{script} stop` for the server in `directory`; true when
/// the script says it stopped.
fn stop_server(script: &str, dir_variable: &str, directory: &Path) -> bool {
    Command::new("bash")
        .args([&script_path(script), "stop"])
        .env(dir_variable, directory)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A directory for a server of one test's own.
fn private_directory(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "herald-test-private-{what}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

pub fn postgres() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    shared(
        "postgres.sh",
        "HERALD_PG_DIR",
        "HERALD_TEST_POSTGRES_URL",
        &URL,
    )
}

pub fn redis() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    shared(
        "redis.sh",
        "HERALD_REDIS_DIR",
        "HERALD_TEST_REDIS_URL",
        &URL,
    )
}

pub fn mongo() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    shared(
        "mongo.sh",
        "HERALD_MONGO_DIR",
        "HERALD_TEST_MONGO_URL",
        &URL,
    )
}

/// A PostgreSQL cluster of one test's own, for a test that stops and
/// restarts the server under a broker: the shared one of [`postgres`]
/// serves every other test in the process and must stay up. It is created
/// by `scripts/postgres.sh` in a directory of its own (so the script also
/// installs PostgreSQL when missing and picks a free port), then stopped
/// and started in place with `pg_ctl` on the same port and data. Dropping
/// it, or the test process ending, removes it.
pub struct PrivatePostgres {
    directory: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let directory = private_directory("pg");
        start_server("postgres.sh", "HERALD_PG_DIR", &directory);
        let port = std::fs::read_to_string(directory.join("port"))
            .expect("postgres.sh wrote the port")
            .trim()
            .parse()
            .expect("a port number");
        PrivatePostgres { directory, port }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m {mode}` (`fast`: sessions are terminated and the
    /// server checkpoints; `immediate`: it quits as if the power went).
    pub fn stop(&self, mode: &str) {
        self.pg_ctl(&format!("-m {mode} -w stop"));
    }

    /// Starts the stopped server again on the same port and data.
    pub fn resume(&self) {
        self.pg_ctl(&format!(
            "-l '{dir}/server.log' -w -t 60 -o '-c listen_addresses=127.0.0.1 -p {port} -k {dir} -c max_connections=200' start",
            dir = self.directory.display(),
            port = self.port
        ));
    }

    /// Runs `pg_ctl -D <data> {arguments}` as the cluster's owner (the
    /// server refuses to run as root), failing with its output.
    fn pg_ctl(&self, arguments: &str) {
        let line = format!(
            "\"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl\" -D '{}/data' {arguments}",
            self.directory.display()
        );
        let mut command = if rustix::process::geteuid().is_root() {
            let mut command = Command::new("su");
            command.args(["postgres", "-s", "/bin/sh", "-c", &line]);
            command
        } else {
            let mut command = Command::new("sh");
            command.args(["-c", &line]);
            command
        };
        let output = command.stdin(Stdio::null()).output().expect("run pg_ctl");
        assert!(
            output.status.success(),
            "pg_ctl {arguments} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.directory.join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        stop_server("postgres.sh", "HERALD_PG_DIR", &self.directory);
    }
}

/// A Redis server of one test's own, for a test that stops it under a
/// broker (the shared one of [`redis`] must stay up for the others).
pub struct PrivateRedis {
    directory: PathBuf,
    pub url: String,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let directory = private_directory("redis");
        let url = start_server("redis.sh", "HERALD_REDIS_DIR", &directory);
        PrivateRedis { directory, url }
    }

    pub fn stop(&self) {
        assert!(
            stop_server("redis.sh", "HERALD_REDIS_DIR", &self.directory),
            "redis.sh could not stop the server"
        );
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        stop_server("redis.sh", "HERALD_REDIS_DIR", &self.directory);
    }
}
