//! The knobs of a download ([`Options`]). It owns the defaults (those of Nordic's download client) and their checks,
//! and must never hold anything tied to one connection.

use std::time::Duration;

use crate::error::DownloadError;
use crate::link::Link;

/// Largest read buffer accepted: the buffer is allocated once per download, keep it modest.
const MAX_CHUNK: usize = 0x100_0000;

/// Tuning of one download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Time allowed to open the TCP connection (and TLS handshake reads).
    pub connect_timeout: Duration,
    /// Idle timeout: the longest wait for the next byte (not a deadline for the whole body).
    pub recv_timeout: Duration,
    /// Retries over the whole download after transient failures.
    pub retries: u32,
    /// Redirects followed per request.
    pub max_redirects: u32,
    /// Size of the one read buffer, and the largest `Data` slice.
    pub chunk_size: usize,
    /// Emulated link speed in bytes per second; `None` reads as fast as the network allows.
    pub rate_limit: Option<u64>,
    /// Pause before each retry.
    pub retry_delay: Duration,
    /// The emulated radio link the download obeys (up/down, a live rate, cuts), if any; its
    /// rate replaces `rate_limit`.
    pub link: Option<Link>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            recv_timeout: Duration::from_secs(30),
            retries: 2,
            max_redirects: 5,
            chunk_size: 0x1_0000,
            rate_limit: None,
            retry_delay: Duration::from_millis(500),
            link: None,
        }
    }
}

impl Options {
    /// Refuses values that would make a download misbehave instead of failing clearly.
    pub(crate) fn check(&self) -> Result<(), DownloadError> {
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK {
            return Err(DownloadError::BadOptions("chunk_size must be between 1 byte and 16 MiB"));
        }
        if self.rate_limit == Some(0) {
            return Err(DownloadError::BadOptions("rate_limit must be at least 1 byte per second"));
        }
        if self.connect_timeout.is_zero() || self.recv_timeout.is_zero() {
            return Err(DownloadError::BadOptions("timeouts must be longer than zero"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let o = Options::default();
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.recv_timeout, Duration::from_secs(30));
        assert_eq!((o.retries, o.max_redirects, o.chunk_size), (2, 5, 64 * 1024));
        assert_eq!(o.rate_limit, None);
        assert!(o.check().is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = [
            Options { chunk_size: 0, ..Options::default() },
            Options { chunk_size: MAX_CHUNK + 1, ..Options::default() },
            Options { rate_limit: Some(0), ..Options::default() },
            Options { recv_timeout: Duration::ZERO, ..Options::default() },
            Options { connect_timeout: Duration::ZERO, ..Options::default() },
        ];
        for o in bad {
            assert!(matches!(o.check(), Err(DownloadError::BadOptions(_))), "{o:?}");
        }
    }
}
