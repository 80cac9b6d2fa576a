//! Power-cut proof of the swap, MCUboot-simulator style: count every flash
//! operation of an upgrade (and of a revert), then for every k cut the power
//! before operation k — cleanly, and again tearing operation k — boot again
//! to completion, and check both images byte for byte and the boot state.
//! Plus seeded random runs with several cuts each.

use atfota_boot::{BootAction, Bootloader, Recovery, SwapState};
use atfota_storage::{CutMode, FlashError, Geometry, Layout, LayoutSpec, Partition, SimFlash};

/// One test world: geometry, images, and the bootloader over them.
struct World {
    geometry: Geometry,
    layout: Layout,
    boot: Bootloader,
    old: Vec<u8>,
    new: Vec<u8>,
}

impl World {
    fn new(sector: u32, write: u32, slot: u32, old_len: usize, new_len: usize, seed: u64) -> Self {
        let g0 = Geometry::new(sector, write, sector).unwrap();
        let spec = LayoutSpec {
            slot_size: slot,
            boot_state_size: Bootloader::state_size(g0, slot),
            settings_size: 2 * sector,
        };
        let layout = Layout::new(sector, &spec).unwrap();
        let geometry = Geometry::new(sector, write, layout.capacity()).unwrap();
        let boot = Bootloader::new(geometry, layout).unwrap();
        let mut rng = fastrand::Rng::with_seed(seed);
        let old = (0..old_len).map(|_| rng.u8(..)).collect();
        let new = (0..new_len).map(|_| rng.u8(..)).collect();
        Self { geometry, layout, boot, old, new }
    }

    /// Flash with the old image running and the new one requested.
    fn requested(&self) -> SimFlash {
        let mut f = SimFlash::new(self.geometry);
        write_padded(&mut f, &self.layout.primary, &self.old, self.geometry.write_size);
        write_padded(&mut f, &self.layout.secondary, &self.new, self.geometry.write_size);
        let pages = self.boot.pages_for(self.new.len() as u64, Some(self.old.len() as u64));
        self.boot.request_upgrade(&mut f, pages, false).unwrap();
        f
    }

    /// The validator the bootloader is given: a slot is valid when it
    /// starts with one of the two images (a stand-in for hash and signature).
    fn boot_once(&self, f: &mut SimFlash) -> Result<atfota_boot::BootReport, atfota_boot::BootError> {
        let images = [self.new.clone(), self.old.clone()];
        self.boot.boot(f, &mut |flash: &mut SimFlash, part: &Partition| {
            for want in &images {
                let mut got = vec![0u8; want.len()];
                part.read(flash, 0, &mut got).map_err(|e| e.to_string())?;
                if &got == want {
                    return Ok(want.len() as u64);
                }
            }
            Err("no known image".into())
        })
    }

    /// Boots until a boot completes, restoring power after each cut.
    fn boot_to_completion(&self, f: &mut SimFlash) -> atfota_boot::BootReport {
        for _ in 0..16 {
            match self.boot_once(f) {
                Ok(r) => return r,
                Err(atfota_boot::BootError::Flash(FlashError::PowerLost)) => f.restore_power(),
                Err(e) => panic!("boot failed: {e}"),
            }
        }
        panic!("boot never completed");
    }

    fn assert_swapped(&self, f: &mut SimFlash, ctx: &str) {
        let page = self.geometry.sector_size;
        assert_eq!(read(f, &self.layout.primary, 0, self.new.len()), self.new, "{ctx}: primary != new");
        assert_eq!(
            read(f, &self.layout.secondary, page, self.old.len()),
            self.old,
            "{ctx}: secondary != old"
        );
    }

    fn assert_reverted(&self, f: &mut SimFlash, ctx: &str) {
        assert_eq!(read(f, &self.layout.primary, 0, self.old.len()), self.old, "{ctx}: primary != old");
        assert_eq!(read(f, &self.layout.secondary, 0, self.new.len()), self.new, "{ctx}: secondary != new");
    }
}

fn write_padded(f: &mut SimFlash, part: &Partition, data: &[u8], unit: u32) {
    let mut d = data.to_vec();
    d.resize(d.len().div_ceil(unit as usize) * unit as usize, 0xff);
    part.write(f, 0, &d).unwrap();
}

