//! Test harness: an emulated modem on simulated flash, driven in-process,
//! with its downloads run synchronously against real loopback servers.
//!
//! The modem is sans-IO, so the harness plays the IO shell through the one
//! driver every shell uses (`atfota_device::drive`): it feeds AT lines, runs
//! each transfer the modem asks for with the real downloader, lets emulated
//! time jump to the next timer when nothing else is left to do, and lets a
//! test hook act between chunks (send AT, cut the power) at exact,
//! reproducible points.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use atfota_device::{DeviceConfig, Modem, Next, Shell, drive, layout_for, provision};
use atfota_download::{Resume, Source};
use atfota_fota::{Conditions, EngineConfig, ProfileKind, trust};
use atfota_image::TrustedKey;
use atfota_peers::HttpPeer;
use atfota_storage::{Geometry, Layout, NorFlash, Settings, SimFlash};

/// What a hook wants after seeing a chunk.
pub enum Step {
    /// Deliver the chunk and go on.
    Continue,
    /// Cut the power before this chunk is delivered.
    PowerCut,
}

/// A hook called before each chunk with the bytes delivered so far and the total.
pub type Hook<'a> = &'a mut dyn FnMut(&mut Modem<SimFlash>, u64, u64) -> Step;

/// An emulated modem under test.
pub struct Dev {
    modem: Option<Modem<SimFlash>>,
    pub layout: Layout,
    pub net: atfota_net::Options,
    pub config: EngineConfig,
    pub profile: ProfileKind,
    pub conditions: Conditions,
    queued: VecDeque<Queued>,
    /// Transfers run since the device was made.
    pub transfers_run: usize,
    /// Emulated time: jumps to the next timer whenever the modem waits for one.
    now: Instant,
}

/// A transfer the modem asked for, waiting its turn.
type Queued = (u64, Source, Option<Resume>);

/// The harness's side of `drive`: the host is in-process (output is delivered as it is
/// written), transfers wait in a queue and run one at a time.
struct Harness<'a> {
    out: &'a mut String,
    queued: &'a mut VecDeque<Queued>,
    aborted: &'a mut Vec<u64>,
}

impl Shell for Harness<'_> {
    fn write(&mut self, bytes: Vec<u8>, _end: u64) -> bool {
        self.out.push_str(&String::from_utf8(bytes).expect("modem output is UTF-8"));
        true
    }

    fn start(&mut self, id: u64, source: Source, resume: Option<Resume>) {
        self.queued.push_back((id, source, resume));
    }

    fn abort(&mut self, id: u64) {
        self.queued.retain(|q| q.0 != id);
        self.aborted.push(id);
    }
}

impl Dev {
    /// A factory-fresh device (1 MiB slots, 4 KiB sectors); returns it and its boot output.
    pub fn new() -> (Self, String) {
        Self::with(1024 * 1024, &[], EngineConfig::default())
    }

    /// A factory-fresh device with the given slot size, extra trusted keys and behaviour.
    pub fn with(slot_size: u32, keys: &[TrustedKey], config: EngineConfig) -> (Self, String) {
        Self::build(ProfileKind::Nrf9160Slm, Conditions::default(), slot_size, keys, config)
    }

    /// A factory-fresh Nordic SLM (1 MiB slots) under `conditions` (IMEI, boot mode).
    pub fn slm(conditions: Conditions) -> (Self, String) {
        Self::build(ProfileKind::Nrf9160Slm, conditions, 1024 * 1024, &[], EngineConfig::default())
    }

    /// A factory-fresh Fibocom NL668 (1 MiB slots) under emulated `conditions`.
    pub fn nl668(conditions: Conditions) -> (Self, String) {
        Self::build(ProfileKind::Nl668, conditions, 1024 * 1024, &[], EngineConfig::default())
    }

    fn build(
        profile: ProfileKind,
        conditions: Conditions,
        slot_size: u32,
        keys: &[TrustedKey],
        config: EngineConfig,
    ) -> (Self, String) {
        let cfg = DeviceConfig::for_new_device(profile, slot_size, None).unwrap();
        let layout = layout_for(&cfg).unwrap();
        let geometry = Geometry::new(4096, 4, layout.capacity()).unwrap();
        let mut flash = SimFlash::new(geometry);
        provision(&mut flash, &layout, profile).unwrap();
        let mut settings = Settings::open(&mut flash, layout.settings).unwrap();
        for k in keys {
            trust::store(&mut settings, &mut flash, k).unwrap();
        }
        let net = atfota_net::Options {
            recv_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(20),
            ..atfota_net::Options::default()
        };
        let mut dev = Self {
            modem: None,
            layout,
            net,
            config,
            profile,
            conditions,
            queued: VecDeque::new(),
            transfers_run: 0,
            now: Instant::now(),
        };
        let out = dev.boot(flash);
        (dev, out)
    }

