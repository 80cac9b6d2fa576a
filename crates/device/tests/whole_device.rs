//! The whole device under power cuts and flash failures, MCUboot-simulator
//! style but one level up: a whole update driven through the sans-IO
//! [`Modem`] on simulated flash — the start command, the data fed in chunks
//! with checkpoints, verification, the "downloaded" URC, the reset, the swap
//! (or the modem delta's apply), boot, self-test, confirm (or revert), the
//! result URC and its clearing. Every flash operation of that run is
//! counted; then for every k the power is cut before operation k (cleanly,
//! and again tearing it), the device powered on again and the update
//! finished as a host would (reissuing the same URL where the download was
//! interrupted). Then, for every k, operation k fails instead (once, and as
//! a sector that stays bad until healed).
//!
//! Checked after every power-on and at the end: the device answers `AT`;
//! the running image is exactly the old or the new one, byte for byte; the
//! update ends where it should (the new image, or the old one for a revert)
//! and reports its result URC once — twice only when the cut struck after
//! the first report left and before the device forgot it (at least once,
//! never lost) — and never a result for an update that did not happen.
//!
//! `ATFOTA_CUT_STRIDE=n` tries every n-th operation only (default 1: all).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use atfota_boot::ModemUpdater;
use atfota_device::{DeviceConfig, Modem, ModemImage, Next, layout_for, provision_with};
use atfota_download::{Outcome, Resume, StartInfo, TransferError};
use atfota_fota::{EngineConfig, ProfileKind};
use atfota_image::{ModemFirmware, SigningKey, sign_delta};
use atfota_storage::{CutMode, Fault, FlashError, Geometry, Layout, NorFlash, SimFlash};

/// Bytes per `handle_data` call: a TCP segment's worth, never sector-aligned.
const CHUNK: usize = 1460;
const VALIDATOR: &str = "\"etag-1\"";

/// A flash the test keeps a handle on while the modem owns it: a power cut
/// (or a failed boot) must not take the cell array away with the modem.
#[derive(Clone)]
struct Shared(Rc<RefCell<SimFlash>>);

impl NorFlash for Shared {
    fn geometry(&self) -> Geometry {
        self.0.borrow().geometry()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.0.borrow_mut().read(offset, buf)
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.0.borrow_mut().write(offset, data)
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.0.borrow_mut().erase(offset, len)
    }
}

/// Which image the device runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    Old,
    New,
}

/// One update to prove: a device, the file the server holds, how the host drives it.
struct Scenario {
    name: &'static str,
    profile: ProfileKind,
    config: EngineConfig,
    layout: Layout,
    factory: SimFlash,
    /// The file on the (emulated) server.
    file: Vec<u8>,
    /// The command line that starts the download, and resumes it when sent again.
    start: String,
    /// The URC that says the download is complete.
    downloaded: &'static str,
    /// Whether the host resets the device after it (the NL668 reboots by itself).
    reset: Option<&'static str>,
    /// The start of every result URC, the one this update must end with, and the one that
    /// says the new image did not confirm itself and the old one is back.
    result_prefix: &'static str,
    result: &'static str,
    reverted: &'static str,
    /// The image the update must end with.
    want: Running,
    /// The old and new bytes of what the update replaces.
    old: Vec<u8>,
    new: Vec<u8>,
    /// Whether the update replaces the modem firmware (else the application).
    modem: bool,
}

impl Scenario {
    /// The nRF9160 SLM updating its application (`AT#XFOTA=1`), confirming or (`revert`) not.
    fn slm_app(revert: bool) -> Self {
        let profile = ProfileKind::Nrf9160Slm;
        let new =
            atfota_device::application_image("whole device 1.1.0", "1.1.0".parse().unwrap(), 20_011).unwrap();
        let config = EngineConfig { fail_self_test: revert, ..EngineConfig::default() };
        let (layout, factory) = device(profile, None);
        Self {
            name: if revert { "nrf9160-slm application, revert" } else { "nrf9160-slm application" },
            profile,
            config,
            layout,
            factory,
            file: new.clone(),
            start: "AT#XFOTA=1,\"http://fota.test/app.bin\"".into(),
            downloaded: "#XFOTA: 4,0",
            reset: Some("AT#XRESET"),
            result_prefix: "#XFOTA: 5,",
            result: if revert { "#XFOTA: 5,3" } else { "#XFOTA: 5,0" },
            reverted: "#XFOTA: 5,3",
            want: if revert { Running::Old } else { Running::New },
            old: atfota_device::factory_image(profile).unwrap(),
            new,
            modem: false,
        }
    }

