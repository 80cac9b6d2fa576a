//! Unit tests of the credential store: round trips, chunking around the 4096-byte value limit,
//! replacement, quotas, content checks, the private-key rule, power cuts, and silence in logs.

use std::path::Path;
use std::sync::{Mutex, Once};

use atfota_storage::{CutMode, Geometry, Partition, SimFlash};

use super::*;

/// A 64 KiB settings partition (the device's size) on a fresh flash.
fn store() -> (SimFlash, Settings) {
    store_of(0x10000)
}

fn store_of(size: u32) -> (SimFlash, Settings) {
    let geometry = Geometry::new(0x1000, 4, size).unwrap();
    let mut flash = SimFlash::new(geometry);
    let settings = Settings::open(&mut flash, partition(size)).unwrap();
    (flash, settings)
}

fn partition(size: u32) -> Partition {
    Partition { name: "settings", offset: 0, size }
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/credentials").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn tag(n: i64) -> SecTag {
    SecTag::try_from(n).unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap()
}

/// A chain of `n` certificates made by rcgen, as one PEM (leaf first), and their DER.
fn chain(n: usize) -> (String, Vec<Vec<u8>>) {
    let mut text = String::new();
    let mut ders = Vec::new();
    for i in 0..n {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![format!("host{i}.example")]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        text.push_str(&pem("CERTIFICATE", cert.der()));
        ders.push(cert.der().to_vec());
    }
    (text, ders)
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn keys(settings: &Settings) -> Vec<String> {
    settings.iter().map(|(k, _)| k.to_owned()).filter(|k| k.starts_with(PREFIX)).collect()
}

#[test]
fn write_list_read_delete() {
    let (mut flash, mut settings) = store();
    let ca = fixture("ca.pem");
    let entry = write(&mut settings, &mut flash, tag(16842753), CredentialType::RootCa, &ca).unwrap();
    assert_eq!(entry.sha256, sha(ca.as_bytes()));
    assert_eq!(entry.sha256_hex(), hex::encode_upper(sha(ca.as_bytes())));
    assert!(entry.sha256_hex().bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    assert_eq!(entry.len, ca.len());
    assert_eq!(list(&settings, None, None), vec![entry]);
    let got = read(&settings, tag(16842753), CredentialType::RootCa).unwrap();
    assert_eq!(got.content, ca);
    assert_eq!(got.entry, entry);
    delete(&mut settings, &mut flash, tag(16842753), CredentialType::RootCa).unwrap();
    assert!(list(&settings, None, None).is_empty());
    assert!(keys(&settings).is_empty());
    assert!(matches!(
        read(&settings, tag(16842753), CredentialType::RootCa),
        Err(CredentialError::NotFound { .. })
    ));
    assert!(matches!(
        delete(&mut settings, &mut flash, tag(16842753), CredentialType::RootCa),
        Err(CredentialError::NotFound { .. })
    ));
}

#[test]
fn list_orders_by_sec_tag_then_type_and_filters() {
    let (mut flash, mut settings) = store();
    let writes =
        [(10, CredentialType::PskIdentity), (2, CredentialType::Psk), (2, CredentialType::PskIdentity)];
    let writes = writes.into_iter().chain([(2_147_483_647, CredentialType::Psk), (10, CredentialType::Psk)]);
    for (t, kind) in writes {
        let content = if kind == CredentialType::Psk { "00ff" } else { "id" };
        write(&mut settings, &mut flash, tag(t), kind, content).unwrap();
    }
    let order: Vec<(u32, u8)> =
        list(&settings, None, None).iter().map(|e| (e.sec_tag.get(), e.kind.code())).collect();
    assert_eq!(order, vec![(2, 3), (2, 4), (10, 3), (10, 4), (2_147_483_647, 3)]);
    assert_eq!(list(&settings, Some(tag(10)), None).len(), 2);
    assert_eq!(list(&settings, Some(tag(10)), Some(CredentialType::Psk)).len(), 1);
    assert!(list(&settings, Some(tag(11)), None).is_empty());
    assert!(list(&settings, Some(tag(10)), Some(CredentialType::RootCa)).is_empty());
}

#[test]
fn chunking_around_the_value_limit() {
    for len in [1, 4095, 4096, 4097, 8191, 8192, 8193, 12289, MAX_CONTENT_LEN] {
        let (mut flash, mut settings) = store();
        let content: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let entry = write(&mut settings, &mut flash, tag(7), CredentialType::PskIdentity, &content).unwrap();
        assert_eq!(entry.sha256, sha(content.as_bytes()), "len {len}");
        assert_eq!(keys(&settings).len(), 1 + len.div_ceil(MAX_VALUE_LEN), "len {len}");
        assert_eq!(
            read(&settings, tag(7), CredentialType::PskIdentity).unwrap().content,
            content,
            "len {len}"
        );
        // Survives reopening (a power cycle).
        let settings = Settings::open(&mut flash, partition(0x10000)).unwrap();
        assert_eq!(
            read(&settings, tag(7), CredentialType::PskIdentity).unwrap().content,
            content,
            "len {len}"
        );
    }
}

#[test]
fn a_chain_longer_than_one_chunk_round_trips() {
    let (mut flash, mut settings) = store();
    let (text, ders) = chain(20);
    assert!(text.len() > 2 * MAX_VALUE_LEN, "{} bytes", text.len());
    write(&mut settings, &mut flash, tag(1), CredentialType::RootCa, &text).unwrap();
    assert_eq!(read(&settings, tag(1), CredentialType::RootCa).unwrap().content, text);
    assert_eq!(tls_material(&settings, tag(1)).unwrap().ca_certs, ders);
}

#[test]
fn write_replaces_all_chunks_of_the_old_one() {
    let (mut flash, mut settings) = store();
    let long = "x".repeat(3 * MAX_VALUE_LEN + 5);
    write(&mut settings, &mut flash, tag(3), CredentialType::PskIdentity, &long).unwrap();
    assert_eq!(keys(&settings).len(), 5);
    let entry = write(&mut settings, &mut flash, tag(3), CredentialType::PskIdentity, "short").unwrap();
    assert_eq!(keys(&settings), vec!["cmng.3.4".to_string(), "cmng.3.4.0".to_string()]);
    assert_eq!(read(&settings, tag(3), CredentialType::PskIdentity).unwrap().content, "short");
    assert_eq!(list(&settings, None, None), vec![entry]);
}

#[test]
fn quota_and_store_full() {
    let (mut flash, mut settings) = store();
    let big = "y".repeat(MAX_CONTENT_LEN);
    write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, &big).unwrap();
    let rest = QUOTA - cost(MAX_CONTENT_LEN) - ENTRY_OVERHEAD;
    let before = keys(&settings);
    let err = write(&mut settings, &mut flash, tag(2), CredentialType::PskIdentity, &"z".repeat(rest + 1));
    assert!(matches!(err, Err(CredentialError::QuotaExceeded { quota: QUOTA, .. })), "{err:?}");
    assert_eq!(keys(&settings), before, "a refused write changes nothing");
    write(&mut settings, &mut flash, tag(2), CredentialType::PskIdentity, &"z".repeat(rest)).unwrap();
    // Replacing counts the new size only, not old plus new.
    write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, &big).unwrap();

    let too_large = "y".repeat(MAX_CONTENT_LEN + 1);
    let err = write(&mut settings, &mut flash, tag(3), CredentialType::PskIdentity, &too_large);
    assert!(matches!(err, Err(CredentialError::TooLarge { len }) if len == MAX_CONTENT_LEN + 1));

    // A settings partition of two sectors (4 KiB banks) is full long before the quota.
    let (mut flash, mut settings) = store_of(0x2000);
    let err = write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, &"w".repeat(5000));
    assert!(matches!(err, Err(CredentialError::StoreFull)), "{err:?}");
    assert!(keys(&settings).is_empty());
}

