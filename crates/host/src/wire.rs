//! The host's reading of each profile's URCs and its formatting of the commands it sends,
//! through the shared AT vocabulary (`atfota-vocab`), which the device profiles use too.
//!
//! Owns the mapping from the vocabulary's typed URCs to the profile-neutral [`Signal`]s the
//! update machine follows (which code is a rejection, which a mismatch). It writes no URC or
//! command text of its own, holds no state and never decides what to do next: that is
//! [`crate::machine`]'s job.

use atfota_vocab::nl668::{
    self, FtpLogin, Gtota, GtotaCommand, GtsetCommand, GtsetValue, Setting, UpgradeFailure,
};
use atfota_vocab::slm::{self, Download, FotaError, Xfota, XfotaCommand};

use crate::request::{Profile, Request, Source, Target};

/// What a URC means to the host, whichever profile sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The boot banner (`Ready`, `RDY`).
    Banner,
    /// The download began (`GTOTA DOWNLOAD START`).
    DownloadStarted,
    /// Percent downloaded.
    Progress(u8),
    /// The modem scratch area is being erased before the download (`#XFOTA: 2,0`).
    ErasePending,
    /// The erase finished (`#XFOTA: 3,0`).
    Erased,
    /// Every byte is stored (`#XFOTA: 4,0`, `GTOTA DOWNLOAD COMPLETE`).
    Downloaded,
    /// The transfer failed; starting the same URL again resumes it.
    DownloadFailed(String),
    /// The download was cancelled (`#XFOTA: 1,2,0`).
    Cancelled,
    /// The image was refused (before or after the reboot).
    Rejected(String),
    /// The image is not of the kind the command asked for.
    Mismatch(String),
    /// The new firmware runs and confirmed itself.
    Success,
    /// Installing or activating the new firmware failed.
    ActivationFailed(String),
    /// The new image did not confirm itself; the previous one runs again.
    Reverted,
    /// An incoming call (`RING`).
    Ring,
}

/// Reads a line as one of the profile's URCs; `None` for anything else.
pub(crate) fn parse_urc(profile: Profile, line: &str) -> Option<Signal> {
    match profile {
        Profile::Nrf9160Slm => match slm::Urc::parse(line).ok()? {
            slm::Urc::Ready => Some(Signal::Banner),
            slm::Urc::Xfota(x) => xfota(x),
            _ => None,
        },
        Profile::Nl668 => match nl668::Urc::parse(line).ok()? {
            nl668::Urc::Ready => Some(Signal::Banner),
            nl668::Urc::Ring => Some(Signal::Ring),
            nl668::Urc::Gtota(g) => gtota(g),
            _ => None,
        },
    }
}

fn xfota(x: Xfota) -> Option<Signal> {
    Some(match x {
        Xfota::Progress(p) => Signal::Progress(p.min(100)),
        Xfota::DownloadFailed(e) if e == FotaError::DOWNLOAD_FAILED => Signal::DownloadFailed(e.text()),
        Xfota::DownloadFailed(e) if e == FotaError::IMAGE_MISMATCH || e == FotaError::MODEM_UUID_MISMATCH => {
            Signal::Mismatch(e.text())
        }
        Xfota::DownloadFailed(e) => Signal::Rejected(e.text()),
        Xfota::Cancelled => Signal::Cancelled,
        Xfota::ErasePending => Signal::ErasePending,
        Xfota::Erased => Signal::Erased,
        Xfota::Downloaded => Signal::Downloaded,
        Xfota::Complete => Signal::Success,
        // After the reboot every failure is an activation failure: the previous firmware runs.
        Xfota::ActivationFailed(e) => Signal::ActivationFailed(e.text()),
        Xfota::Reverted => Signal::Reverted,
        _ => return None,
    })
}

fn gtota(g: Gtota) -> Option<Signal> {
    Some(match g {
        Gtota::DownloadStart => Signal::DownloadStarted,
        Gtota::Downloading(p) => Signal::Progress(p.min(100)),
        Gtota::DownloadComplete => Signal::Downloaded,
        Gtota::DownloadFailed(c) => Signal::DownloadFailed(c.text()),
        Gtota::UpgradeSuccess => Signal::Success,
        Gtota::UpgradeFailed(c) if c == UpgradeFailure::REVERTED => Signal::Reverted,
        Gtota::UpgradeFailed(c) if c == UpgradeFailure::INSTALL => Signal::ActivationFailed(c.text()),
        Gtota::UpgradeFailed(c) if c == UpgradeFailure::MISMATCH => Signal::Mismatch(c.text()),
        Gtota::UpgradeFailed(c) => Signal::Rejected(c.text()),
        _ => return None,
    })
}