    /// The NL668 updating its firmware (`AT+GTOTA`), which installs by itself.
    fn nl668() -> Self {
        let profile = ProfileKind::Nl668;
        let new =
            atfota_device::application_image("whole device nl668", "1.1.0".parse().unwrap(), 17_777).unwrap();
        let (layout, factory) = device(profile, None);
        Self {
            name: "nl668 firmware",
            profile,
            config: EngineConfig::default(),
            layout,
            factory,
            file: new.clone(),
            start: "AT+GTOTA=0,\"http://fota.test/nl.bin\"".into(),
            downloaded: "GTOTA DOWNLOAD COMPLETE",
            reset: None,
            result_prefix: "GTOTA UPGRADE",
            result: "GTOTA UPGRADE SUCCESS",
            reverted: "GTOTA UPGRADE FAILED: 14",
            want: Running::New,
            old: atfota_device::factory_image(profile).unwrap(),
            new,
            modem: false,
        }
    }

    /// The nRF9160 SLM updating its modem firmware with a delta (`AT#XFOTA=2`): the
    /// `elf` pair of testdata/delta, patched with detools' own heatshrink patch.
    fn slm_modem_delta() -> Self {
        let profile = ProfileKind::Nrf9160Slm;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/delta/elf");
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let (old, new, patch) = (read("from.bin"), read("to.bin"), read("detools-heatshrink.patch"));
        let fw = |b: &[u8], v: &str| ModemFirmware::of(b, v.parse().unwrap()).unwrap();
        let file = sign_delta(
            &fw(&old, "mfw_nrf9160_1.3.5"),
            &fw(&new, "mfw_nrf9160_1.3.6"),
            &patch,
            &SigningKey::development(),
        )
        .unwrap();
        let image = ModemImage { bytes: old.clone(), version: "mfw_nrf9160_1.3.5".into() };
        let (layout, factory) = device(profile, Some(&image));
        Self {
            name: "nrf9160-slm modem delta",
            profile,
            config: EngineConfig::default(),
            layout,
            factory,
            file,
            start: "AT#XFOTA=2,\"http://fota.test/delta.bin\"".into(),
            downloaded: "#XFOTA: 4,0",
            reset: Some("AT#XRESET"),
            result_prefix: "#XFOTA: 5,",
            result: "#XFOTA: 5,0",
            reverted: "#XFOTA: 5,3",
            want: Running::New,
            old,
            new,
            modem: true,
        }
    }

    /// Which image runs, byte for byte; panics when it is neither.
    fn running(&self, flash: &mut SimFlash, ctx: &str) -> Running {
        let read = |flash: &mut SimFlash, len: usize| {
            if self.modem {
                let up = ModemUpdater::new(flash.geometry(), self.layout.modem.unwrap()).unwrap();
                let mut out = Vec::new();
                up.export(flash, &mut out)
                    .unwrap_or_else(|e| panic!("{ctx}: no running modem firmware: {e}"));
                out
            } else {
                let mut v = vec![0u8; len];
                self.layout.primary.read(flash, 0, &mut v).unwrap();
                v
            }
        };
        if read(flash, self.old.len()) == self.old {
            Running::Old
        } else if read(flash, self.new.len()) == self.new {
            Running::New
        } else {
            panic!("{ctx}: the running image is neither the old nor the new one, byte for byte")
        }
    }
}

/// A factory-fresh device of `profile` (small slots: the proofs run thousands of updates).
fn device(profile: ProfileKind, modem: Option<&ModemImage>) -> (Layout, SimFlash) {
    let cfg = DeviceConfig::for_new_device(profile, 128 * 1024, modem).unwrap();
    let layout = layout_for(&cfg).unwrap();
    let mut flash = SimFlash::new(Geometry::new(4096, 4, layout.capacity()).unwrap());
    let image = modem.cloned().unwrap_or_else(|| ModemImage::factory(profile));
    provision_with(&mut flash, &layout, profile, &image).unwrap();
    (layout, flash)
}

