//! The web client in a real browser: builds `web/` when its sources are
//! newer than `web/dist`, then runs the Playwright tests in `web/tests/`
//! (playwright-core driving Debian's chromium), each of which starts its
//! own `herald serve` (this build's binary) on a free port.
//!
//! Chromium and `web/node_modules` are installed by `scripts/web-deps.sh`;
//! without them this test fails (it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn web() -> PathBuf {
    root().join("web")
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is missing: run `scripts/web-deps.sh` (from {}) to install Debian's chromium \
         and the web client's npm packages (web/node_modules)",
        root().display()
    );
}

/// The newest modification time of the files under `path`.
fn newest(path: &Path) -> SystemTime {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(_) => return SystemTime::UNIX_EPOCH,
    };
    let mut newest = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            newest = newest.max(self::newest(&entry.path()));
        }
    }
    newest
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error} (is Node.js on PATH?)"));
    assert!(status.success(), "{what} failed ({status})");
}

#[test]
fn web_client_in_a_real_browser() {
    let chromium = std::env::var("HERALD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing(&format!("chromium ({chromium})"));
    }
    let web = web();
    for module in ["playwright-core", "vite", "vue-tsc", "@stomp/stompjs"] {
        if !web.join("node_modules").join(module).exists() {
            missing(&format!("web/node_modules/{module}"));
        }
    }

    let built = newest(&web.join("dist").join("index.html"));
    let sources = [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.app.json",
    ]
    .iter()
    .map(|path| newest(&web.join(path)))
    .max()
    .unwrap_or(SystemTime::UNIX_EPOCH);
    if built == SystemTime::UNIX_EPOCH || sources > built {
        run(
            Command::new("npm")
                .args(["run", "build", "--silent"])
                .current_dir(&web),
            "npm run build in web/ (type check and bundle)",
        );
    }

    run(
        Command::new("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-timeout=240000",
                "--test-reporter=spec",
            ])
            .arg("tests/")
            .current_dir(&web)
            .env("HERALD_BIN", env!("CARGO_BIN_EXE_herald"))
            .env("HERALD_CHROMIUM", &chromium),
        "the browser tests in web/tests/ (screenshots in web/test-results/)",
    );
}
