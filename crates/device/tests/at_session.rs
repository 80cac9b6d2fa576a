//! The AT layer of the emulated Nordic SLM, byte for byte: framing, echo,
//! `+CMEE`, every command of the profile, and garbage.

mod common;

use common::{Dev, lines};

#[test]
fn boot_ends_with_the_banner() {
    let (_dev, out) = Dev::new();
    assert_eq!(out, "\r\nReady\r\n");
}

#[test]
fn v250_framing_accepts_cr_crlf_and_lf() {
    let (mut dev, _) = Dev::new();
    assert_eq!(dev.send_bytes(b"AT\r"), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(b"AT\r\n"), "\r\nOK\r\n", "LF after CR is not a second line");
    assert_eq!(dev.send_bytes(b"at\n"), "\r\nOK\r\n", "LF alone ends a line; case-insensitive");
    assert_eq!(dev.send_bytes(b"\r\n\r\n"), "", "empty lines are ignored");
    assert_eq!(dev.send_bytes(b"A"), "", "nothing until the terminator");
    assert_eq!(dev.send_bytes(b"T\r"), "\r\nOK\r\n", "a line may arrive in pieces");
    assert_eq!(dev.send_bytes(b"ATX\x08\r"), "\r\nOK\r\n", "backspace edits the line");
}

#[test]
fn echo_follows_ate() {
    let (mut dev, _) = Dev::new();
    assert_eq!(dev.send("AT"), "\r\nOK\r\n", "the SLM does not echo by default");
    assert_eq!(dev.send("ATE1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT"), "AT\r\r\nOK\r\n");
    assert_eq!(dev.send("ATE0"), "ATE0\r\r\nOK\r\n", "the line that turns echo off is still echoed");
    assert_eq!(dev.send("AT"), "\r\nOK\r\n");
    assert_eq!(dev.send("ATE2"), "\r\nERROR\r\n");
}

#[test]
fn identification_commands() {
    let (mut dev, _) = Dev::new();
    assert_eq!(
        dev.send("ATI"),
        "\r\nNordic Semiconductor ASA\r\n\r\nnRF9160-SICA\r\n\r\nmfw_nrf9160_1.3.5\r\n\r\nOK\r\n"
    );
    assert_eq!(dev.send("AT+CGMI"), "\r\nNordic Semiconductor ASA\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMM"), "\r\nnRF9160-SICA\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMR"), "\r\nmfw_nrf9160_1.3.5\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT#XSLMVER"), "\r\n#XSLMVER: \"1.0.0\",\"mfw_nrf9160_1.3.5\"\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMR=?"), "\r\nOK\r\n");
}

#[test]
fn xfota_test_and_read_forms() {
    let (mut dev, _) = Dev::new();
    assert_eq!(dev.send("AT#XFOTA=?"), "\r\n#XFOTA: (0,1,2,8,9),<file_url>,<sec_tag>,<apn>\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT#XFOTA?"), "\r\nERROR\r\n");
    assert_eq!(dev.send("AT#XFOTA"), "\r\nERROR\r\n");
}

#[test]
fn cmee_selects_the_error_format() {
    let (mut dev, _) = Dev::new();
    assert_eq!(dev.send("AT+CMEE?"), "\r\n+CMEE: 0\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT#XFOTA=7"), "\r\nERROR\r\n");
    assert_eq!(dev.send("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT#XFOTA=7"), "\r\n+CME ERROR: 50\r\n");
    assert_eq!(dev.send("AT#XFOTA=0"), "\r\n+CME ERROR: 3\r\n", "nothing to cancel: operation not allowed");
    assert_eq!(dev.send("AT+CMEE=2"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT#XFOTA=7"), "\r\n+CME ERROR: Incorrect parameters\r\n");
    assert_eq!(dev.send("AT+CMEE=?"), "\r\n+CMEE: (0-2)\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CMEE=3"), "\r\n+CME ERROR: Incorrect parameters\r\n");
    assert_eq!(dev.send("AT+CMEE=0"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CMEE=3"), "\r\nERROR\r\n");
}

#[test]
fn several_commands_on_one_line_give_one_final_result() {
    let (mut dev, _) = Dev::new();
    assert_eq!(dev.send("AT+CGMI;+CGMM"), "\r\nNordic Semiconductor ASA\r\n\r\nnRF9160-SICA\r\n\r\nOK\r\n");
    assert_eq!(dev.send("ATE0V1Q0"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CGMI;+BOGUS;+CGMM"), "\r\nNordic Semiconductor ASA\r\n\r\nERROR\r\n");
}

#[test]
fn garbage_gets_error_and_the_device_stays_responsive() {
    let (mut dev, _) = Dev::new();
    let long = format!("AT+CGMR{}", "X".repeat(5000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown command", b"AT+NOSUCH\r".to_vec()),
        ("unknown basic command", b"ATY\r".to_vec()),
        ("no AT prefix", b"HELLO\r".to_vec()),
        ("binary garbage", vec![0x00, 0xff, 0x13, 0x80, 0x7f, 0x01, b'\r']),
        ("invalid UTF-8", b"AT+CGMR\xc3\x28\r".to_vec()),
        ("line over the 4096-byte limit", format!("{long}\r").into_bytes()),
        ("unterminated quote", b"AT#XFOTA=1,\"http://x/y\r".to_vec()),
        ("bad escape", b"AT#XFOTA=1,\"http://x/\\zz\"\r".to_vec()),
    ];
    for (what, bytes) in cases {
        assert_eq!(dev.send_bytes(&bytes), "\r\nERROR\r\n", "{what}");
        assert_eq!(dev.send("AT"), "\r\nOK\r\n", "still responsive after {what}");
    }
    // A long flood without a terminator is bounded and ends in one ERROR.
    let flood = vec![b'A'; 1 << 20];
    assert_eq!(dev.send_bytes(&flood), "");
    assert_eq!(dev.send_bytes(b"\r"), "\r\nERROR\r\n");
    assert_eq!(lines(&dev.send("AT+CGMR")), ["mfw_nrf9160_1.3.5", "OK"]);
}

#[test]
fn reset_reboots_in_place() {
    let (mut dev, _) = Dev::new();
    dev.send("ATE1");
    dev.send("AT+CMEE=1");
    assert_eq!(dev.send("AT#XRESET"), "AT#XRESET\r\r\nOK\r\n\r\nReady\r\n");
    assert_eq!(dev.send("AT"), "\r\nOK\r\n", "echo is back to its default after a reboot");
    assert_eq!(dev.send("AT#XFOTA=7"), "\r\nERROR\r\n", "CMEE too");
    assert_eq!(dev.modem().boots(), 2);
}
