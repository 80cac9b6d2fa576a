//! The update as a sans-IO state machine: lines and time in, command lines, events and
//! "reopen the port" out.
//!
//! Owns the order of the conversation for both profiles (probe with `AT`, the NL668's
//! `AT+GTSET` prerequisites saved and restored, start, progress, retries by starting the same
//! URL again, stall → cancel, activation, reboot, result, version) and every timeout. It never
//! reads a clock, touches a port or sleeps: [`crate::Updater`] is the IO shell around it, and
//! tests drive it line by line.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use atfota_at::Final;
use atfota_vocab::nl668::Setting;

use crate::outcome::{Event, Outcome};
use crate::request::{Profile, Request, Timeouts};
use crate::wire::{self, Line, Signal};

/// What the machine asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes (a command line with its terminator) to the modem.
    Transmit(Vec<u8>),
    /// Report this event.
    Event(Event),
    /// The port went away during a reboot: open it again (repeatedly, until
    /// [`Update::poll_timeout`] passes), then call [`Update::handle_opened`].
    Reopen,
}

/// Why a command was sent: what its final result leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    Probe,
    GtsetQuery,
    GtsetSet { setting: Setting, old: u8 },
    Start,
    Cancel,
    Reset,
    Version,
    Restore,
}

/// A command waiting for its final result.
#[derive(Debug)]
struct Pending {
    line: Line,
    purpose: Purpose,
    deadline: Instant,
    lines: Vec<String>,
}

/// Why a running download is being cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CancelFor {
    Stall,
    Interrupt,
}

#[derive(Debug)]
enum Phase {
    /// `AT` until the modem answers.
    Probing { until: Instant },
    /// NL668: reading and setting the `AT+GTSET` prerequisites.
    Prerequisites,
    /// The start command is sent or the download runs.
    Downloading { stall_at: Instant },
    /// `AT#XFOTA=0` is on its way.
    Cancelling { why: CancelFor },
    /// `AT#XRESET` is on its way.
    Resetting,
    /// Waiting for the banner (the port may close and come back meanwhile).
    Rebooting { until: Instant },
    /// Booted; waiting for the result URC.
    AwaitingResult { until: Instant },
    /// The outcome is known; restoring settings and reading the version.
    Finishing,
    /// Over.
    Done,
}

/// One update, from the first `AT` to the outcome.
#[derive(Debug)]
pub struct Update {
    req: Request,
    start: Line,
    timeouts: Timeouts,
    phase: Phase,
    queue: VecDeque<(Line, Purpose)>,
    pending: Option<Pending>,
    out: VecDeque<Output>,
    /// Download attempts that failed.
    failures: u32,
    /// The last failure was a stall (so running out of retries is a timeout).
    stalled: bool,
    percent: Option<u8>,
    /// NL668 settings changed by this update, with their previous values.
    restore: Vec<(Setting, u8)>,
    /// The outcome, decided but not yet final while `Finishing`.
    verdict: Option<Outcome>,
    port_open: bool,
    interrupted: bool,
}

impl Update {
    /// Starts an update at `now`: the first `AT` probe is ready to send.
    pub fn new(req: Request, timeouts: Timeouts, now: Instant) -> Self {
        let start = wire::start(&req);
        let mut u = Self {
            req,
            start,
            timeouts,
            phase: Phase::Probing { until: now + timeouts.reboot },
            queue: VecDeque::new(),
            pending: None,
            out: VecDeque::new(),
            failures: 0,
            stalled: false,
            percent: None,
            restore: Vec::new(),
            verdict: None,
            port_open: true,
            interrupted: false,
        };
        if let Err(why) = u.req.validate() {
            u.phase = Phase::Done;
            u.verdict = Some(Outcome::Invalid(why));
            return u;
        }
        u.probe(now);
        u
    }

