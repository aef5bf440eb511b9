//! Interop tests: third-party STOMP clients against a real Herald process.
//!
//! Each test starts its own `herald serve` on ephemeral ports with a fresh
//! data directory, runs one client program from `tests/interop/` against it
//! and expects it to exit 0:
//!
//! - `stompjs.mjs`: @stomp/stompjs 7 in Node over WebSocket;
//! - `stomppy_test.py`: stomp.py 8 over TCP (STOMP 1.0, 1.1, 1.2) and WebSocket.
//!
//! Their dependencies are installed by `scripts/interop-deps.sh`; without them
//! these tests fail (they never skip).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long the broker gets to print its `listening` line.
const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on one client run; each client has its own, shorter, timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn interop_dir() -> PathBuf {
    root().join("tests").join("interop")
}

fn missing_deps(what: &str) -> ! {
    panic!(
        "{what} is missing: run `scripts/interop-deps.sh` (from {}) to install the interop \
         test dependencies (npm packages in tests/interop/node_modules, a Python venv in \
         tests/interop/.venv)",
        root().display()
    );
}

/// A running `herald serve`, killed (and its data directory removed) on drop,
/// whether the test passed or panicked.
struct Broker {
    child: Child,
    http: String,
    stomp: String,
    log: PathBuf,
    // Dropped after `drop` has killed and reaped the process.
    _data: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let data = tempfile::tempdir().expect("create a temporary data directory");
        let log = data.path().join("herald.log");
        let log_file = File::create(&log).expect("create the broker log file");

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        // Only this test's settings reach the broker.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HERALD_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .env("HERALD_SERVER__HTTP_LISTEN", "127.0.0.1:0")
            .env("HERALD_SERVER__STOMP_LISTEN", "127.0.0.1:0")
            .env("HERALD_SERVER__DATA_DIR", data.path().join("data"))
            // Short heart-beats, so the clients' heart-beat scenarios see
            // several of them within a few seconds.
            .env("HERALD_STOMP__HEARTBEAT_SEND_MS", "1000")
            .env("HERALD_STOMP__HEARTBEAT_RECEIVE_MS", "1000")
            .current_dir(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().expect("spawn the herald binary");
        let stdout = child.stdout.take().expect("broker stdout is piped");

        // Read the ready line on a thread (so it can time out), then keep
        // draining stdout so the broker never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            for _ in lines {}
        });

        let mut broker = Broker {
            child,
            http: String::new(),
            stomp: String::new(),
            log,
            _data: data,
        };
        let line = match rx.recv_timeout(BROKER_READY_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(other) => panic!(
                "herald exited or closed stdout before it was ready ({other:?}); its log:\n{}",
                broker.log_text()
            ),
            Err(_) => panic!(
                "herald printed no `listening` line within {BROKER_READY_TIMEOUT:?}; its log:\n{}",
                broker.log_text()
            ),
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no `{name}` in herald's ready line {line:?}"))
        };
        assert!(
            line.starts_with("listening "),
            "unexpected first line from herald: {line:?}"
        );
        broker.http = field("http=");
        broker.stomp = field("stomp=");
        broker
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ClientRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Runs a client to completion (or kills it after `CLIENT_TIMEOUT`),
/// capturing its output.
fn run_client(mut cmd: Command, what: &str) -> ClientRun {
    cmd.current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing_deps(&format!("{what} ({cmd:?}: {e})"))
        }
        Err(e) => panic!("cannot start {what} ({cmd:?}): {e}"),
    };
    let collect = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let err = collect(Box::new(child.stderr.take().expect("piped stderr")));

    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("reap the killed client");
        }
        thread::sleep(Duration::from_millis(50));
    };
    ClientRun {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    }
}

fn assert_client_passed(run: &ClientRun, what: &str, broker: &Broker) {
    if run.status.success() && !run.timed_out {
        print!("{}", run.stdout);
        return;
    }
    let log = broker.log_text();
    let tail: Vec<&str> = log.lines().rev().take(200).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    panic!(
        "{what} failed ({}{})\n--- client stdout ---\n{}\n--- client stderr ---\n{}\n--- broker log (last 200 lines) ---\n{}",
        run.status,
        if run.timed_out { ", killed after the time limit" } else { "" },
        run.stdout,
        run.stderr,
        tail.join("\n"),
    );
}

/// Both clients end a full run with `N passed, 0 failed` after their `ok` lines.
fn assert_all_ran(run: &ClientRun, what: &str) {
    let oks = run.stdout.lines().filter(|l| l.starts_with("ok ")).count();
    let summary = format!("{oks} passed, 0 failed");
    assert!(
        oks > 0 && run.stdout.lines().any(|l| l == summary),
        "{what} exited 0 without completing its scenarios (expected a `{summary}` line):\n{}",
        run.stdout
    );
}

#[test]
fn stompjs_over_websocket() {
    let dir = interop_dir();
    for module in ["@stomp/stompjs", "ws"] {
        if !dir
            .join("node_modules")
            .join(module)
            .join("package.json")
            .is_file()
        {
            missing_deps(&format!("tests/interop/node_modules/{module}"));
        }
    }
    let broker = Broker::start();
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("stompjs.mjs"))
        .arg(format!("ws://{}/ws", broker.http));
    let run = run_client(cmd, "node (for @stomp/stompjs)");
    assert_client_passed(&run, "stompjs.mjs", &broker);
    assert_all_ran(&run, "stompjs.mjs");
}

#[test]
fn stomppy_over_tcp_and_websocket() {
    let dir = interop_dir();
    let python = dir.join(".venv").join("bin").join("python");
    if !python.is_file() {
        missing_deps("the Python venv tests/interop/.venv");
    }
    let stomp_pkg = dir.join(".venv").join("lib");
    let has_stomp = std::fs::read_dir(&stomp_pkg)
        .map(|entries| {
            entries.flatten().any(|e| {
                e.path()
                    .join("site-packages")
                    .join("stomp")
                    .join("__init__.py")
                    .is_file()
            })
        })
        .unwrap_or(false);
    if !has_stomp {
        missing_deps("stomp.py in tests/interop/.venv");
    }
    let broker = Broker::start();
    let mut cmd = Command::new(&python);
    cmd.arg(dir.join("stomppy_test.py"))
        .arg(&broker.http)
        .arg(&broker.stomp);
    let run = run_client(cmd, "the venv's python (for stomp.py)");
    assert_client_passed(&run, "stomppy_test.py", &broker);
    assert_all_ran(&run, "stomppy_test.py");
}
