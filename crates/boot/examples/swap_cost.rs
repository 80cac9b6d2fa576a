//! Swap cost (issue 4): the flash traffic and the wall time of installing an image with the
//! bootloader, for 1 MiB and 16 MiB images.
//!
//! Three measurements, printed as markdown tables:
//!
//! 1. **Traffic**, on a `SimFlash` (which counts write calls, bytes written, erase calls and
//!    sectors erased): the request, the swap, the confirm, and the revert of an unconfirmed
//!    image, at 4 KiB sectors / 4-byte writes and 128 KiB sectors / 16-byte writes. The ideal
//!    swap in place erases every page of the image once in each slot (2n sectors for n pages)
//!    and writes the image twice (once into each slot); the rest is progress records and the
//!    boot-state partition.
//! 2. **`Bootloader::boot` wall time** on a `FileFlash` in a temporary directory, the backend of
//!    the emulated modem: on the handle that wrote the images (what `AT#XRESET` does) and on a
//!    freshly opened file (a power-on: nothing is known erased, so every write is read back
//!    first). The validator is a stand-in that returns the image length without hashing.
//! 3. **The full reset through the binary**: `atfota modem --slot-size 17M` on stdio downloads a
//!    signed image (made by `atfota image sign`) from a loopback HTTP server in this process,
//!    then the time from sending `AT#XRESET` to `Ready` and to `#XFOTA: 5,0` is measured
//!    (validation with SHA-256 and signature, swap, self-test, confirm, settings writes).
//!
//! Run: `cargo run --release -p atfota-boot --example swap_cost [-- --runs N] [--bin PATH]`.
//! Part 3 needs the release binary (`cargo build --release`; found at `--bin`, `$ATFOTA_BIN`,
//! `$CARGO_TARGET_DIR/release/atfota` or `target/release/atfota`) and is skipped without it.
//!
//! It never writes outside its own temporary directory (removed at the end), never binds a
//! non-loopback address, and kills the modem it started on every exit path. The HTTP server
//! is twenty lines of std rather than a crate because this crate's only dependencies are the
//! storage layer and logging, and the example must not add any.

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use atfota_boot::{BootAction, Bootloader, SwapState};
use atfota_storage::{FileFlash, FlashStats, Geometry, Layout, LayoutSpec, NorFlash, Partition, SimFlash};

type Res<T> = Result<T, Box<dyn Error>>;

const MIB: u32 = 0x10_0000;
/// Slot size of every rig: the `--slot-size 17M` of the binary run, room for a 16 MiB image.
const SLOT: u32 = 17 * MIB;
/// What signing adds to a payload: the 0x200-byte header and 0x90 bytes of Ed25519 TLVs.
const SIGNED_OVERHEAD: u32 = 0x290;
/// Image sizes measured, in MiB of payload.
const SIZES_MIB: [u32; 2] = [1, 16];
/// (sector size, write size) pairs measured.
const GEOMETRIES: [(u32, u32); 2] = [(0x1000, 4), (0x2_0000, 16)];
/// Settings partition of the rigs (as the emulated modem's).
const SETTINGS: u32 = 0x1_0000;
/// Bounds on what the binary run waits for.
const BOOT_WAIT: Duration = Duration::from_secs(60);
const DOWNLOAD_WAIT: Duration = Duration::from_secs(120);

fn main() -> Res<()> {
    let opts = Options::parse()?;
    let scratch = Scratch::new()?;
    println!("# Swap cost\n");
    println!("{}\n", machine());
    traffic()?;
    boot_wall_time(&scratch, opts.runs)?;
    match opts.binary() {
        Some(bin) => binary_reset(&scratch, &bin, opts.runs)?,
        None => println!(
            "## Reset through the binary\n\nskipped: no `atfota` binary (run `cargo build --release`, \
             or pass `--bin PATH`)\n"
        ),
    }
    Ok(())
}

/// Command-line options.
struct Options {
    runs: usize,
    bin: Option<PathBuf>,
}

impl Options {
    fn parse() -> Res<Self> {
        let mut opts = Self { runs: 3, bin: None };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--runs" => {
                    let v = args.next().ok_or("--runs needs a number")?;
                    opts.runs = v.parse().map_err(|_| format!("--runs {v:?} is not a number"))?;
                    if opts.runs == 0 {
                        return Err("--runs must be at least 1".into());
                    }
                }
                "--bin" => opts.bin = Some(args.next().ok_or("--bin needs a path")?.into()),
                other => return Err(format!("unknown argument {other:?} (use --runs N, --bin PATH)").into()),
            }
        }
        Ok(opts)
    }

    /// The `atfota` binary to drive, if one exists.
    fn binary(&self) -> Option<PathBuf> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        let candidates = [
            self.bin.clone(),
            std::env::var_os("ATFOTA_BIN").map(PathBuf::from),
            Some(target.join("release/atfota")),
        ];
        candidates.into_iter().flatten().find(|p| p.is_file())
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Traffic