#[test]
fn invalid_contents_are_refused() {
    let ca = fixture("ca.pem");
    let key = fixture("client-key-pkcs8.pem");
    let no_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let unterminated = "-----BEGIN CERTIFICATE-----\nMIIB\n";
    let unknown_label = format!("{ca}-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n");
    let not_a_key = pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    let cert_as_key = pem("PRIVATE KEY", &pem_der(&ca));
    let rsa_labelled_ec = pem("RSA PRIVATE KEY", &pem_der(&fixture("client-key-sec1.pem")));
    let cases: Vec<(&str, CredentialType, String)> = vec![
        ("empty CA", CredentialType::RootCa, String::new()),
        ("plain text as CA", CredentialType::RootCa, "hello".into()),
        ("base64 that is no certificate", CredentialType::RootCa, no_der.into()),
        ("bad base64", CredentialType::RootCa, bad_base64.into()),
        ("no END line", CredentialType::RootCa, unterminated.into()),
        ("unknown section beside a certificate", CredentialType::RootCa, unknown_label),
        ("a key as a CA (it would become readable)", CredentialType::RootCa, key.clone()),
        (
            "a key beside the client certificate",
            CredentialType::ClientCert,
            format!("{}{key}", fixture("client.pem")),
        ),
        ("a certificate as a key", CredentialType::PrivateKey, ca.clone()),
        ("two keys", CredentialType::PrivateKey, format!("{key}{key}")),
        ("encrypted PKCS#8 key", CredentialType::PrivateKey, fixture("client-key-encrypted.pem")),
        ("encrypted legacy key", CredentialType::PrivateKey, fixture("client-key-sec1-encrypted.pem")),
        ("PKCS#8 label, no key inside", CredentialType::PrivateKey, not_a_key),
        ("PKCS#8 label, a certificate inside", CredentialType::PrivateKey, cert_as_key),
        ("RSA label, an EC key inside", CredentialType::PrivateKey, rsa_labelled_ec),
        ("empty PSK", CredentialType::Psk, String::new()),
        ("odd PSK", CredentialType::Psk, "abc".into()),
        ("PSK with a non-hex digit", CredentialType::Psk, "00zz".into()),
        ("PSK with a line break", CredentialType::Psk, "0011\n".into()),
        ("empty identity", CredentialType::PskIdentity, String::new()),
        ("identity with a line break", CredentialType::PskIdentity, "a\nb".into()),
        ("identity with a tab", CredentialType::PskIdentity, "a\tb".into()),
        ("identity not ASCII", CredentialType::PskIdentity, "caf\u{e9}".into()),
    ];
    let (mut flash, mut settings) = store();
    for (name, kind, content) in cases {
        let err = write(&mut settings, &mut flash, tag(5), kind, &content);
        assert!(matches!(err, Err(CredentialError::InvalidContent { .. })), "{name}: {err:?}");
        assert!(keys(&settings).is_empty(), "{name}: nothing stored");
    }
}