/// What went wrong in a run, for the failure-injection proof.
#[derive(Default)]
struct Seen {
    /// Every line the host received.
    lines: Vec<String>,
    /// Result URCs received.
    results: Vec<String>,
    /// Reverts reported while the update had to succeed: a cut struck the new image on
    /// trial before it confirmed itself, so the bootloader restored the old one (the host
    /// then runs the update again).
    reverts: Vec<String>,
    /// Whether a result had been received when the power was cut.
    result_before_cut: bool,
    /// Power cuts that struck.
    cuts: u32,
    /// The start command was answered with an error (its synchronous part failed).
    refused: bool,
    /// The device could not boot (its bootloader stopped on the failing flash).
    stuck: bool,
}

/// The host and the power supply around one emulated modem.
struct Host<'a> {
    sc: &'a Scenario,
    flash: Rc<RefCell<SimFlash>>,
    modem: Option<Modem<Shared>>,
    seen: Seen,
    /// Errors a flash failure may legitimately cause are tolerated (not power cuts).
    faults: bool,
    /// Transfers the modem asked for, waiting their turn.
    queue: std::collections::VecDeque<(u64, Option<Resume>)>,
    /// Transfers the modem stopped.
    aborted: Vec<u64>,
    /// Emulated time: jumps to the next timer whenever the modem waits for one.
    now: Instant,
}

impl<'a> Host<'a> {
    fn new(sc: &'a Scenario, flash: SimFlash, faults: bool) -> Self {
        Self {
            sc,
            flash: Rc::new(RefCell::new(flash)),
            modem: None,
            seen: Seen::default(),
            faults,
            queue: Default::default(),
            aborted: Vec::new(),
            now: Instant::now(),
        }
    }

    fn dead(&self) -> bool {
        !self.flash.borrow().is_powered()
    }

    fn ops(&self) -> u64 {
        self.flash.borrow().ops()
    }

    /// The power died: the device stops; what it was saying is lost.
    fn cut(&mut self) {
        self.modem = None;
        // Transfer ids start again at every boot.
        self.queue.clear();
        self.aborted.clear();
        self.seen.cuts += 1;
        self.seen.result_before_cut |= !self.seen.results.is_empty();
    }

    /// Powers on (again after a cut): boots until the application runs, then checks it.
    fn power_on(&mut self, ctx: &str) {
        self.queue.clear();
        self.aborted.clear();
        for _ in 0..8 {
            self.flash.borrow_mut().restore_power();
            let sc = self.sc;
            match Modem::power_on(Shared(self.flash.clone()), sc.layout, sc.profile, sc.config) {
                Ok(m) => {
                    self.modem = Some(m);
                    if self.deliver().is_some() {
                        self.check_alive(ctx);
                        return;
                    }
                }
                Err(_) if self.dead() => self.cut(),
                Err(_) if self.faults => {
                    self.seen.stuck = true;
                    return;
                }
                Err(e) => panic!("{ctx}: boot failed: {e}"),
            }
        }
        panic!("{ctx}: the device never came up");
    }

    /// Takes what the modem hands out as the IO shell does (each write acknowledged, a
    /// reboot carried out once the output before it left, timers run when due), queueing the
    /// transfers it asks for. `None` when the power died meanwhile: that output never left.
    fn deliver(&mut self) -> Option<String> {
        let mut all = String::new();
        loop {
            if self.dead() {
                self.cut();
                return None;
            }
            let m = self.modem.as_mut()?;
            let next = match m.poll(self.now) {
                Ok(next) => next,
                Err(e) if self.flash.borrow().is_powered() => {
                    if self.faults {
                        self.seen.stuck = true;
                        self.modem = None;
                        return None;
                    }
                    panic!(
                        "{}: reboot failed at op {}: {e}; seen {:?}",
                        self.sc.name,
                        self.ops(),
                        self.seen.lines
                    );
                }
                Err(_) => {
                    self.cut();
                    return None;
                }
            };
            match next {
                Some(Next::Write { bytes, end }) => {
                    let out = String::from_utf8(bytes).expect("modem output is UTF-8");
                    for l in out.split("\r\n").filter(|l| !l.is_empty()) {
                        if l == self.sc.reverted && self.sc.result != self.sc.reverted {
                            self.seen.reverts.push(l.to_string());
                        } else if l.starts_with(self.sc.result_prefix) {
                            self.seen.results.push(l.to_string());
                        }
                        self.seen.lines.push(l.to_string());
                    }
                    all.push_str(&out);
                    m.written(end);
                    if !self.flash.borrow().is_powered() {
                        self.cut();
                        return None;
                    }
                }
                Some(Next::Start { id, resume, .. }) => self.queue.push_back((id, resume)),
                Some(Next::Abort { id }) => {
                    self.queue.retain(|q| q.0 != id);
                    self.aborted.push(id);
                }
                Some(_) => {}
                None => return Some(all),
            }
        }
    }

