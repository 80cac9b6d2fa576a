//! `atfota update` and `atfota at` against the real emulator (`atfota modem`) over a PTY and
//! over TCP: nrf9160-slm application and modem delta updates, nl668 over HTTP and FTP. Each
//! ends with exit code 0 and the JSON events a host tool would rely on.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use atfota_peers::{FtpPeer, HttpPeer};
use common::{app_image, exe, serve, stderr_line};
use serde_json::Value;

/// A running emulator and the `--port` that reaches it.
struct Emulator {
    child: Child,
    port: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `atfota modem --data DIR EXTRA... --listen pty:LINK|tcp:127.0.0.1:0`.
fn emulator(data: &Path, over_tcp: bool, extra: &[&str]) -> Emulator {
    let link = data.with_extension("pty");
    let listen = if over_tcp { "tcp:127.0.0.1:0".to_string() } else { format!("pty:{}", link.display()) };
    let mut child = Command::new(exe())
        .args(["modem", "--data"])
        .arg(data)
        .args(["--listen", &listen, "--recv-timeout", "5"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let port = if over_tcp {
        let line = stderr_line(&mut err, "AT on tcp:");
        let addr = line.split("tcp:").nth(1).unwrap().split_whitespace().next().unwrap();
        format!("tcp:{addr}")
    } else {
        stderr_line(&mut err, "->");
        link.display().to_string()
    };
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    Emulator { child, port }
}

/// `atfota update --json --port PORT ARGS...`: exit code, events, stderr.
fn update(port: &str, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = Command::new(exe())
        .args(["update", "--json", "--port", port, "--reboot-timeout", "30", "--stall-timeout", "20"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{stderr}")))
        .collect();
    (out.status.code().unwrap_or(-1), events, format!("{stdout}\n{stderr}"))
}

/// Checks a successful update's JSON: every kind of event, rising progress to 100, the result
/// URC, and the done line naming the new version.
fn check_success(code: i32, events: &[Value], text: &str, result_urc: &str, version: &str) {
    assert_eq!(code, 0, "{text}");
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for kind in ["sent", "urc", "progress", "downloaded", "rebooting", "booted", "result", "done"] {
        assert!(kinds.contains(&kind), "no {kind} event: {text}");
    }
    let percents: Vec<u64> = events.iter().filter_map(|e| e["percent"].as_u64()).collect();
    assert_eq!(percents.last(), Some(&100), "{text}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "each percentage once, rising: {percents:?}");
    let ts: Vec<f64> = events.iter().map(|e| e["t"].as_f64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "t never goes back: {ts:?}");
    let result = events.iter().find(|e| e["event"] == "result").unwrap();
    assert_eq!(result["line"], result_urc, "{text}");
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["result"], format!("updated: now running {version}"), "{text}");
}

#[test]
fn nrf9160_slm_application_over_pty_and_tcp() {
    let a = app_image("2.1.0", 200 * 1024);
    let b = app_image("2.2.0", 200 * 1024);
    let (_www, http) = serve(&[("a.bin", &a), ("b.bin", &b)]);
    let tmp = tempfile::tempdir().unwrap();
    for (over_tcp, file, version) in [(false, "a.bin", "2.1.0"), (true, "b.bin", "2.2.0")] {
        let data = tmp.path().join(format!("dev-{over_tcp}"));
        let emu = emulator(&data, over_tcp, &[]);
        let (code, events, text) = update(&emu.port, &["--profile", "nrf9160-slm", "--url", &http.url(file)]);
        check_success(code, &events, &text, "#XFOTA: 5,0", version);
        // `atfota at` on the same port: the new version, and ERROR as exit code 4.
        let at =
            Command::new(exe()).args(["at", "--port", &emu.port, "AT#XSLMVER", "AT+CGMI"]).output().unwrap();
        let out = String::from_utf8_lossy(&at.stdout);
        assert_eq!(at.status.code(), Some(0), "{out}");
        assert!(out.contains(&format!("#XSLMVER: \"{version}\"")) && out.contains("Nordic"), "{out}");
        assert_eq!(out.lines().filter(|l| *l == "OK").count(), 2, "{out}");
        let bad = Command::new(exe()).args(["at", "--port", &emu.port, "AT+NOSUCH"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(4));
        assert_eq!(String::from_utf8_lossy(&bad.stdout).trim(), "ERROR");
    }
}

#[test]
fn nrf9160_slm_modem_delta_over_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let v1 = atfota_device::modem_firmware_body(11, 200_003);
    let mut v2 = v1.clone();
    v2[5000..5100].fill(0x42);
    std::fs::write(p("v1.bin"), &v1).unwrap();
    std::fs::write(p("v2.bin"), &v2).unwrap();
    let www = tempfile::tempdir().unwrap();
    let pkg = www.path().join("d12.bin");
    let made = Command::new(exe())
        .args(["delta", "create", "--from", &p("v1.bin"), "--to", &p("v2.bin")])
        .args(["--from-version", "mfw 1.0", "--to-version", "mfw 2.0", "-o", pkg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let http = HttpPeer::serve_dir(www.path()).unwrap();
    let fw = ["--modem-firmware", &p("v1.bin"), "--modem-version", "mfw 1.0", "--modem-erase-ms", "200"];
    let emu = emulator(&tmp.path().join("dev"), true, &fw);
    let (code, events, text) =
        update(&emu.port, &["--profile", "nrf9160-slm", "--target", "modem", "--url", &http.url("d12.bin")]);
    check_success(code, &events, &text, "#XFOTA: 5,0", "mfw 2.0");
    assert!(text.contains("AT#XFOTA=2,"), "{text}");
}

#[test]
fn nl668_over_http_and_ftp_on_pty_and_tcp() {
    let a = app_image("1.1.0", 200 * 1024);
    let b = app_image("1.2.0", 200 * 1024);
    let (www, http) = serve(&[("a.bin", &a), ("b.bin", &b)]);
    let ftp = FtpPeer::serve_dir(www.path(), "fota", "s3cr,et pw").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "s3cr,et pw\n").unwrap();
    for over_tcp in [false, true] {
        let emu = emulator(&tmp.path().join(format!("dev-{over_tcp}")), over_tcp, &["--profile", "nl668"]);
        let (code, events, text) = update(&emu.port, &["--profile", "nl668", "--url", &http.url("a.bin")]);
        check_success(code, &events, &text, "GTOTA UPGRADE SUCCESS", "NL668-EAU_V1.1.0");
        // The prerequisites were set for the update and restored after it.
        let sent: Vec<&str> = events.iter().filter_map(|e| e["line"].as_str()).collect();
        assert!(
            sent.contains(&"AT+GTSET=\"CALLBREAK\",1") && sent.contains(&"AT+GTSET=\"CALLBREAK\",0"),
            "{text}"
        );
        let ftp_url = format!("ftp://{}", ftp.host_port());
        let args = ["--profile", "nl668", "--url", &ftp_url, "--ftp-file", "b.bin", "--user", "fota"];
        let (code, events, text) =
            update(&emu.port, &[&args[..], &["--password-file", pw.to_str().unwrap()]].concat());
        check_success(code, &events, &text, "GTOTA UPGRADE SUCCESS", "NL668-EAU_V1.2.0");
        assert!(!text.contains("s3cr,et"), "the password leaked: {text}");
        let at = Command::new(exe()).args(["at", "--port", &emu.port, "AT+GTSET?"]).output().unwrap();
        let out = String::from_utf8_lossy(&at.stdout);
        assert!(out.contains("+GTSET: \"CALLBREAK\",0"), "restored: {out}");
    }
}
