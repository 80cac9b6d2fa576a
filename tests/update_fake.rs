//! `atfota update` against a scripted fake modem that misbehaves as real ones do: echo or
//! none, URCs between a command and its result, lines split at any byte, repeated and skipped
//! percentages, noise, `+CME ERROR`, silence, reboots mid-download, a port that vanishes
//! during the reboot, and every result code of both profiles. Each case checks the exit code,
//! the summary and the JSON events, and finishes well inside its bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// No case may take longer than this (the host's own timeouts are set far lower).
const BOUND: Duration = Duration::from_secs(20);
/// The fake gives up on a host that says nothing for this long.
const FAKE_WAIT: Duration = Duration::from_secs(10);

/// How the fake writes.
#[derive(Clone, Copy, Default)]
struct Style {
    echo: bool,
    /// Write each line in small pieces cut at varying byte offsets.
    split: bool,
}

/// One connection of the fake modem, driven by a test's script.
struct Fake {
    listener: Option<TcpListener>,
    addr: SocketAddr,
    stream: TcpStream,
    style: Style,
    pending: Vec<u8>,
    cut: usize,
}

impl Fake {
    /// Sends raw bytes (in pieces when splitting).
    fn raw(&mut self, bytes: &[u8]) {
        if !self.style.split {
            let _ = self.stream.write_all(bytes);
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            self.cut = (self.cut * 7 + 3) % 5 + 1;
            let n = self.cut.min(rest.len());
            let _ = self.stream.write_all(&rest[..n]);
            let _ = self.stream.flush();
            thread::sleep(Duration::from_micros(300));
            rest = &rest[n..];
        }
    }

    /// One line framed like a modem's response or URC.
    fn line(&mut self, text: &str) {
        self.raw(format!("\r\n{text}\r\n").as_bytes());
    }

    fn lines(&mut self, texts: &[&str]) {
        for t in texts {
            self.line(t);
        }
    }

    /// The next command line from the host (echoed when the style says so).
    fn command(&mut self) -> String {
        let end = Instant::now() + FAKE_WAIT;
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\r') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line[..i]).trim().to_string();
                if text.is_empty() {
                    continue;
                }
                if self.style.echo {
                    self.raw(format!("{text}\r").as_bytes());
                }
                return text;
            }
            assert!(Instant::now() < end, "the host sent no command");
            let mut buf = [0u8; 512];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the host closed the port while the fake waited for a command"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("fake read: {e}"),
            }
        }
    }

    /// Expects a command starting with `prefix`, answering AT probes on the way.
    fn expect(&mut self, prefix: &str) -> String {
        loop {
            let cmd = self.command();
            if cmd == "AT" && prefix != "AT" {
                self.line("OK");
                continue;
            }
            assert!(cmd.starts_with(prefix), "expected {prefix}..., the host sent {cmd}");
            return cmd;
        }
    }

    /// Expects `prefix` and answers OK.
    fn ok(&mut self, prefix: &str) -> String {
        let c = self.expect(prefix);
        self.line("OK");
        c
    }

    /// The port vanishes (as a USB modem re-enumerating) and comes back after `gone`.
    fn vanish(&mut self, gone: Duration) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.listener = None;
        thread::sleep(gone);
        let listener = TcpListener::bind(self.addr).expect("rebinding the fake's port");
        self.stream = accept(&listener);
        self.listener = Some(listener);
        self.pending.clear();
    }

    /// Waits until the host closes the port.
    fn wait_closed(&mut self) {
        let end = Instant::now() + FAKE_WAIT;
        let mut buf = [0u8; 256];
        while Instant::now() < end {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }

    // Prologues and epilogues of the two profiles.

    fn slm_start(&mut self) -> String {
        self.ok("AT");
        self.ok("AT#XFOTA=")
    }

    fn slm_reset_and_report(&mut self, result: &str, version: &str) {
        self.ok("AT#XRESET");
        self.lines(&["Ready", result]);
        self.expect("AT#XSLMVER");
        self.lines(&[&format!("#XSLMVER: \"{version}\",\"mfw_nrf9160_1.3.5\""), "OK"]);
    }

    fn nl668_start(&mut self) -> String {
        self.ok("AT");
        self.expect("AT+GTSET?");
        self.lines(&["+GTSET: \"CALLBREAK\",0", "+GTSET: \"GPRSFIRST\",1", "OK"]);
        self.ok("AT+GTSET=\"CALLBREAK\",1");
        let c = self.ok("AT+GTOTA=");
        self.line("GTOTA DOWNLOAD START");
        c
    }

    fn nl668_restore(&mut self) {
        self.ok("AT+GTSET=\"CALLBREAK\",0");
    }

    fn nl668_version(&mut self) {
        self.expect("AT+CGMR");
        self.lines(&["+CGMR: \"NL668-EAU_V1.1.0\"", "OK"]);
    }
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + FAKE_WAIT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                s.set_nodelay(true).unwrap();
                return s;
            }
            Err(_) if Instant::now() < end => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("no host connected: {e}"),
        }
    }
}