    /// Sends a command line and runs what it starts; `None` when the power died.
    fn command(&mut self, line: &str) -> Option<String> {
        let m = self.modem.as_mut()?;
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\r');
        if m.handle_input(&bytes).is_err() && !self.dead() {
            panic!("{}: {line} failed", self.sc.name);
        }
        let mut out = self.deliver()?;
        out.push_str(&self.pump()?);
        Some(out)
    }

    /// Serves the transfers the modem asks for from the file, in chunks; emulated time jumps
    /// to the next timer when nothing else is left.
    fn pump(&mut self) -> Option<String> {
        let mut out = String::new();
        loop {
            out.push_str(&self.deliver()?);
            let Some((id, resume)) = self.queue.pop_front() else {
                match self.modem.as_ref()?.poll_timeout() {
                    Some(at) => {
                        self.now = self.now.max(at);
                        self.modem.as_mut()?.handle_timeout(self.now).ok();
                        continue;
                    }
                    None => return Some(out),
                }
            };
            let offset = resume.as_ref().map_or(0, |r| r.offset) as usize;
            if let Some(r) = &resume {
                assert_eq!(r.validator.as_deref(), Some(VALIDATOR), "{}", self.sc.name);
            }
            assert!(offset < self.sc.file.len(), "{}: resume past the end", self.sc.name);
            let info = StartInfo {
                offset: offset as u64,
                total: self.sc.file.len() as u64,
                validator: Some(VALIDATOR.into()),
            };
            self.modem.as_mut()?.handle_started(id, info).ok();
            out.push_str(&self.deliver()?);
            for chunk in self.sc.file[offset..].chunks(CHUNK) {
                self.modem.as_mut()?.handle_data(id, chunk).ok();
                out.push_str(&self.deliver()?);
                if self.aborted.contains(&id) || !self.downloading() {
                    break;
                }
            }
            if !self.aborted.contains(&id) && self.downloading() {
                let m = self.modem.as_mut()?;
                m.handle_finished(id, Ok::<_, TransferError>(Outcome::Complete)).ok();
            }
        }
    }

    fn downloading(&self) -> bool {
        self.modem.as_ref().and_then(|m| m.engine()).is_some_and(|e| e.is_downloading())
    }

    /// The device answers `AT` and runs exactly the old or the new image.
    fn check_alive(&mut self, ctx: &str) -> Running {
        let m = self.modem.as_mut().expect("powered");
        // Echo off (the NL668 echoes by default) so answers compare exactly.
        m.handle_input(b"ATE0\r").unwrap();
        let echo_off = self.deliver().expect("powered");
        assert!(echo_off.ends_with("\r\nOK\r\n"), "{ctx}: ATE0: {echo_off:?}");
        self.modem.as_mut().expect("powered").handle_input(b"AT\r").unwrap();
        let answer = self.deliver().expect("powered");
        assert_eq!(answer, "\r\nOK\r\n", "{ctx}: AT");
        self.sc.running(&mut self.flash.borrow_mut(), ctx)
    }

