//! `atfota`: the emulated modem (`atfota modem`), the demo, and host tools.
//!
//! The command line is a contract that outside tests rely on: options are
//! only ever added, never renamed. Logs go to stderr; with
//! `--listen stdio` stdout carries nothing but AT.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    match cli::dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("atfota: {e:#}");
            ExitCode::FAILURE
        }
    }
}
