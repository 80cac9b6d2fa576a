//! The Fibocom NL668 (`nl668`) vocabulary: `AT+GTOTA` and its `GTOTA ...` URCs (the vendor's
//! three and this project's failure and result extensions), the `RDY` banner, `RING`,
//! `AT+GTSET` and its answer lines, and the `+CGMR` revision (spec/fibocom-gtota.md,
//! docs/AT-nl668.md).
//!
//! It owns these strings and their field syntax; which failure gets which code and what a command
//! does belong to the device profile, what a host does next to the driver. Nothing here prints a
//! password: [`GtotaCommand`]'s `Debug` hides it and errors name parameters by position.

use std::fmt;

use atfota_at::{Args, quote};

use crate::{Error, field};

/// The banner the module prints when a boot completes (extension: at every boot).
pub const READY: &str = "RDY";
/// An incoming call (V.250 result code), which breaks a download unless `CALLBREAK` is 1.
pub const RING: &str = "RING";
/// Asks for the firmware revision: answered by a [`Revision`] line.
pub const CGMR: &str = "AT+CGMR";
/// Asks for every `AT+GTSET` setting: answered by one [`GtsetValue`] line each.
pub const GTSET_READ: &str = "AT+GTSET?";
/// The answer to `AT+GTOTA=?`.
pub const GTOTA_TEST: &str = "+GTOTA: (0-1),<\"url\">[,<\"filename\">,<\"username\">,<\"password\">]";
/// Longest string parameter of `AT+GTOTA`, in bytes.
pub const MAX_STRING: usize = 255;

const GTOTA: &str = "GTOTA ";
const DOWNLOADING: &str = "GTOTA DOWNLOADING:";
const DOWNLOAD_FAILED: &str = "GTOTA DOWNLOAD FAILED:";
const UPGRADE_FAILED: &str = "GTOTA UPGRADE FAILED:";
const DOWNLOAD_START: &str = "GTOTA DOWNLOAD START";
const DOWNLOAD_COMPLETE: &str = "GTOTA DOWNLOAD COMPLETE";
const UPGRADE_SUCCESS: &str = "GTOTA UPGRADE SUCCESS";
const GTSET_PREFIX: &str = "+GTSET:";
const CGMR_PREFIX: &str = "+CGMR:";
/// Between the model and the version in a revision: `NL668-EAU_V1.1.0`.
const VERSION_MARK: &str = "_V";
const URC: &str = "GTOTA URC";
const COMMAND: &str = "AT+GTOTA command";
const GTSET: &str = "AT+GTSET command";

/// Any unsolicited line of this profile: what a host sets apart from command responses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Urc {
    /// `RDY`: a boot completed.
    Ready,
    /// `RING`: an incoming call.
    Ring,
    /// `GTOTA ...`.
    Gtota(Gtota),
}

impl Urc {
    /// Reads one line (terminators and blanks around it allowed).
    pub fn parse(line: &str) -> Result<Self, Error> {
        match field::trim(line) {
            READY => Ok(Self::Ready),
            RING => Ok(Self::Ring),
            _ => Gtota::parse(line).map(Self::Gtota).map_err(|e| match e {
                Error::Unrecognised { .. } => Error::Unrecognised { expected: "an RDY, RING or GTOTA URC" },
                other => other,
            }),
        }
    }
}

impl fmt::Display for Urc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str(READY),
            Self::Ring => f.write_str(RING),
            Self::Gtota(g) => g.fmt(f),
        }
    }
}

/// The `GTOTA` URCs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gtota {
    /// `GTOTA DOWNLOAD START`.
    DownloadStart,
    /// `GTOTA DOWNLOADING: <percent>%` (0..=100 from a well-behaved module).
    Downloading(u8),
    /// `GTOTA DOWNLOAD COMPLETE`: every byte is stored; verification follows.
    DownloadComplete,
    /// `GTOTA DOWNLOAD FAILED: <code>` (extension): the transfer failed; the bytes are kept.
    DownloadFailed(DownloadFailure),
    /// `GTOTA UPGRADE SUCCESS` (extension): after `RDY`, the new firmware runs.
    UpgradeSuccess,
    /// `GTOTA UPGRADE FAILED: <code>` (extension): the package was refused, before or after the
    /// reboot.
    UpgradeFailed(UpgradeFailure),
}

