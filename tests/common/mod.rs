//! Running the real `atfota` binary in tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atfota_host::update::slm_urc;
use atfota_host::{Reply, Session};

/// Serves `files` (name, bytes) from a new temporary directory over HTTP on loopback; the
/// directory lives as long as the returned guard.
pub fn serve(files: &[(&str, &[u8])]) -> (tempfile::TempDir, atfota_peers::HttpPeer) {
    let dir = tempfile::tempdir().unwrap();
    for (n, d) in files {
        std::fs::write(dir.path().join(n), d).unwrap();
    }
    let peer = atfota_peers::HttpPeer::serve_dir(dir.path()).unwrap();
    (dir, peer)
}

/// Generous bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(30);

/// The binary under test.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_atfota")
}

/// A running `atfota modem` on stdio, with a session on its stdin/stdout.
pub struct Modem {
    pub child: Child,
    pub session: Session,
    pub stderr: PathBuf,
}

impl Modem {
    /// Starts `atfota modem --data DIR --listen stdio EXTRA...` and waits for `Ready`.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_with(data, extra, slm_urc, "Ready", "info")
    }

    /// Starts an NL668 (`--profile nl668`), waits for `RDY` and turns echo off.
    pub fn start_nl668(data: &Path, extra: &[&str], log_level: &str) -> Self {
        let mut args = vec!["--profile", "nl668"];
        args.extend_from_slice(extra);
        let mut m = Self::start_with(data, &args, atfota_host::update::nl668_urc, "RDY", log_level);
        m.ok("ATE0");
        m
    }

    fn start_with(
        data: &Path,
        extra: &[&str],
        urc: atfota_host::UrcFilter,
        banner: &str,
        log_level: &str,
    ) -> Self {
        let log = data.with_extension("log");
        let mut child = Command::new(exe())
            .env("RUST_LOG", log_level)
            .args(["modem", "--listen", "stdio", "--recv-timeout", "2", "--data"])
            .arg(data)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap())
            .spawn()
            .unwrap();
        let session = Session::new(child.stdout.take().unwrap(), child.stdin.take().unwrap(), urc);
        let mut m = Self { child, session, stderr: log };
        m.urc(banner);
        m
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.session.command(line, WAIT).unwrap_or_else(|e| panic!("{line}: {e}\n{}", self.log()))
    }

    /// Sends a command that must answer OK.
    pub fn ok(&mut self, line: &str) -> Vec<String> {
        let r = self.cmd(line);
        assert!(r.is_ok(), "{line} answered {r:?}\n{}", self.log());
        r.lines
    }

    /// Waits for the URC `want`, collecting the URCs seen before it.
    pub fn urc(&mut self, want: &str) -> Vec<String> {
        let mut seen = Vec::new();
        self.session
            .wait_urc(|l| l == want, |l| seen.push(l.to_string()), WAIT)
            .unwrap_or_else(|e| panic!("waiting for {want}: {e} (saw {seen:?})\n{}", self.log()));
        seen
    }

    /// Waits for the first URC for which `pred` holds.
    pub fn urc_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.session
            .wait_urc(pred, |_| {}, WAIT)
            .unwrap_or_else(|e| panic!("waiting for a URC: {e}\n{}", self.log()))
    }

    /// Waits for the first URC starting with `prefix`.
    pub fn urc_starting(&mut self, prefix: &str) -> String {
        self.session
            .wait_urc(|l| l.starts_with(prefix), |_| {}, WAIT)
            .unwrap_or_else(|e| panic!("waiting for {prefix}: {e}\n{}", self.log()))
    }

    /// The application version (`AT#XSLMVER`).
    pub fn version(&mut self) -> String {
        let lines = self.ok("AT#XSLMVER");
        lines[0].strip_prefix("#XSLMVER: \"").unwrap().split('"').next().unwrap().to_string()
    }

    /// SIGKILL: a power cut.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Closes stdin and waits for a clean exit.
    pub fn stop(mut self) {
        drop(self.session);
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "modem exited with {st}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("modem did not stop when stdin closed");
    }

    /// The modem's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// A signed application image (development key).
pub fn app_image(version: &str, len: usize) -> Vec<u8> {
    atfota_device::application_image(&format!("cli test {version}"), version.parse().unwrap(), len).unwrap()
}

/// A fixture made by a real tool.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

/// Reads lines from a child's stderr until one contains `needle`; returns it.
pub fn stderr_line(reader: &mut BufReader<std::process::ChildStderr>, needle: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("stderr ended before {needle:?}");
        }
        if line.contains(needle) {
            return line.trim().to_string();
        }
    }
}
