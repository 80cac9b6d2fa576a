//! The Nordic Serial LTE Modem (`nrf9160-slm`) vocabulary: `AT#XFOTA` and its URC
//! `#XFOTA: <stage>,<status>[,<info>]`, the `Ready` banner, `AT#XRESET`, `AT#XSLMVER` and its
//! answer, `AT+CGMR` (spec/nordic-xfota.md, docs/AT-nrf9160-slm.md).
//!
//! It owns these strings and their field syntax; which event gives which URC and what a command
//! does belong to the device profile, what a host does next to the driver.

use std::fmt;

use atfota_at::{Args, quote};

use crate::{Error, field};

/// The banner the device prints when a boot completes.
pub const READY: &str = "Ready";
/// Reboots the device (`OK`, then the reboot; [`READY`] when it is up).
pub const RESET: &str = "AT#XRESET";
/// Asks for the running versions: answered by a [`SlmVersion`] line.
pub const SLMVER: &str = "AT#XSLMVER";
/// Asks for the modem firmware version: answered by the bare version, e.g. `mfw_nrf9160_1.3.5`.
pub const CGMR: &str = "AT+CGMR";
/// The answer to `AT#XFOTA=?`: the ops this profile supports and the parameters.
pub const XFOTA_TEST: &str = "#XFOTA: (0,1,2,8,9),<file_url>,<sec_tag>,<apn>";
/// Longest `<file_url>`, in bytes (Nordic's `FILE_URI_MAX` less its NUL).
pub const MAX_URL_LEN: usize = 255;
/// Longest `<apn>`, in bytes (3GPP TS 23.003 §9.1).
pub const MAX_APN_LEN: usize = 63;
/// Largest `<sec_tag>` (the modem's credential store takes a non-negative `i32`).
pub const MAX_SEC_TAG: u32 = 0x7fff_ffff;

const XFOTA_PREFIX: &str = "#XFOTA:";
const SLMVER_PREFIX: &str = "#XSLMVER:";
const URC: &str = "#XFOTA URC";
const COMMAND: &str = "AT#XFOTA command";

/// Any unsolicited line of this profile: what a host sets apart from command responses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Urc {
    /// `Ready`: a boot completed.
    Ready,
    /// `#XFOTA: ...`.
    Xfota(Xfota),
}

impl Urc {
    /// Reads one line (terminators and blanks around it allowed).
    pub fn parse(line: &str) -> Result<Self, Error> {
        if field::trim(line) == READY {
            return Ok(Self::Ready);
        }
        Xfota::parse(line).map(Self::Xfota).map_err(|e| match e {
            Error::Unrecognised { .. } => Error::Unrecognised { expected: "a Ready or #XFOTA URC" },
            other => other,
        })
    }
}

impl fmt::Display for Urc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str(READY),
            Self::Xfota(x) => x.fmt(f),
        }
    }
}

/// The `#XFOTA` URC, one variant per combination the profile documents.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Xfota {
    /// `1,0,<percent>`: download progress (0..=100 from a well-behaved modem).
    Progress(u8),
    /// `1,1,<err>`: the download failed or the image was refused.
    DownloadFailed(FotaError),
    /// `1,2,0`: the download was cancelled (`AT#XFOTA=0`).
    Cancelled,
    /// `2,0`: modem FOTA: the scratch area holds an earlier package and is being erased.
    ErasePending,
    /// `3,0`: modem FOTA: the scratch area is erased, the download starts.
    Erased,
    /// `4,0`: downloaded, verified and scheduled: `AT#XRESET` activates it.
    Downloaded,
    /// `5,0`: after the reboot: the new image runs (and confirmed itself).
    Complete,
    /// `5,1,<err>`: after the reboot: activation failed; the old image runs.
    ActivationFailed(FotaError),
    /// `5,3`: after the reboot: the new application did not confirm itself and was reverted.
    Reverted,
    /// A well-formed `#XFOTA` URC of no combination above (stage 0 "init", another firmware's).
    Other(RawXfota),
}

