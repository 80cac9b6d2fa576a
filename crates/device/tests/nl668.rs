//! The Fibocom NL668 profile end to end in-process: identification,
//! `AT+GTOTA` over HTTP with the automatic reboot and result, `AT+GTSET`,
//! the emulated incoming call, failures with their codes, and the bad-input
//! table with 27.007 error codes.

mod common;

use atfota_fota::{Conditions, EngineConfig};
use std::time::Instant;

use atfota_device::Next;
use common::{Dev, Step, answer, app_image, fixture, lines, poll_text, run_transfer, serve};

const KIB: usize = 1024;

/// A fresh NL668 with echo turned off (it echoes by default, like Fibocom's modules).
fn quiet(conditions: Conditions) -> Dev {
    let (mut dev, boot) = Dev::nl668(conditions);
    assert_eq!(boot, "\r\nRDY\r\n");
    assert_eq!(dev.send("ATE0"), "ATE0\r\r\nOK\r\n", "echo is on after boot");
    dev
}

fn cgmr(dev: &mut Dev) -> String {
    let out = dev.send("AT+CGMR");
    let l = lines(&out);
    assert_eq!(l.last(), Some(&"OK"), "{out:?}");
    l[0].to_string()
}

fn gtota_http(url: &str) -> String {
    format!("AT+GTOTA=0,\"{url}\"")
}

#[test]
fn identification_in_fibocom_style() {
    let mut dev = quiet(Conditions::default());
    assert_eq!(
        dev.send("ATI"),
        "\r\nManufacturer: Fibocom Wireless Inc.\r\n\r\nModel: NL668-EAU\r\n\r\nRevision: NL668-EAU_V1.0.0\r\n\r\nOK\r\n"
    );
    assert_eq!(dev.send("AT+CGMI"), "\r\n+CGMI: \"Fibocom Wireless Inc.\"\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMM"), "\r\n+CGMM: \"NL668-EAU\"\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMR"), "\r\n+CGMR: \"NL668-EAU_V1.0.0\"\r\n\r\nOK\r\n");
    assert_eq!(
        dev.send("AT+GTOTA=?"),
        "\r\n+GTOTA: (0-1),<\"url\">[,<\"filename\">,<\"username\">,<\"password\">]\r\n\r\nOK\r\n"
    );
    assert_eq!(dev.send("AT+CMEE?"), "\r\n+CMEE: 1\r\n\r\nOK\r\n", "numeric errors by default");
}

#[test]
fn http_update_downloads_reboots_by_itself_and_reports() {
    let image = app_image("1.1.0", 600 * KIB, 21);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let mut dev = quiet(Conditions::default());
    let out = dev.send(&gtota_http(&peer.url("pkg.bin")));
    let l = lines(&out);
    assert_eq!(l[0], "OK", "{out:?}");
    assert_eq!(l[1], "GTOTA DOWNLOAD START");
    let pct: Vec<u8> = l
        .iter()
        .filter_map(|x| x.strip_prefix("GTOTA DOWNLOADING: ")?.strip_suffix('%')?.parse().ok())
        .collect();
    assert!(pct.windows(2).all(|w| w[0] < w[1]) && pct.last() == Some(&100), "{pct:?}");
    let tail = &l[l.len() - 3..];
    assert_eq!(tail, ["GTOTA DOWNLOAD COMPLETE", "RDY", "GTOTA UPGRADE SUCCESS"], "{out:?}");
    assert_eq!(dev.send("AT"), "AT\r\r\nOK\r\n", "echo is back on after the reboot");
    dev.send("ATE0");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.1.0\"");
}

#[test]
fn gtset_is_stored_in_non_volatile_settings() {
    let mut dev = quiet(Conditions::default());
    assert_eq!(
        dev.send("AT+GTSET?"),
        "\r\n+GTSET: \"CALLBREAK\",0\r\n\r\n+GTSET: \"GPRSFIRST\",0\r\n\r\nOK\r\n"
    );
    assert_eq!(dev.send("AT+GTSET=\"CALLBREAK\",1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+GTSET=\"gprsfirst\",1"), "\r\nOK\r\n", "names are case-insensitive");
    assert_eq!(dev.send("AT+GTSET=\"CALLBREAK\""), "\r\n+GTSET: \"CALLBREAK\",1\r\n\r\nOK\r\n");
    assert_eq!(
        dev.send("AT+GTSET=?"),
        "\r\n+GTSET: \"CALLBREAK\",(0,1)\r\n\r\n+GTSET: \"GPRSFIRST\",(0,1)\r\n\r\nOK\r\n"
    );
    for bad in [
        "AT+GTSET=\"CALLBREAK\",2",
        "AT+GTSET=\"NOPE\",1",
        "AT+GTSET=CALLBREAK,1",
        "AT+GTSET=\"CALLBREAK\",1,1",
    ] {
        assert_eq!(dev.send(bad), "\r\n+CME ERROR: 50\r\n", "{bad}");
    }
    assert_eq!(dev.power_cycle(), "\r\nRDY\r\n");
    dev.send("ATE0");
    assert_eq!(
        dev.send("AT+GTSET?"),
        "\r\n+GTSET: \"CALLBREAK\",1\r\n\r\n+GTSET: \"GPRSFIRST\",1\r\n\r\nOK\r\n"
    );
}

