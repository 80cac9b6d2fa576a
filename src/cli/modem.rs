//! `atfota modem`: run an emulated modem on a data directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use atfota_device::{ControlAddr, DataDir, Listen, ModemImage, OpenOptions, Request, RunOptions};
use atfota_fota::{Conditions, EngineConfig, ProfileKind, Rat, SimPin, Stimulus};
use atfota_image::TrustedKey;

/// Options of `atfota modem` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Data directory holding the device (flash.bin, device.toml). Missing or
    /// empty: a factory-fresh device is created there.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Command set the device presents: nrf9160-slm (the default for a new
    /// device) or nl668. Fixed when the device is created.
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
    /// Emulated radio link: `lte` (as fast as the network allows) or `2g`
    /// (about 4 KB/s, like GPRS: long downloads, and the reference's warning applies).
    #[arg(long, value_name = "RAT", default_value = "lte", value_parser = ["lte", "2g"])]
    network: String,
    /// nl668: an incoming call rings (`RING`) when a download reaches this
    /// percentage; it breaks the download unless AT+GTSET="CALLBREAK",1.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    incoming_call_at: Option<u8>,
    /// nrf9160-slm: the modem firmware a new device gets instead of the built-in one
    /// (fixed when the device is created; needs --modem-version).
    #[arg(long, value_name = "FILE", requires = "modem_version")]
    modem_firmware: Option<PathBuf>,
    /// Version string of --modem-firmware (what AT+CGMR shows), 1 to 63 printable characters.
    #[arg(long, value_name = "STRING", requires = "modem_firmware")]
    modem_version: Option<String>,
    /// nrf9160-slm: emulated time erasing the modem scratch area takes (#XFOTA: 2,0 to 3,0,
    /// and AT#XFOTA=9), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    modem_erase_ms: u64,
    /// nrf9160-slm: start every boot offline (AT+CFUN? answers 0), as the real modem does,
    /// instead of online; the host connects it with AT+CFUN=1. Credentials (AT%CMNG) can be
    /// written only while offline.
    #[arg(long)]
    boot_offline: bool,
    /// Accept application images older than the running one (an equal version always
    /// re-installs). Fixed when the device is created; the security counter floor holds anyway.
    #[arg(long)]
    allow_downgrade: bool,
    /// A control channel for a test bench: unix:PATH or tcp:HOST:PORT, one JSON request per
    /// line (docs/CONTROL.md; `atfota ctl` sends one). It gives full control of the device:
    /// it binds only where told.
    #[arg(long, value_name = "WHERE")]
    control: Option<ControlAddr>,
    /// The SIM needs this PIN (4 to 8 digits) before the device registers: AT+CPIN? answers
    /// SIM PIN until AT+CPIN="<pin>"; three wrong ones lock it to the PUK (12345678).
    /// Without it the SIM needs no PIN.
    #[arg(long, value_name = "PIN")]
    sim_pin: Option<SimPin>,
    /// Run N independent devices in this process: device i in DIR/<i> (created as needed,
    /// locked like a single device), AT on --listen's port plus i, its control channel on
    /// --control's port plus i (unix: PATH.<i>). Every device option applies to all of them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    instances: Option<u32>,
}

