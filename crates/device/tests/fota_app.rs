//! Application FOTA through the Nordic profile, end to end in-process: real
//! downloads from loopback servers into simulated NOR flash, verification,
//! activation by reset, result after reboot — and every way a transfer can
//! be interrupted and resumed.

mod common;

use atfota_fota::EngineConfig;
use atfota_image::TrustedKey;
use atfota_peers::{Fault, FaultProxy};
use common::{Dev, Step, app_image, assert_unchanged, fixture, lines, progress, serve, slot_bytes, version};

const KIB: usize = 1024;

fn start(url: &str) -> String {
    format!("AT#XFOTA=1,\"{url}\"")
}

/// Downloads, activates and checks the result and the new version.
fn finish_update(dev: &mut Dev, want_version: &str) {
    let out = dev.send("AT#XRESET");
    assert_eq!(out, "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n", "activation");
    assert_eq!(version(dev), want_version);
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n", "the result is reported once");
    assert_eq!(version(dev), want_version, "the new image stays (it confirmed itself)");
}

#[test]
fn whole_update_with_progress_activation_and_result() {
    let image = app_image("2.0.0", 700 * KIB, 1);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let old = {
        let mut f = dev.power_off();
        let layout = dev.layout;
        let old = slot_bytes(&mut f, &layout.primary, 4096);
        dev.boot(f);
        old
    };
    let out = dev.send(&start(&peer.url("app.bin")));
    let l = lines(&out);
    assert_eq!(l[0], "OK", "OK comes first, then the download: {out:?}");
    assert_eq!(*l.last().unwrap(), "#XFOTA: 4,0");
    let p = progress(&out);
    assert!(p.windows(2).all(|w| w[0] < w[1]), "each percentage once, rising: {p:?}");
    assert_eq!(p.last(), Some(&100));
    assert!(p.len() >= 10, "a 700 KiB image in 64 KiB chunks reports at least 10 steps: {p:?}");
    assert_eq!(
        dev.send("AT#XFOTA=1,\"http://127.0.0.1:1/x.bin\""),
        "\r\nERROR\r\n",
        "an image waits for activation"
    );
    finish_update(&mut dev, "2.0.0");
    // The old image is kept in the secondary slot, one sector up (the swap's shift).
    let mut f = dev.power_off();
    let layout = dev.layout;
    let mut shifted = vec![0u8; 4096];
    layout.secondary.read(&mut f, 4096, &mut shifted).unwrap();
    assert_eq!(shifted, old);
    assert_eq!(
        slot_bytes(&mut f, &layout.primary, image.len()),
        image,
        "primary holds the new image byte for byte"
    );
}

