//! `atfota modem` as users run it: the command line contract, over stdio,
//! a PTY and TCP, with power cycles by SIGKILL.

mod common;

use std::io::{BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use atfota_peers::{Fault, FaultProxy};
use common::{Modem, app_image, exe, fixture, serve, stderr_line};

#[test]
fn a_fresh_device_updates_over_stdio_and_survives_power_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let image = app_image("2.0.0", 600 * 1024);
    let (_w, peer) = serve(&[("app.bin", &image)]);

    let mut m = Modem::start(&data, &[]);
    assert!(
        data.join("flash.bin").is_file() && data.join("device.toml").is_file(),
        "factory-fresh device created"
    );
    assert_eq!(m.version(), "1.0.0");
    assert_eq!(m.ok("AT+CGMR"), ["mfw_nrf9160_1.3.5"]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
    let seen = m.urc("#XFOTA: 4,0");
    assert_eq!(seen.last().map(String::as_str), Some("#XFOTA: 1,0,100"), "{seen:?}");
    // Power cut after 4,0 was acknowledged: the scheduled image survives it,
    // and power-on is a reset, so the bootloader installs it now (as MCUboot would).
    m.kill();
    let mut m = Modem::start(&data, &[]);
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.version(), "2.0.0");
    m.stop();
    // A clean restart keeps the installed image and reports nothing again.
    let mut m = Modem::start(&data, &[]);
    assert_eq!(m.version(), "2.0.0");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.version(), "2.0.0");
    m.stop();
}

#[test]
fn sigkill_mid_download_then_the_same_url_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let image = app_image("2.1.0", 900 * 1024);
    let (_w, peer) = serve(&[("app.bin", &image)]);
    // 300 KB/s: the download takes about 3 s, long enough to kill it mid-way.
    let slow = FaultProxy::start(peer.addr(), vec![Fault::Throttle(300_000), Fault::Pass]).unwrap();
    let mut m = Modem::start(&data, &[]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", slow.url("app.bin")));
    m.urc_matching(|l| {
        l.strip_prefix("#XFOTA: 1,0,").and_then(|p| p.parse::<u8>().ok()).is_some_and(|p| p >= 50)
    });
    m.kill();
    let mut m = Modem::start(&data, &[]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", slow.url("app.bin")));
    m.urc("#XFOTA: 4,0");
    let range = peer.requests().last().unwrap().range.clone().expect("resumed with Range");
    let from: u64 = range.trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
    assert!(from >= 300 * 1024, "resumed near where it was killed: {range}");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.version(), "2.1.0", "the resumed image is bit-exact (its signature verified)");
    m.stop();
}

#[test]
fn trusted_keys_from_imgtool_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let img = std::fs::read(fixture("images/signed-ed25519.bin")).unwrap();
    let (_w, peer) = serve(&[("app.bin", &img)]);
    let url = peer.url("app.bin");
    // Without the key the image is refused.
    let mut m = Modem::start(&data, &[]);
    m.ok(&format!("AT#XFOTA=1,\"{url}\""));
    assert_eq!(m.urc_starting("#XFOTA: 1,1"), "#XFOTA: 1,1,2");
    m.stop();
    let key = fixture("keys/trusted-ed25519.pub.pem");
    let m = Modem::start(&data, &["--trust", key.to_str().unwrap()]);
    m.stop();
    // The key was stored in the device: no --trust needed any more.
    let mut m = Modem::start(&data, &[]);
    m.ok(&format!("AT#XFOTA=1,\"{url}\""));
    m.urc("#XFOTA: 4,0");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.version(), "1.2.3+4");
    m.stop();
}

#[test]
fn slot_size_is_chosen_at_creation_and_fixed_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let image = app_image("3.0.0", 1536 * 1024);
    let (_w, peer) = serve(&[("big.bin", &image)]);
    let mut m = Modem::start(&data, &["--slot-size", "2M"]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("big.bin")));
    m.urc("#XFOTA: 4,0");
    m.stop();
    let out = Command::new(exe()).args(["modem", "--slot-size", "4M", "--data"]).arg(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--slot-size") && err.contains("2097152"), "{err}");
    // The default 1 MiB device refuses the same image.
    let small = tmp.path().join("small");
    let mut m = Modem::start(&small, &[]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("big.bin")));
    assert_eq!(m.urc_starting("#XFOTA: 1,1"), "#XFOTA: 1,1,2");
    m.stop();
}

#[test]
fn fail_self_test_makes_the_device_revert() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let image = app_image("9.0.0", 200 * 1024);
    let (_w, peer) = serve(&[("app.bin", &image)]);
    let mut m = Modem::start(&data, &["--fail-self-test"]);
    m.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
    m.urc("#XFOTA: 4,0");
    m.ok("AT#XRESET");
    m.urc("Ready");
    let before = m.urc("Ready");
    assert!(before.is_empty(), "Ready, then Ready again: {before:?}");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,3");
    assert_eq!(m.version(), "1.0.0");
    m.stop();
}

