//! `herald serve`: load config, start the listeners, run until a signal.

use std::io::Write;
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::server::{shutdown, Server};

pub async fn run(config_file: Option<PathBuf>) -> Result<(), String> {
    let config = Config::load(config_file.as_deref()).map_err(|error| error.to_string())?;
    init_logging(&config);
    let server = Server::start(config)
        .await
        .map_err(|error| error.to_string())?;
    // The one line scripts and tests wait for; stdout is flushed at once.
    println!("{}", server.listening_line());
    let _ = std::io::stdout().flush();
    tracing::info!(http = %server.http_addr, stomp = ?server.stomp_addr, "herald is ready");
    shutdown::signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_env("HERALD_LOG")
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
