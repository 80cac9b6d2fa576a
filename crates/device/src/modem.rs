//! The emulated modem without its IO: bytes in, bytes out.
//!
//! Owns the AT session (framing, echo, `+CMEE`, basic V.250 commands),
//! dispatch to the profile, URC output, emulated time, and reboots inside the
//! process. It is sans-IO like the engine under it, in quinn-proto's shape:
//! inputs are `handle_*` calls, [`Modem::poll`] says what to do next (write
//! bytes, start or abort a transfer), [`Modem::poll_timeout`] when to call
//! [`Modem::handle_timeout`], and [`Modem::written`] is the one
//! acknowledgement. Time is a parameter, never read from the clock here.
//! [`crate::drive`] is the one loop every shell runs around it. Responses are
//! appended to the output whole, so a URC can never land inside one.

use std::collections::VecDeque;
use std::time::Instant;

use atfota_at::{CmeError, CmeeMode, Command, Final, Frame, Framer, MAX_LINE_LEN, Op, Response};
use atfota_download::{Outcome, Resume, Source, StartInfo, TransferError};
use atfota_fota::{
    Action, CellularStatus, Conditions, Ctx, Engine, EngineConfig, EngineError, Link as CellLink, Profile,
    ProfileKind, Stimulus, SystemRequest,
};
use atfota_storage::{Layout, NorFlash};

/// A self-test that keeps failing is given up on after this many reboots in
/// a row (the revert normally ends it after one).
const MAX_WATCHDOG_REBOOTS: u32 = 3;
/// A boot that fails on the flash (an operation the device reported as
/// failed) is tried again this many times, as a watchdog reset would, before
/// the device gives up: a failure that does not repeat is ridden out, and what
/// the failed boot left half-done is finished by the next one.
const MAX_BOOT_ATTEMPTS: u32 = 4;
/// Timer id of a command whose response is held back (the engine's ids start at 1).
const DEFERRED_RESPONSE: u64 = 0;

/// What executing one command line leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineEnd {
    /// Go on with the next bytes.
    Next,
    /// The device reboots.
    Reset,
    /// The response waits for a timer; later bytes wait with it.
    Deferred,
}

/// What the modem asks its shell to do next ([`Modem::poll`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Next {
    /// Send these bytes to the host. `end` is the modem's output offset after them: once
    /// every byte up to `end` has left, acknowledge with [`Modem::written`].
    Write {
        /// The bytes, whole responses and URCs.
        bytes: Vec<u8>,
        /// Total bytes handed out so far, these included.
        end: u64,
    },
    /// Start a transfer and feed its output back tagged with `id`.
    Start {
        /// Tag for the `handle_*` calls of this transfer.
        id: u64,
        /// Where to get it.
        source: Source,
        /// Where to resume, if anywhere.
        resume: Option<Resume>,
    },
    /// Stop transfer `id`; anything it still delivers is ignored.
    Abort {
        /// The transfer to stop.
        id: u64,
    },
}

/// Why the modem stopped working.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModemError {
    /// Boot failed: the flash could not be read or written.
    #[error("boot failed: {0}")]
    Boot(#[from] EngineError),
}

/// One emulated modem.
pub struct Modem<F: NorFlash> {
    profile: Profile,
    engine: Option<Engine<F>>,
    layout: Layout,
    config: EngineConfig,
    framer: Framer,
    echo: bool,
    cmee: CmeeMode,
    out: Vec<u8>,
    /// Bytes handed out by [`Modem::poll`] since power-on.
    out_end: u64,
    actions: VecDeque<Action>,
    /// Emulated time: when each running timer (id) runs out.
    timers: Vec<(Instant, u64)>,
    boots: u64,
    /// An upgrade result URC is in `out`, not yet handed out.
    result_out: bool,
    /// An upgrade result URC was handed out and counts as reported once the output up to
    /// this offset is [`Modem::written`].
    result_end: Option<u64>,
    /// A reboot has begun; it runs once the output before it has been handed out.
    reboot_pending: bool,
    /// A command's response held back until its (emulated) operation ends.
    deferred: Option<Vec<u8>>,
    /// Bytes received while a response is held back: executed after it.
    backlog: Vec<u8>,
    /// The flash of a boot that failed for good (no engine runs): kept for `into_flash`.
    unbooted: Option<F>,
    /// The next newly installed image fails its self-test (a test bench's one-shot fault).
    fail_next_self_test: bool,
}

