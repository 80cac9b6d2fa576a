//! `atfota at`: send AT commands to a modem and print each response as the modem sent it.
//!
//! Owns nothing but the loop: the port, framing and final-result detection are the host
//! library's and the `at` crate's.

use std::time::Duration;

use atfota_host::{Channel, Connector, PortConnector, PortSpec};

/// Options of `atfota at` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// The modem's port: a serial device or PTY path with an optional @BAUD (default 115200),
    /// or tcp:HOST:PORT.
    #[arg(long, value_name = "PORT")]
    port: PortSpec,
    /// Seconds to wait for each command's final result.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = super::parse_seconds)]
    timeout: f64,
    /// The commands, each sent as one line (e.g. AT+CGMR 'AT#XFOTA=?').
    #[arg(value_name = "COMMAND", required = true)]
    commands: Vec<String>,
}

const AFTER_HELP: &str = "\
Prints every line the modem sends (information text, URCs, the final result) on stdout, one
per line; the echo is left out. Exit codes: 0 every command answered OK; 3 port or I/O error;
4 a command answered ERROR or +CME ERROR (the remaining commands are not sent); 10 no final
result within --timeout.";

/// Sends the commands in order; returns the process exit code.
pub fn run(a: Args) -> u8 {
    let mut channel = match PortConnector::new(a.port.clone()).open().and_then(Channel::new) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("atfota at: cannot open {}: {e}", a.port);
            return 3;
        }
    };
    let timeout = Duration::from_secs_f64(a.timeout);
    for cmd in &a.commands {
        match channel.command(cmd, timeout, |line| println!("{line}")) {
            Ok(Some(atfota_at::Final::Ok)) => {}
            Ok(Some(_)) => return 4,
            Ok(None) => {
                eprintln!("atfota at: no final result to {cmd} within {} s", a.timeout);
                return 10;
            }
            Err(e) => {
                eprintln!("atfota at: {e}");
                return 3;
            }
        }
    }
    0
}
