//! Driving a modem through a whole FOTA, profile by profile.
//!
//! Owns the host's side of the conversation the specs describe: start, follow
//! progress, activate, and read the result after reboot. Never decides
//! policy (retries, when to update): callers do.

use std::time::Duration;

use crate::session::{Session, SessionError};

/// How long a whole download may take before the host gives up.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Time for a command's final result.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a reboot (swap included) to reach its banner and result.
pub const REBOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// How an update ended, as the modem reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateReport {
    /// The final result URC (`#XFOTA: 5,0`, `GTOTA UPGRADE SUCCESS`).
    pub result: String,
    /// Version running after the update.
    pub version: String,
}

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The conversation broke down.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The modem refused a command.
    #[error("{command} answered {result}")]
    Refused {
        /// The command.
        command: String,
        /// Its final result.
        result: String,
    },
    /// The modem reported a failure URC.
    #[error("the modem reported {0}")]
    Failed(String),
}

/// URC filter of the Nordic SLM profile: `#XFOTA: <digit>...` and `Ready`.
pub fn slm_urc(line: &str) -> bool {
    line == "Ready"
        || line.strip_prefix("#XFOTA: ").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// Application update on a Nordic SLM: `AT#XFOTA=1`, progress to `4,0`,
/// `AT#XRESET`, `Ready`, `5,<status>`, then `AT#XSLMVER`.
/// `progress` gets each percentage.
pub fn slm_app_update(
    s: &mut Session,
    url: &str,
    mut progress: impl FnMut(u8),
) -> Result<UpdateReport, UpdateError> {
    let start = format!("AT#XFOTA=1,\"{url}\"");
    expect_ok(s, &start)?;
    let done = s.wait_urc(
        |l| l == "#XFOTA: 4,0" || l.starts_with("#XFOTA: 1,1") || l.starts_with("#XFOTA: 1,2"),
        |l| {
            if let Some(p) = l.strip_prefix("#XFOTA: 1,0,").and_then(|p| p.parse().ok()) {
                progress(p);
            }
        },
        DOWNLOAD_TIMEOUT,
    )?;
    if done != "#XFOTA: 4,0" {
        return Err(UpdateError::Failed(done));
    }
    expect_ok(s, "AT#XRESET")?;
    s.wait_urc(|l| l == "Ready", |_| {}, REBOOT_TIMEOUT)?;
    let result = s.wait_urc(|l| l.starts_with("#XFOTA: 5,"), |_| {}, REBOOT_TIMEOUT)?;
    let version = slm_version(s)?;
    if result != "#XFOTA: 5,0" {
        return Err(UpdateError::Failed(format!("{result} (running {version})")));
    }
    Ok(UpdateReport { result, version })
}

/// The running application version from `AT#XSLMVER`.
pub fn slm_version(s: &mut Session) -> Result<String, UpdateError> {
    let reply = expect_ok(s, "AT#XSLMVER")?;
    let line = reply.lines.iter().find_map(|l| l.strip_prefix("#XSLMVER: ")).unwrap_or_default();
    let first = line.split(',').next().unwrap_or_default().trim_matches('"');
    Ok(first.to_string())
}

/// Sends `cmd` and insists on `OK`.
pub fn expect_ok(s: &mut Session, cmd: &str) -> Result<crate::session::Reply, UpdateError> {
    let reply = s.command(cmd, COMMAND_TIMEOUT)?;
    if !reply.is_ok() {
        return Err(UpdateError::Refused { command: cmd.to_string(), result: reply.result });
    }
    Ok(reply)
}

/// URC filter of the Fibocom NL668 profile: `GTOTA ...`, `RDY`, `RING`.
pub fn nl668_urc(line: &str) -> bool {
    line.starts_with("GTOTA ") || line == "RDY" || line == "RING"
}

/// Update on a Fibocom NL668: sends `gtota` (a whole `AT+GTOTA=...` line),
/// follows `GTOTA DOWNLOADING`, waits for the automatic reboot (`RDY`) and
/// `GTOTA UPGRADE SUCCESS`, then reads `AT+CGMR`. `progress` gets each percentage.
pub fn nl668_update(
    s: &mut Session,
    gtota: &str,
    mut progress: impl FnMut(u8),
) -> Result<UpdateReport, UpdateError> {
    expect_ok(s, gtota)?;
    let done = s.wait_urc(
        |l| l == "RDY" || l.starts_with("GTOTA DOWNLOAD FAILED") || l.starts_with("GTOTA UPGRADE FAILED"),
        |l| {
            if let Some(p) =
                l.strip_prefix("GTOTA DOWNLOADING: ").and_then(|p| p.strip_suffix('%')?.parse().ok())
            {
                progress(p);
            }
        },
        DOWNLOAD_TIMEOUT,
    )?;
    if done != "RDY" {
        return Err(UpdateError::Failed(done));
    }
    let result = s.wait_urc(|l| l.starts_with("GTOTA UPGRADE"), |_| {}, REBOOT_TIMEOUT)?;
    let reply = expect_ok(s, "AT+CGMR")?;
    let version = reply
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("+CGMR: "))
        .map(|v| v.trim_matches('"').rsplit("_V").next().unwrap_or_default().to_string())
        .unwrap_or_default();
    if result != "GTOTA UPGRADE SUCCESS" {
        return Err(UpdateError::Failed(format!("{result} (running {version})")));
    }
    Ok(UpdateReport { result, version })
}