/// A `GTOTA DOWNLOAD FAILED` code (extension, docs/AT-nl668.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DownloadFailure(pub u32);

impl DownloadFailure {
    /// 1: network: no connection, timeout, or connection lost after the retries.
    pub const NETWORK: Self = Self(1);
    /// 2: server error: an unexpected HTTP status or FTP reply.
    pub const SERVER: Self = Self(2);
    /// 3: file not found (HTTP 404/410, FTP 550).
    pub const NOT_FOUND: Self = Self(3);
    /// 4: login refused (FTP 530, HTTP 401/403).
    pub const LOGIN_REFUSED: Self = Self(4);
    /// 5: interrupted by an incoming call (`CALLBREAK` 0).
    pub const CALL_INTERRUPTED: Self = Self(5);
    /// 6: storage error (flash or settings).
    pub const STORAGE: Self = Self(6);

    /// What the code means, in words.
    pub fn text(&self) -> String {
        let known = match *self {
            Self::NETWORK => "network error (no connection, timeout, connection lost)",
            Self::SERVER => "the server answered with an error",
            Self::NOT_FOUND => "the server has no such file",
            Self::LOGIN_REFUSED => "the server refused the login",
            Self::CALL_INTERRUPTED => "an incoming call broke the data session",
            Self::STORAGE => "the module's storage failed",
            _ => return format!("error code {}", self.0),
        };
        known.to_string()
    }
}

/// A `GTOTA UPGRADE FAILED` code (extension, docs/AT-nl668.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpgradeFailure(pub u32);

impl UpgradeFailure {
    /// 10: not a firmware package (unknown type, malformed, truncated) or too large.
    pub const INVALID: Self = Self(10);
    /// 11: a package for another component (a modem image).
    pub const MISMATCH: Self = Self(11);
    /// 12: verification failed: bad hash, unsigned, or signed by no trusted key.
    pub const UNTRUSTED: Self = Self(12);
    /// 13: installation failed: the bootloader refused the package at boot.
    pub const INSTALL: Self = Self(13);
    /// 14: the new firmware failed its self-test; the previous one was restored.
    pub const REVERTED: Self = Self(14);

    /// What the code means, in words.
    pub fn text(&self) -> String {
        let known = match *self {
            Self::INVALID => "not a firmware package, or larger than the module holds",
            Self::MISMATCH => "a package for another component",
            Self::UNTRUSTED => "signature not trusted (bad hash, unsigned, or an unknown key)",
            Self::INSTALL => "the bootloader refused to install the package",
            Self::REVERTED => "the new firmware did not confirm itself; the previous one was restored",
            _ => return format!("error code {}", self.0),
        };
        known.to_string()
    }
}

impl Gtota {
    /// Reads one line (terminators and blanks around it allowed).
    pub fn parse(line: &str) -> Result<Self, Error> {
        let line = field::trim(line);
        if !line.starts_with(GTOTA) {
            return Err(Error::Unrecognised { expected: "a GTOTA URC" });
        }
        match line {
            DOWNLOAD_START => return Ok(Self::DownloadStart),
            DOWNLOAD_COMPLETE => return Ok(Self::DownloadComplete),
            UPGRADE_SUCCESS => return Ok(Self::UpgradeSuccess),
            _ => {}
        }
        if let Ok(rest) = field::after(line, DOWNLOADING, URC) {
            let percent = rest
                .strip_suffix('%')
                .ok_or_else(|| Error::malformed(URC, "the percentage must end in %"))?;
            return field::unsigned(percent, URC, "the percentage").map(Self::Downloading);
        }
        if let Ok(rest) = field::after(line, DOWNLOAD_FAILED, URC) {
            return field::unsigned(rest, URC, "the code").map(|c| Self::DownloadFailed(DownloadFailure(c)));
        }
        if let Ok(rest) = field::after(line, UPGRADE_FAILED, URC) {
            return field::unsigned(rest, URC, "the code").map(|c| Self::UpgradeFailed(UpgradeFailure(c)));
        }
        Err(Error::Unrecognised { expected: "a GTOTA URC" })
    }

