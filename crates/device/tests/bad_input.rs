//! Bad input gets a clear error and changes nothing: the table, one
//! row per case, each followed by proof that the device still runs its old
//! firmware, answers AT, and has nothing scheduled.

mod common;

use atfota_peers::{Fault, FaultProxy};
use common::{Dev, Step, answer, app_image, assert_unchanged, fixture, lines, serve};

/// What a row expects after `OK` (or instead of it).
enum Expect {
    /// The command itself answers `ERROR`.
    Error,
    /// The command answers `OK`, the download ends with this URC.
    Urc(&'static str),
}

#[test]
fn the_bad_input_table() {
    let good = app_image("2.0.0", 300 * 1024, 1);
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let oversized = app_image("2.0.0", 1100 * 1024, 2); // more than the 1 MiB slot
    let mut claims_too_much = good.clone();
    claims_too_much[12..16].copy_from_slice(&(2u32 << 20).to_le_bytes()); // img_size: 2 MiB
    let mut full_modem = vec![0xd2, 0x84];
    full_modem.extend(std::iter::repeat_n(0x5a, 5000));
    let mut modem_delta = vec![0u8; 4];
    modem_delta.extend_from_slice(&0x7544_656du32.to_le_bytes());
    modem_delta.extend(std::iter::repeat_n(0xa5, 5000));
    let random: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("good.bin", good.clone()),
        ("truncated.bin", truncated),
        ("bad-hash.bin", fixture("images/bad-hash.bin")),
        ("untrusted.bin", fixture("images/signed-untrusted.bin")),
        ("unsigned.bin", fixture("images/unsigned.bin")),
        ("pure.bin", fixture("images/signed-pure.bin")),
        ("modem-full.bin", full_modem),
        ("modem-delta.bin", modem_delta),
        ("oversized.bin", oversized),
        ("claims-too-much.bin", claims_too_much),
        ("random.bin", random),
        ("empty.bin", Vec::new()),
        ("tiny.bin", vec![0x3d, 0xb8]),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let (_d, peer) = serve(&refs);
    let cut = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(100_000)]).unwrap();
    let lie_more =
        FaultProxy::start(peer.addr(), vec![Fault::RewriteContentLength(good.len() as u64 + 5000)]).unwrap();
    let lie_less =
        FaultProxy::start(peer.addr(), vec![Fault::RewriteContentLength(good.len() as u64 - 5000)]).unwrap();
    let url = |p: &str| peer.url(p);
    let long_url = format!("http://127.0.0.1/{}", "a".repeat(250));

    let rows: Vec<(&str, String, Expect)> = vec![
        ("unknown op", "AT#XFOTA=3".into(), Expect::Error),
        ("negative op", "AT#XFOTA=-1".into(), Expect::Error),
        ("op 1 without URL", "AT#XFOTA=1".into(), Expect::Error),
        ("op 1 with an empty URL", "AT#XFOTA=1,\"\"".into(), Expect::Error),
        ("URL with another scheme", "AT#XFOTA=1,\"ftp://127.0.0.1/good.bin\"".into(), Expect::Error),
        ("URL without host", "AT#XFOTA=1,\"http:///good.bin\"".into(), Expect::Error),
        ("URL without path", "AT#XFOTA=1,\"http://127.0.0.1\"".into(), Expect::Error),
        ("URL with only /", "AT#XFOTA=1,\"http://127.0.0.1/\"".into(), Expect::Error),
        ("https without sec_tag", "AT#XFOTA=1,\"https://127.0.0.1/good.bin\"".into(), Expect::Error),
        (
            "https with a sec_tag holding no CA",
            "AT#XFOTA=1,\"https://127.0.0.1/good.bin\",42".into(),
            Expect::Urc("#XFOTA: 1,1,1"),
        ),
        ("URL longer than 255 bytes", format!("AT#XFOTA=1,\"{long_url}\""), Expect::Error),
        ("unterminated quote", "AT#XFOTA=1,\"http://127.0.0.1/good.bin".into(), Expect::Error),
        ("unquoted URL", "AT#XFOTA=1,http://127.0.0.1/good.bin".into(), Expect::Error),
        ("sec_tag not a number", "AT#XFOTA=1,\"http://127.0.0.1/good.bin\",\"x\"".into(), Expect::Error),
        ("too many parameters", "AT#XFOTA=1,\"http://127.0.0.1/a.bin\",1,\"apn\",5".into(), Expect::Error),
        ("op 0 with nothing running", "AT#XFOTA=0".into(), Expect::Error),
        ("op 0 with a parameter", "AT#XFOTA=0,1".into(), Expect::Error),
        (
            "op 2 with an application image",
            format!("AT#XFOTA=2,\"{}\"", url("good.bin")),
            Expect::Urc("#XFOTA: 1,1,3"),
        ),
        ("truncated image", format!("AT#XFOTA=1,\"{}\"", url("truncated.bin")), Expect::Urc("#XFOTA: 1,1,2")),
        (
            "image with a bad hash",
            format!("AT#XFOTA=1,\"{}\"", url("bad-hash.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        (
            "image signed by an untrusted key",
            format!("AT#XFOTA=1,\"{}\"", url("untrusted.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        ("unsigned image", format!("AT#XFOTA=1,\"{}\"", url("unsigned.bin")), Expect::Urc("#XFOTA: 1,1,2")),
        (
            "unsupported signature (--pure)",
            format!("AT#XFOTA=1,\"{}\"", url("pure.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        (
            "full modem image for op 1",
            format!("AT#XFOTA=1,\"{}\"", url("modem-full.bin")),
            Expect::Urc("#XFOTA: 1,1,3"),
        ),
        (
            "modem delta for op 1",
            format!("AT#XFOTA=1,\"{}\"", url("modem-delta.bin")),
            Expect::Urc("#XFOTA: 1,1,3"),
        ),
        (
            "image larger than the slot",
            format!("AT#XFOTA=1,\"{}\"", url("oversized.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        (
            "header claims more than the slot",
            format!("AT#XFOTA=1,\"{}\"", url("claims-too-much.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        ("unknown image type", format!("AT#XFOTA=1,\"{}\"", url("random.bin")), Expect::Urc("#XFOTA: 1,1,2")),
        ("empty file", format!("AT#XFOTA=1,\"{}\"", url("empty.bin")), Expect::Urc("#XFOTA: 1,1,2")),
        (
            "file shorter than a type signature",
            format!("AT#XFOTA=1,\"{}\"", url("tiny.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        ("missing file", format!("AT#XFOTA=1,\"{}\"", url("nope.bin")), Expect::Urc("#XFOTA: 1,1,1")),
        (
            "server closes mid-body",
            format!("AT#XFOTA=1,\"{}\"", cut.url("good.bin")),
            Expect::Urc("#XFOTA: 1,1,1"),
        ),
        (
            "Content-Length larger than the body",
            format!("AT#XFOTA=1,\"{}\"", lie_more.url("good.bin")),
            Expect::Urc("#XFOTA: 1,1,1"),
        ),
        (
            "Content-Length smaller than the body",
            format!("AT#XFOTA=1,\"{}\"", lie_less.url("good.bin")),
            Expect::Urc("#XFOTA: 1,1,2"),
        ),
        (
            "nobody listening",
            "AT#XFOTA=1,\"http://127.0.0.1:1/good.bin\"".into(),
            Expect::Urc("#XFOTA: 1,1,1"),
        ),
    ];

    let (mut dev, _) = Dev::new();
    for (what, cmd, expect) in &rows {
        let out = dev.send(cmd);
        match expect {
            Expect::Error => assert_eq!(out, "\r\nERROR\r\n", "{what}: {cmd}"),
            Expect::Urc(urc) => {
                let l = lines(&out);
                assert_eq!(l.first(), Some(&"OK"), "{what}: {out:?}");
                assert_eq!(l.last(), Some(urc), "{what}: {out:?}");
                assert!(!out.contains("4,0"), "{what}: never scheduled");
            }
        }
        assert_unchanged(&mut dev, "1.0.0", what);
    }
    // After all of that, a good image still installs.
    let out = dev.send(&format!("AT#XFOTA=1,\"{}\"", url("good.bin")));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    println!("{} bad inputs refused, device unchanged after each", rows.len());
}

#[test]
fn commands_that_need_an_idle_engine_are_refused_during_a_download() {
    let image = app_image("2.0.0", 900 * 1024, 3);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let (mut dev, _) = Dev::new();
    let mut answers = Vec::new();
    let mut n = 0;
    let out = dev.send_with(&format!("AT#XFOTA=1,\"{}\"", peer.url("app.bin")), &mut |m, _, _| {
        n += 1;
        if n == 3 {
            for cmd in ["AT#XFOTA=1,\"http://127.0.0.1/other.bin\"", "AT#XFOTA=8", "AT#XFOTA=9"] {
                answers.push(answer(m, cmd));
            }
        }
        Step::Continue
    });
    for a in &answers {
        assert!(a.ends_with("\r\nERROR\r\n"), "{answers:?}");
    }
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "the running download was not disturbed: {out:?}");
    // Erasing the waiting image discards it: a reset then installs nothing.
    assert_eq!(dev.send("AT#XFOTA=8"), "\r\nOK\r\n");
    assert_unchanged(&mut dev, "1.0.0", "after erasing the waiting image");
}