#[test]
fn an_incoming_call_breaks_the_download_unless_callbreak_is_set() {
    let image = app_image("1.2.0", 900 * KIB, 22);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let mut dev = quiet(Conditions { incoming_call_at: Some(30), ..Conditions::default() });
    let url = peer.url("pkg.bin");
    let out = dev.send(&gtota_http(&url));
    let l = lines(&out);
    let ring = l.iter().position(|x| *x == "RING").expect("the call rings");
    assert_eq!(l[ring + 1], "GTOTA DOWNLOAD FAILED: 5", "{out:?}");
    assert_eq!(*l.last().unwrap(), "GTOTA DOWNLOAD FAILED: 5");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.0.0\"");
    // With CALLBREAK=1 the call rings but the data session goes on; the same
    // command resumes where the call broke it off.
    dev.send("AT+GTSET=\"CALLBREAK\",1");
    let out = dev.send(&gtota_http(&url));
    assert!(peer.requests().last().unwrap().range.is_some(), "resumed with a range");
    let l = lines(&out);
    assert!(l.contains(&"RING"), "{out:?}");
    assert_eq!(&l[l.len() - 3..], ["GTOTA DOWNLOAD COMPLETE", "RDY", "GTOTA UPGRADE SUCCESS"], "{out:?}");
    dev.send("ATE0");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.2.0\"");
}

#[test]
fn failures_carry_their_codes() {
    let modem_img = {
        let mut v = vec![0xd2, 0x84];
        v.extend(std::iter::repeat_n(7u8, 3000));
        v
    };
    let (_d, peer) = serve(&[
        ("random.bin", &[0x42; 5000]),
        ("untrusted.bin", &fixture("images/signed-untrusted.bin")),
        ("modem.bin", &modem_img),
    ]);
    let mut dev = quiet(Conditions::default());
    for (path, want) in [
        ("random.bin", "GTOTA UPGRADE FAILED: 10"),
        ("modem.bin", "GTOTA UPGRADE FAILED: 11"),
        ("untrusted.bin", "GTOTA UPGRADE FAILED: 12"),
        ("missing.bin", "GTOTA DOWNLOAD FAILED: 3"),
        ("status/500", "GTOTA DOWNLOAD FAILED: 2"),
        ("status/403", "GTOTA DOWNLOAD FAILED: 4"),
    ] {
        let out = dev.send(&gtota_http(&peer.url(path)));
        let l = lines(&out);
        assert_eq!(l.last(), Some(&want), "{path}: {out:?}");
        assert!(!l.contains(&"RDY"), "{path}: no reboot");
    }
    let out = dev.send("AT+GTOTA=0,\"http://127.0.0.1:1/pkg.bin\"");
    assert_eq!(lines(&out).last(), Some(&"GTOTA DOWNLOAD FAILED: 1"));
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.0.0\"");
}

#[test]
fn a_package_that_fails_its_self_test_is_reverted() {
    let image = app_image("1.3.0", 200 * KIB, 23);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let (mut dev, _) = Dev::nl668(Conditions::default());
    dev.config = EngineConfig { fail_self_test: true, ..EngineConfig::default() };
    dev.power_cycle();
    dev.send("ATE0");
    let out = dev.send(&gtota_http(&peer.url("pkg.bin")));
    let l = lines(&out);
    assert_eq!(
        &l[l.len() - 4..],
        ["GTOTA DOWNLOAD COMPLETE", "RDY", "RDY", "GTOTA UPGRADE FAILED: 14"],
        "{out:?}"
    );
    dev.send("ATE0");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.0.0\"");
}

#[test]
fn a_power_cycle_mid_download_resumes_with_the_same_command() {
    let image = app_image("1.4.0", 900 * KIB, 24);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let mut dev = quiet(Conditions::default());
    let url = peer.url("pkg.bin");
    let out = dev.send_with(&gtota_http(&url), &mut |_, got, total| {
        if got * 2 >= total { Step::PowerCut } else { Step::Continue }
    });
    assert!(out.ends_with("<POWER CUT>\r\nRDY\r\n"), "{out:?}");
    dev.send("ATE0");
    let out = dev.send(&gtota_http(&url));
    assert!(peer.requests().last().unwrap().range.is_some());
    assert!(out.ends_with("\r\nGTOTA UPGRADE SUCCESS\r\n"), "{out:?}");
}

