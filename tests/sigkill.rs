//! Whole-process power cuts (issue 4): the real `atfota modem` binary is killed with SIGKILL at
//! random moments and started again on the same data directory, over and over.
//!
//! One device (8 MiB slots, so a swap takes measurable time) alternates between two signed
//! images, A (2.0.0, 3 MiB) and B (3.0.0, 2.5 MiB), served by an `HttpPeer` behind a throttled
//! `FaultProxy` so that kills land mid-transfer. Every round picks a phase (each phase once per
//! block of four rounds, in random order) and a random delay:
//!
//! - `download`: kill at a random moment after `AT#XFOTA=1` answered `OK`;
//! - `scheduled`: kill 0–3 ms after `#XFOTA: 4,0`;
//! - `swap`: after `4,0`, send `AT#XRESET` and kill 0–N ms later (N: a measured reset);
//! - `boot`: kill after `4,0`, then start the device and kill it again while it boots (0–N ms
//!   after spawning: the swap, the self-test, the confirm and the settings writes) or 0–3 ms
//!   after its `Ready`.
//!
//! After every kill the flash file is read while no process runs: the boot state and the
//! settings tell exactly what the next power-on must do (which image ends up running, which
//! `#XFOTA: 5,x` it reports). Then the device is started again and must print `Ready`, answer
//! `AT`, report that version with `AT#XSLMVER`, hold that image byte for byte at the start of
//! the primary slot, report the predicted result, and have nothing half-done in its boot
//! state. The next `AT#XFOTA=1` for the same URL must ask for `Range: bytes=N-` exactly when
//! the settings held a resume point `N` (checked in the server's request log), and every
//! resumed image must install bit-exact. The last round installs the target cleanly; the test
//! then checks it is confirmed and survives a clean restart.
//!
//! Switches (environment):
//!
//! - `ATFOTA_SIGKILL_KILLS=N`: kill at least N times (default 50, about 11 s in `--release`);
//!   thousands run the same way, e.g.
//!   `ATFOTA_SIGKILL_KILLS=3000 cargo test --release --test sigkill -- --nocapture`.
//! - `ATFOTA_SIGKILL_SEED=S`: replay the phase and delay choices of a run (every run prints
//!   its seed; timing on a loaded machine still varies, so a replay lands near, not exactly
//!   on, the same instants).
//!
//! Every wait is bounded, every child is killed when its guard drops (a failing run leaves no
//! process behind), and the only server is on loopback. The seeded generator is a SplitMix64
//! written here rather than `fastrand`, because `fastrand` is not a dev-dependency of the root
//! package and this test may not edit that manifest; ten lines give the same replayability.

mod common;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use atfota_boot::{Bootloader, SwapState};
use atfota_device::{DataDir, OpenOptions};
use atfota_host::update::slm_urc;
use atfota_host::{Direction, Reply, Session};
use atfota_peers::{Fault, FaultProxy, HttpPeer};
use atfota_storage::{NorFlash, Settings};
use common::{WAIT, app_image, exe};

/// Kills a default run makes (CI).
const DEFAULT_KILLS: u64 = 50;
/// Application slot of the device: room for either image with a swap of ~770 pages.
const SLOT_SIZE: &str = "8M";
/// Bytes per second through the proxy: a whole download takes about a quarter of a second.
const THROTTLE: u64 = 12_000_000;
/// How long a started device may take to print `Ready` (a swap of 3 MiB included).
const BOOT_WAIT: Duration = Duration::from_secs(20);
/// Upper bound of the "right after" delays (after `4,0`, after `Ready`).
const SHORT: Duration = Duration::from_millis(3);
/// The result URC of an installed image and of a reverted one.
const RESULT_OK: &str = "#XFOTA: 5,0";
const RESULT_REVERTED: &str = "#XFOTA: 5,3";
/// Settings keys the engine keeps (docs/FORMATS.md, "Keys the firmware uses").
const KEY_DL_ID: &str = "fota.dl.id";
const KEY_DL_OFFSET: &str = "fota.dl.offset";
const KEY_PENDING: &str = "fota.pending";