#[test]
fn pty_with_a_link_behaves_like_a_serial_modem() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let link = tmp.path().join("modem");
    let image = app_image("2.5.0", 300 * 1024);
    let (_w, peer) = serve(&[("app.bin", &image)]);
    let mut child = Command::new(exe())
        .args(["modem", "--data"])
        .arg(&data)
        .arg("--listen")
        .arg(format!("pty:{}", link.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let line = stderr_line(&mut err, "->");
    assert!(line.contains("/dev/pts/"), "{line}");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    // The host library opens the link like a serial port (serialport over the PTY).
    let mut port = atfota_host::PortConnector::new(link.to_str().unwrap().parse().unwrap());
    let req = atfota_host::Request::http(atfota_host::Profile::Nrf9160Slm, peer.url("app.bin"));
    let outcome = atfota_host::Updater::new().run(&mut port, &req, |_| {});
    assert_eq!(outcome, atfota_host::Outcome::Updated { version: Some("2.5.0".into()) });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn tcp_listens_only_where_told_and_keeps_output_for_the_first_client() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let mut child = Command::new(exe())
        .args(["modem", "--listen", "tcp:127.0.0.1:0", "--data"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let line = stderr_line(&mut err, "AT on tcp:");
    let addr = line.split("tcp:").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    for round in 0..2 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"AT+CGMM\r").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).ends_with("OK\r\n") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        if round == 0 {
            assert_eq!(
                text, "\r\nReady\r\n\r\nnRF9160-SICA\r\n\r\nOK\r\n",
                "boot banner kept for the first client"
            );
        } else {
            assert_eq!(text, "\r\nnRF9160-SICA\r\n\r\nOK\r\n", "a second client after the first left");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_imei_is_fixed_per_device_and_boot_offline_starts_at_cfun_0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let mut m = Modem::start(&data, &["--boot-offline"]);
    assert_eq!(m.ok("AT+CFUN?"), ["+CFUN: 0"]);
    let imei = m.ok("AT+CGSN").remove(0);
    assert!(imei.len() == 15 && imei.bytes().all(|b| b.is_ascii_digit()), "{imei}");
    m.ok("AT+CFUN=1");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.ok("AT+CFUN?"), ["+CFUN: 0"], "every boot starts offline");
    m.stop();
    let toml = data.join("device.toml");
    assert!(std::fs::read_to_string(&toml).unwrap().contains(&format!("imei = \"{imei}\"")));

    let mut m = Modem::start(&data, &[]);
    assert_eq!(m.ok("AT+CFUN?"), ["+CFUN: 1"], "without the option the emulator boots online");
    assert_eq!(m.ok("AT+CGSN"), [imei]);
    m.stop();

    // A device made before IMEIs existed gets one, once.
    let old: String = std::fs::read_to_string(&toml)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("imei"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&toml, old).unwrap();
    let mut m = Modem::start(&data, &[]);
    let new = m.ok("AT+CGSN").remove(0);
    m.stop();
    assert!(std::fs::read_to_string(&toml).unwrap().contains(&format!("imei = \"{new}\"")));
    let mut m = Modem::start(&data, &[]);
    assert_eq!(m.ok("AT+CGSN"), [new]);
    m.stop();
}

#[test]
fn help_documents_the_contract_and_bad_options_fail_clearly() {
    let out = Command::new(exe()).args(["modem", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--data",
        "--profile",
        "--listen",
        "--trust",
        "--slot-size",
        "--fail-self-test",
        "--boot-offline",
        "Ready",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
    }
    let tmp = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--profile", "quectel"], "unknown profile"),
        (vec!["--listen", "udp:1"], "expected stdio"),
        (vec!["--slot-size", "12"], "slot-size"),
        (vec!["--trust", "/nonexistent.pem"], "nonexistent.pem"),
        (vec!["--profile", "nl668", "--boot-offline"], "only the nrf9160-slm profile"),
    ] {
        let out = Command::new(exe())
            .args(["modem", "--data"])
            .arg(tmp.path().join("d"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A flash file of the wrong size is refused with both sizes named, and left as it was:
    // never cut (a longer file may hold bytes the user wants) nor padded.
    let data = tmp.path().join("broken");
    let m = Modem::start(&data, &[]);
    m.stop();
    let size = std::fs::metadata(data.join("flash.bin")).unwrap().len();
    for wrong in [12_345, size + 4096] {
        let f = std::fs::OpenOptions::new().write(true).open(data.join("flash.bin")).unwrap();
        f.set_len(wrong).unwrap();
        let out =
            Command::new(exe()).args(["modem", "--data"]).arg(&data).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("is {wrong} bytes but this device's flash is {size} bytes")), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::metadata(data.join("flash.bin")).unwrap().len(),
            wrong,
            "the file is left as it was"
        );
    }
}
