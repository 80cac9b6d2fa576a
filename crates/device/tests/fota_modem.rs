//! Modem delta FOTA through the Nordic profile, end to end in-process: a
//! delta package made from the device's own factory firmware is downloaded
//! with `AT#XFOTA=2` from a loopback server into the scratch area, checked,
//! applied at `AT#XRESET` into the other bank, reported as `#XFOTA: 5,0`,
//! and visible in `AT+CGMR`, `AT#XSLMVER`, `AT%XMODEMUUID` and the bank's
//! bytes — plus the scratch erase stages, op 9, resume, and every refusal.

mod common;

use std::sync::OnceLock;

use atfota_boot::ModemUpdater;
use atfota_delta::{Compression, CreateOptions};
use atfota_device::{factory_modem_firmware, modem_firmware_body};
use atfota_image::{ModemFirmware, SigningKey, TrustedKey, modem_uuid, sign_delta};
use atfota_storage::{NorFlash, SimFlash};
use common::{Dev, Step, answer, app_image, fixture, lines, progress, serve};
use sha2::{Digest, Sha256};

const FACTORY_VERSION: &str = "mfw_nrf9160_1.3.5";
const NEW_VERSION: &str = "mfw_nrf9160_1.3.6";

/// The factory firmware with a few scattered changes: what a real modem release looks like next to its predecessor.
fn new_firmware() -> &'static [u8] {
    static NEW: OnceLock<Vec<u8>> = OnceLock::new();
    NEW.get_or_init(|| {
        let mut v = factory_modem_firmware();
        for (i, at) in [1000usize, 300_000, 900_001, 1_500_000, 2_100_000].into_iter().enumerate() {
            for b in &mut v[at..at + 64] {
                *b = b.wrapping_add(i as u8 + 1);
            }
        }
        v.splice(700_000..700_000, (0..777u32).map(|i| i as u8));
        v
    })
}

fn firmware(bytes: &[u8], version: &str) -> ModemFirmware {
    ModemFirmware::of(bytes, version.parse().unwrap()).unwrap()
}

/// A delta package from `old` to `new`, its patch compressed as `c`.
fn package_between(old: &[u8], new: &[u8], new_version: &str, c: Compression, key: &SigningKey) -> Vec<u8> {
    let patch = atfota_delta::create(old, new, &CreateOptions::new(c)).unwrap();
    sign_delta(&firmware(old, FACTORY_VERSION), &firmware(new, new_version), &patch, key).unwrap()
}

/// The package from the factory firmware to [`new_firmware`], signed with the development key.
fn package() -> &'static [u8] {
    static PKG: OnceLock<Vec<u8>> = OnceLock::new();
    PKG.get_or_init(|| {
        package_between(
            &factory_modem_firmware(),
            new_firmware(),
            NEW_VERSION,
            Compression::Lzma,
            &SigningKey::development(),
        )
    })
}

/// The same update with an uncompressed patch: a package of about 2 MiB,
/// long enough to cancel, cut and resume in the middle.
fn big_package() -> &'static [u8] {
    static PKG: OnceLock<Vec<u8>> = OnceLock::new();
    PKG.get_or_init(|| {
        package_between(
            &factory_modem_firmware(),
            new_firmware(),
            NEW_VERSION,
            Compression::None,
            &SigningKey::development(),
        )
    })
}

fn start(url: &str) -> String {
    format!("AT#XFOTA=2,\"{url}\"")
}

fn cgmr(dev: &mut Dev) -> String {
    let out = dev.send("AT+CGMR");
    let l = lines(&out);
    assert_eq!(l.last(), Some(&"OK"), "{out:?}");
    l[0].to_string()
}

/// The running modem firmware's bytes, read from its bank.
fn running_firmware(flash: &mut SimFlash, dev: &Dev) -> Vec<u8> {
    let up = ModemUpdater::new(flash.geometry(), dev.layout.modem.unwrap()).unwrap();
    let mut out = Vec::new();
    up.export(flash, &mut out).unwrap();
    out
}

/// Whether the scratch area is all erased.
fn scratch_erased(flash: &mut SimFlash, dev: &Dev) -> bool {
    let scratch = dev.layout.modem.unwrap().scratch;
    let mut buf = vec![0u8; scratch.size as usize];
    scratch.read(flash, 0, &mut buf).unwrap();
    buf.iter().all(|&b| b == 0xff)
}