#[test]
fn sigkill_at_random_moments_never_bricks_the_device() {
    let kills = env_u64("ATFOTA_SIGKILL_KILLS").unwrap_or(DEFAULT_KILLS);
    let seed = env_u64("ATFOTA_SIGKILL_SEED").unwrap_or_else(time_seed);
    println!("sigkill: seed {seed} (replay: ATFOTA_SIGKILL_SEED={seed}), target {kills} kills");
    let started = Instant::now();
    let mut run = Run::new(seed);
    let outcome = run.calibrate().and_then(|()| {
        while run.stats.kills < kills {
            run.round()?;
        }
        run.finish()
    });
    if outcome.is_err() {
        run.stats.failures += 1;
    }
    println!("sigkill: {} in {:.1} s (seed {seed})", run.stats, started.elapsed().as_secs_f64());
    if let Err(e) = outcome {
        panic!(
            "round {} ({}), seed {seed}: {e}\n--- modem log (tail) ---\n{}",
            run.stats.rounds,
            run.stage,
            run.log_tail()
        );
    }
    // Phases come in shuffled blocks of four, so a run of this size has had about ten
    // mid-download kills: at least one must have left bytes to resume from.
    if kills >= DEFAULT_KILLS {
        assert!(run.stats.resumes > 0, "no download was ever resumed: {}", run.stats);
        assert!(run.stats.swaps_interrupted > 0, "no kill ever landed inside a swap: {}", run.stats);
    }
}

/// Where each round cuts the power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Download,
    Scheduled,
    Swap,
    Boot,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Download, Phase::Scheduled, Phase::Swap, Phase::Boot];

    fn name(self) -> &'static str {
        match self {
            Phase::Download => "download",
            Phase::Scheduled => "after 4,0",
            Phase::Swap => "swap",
            Phase::Boot => "boot",
        }
    }
}

/// What the run counted.
#[derive(Default)]
struct Stats {
    kills: u64,
    rounds: u64,
    /// Downloads that asked for `Range` (and were required to).
    resumes: u64,
    /// Kills that left a swap half done (boot state `Swapping`).
    swaps_interrupted: u64,
    /// Kills that left a trial image unconfirmed or its revert half done.
    reverts: u64,
    /// Images installed (the device came back running the target).
    installs: u64,
    /// Installs whose `#XFOTA: 5,x` never reached the host (see `note_results`).
    results_lost: u64,
    failures: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kills {}, rounds {}, resumes observed {}, swaps interrupted {}, trial images reverted {}, \
             installs {}, result URCs lost {}, failures {}",
            self.kills,
            self.rounds,
            self.resumes,
            self.swaps_interrupted,
            self.reverts,
            self.installs,
            self.results_lost,
            self.failures
        )
    }
}

/// One image the device may run.
struct Image {
    version: &'static str,
    bytes: Vec<u8>,
    /// Where it is downloaded from (through the throttling proxy); none for the factory image.
    url: Option<String>,
}

/// The next power-on's outcome, as the flash dictates it.
#[derive(Debug)]
struct Prediction {
    /// Index into `Run::images` of the image that must run.
    image: usize,
    /// The result URC the boot must print, if one is pending.
    result: Option<&'static str>,
}

/// A download whose first request is still to be checked against the resume point.
struct Issued {
    /// Length of the server's request log before the command was sent.
    mark: usize,
    path: String,
    /// `Some(n)`: the settings held resume point `n`, so the request must say `bytes=n-`.
    resume: Option<u64>,
}

/// The whole test: server, images, device directory, choices and counts.
struct Run {
    _www: tempfile::TempDir,
    tmp: tempfile::TempDir,
    peer: HttpPeer,
    _proxy: FaultProxy,
    /// Factory 1.0.0, A and B.
    images: Vec<Image>,
    running: usize,
    target: usize,
    dev: Option<Dev>,
    rng: SplitMix,
    block: Vec<Phase>,
    /// What the run is doing, for the failure message.
    stage: &'static str,
    issued: Option<Issued>,
    /// A result is owed to the host: an upgrade was scheduled and no `5,x` was seen yet.
    awaiting_result: bool,
    download_time: Duration,
    reset_time: Duration,
    spawn_time: Duration,
    stats: Stats,
}

