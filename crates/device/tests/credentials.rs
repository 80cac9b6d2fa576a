//! The credential store (`AT%CMNG`) and the commands Nordic's credential tools send before it
//! (`AT+CGSN`, `AT+CMEE=1`, `AT+CFUN`), byte for byte through the emulated SLM: multi-line PEMs,
//! digests, the offline rule, persistence, `--boot-offline`, and silence in the logs.

mod common;

use std::sync::{Mutex, Once, PoisonError};

use atfota_fota::{Conditions, Imei};
use common::{Dev, app_image, fixture, lines, serve};
use sha2::{Digest, Sha256};

const TAG: u32 = 16842753;

fn pem(name: &str) -> String {
    String::from_utf8(fixture(&format!("credentials/{name}"))).unwrap()
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn sha(text: &str) -> String {
    hex::encode_upper(Sha256::digest(text.as_bytes()))
}

/// `AT%CMNG=0,<tag>,<type>,"<content>"` as Nordic's tools send it: line breaks inside the quotes.
fn write_cmd(tag: u32, kind: u8, content: &str) -> String {
    format!("AT%CMNG=0,{tag},{kind},\"{content}\"\r\n")
}

fn imei() -> Imei {
    Imei::from_serial(36787).unwrap()
}

/// An SLM with a known IMEI, `AT+CMEE=1` and offline, as a credential tool leaves it.
fn offline_dev() -> Dev {
    let (mut dev, _) = Dev::slm(Conditions { imei: Some(imei()), ..Conditions::default() });
    assert_eq!(dev.send("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n");
    dev
}

/// The Luhn check, written out independently of the crate's.
fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { (d * 2) / 10 + (d * 2) % 10 } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[test]
fn the_nordic_tool_flow_byte_for_byte() {
    let (mut dev, boot) = Dev::slm(Conditions { imei: Some(imei()), ..Conditions::default() });
    assert_eq!(boot, "\r\nReady\r\n");
    let out = dev.send("AT+CGSN");
    assert_eq!(out, "\r\n352656100367872\r\n\r\nOK\r\n");
    let digits = lines(&out)[0];
    assert!(digits.len() == 15 && digits.bytes().all(|b| b.is_ascii_digit()) && luhn_ok(digits));
    assert_eq!(dev.send("AT+CGSN=1"), "\r\n+CGSN: \"352656100367872\"\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 1\r\n\r\nOK\r\n", "the emulator boots online");
    assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 4\r\n\r\nOK\r\n");

    let ca = crlf(&pem("ca.pem")); // CRLF inside the quotes, as nrfcredstore sends it
    let client = pem("client.pem"); // LF only
    let key = crlf(&pem("client-key-pkcs8.pem"));
    assert_eq!(dev.send_bytes(write_cmd(TAG, 0, &ca).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(TAG, 1, &client).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(TAG, 2, &key).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(7, 3, "000102030405060708090a0b0c0d0e0f").as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(7, 4, "device-7").as_bytes()), "\r\nOK\r\n");

    let list = format!(
        "\r\n%CMNG: 7,3,\"{}\"\r\n\r\n%CMNG: 7,4,\"{}\"\r\n\r\n%CMNG: {TAG},0,\"{}\"\r\n\r\n%CMNG: {TAG},1,\"{}\"\r\n\r\n%CMNG: {TAG},2,\"{}\"\r\n\r\nOK\r\n",
        sha("000102030405060708090a0b0c0d0e0f"),
        sha("device-7"),
        sha(&ca),
        sha(&client),
        sha(&key),
    );
    assert_eq!(dev.send("AT%CMNG=1"), list);
    assert_eq!(
        dev.send(&format!("AT%CMNG=1,{TAG},1")),
        format!("\r\n%CMNG: {TAG},1,\"{}\"\r\n\r\nOK\r\n", sha(&client))
    );
    assert_eq!(dev.send(&format!("AT%CMNG=1,{TAG},3")), "\r\nOK\r\n", "absent: OK alone");
    assert_eq!(dev.send("AT%CMNG=1,8"), "\r\nOK\r\n");

    // Read: the content goes back with its line breaks as stored.
    assert_eq!(
        dev.send(&format!("AT%CMNG=2,{TAG},0")),
        format!("\r\n%CMNG: {TAG},0,\"{}\",\"{ca}\"\r\n\r\nOK\r\n", sha(&ca))
    );
    assert_eq!(
        dev.send("AT%CMNG=2,7,4"),
        format!("\r\n%CMNG: 7,4,\"{}\",\"device-7\"\r\n\r\nOK\r\n", sha("device-7"))
    );
    assert_eq!(dev.send(&format!("AT%CMNG=2,{TAG},2")), "\r\n+CME ERROR: 514\r\n", "a key never leaves");

    // Delete, and what is gone is not found.
    assert_eq!(dev.send(&format!("AT%CMNG=3,{TAG},1")), "\r\nOK\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=3,{TAG},1")), "\r\n+CME ERROR: 513\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=2,{TAG},1")), "\r\n+CME ERROR: 513\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=3,{TAG},2")), "\r\nOK\r\n", "a key may be deleted");
    assert_eq!(lines(&dev.send("AT%CMNG=1")).len(), 4);

    // Online: write and delete are refused, list and read still work.
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(TAG, 1, &client).as_bytes()), "\r\n+CME ERROR: 518\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=3,{TAG},0")), "\r\n+CME ERROR: 518\r\n");
    assert_eq!(lines(&dev.send("AT%CMNG=1")).len(), 4);
    assert!(dev.send(&format!("AT%CMNG=2,{TAG},0")).ends_with("\r\nOK\r\n"));
    assert_eq!(dev.send("AT+CMEE=2"), "\r\nOK\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=3,{TAG},0")), "\r\n+CME ERROR: not allowed in active state\r\n");
    assert_eq!(dev.send("AT+CMEE=0"), "\r\nOK\r\n");
    assert_eq!(dev.send(&format!("AT%CMNG=2,{TAG},2")), "\r\nERROR\r\n", "CMEE 0: plain ERROR");
}