/// What a case saw.
struct Run {
    code: i32,
    events: Vec<Value>,
    took: Duration,
}

impl Run {
    fn done(&self) -> &Value {
        self.events.last().expect("at least the done line")
    }

    fn summary(&self) -> String {
        self.done()["result"].as_str().unwrap_or_default().to_string()
    }

    fn kinds(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }

    fn percents(&self) -> Vec<u64> {
        self.kinds("progress").iter().map(|e| e["percent"].as_u64().unwrap()).collect()
    }
}

/// Runs `atfota update --json` with `args` against a fake that follows `script`.
/// `on_start` gets the child's PID once the fake is connected (for signals).
fn run_case(style: Style, args: &[&str], script: impl FnOnce(&mut Fake, &dyn Fn()) + Send + 'static) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let fake = thread::spawn(move || {
        let stream = accept(&listener);
        let mut f = Fake { listener: Some(listener), addr, stream, style, pending: Vec::new(), cut: 0 };
        let pid = pid_rx.recv().unwrap();
        let interrupt = move || {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        };
        script(&mut f, &interrupt);
        f.wait_closed();
    });
    let t0 = Instant::now();
    let port = format!("tcp:{addr}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_atfota"))
        .args(["update", "--json", "--port", &port])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pid_tx.send(child.id()).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > BOUND {
            child.kill().unwrap();
            panic!("atfota update hung past {BOUND:?}; output so far:\n{out}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let took = t0.elapsed();
    let err = err.join().unwrap();
    if let Err(p) = fake.join() {
        panic!("the fake modem failed: {p:?}\nhost stdout:\n{out}\nhost stderr:\n{err}");
    }
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(e["event"].is_string() && e["t"].is_number(), "event without event/t: {e}");
    }
    let run = Run { code: status.code().unwrap_or(-1), events, took };
    assert_eq!(run.done()["event"], "done", "last line is done:\n{out}\n{err}");
    assert_eq!(run.done()["exit_code"].as_i64(), Some(i64::from(run.code)), "{out}");
    assert!(took < BOUND, "took {took:?}");
    run
}

const SLM: [&str; 4] = ["--profile", "nrf9160-slm", "--url", "http://192.0.2.1/app.bin"];
const NL668: [&str; 4] = ["--profile", "nl668", "--url", "http://192.0.2.1/pkg.bin"];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

fn slm_happy(style: Style) -> Run {
    run_case(style, &SLM, |f, _| {
        f.expect("AT");
        // The first probe goes unanswered: the modem is still booting.
        f.ok("AT");
        f.expect("AT#XFOTA=1,\"http://192.0.2.1/app.bin\"");
        f.lines(&["#XFOTA: 1,0,0", "OK"]); // a URC before the final result
        f.raw(b"\r\n\r\n\xff\xfe\x01\r\n\r\n"); // noise and blank lines
        for p in [0, 0, 0, 7, 7, 7, 50, 50, 100, 100] {
            f.line(&format!("#XFOTA: 1,0,{p}"));
        }
        f.line("#XFOTA: 4,0");
        f.expect("AT#XRESET");
        f.lines(&["OK", "Ready", "#XFOTA: 5,0"]);
        f.expect("AT#XSLMVER");
        f.lines(&["#XSLMVER: \"2.0.0\",\"mfw\"", "#XFOTA: 1,0,100", "OK"]); // a URC inside a response
    })
}

#[test]
fn slm_updates_with_echo_without_echo_and_split_lines() {
    for style in [Style::default(), Style { echo: true, split: false }, Style { echo: true, split: true }] {
        let run = slm_happy(style);
        assert_eq!(run.code, 0, "{:?}", run.events);
        assert_eq!(run.summary(), "updated: now running 2.0.0");
        assert_eq!(run.percents(), [0, 7, 50, 100], "repeats are reported once");
        for kind in ["sent", "urc", "downloaded", "rebooting", "booted", "result"] {
            assert!(!run.kinds(kind).is_empty(), "no {kind} event: {:?}", run.events);
        }
        assert_eq!(run.kinds("result")[0]["line"], "#XFOTA: 5,0");
    }
}