/// The DER of the first section of a PEM.
fn pem_der(text: &str) -> Vec<u8> {
    pem_sections(text).unwrap().remove(0).1
}

#[test]
fn valid_contents_are_accepted() {
    let (ca_chain, _) = chain(2);
    let cases: Vec<(&str, CredentialType, String)> = vec![
        ("openssl CA", CredentialType::RootCa, fixture("ca.pem")),
        ("CA with CRLF line ends", CredentialType::RootCa, fixture("ca.pem").replace('\n', "\r\n")),
        ("CA without a final line break", CredentialType::RootCa, fixture("ca.pem").trim_end().into()),
        (
            "CA with explanatory text",
            CredentialType::RootCa,
            format!("subject=CN = test\n{}", fixture("ca.pem")),
        ),
        ("two CAs", CredentialType::RootCa, ca_chain),
        (
            "client certificate and its CA",
            CredentialType::ClientCert,
            fixture("client.pem") + &fixture("ca.pem"),
        ),
        ("PKCS#8 key", CredentialType::PrivateKey, fixture("client-key-pkcs8.pem")),
        ("SEC1 key", CredentialType::PrivateKey, fixture("client-key-sec1.pem")),
        ("PKCS#1 RSA key", CredentialType::PrivateKey, fixture("rsa-key-pkcs1.pem")),
        ("PSK upper and lower case", CredentialType::Psk, "00112233445566778899AAbbCCddEEff".into()),
        ("identity", CredentialType::PskIdentity, "device-42 \"quoted\" \\ ok".into()),
    ];
    for (name, kind, content) in cases {
        let (mut flash, mut settings) = store();
        let entry = write(&mut settings, &mut flash, tag(9), kind, &content);
        assert!(entry.is_ok(), "{name}: {entry:?}");
    }
}

