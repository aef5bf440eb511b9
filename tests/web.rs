//! The web client in a real browser: type-checks and builds `web/` into a
//! directory of its own (so a concurrent build of `web/dist` cannot pull
//! the files away mid-test), then runs the Playwright tests in `web/tests/`
//! (playwright-core driving Debian's chromium), each of which starts its
//! own `herald serve` (this build's binary) on a free port, serving that
//! build.
//!
//! Chromium and `web/node_modules` are installed by `scripts/web-deps.sh`;
//! without them this test fails (it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;

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

    let dist = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-dist");
    run(
        Command::new("npm")
            .args([
                "run",
                "build",
                "--silent",
                "--",
                "--emptyOutDir",
                "--outDir",
            ])
            .arg(&dist)
            .current_dir(&web),
        "npm run build in web/ (type check and bundle)",
    );

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
            .env("HERALD_CHROMIUM", &chromium)
            .env("HERALD_WEB_DIST", &dist),
        "the browser tests in web/tests/ (screenshots in web/test-results/)",
    );
}
