//! [`DownloadError`]: every way a download can fail (HTTP and FTP), which of them are worth a
//! retry, and the translation of ureq's errors into them (by the phase they happened in:
//! opening the request or reading the body).
//!
//! It must never put a URL or a password in a message: messages are shown to users and logged,
//! and URLs may carry credentials. FTP server texts reach messages only through the FTP
//! control connection, which scrubs the password out of them first.

use std::io;
use std::time::Duration;

use atfota_download::{FailureClass, TransferError, UrlError};

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The source's URL is not an http(s) URL naming a file.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// An https URL (or a redirect to one) without any CA certificate to trust.
    #[error("https needs at least one CA certificate to trust; provide the server's root CA")]
    NoCaCertificates,
    /// An option has a value the downloader cannot work with.
    #[error("invalid download options: {0}")]
    BadOptions(&'static str),
    /// The host name did not resolve.
    #[error("the server's host name could not be resolved; check the URL and the DNS setup")]
    HostNotFound,
    /// The TCP connection could not be opened or was dropped before the response arrived.
    #[error("could not reach the server ({0}); check that it is running and reachable")]
    Connect(#[source] io::Error),
    /// Opening the connection took longer than `Options::connect_timeout`.
    #[error("the server did not accept the connection within {0:?}; check that it is reachable")]
    ConnectTimeout(Duration),
    /// No byte arrived for `Options::recv_timeout`.
    #[error("the server sent nothing for {0:?}; the connection is considered lost")]
    IdleTimeout(Duration),
    /// The connection ended before the announced length was received.
    #[error("the connection closed after {received} of {expected} bytes of the response")]
    Truncated {
        /// Bytes of this response received.
        received: u64,
        /// Bytes this response announced.
        expected: u64,
    },
    /// The connection failed while the body was being received.
    #[error("the connection failed during the transfer ({0})")]
    Interrupted(#[source] io::Error),
    /// The TLS handshake failed: untrusted certificate, wrong host name, no common protocol.
    #[error("the TLS connection was refused ({0}); check the CA certificate and the host name")]
    Tls(String),
    /// The server's answer is not valid HTTP/1.1.
    #[error("the server sent a malformed HTTP response ({0})")]
    Protocol(String),
    /// A status other than 200, 206, 416 or a redirect.
    #[error("the server answered with HTTP status {0}; check the URL and the server")]
    Status(u16),
    /// 416: nothing at the resume offset.
    #[error(
        "the server has no data from byte {offset} on (416): the file is shorter than the part \
         already downloaded; start the download over"
    )]
    RangeNotSatisfiable {
        /// The offset that was asked for.
        offset: u64,
    },
    /// A 200 response without Content-Length (e.g. chunked).
    #[error("the server did not send the size of the file (no Content-Length); serve it as a plain file")]
    MissingSize,
    /// A Content-Length that is not a number.
    #[error("the server sent an invalid Content-Length {0:?}")]
    BadContentLength(String),
    /// A 206 whose Content-Range is missing or does not cover exactly the rest of the file.
    #[error(
        "the server answered a request for bytes {requested}- with Content-Range {header:?}, \
         which is not the rest of the file; the server's range support is broken"
    )]
    BadContentRange {
        /// The offset that was asked for.
        requested: u64,
        /// The header as received (empty if missing).
        header: String,
    },
    /// A 206 whose Content-Length disagrees with its Content-Range.
    #[error(
        "the server announced {content_length} bytes but a range of {range_length}; the response \
         is inconsistent"
    )]
    LengthMismatch {
        /// The Content-Length value.
        content_length: u64,
        /// The length the Content-Range implies.
        range_length: u64,
    },
    /// A later response of the same download reported another file size.
    #[error(
        "the server reported a file size of {now} bytes after {before} earlier; the file changed \
         or the server is inconsistent, so the download stops"
    )]
    SizeChanged {
        /// The size reported first.
        before: u64,
        /// The size reported now.
        now: u64,
    },
    /// More body than announced.
    #[error("the server sent more than the {expected} bytes it announced; the data is not trusted")]
    TooMuchData {
        /// Bytes the response announced.
        expected: u64,
    },
    /// The redirect chain is longer than `Options::max_redirects`.
    #[error("the server redirected more than {0} times; check the URL for a redirect loop")]
    TooManyRedirects(u32),
    /// A redirect that cannot be followed.
    #[error("cannot follow the redirect: {0}")]
    BadRedirect(String),
    /// Any other failure of the HTTP client.
    #[error("the HTTP client failed ({0})")]
    Client(String),
    /// An FTP source field the protocol cannot carry (empty, or with line breaks).
    #[error("the FTP download cannot start: {0}")]
    BadFtpSource(&'static str),
    /// The FTP server refused the user name or password (530).
    #[error("login refused: check user name and password")]
    LoginRefused,
    /// The FTP server has no such file (550 to RETR).
    #[error("file not found on the FTP server ({0}); check the file name and its directory")]
    FileNotFound(String),
    /// The FTP server cannot tell the file's size (SIZE refused), which the download needs.
    #[error(
        "the server did not report the file size (the SIZE command was refused); the download \
         needs it, so use a server that supports SIZE"
    )]
    NoFileSize,
    /// The FTP server answered a command with a negative reply; 4xx ones are worth a retry.
    #[error("the FTP server answered {command} with {code} {text}; check the server and the file")]
    FtpRefused {
        /// The command, e.g. `RETR` (never its argument).
        command: &'static str,
        /// The reply code.
        code: u16,
        /// The reply's text, shortened, with the password scrubbed out.
        text: String,
    },
    /// The FTP server sent something that is not an FTP reply, or not the one expected.
    #[error("the FTP server sent a malformed reply ({0})")]
    FtpProtocol(String),
    /// The FTP control connection closed before the download finished.
    #[error("the FTP server closed the control connection unexpectedly; it may restart or limit sessions")]
    ControlClosed,
}

