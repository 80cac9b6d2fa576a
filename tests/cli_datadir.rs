//! The data directory under misuse, through the binary: two processes on one
//! device, and a process killed at random moments while it creates a device.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Modem, exe};

#[test]
fn a_second_process_on_the_same_device_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dev");
    let mut first = Modem::start(&data, &[]);
    let started = Instant::now();
    let out = Command::new(exe()).args(["modem", "--data"]).arg(&data).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "the second process must not run");
    assert!(started.elapsed() < Duration::from_secs(5), "refused at once");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{} is in use by another atfota", data.display())), "{err}");
    assert!(err.contains(&format!("(process {})", first.child.id())), "names the other process: {err}");
    // The first one is undisturbed, and once it is gone (even by SIGKILL) the device opens again.
    first.ok("AT");
    first.kill();
    let m = Modem::start(&data, &[]);
    m.stop();
}

/// Kills `atfota modem` 0–50 ms after it starts on an empty directory, then
/// starts it again: every next start must reach the banner. The kills land
/// before, during and after the device's creation.
#[test]
fn a_kill_while_creating_a_device_never_leaves_one_that_cannot_start() {
    let kills: u32 = std::env::var("ATFOTA_CREATE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut created_before_kill = 0;
    for i in 0..kills {
        let data = tmp.path().join(format!("d{i}"));
        let mut child = Command::new(exe())
            .args(["modem", "--listen", "stdio", "--data"])
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.u64(0..50_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        created_before_kill += u32::from(data.join("device.toml").exists());
        let m = Modem::start(&data, &[]);
        m.stop();
        let _ = std::fs::remove_dir_all(&data);
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".creating"))
        .collect();
    assert!(leftovers.is_empty(), "no staging directory is left behind: {leftovers:?}");
    println!(
        "{kills} kills while creating a device: {created_before_kill} after the device was complete, every next start reached the banner"
    );
}