    /// The next thing to do, in order; `None` when there is nothing until more input.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Update::handle_timeout`] must be called if nothing arrives before.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Probing { until } | Phase::Rebooting { until } | Phase::AwaitingResult { until } => {
                Some(until)
            }
            Phase::Downloading { stall_at } => Some(stall_at),
            _ => None,
        };
        let pending = self.pending.as_ref().map(|p| p.deadline);
        match (phase, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The outcome, once the update is over (all output polled or not).
    pub fn outcome(&self) -> Option<&Outcome> {
        match self.phase {
            Phase::Done => self.verdict.as_ref(),
            _ => None,
        }
    }

    /// A complete line from the modem (framed by [`atfota_at::Framer`]).
    pub fn handle_line(&mut self, now: Instant, line: &str) {
        if matches!(self.phase, Phase::Done) {
            return;
        }
        if let Some(p) = self.pending.take() {
            if line.eq_ignore_ascii_case(&p.line.wire) {
                self.pending = Some(p);
                return; // the modem's echo
            }
            if let Some(result) = Final::from_line(line) {
                self.emit(Event::Response { line: line.to_string() });
                self.on_final(now, p, result, line);
                self.pump(now);
                return;
            }
            self.pending = Some(p);
        }
        if let Some(signal) = wire::parse_urc(self.req.profile, line) {
            self.emit(Event::Urc { line: line.to_string() });
            self.on_signal(now, signal, line);
        } else if let Some(p) = &mut self.pending {
            p.lines.push(line.to_string());
            self.emit(Event::Response { line: line.to_string() });
        } else {
            log::debug!("ignored a line from the modem: {line:?}");
        }
        self.pump(now);
    }

    /// Time passed: acts on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.pending.as_ref().filter(|p| p.deadline <= now) {
            let (purpose, shown) = (p.purpose.clone(), p.line.shown.clone());
            self.pending = None;
            self.on_command_timeout(now, purpose, &shown);
        }
        match self.phase {
            Phase::Probing { until } if until <= now => {
                let secs = self.timeouts.reboot.as_secs();
                self.conclude(now, Outcome::TimedOut(format!("the modem did not answer AT within {secs} s")));
            }
            Phase::Downloading { stall_at } if stall_at <= now => self.on_stall(now),
            Phase::Rebooting { until } if until <= now => {
                let secs = self.timeouts.reboot.as_secs();
                self.conclude(now, Outcome::TimedOut(format!("the modem did not come back within {secs} s")));
            }
            Phase::AwaitingResult { until } if until <= now => {
                self.conclude(now, Outcome::TimedOut("the modem booted but reported no result".into()));
            }
            _ => {}
        }
        self.pump(now);
    }

    /// The port closed (end of stream, read or write error).
    pub fn handle_closed(&mut self, now: Instant) {
        self.port_open = false;
        match self.phase {
            Phase::Done => {}
            Phase::Resetting => {
                // The modem went down before (or instead of) answering AT#XRESET: it is rebooting.
                self.pending = None;
                self.rebooting(now);
                self.out.push_back(Output::Reopen);
            }
            Phase::Rebooting { .. } | Phase::AwaitingResult { .. } => {
                self.pending = None;
                self.out.push_back(Output::Reopen);
            }
            _ => {
                self.pending = None;
                self.queue.clear();
                self.verdict.get_or_insert(Outcome::Port("the modem closed the port".into()));
                self.phase = Phase::Done;
            }
        }
    }

    /// The port is open again after [`Output::Reopen`].
    pub fn handle_opened(&mut self, now: Instant) {
        self.port_open = true;
        self.pump(now);
    }

    /// The user asked to stop: cancels the download where the profile can, restores the
    /// NL668 settings, and ends as [`Outcome::Interrupted`].
    pub fn interrupt(&mut self, now: Instant) {
        if self.interrupted || matches!(self.phase, Phase::Done | Phase::Finishing) {
            return;
        }
        self.interrupted = true;
        match (&self.phase, wire::cancel(self.req.profile)) {
            (Phase::Downloading { .. }, Some(cancel)) if self.port_open => {
                self.queue.clear();
                self.queue.push_back((cancel, Purpose::Cancel));
                self.phase = Phase::Cancelling { why: CancelFor::Interrupt };
            }
            _ => self.conclude(now, Outcome::Interrupted),
        }
        self.pump(now);
    }

    fn on_final(&mut self, now: Instant, p: Pending, result: Final, text: &str) {
        let ok = result == Final::Ok;
        match p.purpose {
            Purpose::Probe => self.probed(now),
            Purpose::GtsetQuery => self.prerequisites(now, ok, &p.lines),
            Purpose::GtsetSet { setting, old } => {
                if ok {
                    self.restore.push((setting, old));
                } else if setting == wire::GTSET_PREREQUISITES[0] {
                    self.refused(now, &p.line, text);
                } else {
                    log::warn!("{} answered {text}: going on without it", p.line.shown);
                }
            }
            Purpose::Start if !ok => self.refused(now, &p.line, text),
            Purpose::Start => {
                if let Phase::Downloading { stall_at } = &mut self.phase {
                    *stall_at = now + self.timeouts.stall;
                    self.emit(Event::DownloadStarted);
                }
            }
            Purpose::Cancel => self.cancelled(now),
            Purpose::Reset if !ok => self.refused(now, &p.line, text),
            Purpose::Reset => {
                if matches!(self.phase, Phase::Resetting) {
                    self.rebooting(now);
                }
            }
            Purpose::Version => {
                let v = ok.then(|| wire::parse_version(self.req.profile, self.req.target, &p.lines));
                if let (Some(Some(v)), Some(verdict)) = (v, self.verdict.as_mut()) {
                    verdict.set_version(v);
                }
            }
            Purpose::Restore if !ok => log::warn!("{} answered {text}: setting not restored", p.line.shown),
            Purpose::Restore => {}
        }
    }

    fn on_command_timeout(&mut self, now: Instant, purpose: Purpose, shown: &str) {
        match purpose {
            Purpose::Probe => {
                if matches!(self.phase, Phase::Probing { .. }) {
                    self.probe(now);
                }
            }
            Purpose::Cancel => self.cancelled(now),
            Purpose::Version | Purpose::Restore => log::warn!("no reply to {shown}"),
            Purpose::Reset => {
                // The modem may reboot without a word: wait for its banner.
                if matches!(self.phase, Phase::Resetting) {
                    self.rebooting(now);
                }
            }
            Purpose::GtsetQuery | Purpose::GtsetSet { .. } | Purpose::Start => {
                let secs = self.timeouts.command.as_secs_f64();
                self.conclude(now, Outcome::TimedOut(format!("no reply to {shown} within {secs} s")));
            }
        }
    }

    fn on_signal(&mut self, now: Instant, signal: Signal, line: &str) {
        let downloading = matches!(self.phase, Phase::Downloading { .. });
        let waiting_boot = matches!(self.phase, Phase::Rebooting { .. } | Phase::AwaitingResult { .. });
        match signal {
            Signal::Progress(p) if downloading => {
                self.alive(now, self.timeouts.stall);
                if self.percent != Some(p) {
                    self.percent = Some(p);
                    self.emit(Event::Progress { percent: p });
                }
            }
            Signal::DownloadStarted | Signal::Erased if downloading => self.alive(now, self.timeouts.stall),
            Signal::ErasePending if downloading => {
                self.alive(now, self.timeouts.stall.max(self.timeouts.erase));
                self.emit(Event::Erasing);
            }
            Signal::Downloaded if downloading => self.downloaded(now),
            Signal::DownloadFailed(why) if downloading => self.failed(now, why, false),
            Signal::Cancelled if downloading => {
                self.failed(now, "the modem cancelled the download".into(), false)
            }
            Signal::Banner if downloading => {
                self.failed(now, "the modem rebooted during the download".into(), false);
            }
            Signal::Banner if matches!(self.phase, Phase::Rebooting { .. } | Phase::Resetting) => {
                self.booted(now);
            }
            Signal::Rejected(why) if downloading || waiting_boot => {
                self.conclude(now, Outcome::Rejected(why))
            }
            Signal::Mismatch(why) if downloading || waiting_boot => {
                self.conclude(now, Outcome::Mismatch(why))
            }
            Signal::Success | Signal::ActivationFailed(_) | Signal::Reverted if waiting_boot => {
                if matches!(self.phase, Phase::Rebooting { .. }) {
                    self.emit(Event::Booted); // the banner was lost while the port was away
                }
                let outcome = match signal {
                    Signal::Success => Outcome::Updated { version: None },
                    Signal::Reverted => Outcome::Reverted { version: None },
                    Signal::ActivationFailed(reason) => Outcome::ActivationFailed { reason, version: None },
                    _ => return,
                };
                self.emit(Event::Result { line: line.to_string(), summary: outcome.to_string() });
                self.conclude(now, outcome);
            }
            _ => log::debug!("URC {line:?} does not matter now"),
        }
    }

    /// `AT`: the modem may still be booting; each probe waits [`Timeouts::probe`].
    fn probe(&mut self, now: Instant) {
        let line = Line::plain("AT");
        self.send(now, line, Purpose::Probe, self.timeouts.probe);
    }

    fn probed(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Probing { .. }) {
            return;
        }
        match self.req.profile {
            Profile::Nl668 => {
                self.phase = Phase::Prerequisites;
                self.queue.push_back((wire::gtset_query(), Purpose::GtsetQuery));
            }
            _ => self.start_download(now),
        }
    }

    /// NL668: set each prerequisite that is not 1, remembering its value, then start.
    fn prerequisites(&mut self, now: Instant, ok: bool, lines: &[String]) {
        if !ok {
            log::warn!("AT+GTSET? is not supported: starting without the prerequisites");
        }
        let current: Vec<(Setting, u8)> = lines.iter().filter_map(|l| wire::parse_gtset(l)).collect();
        for setting in wire::GTSET_PREREQUISITES {
            match current.iter().find(|(s, _)| *s == setting) {
                Some((_, 1)) => {}
                Some((_, old)) => {
                    let purpose = Purpose::GtsetSet { setting, old: *old };
                    self.queue.push_back((wire::gtset(setting, true), purpose));
                }
                None => log::warn!("the module does not list {}: not set", setting.name()),
            }
        }
        self.start_download(now);
    }

    fn start_download(&mut self, now: Instant) {
        // `percent` is kept: a retry resumes, so the same percentage again is a repeat.
        self.phase = Phase::Downloading { stall_at: now + self.timeouts.command + self.timeouts.stall };
        self.queue.push_back((self.start.clone(), Purpose::Start));
    }

    /// A sign of life from the download: the stall deadline moves.
    fn alive(&mut self, now: Instant, allowance: Duration) {
        if let Phase::Downloading { stall_at } = &mut self.phase {
            *stall_at = now + allowance;
        }
    }

    fn on_stall(&mut self, now: Instant) {
        let secs = self.timeouts.stall.as_secs_f64();
        match wire::cancel(self.req.profile) {
            Some(cancel) => {
                log::warn!("no progress for {secs} s: cancelling");
                self.queue.clear();
                self.queue.push_back((cancel, Purpose::Cancel));
                self.phase = Phase::Cancelling { why: CancelFor::Stall };
            }
            // The NL668 has no cancel command: starting again would be refused while its own
            // download runs, so a stall ends the update.
            None => self.conclude(now, Outcome::TimedOut(format!("no progress for {secs} s"))),
        }
    }

    fn cancelled(&mut self, now: Instant) {
        match self.phase {
            Phase::Cancelling { why: CancelFor::Interrupt } => self.conclude(now, Outcome::Interrupted),
            Phase::Cancelling { why: CancelFor::Stall } => {
                let secs = self.timeouts.stall.as_secs_f64();
                self.failed(now, format!("no progress for {secs} s"), true);
            }
            _ => {}
        }
    }

    /// A download attempt failed: start the same URL again (it resumes) or give up.
    fn failed(&mut self, now: Instant, reason: String, stall: bool) {
        self.failures += 1;
        self.stalled = stall;
        if self.interrupted {
            return self.conclude(now, Outcome::Interrupted);
        }
        if self.failures > self.req.retries {
            let outcome = if stall {
                Outcome::TimedOut(format!("{reason}, {} attempts", self.failures))
            } else {
                Outcome::DownloadFailed { reason, attempts: self.failures }
            };
            return self.conclude(now, outcome);
        }
        self.emit(Event::Retrying { attempt: self.failures, reason });
        self.queue.clear();
        self.start_download(now);
    }

    fn downloaded(&mut self, now: Instant) {
        self.emit(Event::Downloaded);
        match wire::reset(self.req.profile) {
            Some(_) if !self.req.activate => self.conclude(now, Outcome::Downloaded),
            Some(reset) => {
                self.queue.push_back((reset, Purpose::Reset));
                self.phase = Phase::Resetting;
            }
            // The NL668 reboots by itself to install.
            None => self.rebooting(now),
        }
    }

    fn rebooting(&mut self, now: Instant) {
        self.emit(Event::Rebooting);
        self.phase = Phase::Rebooting { until: now + self.timeouts.reboot };
    }

    fn booted(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Resetting) {
            self.pending = None; // the reboot swallowed the OK
            self.emit(Event::Rebooting);
        }
        self.emit(Event::Booted);
        let until = match self.phase {
            Phase::Rebooting { until } => until.max(now + self.timeouts.command),
            _ => now + self.timeouts.reboot,
        };
        self.phase = Phase::AwaitingResult { until };
    }

    fn refused(&mut self, now: Instant, line: &Line, result: &str) {
        let outcome = Outcome::Refused { command: line.shown.clone(), result: result.to_string() };
        self.conclude(now, outcome);
    }

    /// The outcome is known: restore what was changed and read the version, then end.
    fn conclude(&mut self, now: Instant, outcome: Outcome) {
        if matches!(self.phase, Phase::Finishing | Phase::Done) {
            return;
        }
        let shows_version = matches!(
            outcome,
            Outcome::Updated { .. } | Outcome::Reverted { .. } | Outcome::ActivationFailed { .. }
        );
        self.verdict = Some(outcome);
        self.queue.clear();
        self.pending = None;
        self.phase = Phase::Finishing;
        if !self.port_open {
            self.phase = Phase::Done;
            return;
        }
        for (setting, old) in std::mem::take(&mut self.restore) {
            self.queue.push_back((wire::gtset(setting, old != 0), Purpose::Restore));
        }
        if shows_version {
            self.queue.push_back((wire::version_query(self.req.profile, self.req.target), Purpose::Version));
        }
        self.pump(now);
    }

    /// Sends the next queued command when none is in flight; ends a finished update.
    fn pump(&mut self, now: Instant) {
        if self.pending.is_some() || !self.port_open {
            return;
        }
        match self.queue.pop_front() {
            Some((line, purpose)) => self.send(now, line, purpose, self.timeouts.command),
            None if matches!(self.phase, Phase::Finishing) => self.phase = Phase::Done,
            None => {}
        }
    }

    fn send(&mut self, now: Instant, line: Line, purpose: Purpose, timeout: Duration) {
        let mut bytes = line.wire.clone().into_bytes();
        bytes.push(b'\r');
        self.out.push_back(Output::Transmit(bytes));
        self.emit(Event::Sent { line: line.shown.clone() });
        self.pending = Some(Pending { line, purpose, deadline: now + timeout, lines: Vec::new() });
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}

#[cfg(test)]
mod tests;