#[test]
fn private_keys_are_never_readable() {
    let (mut flash, mut settings) = store();
    let key = fixture("client-key-pkcs8.pem");
    assert!(matches!(
        read(&settings, tag(4), CredentialType::PrivateKey),
        Err(CredentialError::NoAccess { .. })
    ));
    write(&mut settings, &mut flash, tag(4), CredentialType::PrivateKey, &key).unwrap();
    assert!(matches!(
        read(&settings, tag(4), CredentialType::PrivateKey),
        Err(CredentialError::NoAccess { .. })
    ));
    let entries = list(&settings, None, None);
    assert_eq!(entries[0].sha256, sha(key.as_bytes()), "a key is listed with its digest");
    // The one way out is to a TLS client, as DER.
    let material = tls_material(&settings, tag(4)).unwrap();
    let client_key = material.client_key.unwrap();
    assert_eq!(client_key.format(), KeyFormat::Pkcs8);
    assert_eq!(client_key.der(), pem_der(&key).as_slice());
    assert!(!format!("{client_key:?}").contains(&hex::encode(client_key.der())[..16]));
}

#[test]
fn tls_material_gathers_a_sec_tag() {
    let (mut flash, mut settings) = store();
    let client = fixture("client.pem") + &fixture("ca.pem");
    write(&mut settings, &mut flash, tag(42), CredentialType::RootCa, &fixture("ca.pem")).unwrap();
    write(&mut settings, &mut flash, tag(42), CredentialType::ClientCert, &client).unwrap();
    write(&mut settings, &mut flash, tag(42), CredentialType::PrivateKey, &fixture("client-key-sec1.pem"))
        .unwrap();
    write(&mut settings, &mut flash, tag(43), CredentialType::Psk, "0102").unwrap();
    write(&mut settings, &mut flash, tag(43), CredentialType::PskIdentity, "me").unwrap();
    let m = tls_material(&settings, tag(42)).unwrap();
    assert_eq!(m.ca_certs, vec![pem_der(&fixture("ca.pem"))]);
    assert_eq!(m.client_chain, vec![pem_der(&fixture("client.pem")), pem_der(&fixture("ca.pem"))]);
    assert_eq!(m.client_key.as_ref().map(ClientKey::format), Some(KeyFormat::Sec1));
    assert!(!m.has_psk && !m.has_psk_identity);
    let m = tls_material(&settings, tag(43)).unwrap();
    assert!(m.has_psk && m.has_psk_identity && m.ca_certs.is_empty() && m.client_key.is_none());
    write(&mut settings, &mut flash, tag(44), CredentialType::PrivateKey, &fixture("rsa-key-pkcs1.pem"))
        .unwrap();
    let m = tls_material(&settings, tag(44)).unwrap();
    assert_eq!(m.client_key.map(|k| k.format()), Some(KeyFormat::Pkcs1));
    assert!(matches!(tls_material(&settings, tag(45)), Err(CredentialError::EmptySecTag { .. })));
}

#[test]
fn damaged_chunks_are_detected() {
    let (mut flash, mut settings) = store();
    let content = "q".repeat(5000);
    write(&mut settings, &mut flash, tag(8), CredentialType::PskIdentity, &content).unwrap();
    settings.set(&mut flash, "cmng.8.4.1", b"Q").unwrap();
    assert!(matches!(
        read(&settings, tag(8), CredentialType::PskIdentity),
        Err(CredentialError::Corrupt { .. })
    ));
    settings.remove(&mut flash, "cmng.8.4.1").unwrap();
    assert!(matches!(
        read(&settings, tag(8), CredentialType::PskIdentity),
        Err(CredentialError::Corrupt { .. })
    ));
    // Foreign or damaged records are skipped by the list, never misread.
    settings.set(&mut flash, "cmng.9.4", b"short").unwrap();
    settings.set(&mut flash, "cmng.010.4", &[0; META_LEN]).unwrap();
    settings.set(&mut flash, "cmng.9.7", &[0; META_LEN]).unwrap();
    assert_eq!(list(&settings, None, None).len(), 1);
}

