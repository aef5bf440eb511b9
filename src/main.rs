//! The `herald` binary: `herald serve`, `herald client`, `herald hash-password`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    herald::cli::run(cli)
}