/// A command line to send, and how it may be shown (passwords masked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The bytes to send, without the terminator.
    pub wire: String,
    /// What logs and events may show.
    pub shown: String,
}

impl Line {
    pub(crate) fn plain(text: impl ToString) -> Self {
        let wire = text.to_string();
        Self { shown: wire.clone(), wire }
    }
}

/// The command that starts (or, sent again, resumes) the download.
pub(crate) fn start(req: &Request) -> Line {
    match (&req.profile, &req.source) {
        (Profile::Nrf9160Slm, Source::Http { url }) => {
            let download = Download { url: url.clone(), sec_tag: req.sec_tag, apn: req.apn.clone() };
            Line::plain(match req.target {
                Target::App => XfotaCommand::StartApp(download),
                Target::Modem => XfotaCommand::StartModem(download),
            })
        }
        (Profile::Nl668, Source::Http { url }) => Line::plain(GtotaCommand::Http { url: url.clone() }),
        (_, Source::Ftp { server, file, user, password }) => {
            let login = |password: &str| FtpLogin {
                server: server.clone(),
                file: file.clone(),
                user: user.clone(),
                password: password.into(),
            };
            Line {
                wire: GtotaCommand::Ftp(login(password)).to_string(),
                shown: GtotaCommand::Ftp(login("***")).to_string(),
            }
        }
    }
}

/// The command that cancels a running download, where the profile has one.
pub(crate) fn cancel(profile: Profile) -> Option<Line> {
    match profile {
        Profile::Nrf9160Slm => Some(Line::plain(XfotaCommand::Cancel)),
        Profile::Nl668 => None,
    }
}

/// The command that activates a downloaded image by rebooting, where the host must send one.
pub(crate) fn reset(profile: Profile) -> Option<Line> {
    match profile {
        Profile::Nrf9160Slm => Some(Line::plain(slm::RESET)),
        Profile::Nl668 => None,
    }
}

/// The command that reads the version the update changes.
pub(crate) fn version_query(profile: Profile, target: Target) -> Line {
    match (profile, target) {
        (Profile::Nrf9160Slm, Target::App) => Line::plain(slm::SLMVER),
        (Profile::Nrf9160Slm, _) => Line::plain(slm::CGMR),
        (Profile::Nl668, _) => Line::plain(nl668::CGMR),
    }
}

/// The version in the reply to [`version_query`].
pub(crate) fn parse_version(profile: Profile, target: Target, lines: &[String]) -> Option<String> {
    match (profile, target) {
        (Profile::Nrf9160Slm, Target::App) => {
            lines.iter().find_map(|l| slm::SlmVersion::parse(l).ok()).map(|v| v.app)
        }
        // The nRF91 answers AT+CGMR with the bare version string.
        (Profile::Nrf9160Slm, _) => lines.first().cloned(),
        (Profile::Nl668, _) => lines.iter().find_map(|l| nl668::Revision::parse(l).ok()).map(|r| r.text()),
    }
}

/// The NL668 prerequisites the vendor asks hosts to set to 1 before an update; the first one
/// is required.
pub(crate) const GTSET_PREREQUISITES: [Setting; 2] = [Setting::CallBreak, Setting::GprsFirst];

/// `AT+GTSET?`.
pub(crate) fn gtset_query() -> Line {
    Line::plain(nl668::GTSET_READ)
}

/// `AT+GTSET="<name>",<value>`.
pub(crate) fn gtset(setting: Setting, on: bool) -> Line {
    Line::plain(GtsetCommand::Set(setting, on))
}

