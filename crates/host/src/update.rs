//! Driving a modem through a whole FOTA, profile by profile.
//!
//! Owns the host's side of the conversation the specs describe: start, follow
//! progress, activate, and read the result after reboot. Never decides
//! policy (retries, when to update): callers do.

use std::time::Duration;

use atfota_vocab::{nl668, slm};

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

/// URC filter of the Nordic SLM profile: `#XFOTA: <stage>,<status>[,<info>]` and `Ready`.
pub fn slm_urc(line: &str) -> bool {
    slm::Urc::parse(line).is_ok()
}

/// Application update on a Nordic SLM: `AT#XFOTA=1`, progress to `4,0`,
/// `AT#XRESET`, `Ready`, `5,<status>`, then `AT#XSLMVER`.
/// `progress` gets each percentage.
pub fn slm_app_update(
    s: &mut Session,
    url: &str,
    mut progress: impl FnMut(u8),
) -> Result<UpdateReport, UpdateError> {
    let start = slm::XfotaCommand::StartApp(slm::Download::new(url)).to_string();
    expect_ok(s, &start)?;
    let xfota = |l: &str| slm::Xfota::parse(l).ok();
    let done = s.wait_urc(
        |l| xfota(l).is_some_and(|x| x.ends_download()),
        |l| {
            if let Some(p) = xfota(l).and_then(|x| x.percent()) {
                progress(p);
            }
        },
        DOWNLOAD_TIMEOUT,
    )?;
    if xfota(&done) != Some(slm::Xfota::Downloaded) {
        return Err(UpdateError::Failed(done));
    }
    expect_ok(s, slm::RESET)?;
    s.wait_urc(|l| slm::Urc::parse(l) == Ok(slm::Urc::Ready), |_| {}, REBOOT_TIMEOUT)?;
    let result = s.wait_urc(|l| xfota(l).is_some_and(|x| x.is_result()), |_| {}, REBOOT_TIMEOUT)?;
    let version = slm_version(s)?;
    if xfota(&result) != Some(slm::Xfota::Complete) {
        return Err(UpdateError::Failed(format!("{result} (running {version})")));
    }
    Ok(UpdateReport { result, version })
}

/// The running application version from `AT#XSLMVER`.
pub fn slm_version(s: &mut Session) -> Result<String, UpdateError> {
    let reply = expect_ok(s, slm::SLMVER)?;
    Ok(reply.lines.iter().find_map(|l| slm::SlmVersion::parse(l).ok()).map(|v| v.app).unwrap_or_default())
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
    nl668::Urc::parse(line).is_ok()
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
    let urc = |l: &str| nl668::Urc::parse(l).ok();
    let gtota = |l: &str| match urc(l) {
        Some(nl668::Urc::Gtota(g)) => Some(g),
        _ => None,
    };
    let done = s.wait_urc(
        |l| urc(l) == Some(nl668::Urc::Ready) || gtota(l).is_some_and(|g| g.is_failure()),
        |l| {
            if let Some(p) = gtota(l).and_then(|g| g.percent()) {
                progress(p);
            }
        },
        DOWNLOAD_TIMEOUT,
    )?;
    if urc(&done) != Some(nl668::Urc::Ready) {
        return Err(UpdateError::Failed(done));
    }
    let result = s.wait_urc(|l| gtota(l).is_some_and(|g| g.is_result()), |_| {}, REBOOT_TIMEOUT)?;
    let reply = expect_ok(s, nl668::CGMR)?;
    let version = reply
        .lines
        .iter()
        .find_map(|l| nl668::Revision::parse(l).ok())
        .map(|r| r.version)
        .unwrap_or_default();
    if gtota(&result) != Some(nl668::Gtota::UpgradeSuccess) {
        return Err(UpdateError::Failed(format!("{result} (running {version})")));
    }
    Ok(UpdateReport { result, version })
}