impl<F: NorFlash> Modem<F> {
    /// Powers the device on: bootloader, application start, banner, and any
    /// result URC of an upgrade installed by this boot.
    pub fn power_on(
        flash: F,
        layout: Layout,
        kind: ProfileKind,
        config: EngineConfig,
    ) -> Result<Self, ModemError> {
        Self::power_on_with(flash, layout, kind, config, Conditions::default())
    }

    /// Like [`Modem::power_on`], under emulated network conditions.
    pub fn power_on_with(
        flash: F,
        layout: Layout,
        kind: ProfileKind,
        config: EngineConfig,
        conditions: Conditions,
    ) -> Result<Self, ModemError> {
        let profile = Profile::new(kind, conditions);
        let mut framer = Framer::new(MAX_LINE_LEN);
        if let Some((name, max_len)) = profile.multiline_command() {
            framer = framer.multiline_command(name, max_len);
        }
        let mut modem = Self {
            echo: profile.default_echo(),
            cmee: profile.default_cmee(),
            profile,
            engine: None,
            layout,
            config,
            framer,
            out: Vec::new(),
            out_end: 0,
            actions: VecDeque::new(),
            timers: Vec::new(),
            boots: 0,
            result_out: false,
            result_end: None,
            reboot_pending: false,
            deferred: None,
            backlog: Vec::new(),
            unbooted: None,
            fail_next_self_test: false,
        };
        modem.boot(flash)?;
        Ok(modem)
    }

