//! The retry policy every protocol shares.
//!
//! Owns when a failed attempt is retried: only transient failures, at most
//! `Options::retries` times over the whole download (bounded and
//! predictable, not per failure streak), each announced with
//! `Event::Retrying` and after `Options::retry_delay`; a cancel wins over
//! everything. How an attempt resumes from the bytes already delivered is
//! each protocol's business.

use std::fmt::Display;
use std::ops::ControlFlow;

use crate::cancel::CancelToken;
use crate::error::DownloadError;
use atfota_download::Outcome;

use crate::event::Event;
use crate::options::Options;

/// One protocol's download, attempt by attempt.
pub(crate) trait Attempts {
    /// One attempt, resuming from `position()`.
    fn attempt(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError>;
    /// File offset of the next byte to deliver.
    fn position(&self) -> u64;
}

/// Runs attempts until one ends, retrying transient failures. `shown` names
/// the download in logs (never with credentials).
pub(crate) fn run(
    download: &mut dyn Attempts,
    shown: &dyn Display,
    opts: &Options,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, DownloadError> {
    log::info!("download {shown} from byte {}", download.position());
    let mut retries = 0;
    loop {
        // An emulated link that is down lets no connection open: the attempt fails as a
        // server that does not answer would, after the connect timeout.
        let link_up = opts.link.as_ref().is_none_or(|l| l.wait_up(opts.connect_timeout, cancel));
        let attempt = if link_up {
            download.attempt(on_event)
        } else {
            Err(DownloadError::ConnectTimeout(opts.connect_timeout))
        };
        match attempt {
            Ok(outcome) => return Ok(outcome),
            Err(_) if cancel.is_cancelled() => return Ok(Outcome::Cancelled),
            Err(e) if e.is_transient() && retries < opts.retries => {
                retries += 1;
                log::warn!(
                    "download {shown}: {e}; retry {retries} of {} from byte {}",
                    opts.retries,
                    download.position()
                );
                let event = Event::Retrying { attempt: retries, cause: &e };
                if on_event(event).is_break() || !cancel.sleep(opts.retry_delay) {
                    return Ok(Outcome::Cancelled);
                }
            }
            Err(e) => {
                log::warn!("download {shown} failed: {e}");
                return Err(e);
            }
        }
    }
}