    /// The percentage of a progress URC.
    pub fn percent(&self) -> Option<u8> {
        match self {
            Self::Downloading(p) => Some(*p),
            _ => None,
        }
    }

    /// Whether this ends the update: success after the reboot, or the package refused.
    pub fn is_result(&self) -> bool {
        matches!(self, Self::UpgradeSuccess | Self::UpgradeFailed(_))
    }

    /// Whether this is a failure (of the download or of the upgrade).
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::DownloadFailed(_) | Self::UpgradeFailed(_))
    }

    /// What the URC tells a user, in words: a summary line for the host.
    pub fn meaning(&self) -> String {
        match self {
            Self::DownloadStart => "download started".to_string(),
            Self::Downloading(p) => format!("downloading: {p}%"),
            Self::DownloadComplete => "downloaded: verifying, then the module reboots to install".to_string(),
            Self::DownloadFailed(c) => format!("download failed: {}", c.text()),
            Self::UpgradeSuccess => "updated: the new firmware runs".to_string(),
            Self::UpgradeFailed(c) if *c == UpgradeFailure::REVERTED => {
                "reverted: the new firmware did not confirm itself".to_string()
            }
            Self::UpgradeFailed(c) if *c == UpgradeFailure::INSTALL => {
                "activation failed: the bootloader refused to install the package".to_string()
            }
            Self::UpgradeFailed(c) if *c == UpgradeFailure::MISMATCH => {
                "mismatch: the package is for another component".to_string()
            }
            Self::UpgradeFailed(c) => format!("rejected: {}", c.text()),
        }
    }
}

impl fmt::Display for Gtota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DownloadStart => f.write_str(DOWNLOAD_START),
            Self::Downloading(p) => write!(f, "{DOWNLOADING} {p}%"),
            Self::DownloadComplete => f.write_str(DOWNLOAD_COMPLETE),
            Self::DownloadFailed(c) => write!(f, "{DOWNLOAD_FAILED} {}", c.0),
            Self::UpgradeSuccess => f.write_str(UPGRADE_SUCCESS),
            Self::UpgradeFailed(c) => write!(f, "{UPGRADE_FAILED} {}", c.0),
        }
    }
}

/// `AT+GTOTA=<type>,"<url>"[,"<filename>","<username>","<password>"]`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GtotaCommand {
    /// Type 0: download over HTTP; `url` carries the path (`http://` optional).
    Http {
        /// The package's URL, at most [`MAX_STRING`] bytes.
        url: String,
    },
    /// Type 1: download over FTP.
    Ftp(FtpLogin),
}

/// Where and as whom a type 1 (FTP) download logs in.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpLogin {
    /// The server: `host`, `host:port`, or either with `ftp://`.
    pub server: String,
    /// The package's file name, which may include a path.
    pub file: String,
    /// The FTP user.
    pub user: String,
    /// The FTP password: sent on the command line, never shown by `Debug`.
    pub password: String,
}

impl fmt::Debug for GtotaCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url } => f.debug_struct("Http").field("url", url).finish(),
            Self::Ftp(login) => f.debug_tuple("Ftp").field(login).finish(),
        }
    }
}