#[test]
fn skipped_percentages_and_a_reboot_mid_download_resume_the_same_url() {
    let run = run_case(Style { echo: true, split: false }, &SLM, |f, _| {
        let first = f.slm_start();
        f.lines(&["#XFOTA: 1,0,10", "#XFOTA: 1,0,40", "Ready"]); // rebooted: the download is gone
        let again = f.ok("AT#XFOTA=");
        assert_eq!(again, first, "the retry starts the same URL");
        f.lines(&["#XFOTA: 1,0,40", "#XFOTA: 1,0,90", "#XFOTA: 4,0"]);
        f.slm_reset_and_report("#XFOTA: 5,0", "2.0.0");
    });
    assert_eq!(run.code, 0, "{:?}", run.events);
    assert_eq!(run.percents(), [10, 40, 90]);
    assert_eq!(
        run.kinds("sent").iter().filter(|e| e["line"].as_str().unwrap().starts_with("AT#XFOTA=1")).count(),
        2
    );
}

#[test]
fn the_port_vanishes_during_the_reboot_and_comes_back() {
    let args = with(&SLM, &["--reboot-timeout", "8"]);
    let run = run_case(Style::default(), &args, |f, _| {
        f.slm_start();
        f.lines(&["#XFOTA: 1,0,100", "#XFOTA: 4,0"]);
        f.ok("AT#XRESET");
        f.vanish(Duration::from_millis(1500));
        f.lines(&["Ready", "#XFOTA: 5,0"]);
        f.expect("AT#XSLMVER");
        f.lines(&["#XSLMVER: \"2.0.0\",\"mfw\"", "OK"]);
    });
    assert_eq!(run.code, 0, "{:?}", run.events);
    assert_eq!(run.kinds("booted").len(), 1);
}

#[test]
fn a_port_that_never_comes_back_times_out() {
    let args = with(&SLM, &["--reboot-timeout", "1"]);
    let run = run_case(Style::default(), &args, |f, _| {
        f.slm_start();
        f.line("#XFOTA: 4,0");
        f.ok("AT#XRESET");
        let _ = f.stream.shutdown(std::net::Shutdown::Both);
        f.listener = None;
        thread::sleep(Duration::from_millis(1500));
    });
    assert_eq!(run.code, 10, "{:?}", run.events);
    assert!(run.summary().contains("did not come back"), "{}", run.summary());
}

#[test]
fn silence_mid_download_cancels_and_times_out() {
    let args = with(&SLM, &["--stall-timeout", "0.5", "--retries", "1"]);
    let run = run_case(Style::default(), &args, |f, _| {
        f.slm_start();
        f.line("#XFOTA: 1,0,20");
        f.expect("AT#XFOTA=0");
        f.lines(&["#XFOTA: 1,2,0", "OK"]);
        f.ok("AT#XFOTA=1");
        f.line("#XFOTA: 1,0,30");
        f.expect("AT#XFOTA=0");
        f.line("ERROR");
    });
    assert_eq!(run.code, 10, "{:?}", run.events);
    assert!(run.summary().starts_with("timed out: no progress"), "{}", run.summary());
    assert!(run.took < Duration::from_secs(5), "{:?}", run.took);

    let nl = with(&NL668, &["--stall-timeout", "0.5"]);
    let run = run_case(Style::default(), &nl, |f, _| {
        f.nl668_start();
        f.line("GTOTA DOWNLOADING: 5%");
        f.nl668_restore(); // the NL668 cannot cancel: the settings come back and the host stops
    });
    assert_eq!(run.code, 10, "{:?}", run.events);
}

#[test]
fn cme_error_is_a_refusal() {
    let run = run_case(Style { echo: true, split: true }, &SLM, |f, _| {
        f.ok("AT");
        f.expect("AT#XFOTA=1");
        f.line("+CME ERROR: 50");
    });
    assert_eq!(run.code, 4);
    assert_eq!(run.summary(), "refused: AT#XFOTA=1,\"http://192.0.2.1/app.bin\" answered +CME ERROR: 50");
}