#[test]
fn an_image_made_by_imgtool_with_a_trusted_key_installs() {
    let key =
        TrustedKey::from_pem(&String::from_utf8(fixture("keys/trusted-ed25519.pub.pem")).unwrap()).unwrap();
    let image = fixture("images/signed-ed25519.bin");
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::with(1024 * 1024, &[key], EngineConfig::default());
    let out = dev.send(&start(&peer.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "1.2.3+4");
}

#[test]
fn an_ecdsa_p256_image_installs_with_its_key_and_a_padded_one_too() {
    let ecdsa =
        TrustedKey::from_pem(&String::from_utf8(fixture("keys/ecdsa-p256.pub.pem")).unwrap()).unwrap();
    let ed =
        TrustedKey::from_pem(&String::from_utf8(fixture("keys/trusted-ed25519.pub.pem")).unwrap()).unwrap();
    for file in ["images/signed-ecdsa-p256.bin", "images/signed-padded.bin"] {
        let image = fixture(file);
        let (_d, peer) = serve(&[("app.bin", &image)]);
        let (mut dev, _) = Dev::with(1024 * 1024, &[ecdsa.clone(), ed.clone()], EngineConfig::default());
        let out = dev.send(&start(&peer.url("app.bin")));
        assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{file}: {out:?}");
        finish_update(&mut dev, "1.2.3+4");
    }
}

#[test]
fn a_pure_ed25519_image_installs_after_its_second_pass_over_the_slot() {
    let key =
        TrustedKey::from_pem(&String::from_utf8(fixture("keys/trusted-ed25519.pub.pem")).unwrap()).unwrap();
    let image = fixture("images/signed-pure.bin");
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::with(1024 * 1024, &[key], EngineConfig::default());
    let out = dev.send(&start(&peer.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "1.2.3+4");
}

#[test]
fn cancel_then_the_same_url_resumes_with_range() {
    let image = app_image("2.1.0", 900 * KIB, 2);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let url = peer.url("app.bin");
    let mut sent = false;
    let out = dev.send_with(&start(&url), &mut |m, delivered, total| {
        if !sent && delivered * 2 >= total {
            sent = true;
            m.handle_input(b"AT#XFOTA=0\r").unwrap();
        }
        Step::Continue
    });
    assert!(out.contains("\r\n#XFOTA: 1,2,0\r\n\r\nOK\r\n"), "cancel: URC then OK: {out:?}");
    assert!(!out.contains("4,0"));
    assert_eq!(dev.send("AT#XFOTA=0"), "\r\nERROR\r\n", "nothing to cancel any more");
    let out = dev.send(&start(&url));
    let reqs = peer.requests();
    let last = reqs.last().unwrap();
    let range = last.range.as_deref().expect("the resume asks for a range");
    let from: u64 = range.strip_prefix("bytes=").unwrap().trim_end_matches('-').parse().unwrap();
    assert!(from >= 256 * 1024 && from.is_multiple_of(4096), "resumes at a checkpoint: {range}");
    assert_eq!(last.status, 206);
    assert!(progress(&out)[0] >= 25, "progress continues where it was: {out:?}");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "2.1.0");
}

#[test]
fn a_power_cut_mid_download_resumes_after_the_power_cycle() {
    let image = app_image("2.2.0", 3 * 300 * KIB, 3);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let url = peer.url("app.bin");
    let out = dev.send_with(&start(&url), &mut |_, delivered, total| {
        if delivered * 10 >= total * 7 { Step::PowerCut } else { Step::Continue }
    });
    assert!(out.ends_with("<POWER CUT>\r\nReady\r\n"), "{out:?}");
    assert_eq!(version(&mut dev), "1.0.0");
    let out = dev.send(&start(&url));
    let range = peer.requests().last().unwrap().range.clone().expect("resumed with a range");
    assert_ne!(range, "bytes=0-");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "2.2.0");
}

#[test]
fn a_different_url_starts_over() {
    let a = app_image("3.0.0", 900 * KIB, 4);
    let b = app_image("3.1.0", 900 * KIB, 5);
    let (_d, peer) = serve(&[("a.bin", &a), ("b.bin", &b)]);
    let (mut dev, _) = Dev::new();
    dev.send_with(&start(&peer.url("a.bin")), &mut |m, delivered, total| {
        if delivered * 2 >= total && delivered * 2 < total + 200_000 {
            m.handle_input(b"AT#XFOTA=0\r").unwrap();
        }
        Step::Continue
    });
    let out = dev.send(&start(&peer.url("b.bin")));
    assert_eq!(peer.requests().last().unwrap().range, None, "no range for another file");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "3.1.0");
}

#[test]
fn a_server_that_ignores_range_makes_the_device_start_over_correctly() {
    use axum::http::header;
    use axum::routing::get;
    let image = app_image("4.0.0", 900 * KIB, 6);
    let body = image.clone();
    let routes = axum::Router::new().route(
        "/plain.bin",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/octet-stream")], body) }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let peer = atfota_peers::HttpPeer::serve_dir_with(dir.path(), routes).unwrap();
    let (mut dev, _) = Dev::new();
    let url = peer.url("plain.bin");
    dev.send_with(&start(&url), &mut |_, delivered, total| {
        if delivered * 2 >= total { Step::PowerCut } else { Step::Continue }
    });
    let out = dev.send(&start(&url));
    let last = peer.requests().last().unwrap().clone();
    assert!(last.range.is_some() && last.status == 200, "asked for a range, got the whole file: {last:?}");
    assert!(progress(&out)[0] < 10, "progress restarts from the beginning: {out:?}");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "4.0.0");
}