/// The three numbers of an `#XFOTA` URC outside the documented combinations; made only by
/// [`Xfota::parse`], so it never holds a combination that has its own [`Xfota`] variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawXfota {
    stage: u32,
    status: u32,
    info: Option<i64>,
}

/// `<fota_stage>` (the first number of the URC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// 0: init.
    Init,
    /// 1: download.
    Download,
    /// 2: download, erase pending (modem FOTA only).
    ErasePending,
    /// 3: download, erased (modem FOTA only).
    Erased,
    /// 4: downloaded, to be activated.
    Downloaded,
    /// 5: complete (after the reboot).
    Complete,
}

/// `<fota_status>` (the second number of the URC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// 0: OK.
    Ok,
    /// 1: error.
    Error,
    /// 2: cancelled.
    Cancelled,
    /// 3: reverted (application FOTA only).
    Reverted,
}

/// A `<fota_info>` error code (stage 1 or 5, status 1), printed in decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FotaError(pub u32);

impl FotaError {
    /// 1: the download failed (network, server, TLS, offline).
    pub const DOWNLOAD_FAILED: Self = Self(1);
    /// 2: the image was rejected (invalid, not trusted, a rollback, too large).
    pub const IMAGE_REJECTED: Self = Self(2);
    /// 3: the image is not of the type the op asked for.
    pub const IMAGE_MISMATCH: Self = Self(3);
    /// 0x4400001: modem update, fatal internal error.
    pub const MODEM_INTERNAL: Self = Self(0x440_0001);
    /// 0x4400002: modem update, fatal hardware error.
    pub const MODEM_HARDWARE: Self = Self(0x440_0002);
    /// 0x4400003: modem update, authentication error.
    pub const MODEM_AUTHENTICATION: Self = Self(0x440_0003);
    /// 0x4400004: modem update, UUID mismatch.
    pub const MODEM_UUID_MISMATCH: Self = Self(0x440_0004);

    /// What the code means, in words; a code not in the table says so with its number.
    pub fn text(&self) -> String {
        let known = match *self {
            Self::DOWNLOAD_FAILED => "the download failed (network, server or TLS)",
            Self::IMAGE_REJECTED => {
                "the image was rejected (invalid, not signed by a trusted key, or older than the running one)"
            }
            Self::IMAGE_MISMATCH => "the image is not of the type asked for (application or modem)",
            Self::MODEM_INTERNAL => "modem internal error: the patch does not produce the firmware it names",
            Self::MODEM_HARDWARE => "modem hardware error: a flash operation failed while applying",
            Self::MODEM_AUTHENTICATION => "modem authentication error: the stored package no longer verifies",
            Self::MODEM_UUID_MISMATCH => "modem UUID mismatch: the package is for another modem firmware",
            _ => return format!("error code {}", self.0),
        };
        known.to_string()
    }
}

impl Stage {
    /// The stage's number.
    pub fn code(self) -> u32 {
        match self {
            Self::Init => 0,
            Self::Download => 1,
            Self::ErasePending => 2,
            Self::Erased => 3,
            Self::Downloaded => 4,
            Self::Complete => 5,
        }
    }

