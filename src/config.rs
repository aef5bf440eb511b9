//! The configuration model, its compiled-in defaults and how it is loaded.
//!
//! Defaults come from `config/herald.toml`, compiled in, so the binary runs
//! with nothing beside it. A file given with `--config` and `HERALD_*`
//! environment variables override it, in that order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The embedded default configuration file.
pub const DEFAULT_CONFIG: &str = include_str!("../config/herald.toml");

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub cluster: ClusterConfig,
    pub stomp: StompConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub acl: Vec<AclRule>,
    pub chat: ChatConfig,
    pub api: ApiConfig,
    pub files: FilesConfig,
    pub log: LogConfig,
    pub tls: TlsConfig,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ServerConfig {
    pub http_listen: SocketAddr,
    /// Empty disables the plain TCP listener.
    #[serde(with = "optional_addr")]
    pub stomp_listen: Option<SocketAddr>,
    pub ws_path: String,
    pub ws_always_binary: bool,
    pub data_dir: PathBuf,
    /// The built web client (`web/dist`), served at `/`; a missing
    /// directory serves nothing.
    pub web_dir: PathBuf,
    pub node_id: u16,
    pub shutdown_grace_ms: u64,
    /// Origins besides the page's own that may open the WebSocket and call
    /// the API from a browser (`"*"` for any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ClusterConfig {
    pub redis_url: String,
    /// How often a node re-announces its users' presence and compares
    /// its chat feeds with the store.
    pub heartbeat_ms: u64,
    /// How long a node's presence entries outlive its last heartbeat.
    pub presence_ttl_ms: u64,
    /// How long a node holds claimed `/queue` messages without renewing
    /// its leases (renewed every third of it while the node lives).
    pub queue_lease_ms: u64,
    /// How often a queue with idle consumers looks for messages whose
    /// announcement it missed, or whose node died.
    pub queue_poll_ms: u64,
}