/// Asserts the device runs the factory modem firmware, answers AT, and has
/// nothing scheduled: a reset brings no result URC.
fn assert_modem_unchanged(dev: &mut Dev, ctx: &str) {
    assert_eq!(dev.send("AT"), "\r\nOK\r\n", "{ctx}: AT");
    assert_eq!(cgmr(dev), FACTORY_VERSION, "{ctx}: version before reset");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "{ctx}: reset must report nothing");
    assert_eq!(cgmr(dev), FACTORY_VERSION, "{ctx}: version after reset");
}

#[test]
fn a_modem_delta_update_end_to_end() {
    let (_d, peer) = serve(&[("delta.bin", package())]);
    let (mut dev, _) = Dev::new();
    assert_eq!(cgmr(&mut dev), FACTORY_VERSION);
    let factory_uuid = modem_uuid(&Sha256::digest(factory_modem_firmware()).into());
    assert_eq!(dev.send("AT%XMODEMUUID"), format!("\r\n%XMODEMUUID: {factory_uuid}\r\n\r\nOK\r\n"));
    let out = dev.send(&start(&peer.url("delta.bin")));
    let l = lines(&out);
    assert_eq!(l[0], "OK", "{out:?}");
    assert!(!out.contains("#XFOTA: 2,0"), "a factory-fresh scratch area needs no erase: {out:?}");
    assert_eq!(*l.last().unwrap(), "#XFOTA: 4,0", "{out:?}");
    assert_eq!(progress(&out).last(), Some(&100));
    assert_eq!(cgmr(&mut dev), FACTORY_VERSION, "nothing changes before the reset");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(cgmr(&mut dev), NEW_VERSION);
    let slmver = dev.send("AT#XSLMVER");
    assert!(slmver.contains(&format!("\"1.0.0\",\"{NEW_VERSION}\"")), "{slmver:?}");
    let new_uuid = modem_uuid(&Sha256::digest(new_firmware()).into());
    assert_eq!(dev.send("AT%XMODEMUUID"), format!("\r\n%XMODEMUUID: {new_uuid}\r\n\r\nOK\r\n"));
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "the result is reported once");
    let mut f = dev.power_off();
    assert!(
        running_firmware(&mut f, &dev) == new_firmware(),
        "the running bank holds the new firmware byte for byte"
    );
}

#[test]
fn every_detools_compression_applies() {
    let old = factory_modem_firmware();
    for (c, name) in
        [(Compression::None, "none"), (Compression::Heatshrink, "heatshrink"), (Compression::Lzma, "lzma")]
    {
        let pkg = package_between(&old, new_firmware(), NEW_VERSION, c, &SigningKey::development());
        let (_d, peer) = serve(&[("d.bin", &pkg)]);
        let (mut dev, _) = Dev::new();
        let out = dev.send(&start(&peer.url("d.bin")));
        assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{name}: {out:?}");
        assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n", "{name}");
        assert_eq!(cgmr(&mut dev), NEW_VERSION, "{name}");
    }
}

#[test]
fn a_dirty_scratch_area_is_erased_first_with_stages_2_and_3() {
    let (_d, peer) = serve(&[("delta.bin", package()), ("big.bin", big_package())]);
    let (mut dev, _) = Dev::new();
    // A cancelled download leaves bytes in the scratch area; another URL starts over.
    let mut cancelled = false;
    let out = dev.send_with(&start(&peer.url("big.bin")), &mut |m, got, total| {
        if !cancelled && got * 2 >= total {
            cancelled = true;
            m.handle_input(b"AT#XFOTA=0\r").unwrap();
        }
        Step::Continue
    });
    assert!(out.contains("#XFOTA: 1,2,0"), "{out:?}");
    let out = dev.send(&start(&peer.url("delta.bin")));
    let l = lines(&out);
    let (erase, erased) =
        (l.iter().position(|x| *x == "#XFOTA: 2,0"), l.iter().position(|x| *x == "#XFOTA: 3,0"));
    let first_progress = l.iter().position(|x| x.starts_with("#XFOTA: 1,0,"));
    assert!(
        matches!((erase, erased, first_progress), (Some(a), Some(b), Some(c)) if a < b && b < c),
        "2,0 then 3,0 then progress: {out:?}"
    );
    assert_eq!(*l.last().unwrap(), "#XFOTA: 4,0");
    // After the update, the scratch area holds the applied package: the next delta erases it.
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
}

