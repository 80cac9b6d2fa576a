//! What the host was told is durable: the flash is synced (on a file:
//! `fdatasync`) after the last byte of a download and before `#XFOTA: 4,0`
//! (and the NL668's `GTOTA DOWNLOAD COMPLETE`), after a new image confirms
//! itself, and before a result URC is forgotten — so a host OS crash loses
//! nothing the host heard about. Checked with a flash that records, for each
//! sync, how many writes and erases came before it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use atfota_device::{DeviceConfig, Modem, Next, layout_for, provision};
use atfota_fota::{Conditions, EngineConfig, ProfileKind};
use atfota_storage::{FlashError, Geometry, NorFlash, SimFlash};
use common::{poll_text, run_transfer};

/// A SimFlash that notes the number of mutating operations at every sync.
struct Recording {
    inner: SimFlash,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    ops: u64,
    syncs: Vec<u64>,
}

impl NorFlash for Recording {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.inner.read(offset, buf)
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.log.lock().unwrap().ops += 1;
        self.inner.write(offset, data)
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.log.lock().unwrap().ops += 1;
        self.inner.erase(offset, len)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        let mut l = self.log.lock().unwrap();
        let ops = l.ops;
        l.syncs.push(ops);
        Ok(())
    }
}

/// The operations count now, and whether the last sync came after every operation so far.
fn synced_up_to_now(log: &Arc<Mutex<Log>>) -> bool {
    let l = log.lock().unwrap();
    l.syncs.last() == Some(&l.ops)
}

#[test]
fn every_acknowledged_point_is_synced() {
    let image = atfota_device::application_image("durable", "2.0.0".parse().unwrap(), 100 * 1024).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.bin"), &image).unwrap();
    let peer = atfota_peers::HttpPeer::serve_dir(dir.path()).unwrap();
    for profile in [ProfileKind::Nrf9160Slm, ProfileKind::Nl668] {
        let cfg = DeviceConfig::for_new_device(profile, 1024 * 1024, None).unwrap();
        let layout = layout_for(&cfg).unwrap();
        let mut sim = SimFlash::new(Geometry::new(4096, 4, layout.capacity()).unwrap());
        provision(&mut sim, &layout, profile).unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let flash = Recording { inner: sim, log: Arc::clone(&log) };
        let mut m =
            Modem::power_on_with(flash, layout, profile, EngineConfig::default(), Conditions::default())
                .unwrap();
        poll_text(&mut m, true);
        let cmd = match profile {
            ProfileKind::Nrf9160Slm => format!("AT#XFOTA=1,\"{}\"\r", peer.url("app.bin")),
            _ => format!("ATE0\rAT+GTOTA=0,\"{}\"\r", peer.url("app.bin")),
        };
        m.handle_input(cmd.as_bytes()).unwrap();
        let (_, mut asked) = poll_text(&mut m, true);
        let mut complete_was_synced = None;
        run_transfer(&mut m, asked.pop().expect("a transfer"));
        // The first output after the transfer: 4,0, or COMPLETE before the install reboot.
        let Some(Next::Write { bytes, end }) = m.poll(Instant::now()).unwrap() else { panic!("no output") };
        let out = String::from_utf8(bytes).unwrap();
        match profile {
            ProfileKind::Nrf9160Slm => {
                assert!(out.ends_with("#XFOTA: 4,0\r\n"), "{out:?}");
                assert!(synced_up_to_now(&log), "4,0 goes out with every write before it synced");
                m.written(end);
                m.handle_input(b"AT#XRESET\r").unwrap();
            }
            _ => {
                assert!(out.contains("GTOTA DOWNLOAD COMPLETE"), "{out:?}");
                complete_was_synced = Some(log.lock().unwrap().syncs.len() >= 2);
                m.written(end);
            }
        }
        let before_boot = log.lock().unwrap().syncs.len();
        // The reboot: swap, self-test and confirm; the confirm is synced before the result URC goes out.
        let (out, _) = poll_text(&mut m, false);
        assert!(out.contains("#XFOTA: 5,0") || out.contains("GTOTA UPGRADE SUCCESS"), "{profile}: {out:?}");
        assert!(log.lock().unwrap().syncs.len() > before_boot, "{profile}: the confirm was synced");
        // Forgetting the result (once the host has it): synced first.
        let syncs = log.lock().unwrap().syncs.len();
        poll_text(&mut m, true);
        m.written(u64::MAX);
        assert!(log.lock().unwrap().syncs.len() > syncs, "{profile}: synced before the result is forgotten");
        if let Some(done) = complete_was_synced {
            assert!(done, "{profile}: COMPLETE came after the image was synced");
        }
    }
}
