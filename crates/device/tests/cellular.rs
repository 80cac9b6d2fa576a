//! The cellular state a host checks before a download, through the emulated modems: the
//! registration a host waits for after switching the radio on (`AT+CEREG=5`, `AT+CFUN=1`,
//! `+CEREG: 1,...`), and what the NL668 answers to the usual pre-download checks.

mod common;

use atfota_fota::Conditions;
use common::Dev;

#[test]
fn the_slm_reports_registration_as_the_radio_goes_on_and_off() {
    let (mut dev, _) = Dev::slm(Conditions { boot_offline: true, ..Conditions::default() });
    assert_eq!(dev.send("AT+CEREG?"), "\r\n+CEREG: 0,0\r\n\r\nOK\r\n", "boots offline: not registered");
    assert_eq!(dev.send("AT+CEREG=5"), "\r\nOK\r\n");
    // Nordic's usual host flow: report on, radio on, wait for the registration URC.
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n\r\n+CEREG: 1,\"002F\",\"0012BEEF\",7\r\n");
    assert_eq!(dev.send("AT+CEREG?"), "\r\n+CEREG: 5,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+COPS?"), "\r\n+COPS: 0,2,\"00101\",7\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n", "no change, no URC");
    assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n\r\n+CEREG: 0\r\n");
    assert_eq!(dev.send("AT+CESQ"), "\r\n+CESQ: 99,99,255,255,255,255\r\n\r\nOK\r\n");
    // A reset: report modes back to 0, so switching the radio on says nothing.
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CEREG?"), "\r\n+CEREG: 0,1\r\n\r\nOK\r\n");
}

#[test]
fn the_nl668_answers_the_usual_checks_before_a_gtota() {
    let (mut dev, _) = Dev::nl668(Conditions::default());
    for (cmd, want) in [
        ("AT+CPIN?", "+CPIN: READY"),
        ("AT+CREG?", "+CREG: 0,1"),
        ("AT+CGREG?", "+CGREG: 0,1"),
        ("AT+CEREG?", "+CEREG: 0,1"),
        ("AT+CSQ", "+CSQ: 25,99"),
        ("AT+COPS?", "+COPS: 0,0,\"Test Network\",7"),
        ("AT+CGACT?", "+CGACT: 1,1"),
    ] {
        let out = dev.send(cmd);
        assert!(out.contains(&format!("\r\n{want}\r\n")) && out.ends_with("\r\nOK\r\n"), "{cmd}: {out:?}");
    }
}

/// A fresh NL668 with echo off, so responses compare byte for byte.
fn quiet_nl668(conditions: Conditions) -> Dev {
    let (mut dev, boot) = Dev::nl668(conditions);
    assert_eq!(boot, "\r\nRDY\r\n");
    assert_eq!(dev.send("ATE0"), "ATE0\r\r\nOK\r\n");
    dev
}

fn check(dev: &mut Dev, cases: &[(&str, &str)]) {
    for (cmd, want) in cases {
        assert_eq!(dev.send(cmd), *want, "{cmd}");
    }
}

