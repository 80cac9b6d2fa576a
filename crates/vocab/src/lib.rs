//! The AT vocabulary of each device profile: its commands, URCs and the response lines a host
//! reads, each written exactly once as a typed value that is parsed from a line and emitted back
//! to one (the smoltcp `wire` way: a typed representation with `parse` and `Display`).
//!
//! Both sides of the product speak these strings: the emulated modem (`atfota-fota`'s profiles)
//! emits URCs and parses commands, and the host driver (`atfota-host`) emits commands and parses
//! URCs. Keeping the wording here means the two cannot drift apart, and the round-trip tests
//! below pin every byte.
//!
//! This crate owns wording and field syntax only: what a device does on a command, which failure
//! gets which code, and what a host does on a URC belong to the profiles and the driver. It must
//! never do IO, read a clock or panic on a line from outside: a line that is not the message asked
//! for is an [`Error`], and an error never carries a value that may be secret (a password).
//!
//! ```
//! use atfota_vocab::slm::{Download, Urc, Xfota, XfotaCommand};
//!
//! let start = XfotaCommand::StartApp(Download::new("http://192.0.2.1/app.bin"));
//! assert_eq!(start.to_string(), r#"AT#XFOTA=1,"http://192.0.2.1/app.bin""#);
//! assert_eq!(Urc::parse("#XFOTA: 1,0,42"), Ok(Urc::Xfota(Xfota::Progress(42))));
//! assert!(Xfota::parse("#XFOTA: 5,3")?.is_result());
//! # Ok::<(), atfota_vocab::Error>(())
//! ```

pub mod nl668;
pub mod slm;

mod field;

/// A line or command that is not the message it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The line is some other message (another URC, a response, noise).
    #[error("the line is not {expected}")]
    Unrecognised {
        /// What the line was parsed as, e.g. "a #XFOTA URC".
        expected: &'static str,
    },
    /// The line is this message but one of its fields is wrong.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// The message, e.g. "#XFOTA URC".
        what: &'static str,
        /// What is wrong, naming the field by position, never by value.
        why: String,
    },
    /// A string parameter is longer than the command allows.
    #[error("{field} is {len} bytes, at most {max}")]
    TooLong {
        /// The parameter, e.g. "<file_url>".
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The command line does not follow the AT syntax.
    #[error(transparent)]
    Syntax(#[from] atfota_at::ParseError),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed { what, why: why.into() }
    }
}