#[test]
fn op_9_erases_the_scratch_area_and_is_refused_when_it_must_be() {
    let (_d, peer) = serve(&[("delta.bin", big_package())]);
    let (mut dev, _) = Dev::new();
    let mut answers = Vec::new();
    let mut n = 0;
    let out = dev.send_with(&start(&peer.url("delta.bin")), &mut |m, _, _| {
        n += 1;
        if n == 2 {
            answers.push(answer(m, "AT#XFOTA=9"));
        }
        Step::Continue
    });
    assert_eq!(answers, ["\r\nERROR\r\n"], "op 9 during a download");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "the download went on: {out:?}");
    assert_eq!(dev.send("AT#XFOTA=9"), "\r\nERROR\r\n", "op 9 while an update waits for activation");
    assert_eq!(dev.send("AT#XFOTA=9,1"), "\r\nERROR\r\n", "op 9 takes no parameter");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    let mut f = dev.power_off();
    assert!(!scratch_erased(&mut f, &dev));
    dev.boot(f);
    assert_eq!(dev.send("AT#XFOTA=9"), "\r\nOK\r\n");
    let mut f = dev.power_off();
    assert!(scratch_erased(&mut f, &dev), "op 9 leaves the scratch area erased");
}

#[test]
fn cancel_and_power_cut_resume_from_the_stored_bytes() {
    let (_d, peer) = serve(&[("delta.bin", big_package())]);
    let url = peer.url("delta.bin");
    let (mut dev, _) = Dev::new();
    let mut cancelled = false;
    let out = dev.send_with(&start(&url), &mut |m, got, total| {
        if !cancelled && got * 2 >= total && got > 8192 {
            cancelled = true;
            m.handle_input(b"AT#XFOTA=0\r").unwrap();
        }
        Step::Continue
    });
    assert!(out.contains("#XFOTA: 1,2,0"), "{out:?}");
    // A power cut at the next attempt, then the same command again.
    let mut cut = false;
    let out = dev.send_with(&start(&url), &mut |_, got, total| {
        if !cut && got * 4 >= total * 3 {
            cut = true;
            return Step::PowerCut;
        }
        Step::Continue
    });
    assert!(out.contains("<POWER CUT>"), "{out:?}");
    assert!(!out.contains("#XFOTA: 2,0"), "a resume does not erase what it resumes: {out:?}");
    let out = dev.send(&start(&url));
    assert!(!out.contains("#XFOTA: 2,0"), "{out:?}");
    let first = progress(&out)[0];
    assert!(first >= 70, "resumed from the stored bytes, not from 0: {out:?}");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    let log = peer.requests();
    assert!(log.iter().any(|r| r.range.is_some()), "a resume asks for a Range: {log:?}");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    let mut f = dev.power_off();
    assert!(running_firmware(&mut f, &dev) == new_firmware());
}

