//! The one loop around a [`Modem`]: every shell — the process's event loop for one modem or
//! a fleet, the tests' harness, the fuzzer — drives its modems through [`drive`].
//!
//! Owns the order in which a modem's requests are carried out and the acknowledgement of
//! output that left synchronously. What "write", "start a transfer" and "abort it" mean is
//! the shell's, behind [`Shell`]; when to call again is the returned deadline.

use std::time::Instant;

use atfota_download::{Resume, Source};
use atfota_storage::NorFlash;

use crate::modem::{Modem, ModemError, Next};

/// What a driver does with a modem's requests.
pub trait Shell {
    /// Sends `bytes` to the host. `end` is the modem's output offset after them. Returns
    /// true when they have left already (a host in the same process); otherwise the shell
    /// calls [`Modem::written`] with `end` once they have.
    fn write(&mut self, bytes: Vec<u8>, end: u64) -> bool;
    /// Starts transfer `id`; its output comes back through the modem's `handle_*` calls.
    fn start(&mut self, id: u64, source: Source, resume: Option<Resume>);
    /// Stops transfer `id`.
    fn abort(&mut self, id: u64);
}

/// Runs the modem's timers due by `now`, then carries out everything it asks for. Returns
/// when to call again if nothing else happens first (a timer's deadline).
pub fn drive<F: NorFlash>(
    modem: &mut Modem<F>,
    now: Instant,
    shell: &mut impl Shell,
) -> Result<Option<Instant>, ModemError> {
    if modem.poll_timeout().is_some_and(|at| at <= now) {
        modem.handle_timeout(now)?;
    }
    while let Some(next) = modem.poll(now)? {
        match next {
            Next::Write { bytes, end } => {
                if shell.write(bytes, end) {
                    modem.written(end);
                }
            }
            Next::Start { id, source, resume } => shell.start(id, source, resume),
            Next::Abort { id } => shell.abort(id),
        }
    }
    Ok(modem.poll_timeout())
}
