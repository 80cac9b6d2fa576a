//! Firmware download clients for the emulated modem: HTTP/1.1 and HTTPS (rustls, ring, only
//! the caller's CA roots) and FTP (passive, with user and password), streamed into a callback,
//! resumable with `Range`/`If-Range` or `REST`, with bounded retries, redirects, an idle
//! timeout, cancellation and an emulated link speed.
//!
//! [`download`] runs on the caller's thread (the modem runs it on a download thread) and hands
//! every chunk to the callback as it arrives, from one buffer reused for the whole download:
//! the body is never buffered, so memory stays at one chunk plus ureq's 128 KiB input buffer
//! (or a 4 KiB FTP reply buffer) whatever the image size. The engine persists how far it got;
//! passing that back as [`Resume`] continues where the bytes stopped. The behaviour matches
//! Nordic's download client (spec/nordic-xfota.md §2) and, for FTP, the Fibocom `AT+GTOTA=1`
//! download (spec/fibocom-gtota.md). This crate must never write files, hold the body in
//! memory, or log credentials.

mod body;
mod cancel;
mod error;
mod event;
mod ftp;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod link;
mod options;
mod response;
mod retry;
mod throttle;

use std::ops::ControlFlow;

pub use atfota_download::{
    FailureClass, FtpSource, HttpSource, Outcome, Resume, Source, StartInfo, TransferError, UrlError,
    parse_ftp_server, parse_http_url,
};
pub use cancel::CancelToken;
pub use error::DownloadError;
pub use event::Event;
pub use link::Link;
pub use options::Options;

/// Downloads `source` from `resume` (or the start), reporting each step to `on_event`.
///
/// Returns `Ok(Outcome::Complete)` once every byte up to the file's size was delivered,
/// `Ok(Outcome::Cancelled)` as soon as the callback returns `Break`, or the last error after
/// `opts.retries` retries of transient failures.
pub fn download(
    source: &Source,
    resume: Option<&Resume>,
    opts: &Options,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, DownloadError> {
    download_with_cancel(source, resume, opts, &CancelToken::new(), on_event)
}

/// [`download`] that `cancel` can also stop from another thread, even mid-read.
pub fn download_with_cancel(
    source: &Source,
    resume: Option<&Resume>,
    opts: &Options,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, DownloadError> {
    match source {
        Source::Http(http) => http::download_http(http, resume, opts, cancel, on_event),
        Source::Ftp(ftp) => ftp::download_ftp(ftp, resume, opts, cancel, on_event),
        _ => Err(DownloadError::BadOptions("this kind of source is not supported by this client")),
    }
}