    /// The stage of a number, `None` for one the vendor does not define.
    pub fn from_code(code: u32) -> Option<Self> {
        [Self::Init, Self::Download, Self::ErasePending, Self::Erased, Self::Downloaded, Self::Complete]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

impl Status {
    /// The status's number.
    pub fn code(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Cancelled => 2,
            Self::Reverted => 3,
        }
    }

    /// The status of a number, `None` for one the vendor does not define.
    pub fn from_code(code: u32) -> Option<Self> {
        [Self::Ok, Self::Error, Self::Cancelled, Self::Reverted].into_iter().find(|s| s.code() == code)
    }
}

impl Xfota {
    /// Reads one line (terminators and blanks around it and its fields allowed).
    pub fn parse(line: &str) -> Result<Self, Error> {
        let rest = field::after(line, XFOTA_PREFIX, "a #XFOTA URC")?;
        // `#XFOTA: (0,1,2,...),<file_url>,...` is the test command's answer, not a URC.
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::Unrecognised { expected: "a #XFOTA URC" });
        }
        let fields: Vec<&str> = rest.split(',').collect();
        let (stage, status, info) = match fields.as_slice() {
            [stage, status] => (stage, status, None),
            [stage, status, info] => (stage, status, Some(info)),
            _ => return Err(Error::malformed(URC, "expected <stage>,<status>[,<info>]")),
        };
        let stage = field::unsigned(stage, URC, "<stage>")?;
        let status = field::unsigned(status, URC, "<status>")?;
        let info = info.map(|i| signed(i)).transpose()?;
        Ok(Self::from_raw(RawXfota { stage, status, info }))
    }

    /// The stage number (1 for [`Xfota::Progress`]).
    pub fn stage_code(&self) -> u32 {
        self.raw().stage
    }

    /// The status number (0 for [`Xfota::Progress`]).
    pub fn status_code(&self) -> u32 {
        self.raw().status
    }

    /// The stage, when it is one the vendor defines.
    pub fn stage(&self) -> Option<Stage> {
        Stage::from_code(self.stage_code())
    }

    /// The status, when it is one the vendor defines.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.status_code())
    }

    /// The `<info>` number, when the URC has one.
    pub fn info(&self) -> Option<i64> {
        self.raw().info
    }

    /// The percentage of a progress URC.
    pub fn percent(&self) -> Option<u8> {
        match self {
            Self::Progress(p) => Some(*p),
            _ => None,
        }
    }

    /// The error code of a failure (stage 1 or 5, status 1).
    pub fn error(&self) -> Option<FotaError> {
        match self {
            Self::DownloadFailed(e) | Self::ActivationFailed(e) => Some(*e),
            _ => None,
        }
    }

    /// Whether this is the result reported after the reboot (stage 5, any status).
    pub fn is_result(&self) -> bool {
        self.stage() == Some(Stage::Complete)
    }

    /// Whether the download is over: downloaded, failed or cancelled (stage 4, or stage 1 with a
    /// status other than OK).
    pub fn ends_download(&self) -> bool {
        match self.stage() {
            Some(Stage::Downloaded) => true,
            Some(Stage::Download) => self.status() != Some(Status::Ok),
            _ => false,
        }
    }

    /// What the URC tells a user, in words: a summary line for the host.
    pub fn meaning(&self) -> String {
        match self {
            Self::Progress(p) => format!("downloading: {p}%"),
            Self::DownloadFailed(e) if *e == FotaError::DOWNLOAD_FAILED => {
                "download failed: network, server or TLS error".to_string()
            }
            Self::DownloadFailed(e) if *e == FotaError::IMAGE_REJECTED => {
                "rejected: the image is invalid, not signed by a trusted key, or a downgrade".to_string()
            }
            Self::DownloadFailed(e) if *e == FotaError::IMAGE_MISMATCH => {
                "mismatch: the image is not of the type asked for (application or modem)".to_string()
            }
            Self::DownloadFailed(e) => format!("download failed: {}", e.text()),
            Self::Cancelled => "cancelled".to_string(),
            Self::ErasePending => "erasing the modem scratch area".to_string(),
            Self::Erased => "modem scratch area erased".to_string(),
            Self::Downloaded => "downloaded and verified: reset to activate".to_string(),
            Self::Complete => "updated: the new image runs".to_string(),
            Self::ActivationFailed(e) if *e == FotaError::IMAGE_REJECTED => {
                "activation failed: the bootloader refused to install the image".to_string()
            }
            Self::ActivationFailed(e) => format!("activation failed: {}", e.text()),
            Self::Reverted => "reverted: the new image did not confirm itself".to_string(),
            Self::Other(raw) => format!("unknown FOTA state {raw}"),
        }
    }

    fn from_raw(raw: RawXfota) -> Self {
        let code = |info: Option<i64>| info.and_then(|i| u32::try_from(i).ok()).map(FotaError);
        match (raw.stage, raw.status, raw.info) {
            (1, 0, Some(p)) => u8::try_from(p).map_or(Self::Other(raw), Self::Progress),
            (1, 1, info) => code(info).map_or(Self::Other(raw), Self::DownloadFailed),
            (1, 2, Some(0)) => Self::Cancelled,
            (2, 0, None) => Self::ErasePending,
            (3, 0, None) => Self::Erased,
            (4, 0, None) => Self::Downloaded,
            (5, 0, None) => Self::Complete,
            (5, 1, info) => code(info).map_or(Self::Other(raw), Self::ActivationFailed),
            (5, 3, None) => Self::Reverted,
            _ => Self::Other(raw),
        }
    }

    fn raw(&self) -> RawXfota {
        let r = |stage, status, info: Option<i64>| RawXfota { stage, status, info };
        match self {
            Self::Progress(p) => r(1, 0, Some(i64::from(*p))),
            Self::DownloadFailed(e) => r(1, 1, Some(i64::from(e.0))),
            Self::Cancelled => r(1, 2, Some(0)),
            Self::ErasePending => r(2, 0, None),
            Self::Erased => r(3, 0, None),
            Self::Downloaded => r(4, 0, None),
            Self::Complete => r(5, 0, None),
            Self::ActivationFailed(e) => r(5, 1, Some(i64::from(e.0))),
            Self::Reverted => r(5, 3, None),
            Self::Other(raw) => *raw,
        }
    }
}

