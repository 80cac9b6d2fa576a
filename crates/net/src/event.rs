//! What a download reports to its caller while it runs ([`Event`], [`StartInfo`]) and how it
//! ends ([`Outcome`]). Plain data; it must never carry IO handles or owned body buffers.

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

/// Where the bytes of a response sit in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    /// File offset of the first byte that follows (0 when the server sent the whole file).
    pub offset: u64,
    /// Size of the whole file.
    pub total: u64,
    /// ETag (strong) or Last-Modified of the file (FTP: its MDTM time), to keep for a later
    /// resume.
    pub validator: Option<String>,
}

/// How a download ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every byte up to the file's size was delivered.
    Complete,
    /// The caller cancelled (callback returned `Break`, or the cancel token fired).
    Cancelled,
}
