//! The vocabulary of a firmware download, with no IO in it: where a file
//! comes from ([`Source`]: an http(s) URL, or a file on an FTP server with
//! its login), the rules those parameters follow, where an interrupted
//! download resumes ([`Resume`]), and what a transfer reports back
//! ([`StartInfo`], [`Outcome`], [`TransferError`] with its neutral
//! [`FailureClass`]).
//!
//! The FOTA engine depends on this crate only, so Cargo itself keeps the
//! engine sans-IO; the blocking client that does the transfers (sockets,
//! TLS, ureq) is `atfota-net`, beside it. This crate must never open a
//! socket, read a clock, or print a password or a URL's credentials.

mod ftp;
mod source;
mod tls;
mod transfer;

pub use ftp::{FtpShown, FtpSource, parse_ftp_server};
pub use source::{HttpSource, Redacted, Source, UrlError, check_http_url, parse_http_url, redacted};
pub use tls::{ClientIdentity, KeyKind, TlsCredentials};
pub use transfer::{FailureClass, Outcome, Resume, StartInfo, TransferError};