impl Run {
    fn new(seed: u64) -> Self {
        let www = tempfile::tempdir().unwrap();
        let a = app_image("2.0.0", 3 * 1024 * 1024);
        let b = app_image("3.0.0", 5 * 512 * 1024);
        std::fs::write(www.path().join("a.bin"), &a).unwrap();
        std::fs::write(www.path().join("b.bin"), &b).unwrap();
        let peer = HttpPeer::serve_dir(www.path()).unwrap();
        let proxy = FaultProxy::start(peer.addr(), vec![Fault::Throttle(THROTTLE)]).unwrap();
        let factory = atfota_device::factory_image(atfota_fota::ProfileKind::Nrf9160Slm).unwrap();
        let images = vec![
            Image { version: "1.0.0", bytes: factory, url: None },
            Image { version: "2.0.0", bytes: a, url: Some(proxy.url("a.bin")) },
            Image { version: "3.0.0", bytes: b, url: Some(proxy.url("b.bin")) },
        ];
        Self {
            _www: www,
            tmp: tempfile::tempdir().unwrap(),
            peer,
            _proxy: proxy,
            images,
            running: 0,
            target: 1,
            dev: None,
            rng: SplitMix(seed),
            block: Vec::new(),
            stage: "calibration",
            issued: None,
            awaiting_result: false,
            download_time: Duration::ZERO,
            reset_time: Duration::ZERO,
            spawn_time: Duration::ZERO,
            stats: Stats::default(),
        }
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("dev")
    }

    fn log_path(&self) -> PathBuf {
        self.tmp.path().join("modem.log")
    }

    /// A clean update from the factory image to A, timing what the random delays are drawn from.
    fn calibrate(&mut self) -> Result<(), String> {
        let mut dev = Dev::spawn(&self.data(), &self.log_path())?;
        dev.ready(BOOT_WAIT)?;
        let t = Instant::now();
        self.issue(&mut dev)?;
        dev.urc(|l| l == "#XFOTA: 4,0", WAIT)?;
        self.download_time = t.elapsed();
        self.check_request()?;
        dev.send("AT#XRESET")?;
        let t = Instant::now();
        dev.ready(BOOT_WAIT)?;
        self.reset_time = t.elapsed();
        self.dev = Some(dev);
        self.verify_running(&Prediction { image: self.target, result: Some(RESULT_OK) })?;
        let dev = self.dev.take().ok_or("no device after calibration")?;
        dev.stop()?;
        let t = Instant::now();
        let mut dev = Dev::spawn(&self.data(), &self.log_path())?;
        dev.ready(BOOT_WAIT)?;
        self.spawn_time = t.elapsed();
        self.dev = Some(dev);
        self.verify_running(&Prediction { image: self.running, result: None })?;
        println!(
            "sigkill: calibration: download {:?}, reset (swap of 3 MiB) {:?}, power-on {:?}",
            self.download_time, self.reset_time, self.spawn_time
        );
        Ok(())
    }

    /// One round: drive toward the target, cut the power in the chosen phase, check, restart.
    fn round(&mut self) -> Result<(), String> {
        let phase = self.next_phase();
        self.stage = phase.name();
        self.stats.rounds += 1;
        let mut dev = self.dev.take().ok_or("no running device at the start of a round")?;
        let resume = self.issue(&mut dev)?;
        match phase {
            Phase::Download => {
                // Scaled to what is left, so most kills land before the end of the transfer.
                let len = self.images[self.target].bytes.len() as u64;
                let left = len.saturating_sub(resume.unwrap_or(0));
                let window = self.download_time.mul_f64(left as f64 / len as f64);
                let delay = self.rng.upto(window);
                std::thread::sleep(delay);
                self.kill(dev)?;
            }
            Phase::Scheduled => {
                self.scheduled(&mut dev)?;
                std::thread::sleep(self.rng.upto(SHORT));
                self.kill(dev)?;
            }
            Phase::Swap => {
                self.scheduled(&mut dev)?;
                dev.send("AT#XRESET")?;
                std::thread::sleep(self.rng.upto(self.reset_time));
                self.kill(dev)?;
            }
            Phase::Boot => {
                self.scheduled(&mut dev)?;
                self.kill(dev)?;
                self.predict()?;
                let mut dev = Dev::spawn(&self.data(), &self.log_path())?;
                if self.rng.below(2) == 0 {
                    std::thread::sleep(self.rng.upto(self.spawn_time + self.reset_time));
                } else {
                    dev.ready(BOOT_WAIT)?;
                    std::thread::sleep(self.rng.upto(SHORT));
                }
                self.kill(dev)?;
            }
        }
        let prediction = self.predict()?;
        let dev = Dev::spawn(&self.data(), &self.log_path())?;
        self.dev = Some(dev);
        self.dev_mut()?.ready(BOOT_WAIT)?;
        self.verify_running(&prediction)
    }

