//! `atfota ctl`: one request to an emulated modem's control channel (`atfota modem
//! --control`), its reply printed as the JSON line it is.
//!
//! Owns turning words into a request line and the exit code; the commands and their replies
//! are the device's (docs/CONTROL.md).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::Context;
use atfota_device::{ControlAddr, Request};
use serde_json::{Value, json};

/// How long to wait for the connection and for the reply (a power-on with a swap can take a
/// few seconds on a large slot).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `atfota ctl` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// The device's control channel: unix:PATH or tcp:HOST:PORT (as given to `atfota modem --control`).
    #[arg(long, value_name = "WHERE")]
    control: ControlAddr,
    /// The command (see below).
    #[arg(value_name = "COMMAND", value_parser = clap::builder::PossibleValuesParser::new(Request::NAMES))]
    command: String,
    /// Its value, for signal, rat, rate and cut-at.
    #[arg(value_name = "VALUE")]
    value: Option<String>,
}

const AFTER_HELP: &str = "\
Commands (docs/CONTROL.md has every reply):
  network-down, network-up   the network stops / resumes carrying data (registration kept)
  deregister, register       coverage lost (+CEREG: 2) / back (+CEREG: 1)
  signal RSSI                signal as the +CSQ index 0..31
  rat lte|3g|2g|nb-iot       the fastest radio technology the network offers
  rate BYTES_PER_S|auto      link speed whatever the radio / back to the radio's own
  call                       an incoming voice call now (nl668: RING)
  drop-connection            the download's server connection is cut now
  power-cut, power-on        the power goes now / comes back (the device boots)
  cut-at N                   the power goes just before the N-th flash write/erase/sync from now
  fail-self-test             the next newly installed image fails its self-test
  status                     profile, versions, power, download, link and cellular state

Prints the reply line; exits 0 when the device carried the command out, 1 when it refused it,
2 when the control channel could not be reached.";

/// Sends the request; returns the exit code.
pub fn run(a: Args) -> u8 {
    let mut request = json!({ "cmd": a.command });
    if let Some(v) = &a.value {
        request["value"] = Value::String(v.clone());
    }
    match exchange(&a.control, &request.to_string()) {
        Ok(reply) => {
            println!("{}", reply.trim_end());
            match serde_json::from_str::<Value>(&reply) {
                Ok(v) if v["ok"] == true => 0,
                _ => 1,
            }
        }
        Err(e) => {
            eprintln!("atfota ctl: {e:#}");
            2
        }
    }
}

/// Sends one line, reads one line back.
fn exchange(addr: &ControlAddr, line: &str) -> anyhow::Result<String> {
    let stream: Box<dyn ReadWrite> = match addr {
        ControlAddr::Tcp(a) => {
            let sock = a.parse().with_context(|| format!("{a}: expected an IP address and port"))?;
            let s = TcpStream::connect_timeout(&sock, TIMEOUT)
                .with_context(|| format!("connecting to {addr}"))?;
            s.set_read_timeout(Some(TIMEOUT))?;
            Box::new(s)
        }
        ControlAddr::Unix(p) => {
            let s = UnixStream::connect(p).with_context(|| format!("connecting to {addr}"))?;
            s.set_read_timeout(Some(TIMEOUT))?;
            Box::new(s)
        }
    };
    let mut reader = BufReader::new(stream);
    writeln!(reader.get_mut(), "{line}")?;
    reader.get_mut().flush()?;
    let mut reply = String::new();
    reader.read_line(&mut reply).with_context(|| format!("reading the reply from {addr}"))?;
    anyhow::ensure!(!reply.is_empty(), "{addr} closed the connection without a reply");
    Ok(reply)
}

trait ReadWrite: std::io::Read + Write {}
impl<T: std::io::Read + Write> ReadWrite for T {}
