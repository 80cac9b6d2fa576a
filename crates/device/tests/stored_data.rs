//! Bad stored data never bricks the device: garbage where a pending image
//! should be, a corrupted running image, a lost boot state, a corrupted
//! settings store. The device boots what validates, answers AT, and says
//! what failed (`#XFOTA: 5,1,<err>` where an update was pending).

mod common;

use atfota_storage::{NorFlash, Partition, SimFlash};
use common::{Dev, app_image, poll_text, serve, version};

/// Overwrites `len` bytes at `off` of a partition with `byte` (erase, then write).
fn scribble(f: &mut SimFlash, part: &Partition, off: u32, byte: u8) {
    let sector = f.geometry().sector_size;
    part.erase(f, off, sector).unwrap();
    part.write(f, off, &vec![byte; sector as usize]).unwrap();
}

fn downloaded(dev: &mut Dev, url: &str) {
    let out = dev.send(&format!("AT#XFOTA=1,\"{url}\""));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
}

#[test]
fn garbage_in_place_of_a_pending_image_is_reported_after_reset() {
    let image = app_image("2.0.0", 300 * 1024, 31);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    downloaded(&mut dev, &peer.url("app.bin"));
    let mut f = dev.power_off();
    let layout = dev.layout;
    scribble(&mut f, &layout.secondary, 8192, 0x00);
    assert_eq!(dev.boot(f), "\r\nReady\r\n\r\n#XFOTA: 5,1,2\r\n", "the bootloader refuses it at power-on");
    assert_eq!(version(&mut dev), "1.0.0");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "reported once");
}

#[test]
fn a_lost_boot_state_after_4_0_is_reported_not_ignored() {
    let image = app_image("2.0.0", 300 * 1024, 32);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    downloaded(&mut dev, &peer.url("app.bin"));
    let mut f = dev.power_off();
    let layout = dev.layout;
    layout.boot_state.erase_all(&mut f).unwrap();
    assert_eq!(dev.boot(f), "\r\nReady\r\n\r\n#XFOTA: 5,1,2\r\n");
    assert_eq!(version(&mut dev), "1.0.0");
}

#[test]
fn a_corrupted_running_image_is_replaced_by_the_previous_one() {
    let image = app_image("2.0.0", 300 * 1024, 33);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    downloaded(&mut dev, &peer.url("app.bin"));
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(version(&mut dev), "2.0.0");
    let mut f = dev.power_off();
    let layout = dev.layout;
    scribble(&mut f, &layout.primary, 4096, 0x11);
    assert_eq!(dev.boot(f), "\r\nReady\r\n", "boots, with the image that validates");
    assert_eq!(version(&mut dev), "1.0.0", "the previous image, kept in the secondary slot, is back");
    assert_eq!(dev.send("AT"), "\r\nOK\r\n");
}

#[test]
fn no_valid_image_anywhere_still_answers_at() {
    let (mut dev, _) = Dev::new();
    let mut f = dev.power_off();
    let layout = dev.layout;
    scribble(&mut f, &layout.primary, 0, 0x22);
    assert_eq!(dev.boot(f), "\r\nReady\r\n");
    assert_eq!(version(&mut dev), "unknown");
    assert_eq!(dev.send("AT+CGMR"), "\r\nmfw_nrf9160_1.3.5\r\n\r\nOK\r\n");
    // It can still be updated.
    let image = app_image("3.0.0", 100 * 1024, 34);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    downloaded(&mut dev, &peer.url("app.bin"));
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(version(&mut dev), "3.0.0");
}

#[test]
fn garbage_in_the_boot_state_and_settings_boots_the_primary() {
    let (mut dev, _) = Dev::new();
    let mut f = dev.power_off();
    let layout = dev.layout;
    for part in [layout.boot_state, layout.settings] {
        let mut rng = fastrand::Rng::with_seed(u64::from(part.offset));
        part.erase_all(&mut f).unwrap();
        let junk: Vec<u8> = (0..part.size).map(|_| rng.u8(..)).collect();
        part.write(&mut f, 0, &junk).unwrap();
    }
    assert_eq!(dev.boot(f), "\r\nReady\r\n");
    assert_eq!(version(&mut dev), "1.0.0");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
}

#[test]
fn a_result_that_never_left_the_device_is_reported_again_after_a_power_cut() {
    let image = app_image("2.0.0", 100 * 1024, 35);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    downloaded(&mut dev, &peer.url("app.bin"));
    // Reset, and take the output as the IO shell would — but the power is cut
    // before it is written (no `written`).
    let m = dev.modem();
    m.handle_input(b"AT#XRESET\r").unwrap();
    let (lost, _) = poll_text(m, false);
    assert_eq!(lost, "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n", "OK leaves before the reboot");
    assert_eq!(dev.power_cycle(), "\r\nReady\r\n\r\n#XFOTA: 5,0\r\n", "reported again, not lost");
    assert_eq!(dev.power_cycle(), "\r\nReady\r\n", "and once delivered, never again");
}

#[test]
fn the_secondary_slot_is_refused_to_erase_and_downloads_while_a_revert_is_possible() {
    use atfota_fota::{CommandError, Engine, EngineConfig};
    let image = app_image("2.0.0", 100 * 1024, 36);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    downloaded(&mut dev, &peer.url("app.bin"));
    let layout = dev.layout;
    let mut flash = dev.power_off();
    // Boot with a failing self-test: the new image runs on trial, unconfirmed;
    // the old one waits in the secondary slot for the revert.
    let (mut engine, report) = Engine::power_on(
        &mut flash,
        layout,
        &EngineConfig { fail_self_test: true, ..EngineConfig::default() },
    )
    .unwrap();
    assert!(engine.self_test_failed(), "{report:?}");
    assert!(matches!(engine.erase_secondary(), Err(CommandError::Protected(_))));
    let req = atfota_fota::DownloadRequest {
        kind: atfota_image::ImageKind::McubootApp,
        source: atfota_net::Source::Http(atfota_net::HttpSource::new(
            atfota_net::parse_http_url(&peer.url("app.bin")).unwrap(),
        )),
        identity: "app test".into(),
        sec_tag: None,
    };
    assert!(matches!(engine.start_download(req), Err(CommandError::Protected(_))));
    drop(engine);
    // The next boot reverts, and the old image is intact.
    assert_eq!(dev.boot(flash), "\r\nReady\r\n\r\n#XFOTA: 5,3\r\n");
    assert_eq!(version(&mut dev), "1.0.0");
}

#[test]
fn a_lost_settings_store_installs_nothing_and_the_running_image_boots() {
    let image = app_image("2.0.0", 200 * 1024, 9);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    for garbage in [false, true] {
        let (mut dev, _) = Dev::new();
        downloaded(&mut dev, &peer.url("app.bin"));
        // The settings (trusted keys, floor, pending result) are gone before the reset.
        let mut f = dev.power_off();
        let layout = dev.layout;
        layout.settings.erase_all(&mut f).unwrap();
        if garbage {
            let junk: Vec<u8> =
                (0..layout.settings.size).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
            layout.settings.write(&mut f, 0, &junk).unwrap();
        }
        assert_eq!(dev.boot(f), "\r\nReady\r\n", "garbage {garbage}: nothing installed, nothing reported");
        assert_eq!(version(&mut dev), "1.0.0", "garbage {garbage}: the running image boots");
        // The refused image stays refused; a new download works again from here.
        assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
        downloaded(&mut dev, &peer.url("app.bin"));
        assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
        assert_eq!(version(&mut dev), "2.0.0");
    }
}
