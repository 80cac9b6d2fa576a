//! Anti-rollback: the security counter floor (raised when an image confirms
//! itself, checked at download time and by the bootloader) and the version
//! rule (no downgrade unless the device was created with --allow-downgrade;
//! an equal version re-installs); reverting after a failed self-test is not
//! a rollback.

mod common;

use atfota_fota::EngineConfig;
use atfota_image::{SignOptions, SigningKey};
use atfota_storage::Settings;
use common::{Dev, serve, version};

/// A development-key image of `version` with an optional security counter.
fn image(version: &str, counter: Option<u32>, seed: u32) -> Vec<u8> {
    let body = atfota_device::application_body(&format!("rollback test {seed}"), 40 * 1024);
    let opts = SignOptions {
        version: version.parse().unwrap(),
        security_counter: counter,
        ..SignOptions::default()
    };
    atfota_image::sign(&body, &opts, &SigningKey::development()).unwrap()
}

fn install(dev: &mut Dev, url: &str) -> String {
    let out = dev.send(&format!("AT#XFOTA=1,\"{url}\""));
    if !out.ends_with("\r\n#XFOTA: 4,0\r\n") {
        return out;
    }
    dev.send("AT#XRESET")
}

fn floor(dev: &mut Dev) -> Option<Vec<u8>> {
    let mut f = dev.power_off();
    let layout = dev.layout;
    let v = Settings::open(&mut f, layout.settings).unwrap().get("boot.security_counter").map(<[u8]>::to_vec);
    dev.boot(f);
    v
}

#[test]
fn the_security_counter_floor_rises_on_confirm_and_refuses_older_counters() {
    let files = [
        ("c5.bin", image("2.0.0", Some(5), 1)),
        ("c3.bin", image("3.0.0", Some(3), 2)),
        ("none.bin", image("3.0.0", None, 3)),
        ("c5b.bin", image("3.0.0", Some(5), 4)),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let (_d, peer) = serve(&refs);
    let (mut dev, _) = Dev::new();
    assert_eq!(install(&mut dev, &peer.url("c5.bin")), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(
        floor(&mut dev),
        Some(5u32.to_le_bytes().to_vec()),
        "the confirmed image's counter is the floor"
    );
    for (file, what) in [("c3.bin", "a lower counter"), ("none.bin", "no counter (0)")] {
        let out = dev.send(&format!("AT#XFOTA=1,\"{}\"", peer.url(file)));
        assert!(out.ends_with("\r\n#XFOTA: 1,1,2\r\n"), "{what}: {out:?}");
        assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "{what}: nothing scheduled");
        assert_eq!(version(&mut dev), "2.0.0");
    }
    assert_eq!(
        install(&mut dev, &peer.url("c5b.bin")),
        "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n",
        "an equal counter"
    );
    assert_eq!(version(&mut dev), "3.0.0");
}

#[test]
fn the_bootloader_refuses_a_requested_image_below_the_floor() {
    let (_d, peer) = serve(&[("c2.bin", &image("2.0.0", Some(2), 5))]);
    let (mut dev, _) = Dev::new();
    let out = dev.send(&format!("AT#XFOTA=1,\"{}\"", peer.url("c2.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    // The floor moves past it before the reset (as if another image had been confirmed in between).
    let mut f = dev.power_off();
    let layout = dev.layout;
    let mut settings = Settings::open(&mut f, layout.settings).unwrap();
    settings.set(&mut f, "boot.security_counter", &9u32.to_le_bytes()).unwrap();
    assert_eq!(dev.boot(f), "\r\nReady\r\n\r\n#XFOTA: 5,1,2\r\n");
    assert_eq!(version(&mut dev), "1.0.0");
}

#[test]
fn downgrades_are_refused_unless_allowed_and_an_equal_version_reinstalls() {
    let files = [
        ("v2.bin", image("2.0.0", None, 6)),
        ("v2b.bin", image("2.0.0", None, 7)),
        ("v15.bin", image("1.5.0", None, 8)),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let (_d, peer) = serve(&refs);
    let (mut dev, _) = Dev::new();
    assert!(install(&mut dev, &peer.url("v2.bin")).ends_with("#XFOTA: 5,0\r\n"));
    let out = dev.send(&format!("AT#XFOTA=1,\"{}\"", peer.url("v15.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 1,1,2\r\n"), "a downgrade: {out:?}");
    assert!(
        install(&mut dev, &peer.url("v2b.bin")).ends_with("#XFOTA: 5,0\r\n"),
        "an equal version re-installs"
    );
    let allowed = EngineConfig { allow_downgrade: true, ..EngineConfig::default() };
    let (mut dev, _) = Dev::with(1024 * 1024, &[], allowed);
    assert!(install(&mut dev, &peer.url("v2.bin")).ends_with("#XFOTA: 5,0\r\n"));
    assert!(install(&mut dev, &peer.url("v15.bin")).ends_with("#XFOTA: 5,0\r\n"), "allowed on this device");
    assert_eq!(version(&mut dev), "1.5.0");
}

#[test]
fn a_revert_is_not_a_rollback_and_does_not_move_the_floor() {
    let files = [("c7.bin", image("2.0.0", Some(7), 9)), ("c1.bin", image("2.1.0", Some(1), 10))];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let (_d, peer) = serve(&refs);
    let failing = EngineConfig { fail_self_test: true, ..EngineConfig::default() };
    let (mut dev, _) = Dev::with(1024 * 1024, &[], failing);
    let out = install(&mut dev, &peer.url("c7.bin"));
    assert!(out.ends_with("#XFOTA: 5,3\r\n"), "reverted: {out:?}");
    assert_eq!(version(&mut dev), "1.0.0");
    assert_eq!(floor(&mut dev), None, "the image never confirmed: the floor did not move");
    dev.config = EngineConfig::default();
    let f = dev.power_off();
    dev.boot(f);
    assert!(install(&mut dev, &peer.url("c1.bin")).ends_with("#XFOTA: 5,0\r\n"), "counter 1 still installs");
}