#[test]
fn the_modem_bad_input_table() {
    let old = factory_modem_firmware();
    let dev_key = SigningKey::development();
    let untrusted =
        SigningKey::from_pem(&String::from_utf8(fixture("keys/untrusted-ed25519.pem")).unwrap()).unwrap();
    let good = package().to_vec();
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut bad_magic = good.clone();
    bad_magic[4] ^= 0xff;
    // Another source firmware: a delta between two firmwares this device does not run.
    let other_old = modem_firmware_body(99, 300_000);
    let other_new = modem_firmware_body(98, 300_000);
    let other_source = package_between(&other_old, &other_new, NEW_VERSION, Compression::Lzma, &dev_key);
    // Signed, but the patch stream is garbage.
    let garbage_patch = sign_delta(
        &firmware(&old, FACTORY_VERSION),
        &firmware(new_firmware(), NEW_VERSION),
        &[0x01, 0x82, 0x80, 0x01, 0x5d, 0x00, 0x00, 0x80, 0x00, 0xde, 0xad, 0xbe, 0xef],
        &dev_key,
    )
    .unwrap();
    // Signed, but the patch produces something else than the target it names.
    let patch = atfota_delta::create(&old, new_firmware(), &CreateOptions::new(Compression::Lzma)).unwrap();
    let mut wrong_target = firmware(new_firmware(), NEW_VERSION);
    wrong_target.sha256[0] ^= 1;
    let wrong_hash = sign_delta(&firmware(&old, FACTORY_VERSION), &wrong_target, &patch, &dev_key).unwrap();
    // An unknown compression (bz2, code 3) and an unknown patch type (in-place, 1).
    let mut bz2 = patch.clone();
    bz2[0] = (bz2[0] & 0xf0) | 0x03;
    let bz2 =
        sign_delta(&firmware(&old, FACTORY_VERSION), &firmware(new_firmware(), NEW_VERSION), &bz2, &dev_key)
            .unwrap();
    let mut in_place = patch.clone();
    in_place[0] = (in_place[0] & 0x0f) | 0x10;
    let in_place = sign_delta(
        &firmware(&old, FACTORY_VERSION),
        &firmware(new_firmware(), NEW_VERSION),
        &in_place,
        &dev_key,
    )
    .unwrap();
    let by_untrusted = package_between(&old, new_firmware(), NEW_VERSION, Compression::Lzma, &untrusted);
    // Unsigned: the TLV area without a signature (only the hash).
    let unsigned = {
        let signed_len = 0x140 + patch.len();
        let mut p = sign_delta(
            &firmware(&old, FACTORY_VERSION),
            &firmware(new_firmware(), NEW_VERSION),
            &patch,
            &dev_key,
        )
        .unwrap();
        p.truncate(signed_len);
        let digest: [u8; 32] = Sha256::digest(&p).into();
        p.extend_from_slice(&0x6907u16.to_le_bytes());
        p.extend_from_slice(&(4u16 + 4 + 32).to_le_bytes());
        p.extend_from_slice(&0x10u16.to_le_bytes());
        p.extend_from_slice(&32u16.to_le_bytes());
        p.extend_from_slice(&digest);
        p
    };
    // Larger than the scratch area (a bank's size): a rewrite of random bytes stored uncompressed.
    let (probe, _) = Dev::new();
    let scratch_size = probe.layout.modem.unwrap().scratch.size as usize;
    let huge_new = modem_firmware_body(7, scratch_size);
    let huge = {
        let patch = atfota_delta::create(&old, &huge_new, &CreateOptions::new(Compression::None)).unwrap();
        sign_delta(&firmware(&old, FACTORY_VERSION), &firmware(&huge_new, NEW_VERSION), &patch, &dev_key)
            .unwrap()
    };
    let app = app_image("2.0.0", 64 * 1024, 1);
    let files: Vec<(&str, &[u8])> = vec![
        ("truncated", &truncated),
        ("bad-magic", &bad_magic),
        ("other-source", &other_source),
        ("garbage-patch", &garbage_patch),
        ("wrong-hash", &wrong_hash),
        ("bz2", &bz2),
        ("in-place", &in_place),
        ("untrusted", &by_untrusted),
        ("unsigned", &unsigned),
        ("huge", &huge),
        ("app", &app),
    ];
    let (_d, peer) = serve(&files);
    let rows: Vec<(&str, String, &str)> = vec![
        ("truncated package", start(&peer.url("truncated")), "#XFOTA: 1,1,2"),
        ("bad magic", start(&peer.url("bad-magic")), "#XFOTA: 1,1,2"),
        ("a package for another source firmware", start(&peer.url("other-source")), "#XFOTA: 1,1,2"),
        ("a corrupted patch stream", start(&peer.url("garbage-patch")), "#XFOTA: 1,1,2"),
        ("a target hash that does not match", start(&peer.url("wrong-hash")), "#XFOTA: 1,1,2"),
        ("unknown compression", start(&peer.url("bz2")), "#XFOTA: 1,1,2"),
        ("unknown patch type", start(&peer.url("in-place")), "#XFOTA: 1,1,2"),
        ("signed by an untrusted key", start(&peer.url("untrusted")), "#XFOTA: 1,1,2"),
        ("unsigned", start(&peer.url("unsigned")), "#XFOTA: 1,1,2"),
        ("larger than the scratch area", start(&peer.url("huge")), "#XFOTA: 1,1,2"),
        ("op 2 with an application image", start(&peer.url("app")), "#XFOTA: 1,1,3"),
        ("op 2 with https:// and no sec_tag", start("https://127.0.0.1:1/delta.bin"), "ERROR"),
        (
            "op 1 with a delta package",
            format!("AT#XFOTA=1,\"{}\"", peer.url("other-source")),
            "#XFOTA: 1,1,3",
        ),
    ];
    drop(probe);
    for (what, cmd, want) in &rows {
        let (mut dev, _) = Dev::new();
        let out = dev.send(cmd);
        let last = *lines(&out).last().unwrap();
        assert_eq!(last, *want, "{what}: {out:?}");
        if *want != "ERROR" {
            assert!(out.starts_with("\r\nOK\r\n"), "{what}: {out:?}");
        }
        assert_modem_unchanged(&mut dev, what);
        let mut f = dev.power_off();
        assert!(running_firmware(&mut f, &dev) == old, "{what}: the factory firmware runs");
        if *what == "a package for another source firmware" {
            assert!(scratch_erased(&mut f, &dev), "{what}: refused before anything is written");
        }
    }
    println!("{} modem bad inputs refused, device unchanged after each", rows.len());
}

