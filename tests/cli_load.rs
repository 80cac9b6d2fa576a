//! The AT port under load during a download at full speed: 10,000 commands
//! (`AT`, `AT#XSLMVER`, invalid commands, and 64 KiB of random bytes cut into
//! lines between them) pipelined into the binary's stdio while a 16 MiB image
//! downloads. Every command gets its answer, in order; every URC arrives
//! whole; the image is bit-exact (it verifies and installs).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use atfota_peers::HttpPeer;
use common::{app_image, exe};

/// One thing sent, and the response lines it must produce.
enum Item {
    At,
    Version,
    Invalid,
    Junk(Vec<u8>),
}

#[test]
fn ten_thousand_commands_during_a_download_are_all_answered_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let image = app_image("2.0.0", 16 * 1024 * 1024);
    std::fs::write(tmp.path().join("big.bin"), &image).unwrap();
    let peer = HttpPeer::serve_dir(tmp.path()).unwrap();
    let data = tmp.path().join("dev");
    let mut child = Command::new(exe())
        .args(["modem", "--listen", "stdio", "--slot-size", "17M", "--data"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { return };
            let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
            if !text.is_empty() && tx.send(text).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("waiting for {what}"))
    };
    assert_eq!(next("Ready"), "Ready");

    // The items: 10,000 commands, with 64 KiB of random bytes spread over 64 junk lines.
    let mut rng = fastrand::Rng::with_seed(42);
    let mut items = Vec::new();
    for i in 0..10_000 {
        items.push(match rng.u32(0..3) {
            0 => Item::At,
            1 => Item::Version,
            _ => Item::Invalid,
        });
        if i % 156 == 0 && items.iter().filter(|x| matches!(x, Item::Junk(_))).count() < 64 {
            // 1 KiB of random bytes, no line ending inside, not blank: one refused line.
            let junk: Vec<u8> = (0..1024)
                .map(|_| {
                    loop {
                        let b = rng.u8(..);
                        if b != b'\r' && b != b'\n' {
                            break b;
                        }
                    }
                })
                .collect();
            items.push(Item::Junk(junk));
        }
    }
    let mut wire = format!("AT#XFOTA=1,\"{}\"\r", peer.url("big.bin")).into_bytes();
    for item in &items {
        match item {
            Item::At => wire.extend_from_slice(b"AT\r"),
            Item::Version => wire.extend_from_slice(b"AT#XSLMVER\r"),
            Item::Invalid => wire.extend_from_slice(b"AT+NOSUCH=1\r"),
            Item::Junk(j) => {
                wire.extend_from_slice(j);
                wire.push(b'\r');
            }
        }
    }
    let junk_bytes: usize = items.iter().map(|i| if let Item::Junk(j) = i { j.len() } else { 0 }).sum();
    let writer = std::thread::spawn(move || {
        // Paced (a chunk per millisecond, ~0.3 s in all) so that the commands span the
        // download instead of all being answered before its first bytes arrive.
        for chunk in wire.chunks(509) {
            stdin.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        stdin
    });

    // The first answer is the download's OK; then each item's, in order, with URCs anywhere.
    let started = Instant::now();
    let mut urcs = Vec::new();
    let answer = |urcs: &mut Vec<String>, want: &str| loop {
        let line = next(want);
        if line.starts_with("#XFOTA:") {
            urcs.push(line);
            continue;
        }
        assert_eq!(line, want, "answer out of order (URCs so far: {})", urcs.len());
        return;
    };
    answer(&mut urcs, "OK");
    let before = urcs.len();
    for item in &items {
        match item {
            Item::At => answer(&mut urcs, "OK"),
            Item::Version => {
                answer(&mut urcs, "#XSLMVER: \"1.0.0\",\"mfw_nrf9160_1.3.5\"");
                answer(&mut urcs, "OK");
            }
            Item::Invalid | Item::Junk(_) => answer(&mut urcs, "ERROR"),
        }
    }
    // The commands really were answered while the image was downloading: progress URCs
    // arrived between their answers.
    let during = urcs[before..].iter().filter(|u| u.starts_with("#XFOTA: 1,0,")).count();
    assert!(
        during >= 2,
        "the download did not overlap the commands ({during} progress URCs between the answers: {urcs:?})"
    );
    let stdin = writer.join().unwrap();
    while !urcs.iter().any(|u| u == "#XFOTA: 4,0") {
        let line = next("#XFOTA: 4,0");
        assert!(line.starts_with("#XFOTA:"), "nothing but URCs is left: {line:?}");
        urcs.push(line);
    }
    // Every URC whole: progress rising to 100, then 4,0.
    let progress: Vec<u32> =
        urcs.iter().filter_map(|u| u.strip_prefix("#XFOTA: 1,0,")).map(|p| p.parse().unwrap()).collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress.last() == Some(&100), "{urcs:?}");
    assert_eq!(urcs.len(), progress.len() + 1, "only progress and 4,0: {urcs:?}");
    println!(
        "{} commands and {junk_bytes} random bytes answered in order during a 16 MiB download \
         ({during} of {} URCs between the answers) in {:?}",
        items.len(),
        urcs.len(),
        started.elapsed()
    );
    // The image is bit-exact: it verified (4,0), and installs.
    let mut stdin = stdin;
    stdin.write_all(b"AT#XRESET\r").unwrap();
    assert_eq!(next("OK"), "OK");
    assert_eq!(next("Ready"), "Ready");
    assert_eq!(next("5,0"), "#XFOTA: 5,0");
    drop(stdin);
    child.wait().unwrap();
}