#[test]
fn at_commands_during_a_download_do_not_disturb_it() {
    let image = app_image("5.0.0", 900 * KIB, 7);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let mut n = 0;
    let out = dev.send_with(&start(&peer.url("app.bin")), &mut |m, _, _| {
        n += 1;
        let cmd: &[u8] = match n % 4 {
            0 => b"AT+CGMR\r",
            1 => b"AT#XSLMVER\r",
            2 => b"ATI\r",
            _ => b"AT#XFOTA=?\r",
        };
        m.handle_input(cmd).unwrap();
        Step::Continue
    });
    assert!(n > 10);
    // Every response arrives whole: info lines directly followed by their OK.
    let l = lines(&out);
    for (i, line) in l.iter().enumerate() {
        if line.starts_with("#XSLMVER:") || *line == "mfw_nrf9160_1.3.5" && l[i - 1] != "nRF9160-SICA" {
            assert_eq!(l[i + 1], "OK", "response torn at line {i}: {l:?}");
        }
        if *line == "Nordic Semiconductor ASA" {
            assert_eq!(&l[i..i + 4], ["Nordic Semiconductor ASA", "nRF9160-SICA", "mfw_nrf9160_1.3.5", "OK"]);
        }
    }
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish_update(&mut dev, "5.0.0");
}

#[test]
fn redirects_are_followed() {
    let image = app_image("6.0.0", 200 * KIB, 8);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let out = dev.send(&start(&peer.url("redirect/3/app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    let out = dev.send("AT#XFOTA=8");
    assert_eq!(out, "\r\nOK\r\n", "erase discards the waiting image");
    let out = dev.send(&start(&peer.url("redirect/9/app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 1,1,1\r\n"), "too many redirects: {out:?}");
    assert_unchanged(&mut dev, "1.0.0", "after redirect loop");
}

#[test]
fn a_connection_cut_once_is_retried_and_resumed() {
    let image = app_image("7.0.0", 900 * KIB, 9);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(300_000), Fault::Pass]).unwrap();
    let (mut dev, _) = Dev::new();
    let out = dev.send(&start(&proxy.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    assert_eq!(proxy.connections(), 2);
    assert!(peer.requests()[1].range.is_some(), "the retry resumes with a range");
    finish_update(&mut dev, "7.0.0");
}

#[test]
fn a_connection_cut_every_time_fails_after_two_retries() {
    let image = app_image("7.1.0", 900 * KIB, 10);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(200_000)]).unwrap();
    let (mut dev, _) = Dev::new();
    let out = dev.send(&start(&proxy.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 1,1,1\r\n"), "{out:?}");
    assert_eq!(proxy.connections(), 3, "one attempt and two retries");
    assert_unchanged(&mut dev, "1.0.0", "after cuts");
}

#[test]
fn a_stalled_server_times_out() {
    let image = app_image("7.2.0", 400 * KIB, 11);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::StallAfter(100_000)]).unwrap();
    let (mut dev, _) = Dev::new();
    let out = dev.send(&start(&proxy.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 1,1,1\r\n"), "{out:?}");
    assert_eq!(proxy.connections(), 3);
    assert_unchanged(&mut dev, "1.0.0", "after stalls");
}

#[test]
fn http_errors_fail_the_download() {
    let (_d, peer) = serve(&[]);
    let (mut dev, _) = Dev::new();
    for path in ["missing.bin", "status/500", "status/416", "status/403"] {
        let out = dev.send(&start(&peer.url(path)));
        assert_eq!(out, "\r\nOK\r\n\r\n#XFOTA: 1,1,1\r\n", "{path}");
    }
    assert_unchanged(&mut dev, "1.0.0", "after HTTP errors");
}

#[test]
fn a_new_image_that_fails_its_self_test_is_reverted() {
    let image = app_image("8.0.0", 300 * KIB, 12);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) =
        Dev::with(1024 * 1024, &[], EngineConfig { fail_self_test: true, ..EngineConfig::default() });
    let out = dev.send(&start(&peer.url("app.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    let out = dev.send("AT#XRESET");
    assert_eq!(
        out, "\r\nOK\r\n\r\nReady\r\n\r\nReady\r\n\r\n#XFOTA: 5,3\r\n",
        "Ready, watchdog, Ready, reverted"
    );
    assert_eq!(version(&mut dev), "1.0.0");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n");
    assert_eq!(version(&mut dev), "1.0.0");
}
