//! Modem delta updates as users run them: the binary's `modem-fw export`,
//! `delta create|info|apply` and `modem --modem-firmware`, an update through
//! `AT#XFOTA=2` with the emulated scratch erase taking real time while the AT
//! port stays responsive, and a device made by the release before modem
//! partitions (a committed data directory) that keeps working.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use atfota_peers::HttpPeer;
use common::{Modem, exe, fixture};

fn run(args: &[&str]) -> std::process::Output {
    let out = Command::new(exe()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "atfota {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_device_made_by_the_previous_release_opens_updates_its_application_and_explains_modem_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("old");
    copy_dir(&fixture("legacy-device/nrf9160-slm"), &data);
    let toml_before = std::fs::read(data.join("device.toml")).unwrap();
    let www = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("images/signed-ed25519.bin"), www.path().join("app.bin")).unwrap();
    let peer = HttpPeer::serve_dir(www.path()).unwrap();

    let mut m = Modem::start(&data, &[]);
    assert_eq!(m.ok("AT#XSLMVER"), ["#XSLMVER: \"1.0.0\",\"mfw_nrf9160_1.3.5\""]);
    m.ok("AT+CMEE=1");
    let r = m.cmd("AT#XFOTA=2,\"http://127.0.0.1:9/delta.bin\"");
    assert_eq!(r.result, "+CME ERROR: 4", "{r:?}");
    assert_eq!(m.cmd("AT#XFOTA=9").result, "+CME ERROR: 4");
    assert!(m.log().contains("created without modem firmware partitions"), "{}", m.log());
    // The application path works as it did (the fixture trusts this key).
    m.ok(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")));
    m.urc("#XFOTA: 4,0");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.version(), "1.2.3+4");
    m.stop();
    // device.toml only gains the IMEI this build gives every device (written once, atomically).
    let after = String::from_utf8(std::fs::read(data.join("device.toml")).unwrap()).unwrap();
    let kept: String =
        after.lines().filter(|l| !l.starts_with("imei = ")).map(|l| format!("{l}\n")).collect();
    assert_eq!(kept.as_bytes(), toml_before.as_slice(), "{after}");
    assert!(after.lines().any(|l| l.starts_with("imei = \"")), "{after}");
    // Asking an old device for a modem firmware it cannot have is refused clearly.
    let fw = tmp.path().join("fw.bin");
    std::fs::write(&fw, b"firmware").unwrap();
    let out = Command::new(exe())
        .args(["modem", "--listen", "stdio", "--data"])
        .arg(&data)
        .args(["--modem-firmware", fw.to_str().unwrap(), "--modem-version", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without modem firmware partitions"));
}

#[test]
fn export_create_and_update_with_the_erase_taking_real_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    // A device with a small firmware of our own, so the test is quick.
    let v1 = atfota_device::modem_firmware_body(11, 300_007);
    std::fs::write(p("v1.bin"), &v1).unwrap();
    let erase = ["--modem-erase-ms", "800", "--modem-firmware", &p("v1.bin"), "--modem-version", "mfw 1.0"];
    let mut m = Modem::start(&data, &erase);
    assert_eq!(m.ok("AT+CGMR"), ["mfw 1.0"]);
    m.stop();
    run(&["modem-fw", "export", "--data", data.to_str().unwrap(), "-o", &p("exported.bin")]);
    assert!(std::fs::read(p("exported.bin")).unwrap() == v1, "export gives the factory firmware");
    let mut v2 = v1.clone();
    v2[1000..1100].fill(0x42);
    let mut v3 = v2.clone();
    v3.splice(200_000..200_000, std::iter::repeat_n(7u8, 5000));
    std::fs::write(p("v2.bin"), &v2).unwrap();
    std::fs::write(p("v3.bin"), &v3).unwrap();
    let www = tempfile::tempdir().unwrap();
    let pkg = |from: &str, to: &str, version: &str, out: &str| {
        run(&[
            "delta",
            "create",
            "--from",
            &p(from),
            "--to",
            &p(to),
            "--to-version",
            version,
            "--from-version",
            "x",
            "-o",
            &www.path().join(out).to_string_lossy(),
        ]);
    };
    pkg("exported.bin", "v2.bin", "mfw 2.0", "d12.bin");
    pkg("v2.bin", "v3.bin", "mfw 3.0", "d23.bin");
    let info = run(&["delta", "info", &www.path().join("d12.bin").to_string_lossy()]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("signature     good") && info.contains("mfw 2.0"), "{info}");
    run(&[
        "delta",
        "apply",
        "--from",
        &p("v2.bin"),
        &www.path().join("d23.bin").to_string_lossy(),
        "-o",
        &p("v3-host.bin"),
    ]);
    assert!(std::fs::read(p("v3-host.bin")).unwrap() == v3);
    let peer = HttpPeer::serve_dir(www.path()).unwrap();

    let mut m = Modem::start(&data, &erase);
    m.ok(&format!("AT#XFOTA=2,\"{}\"", peer.url("d12.bin")));
    let seen = m.urc("#XFOTA: 4,0");
    assert!(!seen.iter().any(|u| u == "#XFOTA: 2,0"), "a clean scratch area needs no erase: {seen:?}");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.ok("AT+CGMR"), ["mfw 2.0"]);
    // The scratch area now holds the applied package: the next update erases it first,
    // which takes 800 ms here, and the modem answers AT meanwhile.
    m.ok(&format!("AT#XFOTA=2,\"{}\"", peer.url("d23.bin")));
    m.urc("#XFOTA: 2,0");
    let erase_began = Instant::now();
    m.ok("AT");
    assert!(erase_began.elapsed() < Duration::from_millis(700), "AT answered during the erase");
    m.urc("#XFOTA: 3,0");
    assert!(erase_began.elapsed() >= Duration::from_millis(700), "the erase took its emulated time");
    m.urc("#XFOTA: 4,0");
    m.ok("AT#XRESET");
    m.urc("Ready");
    assert_eq!(m.urc_starting("#XFOTA: 5,"), "#XFOTA: 5,0");
    assert_eq!(m.ok("AT+CGMR"), ["mfw 3.0"]);
    // Op 9 answers once its erase is done.
    let t = Instant::now();
    m.ok("AT#XFOTA=9");
    assert!(t.elapsed() >= Duration::from_millis(700), "op 9 blocks for the erase");
    m.stop();
    run(&["modem-fw", "export", "--data", data.to_str().unwrap(), "-o", &p("now.bin")]);
    assert!(std::fs::read(p("now.bin")).unwrap() == v3, "the running firmware is v3 byte for byte");
    // The factory firmware is fixed at creation.
    let out = Command::new(exe())
        .args(["modem", "--listen", "stdio", "--data", data.to_str().unwrap()])
        .args(["--modem-firmware", &p("v2.bin"), "--modem-version", "other"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("created with another --modem-firmware"));
}
