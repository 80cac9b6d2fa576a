//! `atfota campaign` against several real emulators (`atfota modem --listen tcp:...`) and a
//! real HTTP server: some devices are made to fail on purpose (a failing self-test, a key the
//! device does not trust, a port nobody listens on), and the summary table, the JSON report
//! and the exit code must say exactly that; a run where every device updates exits 0.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use common::{WAIT, exe, fixture, serve};
use serde_json::Value;

/// The version inside `images/signed-ed25519.bin` (signed with `keys/trusted-ed25519.pem`).
const NEW: &str = "1.2.3+4";
/// What a factory-fresh device runs.
const FACTORY: &str = "1.0.0";

/// Running emulators, stopped (each by its own PID) when dropped.
#[derive(Default)]
struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Fleet {
    /// Starts `atfota modem --data DATA --listen tcp:127.0.0.1:PORT EXTRA...` and returns the
    /// address it listens on, or why it did not start (a port taken in the meantime).
    fn start(&mut self, data: &Path, port: u16, extra: &[&str]) -> Result<String, String> {
        let mut child = Command::new(exe())
            .args(["modem", "--recv-timeout", "5", "--data"])
            .arg(data)
            .args(["--listen", &format!("tcp:127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        self.0.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(addr) = line.split("AT on tcp:").nth(1) {
                    let _ = tx.send(Ok(addr.split_whitespace().next().unwrap_or_default().to_string()));
                } else if line.contains("Error") || line.contains("error") {
                    let _ = tx.send(Err(line));
                }
            }
            let _ = tx.send(Err("the modem exited".into()));
        });
        rx.recv_timeout(WAIT).unwrap_or_else(|_| Err("the modem did not start in time".into()))
    }
}

/// N consecutive ports free on loopback right now, from a random base.
fn free_range(n: u16) -> u16 {
    loop {
        let base = 20_000 + fastrand::u16(..40_000);
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
}

/// A port nobody listens on: one the system just handed out and took back.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn trust() -> String {
    fixture("keys/trusted-ed25519.pub.pem").to_str().unwrap().to_string()
}