#[test]
fn a_pin_locked_nl668_refuses_gtota_until_unlocked_and_asks_again_after_its_reboot() {
    let image = common::app_image("1.3.0", 64 * 1024, 31);
    let (_d, peer) = common::serve(&[("pkg.bin", &image)]);
    let gtota = format!("AT+GTOTA=0,\"{}\"", peer.url("pkg.bin"));
    let mut dev = quiet_nl668(Conditions { sim_pin: "1234".parse().ok(), ..Conditions::default() });
    check(
        &mut dev,
        &[
            ("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"),
            ("AT+CREG=1", "\r\nOK\r\n"),
            ("AT+CREG?", "\r\n+CREG: 1,0\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0\r\n\r\nOK\r\n"),
            (&gtota, "\r\n+CME ERROR: 11\r\n"),
            ("AT+CPIN=\"0000\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CPIN=\"0001\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CPIN=\"0002\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"),
            (&gtota, "\r\n+CME ERROR: 12\r\n"),
            ("AT+CPIN=\"1234\"", "\r\n+CME ERROR: 12\r\n"),
            ("AT+CPIN=\"87654321\",\"4321\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CMEE=2", "\r\nOK\r\n"),
            (&gtota, "\r\n+CME ERROR: SIM PUK required\r\n"),
            ("AT+CMEE=1", "\r\nOK\r\n"),
            ("AT+CPIN=\"12345678\",\"4321\"", "\r\nOK\r\n\r\n+CREG: 1\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ],
    );
    let out = dev.send(&gtota);
    let l = common::lines(&out);
    assert_eq!(&l[l.len() - 3..], ["GTOTA DOWNLOAD COMPLETE", "RDY", "GTOTA UPGRADE SUCCESS"], "{out:?}");
    dev.send("ATE0");
    check(
        &mut dev,
        &[
            ("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"),
            ("AT+CPIN=\"1234\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CPIN=\"4321\"", "\r\nOK\r\n"),
            ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ],
    );
}

#[test]
fn the_nl668_switches_rat_with_cops_and_gtrat() {
    let mut dev = quiet_nl668(Conditions::default());
    check(
        &mut dev,
        &[
            ("AT+CREG=2", "\r\nOK\r\n"),
            ("AT+CEREG=1", "\r\nOK\r\n"),
            (
                "AT+COPS=1,2,\"00101\",0",
                "\r\nOK\r\n\r\n+CREG: 1,\"002F\",\"0012BEEF\",0\r\n\r\n+CEREG: 0\r\n",
            ),
            ("AT+COPS?", "\r\n+COPS: 1,2,\"00101\",0\r\n\r\nOK\r\n"),
            ("AT+CSQ", "\r\n+CSQ: 25,99\r\n\r\nOK\r\n"),
            ("AT+CESQ", "\r\n+CESQ: 48,99,255,255,255,255\r\n\r\nOK\r\n"),
            ("AT+COPS=1,2,\"00101\",2", "\r\nOK\r\n\r\n+CREG: 1,\"002F\",\"0012BEEF\",2\r\n"),
            ("AT+COPS=1,2,\"00102\",7", "\r\n+CME ERROR: 30\r\n"),
            ("AT+COPS=1,2,\"00101\",9", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=0", "\r\nOK\r\n\r\n+CREG: 1,\"002F\",\"0012BEEF\",7\r\n\r\n+CEREG: 1\r\n"),
            ("AT+GTRAT=0", "\r\nOK\r\n\r\n+CREG: 1,\"002F\",\"0012BEEF\",0\r\n\r\n+CEREG: 0\r\n"),
            ("AT+GTRAT?", "\r\n+GTRAT: 0\r\n\r\nOK\r\n"),
            ("AT+COPS=1,2,\"00101\",7", "\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 1,2,\"00101\",0\r\n\r\nOK\r\n"),
            ("AT+GTRAT=3", "\r\nOK\r\n\r\n+CREG: 1,\"002F\",\"0012BEEF\",7\r\n\r\n+CEREG: 1\r\n"),
            ("AT+GTRAT=1", "\r\n+CME ERROR: 50\r\n"),
            ("AT+GTRAT=?", "\r\n+GTRAT: (0,2,3,10),(0,2,3),(0,2,3)\r\n\r\nOK\r\n"),
            ("AT+COPS=2", "\r\nOK\r\n\r\n+CREG: 0\r\n\r\n+CEREG: 0\r\n"),
            ("AT+CGACT=1,1", "\r\n+CME ERROR: 30\r\n"),
        ],
    );
    // A reboot brings automatic selection back.
    assert_eq!(dev.power_cycle(), "\r\nRDY\r\n");
    dev.send("ATE0");
    check(
        &mut dev,
        &[
            ("AT+COPS?", "\r\n+COPS: 0,0,\"Test Network\",7\r\n\r\nOK\r\n"),
            ("AT+GTRAT?", "\r\n+GTRAT: 10\r\n\r\nOK\r\n"),
        ],
    );
}

#[test]
fn an_xfota_apn_must_have_a_pdn() {
    let image = common::app_image("1.4.0", 64 * 1024, 32);
    let (_d, peer) = common::serve(&[("app.bin", &image)]);
    let url = peer.url("app.bin");
    let (mut dev, _) = Dev::slm(Conditions::default());
    // Unknown APN: accepted, then the download fails as the real modem reports it; nothing is
    // requested from the server.
    assert_eq!(
        dev.send(&format!("AT#XFOTA=1,\"{url}\",,\"nope.example\"")),
        "\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n"
    );
    // A modem delta update (op 2) takes the same <apn> and the same rule.
    assert_eq!(
        dev.send(&format!("AT#XFOTA=2,\"{url}\",,\"nope.example\"")),
        "\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n"
    );
    assert!(peer.requests().is_empty(), "{:?}", peer.requests());
    assert_eq!(dev.send("AT+CGDCONT=2,\"IP\",\"iot.example\""), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGACT?"), "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 2,0\r\n\r\nOK\r\n");
    // A defined APN: its context is activated and the download runs over it.
    let out = dev.send(&format!("AT#XFOTA=1,\"{url}\",,\"IOT.example\""));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    assert_eq!(dev.send("AT+CGACT?"), "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 2,1\r\n\r\nOK\r\n");
    // The network's default APN needs no definition.
    let out = dev.send(&format!("AT#XFOTA=1,\"{url}\",,\"internet.test\""));
    assert!(!out.contains("#XFOTA: 1,1,"), "{out:?}");
}
