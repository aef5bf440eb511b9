//! The command line: one binary, several subcommands.

mod bench;
mod chat;
mod client;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "herald",
    version,
    about = "A STOMP 1.2 message broker for instant messaging"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the broker.
    Serve {
        /// A config file read over the embedded defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// A STOMP command-line client for people and scripts.
    Client(client::ClientArgs),
    /// A STOMP load generator: connections, pairs, fanout, durable.
    Bench(bench::BenchArgs),
    /// Print an argon2 hash of a password, for `[[auth.users]]` in the config.
    HashPassword {
        /// The password; read from standard input when omitted.
        password: Option<String>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve { config } => runtime.block_on(serve::run(config)),
        Command::Client(args) => runtime.block_on(client::run(args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::HashPassword { password } => hash_password(password),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("herald: {message}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password(password: Option<String>) -> Result<(), String> {
    let password = match password {
        Some(password) => password,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|error| format!("cannot read the password: {error}"))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    println!("{}", crate::auth::password_hash_now(&password)?);
    Ok(())
}
