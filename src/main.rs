//! The `opintel` binary: parse the command line, set up logging, run, exit.

use clap::Parser;
use opintel::cli::{Cli, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default = if cli.quiet { "error" } else { "warn" };
    let filter = EnvFilter::try_from_env("OPINTEL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    opintel::cli::main(cli)
}
