//! The host's reading of each profile's URCs and its formatting of the commands it sends.
//!
//! Owns the mapping from wire text to the profile-neutral [`Signal`]s the update machine
//! follows, and the words that explain each result code. It must never hold state or decide
//! what to do next: that is [`crate::machine`]'s job.
//!
//! The URC and command texts themselves belong in the shared AT vocabulary of both sides (the
//! device profiles emit what is parsed here); until that crate lands, they are written here
//! once for the host, and this module is the only place to switch.

use atfota_at::{Arg, parse_line, quote};

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

/// Boot banner of each profile.
pub(crate) fn banner(profile: Profile) -> &'static str {
    match profile {
        Profile::Nrf9160Slm => "Ready",
        Profile::Nl668 => "RDY",
    }
}

/// Reads a line as one of the profile's URCs; `None` for anything else.
pub(crate) fn parse_urc(profile: Profile, line: &str) -> Option<Signal> {
    if line == banner(profile) {
        return Some(Signal::Banner);
    }
    match profile {
        Profile::Nrf9160Slm => parse_xfota(line),
        Profile::Nl668 => parse_gtota(line),
    }
}

/// `#XFOTA: <stage>,<status>[,<info>]`.
fn parse_xfota(line: &str) -> Option<Signal> {
    let rest = line.strip_prefix("#XFOTA: ")?;
    let mut fields = rest.split(',').map(|f| f.trim().parse::<u64>());
    let stage = fields.next()?.ok()?;
    let status = fields.next()?.ok()?;
    let info = match fields.next() {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return None,
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    Some(match (stage, status, info) {
        (1, 0, Some(p)) if p <= 100 => Signal::Progress(p as u8),
        (1, 1, Some(code)) => xfota_error(code, false),
        (1, 1, None) => Signal::DownloadFailed("the download failed".into()),
        (1, 2, _) => Signal::Cancelled,
        (2, 0, None) => Signal::ErasePending,
        (3, 0, None) => Signal::Erased,
        (4, 0, None) => Signal::Downloaded,
        (5, 0, None) => Signal::Success,
        (5, 1, code) => xfota_error(code.unwrap_or(0), true),
        (5, 3, None) => Signal::Reverted,
        _ => return None,
    })
}

/// Nordic's `<fota_info>` error codes, at download (`1,1`) or after the reboot (`5,1`, always
/// an activation failure: the previous firmware runs).
fn xfota_error(code: u64, after_reboot: bool) -> Signal {
    let why = match code {
        1 => "the modem could not download the image (network or server)".to_string(),
        2 if after_reboot => "the bootloader refused to install the image".into(),
        2 => "the modem rejected the image".into(),
        3 => "the image is not of the kind asked for (application or modem)".into(),
        0x440_0001 => format!("the delta did not produce the expected firmware (modem error {code:#x})"),
        0x440_0002 => format!("a flash operation failed while applying (modem error {code:#x})"),
        0x440_0003 => format!("the delta failed authentication (modem error {code:#x})"),
        0x440_0004 => format!("the delta is for another modem firmware (modem error {code:#x})"),
        _ => format!("error code {code}"),
    };
    match code {
        _ if after_reboot => Signal::ActivationFailed(why),
        1 => Signal::DownloadFailed(why),
        3 | 0x440_0004 => Signal::Mismatch(why),
        _ => Signal::Rejected(why),
    }
}

/// `GTOTA ...` and `RING`.
fn parse_gtota(line: &str) -> Option<Signal> {
    if line == "RING" {
        return Some(Signal::Ring);
    }
    let rest = line.strip_prefix("GTOTA ")?;
    match rest {
        "DOWNLOAD START" => return Some(Signal::DownloadStarted),
        "DOWNLOAD COMPLETE" => return Some(Signal::Downloaded),
        "UPGRADE SUCCESS" => return Some(Signal::Success),
        _ => {}
    }
    if let Some(p) = rest.strip_prefix("DOWNLOADING: ") {
        let p: u8 = p.strip_suffix('%')?.trim().parse().ok()?;
        return (p <= 100).then_some(Signal::Progress(p));
    }
    if let Some(code) = rest.strip_prefix("DOWNLOAD FAILED: ") {
        let why = match code.trim().parse::<u32>().ok()? {
            1 => "the network failed (no connection, timeout or connection lost)",
            2 => "the server failed",
            3 => "the server refused the file (not found)",
            4 => "the server refused the login",
            5 => "an incoming call broke the data session",
            6 => "the module's storage failed",
            _ => "the download failed",
        };
        return Some(Signal::DownloadFailed(why.into()));
    }
    let code = rest.strip_prefix("UPGRADE FAILED: ")?.trim().parse::<u32>().ok()?;
    Some(match code {
        10 => Signal::Rejected("not a firmware package, or too large for the module".into()),
        11 => Signal::Mismatch("a package for another component".into()),
        12 => Signal::Rejected("signature not trusted".into()),
        13 => Signal::ActivationFailed("the bootloader refused to install the package".into()),
        14 => Signal::Reverted,
        _ => Signal::Rejected(format!("the module refused the package (code {code})")),
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
    fn plain(text: impl Into<String>) -> Self {
        let wire = text.into();
        Self { shown: wire.clone(), wire }
    }
}

/// The command that starts (or, sent again, resumes) the download.
pub(crate) fn start(req: &Request) -> Line {
    match (&req.profile, &req.source) {
        (Profile::Nrf9160Slm, Source::Http { url }) => {
            let op = match req.target {
                Target::App => 1,
                Target::Modem => 2,
            };
            let mut cmd = format!("AT#XFOTA={op},{}", quote(url));
            match (req.sec_tag, &req.apn) {
                (Some(tag), Some(apn)) => cmd.push_str(&format!(",{tag},{}", quote(apn))),
                (None, Some(apn)) => cmd.push_str(&format!(",,{}", quote(apn))),
                (Some(tag), None) => cmd.push_str(&format!(",{tag}")),
                (None, None) => {}
            }
            Line::plain(cmd)
        }
        (Profile::Nl668, Source::Http { url }) => Line::plain(format!("AT+GTOTA=0,{}", quote(url))),
        (_, Source::Ftp { server, file, user, password }) => {
            let head = format!("AT+GTOTA=1,{},{},{},", quote(server), quote(file), quote(user));
            Line { wire: format!("{head}{}", quote(password)), shown: format!("{head}\"***\"") }
        }
    }
}

/// The command that cancels a running download, where the profile has one.
pub(crate) fn cancel(profile: Profile) -> Option<Line> {
    match profile {
        Profile::Nrf9160Slm => Some(Line::plain("AT#XFOTA=0")),
        Profile::Nl668 => None,
    }
}

/// The command that activates a downloaded image by rebooting, where the host must send one.
pub(crate) fn reset(profile: Profile) -> Option<Line> {
    match profile {
        Profile::Nrf9160Slm => Some(Line::plain("AT#XRESET")),
        Profile::Nl668 => None,
    }
}

/// The command that reads the version the update changes.
pub(crate) fn version_query(profile: Profile, target: Target) -> Line {
    match (profile, target) {
        (Profile::Nrf9160Slm, Target::App) => Line::plain("AT#XSLMVER"),
        _ => Line::plain("AT+CGMR"),
    }
}

/// The version in the reply to [`version_query`].
pub(crate) fn parse_version(profile: Profile, target: Target, lines: &[String]) -> Option<String> {
    let first_string = |text: &str| match parse_args(text)?.first()? {
        Arg::Str(s) => Some(s.clone()),
        _ => None,
    };
    match (profile, target) {
        (Profile::Nrf9160Slm, Target::App) => {
            lines.iter().find_map(|l| first_string(l.strip_prefix("#XSLMVER:")?))
        }
        // The nRF91 answers AT+CGMR with the bare version string.
        (Profile::Nrf9160Slm, Target::Modem) => lines.first().cloned(),
        (Profile::Nl668, _) => lines.iter().find_map(|l| first_string(l.strip_prefix("+CGMR:")?)),
    }
}

/// The NL668 prerequisites the vendor asks hosts to set to 1 before an update.
pub(crate) const GTSET_PREREQUISITES: [&str; 2] = ["CALLBREAK", "GPRSFIRST"];

/// `AT+GTSET?`.
pub(crate) fn gtset_query() -> Line {
    Line::plain("AT+GTSET?")
}

/// `AT+GTSET="<name>",<value>`.
pub(crate) fn gtset(name: &str, value: i64) -> Line {
    Line::plain(format!("AT+GTSET={},{value}", quote(name)))
}

/// A `+GTSET: "<name>",<value>` line.
pub(crate) fn parse_gtset(line: &str) -> Option<(String, i64)> {
    let args = parse_args(line.strip_prefix("+GTSET:")?)?;
    match args.as_slice() {
        [Arg::Str(name), Arg::Int(v)] => Some((name.clone(), *v)),
        _ => None,
    }
}

/// Parses the parameter list of an information line with the `at` crate's parser.
fn parse_args(params: &str) -> Option<Vec<Arg>> {
    let cmds = parse_line(&format!("AT+X={}", params.trim())).ok()?;
    let cmd = cmds.into_iter().next()?;
    match cmd.op {
        atfota_at::Op::Set(args) => Some(args.iter().cloned().collect()),
        _ => None,
    }
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
            ("#XFOTA: 1,0,101", None),
            ("#XFOTA: 2,0", Some(Signal::ErasePending)),
            ("#XFOTA: 3,0", Some(Signal::Erased)),
            ("#XFOTA: 4,0", Some(Signal::Downloaded)),
            ("#XFOTA: 1,2,0", Some(Signal::Cancelled)),
            ("#XFOTA: 5,0", Some(Signal::Success)),
            ("#XFOTA: 5,3", Some(Signal::Reverted)),
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
        assert!(matches!(parse_urc(p, "#XFOTA: 5,1,2"), Some(Signal::ActivationFailed(_))));
        assert!(matches!(parse_urc(p, "#XFOTA: 5,1,71303169"), Some(Signal::ActivationFailed(_))));
    }

    #[test]
    fn nl668_urcs() {
        let p = Profile::Nl668;
        assert_eq!(parse_urc(p, "RDY"), Some(Signal::Banner));
        assert_eq!(parse_urc(p, "GTOTA DOWNLOADING: 7%"), Some(Signal::Progress(7)));
        assert_eq!(parse_urc(p, "GTOTA DOWNLOAD COMPLETE"), Some(Signal::Downloaded));
        assert_eq!(parse_urc(p, "GTOTA UPGRADE FAILED: 14"), Some(Signal::Reverted));
        assert_eq!(
            parse_urc(p, "GTOTA UPGRADE FAILED: 12"),
            Some(Signal::Rejected("signature not trusted".into()))
        );
        assert!(
            matches!(parse_urc(p, "GTOTA DOWNLOAD FAILED: 3"), Some(Signal::DownloadFailed(w)) if w.contains("refused the file"))
        );
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
        assert!(!line.shown.contains("p\\22w"), "{}", line.shown);
        assert_eq!(parse_gtset("+GTSET: \"CALLBREAK\",0"), Some(("CALLBREAK".into(), 0)));
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