fn read(f: &mut SimFlash, part: &Partition, off: u32, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    part.read(f, off, &mut v).unwrap();
    v
}

/// Every geometry and image-size pair the proofs run on: sizes that are and
/// are not multiples of the sector, new larger and smaller than old.
fn worlds() -> Vec<(String, World)> {
    const K: u32 = 1024;
    const KU: usize = 1024;
    vec![
        ("4K/4 new>old unaligned".into(), World::new(4 * K, 4, 32 * K, 9_000, 18_333, 1)),
        ("4K/4 new<old aligned".into(), World::new(4 * K, 4, 32 * K, 16 * KU, 8 * KU, 2)),
        ("128K/16 new>old unaligned".into(), World::new(128 * K, 16, 512 * K, 150_001, 300_017, 3)),
        ("128K/16 new<old aligned".into(), World::new(128 * K, 16, 512 * K, 256 * KU, 128 * KU, 4)),
        ("4K/4 25 pages".into(), World::new(4 * K, 4, 128 * K, 61_111, 100_003, 5)),
    ]
}

/// Number of flash operations from `f`'s current count until a boot completes.
fn ops_of(w: &World, mut f: SimFlash, step: impl Fn(&World, &mut SimFlash)) -> u64 {
    let before = f.ops();
    step(w, &mut f);
    f.ops() - before
}

#[test]
fn every_cut_during_the_swap_ends_in_the_new_image_on_trial() {
    let mut tried = 0;
    for (name, w) in worlds() {
        let n = ops_of(&w, w.requested(), |w, f| {
            w.boot_to_completion(f);
        });
        for mode in [CutMode::Clean, CutMode::Tear] {
            for k in 1..=n {
                let mut f = w.requested();
                f.cut_before(f.ops() + k, mode, k);
                let r = w.boot_to_completion(&mut f);
                let ctx = format!("{name} {mode:?} cut before swap op {k}/{n}");
                assert!(matches!(r.state, SwapState::Testing { .. }), "{ctx}: state {:?}", r.state);
                w.assert_swapped(&mut f, &ctx);
                tried += 1;
            }
        }
        // The happy path: confirm makes it permanent; further boots do nothing.
        let mut f = w.requested();
        assert_eq!(w.boot_to_completion(&mut f).action, BootAction::Swapped { permanent: false });
        w.boot.confirm(&mut f).unwrap();
        let r = w.boot_to_completion(&mut f);
        assert_eq!(r.action, BootAction::None);
        assert!(matches!(r.state, SwapState::Confirmed { .. }), "{name}: {:?}", r.state);
        w.assert_swapped(&mut f, name.as_str());
    }
    println!("swap: {tried} interruption points tried, 0 failures");
}

#[test]
fn every_cut_during_the_revert_ends_in_the_old_image() {
    let mut tried = 0;
    for (name, w) in worlds() {
        let trial = |w: &World| {
            let mut f = w.requested();
            w.boot_to_completion(&mut f);
            f
        };
        let n = ops_of(&w, trial(&w), |w, f| {
            w.boot_to_completion(f);
        });
        for mode in [CutMode::Clean, CutMode::Tear] {
            for k in 1..=n {
                let mut f = trial(&w);
                f.cut_before(f.ops() + k, mode, k);
                let r = w.boot_to_completion(&mut f);
                let ctx = format!("{name} {mode:?} cut before revert op {k}/{n}");
                assert!(matches!(r.state, SwapState::Reverted { .. }), "{ctx}: state {:?}", r.state);
                w.assert_reverted(&mut f, &ctx);
                // A reverted device stays reverted.
                let again = w.boot_to_completion(&mut f);
                assert_eq!(again.action, BootAction::None, "{ctx}");
                tried += 1;
            }
        }
    }
    println!("revert: {tried} interruption points tried, 0 failures");
}

