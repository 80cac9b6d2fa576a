//! Power-cut proof of the modem firmware update, the way the swap is proved:
//! count every flash operation of a boot that applies a delta package and
//! flips banks, then for every k cut the power before operation k — cleanly,
//! and again tearing operation k — and check, right after the cut and after
//! booting again to completion, that exactly one intact firmware runs (the
//! old one or the new one, byte for byte, with its version) and that the
//! outcome is recorded once the update has happened. Two patch shapes (a
//! small change, a large rewrite) on firmware sizes that are not multiples
//! of the sector size; the patches are real detools sequential patches.

use atfota_boot::{ApplyPlan, BootError, ModemBootAction, ModemError, ModemOutcome, ModemUpdater};
use atfota_delta::{Compression, CreateOptions};
use atfota_storage::{
    CutMode, FlashError, Geometry, Layout, LayoutSpec, ModemSpec, NorFlash, Partition, PartitionWriter,
    SimFlash,
};
use sha2::{Digest, Sha256};

const SECTOR: u32 = 4096;

/// One update under test: old and new firmware, a patch between them.
struct World {
    geometry: Geometry,
    layout: Layout,
    up: ModemUpdater,
    old: Vec<u8>,
    new: Vec<u8>,
    patch: Vec<u8>,
}

impl World {
    fn new(old: Vec<u8>, new: Vec<u8>, compression: Compression) -> Self {
        let spec = LayoutSpec { slot_size: 64 * 1024, boot_state_size: SECTOR, settings_size: 2 * SECTOR };
        let bank = (old.len().max(new.len()) as u32).div_ceil(SECTOR) * SECTOR + SECTOR;
        let g0 = Geometry::new(SECTOR, 4, SECTOR).unwrap();
        let modem =
            ModemSpec { bank_size: bank, scratch_size: bank * 2, state_size: ModemUpdater::state_size(g0) };
        let layout = Layout::new(SECTOR, &spec).unwrap().with_modem(SECTOR, &modem).unwrap();
        let geometry = Geometry::new(SECTOR, 4, layout.capacity()).unwrap();
        let up = ModemUpdater::new(geometry, layout.modem.unwrap()).unwrap();
        let patch = atfota_delta::create(&old, &new, &CreateOptions::new(compression)).unwrap();
        Self { geometry, layout, up, old, new, patch }
    }

    /// Flash with the old firmware running and the patch requested.
    fn requested(&self) -> SimFlash {
        let mut f = SimFlash::new(self.geometry);
        self.up.provision(&mut f, &self.old, "mfw 1.0").unwrap();
        let scratch = self.layout.modem.unwrap().scratch;
        let mut w = PartitionWriter::new(scratch, SECTOR, 4, 0);
        w.write(&mut f, &self.patch).unwrap();
        w.flush(&mut f).unwrap();
        self.up.request(&mut f, self.patch.len() as u32).unwrap();
        f
    }

    fn plan(&self) -> ApplyPlan {
        ApplyPlan {
            patch_offset: 0,
            patch_len: self.patch.len() as u32,
            source_sha256: Sha256::digest(&self.old).into(),
            target_sha256: Sha256::digest(&self.new).into(),
            target_len: self.new.len() as u32,
            target_version: "mfw 2.0".into(),
        }
    }

    fn boot_once(&self, f: &mut SimFlash, plan: &ApplyPlan) -> Result<ModemBootAction, BootError> {
        self.up.boot(f, &mut |_, _, len| {
            assert_eq!(len, self.patch.len() as u32);
            Ok(plan.clone())
        })
    }

    fn boot_to_completion(&self, f: &mut SimFlash, plan: &ApplyPlan) -> ModemBootAction {
        for _ in 0..8 {
            f.restore_power();
            match self.boot_once(f, plan) {
                Ok(a) => return a,
                Err(BootError::Flash(FlashError::PowerLost)) => {}
                Err(e) => panic!("boot failed: {e}"),
            }
        }
        panic!("the modem update never completed");
    }

    /// The running firmware: its bytes must be exactly the old or the new
    /// image, with the matching length, SHA-256 and version. Returns which.
    fn running(&self, f: &mut SimFlash, ctx: &str) -> &'static str {
        f.restore_power();
        let st = self.up.state(f).unwrap().unwrap_or_else(|| panic!("{ctx}: no valid modem state"));
        let bank = *self.up.active_bank(&st);
        let mut bytes = vec![0u8; st.active.len as usize];
        bank.read(f, 0, &mut bytes).unwrap();
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(
            sha, st.active.sha256,
            "{ctx}: the running bank does not hold the firmware its state names"
        );
        if bytes == self.old {
            assert_eq!(st.active.version, "mfw 1.0", "{ctx}");
            "old"
        } else if bytes == self.new {
            assert_eq!(st.active.version, "mfw 2.0", "{ctx}");
            "new"
        } else {
            panic!("{ctx}: the running firmware is neither the old nor the new one")
        }
    }
}

/// Deterministic firmware-like bytes.
fn firmware(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let words: Vec<[u8; 4]> = (0..64).map(|_| rng.u32(..).to_le_bytes()).collect();
    let mut v = Vec::with_capacity(len + 4);
    while v.len() < len {
        v.extend_from_slice(&words[rng.usize(..words.len())]);
    }
    v.truncate(len);
    v
}