impl DownloadError {
    /// Whether retrying (resuming from the bytes delivered) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect(_)
                | Self::ConnectTimeout(_)
                | Self::IdleTimeout(_)
                | Self::Truncated { .. }
                | Self::Interrupted(_)
                | Self::ControlClosed
        ) || matches!(self, Self::FtpRefused { code: 400..=499, .. })
    }

    /// The neutral class of this failure, for whoever maps failures to error codes.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Status(404 | 410) | Self::FileNotFound(_) => FailureClass::NotFound,
            Self::Status(401 | 403) | Self::LoginRefused => FailureClass::LoginRefused,
            Self::Tls(_) | Self::NoCaCertificates => FailureClass::Tls,
            Self::Url(_) | Self::BadOptions(_) | Self::BadFtpSource(_) => FailureClass::Local,
            e if e.is_transient() => FailureClass::Network,
            _ => FailureClass::Server,
        }
    }
}

impl From<&DownloadError> for TransferError {
    fn from(e: &DownloadError) -> Self {
        TransferError::new(e.class(), e.to_string())
    }
}

impl From<DownloadError> for TransferError {
    fn from(e: DownloadError) -> Self {
        TransferError::from(&e)
    }
}

/// Where in an exchange an error happened; the same ureq error means different things.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    /// Connecting, handshaking, sending the request, reading the response head.
    Request { https: bool },
    /// Reading the body: `received` of `expected` bytes so far.
    Body { received: u64, expected: u64 },
}

/// Translates a ureq error; `timeouts` are (connect, idle) for the messages.
pub(crate) fn from_ureq(e: ureq::Error, phase: Phase, timeouts: (Duration, Duration)) -> DownloadError {
    use ureq::Error as U;
    match e {
        U::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            DownloadError::ConnectTimeout(timeouts.0)
        }
        U::Timeout(_) => DownloadError::IdleTimeout(timeouts.1),
        U::HostNotFound => DownloadError::HostNotFound,
        U::Io(io) => from_io(io, phase),
        U::Tls(msg) => DownloadError::Tls(msg.to_owned()),
        U::Rustls(e) => DownloadError::Tls(e.to_string()),
        U::Protocol(e) => DownloadError::Protocol(e.to_string()),
        U::BadUri(e) => DownloadError::Client(format!("the URL was refused: {e}")),
        U::ConnectionFailed => DownloadError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused)),
        other => DownloadError::Client(other.to_string()),
    }
}