#[test]
fn one_update_at_a_time() {
    let (_d, peer) = serve(&[("delta.bin", package()), ("app.bin", &app_image("2.0.0", 64 * 1024, 1))]);
    let (mut dev, _) = Dev::new();
    assert!(dev.send(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    assert_eq!(
        dev.send(&start(&peer.url("delta.bin"))),
        "\r\nERROR\r\n",
        "op 2 while an application image waits"
    );
    assert_eq!(dev.send("AT#XFOTA=8"), "\r\nOK\r\n");
    assert!(dev.send(&start(&peer.url("delta.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    assert_eq!(
        dev.send(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin"))),
        "\r\nERROR\r\n",
        "op 1 while a modem update waits"
    );
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(cgmr(&mut dev), NEW_VERSION);
}

#[test]
fn apply_time_failures_report_nordics_codes_and_keep_the_old_firmware() {
    let (_d, peer) = serve(&[("delta.bin", package())]);
    // The stored package damaged after scheduling: authentication error.
    let (mut dev, _) = Dev::new();
    assert!(dev.send(&start(&peer.url("delta.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    let mut f = dev.power_off();
    let scratch = dev.layout.modem.unwrap().scratch;
    scratch.write(&mut f, 0x200, &[0, 0, 0, 0]).unwrap();
    let out = dev.boot(f);
    assert_eq!(out, "\r\nReady\r\n\r\n#XFOTA: 5,1,71303171\r\n");
    assert_eq!(cgmr(&mut dev), FACTORY_VERSION);
    // The running firmware damaged after scheduling: the result does not match its hash.
    let (mut dev, _) = Dev::new();
    assert!(dev.send(&start(&peer.url("delta.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    let mut f = dev.power_off();
    let bank0 = dev.layout.modem.unwrap().banks[0];
    bank0.write(&mut f, 0x1000, &[0, 0, 0, 0]).unwrap();
    let out = dev.boot(f);
    assert_eq!(out, "\r\nReady\r\n\r\n#XFOTA: 5,1,71303169\r\n");
    assert_eq!(cgmr(&mut dev), FACTORY_VERSION);
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "reported once");
}

#[test]
fn a_package_signed_by_a_trusted_key_installs() {
    let key = SigningKey::from_pem(&String::from_utf8(fixture("keys/ecdsa-p256.pem")).unwrap()).unwrap();
    let public =
        TrustedKey::from_pem(&String::from_utf8(fixture("keys/ecdsa-p256.pub.pem")).unwrap()).unwrap();
    let pkg = package_between(
        &factory_modem_firmware(),
        new_firmware(),
        NEW_VERSION,
        Compression::Heatshrink,
        &key,
    );
    let (_d, peer) = serve(&[("delta.bin", &pkg)]);
    let (mut dev, _) = Dev::with(1024 * 1024, &[public], atfota_fota::EngineConfig::default());
    assert!(dev.send(&start(&peer.url("delta.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(cgmr(&mut dev), NEW_VERSION);
}

#[test]
fn a_lost_settings_store_applies_no_modem_package() {
    let (_d, peer) = serve(&[("delta.bin", package())]);
    let (mut dev, _) = Dev::new();
    assert!(dev.send(&start(&peer.url("delta.bin"))).ends_with("#XFOTA: 4,0\r\n"));
    // The settings (trusted keys, the pending record) are gone before the reset: the
    // package's signature can no longer be checked, so it must not be applied.
    let mut f = dev.power_off();
    let settings = dev.layout.settings;
    settings.erase_all(&mut f).unwrap();
    let out = dev.boot(f);
    assert!(out.starts_with("\r\nReady\r\n") && !out.contains("5,0"), "nothing applied: {out:?}");
    assert_eq!(cgmr(&mut dev), FACTORY_VERSION);
    let mut f = dev.power_off();
    assert!(running_firmware(&mut f, &dev) == factory_modem_firmware(), "the factory bank runs, intact");
    dev.boot(f);
    // Nothing stays scheduled, and a new download from here installs.
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "nothing left to apply");
    let out = dev.send(&start(&peer.url("delta.bin")));
    assert!(out.ends_with("#XFOTA: 4,0\r\n"), "{out:?}");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(cgmr(&mut dev), NEW_VERSION);
}