impl ClusterConfig {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_millis(self.presence_ttl_ms)
    }

    pub fn queue_lease(&self) -> Duration {
        Duration::from_millis(self.queue_lease_ms)
    }

    pub fn queue_poll(&self) -> Duration {
        Duration::from_millis(self.queue_poll_ms)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoreConfig {
    pub backend: String,
    pub postgres_url: String,
    pub messages: String,
    pub mongodb_url: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StompConfig {
    pub heartbeat_send_ms: u64,
    pub heartbeat_receive_ms: u64,
    pub heartbeat_floor_ms: u64,
    pub connect_timeout_ms: u64,
    /// A frame begun must be complete within this; 0: no limit.
    pub frame_timeout_ms: u64,
    pub error_linger_ms: u64,
    pub outbound_queue: usize,
    pub max_subscriptions: usize,
    pub default_prefetch: usize,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LimitsConfig {
    pub max_frame_bytes: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
    pub max_body_bytes: usize,
    /// Open connections (TCP, TLS and WebSocket) per client IP; 0: no limit.
    pub connections_per_ip: usize,
    /// SEND frames per second per client IP, over all its connections; 0: no limit.
    pub sends_per_second_per_ip: u32,
    /// Failed password logins per account per minute before further
    /// attempts are refused until the minute ends; 0: no limit.
    pub login_failures_per_minute: u32,
    /// Failed password logins per client IP per minute; 0: no limit.
    pub login_failures_per_minute_per_ip: u32,
    /// `/queue` messages a node alone holds, over all its queues, until
    /// acknowledged; 0: no limit.
    #[serde(default = "default_max_queued_messages")]
    pub max_queued_messages: usize,
    /// Addresses the per-IP limits do not apply to (a reverse proxy on
    /// loopback, load generators).
    #[serde(default)]
    pub exempt_ips: Vec<std::net::IpAddr>,
}

fn default_max_queued_messages() -> usize {
    500_000
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AuthConfig {
    pub guest: bool,
    pub default_user: String,
    pub allow_strangers: bool,
    #[serde(default)]
    pub admins: Vec<String>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    pub jwt: JwtConfig,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct JwtConfig {
    pub algorithm: String,
    pub secret: String,
    pub private_key_file: String,
    pub public_key_file: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub leeway_secs: u64,
}

/// One access rule for `/topic` and `/queue` destinations.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AclRule {
    pub destination: String,
    pub users: Vec<String>,
    #[serde(default)]
    pub subscribe: bool,
    #[serde(default)]
    pub send: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ChatConfig {
    pub typing_per_second: u32,
    pub sends_per_second: u32,
    pub max_message_bytes: usize,
    pub replay_last: u32,
    pub ack_timeout_ms: u64,
    pub max_deliveries: u32,
    pub recall_window_secs: u64,
    pub dedupe_window_secs: u64,
    pub retention_days: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ApiConfig {
    pub max_body_bytes: usize,
}

/// Uploaded files (`POST /api/files`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FilesConfig {
    /// Most bytes in one uploaded file.
    pub max_bytes: u64,
    /// Where the bytes are kept; empty means `<data_dir>/files`.
    pub dir: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct UserConfig {
    pub login: String,
    pub password_hash: String,
}

/// TLS listeners (`wss://` and STOMP over TLS); certificates reload on SIGHUP.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// HTTPS and `wss://` on the same routes as `server.http_listen`; empty: none.
    #[serde(with = "optional_addr")]
    pub wss_listen: Option<SocketAddr>,
    /// STOMP over TLS (port 61614 by convention); empty: none.
    #[serde(with = "optional_addr")]
    pub stomps_listen: Option<SocketAddr>,
}

impl TlsConfig {
    /// Whether any TLS listener is configured.
    pub fn enabled(&self) -> bool {
        self.wss_listen.is_some() || self.stomps_listen.is_some()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogConfig {
    pub filter: String,
    pub format: String,
}

/// Why a configuration could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// The compiled-in defaults, then `file`, then `HERALD_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("HERALD_").split("__"));
        let config: Config = figment
            .extract()
            .map_err(|error| ConfigError(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The compiled-in defaults alone, ignoring the environment: for tests.
    pub fn defaults() -> Config {
        Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .expect("the embedded config/herald.toml is valid")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        crate::server::web_security::Origins::parse(&self.server.allowed_origins)
            .map_err(ConfigError)?;
        let nonzero = [
            ("stomp.outbound_queue", self.stomp.outbound_queue),
            ("stomp.max_subscriptions", self.stomp.max_subscriptions),
            ("stomp.default_prefetch", self.stomp.default_prefetch),
            ("limits.max_frame_bytes", self.limits.max_frame_bytes),
            ("limits.max_headers", self.limits.max_headers),
            ("limits.max_header_line", self.limits.max_header_line),
        ];
        for (key, value) in nonzero {
            if value == 0 {
                return Err(ConfigError(format!("{key} must be greater than 0")));
            }
        }
        if !self.cluster.redis_url.is_empty() {
            let cluster = &self.cluster;
            for (key, value) in [
                ("cluster.heartbeat_ms", cluster.heartbeat_ms),
                ("cluster.queue_poll_ms", cluster.queue_poll_ms),
            ] {
                if value == 0 {
                    return Err(ConfigError(format!("{key} must be greater than 0")));
                }
            }
            // A missed heartbeat or two must not make a live node's users
            // look offline, nor a live node lose its queue messages.
            if cluster.presence_ttl_ms < 2 * cluster.heartbeat_ms {
                return Err(ConfigError(
                    "cluster.presence_ttl_ms must be at least twice cluster.heartbeat_ms".into(),
                ));
            }
            if cluster.queue_lease_ms < 300 {
                return Err(ConfigError(
                    "cluster.queue_lease_ms must be at least 300 (leases are renewed every third of it)"
                        .into(),
                ));
            }
        }
        if self.files.max_bytes == 0 {
            return Err(ConfigError("files.max_bytes must be greater than 0".into()));
        }
        if self.server.node_id > crate::chat::ids::MAX_NODE {
            return Err(ConfigError(format!(
                "server.node_id must be at most {}",
                crate::chat::ids::MAX_NODE
            )));
        }
        match (
            self.store.backend.as_str(),
            self.store.postgres_url.is_empty(),
        ) {
            ("sqlite", _) | ("postgres", false) => {}
            ("postgres", true) => {
                return Err(ConfigError(
                    "store.postgres_url is required for the postgres backend".into(),
                ))
            }
            (other, _) => {
                return Err(ConfigError(format!(
                    "store.backend {other:?}: use sqlite or postgres"
                )))
            }
        }
        match (
            self.store.messages.as_str(),
            self.store.mongodb_url.is_empty(),
        ) {
            ("sql", _) | ("mongodb", false) => {}
            ("mongodb", true) => {
                return Err(ConfigError(
                    "store.mongodb_url is required when store.messages is mongodb".into(),
                ))
            }
            (other, _) => {
                return Err(ConfigError(format!(
                    "store.messages {other:?}: use sql or mongodb"
                )))
            }
        }
        if self.tls.enabled() && (self.tls.cert_file.is_empty() || self.tls.key_file.is_empty()) {
            return Err(ConfigError(
                "tls.cert_file and tls.key_file are required when tls.wss_listen or tls.stomps_listen is set"
                    .into(),
            ));
        }
        if !self.server.ws_path.starts_with('/') {
            return Err(ConfigError("server.ws_path must start with '/'".into()));
        }
        Ok(())
    }

    /// The directory that holds uploaded files: `files.dir`, or
    /// `<data_dir>/files` when that is empty.
    pub fn files_dir(&self) -> PathBuf {
        if self.files.dir.trim().is_empty() {
            self.server.data_dir.join("files")
        } else {
            PathBuf::from(&self.files.dir)
        }
    }

    pub fn protocol_limits(&self) -> herald_protocol::Limits {
        herald_protocol::Limits {
            max_frame_bytes: self.limits.max_frame_bytes,
            max_headers: self.limits.max_headers,
            max_header_line: self.limits.max_header_line,
            max_body_bytes: self.limits.max_body_bytes,
        }
    }
}

impl StompConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn error_linger(&self) -> Duration {
        Duration::from_millis(self.error_linger_ms)
    }
}

/// `""` in the file means "no listener".
mod optional_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<SocketAddr>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(addr) => serializer.serialize_str(&addr.to_string()),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim()
            .parse()
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let config = Config::defaults();
        assert_eq!(config.server.http_listen.port(), 15674);
        assert_eq!(config.server.stomp_listen.map(|a| a.port()), Some(61613));
        assert!(config.auth.guest);
        config.validate().unwrap();
    }

    #[test]
    fn file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.toml");
        std::fs::write(
            &path,
            "[server]\nstomp_listen = \"\"\n[limits]\nmax_headers = 7\n",
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.server.stomp_listen, None);
        assert_eq!(config.limits.max_headers, 7);
        assert_eq!(config.limits.max_header_line, 8192);
    }

    #[test]
    fn files_live_under_the_data_dir_unless_configured() {
        let mut config = Config::defaults();
        config.server.data_dir = PathBuf::from("/var/lib/herald");
        assert_eq!(config.files_dir(), Path::new("/var/lib/herald/files"));
        config.files.dir = "/srv/uploads".into();
        assert_eq!(config.files_dir(), Path::new("/srv/uploads"));
        assert_eq!(config.files.max_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn cluster_timings_are_checked_in_a_cluster() {
        let mut config = Config::defaults();
        config.cluster.presence_ttl_ms = 1;
        config
            .validate()
            .expect("alone, the cluster keys are not used");
        config.cluster.redis_url = "redis://127.0.0.1:6379".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("cluster.presence_ttl_ms"), "{error}");
        config.cluster.presence_ttl_ms = 2 * config.cluster.heartbeat_ms;
        config.cluster.queue_lease_ms = 100;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("cluster.queue_lease_ms"), "{error}");
        config.cluster.queue_lease_ms = 30_000;
        config.validate().unwrap();
    }

    #[test]
    fn the_example_cluster_nodes_load() {
        for node in 1..=3u16 {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config/cluster")
                .join(format!("node{node}.toml"));
            let config = Config::load(Some(&path)).unwrap();
            assert_eq!(config.server.node_id, node);
            assert_eq!(config.store.backend, "postgres");
            assert!(!config.cluster.redis_url.is_empty());
            assert!(config.auth.jwt.secret.len() >= 32);
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let error = Config::load(Some(Path::new("/nonexistent/herald.toml"))).unwrap_err();
        assert!(error.to_string().contains("not found"), "{error}");
    }

    #[test]
    fn zero_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.toml");
        std::fs::write(&path, "[stomp]\noutbound_queue = 0\n").unwrap();
        let error = Config::load(Some(&path)).unwrap_err();
        assert!(
            error.to_string().contains("stomp.outbound_queue"),
            "{error}"
        );
    }
}
