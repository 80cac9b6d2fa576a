//! What the engine tells the profile, in profile-neutral terms.
//!
//! Owns the vocabulary only: each profile turns these into its own URCs
//! (`#XFOTA: 1,0,42` or `GTOTA DOWNLOADING: 42%`).

use std::fmt;

/// Something the host should hear about, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server answered and the first bytes are on their way.
    DownloadStarted {
        /// Where this transfer starts (non-zero when resuming).
        offset: u64,
        /// Size of the whole file.
        total: u64,
    },
    /// Percentage of the file now received; each value is sent once.
    Progress(u8),
    /// The modem's scratch area holds an earlier package and is being erased
    /// before the download starts (`#XFOTA: 2,0`).
    ErasePending,
    /// The scratch area is erased; the download starts (`#XFOTA: 3,0`).
    Erased,
    /// Every byte is stored; verification follows at once.
    TransferComplete,
    /// The image is complete, verified and scheduled: it waits for a reset.
    Downloaded,
    /// The download ended without a usable image.
    DownloadFailed(Failure),
    /// The host cancelled the download (bytes so far are kept for a resume).
    Cancelled,
    /// The outcome of the upgrade, reported once after the reboot that installed it.
    Result(UpgradeResult),
}

/// How an upgrade attempt ended, as seen after reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeResult {
    /// The new image runs and confirmed itself.
    Complete,
    /// The new image did not confirm itself; the previous one runs again.
    Reverted,
    /// Activation failed; the previous image still runs.
    Failed(Failure),
}

/// Why a download or an activation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The class of failure, which profiles map to their error codes.
    pub kind: FailKind,
    /// One line for logs and the host tool, never containing secrets.
    pub detail: String,
}

impl Failure {
    /// A failure of `kind` with a human-readable detail.
    pub fn new(kind: FailKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

/// Classes of failure; profiles map them to their own codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailKind {
    /// The transfer failed after its retries: no connection, timeout, connection lost.
    Network,
    /// The server refused: an HTTP status, an unexpected FTP reply, an unusable range.
    Server,
    /// The file does not exist on the server (HTTP 404/410, FTP 550).
    NotFound,
    /// The server refused the credentials (FTP 530, HTTP 401/403).
    LoginRefused,
    /// The transfer could not be stored: flash or settings failed.
    Storage,
    /// An (emulated) incoming call broke the data session.
    CallInterrupted,
    /// Not an image, malformed, truncated, or larger than the slot.
    Invalid,
    /// The image's hash or signature does not check out (or it is unsigned).
    Untrusted,
    /// The image is of another type than the command asked for.
    Mismatch,
    /// The bootloader refused to install the image.
    Install,
    /// Applying a modem update failed with this modem error code (Nordic's
    /// 71303169..71303172); the old modem firmware runs.
    ModemUpdate(u32),
}

impl FailKind {
    /// Whether the bytes stored so far are worth keeping for a resume.
    pub fn keeps_bytes(&self) -> bool {
        !matches!(self, Self::Invalid | Self::Untrusted | Self::Mismatch)
    }
}