    /// Sends one command line (CR appended), runs what it starts, returns all output.
    pub fn send(&mut self, line: &str) -> String {
        self.send_with(line, &mut |_, _, _| Step::Continue)
    }

    /// Like [`Dev::send`], calling `hook` before every chunk of a transfer.
    pub fn send_with(&mut self, line: &str, hook: Hook<'_>) -> String {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\r');
        self.send_bytes_with(&bytes, hook)
    }

    /// Sends raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> String {
        self.send_bytes_with(bytes, &mut |_, _, _| Step::Continue)
    }

    fn send_bytes_with(&mut self, bytes: &[u8], hook: Hook<'_>) -> String {
        let modem = self.modem.as_mut().expect("modem is powered");
        modem.handle_input(bytes).unwrap();
        self.pump(hook)
    }

    /// Delivers what the modem has to say (output, and what timers due by now bring).
    pub fn output(&mut self) -> String {
        self.pump(&mut |_, _, _| Step::Continue)
    }

    /// Cuts the power and powers on again; returns the boot output.
    pub fn power_cycle(&mut self) -> String {
        let flash = self.modem.take().expect("modem is powered").into_flash().expect("engine present");
        self.queued.clear();
        self.boot(flash)
    }

    /// Cuts the power and gives the flash for inspection (the device stays off).
    pub fn power_off(&mut self) -> SimFlash {
        self.modem.take().expect("modem is powered").into_flash().expect("engine present")
    }

    /// Powers on a flash taken with [`Dev::power_off`].
    pub fn boot(&mut self, mut flash: SimFlash) -> String {
        flash.restore_power();
        let m = Modem::power_on_with(flash, self.layout, self.profile, self.config, self.conditions).unwrap();
        self.modem = Some(m);
        self.queued.clear();
        let mut out = String::new();
        let modem = self.modem.as_mut().expect("just powered");
        let mut shell = Harness { out: &mut out, queued: &mut self.queued, aborted: &mut Vec::new() };
        drive(modem, self.now, &mut shell).unwrap();
        out
    }

    /// The modem (for direct inspection).
    pub fn modem(&mut self) -> &mut Modem<SimFlash> {
        self.modem.as_mut().expect("modem is powered")
    }

    /// Runs what the modem asks for: output, transfers (synchronously, one at a time), and
    /// timers (emulated time jumps to the next one once nothing else is left).
    fn pump(&mut self, hook: Hook<'_>) -> String {
        let mut out = String::new();
        loop {
            let Some(modem) = self.modem.as_mut() else { return out };
            let mut aborted = Vec::new();
            let mut shell = Harness { out: &mut out, queued: &mut self.queued, aborted: &mut aborted };
            let next_timer = drive(modem, self.now, &mut shell).unwrap();
            let Some((id, source, resume)) = self.queued.pop_front() else {
                match next_timer {
                    Some(at) => {
                        self.now = self.now.max(at);
                        continue;
                    }
                    None => return out,
                }
            };
            self.transfers_run += 1;
            let mut cut = false;
            let mut delivered = 0u64;
            let mut total = 0u64;
            let now = self.now;
            let queued = &mut self.queued;
            let out_ref = &mut out;
            let result = atfota_net::download(&source, resume.as_ref(), &self.net, &mut |ev| {
                match ev {
                    atfota_net::Event::Started(info) => {
                        delivered = info.offset;
                        total = info.total;
                        modem.handle_started(id, info).unwrap();
                    }
                    atfota_net::Event::Data(d) => {
                        if let Step::PowerCut = hook(modem, delivered, total) {
                            cut = true;
                            return ControlFlow::Break(());
                        }
                        modem.handle_data(id, d).unwrap();
                        delivered += d.len() as u64;
                    }
                    _ => {}
                }
                let mut shell = Harness { out: &mut *out_ref, queued: &mut *queued, aborted: &mut aborted };
                drive(modem, now, &mut shell).unwrap();
                if aborted.contains(&id) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            });
            if cut {
                let flash = self.power_off();
                out.push_str("<POWER CUT>");
                self.queued.clear();
                out.push_str(&self.boot(flash));
                return out;
            }
            if !aborted.contains(&id) {
                modem.handle_finished(id, result).unwrap();
            }
        }
    }
}