impl fmt::Debug for FtpLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpLogin")
            .field("server", &self.server)
            .field("file", &self.file)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl GtotaCommand {
    /// Reads a whole command line, e.g. `AT+GTOTA=0,"http://h/pkg.bin"`.
    pub fn parse(line: &str) -> Result<Self, Error> {
        Self::from_args(&field::set_args(line, "+GTOTA", "an AT+GTOTA command")?)
    }

    /// Reads the parameters of `AT+GTOTA=...` as the AT parser gave them. Checks, in this order:
    /// the number of parameters, `<type>`, each string (quoted, then at most [`MAX_STRING`]
    /// bytes: [`Error::TooLong`]), the URL, then which strings the type needs. The URL's and
    /// server's own syntax is the caller's.
    pub fn from_args(args: &Args) -> Result<Self, Error> {
        if args.len() > 5 {
            return Err(Error::malformed(COMMAND, format!("{} parameters, at most 5", args.len())));
        }
        let kind = match field::int(args, 0, COMMAND, "<type>") {
            Ok(Some(k @ (0 | 1))) => k,
            Ok(Some(k)) => {
                return Err(Error::malformed(COMMAND, format!("<type> {k} is not 0 (HTTP) or 1 (FTP)")));
            }
            _ => return Err(Error::malformed(COMMAND, "<type> must be 0 (HTTP) or 1 (FTP)")),
        };
        let mut strings: [Option<&str>; 5] = [None; 5];
        for (i, name) in [(1, "<url>"), (2, "<filename>"), (3, "<username>"), (4, "<password>")] {
            let s = field::string(args, i, COMMAND, name)?;
            if let Some(len) = s.map(str::len).filter(|len| *len > MAX_STRING) {
                return Err(Error::TooLong { field: name, len, max: MAX_STRING });
            }
            strings[i] = s;
        }
        let [_, url, file, user, password] = strings;
        let url =
            url.filter(|u| !u.is_empty()).ok_or_else(|| Error::malformed(COMMAND, "<url> is missing"))?;
        if kind == 0 {
            if file.is_some() || user.is_some() || password.is_some() {
                return Err(Error::malformed(
                    COMMAND,
                    "HTTP (type 0) takes only the URL: the file is part of it",
                ));
            }
            return Ok(Self::Http { url: url.to_string() });
        }
        let (Some(file), Some(user), Some(password)) = (file, user, password) else {
            return Err(Error::malformed(
                COMMAND,
                "FTP (type 1) needs <filename>, <username> and <password>",
            ));
        };
        if file.is_empty() || user.is_empty() {
            return Err(Error::malformed(COMMAND, "<filename> and <username> must not be empty"));
        }
        Ok(Self::Ftp(FtpLogin {
            server: url.to_string(),
            file: file.to_string(),
            user: user.to_string(),
            password: password.to_string(),
        }))
    }
}

impl fmt::Display for GtotaCommand {
    /// The command line, password included: it is what goes to the module, never to a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url } => write!(f, "AT+GTOTA=0,{}", quote(url)),
            Self::Ftp(l) => write!(
                f,
                "AT+GTOTA=1,{},{},{},{}",
                quote(&l.server),
                quote(&l.file),
                quote(&l.user),
                quote(&l.password)
            ),
        }
    }
}

/// An `AT+GTSET` setting, kept across power cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// `CALLBREAK`: 1 keeps an incoming call from breaking the data session.
    CallBreak,
    /// `GPRSFIRST`: 1 gives data priority over voice.
    GprsFirst,
}

impl Setting {
    /// Every setting, in the order `AT+GTSET?` lists them.
    pub const ALL: [Self; 2] = [Self::CallBreak, Self::GprsFirst];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::CallBreak => "CALLBREAK",
            Self::GprsFirst => "GPRSFIRST",
        }
    }

    /// The setting of a name, in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The line of `AT+GTSET=?` for this setting: `+GTSET: "<NAME>",(0,1)`.
    pub fn test_line(self) -> String {
        format!("{GTSET_PREFIX} {},(0,1)", quote(self.name()))
    }
}

/// `AT+GTSET="<name>"[,<0|1>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GtsetCommand {
    /// `AT+GTSET="<name>"`: report one setting.
    Query(Setting),
    /// `AT+GTSET="<name>",<0|1>`: change one setting.
    Set(Setting, bool),
}