/// Prints the traffic table: every phase of an install and of a revert, per geometry and size.
fn traffic() -> Res<()> {
    println!("## Flash traffic per phase (SimFlash, {} MiB slots)\n", SLOT / MIB);
    println!(
        "n = pages the swap moves; \"erased / 2n\" = sectors erased over the ideal of one erase per \
         page per slot; \"written / image\" = bytes written over the image length.\n"
    );
    println!(
        "| geometry | image (bytes) | n | phase | erase calls | sectors erased | erased / 2n | \
         write calls | bytes written | written / image |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for (sector, write) in GEOMETRIES {
        let rig = Rig::new(sector, write)?;
        for mib in SIZES_MIB {
            let (old, new) = images(mib);
            let n = rig.boot.pages_for(new.len() as u64, Some(old.len() as u64));
            let mut flash = SimFlash::new(rig.geometry);
            let mut phases = Vec::new();
            rig.load(&mut flash, &old, &new)?;
            phases.push(("request", measure(&mut flash, |f| rig.request(f, &old, &new))?));
            phases.push(("swap (boot)", measure(&mut flash, |f| rig.boot_expect(f, &new, Expect::Swapped))?));
            phases.push(("confirm", measure(&mut flash, |f| Ok(rig.boot.confirm(f)?))?));
            let mut flash = SimFlash::new(rig.geometry);
            rig.load(&mut flash, &old, &new)?;
            rig.request(&mut flash, &old, &new)?;
            rig.boot_expect(&mut flash, &new, Expect::Swapped)?;
            phases.push((
                "revert (boot)",
                measure(&mut flash, |f| rig.boot_expect(f, &new, Expect::Reverted))?,
            ));
            for (phase, s) in phases {
                println!(
                    "| {} KiB / {} B | {} | {n} | {phase} | {} | {} | {} | {} | {} | {} |",
                    sector / 1024,
                    write,
                    new.len(),
                    s.erases,
                    s.sectors_erased,
                    ratio(s.sectors_erased, 2 * u64::from(n)),
                    s.writes,
                    s.bytes_written,
                    ratio(s.bytes_written, new.len() as u64),
                );
            }
        }
    }
    println!();
    Ok(())
}

/// The flash operations `op` carried out.
fn measure(flash: &mut SimFlash, op: impl FnOnce(&mut SimFlash) -> Res<()>) -> Res<FlashStats> {
    let before = flash.stats();
    op(flash)?;
    let after = flash.stats();
    Ok(FlashStats {
        writes: after.writes - before.writes,
        bytes_written: after.bytes_written - before.bytes_written,
        erases: after.erases - before.erases,
        sectors_erased: after.sectors_erased - before.sectors_erased,
    })
}

fn ratio(num: u64, den: u64) -> String {
    if den == 0 { "-".into() } else { format!("{:.3}", num as f64 / den as f64) }
}

// ---------------------------------------------------------------------------------------------
// 2. Bootloader::boot on a FileFlash