#[test]
fn a_cut_during_the_revert_of_a_cut_upgrade_still_ends_in_the_old_image() {
    let mut tried = 0;
    for (name, w) in worlds() {
        let n_swap = ops_of(&w, w.requested(), |w, f| {
            w.boot_to_completion(f);
        });
        // Every swap cut point, each combined with a spread of revert cut points.
        for k1 in 1..=n_swap {
            let mut f = w.requested();
            f.cut_before(f.ops() + k1, CutMode::Tear, k1);
            w.boot_to_completion(&mut f);
            // A fresh simulator over the same bytes counts the revert's operations from 1.
            let mut probe = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
            w.boot_to_completion(&mut probe);
            let n_revert = probe.ops();
            for k2 in (1..=n_revert).step_by(((n_revert / 7).max(1)) as usize) {
                let mut g = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
                g.cut_before(g.ops() + k2, CutMode::Tear, k1 * 1000 + k2);
                let r = w.boot_to_completion(&mut g);
                let ctx = format!("{name}: swap cut {k1}/{n_swap}, revert cut {k2}/{n_revert}");
                assert!(matches!(r.state, SwapState::Reverted { .. }), "{ctx}: {:?}", r.state);
                w.assert_reverted(&mut g, &ctx);
                tried += 1;
            }
        }
    }
    println!("cut swap then cut revert: {tried} combinations tried, 0 failures");
}

#[test]
fn random_multi_cut_runs() {
    let runs = 1000;
    let worlds = worlds();
    for seed in 0..runs {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (name, w) = &worlds[rng.usize(..worlds.len())];
        let mut f = w.requested();
        let cuts = rng.u32(1..=5);
        let confirm = rng.bool();
        let ctx = format!("{name} seed {seed} ({cuts} cuts, confirm {confirm})");
        for c in 0..cuts {
            f.cut_before(
                f.ops() + rng.u64(1..60),
                if rng.bool() { CutMode::Tear } else { CutMode::Clean },
                seed * 10 + u64::from(c),
            );
            match w.boot_once(&mut f) {
                Ok(_) | Err(atfota_boot::BootError::Flash(FlashError::PowerLost)) => {}
                Err(e) => panic!("{ctx}: cut {c}: boot failed: {e}"),
            }
            f.restore_power();
        }
        let r = w.boot_to_completion(&mut f);
        match r.state {
            SwapState::Testing { .. } => {
                w.assert_swapped(&mut f, &ctx);
                if confirm {
                    w.boot.confirm(&mut f).unwrap();
                    w.boot_to_completion(&mut f);
                    w.assert_swapped(&mut f, &ctx);
                } else {
                    let r = w.boot_to_completion(&mut f);
                    assert!(matches!(r.state, SwapState::Reverted { .. }), "{ctx}: {:?}", r.state);
                    w.assert_reverted(&mut f, &ctx);
                }
            }
            SwapState::Reverted { .. } => w.assert_reverted(&mut f, &ctx),
            other => panic!("{ctx}: ended in {other:?}"),
        }
    }
    println!("random: {runs} runs of up to 5 cuts, 0 failures");
}

#[test]
fn a_rejected_image_moves_nothing() {
    let (_, w) = worlds().remove(0);
    let mut f = w.requested();
    let r =
        w.boot.boot(&mut f, &mut |_: &mut SimFlash, _: &Partition| Err("bad signature".to_string())).unwrap();
    assert_eq!(r.action, BootAction::Rejected { reason: "bad signature".into() });
    assert_eq!(r.state, SwapState::Rejected);
    assert_eq!(read(&mut f, &w.layout.primary, 0, w.old.len()), w.old);
    assert_eq!(read(&mut f, &w.layout.secondary, 0, w.new.len()), w.new);
}

#[test]
fn a_permanent_install_is_never_reverted() {
    let (_, w) = worlds().remove(0);
    let mut f = w.requested();
    let pages = w.boot.pages_for(w.new.len() as u64, Some(w.old.len() as u64));
    w.boot.request_upgrade(&mut f, pages, true).unwrap();
    let r = w.boot_to_completion(&mut f);
    assert_eq!(r.action, BootAction::Swapped { permanent: true });
    assert!(matches!(r.state, SwapState::Confirmed { .. }));
    for _ in 0..3 {
        assert_eq!(w.boot_to_completion(&mut f).action, BootAction::None);
    }
    w.assert_swapped(&mut f, "permanent");
}