impl GtsetCommand {
    /// Reads a whole command line, e.g. `AT+GTSET="CALLBREAK",1`.
    pub fn parse(line: &str) -> Result<Self, Error> {
        Self::from_args(&field::set_args(line, "+GTSET", "an AT+GTSET command")?)
    }

    /// Reads the parameters of `AT+GTSET=...` as the AT parser gave them.
    pub fn from_args(args: &Args) -> Result<Self, Error> {
        let name = field::string(args, 0, GTSET, "<name>")?
            .ok_or_else(|| Error::malformed(GTSET, "<name> is missing"))?;
        let setting = Setting::from_name(name)
            .ok_or_else(|| Error::malformed(GTSET, "<name> is not CALLBREAK or GPRSFIRST"))?;
        if args.len() > 2 {
            return Err(Error::malformed(GTSET, "at most 2 parameters"));
        }
        match field::int(args, 1, GTSET, "<value>")? {
            None => Ok(Self::Query(setting)),
            Some(v @ (0 | 1)) => Ok(Self::Set(setting, v == 1)),
            Some(_) => Err(Error::malformed(GTSET, "<value> must be 0 or 1")),
        }
    }
}

impl fmt::Display for GtsetCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Query(s) => write!(f, "AT+GTSET={}", quote(s.name())),
            Self::Set(s, v) => write!(f, "AT+GTSET={},{}", quote(s.name()), u8::from(*v)),
        }
    }
}

/// One setting's line in the answer to `AT+GTSET?` or `AT+GTSET="<name>"`:
/// `+GTSET: "<NAME>",<value>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GtsetValue {
    /// Which setting.
    pub setting: Setting,
    /// Its stored value (0 or 1 from a well-behaved module).
    pub value: u8,
}

impl GtsetValue {
    /// Reads one response line.
    pub fn parse(line: &str) -> Result<Self, Error> {
        const WHAT: &str = "+GTSET answer";
        let rest = field::after(line, GTSET_PREFIX, "a +GTSET answer")?;
        let args = field::response_args(rest, WHAT)?;
        let name = field::string(&args, 0, WHAT, "<name>")?.unwrap_or_default();
        let setting = Setting::from_name(name).ok_or_else(|| Error::malformed(WHAT, "unknown setting"))?;
        match (field::int(&args, 1, WHAT, "<value>")?.map(u8::try_from), args.len()) {
            (Some(Ok(value)), 2) => Ok(Self { setting, value }),
            _ => Err(Error::malformed(WHAT, "expected \"<name>\",<value>")),
        }
    }
}

impl fmt::Display for GtsetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{GTSET_PREFIX} {},{}", quote(self.setting.name()), self.value)
    }
}

/// The answer to `AT+CGMR`: `+CGMR: "<model>_V<version>"`, e.g. `+CGMR: "NL668-EAU_V1.1.0"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// The model, e.g. `NL668-EAU`.
    pub model: String,
    /// The installed package's version, e.g. `1.1.0` (`unknown` when none is valid).
    pub version: String,
}

impl Revision {
    /// Reads one response line.
    pub fn parse(line: &str) -> Result<Self, Error> {
        const WHAT: &str = "+CGMR answer";
        let rest = field::after(line, CGMR_PREFIX, "a +CGMR answer")?;
        let args = field::response_args(rest, WHAT)?;
        let text = match (field::string(&args, 0, WHAT, "the revision")?, args.len()) {
            (Some(t), 1) => t,
            _ => return Err(Error::malformed(WHAT, "expected one quoted revision")),
        };
        let (model, version) = text
            .rsplit_once(VERSION_MARK)
            .ok_or_else(|| Error::malformed(WHAT, "the revision has no _V<version>"))?;
        Ok(Self { model: model.to_string(), version: version.to_string() })
    }

    /// The revision string, e.g. `NL668-EAU_V1.1.0`, as `ATI` shows it after `Revision: `.
    pub fn text(&self) -> String {
        format!("{}{VERSION_MARK}{}", self.model, self.version)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CGMR_PREFIX} {}", quote(&self.text()))
    }
}

#[cfg(test)]
mod tests;
