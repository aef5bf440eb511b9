//! Throwaway servers (PostgreSQL, Redis, a MongoDB-wire server) for tests,
//! started once per test process by the project's own scripts and stopped
//! by a watchdog when the process ends, even after a panic. A test that
//! cannot start one fails with the script's output; it never skips.

#![allow(dead_code)]

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
        let path = format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
        let directory = std::env::temp_dir().join(format!("herald-test-{script}-{}", std::process::id()));
        let output = Command::new("bash")
            .args([&path, "start"])
            .env(dir_variable, &directory)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {path}: {error}"));
        let watchdog = format!(
            "(while kill -0 {} 2>/dev/null; do sleep 1; done; {dir_variable}='{}' bash '{path}' stop) >/dev/null 2>&1 &",
            std::process::id(),
            directory.display()
        );
        Command::new("sh").args(["-c", &watchdog]).status().expect("start the watchdog");
        assert!(
            output.status.success(),
            "{script} could not start its server: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    })
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
