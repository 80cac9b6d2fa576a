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