    /// Feeds bytes received from the host.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if self.reboot_pending {
            // Still rebooting (the output before it was not handed out): lost, as on a UART.
            return Ok(());
        }
        if self.deferred.is_some() {
            // Busy with a command: the UART buffers what arrives meanwhile.
            self.backlog.extend_from_slice(bytes);
            return Ok(());
        }
        for (i, &b) in bytes.iter().enumerate() {
            if self.echo {
                self.out.push(b);
            }
            let Some(frame) = self.framer.push(b) else { continue };
            let end = match frame {
                Frame::Line(line) => self.execute_line(&line),
                Frame::TooLong => {
                    log::warn!("command line longer than its limit refused");
                    self.respond(&Response::error());
                    LineEnd::Next
                }
                _ => {
                    log::warn!("command line with binary bytes refused");
                    self.respond(&Response::error());
                    LineEnd::Next
                }
            };
            match end {
                LineEnd::Next => {}
                LineEnd::Reset => {
                    // The rest of the bytes arrive while the device reboots: lost, as on a UART.
                    self.begin_reboot();
                    break;
                }
                LineEnd::Deferred => {
                    self.backlog.extend_from_slice(&bytes[i + 1..]);
                    break;
                }
            }
        }
        Ok(())
    }

    /// What to do next: bytes to write, a transfer to start or stop. Call until `None` after
    /// every `handle_*` call; `now` starts the timers the modem asked for. A reboot that
    /// waited for the output before it is carried out here, once that output is handed out.
    pub fn poll(&mut self, now: Instant) -> Result<Option<Next>, ModemError> {
        loop {
            if let Some(engine) = self.engine.as_mut() {
                while let Some(a) = engine.poll_action() {
                    self.actions.push_back(a);
                }
            }
            while let Some(action) = self.actions.pop_front() {
                match action {
                    Action::Start { id, source, resume } => {
                        return Ok(Some(Next::Start { id: self.tag(id), source, resume }));
                    }
                    Action::Abort { id } => return Ok(Some(Next::Abort { id: self.tag(id) })),
                    Action::Timer { id, after } => self.timers.push((now + after, id)),
                    other => log::warn!("unknown action {other:?}"),
                }
            }
            if !self.out.is_empty() {
                let bytes = std::mem::take(&mut self.out);
                self.out_end += bytes.len() as u64;
                if std::mem::take(&mut self.result_out) {
                    self.result_end = Some(self.out_end);
                }
                return Ok(Some(Next::Write { bytes, end: self.out_end }));
            }
            if !self.reboot_pending {
                return Ok(None);
            }
            self.finish_reboot()?;
        }
    }

    /// When [`Modem::handle_timeout`] is due next, if a timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|&(at, _)| at).min()
    }

    /// Emulated time has reached `now`: runs every timer due by then, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ModemError> {
        self.finish_reboot()?;
        while let Some(i) =
            (0..self.timers.len()).filter(|&i| self.timers[i].0 <= now).min_by_key(|&i| self.timers[i])
        {
            let (_, id) = self.timers.swap_remove(i);
            self.handle_timer(id)?;
        }
        Ok(())
    }

    /// The output up to offset `end` ([`Next::Write`]) has left for the host: an upgrade
    /// result in it now counts as reported for good (a power cut before this makes the next
    /// boot report it again).
    pub fn written(&mut self, end: u64) {
        if self.result_end.is_some_and(|e| end >= e) {
            self.result_end = None;
            if let Some(engine) = self.engine.as_mut() {
                engine.result_reported();
            }
        }
    }

    fn handle_timer(&mut self, id: u64) -> Result<(), ModemError> {
        if id == DEFERRED_RESPONSE {
            let Some(response) = self.deferred.take() else { return Ok(()) };
            self.out.extend_from_slice(&response);
            let backlog = std::mem::take(&mut self.backlog);
            return self.handle_input(&backlog);
        }
        if let Some(e) = self.engine.as_mut() {
            e.handle_timer(id);
        }
        self.after_events()
    }

    /// Carries out a pending reboot once the output before it has been handed out:
    /// bootloader, banner, result URC.
    fn finish_reboot(&mut self) -> Result<(), ModemError> {
        if !self.reboot_pending || !self.out.is_empty() {
            return Ok(());
        }
        self.reboot_pending = false;
        match self.engine.take() {
            Some(engine) => self.boot(engine.into_flash()),
            None => Ok(()),
        }
    }

    /// Downloader: transfer `id` got its response.
    pub fn handle_started(&mut self, id: u64, info: StartInfo) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if let (Some(id), Some(e)) = (self.untag(id), self.engine.as_mut()) {
            e.handle_started(id, info);
        }
        self.after_events()
    }

    /// Downloader: bytes of transfer `id`.
    pub fn handle_data(&mut self, id: u64, data: &[u8]) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if let (Some(id), Some(e)) = (self.untag(id), self.engine.as_mut()) {
            e.handle_data(id, data);
        }
        self.after_events()
    }

    /// Downloader: transfer `id` ended (with any client's error type that
    /// converts into the neutral [`TransferError`]).
    pub fn handle_finished<E: Into<TransferError>>(
        &mut self,
        id: u64,
        result: Result<Outcome, E>,
    ) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if let (Some(id), Some(e)) = (self.untag(id), self.engine.as_mut()) {
            e.handle_finished(id, result.map_err(Into::into));
        }
        self.after_events()
    }

    /// The engine (for inspection by tests and logs).
    pub fn engine(&self) -> Option<&Engine<F>> {
        self.engine.as_ref()
    }

    /// The engine, mutably (the shell stops it before exiting).
    pub fn engine_mut(&mut self) -> Option<&mut Engine<F>> {
        self.engine.as_mut()
    }

    /// Number of boots since power-on (1 after power-on).
    pub fn boots(&self) -> u64 {
        self.boots
    }

    /// Stops the modem and gives the flash back (a power cut): `None` only if it was lost.
    pub fn into_flash(mut self) -> Option<F> {
        self.engine.take().map(Engine::into_flash).or(self.unbooted.take())
    }

    /// The next newly installed image fails its self-test, once (as `--fail-self-test` does for
    /// every image): the watchdog reboots the device and the bootloader reverts it.
    pub fn fail_next_self_test(&mut self) {
        self.fail_next_self_test = true;
    }

    /// A test bench changes the emulated network (control channel): the profile's state
    /// changes, and the URCs the host would see, and what the change does to a running
    /// download, go out through [`Modem::poll`]. Refused with the reason (nothing changes)
    /// when the module has no such thing (a 2G network for the nRF9160, a call while not
    /// registered) or while the device boots.
    pub fn apply_stimulus(&mut self, stimulus: Stimulus) -> Result<(), String> {
        let Some(engine) = self.engine.as_mut() else { return Err("the device is not running".into()) };
        let mut system = SystemRequest::default();
        let mut ctx = Ctx { engine, system: &mut system };
        self.profile.apply_stimulus(&mut ctx, stimulus)?;
        for urc in &system.urcs {
            self.out.extend_from_slice(atfota_at::line(urc).as_bytes());
        }
        // What the change did to a download (a call that breaks it) follows its URCs.
        if self.drain_events() || system.reset {
            self.begin_reboot();
        }
        Ok(())
    }

    /// The link a download sees now (from the radio, the SIM, the registration, the RAT).
    pub fn link(&self) -> CellLink {
        self.profile.link()
    }

    /// The cellular state (registration, RAT, signal, SIM, PDNs), for a status report.
    pub fn cellular_status(&self) -> CellularStatus {
        self.profile.cellular_status()
    }

    /// The id a shell sees for the engine's transfer `id`: tagged with the boot, because every
    /// boot's engine counts from 1 again and a transfer of the firmware that just stopped may
    /// still deliver a few chunks.
    fn tag(&self, id: u64) -> u64 {
        (self.boots << 32) | (id & 0xFFFF_FFFF)
    }

    /// The engine's id of a shell's transfer id, if it belongs to this boot.
    fn untag(&self, id: u64) -> Option<u64> {
        (id >> 32 == self.boots).then_some(id & 0xFFFF_FFFF)
    }

    /// Executes one command line.
    fn execute_line(&mut self, line: &str) -> LineEnd {
        let commands = match atfota_at::parse_line(line) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("unparsable command line: {e}");
                self.respond(&Response::error());
                return LineEnd::Next;
            }
        };
        let mut system = SystemRequest::default();
        let mut lines = Vec::new();
        let mut result = Final::Ok;
        for cmd in &commands {
            let resp = self.execute(cmd, &mut system);
            lines.extend(resp.lines);
            if resp.result != Final::Ok {
                result = resp.result;
                break;
            }
        }
        // Events raised by the command (cancel's 1,2,0) go out before its final result, unless
        // they report what happened after it was accepted (a download that cannot start).
        let mut reset_by_event = !system.events_after_response && self.drain_events();
        let response = Response { lines, result };
        if let Some(after) = system.defer {
            self.deferred = Some(response.render(self.cmee).into_bytes());
            self.actions.push_back(Action::Timer { id: DEFERRED_RESPONSE, after });
            return LineEnd::Deferred;
        }
        self.respond(&response);
        for urc in &system.urcs {
            self.out.extend_from_slice(atfota_at::line(urc).as_bytes());
        }
        reset_by_event |= system.events_after_response && self.drain_events();
        if (system.reset && result == Final::Ok) || reset_by_event { LineEnd::Reset } else { LineEnd::Next }
    }

    fn execute(&mut self, cmd: &Command, system: &mut SystemRequest) -> Response {
        match (cmd.name.as_str(), &cmd.op) {
            ("E", Op::Action) => self.set_echo(0),
            ("E", Op::Set(a)) => match a.int(0) {
                Ok(Some(v)) => self.set_echo(v),
                _ => Response::error(),
            },
            // Only the defaults exist: result codes on, verbose.
            ("Q" | "V", Op::Action) => Response::ok(),
            ("Q", Op::Set(a)) if matches!(a.int(0), Ok(Some(0))) => Response::ok(),
            ("V", Op::Set(a)) if matches!(a.int(0), Ok(Some(1))) => Response::ok(),
            ("Z", Op::Action) => {
                self.echo = self.profile.default_echo();
                self.cmee = self.profile.default_cmee();
                Response::ok()
            }
            ("+CMEE", Op::Set(a)) => match a.int(0).ok().flatten().map(CmeeMode::try_from) {
                Some(Ok(mode)) if a.len() == 1 => {
                    self.cmee = mode;
                    Response::ok()
                }
                _ => Response::cme(CmeError::INCORRECT_PARAMETERS),
            },
            ("+CMEE", Op::Read) => Response::ok().with_line(format!("+CMEE: {}", self.cmee.code())),
            ("+CMEE", Op::Test) => Response::ok().with_line("+CMEE: (0-2)"),
            _ => match self.engine.as_mut() {
                Some(engine) => {
                    let mut ctx = Ctx { engine, system };
                    self.profile.execute(cmd, &mut ctx)
                }
                None => Response::error(),
            },
        }
    }

    fn set_echo(&mut self, v: i64) -> Response {
        match v {
            0 | 1 => {
                self.echo = v == 1;
                Response::ok()
            }
            _ => Response::error(),
        }
    }

    fn respond(&mut self, resp: &Response) {
        self.out.extend_from_slice(resp.render(self.cmee).as_bytes());
    }

    /// Turns pending engine events into URCs; true when one of them asks
    /// for a reboot (a profile that installs by itself).
    fn drain_events(&mut self) -> bool {
        let Some(engine) = self.engine.as_mut() else { return false };
        let mut system = SystemRequest::default();
        while let Some(ev) = engine.poll_event() {
            self.result_out |= matches!(ev, atfota_fota::Event::Result(_));
            let mut ctx = Ctx { engine: &mut *engine, system: &mut system };
            for urc in self.profile.on_event(&ev, &mut ctx) {
                self.out.extend_from_slice(atfota_at::line(&urc).as_bytes());
            }
        }
        system.reset
    }

    /// Drains events and begins a reboot they asked for.
    fn after_events(&mut self) -> Result<(), ModemError> {
        if self.drain_events() {
            self.begin_reboot();
        }
        Ok(())
    }

    /// Begins a reboot inside the process: what runs stops at once (a
    /// download keeps its bytes); the bootloader runs in
    /// [`Modem::finish_reboot`], after the output before it has left.
    fn begin_reboot(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            engine.shutdown();
            while let Some(a) = engine.poll_action() {
                self.actions.push_back(a);
            }
            // Events of the dying firmware (a cancelled transfer) are not reported.
            while engine.poll_event().is_some() {}
        }
        self.reboot_pending = true;
    }

    /// Boots until an image runs that passed its self-test (or gives up).
    fn boot(&mut self, mut flash: F) -> Result<(), ModemError> {
        let mut watchdog = 0;
        let mut attempts = 0;
        loop {
            let config = EngineConfig {
                fail_self_test: self.config.fail_self_test || self.fail_next_self_test,
                ..self.config
            };
            let engine = match Engine::try_power_on(flash, self.layout, &config) {
                Ok((engine, _report)) => engine,
                Err((e, back)) => {
                    attempts += 1;
                    if attempts >= MAX_BOOT_ATTEMPTS {
                        self.unbooted = Some(back);
                        return Err(e.into());
                    }
                    log::error!("boot failed ({e}): the watchdog reboots the device");
                    flash = back;
                    continue;
                }
            };
            self.boots += 1;
            self.timers.clear();
            self.framer.reset();
            self.deferred = None;
            self.backlog.clear();
            self.profile.on_boot();
            self.echo = self.profile.default_echo();
            self.cmee = self.profile.default_cmee();
            self.out.extend_from_slice(atfota_at::line(self.profile.banner()).as_bytes());
            if engine.self_test_failed() {
                self.fail_next_self_test = false;
            }
            if engine.self_test_failed() && watchdog < MAX_WATCHDOG_REBOOTS {
                watchdog += 1;
                log::warn!("self-test failed: the watchdog reboots the device");
                flash = engine.into_flash();
                continue;
            }
            self.engine = Some(engine);
            if self.drain_events() {
                // A result URC never asks for a reboot; if a profile ever
                // does, the next input carries it out rather than recursing.
                log::warn!("reboot requested during boot ignored");
            }
            return Ok(());
        }
    }
}
