//! What a download reports to its caller while it runs ([`Event`]); how it ends and where its
//! bytes sit are the IO-free vocabulary of `atfota-download`. Plain data; it must never carry
//! IO handles or owned body buffers.

use atfota_download::StartInfo;

use crate::error::DownloadError;

/// A step of a running download, handed to the caller's callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A response is about to deliver body bytes; sent before its first [`Event::Data`].
    Started(StartInfo),
    /// The next bytes of the file, contiguous with the previous ones of the same response.
    Data(&'a [u8]),
    /// A transient failure; the download tries again (from the bytes already delivered).
    Retrying {
        /// 1 for the first retry, up to `Options::retries`.
        attempt: u32,
        /// The failure being retried.
        cause: &'a DownloadError,
    },
}