#[test]
fn a_long_chain_split_anywhere_is_one_command() {
    let mut dev = offline_dev();
    let mut chain = String::new();
    for i in 0..16 {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![format!("ca{i}.example")]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        chain.push_str(
            &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::CRLF, cert.der()).unwrap(),
        );
    }
    assert!(chain.len() > 8 * 1024 && chain.len() <= 16 * 1024, "{} bytes", chain.len());
    let bytes = write_cmd(3, 0, &chain).into_bytes();
    let mut out = String::new();
    let mut at = 0;
    let mut step = 1;
    while at < bytes.len() {
        let end = (at + step).min(bytes.len());
        out.push_str(&dev.send_bytes(&bytes[at..end]));
        at = end;
        step = step % 97 + 13;
    }
    assert_eq!(out, "\r\nOK\r\n");
    assert_eq!(dev.send("AT%CMNG=1,3"), format!("\r\n%CMNG: 3,0,\"{}\"\r\n\r\nOK\r\n", sha(&chain)));
    let read = dev.send("AT%CMNG=2,3,0");
    assert_eq!(read, format!("\r\n%CMNG: 3,0,\"{}\",\"{chain}\"\r\n\r\nOK\r\n", sha(&chain)));
}

#[test]
fn credentials_survive_power_cycles_and_resets_cfun_does_not() {
    let mut dev = offline_dev();
    let ca = pem("ca.pem");
    assert_eq!(dev.send_bytes(write_cmd(5, 0, &ca).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(5, 2, &pem("client-key-sec1.pem")).as_bytes()), "\r\nOK\r\n");
    let list = dev.send("AT%CMNG=1");
    assert_eq!(lines(&list).len(), 3);

    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 1\r\n\r\nOK\r\n", "a reset brings the boot mode back");
    assert_eq!(dev.send("AT%CMNG=1"), list);

    assert_eq!(dev.power_cycle(), "\r\nReady\r\n");
    assert_eq!(dev.send("AT%CMNG=1"), list);
    assert_eq!(dev.send("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(dev.send("AT%CMNG=2,5,0"), format!("\r\n%CMNG: 5,0,\"{}\",\"{ca}\"\r\n\r\nOK\r\n", sha(&ca)));
}

#[test]
fn boot_offline_starts_every_boot_at_cfun_0() {
    let (mut dev, _) = Dev::slm(Conditions { boot_offline: true, ..Conditions::default() });
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(1, 4, "id").as_bytes()), "\r\nOK\r\n", "writable at once");
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(1, 4, "id2").as_bytes()), "\r\nERROR\r\n", "518 under CMEE 0");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(dev.power_cycle(), "\r\nReady\r\n");
    assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    // Without an IMEI given, the device reports the documented default.
    assert_eq!(dev.send("AT+CGSN"), format!("\r\n{}\r\n\r\nOK\r\n", Imei::default()));
}

