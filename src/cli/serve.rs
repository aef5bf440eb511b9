//! `herald serve`: load config, start the listeners, run until a signal.

use std::io::{IsTerminal, Write};
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
    if std::io::stderr().is_terminal() {
        eprintln!("{}", how_to_connect(&server));
    }
    shutdown::signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// A few lines for a person who just started the broker.
fn how_to_connect(server: &Server) -> String {
    let ws = format!(
        "ws://{}{}",
        server.http_addr, server.broker.config.server.ws_path
    );
    let mut text = format!(
        "\nHerald is up. Connect a STOMP client (login guest, passcode guest on the default config):\n\
         \x20 WebSocket  {ws}   (subprotocols v12.stomp, v11.stomp, v10.stomp)\n"
    );
    if let Some(stomp) = server.stomp_addr {
        text.push_str(&format!("  TCP        tcp://{stomp}\n"));
    }
    text.push_str(&format!(
        "\n  stompjs:    new Client({{ brokerURL: '{ws}', connectHeaders: {{ login: 'guest', passcode: 'guest' }} }})\n\
         \x20 stomp.py:   stomp.WSStompConnection([('{host}', {port})], ws_path='{path}')\n\
         \x20 herald CLI: herald client --url {ws} subscribe /topic/hello\n\
         \x20             herald client --url {ws} send /topic/hello 'hi there'\n\
         \nStop with Ctrl-C.\n",
        host = server.http_addr.ip(),
        port = server.http_addr.port(),
        path = server.broker.config.server.ws_path,
    ));
    text
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
