//! Streaming a transfer's bytes to the caller: the loop both protocols share.
//!
//! Owns what is the same for an HTTP body and an FTP data connection: reads
//! into the download's one reused buffer, never more than the announced
//! length, the emulated link's throttle, prompt cancellation, and
//! "ended early" as an error. The protocols own their readers and turn read
//! errors into their own `DownloadError`s; this loop never logs.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::error::DownloadError;
use atfota_download::Outcome;

use crate::event::Event;
use crate::link::Link;
use crate::throttle::Throttle;

/// The download state the loop advances.
pub(crate) struct Sink<'a> {
    /// The download's one read buffer.
    pub buf: &'a mut [u8],
    /// The emulated link, if any.
    pub throttle: &'a mut Option<Throttle>,
    /// Cancels sleeps of the throttle.
    pub cancel: &'a CancelToken,
    /// File offset of the next byte: advanced as bytes are delivered.
    pub position: &'a mut u64,
    /// The emulated radio link the bytes cross, if any: down, a live rate, cuts.
    pub link: Option<&'a Link>,
    /// How long the link may stay down before the transfer fails as a silent server would.
    pub idle: Duration,
}

/// Streams exactly `length` bytes from `reader` to `on_event` as `Data`.
/// `read_error` turns a read failure (with the bytes received so far) into
/// the protocol's error.
pub(crate) fn stream(
    reader: &mut dyn Read,
    length: u64,
    sink: Sink<'_>,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    read_error: &mut dyn FnMut(io::Error, u64) -> DownloadError,
) -> Result<Outcome, DownloadError> {
    let Sink { buf, throttle, cancel, position, link, idle } = sink;
    let cuts = link.map(Link::cuts);
    let mut received: u64 = 0;
    loop {
        if let Some(link) = link {
            if !link.wait_up(idle, cancel) {
                return if cancel.is_cancelled() {
                    Ok(Outcome::Cancelled)
                } else {
                    Err(DownloadError::IdleTimeout(idle))
                };
            }
            if cuts.is_some_and(|seen| link.cut_since(seen)) {
                let cut =
                    io::Error::new(io::ErrorKind::ConnectionReset, "the emulated network cut the connection");
                return Err(DownloadError::Interrupted(cut));
            }
            follow_rate(throttle, link.rate());
        }
        let max_read = throttle.as_ref().map_or(usize::MAX, Throttle::max_read);
        let want = buf.len().min(max_read);
        let n = match reader.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e, received)),
        };
        if n == 0 {
            break;
        }
        if n as u64 > length - received {
            return Err(DownloadError::TooMuchData { expected: length });
        }
        received += n as u64;
        *position += n as u64;
        if on_event(Event::Data(&buf[..n])).is_break() {
            return Ok(Outcome::Cancelled);
        }
        if let Some(throttle) = throttle.as_mut() {
            let wait = throttle.consume(n, Instant::now());
            if !wait.is_zero() && !cancel.sleep(wait) {
                return Ok(Outcome::Cancelled);
            }
        }
    }
    if received < length {
        // A close-delimited stream ended early (a counted one reports EOF itself).
        return Err(DownloadError::Truncated { received, expected: length });
    }
    Ok(Outcome::Complete)
}

/// Paces the next reads at the link's current rate (set live by the device): with a link,
/// its rate replaces `Options::rate_limit`.
fn follow_rate(throttle: &mut Option<Throttle>, rate: Option<u64>) {
    match rate {
        None => *throttle = None,
        Some(rate) if throttle.as_ref().is_none_or(|t| t.rate() != rate) => {
            *throttle = Some(Throttle::new(rate, Instant::now()));
        }
        Some(_) => {}
    }
}
