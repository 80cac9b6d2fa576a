//! Command-line parsing and dispatch; each subcommand lives in its own module.

mod at;
mod campaign;
mod ctl;
mod delta;
mod demo;
mod image;
mod modem;
mod modem_fw;
mod request_args;
mod update;

use clap::{Parser, Subcommand};

/// FOTA engine for cellular modems driven by AT commands.
#[derive(Parser, Debug)]
#[command(name = "atfota", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an emulated modem (a device host software can update).
    Modem(modem::Args),
    /// Show the product working: a whole application FOTA on an emulated modem.
    Demo(demo::Args),
    /// Sign and inspect MCUboot images.
    #[command(subcommand)]
    Image(image::Command),
    /// Make, inspect and apply modem delta packages (detools patches, signed).
    #[command(subcommand)]
    Delta(delta::Command),
    /// The modem firmware of an emulated device that is not running.
    #[command(subcommand, name = "modem-fw")]
    ModemFw(modem_fw::Command),
    /// Update a real or emulated modem: download, activate, reboot, read the result.
    Update(update::Args),
    /// Send AT commands to a modem and print its responses.
    At(at::Args),
    /// Update many modems at once (`atfota update` against each), with a summary and a report.
    Campaign(campaign::Args),
    /// Send one command to an emulated modem's control channel (network, power, faults, status).
    Ctl(ctl::Args),
}

/// Runs the chosen subcommand; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Modem(a) => modem::run(a).map(|()| 0),
        Command::Demo(a) => demo::run(a).map(|()| 0),
        Command::Image(c) => image::run(c).map(|()| 0),
        Command::Delta(c) => delta::run(c).map(|()| 0),
        Command::ModemFw(c) => modem_fw::run(c).map(|()| 0),
        Command::Update(a) => Ok(update::run(a)),
        Command::At(a) => Ok(at::run(a)),
        Command::Campaign(a) => Ok(campaign::run(a)),
        Command::Ctl(a) => Ok(ctl::run(a)),
    }
}

/// Parses a positive number of seconds (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// Parses a byte count: decimal, `0x` hex, or with a K/M/G suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1024u64),
        Some((i, 'm' | 'M')) => (&t[..i], 1024 * 1024),
        Some((i, 'g' | 'G')) => (&t[..i], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    let n = match num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => num.parse::<u64>(),
    }
    .map_err(|_| format!("{s:?} is not a size (examples: 1048576, 0x110000, 4M)"))?;
    let bytes = n.checked_mul(mult).ok_or_else(|| format!("{s} is too large"))?;
    u32::try_from(bytes).map_err(|_| format!("{s} is too large (at most 4 GiB)"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("0x110000"), Ok(0x11_0000));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("4T").is_err());
        assert!(parse_size("8G").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }
}
