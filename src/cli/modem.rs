//! `atfota modem`: run an emulated modem on a data directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use atfota_device::{DataDir, Listen, OpenOptions, RunOptions};
use atfota_fota::{EngineConfig, ProfileKind};
use atfota_image::TrustedKey;

/// Options of `atfota modem` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Data directory holding the device (flash.bin, device.toml). Missing or
    /// empty: a factory-fresh device is created there.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Command set the device presents (fixed when the device is created).
    #[arg(long, value_name = "PROFILE", default_value = None, value_parser = parse_profile)]
    profile: Option<ProfileKind>,
    /// Where AT is spoken: stdio, tcp:HOST:PORT, pty, or pty:LINK (a symlink to the PTY).
    #[arg(long, value_name = "WHERE", default_value = "stdio")]
    listen: Listen,
    /// Trust this Ed25519 or ECDSA-P256 public key (PEM, as `imgtool getpub -e pem` writes).
    /// Trusted keys persist in the device. Repeatable.
    #[arg(long, value_name = "PUBKEY.pem")]
    trust: Vec<PathBuf>,
    /// Application slot size in bytes (decimal, 0x hex, or K/M suffix); fixed when the device is created.
    #[arg(long, value_name = "BYTES", value_parser = super::parse_size)]
    slot_size: Option<u32>,
    /// Make a newly installed image fail its self-test, so the device reboots
    /// (as a watchdog would) and the bootloader reverts it.
    #[arg(long)]
    fail_self_test: bool,
    /// Give up on a transfer when no byte arrives for this many seconds (Nordic: 30).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    recv_timeout: f64,
    /// Retries after a connection reset or timeout, per download (Nordic: 2).
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
}

const AFTER_HELP: &str = "\
The device answers AT like the real modem (see docs/AT-nrf9160-slm.md) and prints its banner
(\"Ready\") at every boot, process start included. AT#XRESET reboots it inside the process.
Stopping the process and starting it again on the same --data is a power cycle: nothing
acknowledged is lost.

SECURITY: whoever can reach the AT port controls the device; tcp: binds only where told.
The built-in development key is always trusted: anyone can sign images with it (like
MCUboot's sample keys). Never ship it.";

fn parse_profile(s: &str) -> Result<ProfileKind, String> {
    s.parse()
}

/// Runs the modem until the host closes stdin (stdio) or the process is stopped.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut trust = Vec::new();
    for path in &a.trust {
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key =
            TrustedKey::from_pem(&pem).with_context(|| format!("{} is not a public key", path.display()))?;
        trust.push(key);
    }
    anyhow::ensure!(
        a.recv_timeout.is_finite() && a.recv_timeout > 0.0,
        "--recv-timeout must be a positive number of seconds"
    );
    let opts = OpenOptions { profile: a.profile, slot_size: a.slot_size, trust };
    let dir = DataDir::open(&a.data, &opts)?;
    log::info!(
        "{} device in {} ({}; slot {} bytes)",
        dir.profile,
        dir.path.display(),
        if dir.created { "factory-fresh" } else { "existing" },
        dir.config.slot_size
    );
    let net = atfota_net::Options {
        recv_timeout: Duration::from_secs_f64(a.recv_timeout),
        retries: a.retries,
        ..atfota_net::Options::default()
    };
    let run = RunOptions { listen: a.listen, net, engine: EngineConfig { fail_self_test: a.fail_self_test } };
    atfota_device::run(dir, run)?;
    Ok(())
}
