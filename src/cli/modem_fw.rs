//! `atfota modem-fw`: the modem firmware of a device that is not running.

use std::path::PathBuf;

use anyhow::Context;
use atfota_boot::ModemUpdater;
use atfota_device::{DataDir, OpenOptions};
use atfota_storage::NorFlash;

/// `atfota modem-fw` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write the running modem firmware of a device to a file (to build a delta against it).
    Export {
        /// The device's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Where to write the firmware.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// Runs a `modem-fw` subcommand.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Export { data, output } => {
            anyhow::ensure!(
                data.join("device.toml").is_file(),
                "{} is not a device directory (no device.toml)",
                data.display()
            );
            let mut dir = DataDir::open(&data, &OpenOptions::default())?;
            let parts = dir.layout.modem.with_context(|| {
                format!(
                    "{} has no modem firmware partitions (it was made by an older atfota or is an nl668)",
                    data.display()
                )
            })?;
            let updater = ModemUpdater::new(dir.flash.geometry(), parts)?;
            let state = updater.state(&mut dir.flash)?.context("the device's modem state is unreadable")?;
            let mut out = Vec::with_capacity(state.active.len as usize);
            updater.export(&mut dir.flash, &mut out)?;
            std::fs::write(&output, &out).with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{}: {} bytes, version {}, UUID {}",
                output.display(),
                out.len(),
                state.active.version,
                atfota_image::modem_uuid(&state.active.sha256)
            );
            Ok(())
        }
    }
}