#[test]
fn an_offline_download_fails_after_ok() {
    let image = app_image("2.0.0", 64 * 1024, 3);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::slm(Conditions { boot_offline: true, ..Conditions::default() });
    let cmd = format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin"));
    assert_eq!(dev.send(&cmd), "\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n");
    assert_eq!(dev.transfers_run, 0, "no transfer was started");
    assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n");
    assert_eq!(dev.send(&cmd), "\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n", "flight mode is offline too");
    assert_eq!(dev.send("AT#XFOTA=1,\"ftp://x/y\""), "\r\nERROR\r\n", "parameters are checked first");
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
    let out = dev.send(&cmd);
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "online it downloads: {out:?}");
}

#[test]
fn going_offline_ends_a_running_download() {
    let image = app_image("2.0.0", 400 * 1024, 4);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::slm(Conditions::default());
    let mut sent = false;
    let out =
        dev.send_with(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")), &mut |m, delivered, total| {
            if !sent && delivered > total / 2 {
                sent = true;
                m.handle_input(b"AT+CFUN=4\r").unwrap();
            }
            common::Step::Continue
        });
    assert!(out.contains("\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n"), "{out:?}");
    assert!(!out.contains("#XFOTA: 4,0"), "{out:?}");
}

#[test]
fn the_bad_input_table() {
    let mut dev = offline_dev();
    assert_eq!(dev.send_bytes(write_cmd(1, 0, &pem("ca.pem")).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(1, 2, &pem("client-key-pkcs8.pem")).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(2, 4, &"i".repeat(16 * 1024)).as_bytes()), "\r\nOK\r\n");
    let baseline = dev.send("AT%CMNG=1");
    assert_eq!(lines(&baseline).len(), 4);

    let too_large = write_cmd(3, 4, &"i".repeat(16 * 1024 + 1));
    let over_the_line = write_cmd(3, 4, &"i".repeat(20_000));
    let quota = write_cmd(3, 4, &"j".repeat(9000));
    let rows: Vec<(&str, String, &str)> = vec![
        ("action form", "AT%CMNG\r".into(), "ERROR"),
        ("read form", "AT%CMNG?\r".into(), "ERROR"),
        ("test form", "AT%CMNG=?\r".into(), "ERROR"),
        ("no opcode", "AT%CMNG=\r".into(), "+CME ERROR: 50"),
        ("unknown opcode", "AT%CMNG=4\r".into(), "+CME ERROR: 50"),
        ("negative opcode", "AT%CMNG=-1\r".into(), "+CME ERROR: 50"),
        ("opcode as a string", "AT%CMNG=\"0\"\r".into(), "+CME ERROR: 50"),
        ("write without anything", "AT%CMNG=0\r".into(), "+CME ERROR: 50"),
        ("write without content", "AT%CMNG=0,1,0\r".into(), "+CME ERROR: 50"),
        ("write with omitted content", "AT%CMNG=0,1,0,\r".into(), "+CME ERROR: 50"),
        ("unquoted content", "AT%CMNG=0,1,3,0011\r".into(), "+CME ERROR: 50"),
        ("negative sec_tag", "AT%CMNG=0,-1,3,\"00\"\r".into(), "+CME ERROR: 50"),
        ("sec_tag too large", "AT%CMNG=0,2147483648,3,\"00\"\r".into(), "+CME ERROR: 50"),
        ("unknown type", "AT%CMNG=0,1,7,\"00\"\r".into(), "+CME ERROR: 50"),
        ("type 5 (newer modems)", "AT%CMNG=0,1,5,\"00\"\r".into(), "+CME ERROR: 4"),
        ("type 6 (newer modems)", "AT%CMNG=1,1,6\r".into(), "+CME ERROR: 4"),
        ("passphrase with a PSK", "AT%CMNG=0,1,3,\"00\",\"pw\"\r".into(), "+CME ERROR: 50"),
        ("passphrase not quoted", "AT%CMNG=0,1,2,\"00\",7\r".into(), "+CME ERROR: 50"),
        ("too many parameters", "AT%CMNG=0,1,2,\"a\",\"b\",\"c\"\r".into(), "+CME ERROR: 50"),
        ("empty content", "AT%CMNG=0,1,3,\"\"\r".into(), "+CME ERROR: 527"),
        ("odd PSK", "AT%CMNG=0,1,3,\"001\"\r".into(), "+CME ERROR: 527"),
        ("PSK not hex", "AT%CMNG=0,1,3,\"0g\"\r".into(), "+CME ERROR: 527"),
        ("identity with a line break", write_cmd(1, 4, "a\r\nb"), "+CME ERROR: 527"),
        ("not a PEM as CA", write_cmd(1, 0, "hello"), "+CME ERROR: 527"),
        ("a key as the CA", write_cmd(1, 0, &pem("client-key-pkcs8.pem")), "+CME ERROR: 527"),
        ("a certificate as the key", write_cmd(1, 2, &pem("ca.pem")), "+CME ERROR: 527"),
        ("encrypted key", write_cmd(1, 2, &pem("client-key-encrypted.pem")), "+CME ERROR: 527"),
        (
            "encrypted key with passphrase",
            format!("AT%CMNG=0,1,2,\"{}\",\"secret\"\r", pem("client-key-sec1-encrypted.pem")),
            "+CME ERROR: 527",
        ),
        ("list by type without tag", "AT%CMNG=1,,0\r".into(), "+CME ERROR: 50"),
        ("list with four parameters", "AT%CMNG=1,1,0,5\r".into(), "+CME ERROR: 50"),
        ("read without type", "AT%CMNG=2,1\r".into(), "+CME ERROR: 50"),
        ("delete with content", "AT%CMNG=3,1,0,\"x\"\r".into(), "+CME ERROR: 50"),
        ("read what is not there", "AT%CMNG=2,99,0\r".into(), "+CME ERROR: 513"),
        ("delete what is not there", "AT%CMNG=3,99,0\r".into(), "+CME ERROR: 513"),
        ("read the private key", "AT%CMNG=2,1,2\r".into(), "+CME ERROR: 514"),
        ("read an absent private key", "AT%CMNG=2,99,2\r".into(), "+CME ERROR: 514"),
        ("content over 16 KiB", too_large, "+CME ERROR: 515"),
        ("over the quota", quota, "+CME ERROR: 515"),
        ("line over the %CMNG limit", over_the_line, "ERROR"),
        ("bad escape", "AT%CMNG=0,1,4,\"a\\zz\"\r".into(), "ERROR"),
        ("control byte in the content", "AT%CMNG=0,1,4,\"a\x01b\"\r".into(), "ERROR"),
        (
            "missing closing quote",
            "AT%CMNG=0,1,0,\"-----BEGIN\r\nAT\r\nAT+CGMR\r\n\"\r\n".into(),
            "+CME ERROR: 527",
        ),
        ("CFUN mode 2", "AT+CFUN=2\r".into(), "+CME ERROR: 50"),
        ("CGSN 9", "AT+CGSN=9\r".into(), "+CME ERROR: 50"),
    ];
    for (name, input, want) in rows {
        let out = dev.send_bytes(input.as_bytes());
        assert_eq!(out, format!("\r\n{want}\r\n"), "{name}");
        assert_eq!(dev.send("AT%CMNG=1"), baseline, "{name}: the store is unchanged");
        assert_eq!(dev.send("AT"), "\r\nOK\r\n", "{name}: the device still answers");
        assert_eq!(dev.send("AT+CFUN?"), "\r\n+CFUN: 4\r\n\r\nOK\r\n", "{name}: still offline");
    }
}

