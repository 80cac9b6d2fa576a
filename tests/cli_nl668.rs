//! `atfota modem --profile nl668` through the real binary: HTTP and FTP
//! updates with the automatic reboot, the emulated 2G link and incoming
//! call, and passwords kept out of every log.

mod common;

use std::time::Instant;

use atfota_peers::{FtpPeer, HttpPeer};
use common::{Modem, app_image};

fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (n, d) in files {
        std::fs::write(dir.path().join(n), d).unwrap();
    }
    dir
}

fn cgmr(m: &mut Modem) -> String {
    m.ok("AT+CGMR")[0].clone()
}

#[test]
fn http_and_ftp_updates_install_by_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let a = app_image("1.1.0", 500 * 1024);
    let b = app_image("1.2.0", 500 * 1024);
    let www = dir_with(&[("a.bin", &a), ("b.bin", &b)]);
    let http = HttpPeer::serve_dir(www.path()).unwrap();
    let ftp = FtpPeer::serve_dir(www.path(), "fota", "s3cr,et").unwrap();

    let mut m = Modem::start_nl668(&data, &[], "info");
    assert_eq!(cgmr(&mut m), "+CGMR: \"NL668-EAU_V1.0.0\"");
    m.ok(&format!("AT+GTOTA=0,\"{}\"", http.url("a.bin")));
    let seen = m.urc("RDY");
    assert_eq!(seen.first().map(String::as_str), Some("GTOTA DOWNLOAD START"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("GTOTA DOWNLOAD COMPLETE"), "{seen:?}");
    assert_eq!(m.urc_starting("GTOTA UPGRADE"), "GTOTA UPGRADE SUCCESS");
    m.ok("ATE0");
    assert_eq!(cgmr(&mut m), "+CGMR: \"NL668-EAU_V1.1.0\"");

    m.ok(&format!("AT+GTOTA=1,\"{}\",\"b.bin\",\"fota\",\"s3cr,et\"", ftp.host_port()));
    m.urc("RDY");
    assert_eq!(m.urc_starting("GTOTA UPGRADE"), "GTOTA UPGRADE SUCCESS");
    m.ok("ATE0");
    assert_eq!(cgmr(&mut m), "+CGMR: \"NL668-EAU_V1.2.0\"");
    m.stop();
}

#[test]
fn passwords_never_reach_the_log_or_responses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let img = app_image("1.3.0", 100 * 1024);
    let www = dir_with(&[("pkg.bin", &img)]);
    let ftp = FtpPeer::serve_dir(www.path(), "fota", "Tr0ub4dor").unwrap();
    let mut m = Modem::start_nl668(&data, &[], "trace");
    let wrong = m.cmd(&format!("AT+GTOTA=1,\"{}\",\"pkg.bin\",\"fota\",\"hunter2-wrong\"", ftp.host_port()));
    assert!(wrong.is_ok());
    assert_eq!(m.urc_starting("GTOTA DOWNLOAD FAILED"), "GTOTA DOWNLOAD FAILED: 4");
    let bad = m.cmd("AT+GTOTA=1,\"127.0.0.1\",\"pkg.bin\",\"fota\",unquoted-hunter3");
    assert_eq!(bad.result, "+CME ERROR: 50");
    m.ok(&format!("AT+GTOTA=1,\"{}\",\"pkg.bin\",\"fota\",\"Tr0ub4dor\"", ftp.host_port()));
    m.urc("RDY");
    assert_eq!(m.urc_starting("GTOTA UPGRADE"), "GTOTA UPGRADE SUCCESS");
    let log = m.log();
    m.stop();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "trace logging was on");
    for secret in ["hunter2-wrong", "unquoted-hunter3", "Tr0ub4dor"] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[test]
fn an_incoming_call_breaks_the_download_until_callbreak_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let img = app_image("1.4.0", 600 * 1024);
    let www = dir_with(&[("pkg.bin", &img)]);
    let http = HttpPeer::serve_dir(www.path()).unwrap();
    let url = http.url("pkg.bin");
    let mut m = Modem::start_nl668(&data, &["--incoming-call-at", "40"], "info");
    m.ok(&format!("AT+GTOTA=0,\"{url}\""));
    let seen = m.urc("RING");
    assert!(seen.iter().any(|l| l.starts_with("GTOTA DOWNLOADING")), "{seen:?}");
    assert_eq!(m.urc_starting("GTOTA DOWNLOAD"), "GTOTA DOWNLOAD FAILED: 5");
    m.ok("AT+GTSET=\"CALLBREAK\",1");
    m.stop();
    // The setting survives a power cycle; the same command resumes and the call no longer matters.
    let mut m = Modem::start_nl668(&data, &["--incoming-call-at", "40"], "info");
    assert_eq!(m.ok("AT+GTSET?")[0], "+GTSET: \"CALLBREAK\",1");
    m.ok(&format!("AT+GTOTA=0,\"{url}\""));
    m.urc("RDY");
    assert_eq!(m.urc_starting("GTOTA UPGRADE"), "GTOTA UPGRADE SUCCESS");
    assert!(http.requests().iter().any(|r| r.range.is_some()), "the second download resumed with a range");
    m.stop();
}

#[test]
fn a_2g_link_is_slow() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let img = app_image("1.5.0", 8 * 1024); // about 8.6 KB on the wire: ~2 s at 4 KB/s
    let www = dir_with(&[("pkg.bin", &img)]);
    let http = HttpPeer::serve_dir(www.path()).unwrap();
    let mut m = Modem::start_nl668(&data, &["--network", "2g"], "info");
    let t = Instant::now();
    m.ok(&format!("AT+GTOTA=0,\"{}\"", http.url("pkg.bin")));
    m.urc("GTOTA DOWNLOAD COMPLETE");
    let took = t.elapsed();
    // A loose lower bound only: the emulated link must not be LTE-fast.
    assert!(took.as_secs_f64() > 1.0, "8.6 KB over 2G took {took:?}");
    m.urc("RDY");
    assert_eq!(m.urc_starting("GTOTA UPGRADE"), "GTOTA UPGRADE SUCCESS");
    m.stop();
}
