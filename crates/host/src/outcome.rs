//! What happens during an update ([`Event`]) and how it ends ([`Outcome`]), with the fixed exit
//! codes of `atfota update` and the words of its summary line.
//!
//! Owns the one table from outcome to exit code. Never holds a password: events carry command
//! lines as they may be shown.

use std::fmt;

/// Something the host saw or did, reported as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A command line went to the modem (passwords masked).
    Sent {
        /// The line as it may be shown.
        line: String,
    },
    /// A line of a command's response arrived: information text or the final result (the
    /// echo is left out).
    Response {
        /// The line as received.
        line: String,
    },
    /// An unsolicited result code arrived.
    Urc {
        /// The line as received.
        line: String,
    },
    /// The modem accepted the start command: the download runs.
    DownloadStarted,
    /// The modem erases its scratch area before the download (modem updates; slow).
    Erasing,
    /// The download reached a new percentage (repeats are not reported).
    Progress {
        /// Percent downloaded, 0 to 100.
        percent: u8,
    },
    /// The download failed or stalled and starts again (it resumes where it stopped).
    Retrying {
        /// The retry's number, from 1.
        attempt: u32,
        /// Why the previous attempt failed.
        reason: String,
    },
    /// Every byte is stored on the modem.
    Downloaded,
    /// The modem is rebooting into the new image.
    Rebooting,
    /// The modem printed its boot banner (or reported its result) after the reboot.
    Booted,
    /// The modem reported the update's result.
    Result {
        /// The URC that carried it.
        line: String,
        /// The result in words.
        summary: String,
    },
}

/// How an update ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The new image runs and confirmed itself.
    Updated {
        /// The version the modem reports now, when it answered.
        version: Option<String>,
    },
    /// Downloaded and verified, left for a later activation (`--no-activate`).
    Downloaded,
    /// The request cannot be carried out by this profile.
    Invalid(String),
    /// The port could not be opened, read or written.
    Port(String),
    /// The modem answered a command with `ERROR` or `+CME ERROR`.
    Refused {
        /// The command (passwords masked).
        command: String,
        /// Its final result.
        result: String,
    },
    /// The download failed on every attempt.
    DownloadFailed {
        /// Why the last attempt failed.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The modem refused the image (not valid, not trusted).
    Rejected(String),
    /// The image is not of the kind asked for.
    Mismatch(String),
    /// Installing or activating the new image failed.
    ActivationFailed {
        /// Why.
        reason: String,
        /// The version running now, when the modem answered.
        version: Option<String>,
    },
    /// The new image did not confirm itself and the previous one was restored.
    Reverted {
        /// The version running now, when the modem answered.
        version: Option<String>,
    },
    /// Something expected did not come in time (a stalled download, a reboot, a reply).
    TimedOut(String),
    /// The user interrupted the update.
    Interrupted,
}

impl Outcome {
    /// The exit code of `atfota update` for this outcome (a fixed contract).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Updated { .. } | Self::Downloaded => 0,
            Self::Invalid(_) => 2,
            Self::Port(_) => 3,
            Self::Refused { .. } => 4,
            Self::DownloadFailed { .. } => 5,
            Self::Rejected(_) => 6,
            Self::Mismatch(_) => 7,
            Self::ActivationFailed { .. } => 8,
            Self::Reverted { .. } => 9,
            Self::TimedOut(_) => 10,
            Self::Interrupted => 130,
        }
    }

    /// The kind of ending in one stable word (`updated`, `port-error`, `rejected`, ...), as
    /// campaign reports group and name them.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Updated { .. } => "updated",
            Self::Downloaded => "downloaded",
            Self::Invalid(_) => "invalid",
            Self::Port(_) => "port-error",
            Self::Refused { .. } => "refused",
            Self::DownloadFailed { .. } => "download-failed",
            Self::Rejected(_) => "rejected",
            Self::Mismatch(_) => "mismatch",
            Self::ActivationFailed { .. } => "activation-failed",
            Self::Reverted { .. } => "reverted",
            Self::TimedOut(_) => "timed-out",
            Self::Interrupted => "interrupted",
        }
    }

    /// The version the modem reported at the end, when the outcome carries one.
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::Updated { version }
            | Self::ActivationFailed { version, .. }
            | Self::Reverted { version } => version.as_deref(),
            _ => None,
        }
    }

    /// True when the update did what was asked.
    pub fn is_success(&self) -> bool {
        self.exit_code() == 0
    }

    /// Fills in the running version of an outcome that reports one.
    pub(crate) fn set_version(&mut self, v: String) {
        match self {
            Self::Updated { version }
            | Self::ActivationFailed { version, .. }
            | Self::Reverted { version } => *version = Some(v),
            _ => {}
        }
    }
}

impl fmt::Display for Outcome {
    /// The summary line: the result in words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let running = |v: &Option<String>| v.as_ref().map(|v| format!(" (running {v})")).unwrap_or_default();
        match self {
            Self::Updated { version: Some(v) } => write!(f, "updated: now running {v}"),
            Self::Updated { version: None } => f.write_str("updated"),
            Self::Downloaded => f.write_str("downloaded and verified, not activated (--no-activate)"),
            Self::Invalid(why) => write!(f, "invalid request: {why}"),
            Self::Port(why) => write!(f, "port error: {why}"),
            Self::Refused { command, result } => write!(f, "refused: {command} answered {result}"),
            Self::DownloadFailed { reason, attempts } => {
                let tries = if *attempts == 1 { "1 attempt".into() } else { format!("{attempts} attempts") };
                write!(f, "download failed: {reason} ({tries})")
            }
            Self::Rejected(why) => write!(f, "rejected: {why}"),
            Self::Mismatch(why) => write!(f, "image mismatch: {why}"),
            Self::ActivationFailed { reason, version } => {
                write!(f, "activation failed: {reason}{}", running(version))
            }
            Self::Reverted { version } => {
                write!(f, "reverted: the new image did not confirm itself{}", running(version))
            }
            Self::TimedOut(what) => write!(f, "timed out: {what}"),
            Self::Interrupted => f.write_str("interrupted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let cases = [
            (Outcome::Updated { version: None }, 0),
            (Outcome::Downloaded, 0),
            (Outcome::Invalid(String::new()), 2),
            (Outcome::Port(String::new()), 3),
            (Outcome::Refused { command: "AT".into(), result: "ERROR".into() }, 4),
            (Outcome::DownloadFailed { reason: String::new(), attempts: 3 }, 5),
            (Outcome::Rejected(String::new()), 6),
            (Outcome::Mismatch(String::new()), 7),
            (Outcome::ActivationFailed { reason: String::new(), version: None }, 8),
            (Outcome::Reverted { version: None }, 9),
            (Outcome::TimedOut(String::new()), 10),
            (Outcome::Interrupted, 130),
        ];
        let mut kinds = std::collections::HashSet::new();
        for (o, code) in &cases {
            assert_eq!(o.exit_code(), *code, "{o}");
            assert!(kinds.insert(o.kind()), "each ending has its own kind: {}", o.kind());
        }
    }
}