    /// The last round: a clean install of the target, confirmed, kept across a clean restart.
    fn finish(&mut self) -> Result<(), String> {
        self.stage = "final install";
        let mut dev = self.dev.take().ok_or("no running device for the final install")?;
        self.issue(&mut dev)?;
        self.scheduled(&mut dev)?;
        dev.send("AT#XRESET")?;
        self.dev = Some(dev);
        self.dev_mut()?.ready(BOOT_WAIT)?;
        let target = self.target;
        self.verify_running(&Prediction { image: target, result: Some(RESULT_OK) })?;
        let dev = self.dev.take().ok_or("no device after the final install")?;
        dev.stop()?;
        let (state, pending) = self.boot_state()?;
        if !matches!(state, SwapState::Confirmed { .. }) || pending {
            return Err(format!("after the final install the boot state is {state:?} (pending: {pending})"));
        }
        let mut dev = Dev::spawn(&self.data(), &self.log_path())?;
        dev.ready(BOOT_WAIT)?;
        self.dev = Some(dev);
        self.verify_running(&Prediction { image: target, result: None })?;
        let dev = self.dev.take().ok_or("no device after the final restart")?;
        dev.stop()?;
        Ok(())
    }

    /// Each phase once per block of four rounds, in random order.
    fn next_phase(&mut self) -> Phase {
        if self.block.is_empty() {
            self.block = Phase::ALL.to_vec();
            for i in (1..self.block.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                self.block.swap(i, j);
            }
        }
        self.block.pop().unwrap_or(Phase::Download)
    }

    /// Sends `AT#XFOTA=1` for the target; returns the resume point the settings held.
    fn issue(&mut self, dev: &mut Dev) -> Result<Option<u64>, String> {
        let url = self.images[self.target].url.clone().ok_or("the factory image is never a target")?;
        let path = format!("/{}", url.rsplit('/').next().unwrap_or_default());
        // The device is idle (it just answered a command): the settings on flash are current.
        let resume = self.resume_point(&url)?;
        self.settle_requests();
        let mark = self.peer.requests().len();
        self.issued = Some(Issued { mark, path, resume });
        dev.ok(&format!("AT#XFOTA=1,\"{url}\""))?;
        Ok(resume)
    }

    /// Waits for `#XFOTA: 4,0` of the download just issued and checks its request.
    fn scheduled(&mut self, dev: &mut Dev) -> Result<(), String> {
        dev.urc(|l| l == "#XFOTA: 4,0", WAIT)?;
        self.awaiting_result = true;
        self.check_request()
    }

    /// The first request of the last `AT#XFOTA=1` must carry exactly the stored resume point.
    fn check_request(&mut self) -> Result<(), String> {
        let Some(issued) = self.issued.take() else { return Ok(()) };
        let log = self.peer.requests();
        let Some(first) = log.iter().skip(issued.mark).find(|r| r.path == issued.path) else {
            // Killed before the request left the device: nothing was asked for.
            return Ok(());
        };
        let want = issued.resume.map(|n| format!("bytes={n}-"));
        if first.range != want {
            return Err(format!(
                "download of {} sent Range {:?}, but the settings held resume point {:?} \
                 (requests since: {:?})",
                issued.path,
                first.range,
                issued.resume,
                &log[issued.mark.min(log.len())..]
            ));
        }
        if want.is_some() {
            self.stats.resumes += 1;
        }
        Ok(())
    }