/// A copy of `base` with a few small edits.
fn small_change(base: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = base.to_vec();
    for _ in 0..6 {
        let at = rng.usize(..v.len() - 64);
        for b in &mut v[at..at + 16] {
            *b = rng.u8(..);
        }
    }
    v.insert(v.len() / 3, 0x42);
    v
}

fn prove(name: &str, world: &World) {
    let plan = world.plan();
    let mut reference = world.requested();
    let start = reference.ops();
    assert_eq!(world.boot_once(&mut reference, &plan).unwrap(), ModemBootAction::Applied);
    let ops = reference.ops() - start;
    assert_eq!(world.running(&mut reference, "reference"), "new");
    let mut points = 0;
    for k in 1..=ops + 1 {
        for mode in [CutMode::Clean, CutMode::Tear] {
            let ctx = format!("{name}: cut before op {k}/{ops} ({mode:?})");
            let mut f = world.requested();
            f.cut_before(start + k, mode, k * 31 + 7);
            let first = world.boot_once(&mut f, &plan);
            // Right after the cut: one intact firmware, whichever.
            world.running(&mut f, &ctx);
            if first.is_ok() {
                assert!(k > ops, "{ctx}: the boot finished although it was cut");
            }
            let action = match first {
                Ok(a) => a,
                Err(_) => world.boot_to_completion(&mut f, &plan),
            };
            // A boot after the flip finds nothing left to do.
            assert!(matches!(action, ModemBootAction::Applied | ModemBootAction::None), "{ctx}: {action:?}");
            assert_eq!(world.running(&mut f, &ctx), "new", "{ctx}: the update must complete");
            let st = world.up.state(&mut f).unwrap().unwrap();
            assert_eq!(st.request, None, "{ctx}");
            assert!(matches!(st.outcome, Some((ModemOutcome::Applied, _))), "{ctx}: {:?}", st.outcome);
            points += 1;
        }
    }
    println!("{name}: {ops} flash operations, {points} interruption points, 0 failures");
}

#[test]
fn a_small_change_survives_a_cut_at_every_operation() {
    let old = firmware(1, 150_003);
    let new = small_change(&old, 2);
    prove("small change (lzma)", &World::new(old, new, Compression::Lzma));
}

#[test]
fn a_large_rewrite_survives_a_cut_at_every_operation() {
    let old = firmware(3, 120_001);
    let new = firmware(4, 131_077);
    prove("large rewrite (heatshrink)", &World::new(old, new, Compression::Heatshrink));
}

#[test]
fn refusals_keep_the_old_firmware_and_say_why() {
    let old = firmware(5, 40_001);
    let new = small_change(&old, 6);
    let world = World::new(old.clone(), new, Compression::None);
    let good = world.plan();
    let cases: Vec<(&str, Result<ApplyPlan, ModemError>, ModemError)> = vec![
        ("package no longer verifies", Err(ModemError::Authentication), ModemError::Authentication),
        (
            "another source firmware",
            Ok(ApplyPlan { source_sha256: [7; 32], ..good.clone() }),
            ModemError::UuidMismatch,
        ),
        (
            "result does not match its hash",
            Ok(ApplyPlan { target_sha256: [9; 32], ..good.clone() }),
            ModemError::Internal,
        ),
        (
            "patch cut short",
            Ok(ApplyPlan { patch_len: good.patch_len / 2, ..good.clone() }),
            ModemError::Internal,
        ),
        ("larger than a bank", Ok(ApplyPlan { target_len: u32::MAX, ..good.clone() }), ModemError::Internal),
    ];
    for (what, verdict, want) in cases {
        let mut f = world.requested();
        let action = world.up.boot(&mut f, &mut |_, _, _| verdict.clone()).unwrap();
        assert_eq!(action, ModemBootAction::Failed(want), "{what}");
        assert_eq!(world.running(&mut f, what), "old", "{what}");
        let st = world.up.state(&mut f).unwrap().unwrap();
        assert_eq!(st.request, None, "{what}");
        assert_eq!(st.outcome.map(|o| o.0), Some(ModemOutcome::Failed(want)), "{what}");
        // Nothing more happens at the next boot.
        assert_eq!(world.boot_once(&mut f, &good).unwrap(), ModemBootAction::None, "{what}");
    }
}

#[test]
fn an_outcome_names_the_request_it_answers() {
    let old = firmware(7, 30_001);
    let new = small_change(&old, 8);
    let world = World::new(old, new, Compression::Lzma);
    let mut f = SimFlash::new(world.geometry);
    world.up.provision(&mut f, &world.old, "mfw 1.0").unwrap();
    let before = world.up.state(&mut f).unwrap().unwrap().seq;
    let scratch: Partition = world.layout.modem.unwrap().scratch;
    let mut w = PartitionWriter::new(scratch, SECTOR, 4, 0);
    w.write(&mut f, &world.patch).unwrap();
    w.flush(&mut f).unwrap();
    assert_eq!(world.up.request(&mut f, world.patch.len() as u32).unwrap(), before);
    world.boot_once(&mut f, &world.plan()).unwrap();
    let st = world.up.state(&mut f).unwrap().unwrap();
    let (outcome, for_seq) = st.outcome.unwrap();
    assert_eq!(outcome, ModemOutcome::Applied);
    assert!(for_seq > before, "the outcome answers the request made after state {before}");
    let mut exported = Vec::new();
    world.up.export(&mut f, &mut exported).unwrap();
    assert_eq!(exported, world.new);
    let _ = f.geometry();
}