const AFTER_HELP: &str = "\
The device answers AT like the real modem (docs/AT-nrf9160-slm.md, docs/AT-nl668.md) and prints
its banner (\"Ready\" for nrf9160-slm, \"RDY\" for nl668) at every boot, process start included.
AT#XRESET (nrf9160-slm) reboots it inside the process; an nl668 reboots by itself to install.
Stopping the process and starting it again on the same --data is a power cycle: nothing
acknowledged is lost.

SECURITY: whoever can reach the AT port controls the device; tcp: binds only where told.
The built-in development key is always trusted: anyone can sign images with it (like
MCUboot's sample keys). Never ship it.";

/// Descriptors a fleet device uses at most: AT listener and connection (and its writer's
/// clone), control listener and connection, flash file, directory lock, a transfer's socket.
const FDS_PER_DEVICE: u64 = 8;

/// A fleet needs many descriptors: raises the soft limit to the hard one, and warns when even
/// that is too low (the devices past it would fail to listen or to download).
fn raise_fd_limit(devices: u32) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        log::warn!("cannot raise the open-file limit from {soft} to {hard}");
    }
    let need = u64::from(devices) * FDS_PER_DEVICE + 64;
    if hard < need {
        log::warn!(
            "{devices} devices may need {need} open files, the limit is {hard}: raise it (ulimit -Hn, LimitNOFILE=)"
        );
    }
}

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
    let modem_firmware = match (&a.modem_firmware, &a.modem_version) {
        (Some(path), Some(version)) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            anyhow::ensure!(!bytes.is_empty(), "{} is empty: a modem firmware has bytes", path.display());
            let version: atfota_image::ModemVersion =
                version.parse().context("--modem-version must be 1 to 63 printable ASCII characters")?;
            Some(ModemImage { bytes, version: version.to_string() })
        }
        _ => None,
    };
    let opts = OpenOptions {
        profile: a.profile,
        slot_size: a.slot_size,
        trust,
        modem_firmware,
        allow_downgrade: a.allow_downgrade,
    };
    if let Some(n) = a.instances {
        // Every device's addresses must exist before any device is made.
        let last = n as usize - 1;
        a.listen.instance(last, true).map_err(|e| anyhow::anyhow!("--listen {}: {e}", a.listen))?;
        if let Some(c) = &a.control {
            c.instance(last, true).map_err(|e| anyhow::anyhow!("--control {c}: {e}"))?;
        }
    }
    let dirs = match a.instances {
        None => vec![DataDir::open(&a.data, &opts)?],
        Some(n) => {
            raise_fd_limit(n);
            std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
            let mut dirs = Vec::with_capacity(n as usize);
            for i in 0..n {
                dirs.push(DataDir::open(&a.data.join(i.to_string()), &opts)?);
            }
            log::info!("{n} devices in {}", a.data.display());
            dirs
        }
    };
    let dir = &dirs[0];
    anyhow::ensure!(
        a.incoming_call_at.is_none() || dir.profile == ProfileKind::Nl668,
        "--incoming-call-at emulates a voice call: only the nl668 profile has one (this device is {})",
        dir.profile
    );
    anyhow::ensure!(
        !a.boot_offline || dir.profile == ProfileKind::Nrf9160Slm,
        "--boot-offline emulates the nRF91's +CFUN: only the nrf9160-slm profile has it (this device is {})",
        dir.profile
    );
    for dir in &dirs {
        log::info!(
            "{} device in {} ({}; slot {} bytes; IMEI {})",
            dir.profile,
            dir.path.display(),
            if dir.created { "factory-fresh" } else { "existing" },
            dir.config.slot_size,
            dir.imei()
        );
    }
    anyhow::ensure!(
        dirs.iter().all(|d| d.profile == dir.profile),
        "--instances: every device of a fleet presents one profile; {} holds another one",
        a.data.display()
    );
    let net = atfota_net::Options {
        recv_timeout: Duration::from_secs_f64(a.recv_timeout),
        retries: a.retries,
        ..atfota_net::Options::default()
    };
    // Start-time network conditions go through the control channel's own requests. The
    // nRF9160 has no 2G: its slowest radio, NB-IoT, stands in for it.
    let mut at_start = Vec::new();
    if a.network == "2g" {
        let slowest = if dir.profile == ProfileKind::Nl668 { Rat::Gsm } else { Rat::NbIot };
        at_start.push(Request::Network(Stimulus::Rat(slowest)));
    }
    let run = RunOptions {
        listen: a.listen,
        control: a.control,
        at_start,
        net,
        engine: EngineConfig {
            fail_self_test: a.fail_self_test,
            modem_erase_time: Duration::from_millis(a.modem_erase_ms),
            allow_downgrade: dir.config.allow_downgrade,
        },
        conditions: Conditions {
            incoming_call_at: a.incoming_call_at,
            imei: Some(dir.imei()),
            boot_offline: a.boot_offline,
            // The profile's RAT state; the transfer's rate limit above still does the slowing.
            network: None,
            sim_pin: a.sim_pin,
        },
    };
    match a.instances {
        None => atfota_device::run(dirs.into_iter().next().expect("one device"), run)?,
        Some(_) => atfota_device::run_fleet(dirs, true, run)?,
    }
    Ok(())
}
