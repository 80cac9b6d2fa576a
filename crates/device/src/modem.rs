//! The emulated modem without its IO: bytes in, bytes out.
//!
//! Owns the AT session (framing, echo, `+CMEE`, basic V.250 commands),
//! dispatch to the profile, URC output, and reboots inside the process. It
//! is sans-IO like the engine under it: the shell in `run.rs` feeds it bytes
//! and downloader output and writes what it returns. Responses are appended
//! to the output whole, so a URC can never land inside one.

use std::collections::VecDeque;

use atfota_at::{CmeError, CmeeMode, Command, Final, Frame, Framer, MAX_LINE_LEN, Op, Response};
use atfota_download::{Outcome, StartInfo, TransferError};
use atfota_fota::{
    Action, Conditions, Ctx, Engine, EngineConfig, EngineError, Profile, ProfileKind, SystemRequest,
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
    actions: VecDeque<Action>,
    boots: u64,
    /// An upgrade result URC is in the output and not yet known written.
    result_out: bool,
    /// A reboot has begun; the boot waits for `finish_reboot`.
    reboot_pending: bool,
    /// A command's response held back until its (emulated) operation ends.
    deferred: Option<Vec<u8>>,
    /// Bytes received while a response is held back: executed after it.
    backlog: Vec<u8>,
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
            actions: VecDeque::new(),
            boots: 0,
            result_out: false,
            reboot_pending: false,
            deferred: None,
            backlog: Vec::new(),
        };
        modem.boot(flash)?;
        Ok(modem)
    }

    /// Feeds bytes received from the host.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ModemError> {
        self.finish_reboot()?;
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

    /// A timer asked for with `Action::Timer` has run out.
    pub fn handle_timer(&mut self, id: u64) -> Result<(), ModemError> {
        self.finish_reboot()?;
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

    /// Whether a reboot has begun and waits for [`Modem::finish_reboot`]:
    /// the output taken before it (`OK`, `GTOTA DOWNLOAD COMPLETE`) should be
    /// written to the host first, as a real module sends it before rebooting.
    pub fn reboot_pending(&self) -> bool {
        self.reboot_pending
    }

    /// Carries out a pending reboot: bootloader, banner, result URC. Does
    /// nothing when none is pending. Every `handle_*` call does this first.
    pub fn finish_reboot(&mut self) -> Result<(), ModemError> {
        if !std::mem::take(&mut self.reboot_pending) {
            return Ok(());
        }
        match self.engine.take() {
            Some(engine) => self.boot(engine.into_flash()),
            None => Ok(()),
        }
    }

    /// Bytes to send to the host (drained). Once they are written, call
    /// [`Modem::output_written`].
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether output taken so far carries an upgrade result that is only
    /// marked reported once [`Modem::output_written`] says it left.
    pub fn awaiting_delivery(&self) -> bool {
        self.result_out
    }

    /// Everything taken with [`Modem::take_output`] has been written to the
    /// host: an upgrade result in it is now reported for good.
    pub fn output_written(&mut self) {
        if std::mem::take(&mut self.result_out)
            && let Some(engine) = self.engine.as_mut()
        {
            engine.result_reported();
        }
    }

    /// Next transfer to start or stop.
    pub fn poll_action(&mut self) -> Option<Action> {
        if let Some(engine) = self.engine.as_mut() {
            while let Some(a) = engine.poll_action() {
                self.actions.push_back(a);
            }
        }
        self.actions.pop_front()
    }

    /// Downloader: transfer `id` got its response.
    pub fn handle_started(&mut self, id: u64, info: StartInfo) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if let Some(e) = self.engine.as_mut() {
            e.handle_started(id, info);
        }
        self.after_events()
    }

    /// Downloader: bytes of transfer `id`.
    pub fn handle_data(&mut self, id: u64, data: &[u8]) -> Result<(), ModemError> {
        self.finish_reboot()?;
        if let Some(e) = self.engine.as_mut() {
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
        if let Some(e) = self.engine.as_mut() {
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

    /// Stops the modem and gives the flash back (a power cut, for tests).
    pub fn into_flash(mut self) -> Option<F> {
        self.engine.take().map(Engine::into_flash)
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
            let engine = match Engine::try_power_on(flash, self.layout, &self.config) {
                Ok((engine, _report)) => engine,
                Err((e, back)) => {
                    attempts += 1;
                    if attempts >= MAX_BOOT_ATTEMPTS {
                        return Err(e.into());
                    }
                    log::error!("boot failed ({e}): the watchdog reboots the device");
                    flash = back;
                    continue;
                }
            };
            self.boots += 1;
            self.framer.reset();
            self.deferred = None;
            self.backlog.clear();
            self.profile.on_boot();
            self.echo = self.profile.default_echo();
            self.cmee = self.profile.default_cmee();
            self.out.extend_from_slice(atfota_at::line(self.profile.banner()).as_bytes());
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