#[test]
fn the_secondary_is_protected_while_a_revert_is_possible() {
    let (_, w) = worlds().remove(0);
    let mut f = w.requested();
    w.boot_to_completion(&mut f);
    let st = w.boot.state(&mut f).unwrap();
    assert!(st.protects_secondary());
    assert!(matches!(w.boot.cancel_request(&mut f), Err(atfota_boot::BootError::Busy(_))));
    assert!(matches!(w.boot.request_upgrade(&mut f, 1, false), Err(atfota_boot::BootError::Busy(_))));
    w.assert_swapped(&mut f, "after refused requests");
}

/// Overwrites the start of the primary slot with garbage.
fn corrupt_primary(w: &World, f: &mut SimFlash) {
    w.layout.primary.erase(f, 0, w.geometry.sector_size).unwrap();
    w.layout.primary.write(f, 0, &vec![0x5a; w.geometry.sector_size as usize]).unwrap();
}

#[test]
fn an_invalid_primary_gets_the_previous_image_back() {
    let mut tried = 0;
    for (name, w) in worlds() {
        // Upgrade confirmed: the old image sits one page up in the secondary slot.
        let mut f = w.requested();
        w.boot_to_completion(&mut f);
        w.boot.confirm(&mut f).unwrap();
        corrupt_primary(&w, &mut f);
        let n = ops_of(&w, SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap(), |w, f| {
            w.boot_to_completion(f);
        });
        for k in 1..=n {
            let mut g = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
            g.cut_before(k, CutMode::Tear, k);
            let r = w.boot_to_completion(&mut g);
            let ctx = format!("{name}: cut {k}/{n} of the recovery");
            assert!(r.primary_valid, "{ctx}: {r:?}");
            let old = read(&mut g, &w.layout.primary, 0, w.old.len()) == w.old;
            let new = read(&mut g, &w.layout.primary, 0, w.new.len()) == w.new;
            assert!(old || new, "{ctx}: primary holds neither image");
            tried += 1;
        }
        // Without cuts: the previous image comes back — unless the new image
        // fits in one page, whose leftover copy at the start of the secondary
        // slot is then itself complete and valid, and is installed instead.
        let mut g = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
        let r = w.boot_to_completion(&mut g);
        let one_page = w.new.len() as u32 <= w.geometry.sector_size;
        let want = if one_page { Recovery::InstalledSecondary } else { Recovery::RestoredPrevious };
        assert_eq!(r.recovery, Some(want), "{name}");
    }
    println!("recovery of the previous image: {tried} torn interruption points tried, 0 failures");
}

#[test]
fn an_invalid_primary_gets_a_valid_downloaded_image_installed() {
    let mut tried = 0;
    for (name, w) in worlds() {
        let mut f = w.requested();
        w.boot.cancel_request(&mut f).unwrap();
        corrupt_primary(&w, &mut f);
        let n = ops_of(&w, SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap(), |w, f| {
            w.boot_to_completion(f);
        });
        for k in 1..=n {
            let mut g = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
            g.cut_before(k, CutMode::Tear, k);
            let r = w.boot_to_completion(&mut g);
            assert!(r.primary_valid, "{name}: cut {k}/{n}: {r:?}");
            assert_eq!(read(&mut g, &w.layout.primary, 0, w.new.len()), w.new, "{name}: cut {k}/{n}");
            tried += 1;
        }
        let mut g = SimFlash::from_image(w.geometry, f.data().to_vec()).unwrap();
        let r = w.boot_to_completion(&mut g);
        assert_eq!(r.recovery, Some(Recovery::InstalledSecondary), "{name}");
        assert!(matches!(r.state, SwapState::Confirmed { .. }), "{name}: {:?}", r.state);
    }
    println!("recovery from a downloaded image: {tried} torn interruption points tried, 0 failures");
}

#[test]
fn nothing_valid_anywhere_still_boots_and_says_so() {
    let (_, w) = worlds().remove(0);
    let mut f = SimFlash::new(w.geometry);
    let r = w.boot_to_completion(&mut f);
    assert_eq!(r.recovery, Some(Recovery::NothingValid));
    assert!(!r.primary_valid);
    assert_eq!(r.state, SwapState::Idle);
}