/// A `+GTSET: "<name>",<value>` line.
pub(crate) fn parse_gtset(line: &str) -> Option<(Setting, u8)> {
    GtsetValue::parse(line).ok().map(|v| (v.setting, v.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slm_urcs() {
        let p = Profile::Nrf9160Slm;
        let cases = [
            ("Ready", Some(Signal::Banner)),
            ("#XFOTA: 1,0,42", Some(Signal::Progress(42))),
            ("#XFOTA: 2,0", Some(Signal::ErasePending)),
            ("#XFOTA: 3,0", Some(Signal::Erased)),
            ("#XFOTA: 4,0", Some(Signal::Downloaded)),
            ("#XFOTA: 1,2,0", Some(Signal::Cancelled)),
            ("#XFOTA: 5,0", Some(Signal::Success)),
            ("#XFOTA: 5,3", Some(Signal::Reverted)),
            ("#XFOTA: 0,0", None),
            ("#XFOTA: (0,1,2,8,9),<file_url>,<sec_tag>,<apn>", None),
            ("#XFOTA: 1,0", None),
            ("RDY", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_urc(p, line), want, "{line}");
        }
        assert!(matches!(parse_urc(p, "#XFOTA: 1,1,1"), Some(Signal::DownloadFailed(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 1,1,2"), Some(Signal::Rejected(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 1,1,3"), Some(Signal::Mismatch(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 1,1,71303172"), Some(Signal::Mismatch(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 1,1,71303171"), Some(Signal::Rejected(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 5,1,2"), Some(Signal::ActivationFailed(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 5,1,71303169"), Some(Signal::ActivationFailed(_))));
    }

    #[test]
    fn nl668_urcs() {
        let p = Profile::Nl668;
        assert_eq!(parse_urc(p, "RDY"), Some(Signal::Banner));
        assert_eq!(parse_urc(p, "RING"), Some(Signal::Ring));
        assert_eq!(parse_urc(p, "GTOTA DOWNLOADING: 7%"), Some(Signal::Progress(7)));
        assert_eq!(parse_urc(p, "GTOTA DOWNLOAD COMPLETE"), Some(Signal::Downloaded));
        assert_eq!(parse_urc(p, "GTOTA UPGRADE FAILED: 14"), Some(Signal::Reverted));
        assert!(
            matches!(parse_urc(p, "GTOTA UPGRADE FAILED: 12"), Some(Signal::Rejected(w)) if w.starts_with("signature not trusted"))
        );
        assert!(matches!(parse_urc(p, "GTOTA UPGRADE FAILED: 13"), Some(Signal::ActivationFailed(_))));
        assert!(matches!(parse_urc(p, "GTOTA UPGRADE FAILED: 11"), Some(Signal::Mismatch(_))));
        assert!(matches!(parse_urc(p, "GTOTA DOWNLOAD FAILED: 3"), Some(Signal::DownloadFailed(_))));
        assert_eq!(parse_urc(p, "GTOTA DOWNLOADING: x%"), None);
        assert_eq!(parse_urc(p, "Ready"), None);
    }

    #[test]
    fn commands_and_replies() {
        let mut req = Request::http(Profile::Nrf9160Slm, "http://h/a.bin");
        assert_eq!(start(&req).wire, "AT#XFOTA=1,\"http://h/a.bin\"");
        req.target = Target::Modem;
        req.apn = Some("iot".into());
        assert_eq!(start(&req).wire, "AT#XFOTA=2,\"http://h/a.bin\",,\"iot\"");
        req.sec_tag = Some(42);
        assert_eq!(start(&req).wire, "AT#XFOTA=2,\"http://h/a.bin\",42,\"iot\"");
        let ftp = Request::ftp("127.0.0.1:2121", "fw/p.bin", "u", "p\"w");
        let line = start(&ftp);
        assert_eq!(line.wire, "AT+GTOTA=1,\"127.0.0.1:2121\",\"fw/p.bin\",\"u\",\"p\\22w\"");
        assert_eq!(line.shown, "AT+GTOTA=1,\"127.0.0.1:2121\",\"fw/p.bin\",\"u\",\"***\"");
        assert_eq!(parse_gtset("+GTSET: \"CALLBREAK\",0"), Some((Setting::CallBreak, 0)));
        assert_eq!(gtset(Setting::GprsFirst, true).wire, "AT+GTSET=\"GPRSFIRST\",1");
        assert_eq!(
            parse_version(Profile::Nrf9160Slm, Target::App, &["#XSLMVER: \"2.0.0\",\"mfw\"".into()]),
            Some("2.0.0".into())
        );
        assert_eq!(
            parse_version(Profile::Nl668, Target::App, &["+CGMR: \"NL668-EAU_V1.1.0\"".into()]),
            Some("NL668-EAU_V1.1.0".into())
        );
    }
}