#[test]
fn every_result_code_of_both_profiles() {
    // (download URCs after the start, result after the reboot or None, exit code, words)
    let slm: [(&str, Option<&str>, i32, &str); 6] = [
        ("#XFOTA: 4,0", Some("#XFOTA: 5,0"), 0, "updated"),
        ("#XFOTA: 1,1,1", None, 5, "download failed"),
        ("#XFOTA: 1,1,2", None, 6, "rejected"),
        ("#XFOTA: 1,1,3", None, 7, "image mismatch"),
        ("#XFOTA: 4,0", Some("#XFOTA: 5,1,2"), 8, "activation failed"),
        ("#XFOTA: 4,0", Some("#XFOTA: 5,3"), 9, "reverted: the new image did not confirm itself"),
    ];
    for (urc, result, code, words) in slm {
        let args = with(&SLM, &["--retries", "0"]);
        let run = run_case(Style::default(), &args, move |f, _| {
            f.slm_start();
            f.lines(&["#XFOTA: 1,0,50", urc]);
            if let Some(result) = result {
                f.slm_reset_and_report(result, "1.0.0");
            }
        });
        assert_eq!(run.code, code, "{urc} {result:?}: {:?}", run.events);
        assert!(run.summary().starts_with(words), "{urc} {result:?}: {}", run.summary());
    }
    let nl: [(&str, Option<&str>, i32, &str); 7] = [
        (
            "GTOTA DOWNLOAD COMPLETE",
            Some("GTOTA UPGRADE SUCCESS"),
            0,
            "updated: now running NL668-EAU_V1.1.0",
        ),
        ("GTOTA DOWNLOAD FAILED: 3", None, 5, "download failed: the server has no such file"),
        ("GTOTA UPGRADE FAILED: 10", None, 6, "rejected: not a firmware package"),
        ("GTOTA UPGRADE FAILED: 11", None, 7, "image mismatch"),
        ("GTOTA DOWNLOAD COMPLETE", Some("GTOTA UPGRADE FAILED: 12"), 6, "rejected: signature not trusted"),
        ("GTOTA DOWNLOAD COMPLETE", Some("GTOTA UPGRADE FAILED: 13"), 8, "activation failed"),
        ("GTOTA DOWNLOAD COMPLETE", Some("GTOTA UPGRADE FAILED: 14"), 9, "reverted"),
    ];
    for (urc, result, code, words) in nl {
        let args = with(&NL668, &["--retries", "0"]);
        let run = run_case(Style { echo: true, split: false }, &args, move |f, _| {
            f.nl668_start();
            f.lines(&["GTOTA DOWNLOADING: 50%", urc]);
            if let Some(result) = result {
                f.lines(&["RDY", result]);
            }
            f.nl668_restore();
            if code == 0 || code == 8 || code == 9 {
                f.nl668_version();
            }
        });
        assert_eq!(run.code, code, "{urc} {result:?}: {:?}", run.events);
        assert!(run.summary().starts_with(words), "{urc} {result:?}: {}", run.summary());
    }
}

#[test]
fn nl668_download_failures_are_retried_then_reported() {
    let run = run_case(Style::default(), &NL668, |f, _| {
        let first = f.nl668_start();
        f.line("GTOTA DOWNLOAD FAILED: 1");
        for _ in 0..2 {
            assert_eq!(f.ok("AT+GTOTA="), first);
            f.lines(&["GTOTA DOWNLOAD START", "GTOTA DOWNLOADING: 30%", "GTOTA DOWNLOAD FAILED: 1"]);
        }
        f.nl668_restore();
    });
    assert_eq!(run.code, 5, "{:?}", run.events);
    assert!(run.summary().contains("3 attempts"), "{}", run.summary());
}

#[test]
fn ctrl_c_cancels_and_restores() {
    let run = run_case(Style::default(), &SLM, |f, interrupt| {
        f.slm_start();
        f.line("#XFOTA: 1,0,20");
        thread::sleep(Duration::from_millis(200));
        interrupt();
        f.expect("AT#XFOTA=0");
        f.lines(&["#XFOTA: 1,2,0", "OK"]);
    });
    assert_eq!(run.code, 130, "{:?}", run.events);
    assert_eq!(run.summary(), "interrupted");

    let run = run_case(Style::default(), &NL668, |f, interrupt| {
        f.nl668_start();
        f.line("GTOTA DOWNLOADING: 20%");
        thread::sleep(Duration::from_millis(200));
        interrupt();
        f.nl668_restore();
    });
    assert_eq!(run.code, 130, "{:?}", run.events);
}

#[test]
fn usage_and_port_errors() {
    let exe = env!("CARGO_BIN_EXE_atfota");
    let out = |args: &[&str]| Command::new(exe).args(args).output().unwrap();
    // A port nobody listens on: bind, learn the port, close.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let port = format!("tcp:{addr}");
    let refused = out(&with(&["update", "--json", "--port", &port], &SLM));
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.contains("\"exit_code\":3") && text.contains("port error"), "{text}");
    for bad in [
        with(&["update", "--port", &port], &["--profile", "nrf9160-slm"]), // no --url
        with(&["update", "--port", "/dev/x@fast"], &SLM),
        with(&["update", "--port", &port, "--no-activate"], &NL668),
        with(&["update", "--port", &port, "--target", "modem"], &NL668),
        with(&["update", "--port", &port, "--stall-timeout", "0"], &SLM),
        vec!["update", "--port", &port, "--profile", "nl668", "--url", "ftp://127.0.0.1:21"],
        vec![
            "update",
            "--port",
            &port,
            "--profile",
            "nrf9160-slm",
            "--url",
            "ftp://h",
            "--ftp-file",
            "f",
            "--user",
            "u",
            "--password-file",
            "/nonexistent",
        ],
    ] {
        let o = out(&bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}