impl fmt::Display for Xfota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{XFOTA_PREFIX} {}", self.raw())
    }
}

impl fmt::Display for RawXfota {
    /// The numbers as the URC carries them: `<stage>,<status>[,<info>]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.stage, self.status)?;
        match self.info {
            Some(info) => write!(f, ",{info}"),
            None => Ok(()),
        }
    }
}

/// `<info>`: a decimal number, negative ones included (a firmware may report a negative errno).
fn signed(text: &str) -> Result<i64, Error> {
    let text = text.trim_matches([' ', '\t']);
    match text.strip_prefix('-') {
        Some(digits) => field::unsigned::<i64>(digits, URC, "<info>").map(|n| -n),
        None => field::unsigned(text, URC, "<info>"),
    }
}

/// `AT#XFOTA=<op>[,<file_url>[,<sec_tag>[,<apn>]]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XfotaCommand {
    /// Op 0: cancel the running download.
    Cancel,
    /// Op 1: download an application update (an MCUboot image).
    StartApp(Download),
    /// Op 2: download a modem delta update.
    StartModem(Download),
    /// Op 8: erase the MCUboot secondary slot.
    EraseAppSlot,
    /// Op 9: erase the modem scratch area (answers once the erase is done).
    EraseModemScratch,
}

/// What ops 1 and 2 download, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// `<file_url>`: the full `http://` or `https://` URL, at most [`MAX_URL_LEN`] bytes.
    pub url: String,
    /// `<sec_tag>`: the credentials for HTTPS, at most [`MAX_SEC_TAG`].
    pub sec_tag: Option<u32>,
    /// `<apn>`: another access point to download over, at most [`MAX_APN_LEN`] bytes.
    pub apn: Option<String>,
}

impl Download {
    /// A download of `url` with no sec_tag and the default APN.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), sec_tag: None, apn: None }
    }
}

impl XfotaCommand {
    /// Reads a whole command line, e.g. `AT#XFOTA=1,"http://h/a.bin",42`.
    pub fn parse(line: &str) -> Result<Self, Error> {
        Self::from_args(&field::set_args(line, "#XFOTA", "an AT#XFOTA command")?)
    }

    /// Reads the parameters of `AT#XFOTA=...` as the AT parser gave them. Checks, in this order:
    /// the op, the number of parameters, `<file_url>` (present, then its length:
    /// [`Error::TooLong`]), `<sec_tag>`, `<apn>`. The URL's own syntax is the caller's.
    pub fn from_args(args: &Args) -> Result<Self, Error> {
        let op = field::int(args, 0, COMMAND, "<op>")?
            .ok_or_else(|| Error::malformed(COMMAND, "<op> is missing"))?;
        let alone = |cmd: Self| {
            if args.len() > 1 {
                return Err(Error::malformed(COMMAND, format!("op {op} takes no other parameter")));
            }
            Ok(cmd)
        };
        match op {
            0 => alone(Self::Cancel),
            8 => alone(Self::EraseAppSlot),
            9 => alone(Self::EraseModemScratch),
            1 => download(args).map(Self::StartApp),
            2 => download(args).map(Self::StartModem),
            _ => Err(Error::malformed(COMMAND, format!("<op> {op} is not one of 0, 1, 2, 8, 9"))),
        }
    }