#[test]
fn parameters_parse() {
    assert_eq!(SecTag::try_from(0).unwrap().get(), 0);
    assert_eq!(SecTag::try_from(2_147_483_647).unwrap().get(), SecTag::MAX);
    for bad in [-1, 2_147_483_648, i64::MAX, i64::MIN] {
        assert!(matches!(SecTag::try_from(bad), Err(CredentialError::InvalidSecTag { .. })), "{bad}");
    }
    for kind in CredentialType::ALL {
        assert_eq!(CredentialType::try_from(i64::from(kind.code())).unwrap(), kind);
    }
    assert!(matches!(CredentialType::try_from(5), Err(CredentialError::UnsupportedType { value: 5 })));
    assert!(matches!(CredentialType::try_from(6), Err(CredentialError::UnsupportedType { value: 6 })));
    assert!(matches!(CredentialType::try_from(7), Err(CredentialError::InvalidType { value: 7 })));
    assert!(matches!(CredentialType::try_from(-1), Err(CredentialError::InvalidType { value: -1 })));
}

#[test]
fn a_power_cut_leaves_the_old_or_the_new_credential() {
    let old = "o".repeat(2 * MAX_VALUE_LEN + 100);
    let new = "n".repeat(MAX_VALUE_LEN + 7);
    let (mut flash, mut settings) = store();
    write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, &old).unwrap();
    let image = flash.data().to_vec();
    let geometry = Geometry::new(0x1000, 4, 0x10000).unwrap();
    let mut cut_at = 1;
    loop {
        let mut flash = SimFlash::from_image(geometry, image.clone()).unwrap();
        let mut settings = Settings::open(&mut flash, partition(0x10000)).unwrap();
        flash.cut_before(flash.ops() + cut_at, CutMode::Tear, cut_at);
        let done = write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, &new).is_ok();
        flash.restore_power();
        let settings = Settings::open(&mut flash, partition(0x10000)).unwrap();
        let got = read(&settings, tag(1), CredentialType::PskIdentity).unwrap().content;
        assert!(got == old || got == new, "cut before op {cut_at}: a mix");
        if done {
            assert_eq!(got, new);
            break;
        }
        cut_at += 1;
    }
    assert!(cut_at > 1);
}

/// Every log record of the process while the capture is on (tests that log run one at a time).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOG_ON: Mutex<()> = Mutex::new(());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        LOG.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
    }
    fn flush(&self) {}
}

#[test]
fn credentials_never_reach_the_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
    let _one_at_a_time = LOG_ON.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    LOG.lock().unwrap().clear();
    let key = fixture("client-key-pkcs8.pem");
    let psk = "5ec12e75ec12e75ec12e75ec12e75ec1";
    let (mut flash, mut settings) = store();
    write(&mut settings, &mut flash, tag(1), CredentialType::PrivateKey, &key).unwrap();
    write(&mut settings, &mut flash, tag(1), CredentialType::Psk, psk).unwrap();
    write(&mut settings, &mut flash, tag(1), CredentialType::PskIdentity, "secret-identity").unwrap();
    let _ = read(&settings, tag(1), CredentialType::PrivateKey);
    let _ = read(&settings, tag(1), CredentialType::Psk);
    let _ = tls_material(&settings, tag(1));
    // Refusals too: their messages must not quote what was sent.
    let bad_key = key.replace("MI", "!!");
    let _ = write(&mut settings, &mut flash, tag(2), CredentialType::PrivateKey, &bad_key);
    let _ = write(&mut settings, &mut flash, tag(2), CredentialType::Psk, "5ec12e75zz");
    settings.set(&mut flash, "cmng.1.3.0", b"5ec12e75ec12e75ec12e75ec12e75ec0").unwrap();
    let _ = read(&settings, tag(1), CredentialType::Psk);
    delete(&mut settings, &mut flash, tag(1), CredentialType::PrivateKey).unwrap();
    let log = LOG.lock().unwrap().join("\n");
    assert!(log.contains("credential stored"), "the capture works: {log}");
    let key_body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    for secret in key_body.iter().copied().chain(["5ec12e75", "secret-identity", "!!"]) {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
    let errors = [
        write(&mut settings, &mut flash, tag(2), CredentialType::PrivateKey, &bad_key).unwrap_err(),
        write(&mut settings, &mut flash, tag(2), CredentialType::Psk, "5ec12e75zz").unwrap_err(),
    ];
    for e in errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains("5ec12e75") && !text.contains("!!"), "{text}");
    }
}
