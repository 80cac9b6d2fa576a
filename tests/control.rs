//! The emulator as a test bench, through the real binary: `atfota modem --control` changed by
//! `atfota ctl` while a host talks AT, and what the host sees on the AT port — registration
//! lost and regained mid-download (then a bit-exact resume), the radio switched to 2G and
//! back, an incoming call, a power cut before flash operation N, a failed self-test, every
//! command's reply; and a fleet of 50 devices in one process, some of them faulted, updated by
//! `atfota campaign`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atfota_host::{Reply, Session};
use common::{WAIT, app_image, exe, serve};
use serde_json::Value;

/// What the host counts as unsolicited here: each profile's FOTA URCs plus the cellular ones.
fn bench_urc(line: &str) -> bool {
    atfota_host::update::slm_urc(line)
        || atfota_host::update::nl668_urc(line)
        || ["+CEREG:", "+CREG:", "+CGREG:"].iter().any(|p| line.starts_with(p))
}

/// A device on stdio with a control channel on a Unix socket.
struct Bench {
    child: Child,
    session: Session,
    control: String,
    log: std::path::PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bench {
    fn start(dir: &Path, extra: &[&str], banner: &str) -> Self {
        let control = format!("unix:{}", dir.join("ctl").display());
        let log = dir.join("modem.log");
        let mut child = Command::new(exe())
            .env("RUST_LOG", "info")
            .args(["modem", "--listen", "stdio", "--recv-timeout", "2", "--retries", "0", "--data"])
            .arg(dir.join("dev"))
            .args(["--control", &control])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let session = Session::new(child.stdout.take().unwrap(), child.stdin.take().unwrap(), bench_urc);
        let mut b = Self { child, session, control, log };
        b.urc(banner);
        b
    }

    fn cmd(&mut self, line: &str) -> Reply {
        let log = self.log.clone();
        self.session
            .command(line, WAIT)
            .unwrap_or_else(|e| panic!("{line}: {e}\n{}", std::fs::read_to_string(log).unwrap_or_default()))
    }

    fn ok(&mut self, line: &str) -> Vec<String> {
        let r = self.cmd(line);
        assert!(r.is_ok(), "{line} answered {r:?}");
        r.lines
    }

    /// Waits for the first URC `pred` accepts; returns it and the URCs before it.
    fn until(&mut self, pred: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let mut seen = Vec::new();
        let hit = std::cell::RefCell::new(String::new());
        let log = self.log.clone();
        self.session
            .wait_urc(
                |l| {
                    let yes = pred(l);
                    if yes {
                        *hit.borrow_mut() = l.to_string();
                    }
                    yes
                },
                |l| seen.push(l.to_string()),
                WAIT,
            )
            .unwrap_or_else(|e| {
                panic!("{e}; saw {seen:?}\n{}", std::fs::read_to_string(log).unwrap_or_default())
            });
        (hit.into_inner(), seen)
    }

    fn urc(&mut self, want: &str) -> Vec<String> {
        self.until(|l| l == want).1
    }

    /// `atfota ctl` against this device: the reply and the exit code.
    fn ctl(&self, args: &[&str]) -> (Value, i32) {
        ctl(&self.control, args)
    }

    /// A control command that must be carried out.
    fn ctl_ok(&self, args: &[&str]) -> Value {
        let (reply, code) = self.ctl(args);
        assert_eq!((code, &reply["ok"]), (0, &Value::Bool(true)), "ctl {args:?}: {reply}");
        reply
    }
}

/// Runs `atfota ctl --control ADDR ARGS...`.
fn ctl(addr: &str, args: &[&str]) -> (Value, i32) {
    let out = Command::new(exe()).args(["ctl", "--control", addr]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let reply = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    (reply, out.status.code().unwrap_or(-1))
}

/// The percentage of a progress URC of either profile.
fn percent(l: &str) -> Option<u32> {
    l.strip_prefix("#XFOTA: 1,0,")
        .or_else(|| l.strip_prefix("GTOTA DOWNLOADING: "))?
        .trim_end_matches('%')
        .parse()
        .ok()
}

#[test]
fn registration_lost_mid_download_fails_it_and_the_same_command_resumes_bit_exact() {
    let image = app_image("2.0.0", 400 * 1024);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Bench::start(dir.path(), &[], "Ready");
    dev.ok("AT+CEREG=2");
    // A slow link, so the download is still running when coverage goes.
    dev.ctl_ok(&["rate", "100000"]);
    let start = format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin"));
    dev.ok(&start);
    let (at, _) = dev.until(|l| percent(l).is_some_and(|p| p >= 20));
    dev.ctl_ok(&["deregister"]);
    let (_, seen) = dev.until(|l| l == "#XFOTA: 1,1,1");
    assert!(seen.iter().any(|l| l == "+CEREG: 2"), "the host saw the registration go: {seen:?}");
    let status = dev.ctl_ok(&["status"]);
    assert_eq!(status["cellular"]["registration"], 2);
    assert_eq!(status["link"]["up"], false);
    let stalled_at = status["download"]["bytes"].as_u64().unwrap();
    assert!(stalled_at > 0 && stalled_at < image.len() as u64, "{status}");

    dev.ctl_ok(&["register"]);
    let (back, _) = dev.until(|l| l.starts_with("+CEREG: 1,"));
    assert_eq!(back, "+CEREG: 1,\"002F\",\"0012BEEF\",7");
    dev.ctl_ok(&["rate", "auto"]);
    dev.ok(&start);
    let (_, resumed) = dev.until(|l| l == "#XFOTA: 4,0");
    let first = resumed.iter().find_map(|l| percent(l)).expect("progress after the resume");
    assert!(first > 0, "the download resumed (first progress {first}% after {at})");
    dev.ok("AT#XRESET");
    dev.urc("Ready");
    dev.urc("#XFOTA: 5,0");
    let v = dev.ok("AT#XSLMVER");
    assert!(v[0].starts_with("#XSLMVER: \"2.0.0\""), "{v:?}");
    // The server saw a ranged request for the rest: a resume, not a new download.
    assert!(peer.requests().iter().any(|r| r.range.is_some()), "{:?}", peer.requests());
}

#[test]
fn nl668_radio_switched_to_2g_mid_download_and_back_and_a_call_breaks_it() {
    let image = app_image("1.5.0", 300 * 1024);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Bench::start(dir.path(), &["--profile", "nl668"], "RDY");
    dev.ok("ATE0");
    dev.ok("AT+CREG=1");
    dev.ctl_ok(&["rate", "150000"]);
    let gtota = format!("AT+GTOTA=0,\"{}\"", peer.url("pkg.bin"));
    dev.ok(&gtota);
    dev.until(|l| percent(l).is_some_and(|p| p >= 10));
    // 2G: the link crawls at the radio's own speed once the bench's rate is lifted.
    dev.ctl_ok(&["rat", "2g"]);
    dev.ctl_ok(&["rate", "auto"]);
    let status = dev.ctl_ok(&["status"]);
    assert_eq!(status["cellular"]["rat"], "2g", "{status}");
    assert_eq!(status["link"]["rate"], 4000, "{status}");
    let cops = dev.ok("AT+COPS?");
    assert!(cops[0].ends_with(",0"), "AcT 0 (GSM): {cops:?}");
    // An incoming call breaks it (CALLBREAK is 0).
    dev.ctl_ok(&["call"]);
    let (_, seen) = dev.until(|l| l.starts_with("GTOTA DOWNLOAD FAILED"));
    assert!(seen.iter().any(|l| l == "RING"), "{seen:?}");
    // Back to LTE: the same command resumes and installs.
    dev.ctl_ok(&["rat", "lte"]);
    assert_eq!(dev.ctl_ok(&["status"])["link"]["rate"], Value::Null);
    dev.ok(&gtota);
    dev.urc("GTOTA DOWNLOAD COMPLETE");
    dev.urc("RDY");
    dev.urc("GTOTA UPGRADE SUCCESS");
}

#[test]
fn a_power_cut_before_flash_operation_n_stops_the_device_until_power_on() {
    let image = app_image("2.0.0", 200 * 1024);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Bench::start(dir.path(), &[], "Ready");
    dev.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
    dev.urc("#XFOTA: 4,0");
    // The swap at the reset runs into the cut.
    dev.ctl_ok(&["cut-at", "7"]);
    dev.ok("AT#XRESET");
    let status = dev.ctl_ok(&["status"]);
    assert_eq!(status["power"], "off", "{status}");
    // While off: AT is lost, and what needs power is refused.
    let (reply, code) = dev.ctl(&["cut-at", "3"]);
    assert_eq!((code, reply["ok"].clone()), (1, Value::Bool(false)), "{reply}");
    let (reply, code) = dev.ctl(&["power-cut"]);
    assert_eq!(code, 1, "{reply}");
    dev.ctl_ok(&["power-on"]);
    dev.urc("Ready");
    dev.urc("#XFOTA: 5,0");
    let v = dev.ok("AT#XSLMVER");
    assert!(v[0].starts_with("#XSLMVER: \"2.0.0\""), "{v:?}");
    let (reply, code) = dev.ctl(&["power-on"]);
    assert_eq!(code, 1, "already on: {reply}");
}

#[test]
fn every_other_command_answers_and_shows_on_the_at_port() {
    let image = app_image("3.0.0", 120 * 1024);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Bench::start(dir.path(), &[], "Ready");
    // Signal: +CESQ follows.
    let before = dev.ok("AT+CESQ");
    dev.ctl_ok(&["signal", "5"]);
    let after = dev.ok("AT+CESQ");
    assert_ne!(before, after, "the signal changed what the host reads");
    // Network down: still registered, no data; up again.
    dev.ctl_ok(&["network-down"]);
    let s = dev.ctl_ok(&["status"]);
    assert_eq!(
        (s["link"]["up"].clone(), s["cellular"]["registration"].clone()),
        (Value::Bool(false), 1.into())
    );
    dev.ctl_ok(&["network-up"]);
    assert_eq!(dev.ctl_ok(&["status"])["link"]["up"], true);
    // A call on a module without voice is refused with the reason.
    let (reply, code) = dev.ctl(&["call"]);
    assert_eq!(code, 1, "{reply}");
    assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{reply}");
    // Drop the connection mid-download: the transfer retries from where it was.
    dev.ctl_ok(&["rate", "60000"]);
    dev.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
    dev.until(|l| percent(l).is_some_and(|p| p >= 10));
    assert_eq!(dev.ctl_ok(&["drop-connection"])["transfers"], 1);
    dev.ctl_ok(&["rate", "auto"]);
    // --retries 0 means the cut fails the download; the same command resumes it.
    let (end, _) = dev.until(|l| l == "#XFOTA: 4,0" || l.starts_with("#XFOTA: 1,1,"));
    if end != "#XFOTA: 4,0" {
        dev.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
        dev.urc("#XFOTA: 4,0");
    }
    // The next self-test fails: the watchdog reboots, the bootloader reverts.
    dev.ctl_ok(&["fail-self-test"]);
    dev.ok("AT#XRESET");
    dev.urc("Ready");
    dev.urc("Ready");
    dev.urc("#XFOTA: 5,3");
    let v = dev.ok("AT#XSLMVER");
    assert!(v[0].starts_with("#XSLMVER: \"1.0.0\""), "reverted: {v:?}");
    // Bad requests: a clear refusal, exit 1; an unreachable channel: exit 2.
    let (reply, code) = dev.ctl(&["signal", "99"]);
    assert_eq!(code, 1, "{reply}");
    let (_, code) = ctl(&format!("unix:{}", dir.path().join("nobody").display()), &["status"]);
    assert_eq!(code, 2);
}

/// Free TCP ports `base..base+n` on loopback, found by trying.
fn free_range(n: u16) -> u16 {
    for _ in 0..50 {
        let base = 20_000 + fastrand::u16(0..30_000);
        let all: Vec<_> =
            (base..base + n).map_while(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok()).collect();
        if all.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no free port range");
}

#[test]
fn fifty_devices_in_one_process_some_faulted_while_the_others_update() {
    const N: u16 = 50;
    let image = app_image("2.0.0", 64 * 1024);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let dir = tempfile::tempdir().unwrap();
    let (at, control) = (free_range(N), free_range(N));
    let log = std::fs::File::create(dir.path().join("fleet.log")).unwrap();
    let mut fleet = Command::new(exe())
        .args(["modem", "--recv-timeout", "2", "--retries", "0", "--slot-size", "128K", "--instances"])
        .arg(N.to_string())
        .arg("--data")
        .arg(dir.path().join("fleet"))
        .args(["--listen", &format!("tcp:127.0.0.1:{at}"), "--control", &format!("tcp:127.0.0.1:{control}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _stop = KillOnDrop(&mut fleet);
    let ctl_of = |i: u16| format!("tcp:127.0.0.1:{}", control + i);
    // Wait until the last device answers its control channel.
    let deadline = Instant::now() + WAIT;
    while ctl(&ctl_of(N - 1), &["status"]).1 != 0 {
        assert!(Instant::now() < deadline, "the fleet did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Faults: devices 0-4 fail their next self-test, 5-9 lose the network.
    for i in 0..5 {
        assert_eq!(ctl(&ctl_of(i), &["fail-self-test"]).1, 0);
        assert_eq!(ctl(&ctl_of(i + 5), &["network-down"]).1, 0);
    }
    let out = Command::new(exe())
        .args(["campaign", "--profile", "nrf9160-slm", "--json", "--concurrency", "25", "--retries", "0"])
        .args([
            "--stall-timeout",
            "20",
            "--ports",
            &format!("tcp:127.0.0.1:{at}+{N}"),
            "--url",
            &peer.url("app.bin"),
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let devices = report["devices"].as_array().expect("per-device reports");
    let outcome = |i: usize| devices[i]["outcome"].as_str().unwrap_or_default().to_string();
    for (i, d) in devices.iter().enumerate() {
        match i {
            0..5 => assert_eq!(outcome(i), "reverted", "device {i}: {d}"),
            5..10 => assert!(!["updated", "reverted"].contains(&outcome(i).as_str()), "device {i}: {d}"),
            _ => assert_eq!(outcome(i), "updated", "device {i}: {d}"),
        }
    }
    assert_eq!(devices.len(), usize::from(N));
    assert_eq!(out.status.code(), Some(11), "not every device updated");
    // The faulted devices are unharmed: their network back, they answer and run 1.0.0.
    let s = ctl(&ctl_of(7), &["network-up"]);
    assert_eq!(s.1, 0);
    let s = ctl(&ctl_of(7), &["status"]).0;
    assert_eq!((s["power"].clone(), s["app_version"].clone()), ("on".into(), "1.0.0".into()), "{s}");
    let s = ctl(&ctl_of(20), &["status"]).0;
    assert_eq!(s["app_version"], "2.0.0", "{s}");
}

/// Stops a child process by its PID when dropped.
struct KillOnDrop<'a>(&'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_fleet_whose_addresses_do_not_fit_is_refused_before_any_device_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fleet");
    for (listen, control, why) in [
        ("stdio", None, "needs --listen tcp:"),
        ("tcp:127.0.0.1:65534", None, "would need port 65536"),
        ("tcp:127.0.0.1:20000", Some("tcp:127.0.0.1:65535"), "would need port 65537"),
    ] {
        let mut cmd = Command::new(exe());
        cmd.args(["modem", "--instances", "3", "--listen", listen]).arg("--data").arg(&data);
        if let Some(c) = control {
            cmd.args(["--control", c]);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{listen}: {err}");
        assert!(!data.exists(), "{listen}: no device was made");
    }
}