    /// Runs the update to its end as a host would, across any power cuts.
    fn update(&mut self, ctx: &str) {
        if self.modem.is_none() {
            self.power_on(ctx);
        }
        let mut downloaded = false;
        let mut reverts = self.seen.reverts.len();
        for _ in 0..12 {
            if self.seen.stuck {
                return;
            }
            if self.seen.reverts.len() > reverts {
                // The update was reverted: the host runs it again.
                reverts = self.seen.reverts.len();
                downloaded = false;
            }
            if self.modem.is_none() {
                self.power_on(ctx);
                if self.seen.stuck {
                    return;
                }
            }
            if !self.seen.results.is_empty() {
                return;
            }
            if !downloaded {
                let Some(out) = self.command(&self.sc.start) else { continue };
                let answer = out.split("\r\n").find(|l| *l == "OK" || l.contains("ERROR"));
                self.seen.refused |= answer != Some("OK");
                if self.seen.results.is_empty() && !out.contains(self.sc.downloaded) {
                    if self.faults {
                        return;
                    }
                    panic!("{ctx}: the download did not complete: {out:?}");
                }
                downloaded = true;
            }
            if let Some(reset) = self.sc.reset
                && self.seen.results.is_empty()
            {
                let Some(_) = self.command(reset) else { continue };
                // The reset reports the result of the boot it started.
            }
            if self.seen.results.is_empty() && self.seen.reverts.len() == reverts && !self.faults {
                panic!("{ctx}: no result after the update's reboot: {:?}", self.seen.lines);
            }
            if self.faults {
                return;
            }
        }
        panic!("{ctx}: the update never finished: {:?}", self.seen.lines);
    }

    /// After the update: the result as it must be, delivered once (or twice around a cut
    /// that struck its clearing), the right image, and nothing more at the next reset.
    fn check_end(&mut self, ctx: &str) {
        let sc = self.sc;
        assert!(!self.seen.results.is_empty(), "{ctx}: no result URC");
        assert!(self.seen.results.iter().all(|r| r == sc.result), "{ctx}: results {:?}", self.seen.results);
        let most = if self.seen.result_before_cut { 2 } else { 1 };
        assert!(self.seen.results.len() <= most, "{ctx}: results {:?}", self.seen.results);
        // A revert of an update that had to succeed only follows a cut of the image on trial.
        assert!(
            self.seen.reverts.is_empty() || self.seen.cuts == 1,
            "{ctx}: reverted {:?}",
            self.seen.reverts
        );
        assert!(self.seen.reverts.len() <= 2, "{ctx}: reverted {:?}", self.seen.reverts);
        assert_eq!(self.check_alive(ctx), sc.want, "{ctx}: the update ended with the wrong image");
        // Reported for good: neither a reset nor a power cycle brings it back.
        let before = self.seen.results.len();
        if let Some(reset) = sc.reset {
            self.command(reset).expect("no cut planned any more");
        }
        self.modem = None;
        self.power_on(ctx);
        assert_eq!(self.seen.results.len(), before, "{ctx}: the result is reported again");
    }
}

/// The number of flash operations of a whole update without cuts, after checking it.
fn reference(sc: &Scenario) -> u64 {
    let mut host = Host::new(sc, sc.factory.clone(), false);
    host.power_on(sc.name);
    let start = host.ops();
    host.update(sc.name);
    let n = host.ops() - start;
    host.check_end(sc.name);
    assert_eq!(host.seen.results.len(), 1, "{}", sc.name);
    n
}

fn stride() -> u64 {
    std::env::var("ATFOTA_CUT_STRIDE").ok().and_then(|s| s.parse().ok()).filter(|&s| s > 0).unwrap_or(1)
}

/// Cuts the power before every operation k of the update (clean and torn).
fn prove_cuts(sc: &Scenario) {
    let n = reference(sc);
    let mut points = 0;
    for k in (1..=n + 1).step_by(stride() as usize) {
        for mode in [CutMode::Clean, CutMode::Tear] {
            let ctx = format!("{}: cut before op {k}/{n} ({mode:?})", sc.name);
            let mut host = Host::new(sc, sc.factory.clone(), false);
            host.power_on(&ctx);
            let at = host.ops() + k;
            host.flash.borrow_mut().cut_before(at, mode, k * 7919 + 13);
            host.update(&ctx);
            host.check_end(&ctx);
            points += 1;
        }
    }
    println!("{}: {n} flash operations, {points} interruption points, 0 failures", sc.name);
}