/// Prints the wall time of `Bootloader::boot` swapping on a file-backed flash.
fn boot_wall_time(scratch: &Scratch, runs: usize) -> Res<()> {
    println!("## `Bootloader::boot` wall time (FileFlash, {} MiB slots, {runs} runs)\n", SLOT / MIB);
    println!(
        "\"same handle\": the handle that wrote the images boots (as `AT#XRESET` does); \
         \"reopened\": the file is opened again first (a power-on: every write is read back). \
         The validator returns the length without hashing.\n"
    );
    println!(
        "| geometry | image (bytes) | n | same handle: median (ms) | min (ms) | reopened: median (ms) | min (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let path = scratch.path.join("flash.bin");
    for (sector, write) in GEOMETRIES {
        let rig = Rig::new(sector, write)?;
        for mib in SIZES_MIB {
            let (old, new) = images(mib);
            let n = rig.boot.pages_for(new.len() as u64, Some(old.len() as u64));
            let mut same = Vec::new();
            let mut reopened = Vec::new();
            for _ in 0..runs {
                for reopen in [false, true] {
                    let _ = std::fs::remove_file(&path);
                    let mut flash = FileFlash::create(&path, rig.geometry)?;
                    rig.load(&mut flash, &old, &new)?;
                    rig.request(&mut flash, &old, &new)?;
                    flash.sync()?;
                    if reopen {
                        drop(flash);
                        flash = FileFlash::open(&path, rig.geometry)?;
                    }
                    let t = Instant::now();
                    rig.boot_expect(&mut flash, &new, Expect::Swapped)?;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    if reopen { reopened.push(ms) } else { same.push(ms) }
                }
            }
            println!(
                "| {} KiB / {} B | {} | {n} | {:.1} | {:.1} | {:.1} | {:.1} |",
                sector / 1024,
                write,
                new.len(),
                median(&mut same),
                min(&same),
                median(&mut reopened),
                min(&reopened)
            );
        }
    }
    let _ = std::fs::remove_file(&path);
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. The whole reset through the binary

/// Prints the time from `AT#XRESET` to `Ready` and to `#XFOTA: 5,0` in the real modem.
fn binary_reset(scratch: &Scratch, bin: &Path, runs: usize) -> Res<()> {
    println!("## Reset through the binary ({}, `--slot-size 17M`, {runs} runs)\n", bin.display());
    println!(
        "Time from writing `AT#XRESET` to reading `Ready` and `#XFOTA: 5,0` (validation, swap, \
         self-test, confirm, result); \"plain reset\": `AT#XRESET` → `Ready` again afterwards, with \
         nothing to install. The modem replaces the factory image (48 KiB), so n covers the new image.\n"
    );
    println!(
        "| image (bytes) | to `Ready`: median (ms) | min (ms) | to `5,0`: median (ms) | min (ms) | \
         plain reset: median (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for mib in SIZES_MIB {
        let payload = scratch.path.join("payload.bin");
        let image = scratch.path.join("app.bin");
        std::fs::write(&payload, pseudo_random(mib * MIB, 0x5eed_0000 + u64::from(mib)))?;
        let out = Command::new(bin)
            .args(["image", "sign", "--version", "2.0.0"])
            .arg(&payload)
            .arg(&image)
            .output()?;
        if !out.status.success() {
            return Err(format!("atfota image sign failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let body = std::fs::read(&image)?;
        let server = Server::start(body.clone())?;
        let (mut ready, mut result, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let data = scratch.path.join(format!("dev-{mib}-{run}"));
            let times = reset_once(bin, &data, &server.url(), &scratch.path.join("modem.log"))?;
            ready.push(times.0);
            result.push(times.1);
            plain.push(times.2);
            let _ = std::fs::remove_dir_all(&data);
        }
        server.stop();
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            body.len(),
            median(&mut ready),
            min(&ready),
            median(&mut result),
            min(&result),
            median(&mut plain)
        );
    }
    println!();
    Ok(())
}

/// One device: download, then time the reset that installs; returns ms to `Ready`, to `5,0`,
/// and of a plain reset afterwards.
fn reset_once(bin: &Path, data: &Path, url: &str, log: &Path) -> Res<(f64, f64, f64)> {
    let mut modem = Modem::start(bin, data, log)?;
    modem.wait("Ready", BOOT_WAIT)?;
    modem.send(&format!("AT#XFOTA=1,\"{url}\""))?;
    modem.wait("#XFOTA: 4,0", DOWNLOAD_WAIT)?;
    let t = Instant::now();
    modem.send("AT#XRESET")?;
    let ready = modem.wait("Ready", BOOT_WAIT)?;
    let result = modem.wait("#XFOTA: 5,0", BOOT_WAIT)?;
    let t2 = Instant::now();
    modem.send("AT#XRESET")?;
    let plain = modem.wait("Ready", BOOT_WAIT)?;
    modem.stop()?;
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
    Ok((ms(t, ready), ms(t, result), ms(t2, plain)))
}

/// `atfota modem` on stdio, killed when dropped.
struct Modem {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Output lines with the instant the reader saw them.
    lines: Receiver<(Instant, String)>,
}

impl Modem {
    fn start(bin: &Path, data: &Path, log: &Path) -> Res<Self> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut child = Command::new(bin)
            .args(["modem", "--listen", "stdio", "--slot-size", "17M", "--data"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let (stdin, Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the modem has no stdout pipe".into());
        };
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let line = line.trim().to_string();
                if !line.is_empty() && tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Ok(Self { child, stdin, lines: rx })
    }

    fn send(&mut self, line: &str) -> Res<()> {
        let w = self.stdin.as_mut().ok_or("stdin already closed")?;
        w.write_all(format!("{line}\r").as_bytes())?;
        w.flush()?;
        Ok(())
    }

    /// Waits for the line `want`; fails on a failure URC or after `timeout`.
    fn wait(&mut self, want: &str, timeout: Duration) -> Res<Instant> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let (at, line) =
                self.lines.recv_timeout(left).map_err(|e| format!("waiting for {want:?}: {e}"))?;
            if line == want {
                return Ok(at);
            }
            if line.starts_with("#XFOTA: 1,1") || line.starts_with("#XFOTA: 5,1") || line == "ERROR" {
                return Err(format!("waiting for {want:?}, the modem said {line:?}").into());
            }
        }
    }

    /// Closes stdin and waits (bounded) for the modem to exit.
    fn stop(mut self) -> Res<()> {
        self.stdin.take();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err("the modem did not stop after stdin closed".into())
    }
}

impl Drop for Modem {
    fn drop(&mut self) {
        // After a clean stop the child is gone and these only report that.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback HTTP/1.1 server answering every GET with one body (no ranges: fresh devices
/// never resume).
struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Server {
    fn start(body: Vec<u8>) -> Res<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if let Err(e) = serve(conn, &body) {
                            eprintln!("http: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => {
                        eprintln!("http: accept: {e}");
                        return;
                    }
                }
            }
        });
        Ok(Self { addr, stop, thread })
    }

    fn url(&self) -> String {
        format!("http://{}/app.bin", self.addr)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Reads one request head (bounded in size and time) and sends the body.
fn serve(mut conn: TcpStream, body: &[u8]) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 || head.len() > 0x4000 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(status.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// A bootloader over one geometry with `SLOT`-byte slots.
struct Rig {
    geometry: Geometry,
    layout: Layout,
    boot: Bootloader,
}

/// What a boot is expected to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Swapped,
    Reverted,
}

impl Rig {
    fn new(sector: u32, write: u32) -> Res<Self> {
        let unit = Geometry::new(sector, write, sector)?;
        let spec = LayoutSpec {
            slot_size: SLOT,
            boot_state_size: Bootloader::state_size(unit, SLOT),
            settings_size: SETTINGS,
        };
        let layout = Layout::new(sector, &spec)?;
        let geometry = Geometry::new(sector, write, layout.capacity())?;
        let boot = Bootloader::new(geometry, layout)?;
        Ok(Self { geometry, layout, boot })
    }

    /// Old image in the primary slot, new one in the secondary (as after a download).
    fn load<F: NorFlash>(&self, flash: &mut F, old: &[u8], new: &[u8]) -> Res<()> {
        self.write_padded(flash, &self.layout.primary, old)?;
        self.write_padded(flash, &self.layout.secondary, new)
    }

    /// What the engine does once the download is verified.
    fn request<F: NorFlash>(&self, flash: &mut F, old: &[u8], new: &[u8]) -> Res<()> {
        let pages = self.boot.pages_for(new.len() as u64, Some(old.len() as u64));
        Ok(self.boot.request_upgrade(flash, pages, false)?)
    }

    /// One boot, which must do `want`.
    fn boot_expect<F: NorFlash>(&self, flash: &mut F, new: &[u8], want: Expect) -> Res<()> {
        let len = new.len() as u64;
        let report = self.boot.boot(flash, &mut |_: &mut F, _: &Partition| Ok(len))?;
        let ok = match want {
            Expect::Swapped => {
                matches!(report.action, BootAction::Swapped { .. })
                    && matches!(report.state, SwapState::Testing { .. })
            }
            Expect::Reverted => report.action == BootAction::Reverted,
        };
        if !ok {
            return Err(format!("expected the boot to have {want:?}, it reported {report:?}").into());
        }
        Ok(())
    }

    fn write_padded<F: NorFlash>(&self, flash: &mut F, part: &Partition, data: &[u8]) -> Res<()> {
        let unit = self.geometry.write_size as usize;
        let whole = data.len() / unit * unit;
        part.write(flash, 0, &data[..whole])?;
        if whole < data.len() {
            let mut tail = data[whole..].to_vec();
            tail.resize(unit, 0xff);
            part.write(flash, whole as u32, &tail)?;
        }
        Ok(())
    }
}

/// An old and a new image of a signed `mib`-MiB payload's length, different bytes.
fn images(mib: u32) -> (Vec<u8>, Vec<u8>) {
    let len = mib * MIB + SIGNED_OVERHEAD;
    (pseudo_random(len, 1), pseudo_random(len, 2))
}

/// Incompressible-looking bytes (xorshift64*), never long runs of 0xFF.
fn pseudo_random(len: u32, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len as usize);
    while out.len() < len as usize {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// CPU count and load, for the record: this machine is shared.
fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    format!("machine: {cpus} CPUs, load average {load}")
}

/// A temporary directory of this process, removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Res<Self> {
        let path = std::env::temp_dir().join(format!("atfota-swap-cost-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