/// Which image the primary slot holds, byte for byte, and whether the other
/// one is still in the secondary slot (at its start, or one page up after a swap).
fn images(w: &World, f: &mut SimFlash) -> (Option<&'static str>, bool) {
    let page = w.geometry.sector_size;
    let primary_old = read(f, &w.layout.primary, 0, w.old.len()) == w.old;
    let primary_new = read(f, &w.layout.primary, 0, w.new.len()) == w.new;
    let secondary_has = |f: &mut SimFlash, img: &[u8]| {
        read(f, &w.layout.secondary, 0, img.len()) == img
            || read(f, &w.layout.secondary, page, img.len()) == img
    };
    match (primary_old, primary_new) {
        (true, _) => (Some("old"), secondary_has(f, &w.new)),
        (_, true) => (Some("new"), secondary_has(f, &w.old)),
        _ => (None, false),
    }
}

#[test]
fn impossible_marks_never_panic_and_resolve_to_a_bootable_state() {
    let (_, w) = worlds().remove(0);
    let state = w.layout.boot_state;
    // The encoding (see atfota_boot's state module): a request record of 16 bytes, then
    // 8-byte marks: 4 markers, the swap progress (2 × max_pages), the revert progress.
    let (record, mark) = (16u32, 8u32);
    let max_pages = w.layout.primary.size / w.geometry.sector_size;
    let pages = w.boot.pages_for(w.new.len() as u64, Some(w.old.len() as u64));
    let swap = record + 4 * mark;
    let revert = swap + 2 * max_pages * mark;
    let mut resolved = std::collections::BTreeMap::<String, u32>::new();
    for seed in 0..400u64 {
        let mut f = w.requested();
        let mut rng = fastrand::Rng::with_seed(seed);
        // Sometimes part of the swap has happened for real first.
        if rng.bool() {
            f.cut_before(f.ops() + rng.u64(1..40), CutMode::Tear, seed);
            match w.boot_once(&mut f) {
                Ok(_) | Err(atfota_boot::BootError::Flash(FlashError::PowerLost)) => {}
                Err(e) => panic!("seed {seed}: boot failed: {e}"),
            }
            f.restore_power();
        }
        for _ in 0..rng.usize(1..5) {
            // A marker set outright or partly; a progress mark only partly (as a torn write
            // leaves it). A progress mark set outright for a page copy that never happened
            // is the one state the encoding cannot detect: the marks are the only record of
            // the copies, so that copy would be skipped (MCUboot's status area shares this).
            let (unit, full) = match rng.u8(..3) {
                0 => (record + rng.u32(..4) * mark, rng.bool()),
                1 => (swap + rng.u32(..2 * pages + 2) * mark, false),
                _ => (revert + rng.u32(..2 * pages + 2) * mark, false),
            };
            let mut cur = vec![0u8; mark as usize];
            state.read(&mut f, unit, &mut cur).unwrap();
            let bits: Vec<u8> = if full { vec![0; 8] } else { cur.iter().map(|&c| c & rng.u8(..)).collect() };
            state.write(&mut f, unit, &bits).expect("marks only clear bits");
        }
        for pass in 0..2 {
            let r = w.boot_to_completion(&mut f);
            let (running, other_kept) = images(&w, &mut f);
            let ctx = format!("seed {seed} boot {pass}: {:?}, running {running:?}", r.state);
            let running = running.unwrap_or_else(|| panic!("{ctx}: the primary holds neither image"));
            assert!(r.primary_valid, "{ctx}");
            assert!(other_kept, "{ctx}: the other image is lost");
            match r.state {
                SwapState::Testing { .. } | SwapState::Confirmed { .. } => {
                    assert_eq!(running, "new", "{ctx}")
                }
                SwapState::Reverted { .. } => assert_eq!(running, "old", "{ctx}"),
                _ => {}
            }
            let name = format!("{:?}", r.state);
            let name = name.split([' ', '{']).next().unwrap_or_default();
            *resolved.entry(format!("{name} ({running})")).or_default() += 1;
        }
    }
    println!("impossible marks: 400 states, each booted twice, resolved to {resolved:?}, 0 failures");
}