/// Every log record of this test binary, with the thread that wrote it: other tests run
/// (and download, which ureq traces byte by byte) at the same time, so a test reads only
/// its own thread's records (the harness runs transfers on the test's thread).
static LOG: Mutex<Vec<(std::thread::ThreadId, String)>> = Mutex::new(Vec::new());
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        LOG.lock().unwrap_or_else(PoisonError::into_inner).push((std::thread::current().id(), line));
    }
    fn flush(&self) {}
}

#[test]
fn no_credential_reaches_the_log_even_at_trace_level() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let key = pem("client-key-pkcs8.pem");
    let psk = "c0ffee11c0ffee11c0ffee11c0ffee11";
    let mut dev = offline_dev();
    assert_eq!(dev.send_bytes(write_cmd(9, 2, &crlf(&key)).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(9, 3, psk).as_bytes()), "\r\nOK\r\n");
    assert_eq!(dev.send_bytes(write_cmd(9, 4, "identity-9").as_bytes()), "\r\nOK\r\n");
    dev.send("AT%CMNG=1");
    dev.send("AT%CMNG=2,9,2");
    dev.send("AT%CMNG=2,9,3");
    // Refused ones too, online and offline, with a passphrase.
    dev.send_bytes(format!("AT%CMNG=0,9,2,\"{}\",\"hunter2\"\r", key.replace("MI", "%%")).as_bytes());
    dev.send_bytes(write_cmd(9, 3, "c0ffee11zz").as_bytes());
    dev.send("AT+CFUN=1");
    dev.send_bytes(write_cmd(9, 3, psk).as_bytes());
    let me = std::thread::current().id();
    let log = LOG
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(t, _)| *t == me)
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(log.contains("AT%CMNG refused"), "the capture works:\n{log}");
    let key_lines = key.lines().filter(|l| !l.starts_with("-----"));
    for secret in key_lines.chain(["c0ffee11", "identity-9", "hunter2", "%%"]) {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
}