    /// The `<op>` number.
    pub fn op(&self) -> u8 {
        match self {
            Self::Cancel => 0,
            Self::StartApp(_) => 1,
            Self::StartModem(_) => 2,
            Self::EraseAppSlot => 8,
            Self::EraseModemScratch => 9,
        }
    }

    /// The download of ops 1 and 2.
    pub fn download(&self) -> Option<&Download> {
        match self {
            Self::StartApp(d) | Self::StartModem(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for XfotaCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AT#XFOTA={}", self.op())?;
        let Some(d) = self.download() else { return Ok(()) };
        write!(f, ",{}", quote(&d.url))?;
        match (d.sec_tag, &d.apn) {
            (None, None) => Ok(()),
            (Some(tag), None) => write!(f, ",{tag}"),
            (tag, Some(apn)) => {
                let tag = tag.map(|t| t.to_string()).unwrap_or_default();
                write!(f, ",{tag},{}", quote(apn))
            }
        }
    }
}

/// `<file_url>[,<sec_tag>[,<apn>]]` of ops 1 and 2.
fn download(args: &Args) -> Result<Download, Error> {
    if args.len() > 4 {
        return Err(Error::malformed(COMMAND, "too many parameters: at most 4"));
    }
    let url = match field::string(args, 1, COMMAND, "<file_url>")? {
        Some(u) if !u.is_empty() => u,
        _ => return Err(Error::malformed(COMMAND, "<file_url> is missing")),
    };
    if url.len() > MAX_URL_LEN {
        return Err(Error::TooLong { field: "<file_url>", len: url.len(), max: MAX_URL_LEN });
    }
    let sec_tag = match field::int(args, 2, COMMAND, "<sec_tag>")? {
        None => None,
        Some(t) => Some(
            u32::try_from(t)
                .ok()
                .filter(|t| *t <= MAX_SEC_TAG)
                .ok_or_else(|| Error::malformed(COMMAND, "<sec_tag> out of range 0..2147483647"))?,
        ),
    };
    let apn = field::string(args, 3, COMMAND, "<apn>")?;
    if apn.is_some_and(|a| a.len() > MAX_APN_LEN) {
        return Err(Error::malformed(COMMAND, format!("<apn> longer than {MAX_APN_LEN} bytes")));
    }
    Ok(Download { url: url.to_string(), sec_tag, apn: apn.map(str::to_string) })
}

/// The answer to `AT#XSLMVER`: `#XSLMVER: "<application>","<modem firmware>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlmVersion {
    /// The running application's version (`unknown` when no valid image runs).
    pub app: String,
    /// The running modem firmware's version.
    pub modem: String,
}

impl SlmVersion {
    /// Reads one response line.
    pub fn parse(line: &str) -> Result<Self, Error> {
        const WHAT: &str = "#XSLMVER answer";
        let rest = field::after(line, SLMVER_PREFIX, "an #XSLMVER answer")?;
        let args = field::response_args(rest, WHAT)?;
        let app = field::string(&args, 0, WHAT, "the application version")?;
        let modem = field::string(&args, 1, WHAT, "the modem version")?;
        match (app, modem, args.len()) {
            (Some(app), Some(modem), 2) => Ok(Self { app: app.to_string(), modem: modem.to_string() }),
            _ => Err(Error::malformed(WHAT, "expected \"<application>\",\"<modem>\"")),
        }
    }
}

impl fmt::Display for SlmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SLMVER_PREFIX} {},{}", quote(&self.app), quote(&self.modem))
    }
}

#[cfg(test)]
mod tests;