/// Makes every operation k of the update fail (once, and as a bad sector), then heals and retries.
fn prove_faults(sc: &Scenario) {
    let n = reference(sc);
    let mut points = 0;
    let mut stuck = 0;
    let mut failures = Vec::new();
    for k in (1..=n).step_by(stride() as usize) {
        for fault in [Fault::Once, Fault::BadSector] {
            let ctx = format!("{}: op {k}/{n} fails ({fault:?})", sc.name);
            let quiet = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fault_once(sc, k, fault, &ctx)));
            std::panic::set_hook(quiet);
            if let Ok(true) = r {
                stuck += 1;
            }
            if let Err(e) = r {
                let why = e.downcast_ref::<String>().cloned().unwrap_or_default();
                let tail: String =
                    why.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
                let head: String = why.chars().take(160).collect();
                failures.push(format!("{head} ...{tail}"));
            }
            points += 1;
        }
    }
    println!(
        "{}: {n} flash operations, {points} failed-operation points ({stuck} bad sectors under a swap \
         or apply stopped the bootloader until healed), {} failures",
        sc.name,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One failed operation and the retry after it; true when the device could not boot until healed.
fn fault_once(sc: &Scenario, k: u64, fault: Fault, ctx: &str) -> bool {
    let mut host = Host::new(sc, sc.factory.clone(), true);
    host.power_on(ctx);
    let at = host.ops() + k;
    host.flash.borrow_mut().fail_at(at, fault);
    host.update(ctx);
    check_failure_report(&mut host, fault, ctx);
    let stuck = host.seen.stuck;
    // The fault goes away; the host retries until the update is through.
    host.flash.borrow_mut().heal();
    host.faults = false;
    host.seen.stuck = false;
    host.modem = None;
    host.power_on(ctx);
    if host.seen.results.iter().all(|r| r != sc.result) {
        host.seen.results.clear();
        host.update(ctx);
    }
    let results: Vec<String> = host.seen.results.clone();
    assert!(results.iter().any(|r| r == sc.result), "{ctx}: the retry must succeed: {:?}", host.seen.lines);
    assert_eq!(host.check_alive(ctx), sc.want, "{ctx}");
    stuck
}

/// After an operation failed: the device runs a valid image, answers, and said what failed.
fn check_failure_report(host: &mut Host<'_>, fault: Fault, ctx: &str) {
    if host.seen.stuck {
        // A sector that stays bad under a swap or an apply in progress stops the
        // bootloader (as MCUboot stops); it must not happen for a failure that goes away.
        assert_eq!(fault, Fault::BadSector, "{ctx}: a failure that does not repeat stopped the device");
        return;
    }
    assert!(host.modem.is_some(), "{ctx}: the device is down");
    host.check_alive(ctx);
    let failed = host.seen.lines.iter().any(|l| {
        l.starts_with("#XFOTA: 1,1,")
            || l.starts_with("#XFOTA: 5,1,")
            || l == "#XFOTA: 5,3"
            || l.starts_with("GTOTA DOWNLOAD FAILED")
            || l.starts_with("GTOTA UPGRADE FAIL")
    });
    let succeeded = host.seen.results.iter().any(|r| r == host.sc.result);
    assert!(
        failed || succeeded || host.seen.refused,
        "{ctx}: a failed operation must be reported: {:?}",
        host.seen.lines
    );
}

#[test]
fn slm_application_update_survives_a_cut_at_every_operation() {
    prove_cuts(&Scenario::slm_app(false));
}

#[test]
fn slm_application_revert_survives_a_cut_at_every_operation() {
    prove_cuts(&Scenario::slm_app(true));
}

#[test]
fn nl668_update_survives_a_cut_at_every_operation() {
    prove_cuts(&Scenario::nl668());
}

#[test]
fn slm_modem_delta_survives_a_cut_at_every_operation() {
    prove_cuts(&Scenario::slm_modem_delta());
}

#[test]
fn slm_application_update_survives_a_failure_of_every_operation() {
    prove_faults(&Scenario::slm_app(false));
}

#[test]
fn nl668_update_survives_a_failure_of_every_operation() {
    prove_faults(&Scenario::nl668());
}

#[test]
fn slm_modem_delta_survives_a_failure_of_every_operation() {
    prove_faults(&Scenario::slm_modem_delta());
}