#[test]
fn the_bad_input_table_gets_27007_codes_and_changes_nothing() {
    let image = app_image("1.5.0", 900 * KIB, 25);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let long = "a".repeat(256);
    let rows: Vec<(&str, String, &str)> = vec![
        ("type 2", r#"AT+GTOTA=2,"http://127.0.0.1/pkg.bin""#.into(), "+CME ERROR: 50"),
        ("negative type", r#"AT+GTOTA=-1,"http://127.0.0.1/pkg.bin""#.into(), "+CME ERROR: 50"),
        (
            "type 0 with a filename",
            r#"AT+GTOTA=0,"http://127.0.0.1/pkg.bin","pkg.bin""#.into(),
            "+CME ERROR: 50",
        ),
        ("type 1 without password", r#"AT+GTOTA=1,"127.0.0.1","pkg.bin","user""#.into(), "+CME ERROR: 50"),
        ("type 1 with only a URL", r#"AT+GTOTA=1,"127.0.0.1""#.into(), "+CME ERROR: 50"),
        ("256-byte URL", format!(r#"AT+GTOTA=0,"http://127.0.0.1/{long}""#), "+CME ERROR: 24"),
        ("256-byte filename", format!(r#"AT+GTOTA=1,"127.0.0.1","{long}","u","p""#), "+CME ERROR: 24"),
        ("256-byte username", format!(r#"AT+GTOTA=1,"127.0.0.1","f","{long}","p""#), "+CME ERROR: 24"),
        ("256-byte password", format!(r#"AT+GTOTA=1,"127.0.0.1","f","u","{long}""#), "+CME ERROR: 24"),
        ("unquoted URL", "AT+GTOTA=0,http://127.0.0.1/pkg.bin".into(), "+CME ERROR: 50"),
        ("unquoted password", r#"AT+GTOTA=1,"127.0.0.1","f","u",secret"#.into(), "+CME ERROR: 50"),
        ("missing URL", "AT+GTOTA=0".into(), "+CME ERROR: 50"),
        ("empty URL", r#"AT+GTOTA=0,"""#.into(), "+CME ERROR: 50"),
        (
            "FTP URL with another scheme",
            r#"AT+GTOTA=1,"http://127.0.0.1","f","u","p""#.into(),
            "+CME ERROR: 50",
        ),
        ("HTTP URL with another scheme", r#"AT+GTOTA=0,"ftp://127.0.0.1/f""#.into(), "+CME ERROR: 50"),
        ("unterminated quote", r#"AT+GTOTA=0,"http://127.0.0.1/pkg.bin"#.into(), "ERROR"),
        ("read form", "AT+GTOTA?".into(), "+CME ERROR: 4"),
    ];
    let mut dev = quiet(Conditions::default());
    for (what, cmd, want) in &rows {
        assert_eq!(dev.send(cmd), format!("\r\n{want}\r\n"), "{what}");
        assert_eq!(dev.send("AT"), "\r\nOK\r\n", "{what}: still answering");
        assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.0.0\"", "{what}: unchanged");
    }
    // A second AT+GTOTA while one runs: operation not allowed; the first goes on.
    let mut second = String::new();
    let mut n = 0;
    let out = dev.send_with(&gtota_http(&peer.url("pkg.bin")), &mut |m, _, _| {
        n += 1;
        if n == 2 {
            second = answer(m, &gtota_http("http://127.0.0.1/other.bin"));
        }
        Step::Continue
    });
    assert!(second.ends_with("\r\n+CME ERROR: 3\r\n"), "{second:?}");
    assert!(out.ends_with("\r\nGTOTA UPGRADE SUCCESS\r\n"), "{out:?}");
    // Under AT+CMEE=0 the same refusals are a plain ERROR.
    dev.send("ATE0");
    dev.send("AT+CMEE=0");
    assert_eq!(dev.send("AT+GTOTA=2,\"http://h/p\""), "\r\nERROR\r\n");
    println!("{} bad inputs refused with their codes", rows.len() + 1);
}

/// A loopback FTP server (libunftp) over a fresh directory holding `files`.
fn ftp(files: &[(&str, &[u8])]) -> (tempfile::TempDir, atfota_peers::FtpPeer) {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let peer = atfota_peers::FtpPeer::serve_dir(dir.path(), "fota", "p,a\"ss").unwrap();
    (dir, peer)
}

#[test]
fn ftp_update_with_credentials_that_need_quoting() {
    let image = app_image("1.6.0", 700 * KIB, 26);
    let (_d, peer) = ftp(&[("fw/pkg.bin", &image)]);
    let mut dev = quiet(Conditions::default());
    let out = dev.send(&format!("AT+GTOTA=1,\"{}\",\"fw/pkg.bin\",\"fota\",\"p,a\\22ss\"", peer.host_port()));
    let l = lines(&out);
    assert_eq!(l[..2], ["OK", "GTOTA DOWNLOAD START"], "{out:?}");
    assert_eq!(&l[l.len() - 3..], ["GTOTA DOWNLOAD COMPLETE", "RDY", "GTOTA UPGRADE SUCCESS"], "{out:?}");
    dev.send("ATE0");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.6.0\"");
}

#[test]
fn ftp_failures_and_resume_with_rest() {
    let image = app_image("1.7.0", 900 * KIB, 27);
    let (_d, peer) = ftp(&[("pkg.bin", &image)]);
    let server = format!("ftp://{}", peer.host_port());
    let mut dev = quiet(Conditions::default());
    let gtota = |file: &str, pass: &str| format!("AT+GTOTA=1,\"{server}\",\"{file}\",\"fota\",\"{pass}\"");
    let out = dev.send(&gtota("pkg.bin", "wrong"));
    assert_eq!(lines(&out).last(), Some(&"GTOTA DOWNLOAD FAILED: 4"), "{out:?}");
    let out = dev.send(&gtota("missing.bin", "p,a\\22ss"));
    assert_eq!(lines(&out).last(), Some(&"GTOTA DOWNLOAD FAILED: 3"), "{out:?}");
    // A power cut half-way, then the same command resumes with REST.
    let out = dev.send_with(&gtota("pkg.bin", "p,a\\22ss"), &mut |_, got, total| {
        if got * 2 >= total { Step::PowerCut } else { Step::Continue }
    });
    assert!(out.ends_with("<POWER CUT>\r\nRDY\r\n"), "{out:?}");
    dev.send("ATE0");
    let out = dev.send(&gtota("pkg.bin", "p,a\\22ss"));
    assert!(out.ends_with("\r\nGTOTA UPGRADE SUCCESS\r\n"), "{out:?}");
    let last = peer.retrievals().last().unwrap().clone();
    assert!(last.bytes < image.len() as u64 * 6 / 10, "only the rest was transferred: {last:?}");
}

#[test]
fn download_complete_leaves_before_the_install_reboot() {
    let image = app_image("1.8.0", 300 * KIB, 28);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let mut dev = quiet(Conditions::default());
    // Drive the transfer by hand to look at the output the moment the download ends.
    let m = dev.modem();
    download_by_hand(m, &gtota_http(&peer.url("pkg.bin")));
    // The first thing handed out is the output before the install; the reboot comes after it.
    let Some(Next::Write { bytes, end }) = m.poll(Instant::now()).unwrap() else { panic!("no output") };
    let before = String::from_utf8(bytes).unwrap();
    assert!(before.ends_with("\r\nGTOTA DOWNLOAD COMPLETE\r\n"), "{before:?}");
    m.written(end);
    assert_eq!(poll_text(m, true).0, "\r\nRDY\r\n\r\nGTOTA UPGRADE SUCCESS\r\n");
}

#[test]
fn a_package_the_bootloader_refuses_at_install_is_reported_with_code_13() {
    let image = app_image("1.9.0", 300 * KIB, 29);
    let (_d, peer) = serve(&[("pkg.bin", &image)]);
    let mut dev = quiet(Conditions::default());
    let m = dev.modem();
    download_by_hand(m, &gtota_http(&peer.url("pkg.bin")));
    // The power is cut before the install reboot, and the package is damaged meanwhile.
    let mut f = dev.power_off();
    let layout = dev.layout;
    layout.secondary.erase(&mut f, 8192, 4096).unwrap();
    assert_eq!(dev.boot(f), "\r\nRDY\r\n\r\nGTOTA UPGRADE FAILED: 13\r\n");
    dev.send("ATE0");
    assert_eq!(cgmr(&mut dev), "+CGMR: \"NL668-EAU_V1.0.0\"");
}

/// Sends `cmd` and runs the transfer it starts to its end, without taking
/// the output or carrying out a reboot: the test looks at that moment.
fn download_by_hand(m: &mut atfota_device::Modem<atfota_storage::SimFlash>, cmd: &str) {
    m.handle_input(format!("{cmd}\r").as_bytes()).unwrap();
    let mut asked = Vec::new();
    while let Some(next) = m.poll(Instant::now()).unwrap() {
        if let Next::Start { .. } = next {
            asked.push(next);
        }
    }
    run_transfer(m, asked.pop().expect("a transfer"));
}