/// `atfota campaign --ports PORTS --profile nrf9160-slm --url URL ARGS...`, with short timeouts.
fn campaign(ports: &str, url: &str, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(exe())
        .args(["campaign", "--ports", ports, "--profile", "nrf9160-slm", "--url", url])
        .args(["--reboot-timeout", "20", "--stall-timeout", "10"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// The count on a summary table row (`  updated     2`).
fn row(table: &str, what: &str) -> Option<u64> {
    table.lines().find_map(|l| {
        let (name, n) = l.trim().rsplit_once(' ')?;
        (name.trim() == what).then(|| n.parse().ok())?
    })
}

#[test]
fn failures_on_purpose_are_counted_reported_and_exit_11() {
    let image = std::fs::read(fixture("images/signed-ed25519.bin")).unwrap();
    let (_www, http) = serve(&[("app.bin", &image)]);
    let tmp = tempfile::tempdir().unwrap();
    let key = trust();
    let kinds: [&[&str]; 4] =
        [&["--trust", &key], &["--trust", &key], &["--trust", &key, "--fail-self-test"], &[]];
    let mut fleet = Fleet::default();
    let mut ports = vec!["# the bench: two good devices, a failing self-test, an untrusting one".to_string()];
    for (i, extra) in kinds.iter().enumerate() {
        let addr = fleet.start(&tmp.path().join(format!("dev{i}")), 0, extra).unwrap();
        ports.push(format!("tcp:{addr}"));
    }
    let dead = format!("tcp:127.0.0.1:{}", dead_port());
    ports.push(format!("{dead}   # nothing listens here"));
    let list = tmp.path().join("ports.txt");
    std::fs::write(&list, ports.join("\n") + "\n").unwrap();

    let (code, stdout, stderr) =
        campaign(list.to_str().unwrap(), &http.url("app.bin"), &["--json", "--concurrency", "3"]);
    let text = format!("{stdout}\n{stderr}");
    assert_eq!(code, 11, "{text}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 5, "{text}");
    let want = [
        ("updated", 0, Some(NEW)),
        ("updated", 0, Some(NEW)),
        ("reverted", 9, Some(FACTORY)),
        ("rejected", 6, None),
        ("port-error", 3, None),
    ];
    for (i, (d, (outcome, exit, version))) in devices.iter().zip(want).enumerate() {
        let port = ports[i + 1].split_whitespace().next().unwrap();
        assert_eq!(d["port"], port, "{d}");
        assert_eq!(d["outcome"], outcome, "{d}");
        assert_eq!(d["exit_code"], exit, "{d}");
        assert_eq!(d["version"].as_str(), version, "{d}");
        assert!(d["seconds"].as_f64().unwrap() < WAIT.as_secs_f64(), "{d}");
    }
    assert_eq!(devices[0]["reason"], format!("updated: now running {NEW}"));
    assert!(devices[2]["reason"].as_str().unwrap().starts_with("reverted: "), "{text}");
    let rejected = devices[3]["reason"].as_str().unwrap();
    assert!(rejected.starts_with("rejected: ") && rejected.contains("trusted"), "{rejected}");
    let unreachable = devices[4]["reason"].as_str().unwrap();
    assert!(
        unreachable.contains("cannot open the port") && unreachable.contains(&dead[4..]),
        "{unreachable}"
    );
    let summary = &report["summary"];
    assert_eq!(summary["total"], 5);
    assert_eq!(summary["updated"], 2);
    assert_eq!(summary["reverted"], 1);
    assert_eq!(summary["timed_out"], 0);
    assert_eq!(summary["failed"], serde_json::json!({"port-error": 1, "rejected": 1}));
    assert_eq!(report["exit_code"], 11);

    // The table (on stderr with --json) says the same, and names each device not updated.
    assert_eq!(row(&stderr, "updated"), Some(2), "{stderr}");
    assert_eq!(row(&stderr, "reverted"), Some(1), "{stderr}");
    assert_eq!(row(&stderr, "timed out"), Some(0), "{stderr}");
    assert_eq!(row(&stderr, "failed: rejected"), Some(1), "{stderr}");
    assert_eq!(row(&stderr, "failed: port-error"), Some(1), "{stderr}");
    assert_eq!(row(&stderr, "total"), Some(5), "{stderr}");
    let listed: Vec<&str> = stderr.lines().skip_while(|l| *l != "not updated:").skip(1).collect();
    assert_eq!(listed.len(), 3, "{stderr}");
    assert!(listed[2].trim().starts_with(&format!("{dead}: port error")), "{stderr}");
    // Not a terminal: one plain line per finished device.
    assert_eq!(stderr.lines().filter(|l| l.starts_with('[') && l.contains("/5 ")).count(), 5, "{stderr}");
}

#[test]
fn a_range_of_devices_all_updating_exits_0() {
    let image = std::fs::read(fixture("images/signed-ed25519.bin")).unwrap();
    let (_www, http) = serve(&[("app.bin", &image)]);
    let tmp = tempfile::tempdir().unwrap();
    let key = trust();
    const N: u16 = 3;
    // Another process may take a port between the check and the bind: then try another range.
    let (base, _fleet) = (0..10)
        .find_map(|attempt| {
            let base = free_range(N);
            let mut fleet = Fleet::default();
            for i in 0..N {
                let data = tmp.path().join(format!("try{attempt}-dev{i}"));
                if let Err(why) = fleet.start(&data, base + i, &["--trust", &key]) {
                    eprintln!("port {}: {why}; trying another range", base + i);
                    return None;
                }
            }
            Some((base, fleet))
        })
        .expect("no free range of ports in 10 attempts");

    let (code, stdout, stderr) = campaign(&format!("tcp:127.0.0.1:{base}+{N}"), &http.url("app.bin"), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(row(&stdout, "updated"), Some(u64::from(N)), "{stdout}");
    assert_eq!(row(&stdout, "total"), Some(u64::from(N)), "{stdout}");
    assert!(!stdout.contains("failed:") && !stdout.contains("not updated"), "{stdout}");
    for i in 0..N {
        let line = format!("tcp:127.0.0.1:{}: updated: now running {NEW}", base + i);
        assert!(stderr.contains(&line), "{line}\n{stderr}");
    }
}

#[test]
fn bad_port_lists_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "# no device yet\n\n").unwrap();
    let twice = tmp.path().join("twice.txt");
    std::fs::write(&twice, "tcp:127.0.0.1:5000\ntcp:127.0.0.1:5000\n").unwrap();
    let missing = tmp.path().join("missing.txt");
    let url = "http://127.0.0.1:9/app.bin";
    for (ports, says) in [
        ("tcp:127.0.0.1:65535+2", "65536"),
        ("tcp:127.0.0.1:5000+0", "at least 1"),
        (empty.to_str().unwrap(), "no port"),
        (twice.to_str().unwrap(), "listed twice"),
        (missing.to_str().unwrap(), "missing.txt"),
    ] {
        let (code, stdout, stderr) = campaign(ports, url, &[]);
        assert_eq!(code, 2, "{ports}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{ports}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    let (code, _, stderr) = campaign("tcp:127.0.0.1:5000+2", "ftp://127.0.0.1", &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid request"), "{stderr}");
}
