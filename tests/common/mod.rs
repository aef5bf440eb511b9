//! Starting a real broker on loopback for integration tests: in-process on
//! port 0, or as a `herald serve` child process when a test must kill it.

#![allow(dead_code)]

pub mod api;
pub mod services;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald::client::Connection;
use herald::config::Config;
use herald::server::Server;
use herald_protocol::Frame;
use tempfile::TempDir;
use url::Url;

/// An in-process broker with its own data directory.
pub struct TestBroker {
    pub server: Server,
    pub data: TempDir,
}

/// Defaults with every listener on port 0 and a fresh data directory.
pub fn test_config(data: &Path) -> Config {
    let mut config = Config::defaults();
    config.server.http_listen = "127.0.0.1:0".parse().unwrap();
    config.server.stomp_listen = Some("127.0.0.1:0".parse().unwrap());
    config.server.data_dir = data.to_path_buf();
    config.stomp.error_linger_ms = 50;
    config.server.shutdown_grace_ms = 2000;
    config
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        TestBroker::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestBroker {
        let data = tempfile::tempdir().unwrap();
        let mut config = test_config(data.path());
        adjust(&mut config);
        let server = Server::start(config).await.expect("broker starts");
        TestBroker { server, data }
    }

    pub fn ws_url(&self) -> Url {
        Url::parse(&format!("ws://{}/ws", self.server.http_addr)).unwrap()
    }

    pub fn tcp_url(&self) -> Url {
        Url::parse(&format!("tcp://{}", self.server.stomp_addr.unwrap())).unwrap()
    }

    /// A metric's value, summed over its labels.
    pub fn metric(&self, name: &str) -> u64 {
        let text = self.server.broker.metrics.render();
        let plain = format!("herald_{name} ");
        let labelled = format!("herald_{name}{{");
        let values: Vec<u64> = text
            .lines()
            .filter(|line| line.starts_with(&plain) || line.starts_with(&labelled))
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(!values.is_empty(), "no metric {name}");
        values.iter().sum()
    }
}

/// A connected guest client.
pub async fn guest(url: &Url) -> Connection {
    Connection::connect(url, Some("guest"), Some("guest"), "0,0")
        .await
        .expect("guest connects")
        .0
}

/// Receives frames until one with `command`, failing after `timeout`.
pub async fn expect(connection: &mut Connection, command: herald_protocol::Command) -> Frame {
    loop {
        let frame = connection
            .receive_timeout(Duration::from_secs(10))
            .await
            .unwrap_or_else(|error| panic!("waiting for {command}: {error}"));
        if frame.command == command {
            return frame;
        }
        assert_ne!(
            frame.command,
            herald_protocol::Command::Error,
            "unexpected ERROR: {frame:?}"
        );
    }
}

/// `herald serve` as a child process, killed when dropped.
pub struct BrokerProcess {
    pub child: Child,
    pub http: String,
    pub stomp: String,
}

impl BrokerProcess {
    pub fn spawn(data: &Path) -> BrokerProcess {
        BrokerProcess::spawn_with_env(data, &[])
    }

    /// [`BrokerProcess::spawn`] with extra environment variables, such as
    /// `HERALD_CHAT__ACK_TIMEOUT_MS`, to adjust the config of the process.
    pub fn spawn_with_env(data: &Path, env: &[(&str, &str)]) -> BrokerProcess {
        BrokerProcess::launch(data, env.iter().copied(), Stdio::inherit(), None)
    }

    /// `herald serve` configured by `env` (`HERALD_*` variables over the
    /// loopback defaults of [`BrokerProcess::spawn`]), with its log in
    /// `log` instead of the test's stderr: for several nodes of a cluster
    /// in one test, each with a log of its own to read when it fails.
    pub fn spawn_logged(data: &Path, env: &[(String, String)], log: &Path) -> BrokerProcess {
        let log_file = std::fs::File::create(log).expect("create the node's log file");
        let env = env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()));
        BrokerProcess::launch(data, env, log_file.into(), Some(log))
    }

    /// Starts `herald serve` on loopback port 0 over `data` and reads the
    /// addresses from its listening line; `log` is where its stderr goes,
    /// shown when it does not start.
    fn launch<'a>(
        data: &Path,
        env: impl Iterator<Item = (&'a str, &'a str)>,
        stderr: Stdio,
        log: Option<&Path>,
    ) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_SERVER__HTTP_LISTEN", "127.0.0.1:0")
            .env("HERALD_SERVER__STOMP_LISTEN", "127.0.0.1:0")
            .env("HERALD_SERVER__DATA_DIR", data)
            .env("HERALD_LOG__FILTER", "warn")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("herald starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listening line");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .unwrap_or_else(|| {
                    let log = log
                        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
                        .unwrap_or_default();
                    panic!("herald did not start (no {name} in {line:?}); its log:\n{log}")
                })
                .to_owned()
        };
        BrokerProcess {
            http: field("http="),
            stomp: field("stomp="),
            child,
        }
    }

    pub fn tcp_url(&self) -> Url {
        Url::parse(&format!("tcp://{}", self.stomp)).unwrap()
    }

    pub fn ws_url(&self) -> Url {
        Url::parse(&format!("ws://{}/ws", self.http)).unwrap()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