/// Polls `m` until it waits: the text it hands out (acknowledged as written when `ack`), and
/// the transfers it asks for. For tests that look at one moment; the harness uses `drive`.
pub fn poll_text<F: NorFlash>(m: &mut Modem<F>, ack: bool) -> (String, Vec<Next>) {
    let mut out = String::new();
    let mut asked = Vec::new();
    while let Some(next) = m.poll(Instant::now()).unwrap() {
        match next {
            Next::Write { bytes, end } => {
                out.push_str(&String::from_utf8(bytes).expect("modem output is UTF-8"));
                if ack {
                    m.written(end);
                }
            }
            other => asked.push(other),
        }
    }
    (out, asked)
}

/// Sends one command line to `m` from inside a hook; returns its answer.
pub fn answer<F: NorFlash>(m: &mut Modem<F>, line: &str) -> String {
    m.handle_input(format!("{line}\r").as_bytes()).unwrap();
    poll_text(m, true).0
}

/// Runs transfer `next` (a `Next::Start`) with the real downloader to its end, feeding `m`
/// without polling it: the test looks at the moment the transfer ends.
pub fn run_transfer<F: NorFlash>(m: &mut Modem<F>, next: Next) {
    let Next::Start { id, source, resume } = next else { panic!("not a transfer: {next:?}") };
    let opts = atfota_net::Options::default();
    let result = atfota_net::download(&source, resume.as_ref(), &opts, &mut |ev| {
        match ev {
            atfota_net::Event::Started(info) => m.handle_started(id, info).unwrap(),
            atfota_net::Event::Data(d) => m.handle_data(id, d).unwrap(),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    m.handle_finished(id, result).unwrap();
}

/// A signed application image (development key) of about `len` body bytes.
pub fn app_image(version: &str, len: usize, seed: u32) -> Vec<u8> {
    atfota_device::application_image(&format!("test app {version} {seed}"), version.parse().unwrap(), len)
        .unwrap()
}

/// A loopback HTTP server over a fresh directory holding `files`.
pub fn serve(files: &[(&str, &[u8])]) -> (tempfile::TempDir, HttpPeer) {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    let peer = HttpPeer::serve_dir(dir.path()).unwrap();
    (dir, peer)
}

/// A fixture made by a real tool, from testdata/.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The URC and response lines of some output, framing removed.
pub fn lines(out: &str) -> Vec<&str> {
    out.split("\r\n").filter(|l| !l.is_empty()).collect()
}

/// The `#XFOTA: 1,0,<p>` percentages in some output.
pub fn progress(out: &str) -> Vec<u8> {
    lines(out).iter().filter_map(|l| l.strip_prefix("#XFOTA: 1,0,")).map(|p| p.parse().unwrap()).collect()
}

/// The application version `AT#XSLMVER` reports.
pub fn version(dev: &mut Dev) -> String {
    let out = dev.send("AT#XSLMVER");
    let l = lines(&out);
    assert_eq!(l.last(), Some(&"OK"), "{out:?}");
    l[0].strip_prefix("#XSLMVER: \"").unwrap().split('"').next().unwrap().to_string()
}

/// Asserts the device still runs `want`, answers AT, and has nothing scheduled:
/// a reset brings the same version back with no result URC.
pub fn assert_unchanged(dev: &mut Dev, want: &str, ctx: &str) {
    assert_eq!(dev.send("AT"), "\r\nOK\r\n", "{ctx}: AT");
    assert_eq!(version(dev), want, "{ctx}: version before reset");
    let out = dev.send("AT#XRESET");
    assert_eq!(out, "\r\nOK\r\n\r\nReady\r\n", "{ctx}: reset must boot the same image with no result");
    assert_eq!(version(dev), want, "{ctx}: version after reset");
}

/// Reads a slot's first `len` bytes from a powered-off flash.
pub fn slot_bytes(flash: &mut SimFlash, part: &atfota_storage::Partition, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    part.read(flash, 0, &mut v).unwrap();
    v
}

/// Keeps `NorFlash` in scope for callers that read partitions.
pub fn geometry_of(f: &SimFlash) -> Geometry {
    f.geometry()
}