/// Translates an IO error: during the request it is a connection (or TLS) failure, during the
/// body an interruption.
fn from_io(e: io::Error, phase: Phase) -> DownloadError {
    match phase {
        // rustls reports handshake refusals (bad certificate, name mismatch) as InvalidData.
        Phase::Request { https: true } if e.kind() == io::ErrorKind::InvalidData => {
            DownloadError::Tls(e.to_string())
        }
        Phase::Request { .. }
            if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) =>
        {
            DownloadError::Protocol(e.to_string())
        }
        Phase::Request { .. } => DownloadError::Connect(e),
        Phase::Body { received, expected } if e.kind() == io::ErrorKind::UnexpectedEof => {
            DownloadError::Truncated { received, expected }
        }
        Phase::Body { .. } => DownloadError::Interrupted(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(30));
    const REQUEST: Phase = Phase::Request { https: false };
    const BODY: Phase = Phase::Body { received: 5, expected: 10 };

    #[test]
    fn transient_classification() {
        let refused = || ureq::Error::Io(io::ErrorKind::ConnectionRefused.into());
        assert!(from_ureq(refused(), REQUEST, T).is_transient());
        assert!(from_ureq(ureq::Error::Timeout(ureq::Timeout::PerRead), BODY, T).is_transient());
        assert!(from_ureq(ureq::Error::Timeout(ureq::Timeout::Connect), REQUEST, T).is_transient());
        let eof = from_ureq(ureq::Error::Io(io::ErrorKind::UnexpectedEof.into()), BODY, T);
        assert!(matches!(eof, DownloadError::Truncated { received: 5, expected: 10 }));
        assert!(eof.is_transient());
        let reset = from_ureq(ureq::Error::Io(io::ErrorKind::ConnectionReset.into()), BODY, T);
        assert!(matches!(reset, DownloadError::Interrupted(_)) && reset.is_transient());

        let tls = from_ureq(
            ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, "UnknownIssuer")),
            Phase::Request { https: true },
            T,
        );
        assert!(matches!(tls, DownloadError::Tls(_)) && !tls.is_transient());
        assert!(!from_ureq(ureq::Error::HostNotFound, REQUEST, T).is_transient());
        for permanent in [
            DownloadError::Status(404),
            DownloadError::MissingSize,
            DownloadError::RangeNotSatisfiable { offset: 1 },
            DownloadError::TooManyRedirects(5),
            DownloadError::TooMuchData { expected: 1 },
            DownloadError::NoCaCertificates,
            DownloadError::LoginRefused,
            DownloadError::FileNotFound("No such file".into()),
            DownloadError::NoFileSize,
            DownloadError::FtpRefused { command: "RETR", code: 553, text: "no".into() },
            DownloadError::FtpProtocol("garbage".into()),
            DownloadError::BadFtpSource("empty path"),
        ] {
            assert!(!permanent.is_transient(), "{permanent}");
        }
    }

    #[test]
    fn ftp_transient_classification() {
        assert!(DownloadError::ControlClosed.is_transient());
        for code in [421, 425, 426, 450, 451] {
            let e = DownloadError::FtpRefused { command: "RETR", code, text: String::new() };
            assert!(e.is_transient(), "{e}");
        }
        assert_eq!(DownloadError::LoginRefused.to_string(), "login refused: check user name and password");
    }

    #[test]
    fn timeouts_report_the_configured_duration() {
        let idle = from_ureq(ureq::Error::Timeout(ureq::Timeout::PerRead), BODY, T);
        assert_eq!(idle.to_string(), "the server sent nothing for 30s; the connection is considered lost");
    }
}
