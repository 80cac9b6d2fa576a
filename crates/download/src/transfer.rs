//! What a transfer reports to whoever asked for it: where its bytes sit in
//! the file ([`StartInfo`]), how it ended ([`Outcome`], [`TransferError`]),
//! and where a later one resumes ([`Resume`]). Plain data: it must never
//! carry IO handles, buffers, URLs or passwords.

use std::fmt;

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

/// Where an interrupted download continues.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// Bytes of the file already stored; the request asks for `bytes=offset-` (FTP: `REST`).
    pub offset: u64,
    /// ETag (or Last-Modified) of the response those bytes came from, sent as `If-Range`;
    /// for FTP the MDTM time, compared with the server's before resuming.
    pub validator: Option<String>,
}

/// Classes of transfer failure, in terms every client can report and every
/// device profile can map to its own error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureClass {
    /// The server could not be reached or the connection was lost (after retries).
    Network,
    /// The server answered, but not with the file: a status, a malformed or inconsistent reply.
    Server,
    /// The file does not exist on the server (HTTP 404/410, FTP 550).
    NotFound,
    /// The server refused the login or the access (FTP 530, HTTP 401/403).
    LoginRefused,
    /// The secure connection could not be established: certificate, host name, protocol
    /// version, or credentials.
    Tls,
    /// The request itself could not be made: a bad source or option.
    Local,
}

/// Why a transfer failed: a class and one line for logs, never with secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferError {
    /// The class of failure.
    pub class: FailureClass,
    /// What happened, as a sentence.
    pub message: String,
}

impl TransferError {
    /// A failure of `class`.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self { class, message: message.into() }
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransferError {}