    /// Power cut: SIGKILL, then collect what the host received.
    fn kill(&mut self, dev: Dev) -> Result<(), String> {
        let seen = dev.kill()?;
        self.stats.kills += 1;
        self.note_results(&seen);
        self.settle_requests();
        self.check_request()
    }

    /// A request a dying device had already sent may reach the server's log a moment after the
    /// kill; waiting until the log stops growing keeps it from being taken for the next one.
    fn settle_requests(&self) {
        let end = Instant::now() + Duration::from_millis(500);
        let mut last = self.peer.requests().len();
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
            let now = self.peer.requests().len();
            if now == last {
                return;
            }
            last = now;
        }
    }

    fn note_results(&mut self, seen: &[String]) {
        if seen.iter().any(|l| l.starts_with("#XFOTA: 5,")) {
            self.awaiting_result = false;
        }
    }

    /// Reads the flash of the dead device and works out what its next power-on must do.
    fn predict(&mut self) -> Result<Prediction, String> {
        let (state, pending) = self.boot_state()?;
        let primary = self.primary_image()?;
        let (prev, next) = (self.running, self.target);
        let owed = |r| pending.then_some(r);
        let prediction = match state {
            SwapState::Idle | SwapState::Confirmed { .. } | SwapState::Reverted { .. } => {
                let image = primary.ok_or_else(|| {
                    format!("boot state {state:?} but the primary slot holds none of the images intact")
                })?;
                if image != prev && image != next {
                    return Err(format!(
                        "the primary slot holds {} but the device ran {} toward {}",
                        self.images[image].version, self.images[prev].version, self.images[next].version
                    ));
                }
                let result = match state {
                    // Pending with nothing requested: the cut fell between the two writes of
                    // scheduling; the next boot forgets it without a report.
                    SwapState::Idle => None,
                    SwapState::Confirmed { .. } => owed(RESULT_OK),
                    _ => owed(RESULT_REVERTED),
                };
                Prediction { image, result }
            }
            SwapState::Requested { .. } => {
                if primary != Some(prev) {
                    return Err(format!(
                        "a swap is only requested, yet the primary slot no longer holds {} intact",
                        self.images[prev].version
                    ));
                }
                Prediction { image: next, result: owed(RESULT_OK) }
            }
            SwapState::Swapping { .. } => {
                self.stats.swaps_interrupted += 1;
                Prediction { image: next, result: owed(RESULT_OK) }
            }
            SwapState::Testing { .. } | SwapState::Reverting { .. } => {
                self.stats.reverts += 1;
                Prediction { image: prev, result: owed(RESULT_REVERTED) }
            }
            other => return Err(format!("unexpected boot state after a kill: {other:?}")),
        };
        if pending && prediction.result.is_some() {
            self.awaiting_result = true;
        }
        self.account_result(pending)?;
        Ok(prediction)
    }

    /// A result owed to the host, no longer pending on flash, and never seen by this test. The
    /// device clears `fota.pending` only after the URC is written to its stdout (at-least-once
    /// reporting), and every kill drains the dead process's pipe to its end, so such a URC was
    /// lost for real: that fails the run (see docs/RELIABILITY.md).
    fn account_result(&mut self, pending: bool) -> Result<(), String> {
        if self.awaiting_result && !pending {
            self.stats.results_lost += 1;
            self.awaiting_result = false;
            return Err(
                "a result URC was owed, the flash no longer holds it, and the host never received it".into(),
            );
        }
        Ok(())
    }

    /// After `Ready`: `AT`, the version, the primary slot byte for byte, the result, the state.
    fn verify_running(&mut self, want: &Prediction) -> Result<(), String> {
        let image = &self.images[want.image];
        let dev = self.dev.as_mut().ok_or("no running device to verify")?;
        let at = dev.cmd("AT")?;
        if !at.is_ok() {
            return Err(format!("AT answered {at:?}"));
        }
        let version = dev.version()?;
        if version != image.version {
            return Err(format!("AT#XSLMVER says {version}, the flash said {} must run", image.version));
        }
        // The result, if any, was printed with `Ready`, so it is queued before AT's OK.
        let result = dev.urc(|l| l.starts_with("#XFOTA: 5,"), Duration::ZERO).ok();
        if result.as_deref() != want.result {
            return Err(format!("the boot reported {result:?}, the flash said {:?}", want.result));
        }
        if result.is_some() {
            self.awaiting_result = false;
        }
        let primary = self.primary_image()?;
        if primary != Some(want.image) {
            return Err(format!(
                "the primary slot does not hold {} byte for byte (it matches {:?})",
                image.version,
                primary.map(|i| self.images[i].version)
            ));
        }
        let (state, pending) = self.boot_state()?;
        if !matches!(state, SwapState::Idle | SwapState::Confirmed { .. } | SwapState::Reverted { .. }) {
            return Err(format!("the device answers AT with its boot state half done: {state:?}"));
        }
        if pending {
            return Err(format!("a booted device still has a result pending (boot state {state:?})"));
        }
        self.account_result(pending)?;
        if want.image == self.target {
            self.stats.installs += 1;
            self.running = self.target;
            self.target = if self.target == 1 { 2 } else { 1 };
        }
        Ok(())
    }

    /// The resume point the settings hold for a download of `url`, as the engine would use it.
    fn resume_point(&self, url: &str) -> Result<Option<u64>, String> {
        let mut dir = self.open_dir()?;
        let settings = Settings::open(&mut dir.flash, dir.layout.settings).map_err(|e| e.to_string())?;
        if settings.get_str(KEY_DL_ID) != Some(&format!("app {url}")) {
            return Ok(None);
        }
        let sector = u64::from(dir.flash.geometry().sector_size);
        let slot = u64::from(dir.layout.primary.size);
        Ok(settings.get_u64(KEY_DL_OFFSET).filter(|&n| n > 0 && n % sector == 0 && n <= slot))
    }

    /// The decoded boot state and whether a result is pending.
    fn boot_state(&self) -> Result<(SwapState, bool), String> {
        let mut dir = self.open_dir()?;
        let boot = Bootloader::new(dir.flash.geometry(), dir.layout).map_err(|e| e.to_string())?;
        let state = boot.state(&mut dir.flash).map_err(|e| e.to_string())?;
        let settings = Settings::open(&mut dir.flash, dir.layout.settings).map_err(|e| e.to_string())?;
        Ok((state, settings.get(KEY_PENDING).is_some()))
    }

    /// Which image the primary slot starts with, byte for byte (the slot starts at offset 0).
    fn primary_image(&self) -> Result<Option<usize>, String> {
        let mut dir = self.open_dir()?;
        let longest = self.images.iter().map(|i| i.bytes.len()).max().unwrap_or(0);
        let mut head = vec![0u8; longest];
        dir.layout.primary.read(&mut dir.flash, 0, &mut head).map_err(|e| e.to_string())?;
        Ok(self.images.iter().position(|i| head.starts_with(&i.bytes)))
    }

    /// Opens a copy of the device's files: the data directory is locked while a device runs
    /// (one process per device), and a copy also guarantees this test never writes the flash
    /// it checks.
    fn open_dir(&self) -> Result<DataDir, String> {
        let copy = self.tmp.path().join("snapshot");
        std::fs::create_dir_all(&copy).map_err(|e| format!("{}: {e}", copy.display()))?;
        for file in ["device.toml", "flash.bin"] {
            std::fs::copy(self.data().join(file), copy.join(file))
                .map_err(|e| format!("copying the device's {file}: {e}"))?;
        }
        DataDir::open(&copy, &OpenOptions::default()).map_err(|e| format!("opening the device: {e}"))
    }

    fn dev_mut(&mut self) -> Result<&mut Dev, String> {
        self.dev.as_mut().ok_or_else(|| "no running device".to_string())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// A running `atfota modem` on stdio; dropping it kills the process.
struct Dev {
    child: Child,
    session: Session,
    input: Arc<Mutex<Option<ChildStdin>>>,
    /// Every line the modem sent that the session has read.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Dev {
    /// Starts the process; does not wait for it to boot.
    fn spawn(data: &Path, log: &Path) -> Result<Self, String> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("log {}: {e}", log.display()))?;
        // Rounds alternate two images, so every other install is a downgrade: allowed here.
        let mut child = Command::new(exe())
            .args(["modem", "--listen", "stdio", "--recv-timeout", "5", "--slot-size", SLOT_SIZE])
            .args(["--allow-downgrade", "--data"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe()))?;
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the child has no stdio pipes".into());
        };
        let input = Arc::new(Mutex::new(Some(stdin)));
        let mut session = Session::new(stdout, SharedInput(input.clone()), slm_urc);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        session.set_transcript(move |dir, line| {
            if dir != Direction::Sent {
                record.lock().unwrap().push(line.to_string());
            }
        });
        Ok(Self { child, session, input, seen })
    }

    /// Waits for the boot banner.
    fn ready(&mut self, timeout: Duration) -> Result<(), String> {
        self.urc(|l| l == "Ready", timeout).map(drop)
    }

    /// Waits for a URC; the ones before it are dropped (they stay in `seen`).
    fn urc(&mut self, want: impl Fn(&str) -> bool, timeout: Duration) -> Result<String, String> {
        self.session.wait_urc(want, |_| {}, timeout).map_err(|e| format!("waiting for a URC: {e}"))
    }

    fn cmd(&mut self, line: &str) -> Result<Reply, String> {
        self.session.command(line, WAIT).map_err(|e| format!("{line}: {e}"))
    }

    fn ok(&mut self, line: &str) -> Result<Vec<String>, String> {
        let r = self.cmd(line)?;
        if r.is_ok() { Ok(r.lines) } else { Err(format!("{line} answered {r:?}")) }
    }

    fn version(&mut self) -> Result<String, String> {
        let lines = self.ok("AT#XSLMVER")?;
        let first = lines.first().ok_or("AT#XSLMVER printed no line")?;
        first
            .strip_prefix("#XSLMVER: \"")
            .and_then(|r| r.split('"').next())
            .map(str::to_string)
            .ok_or_else(|| format!("unreadable AT#XSLMVER line {first:?}"))
    }

    /// Writes a command without waiting for its reply (`AT#XRESET` answers after the swap).
    fn send(&mut self, line: &str) -> Result<(), String> {
        let mut w = SharedInput(self.input.clone());
        w.write_all(format!("{line}\r").as_bytes())
            .and_then(|()| w.flush())
            .map_err(|e| format!("{line}: {e}"))
    }

    /// SIGKILL; returns every line the modem sent before it died.
    fn kill(mut self) -> Result<Vec<String>, String> {
        self.child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        self.child.wait().map_err(|e| format!("wait: {e}"))?;
        Ok(self.drain())
    }

    /// Closes stdin and waits (bounded) for a clean exit.
    fn stop(mut self) -> Result<Vec<String>, String> {
        self.input.lock().unwrap().take();
        let end = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(self.drain()),
                Ok(Some(st)) => return Err(format!("the modem exited with {st} when stdin closed")),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => return Err("the modem did not stop when stdin closed".into()),
                Err(e) => return Err(format!("wait: {e}")),
            }
        }
    }

    /// Reads what is left of the dead process's output (its pipe is closed, so this ends).
    fn drain(&mut self) -> Vec<String> {
        let _ = self.session.wait_urc(|_| false, |_| {}, Duration::from_secs(5));
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // Already dead after kill/stop: the errors only say so.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's stdin, shared by the session and `Dev::send`, closable by `Dev::stop`.
struct SharedInput(Arc<Mutex<Option<ChildStdin>>>);

impl Write for SharedInput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock().unwrap().as_mut() {
            Some(w) => w.write(buf),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock().unwrap().as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// SplitMix64: a seeded, replayable source of choices (see the module doc for why not fastrand).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0); the modulo bias is irrelevant at these sizes.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// A delay uniform in `0..=max`, to the microsecond.
    fn upto(&mut self, max: Duration) -> Duration {
        let us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.below(us.saturating_add(1)))
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")))
}

fn time_seed() -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
