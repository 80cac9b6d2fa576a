//! The IO shell around [`Update`]: opens the port, feeds it lines and time, writes what it
//! sends, reopens the port after a reboot, and reports events to a callback.
//!
//! Owns the blocking loop and nothing else: every decision is the machine's. It holds no
//! global state; an interrupt arrives through a flag the caller owns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::machine::{Output, Update};
use crate::outcome::{Event, Outcome};
use crate::port::{Channel, Connector, Received};
use crate::request::{Request, Timeouts};

/// How often the loop looks at the interrupt flag while nothing arrives.
const TICK: Duration = Duration::from_millis(50);
/// Pause between attempts to reopen a port that went away.
const REOPEN_EVERY: Duration = Duration::from_millis(200);

/// Drives a modem through an update over any port a [`Connector`] opens.
///
/// ```no_run
/// use atfota_host::{PortConnector, Profile, Request, Updater};
///
/// let port = "tcp:127.0.0.1:5000".parse()?;
/// let request = Request::http(Profile::Nrf9160Slm, "http://192.0.2.1/app_update.bin");
/// let outcome = Updater::new().run(&mut PortConnector::new(port), &request, |event| {
///     println!("{event:?}");
/// });
/// println!("{outcome} (exit code {})", outcome.exit_code());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Updater {
    timeouts: Timeouts,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Updater {
    /// An updater with the default [`Timeouts`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these timeouts.
    pub fn timeouts(mut self, t: Timeouts) -> Self {
        self.timeouts = t;
        self
    }

    /// Stops the update (cancelling where the profile can) once `flag` becomes true.
    pub fn interrupt_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Runs the update to its end; `on_event` sees every event as it happens.
    pub fn run(
        &self,
        connector: &mut dyn Connector,
        request: &Request,
        mut on_event: impl FnMut(&Event),
    ) -> Outcome {
        let mut machine = Update::new(request.clone(), self.timeouts, Instant::now());
        if let Some(o) = machine.outcome() {
            return o.clone();
        }
        let mut channel = match connector.open().and_then(Channel::new) {
            Ok(c) => Some(c),
            Err(e) => return Outcome::Port(format!("cannot open the port: {e}")),
        };
        let mut interrupted = false;
        loop {
            while let Some(out) = machine.poll() {
                match out {
                    Output::Event(e) => on_event(&e),
                    Output::Transmit(bytes) => {
                        let sent = channel.as_mut().map(|c| c.send(&bytes));
                        if !matches!(sent, Some(Ok(()))) {
                            channel = None;
                            machine.handle_closed(Instant::now());
                        }
                    }
                    Output::Reopen => channel = None,
                }
            }
            if let Some(o) = machine.outcome() {
                return o.clone();
            }
            if !interrupted && self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
                interrupted = true;
                machine.interrupt(Instant::now());
                continue;
            }
            let now = Instant::now();
            let deadline = machine.poll_timeout().map_or(now + TICK, |d| d.min(now + TICK));
            match channel.as_mut() {
                Some(c) => match c.recv(deadline) {
                    Received::Line(l) => machine.handle_line(Instant::now(), &l),
                    Received::Closed => {
                        channel = None;
                        machine.handle_closed(Instant::now());
                    }
                    Received::Timeout => machine.handle_timeout(Instant::now()),
                },
                None => {
                    match connector.open().and_then(Channel::new) {
                        Ok(c) => {
                            channel = Some(c);
                            machine.handle_opened(Instant::now());
                        }
                        Err(e) => {
                            log::debug!("reopening the port: {e}");
                            std::thread::sleep(REOPEN_EVERY.min(deadline.saturating_duration_since(now)));
                        }
                    }
                    machine.handle_timeout(Instant::now());
                }
            }
        }
    }
}
