//! [`SimFlash`]: an in-memory NOR flash that can lose power before any
//! operation, and whose operations can fail, the tool the power-fail proofs
//! (MCUboot simulator style) are built on.
//!
//! Owns the simulated cell array, the operation counter, the cut plan and the
//! fault plan. It enforces the same NOR rules as the file backend (see
//! `rules`) and never lets an operation through after the power is gone,
//! reads included: a dead CPU reads nothing.
//!
//! Operations are the `write` calls and the per-sector steps of `erase` calls
//! that pass the NOR checks, numbered 1, 2, 3, ... from creation: an erase of
//! n sectors is n operations, one sector after the other, as a NOR controller
//! does it; a refused call changes nothing and takes no number. A cut planned
//! before operation `k` strikes when the operation about to start has a
//! number of at least `k`:
//!
//! - [`CutMode::Clean`]: that operation does not happen (the sectors an erase
//!   finished before it stay erased, the later ones keep their bytes);
//! - [`CutMode::Tear`]: it happens partly, chosen by the seed. A write
//!   completes some whole write units; in the next unit some of the bits it
//!   was clearing are cleared, some not, some left unstable. An erase moves
//!   some of the sector's programmed bits to 1, leaves others at 0 and some
//!   unstable — it never makes up values: every bit ends at its old value,
//!   its target value, or unstable. A torn operation counts in
//!   [`SimFlash::ops`] (it changed the flash) but not in [`FlashStats`].
//!
//! An unstable bit is a cell left half-programmed: each read returns 0 or 1
//! for it at random (deterministic from the seed of the tear), until an erase
//! of its sector, or a write that clears it, settles it. It survives power
//! cycles. For the NOR checks it counts as 1 (a write may clear it).
//!
//! Either way the call returns [`FlashError::PowerLost`] and so does every
//! later call until [`SimFlash::restore_power`].
//!
//! A fault planned with [`SimFlash::fail_at`] makes an operation return
//! [`FlashError::Failed`] without changing anything, as a device that reports
//! a program or erase error: once, or for every operation touching that
//! sector until [`SimFlash::heal`]. Failed operations take a number.
//!
//! Written here rather than reusing `sequential-storage`'s `MockFlashBase`:
//! that mock fixes its geometry in const generics, implements the async
//! `embedded-storage` traits rather than ours, and cuts the power after a
//! countdown of bytes where writes and erases simply stop, never leaving the
//! half-programmed cells a torn operation can leave on real NOR.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::flash::{ERASED, FlashError, FlashStats, Geometry, NorFlash};
use crate::rules;

/// How an operation interrupted by a power cut behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CutMode {
    /// The interrupted operation does not happen at all.
    Clean,
    /// The interrupted operation happens partly, leaving cells half-way (see the module docs).
    Tear,
}

/// How an operation planned to fail with [`SimFlash::fail_at`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// That operation fails; a retry succeeds.
    Once,
    /// That operation's sector goes bad: every write or erase touching it fails until
    /// [`SimFlash::heal`].
    BadSector,
}

/// An in-memory NOR flash with power-cut and fault injection.
#[derive(Clone)]
pub struct SimFlash {
    geometry: Geometry,
    data: Vec<u8>,
    ops: u64,
    cut: Option<CutPlan>,
    powered: bool,
    stats: FlashStats,
    /// Half-programmed bits: byte offset to the mask of its unstable bits (stored as 1).
    unstable: BTreeMap<u32, u8>,
    /// What unstable bits read as; reseeded by every tear.
    noise: fastrand::Rng,
    fault: Option<(u64, Fault)>,
    bad_sectors: BTreeSet<u32>,
}

#[derive(Clone, Copy, Debug)]
struct CutPlan {
    before: u64,
    mode: CutMode,
    seed: u64,
}

/// What becomes of an operation that passed the checks.
enum Fate {
    Done,
    Cut(CutPlan),
    Failed,
}

impl SimFlash {
    /// A blank device: every byte erased.
    pub fn new(geometry: Geometry) -> Self {
        Self::with_data(geometry, vec![ERASED; geometry.capacity as usize])
    }

    /// A device holding `bytes`, which must be exactly `geometry.capacity` long.
    pub fn from_image(geometry: Geometry, bytes: Vec<u8>) -> Result<Self, FlashError> {
        let geometry = Geometry::new(geometry.sector_size, geometry.write_size, geometry.capacity)?;
        if bytes.len() as u64 != u64::from(geometry.capacity) {
            return Err(FlashError::SizeMismatch {
                expected: u64::from(geometry.capacity),
                found: bytes.len() as u64,
            });
        }
        Ok(Self::with_data(geometry, bytes))
    }

    /// The whole cell array, as it is now (unstable bits shown as 1, see the module docs).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Number of bytes holding unstable bits (left by torn operations, not yet settled).
    pub fn unstable_bytes(&self) -> usize {
        self.unstable.len()
    }

    /// Mutating operations (writes and per-sector erase steps, torn and failed ones included)
    /// that happened since creation.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Plans a power cut before operation number `op` (1-based, absolute, numbered like
    /// [`SimFlash::ops`]); a number already past cuts before the next operation.
    pub fn cut_before(&mut self, op: u64, mode: CutMode, seed: u64) {
        self.cut = Some(CutPlan { before: op, mode, seed });
    }

    /// Plans operation number `op` (absolute, like [`SimFlash::ops`]) to fail as `fault` says.
    pub fn fail_at(&mut self, op: u64, fault: Fault) {
        self.fault = Some((op, fault));
    }

    /// Ends every planned or standing fault: bad sectors work again (a replaced part, or
    /// the fault was transient).
    pub fn heal(&mut self) {
        self.fault = None;
        self.bad_sectors.clear();
    }

    /// "Reboots": clears the cut plan and powers the device again. Faults and unstable bits stay.
    pub fn restore_power(&mut self) {
        self.cut = None;
        self.powered = true;
    }

    /// Whether operations currently reach the device.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Counters of completed operations.
    pub fn stats(&self) -> FlashStats {
        self.stats
    }

    fn with_data(geometry: Geometry, data: Vec<u8>) -> Self {
        Self {
            geometry,
            data,
            ops: 0,
            cut: None,
            powered: true,
            stats: FlashStats::default(),
            unstable: BTreeMap::new(),
            noise: fastrand::Rng::with_seed(0),
            fault: None,
            bad_sectors: BTreeSet::new(),
        }
    }

    /// Called once an operation over `start..end` has passed the checks:
    /// numbers it and says whether the power dies or the device fails instead.
    fn start_op(&mut self, start: usize, end: usize) -> Fate {
        let number = self.ops + 1;
        match self.cut {
            Some(plan) if number >= plan.before => {
                self.powered = false;
                if plan.mode == CutMode::Tear {
                    self.ops = number;
                }
                return Fate::Cut(plan);
            }
            _ => self.ops = number,
        }
        let sector = self.geometry.sector_size as usize;
        let sectors = (start / sector) as u32..=(end.max(start + 1).div_ceil(sector) - 1) as u32;
        match self.fault {
            Some((at, fault)) if at == number => {
                if fault == Fault::Once {
                    self.fault = None;
                } else {
                    self.bad_sectors.extend(sectors.clone());
                }
                Fate::Failed
            }
            _ if self.bad_sectors.range(sectors).next().is_some() => Fate::Failed,
            _ => Fate::Done,
        }
    }

    fn require_power(&self) -> Result<(), FlashError> {
        if self.powered { Ok(()) } else { Err(FlashError::PowerLost) }
    }

    /// Stores `new` over `start..`, settling the unstable bits it clears.
    fn program(&mut self, start: usize, new: &[u8]) {
        for (i, &b) in new.iter().enumerate() {
            let at = start + i;
            self.data[at] &= b;
            if let Some(mask) = self.unstable.get_mut(&(at as u32)) {
                *mask &= b;
                if *mask == 0 {
                    self.unstable.remove(&(at as u32));
                }
            }
        }
    }

    fn tear_write(&mut self, offset: usize, data: &[u8], seed: u64) {
        let unit = self.geometry.write_size as usize;
        let units = data.len() / unit;
        if units == 0 {
            return;
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        let done = rng.usize(0..units) * unit;
        self.program(offset, &data[..done]);
        let depth = rng.u8(0..3);
        for (i, &want) in data[done..done + unit].iter().enumerate() {
            let at = offset + done + i;
            // Bits this write clears: each ends cleared, untouched or unstable.
            let moving = self.data[at] & !want;
            let (cleared, unstable) = split(&mut rng, moving, depth);
            self.data[at] &= !cleared;
            self.mark_unstable(at, unstable);
        }
        self.noise = fastrand::Rng::with_seed(seed ^ 0x5eed);
    }

    fn tear_erase(&mut self, offset: usize, len: usize, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let depth = rng.u8(0..3);
        for at in offset..offset + len {
            // Programmed bits: each ends erased, still programmed, or unstable.
            let moving = !self.data[at];
            let (erased, unstable) = split(&mut rng, moving, depth);
            self.data[at] |= erased | unstable;
            self.mark_unstable(at, unstable);
        }
        self.noise = fastrand::Rng::with_seed(seed ^ 0x5eed);
    }

    fn mark_unstable(&mut self, at: usize, bits: u8) {
        if bits != 0 {
            self.data[at] |= bits;
            *self.unstable.entry(at as u32).or_insert(0) |= bits;
        }
    }
}

/// Splits the bits of `moving` into those that reached their new value and
/// those left unstable (the rest stay as they were); `depth` says how far the
/// operation got (0: a little, 2: most of the way).
fn split(rng: &mut fastrand::Rng, moving: u8, depth: u8) -> (u8, u8) {
    if moving == 0 {
        return (0, 0);
    }
    let (a, b) = (rng.u8(..), rng.u8(..));
    let done = match depth {
        0 => a & b,
        1 => a,
        _ => a | b,
    } & moving;
    let unstable = rng.u8(..) & rng.u8(..) & rng.u8(..) & moving & !done;
    (done, unstable)
}

impl NorFlash for SimFlash {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.require_power()?;
        rules::check_read(&self.geometry, offset, buf.len())?;
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        let end = offset.saturating_add(buf.len() as u32);
        for (&at, &mask) in self.unstable.range(offset..end) {
            let byte = &mut buf[(at - offset) as usize];
            *byte = (*byte & !mask) | (self.noise.u8(..) & mask);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.require_power()?;
        rules::check_write(&self.geometry, offset, data.len())?;
        let start = offset as usize;
        let old = &self.data[start..start + data.len()];
        if let Some(bad) = rules::first_unprogrammable(old, data) {
            return Err(FlashError::NotErased { offset: u64::from(offset) + bad as u64 });
        }
        match self.start_op(start, start + data.len()) {
            Fate::Done => {}
            Fate::Cut(plan) => {
                if plan.mode == CutMode::Tear {
                    self.tear_write(start, data, plan.seed);
                }
                return Err(FlashError::PowerLost);
            }
            Fate::Failed => return Err(FlashError::Failed { offset: u64::from(offset) }),
        }
        self.program(start, data);
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.require_power()?;
        rules::check_erase(&self.geometry, offset, len)?;
        let sector = self.geometry.sector_size as usize;
        for start in (offset as usize..(offset + len) as usize).step_by(sector) {
            match self.start_op(start, start + sector) {
                Fate::Done => {}
                Fate::Cut(plan) => {
                    if plan.mode == CutMode::Tear {
                        self.tear_erase(start, sector, plan.seed);
                    }
                    return Err(FlashError::PowerLost);
                }
                Fate::Failed => return Err(FlashError::Failed { offset: start as u64 }),
            }
            self.data[start..start + sector].fill(ERASED);
            let keys: Vec<u32> =
                self.unstable.range(start as u32..(start + sector) as u32).map(|(&k, _)| k).collect();
            for k in keys {
                self.unstable.remove(&k);
            }
            self.stats.sectors_erased += 1;
        }
        self.stats.erases += 1;
        Ok(())
    }
}

impl fmt::Debug for SimFlash {
    // The cell array can be hundreds of MiB: never dump it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFlash")
            .field("geometry", &self.geometry)
            .field("ops", &self.ops)
            .field("cut", &self.cut)
            .field("powered", &self.powered)
            .field("stats", &self.stats)
            .field("unstable_bytes", &self.unstable.len())
            .field("fault", &self.fault)
            .field("bad_sectors", &self.bad_sectors)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimFlash {
        SimFlash::new(Geometry::new(0x100, 4, 0x400).unwrap())
    }

    #[test]
    fn starts_erased_and_counts_nothing() {
        let flash = small();
        assert!(flash.data().iter().all(|&b| b == ERASED));
        assert_eq!(flash.ops(), 0);
        assert_eq!(flash.stats(), FlashStats::default());
        assert!(flash.is_powered());
    }

    #[test]
    fn from_image_checks_the_size() {
        let g = Geometry::new(0x100, 4, 0x400).unwrap();
        assert!(matches!(
            SimFlash::from_image(g, vec![0; 0x3ff]),
            Err(FlashError::SizeMismatch { expected: 0x400, found: 0x3ff })
        ));
        let flash = SimFlash::from_image(g, vec![0x5a; 0x400]).unwrap();
        assert!(flash.data().iter().all(|&b| b == 0x5a));
        let bad = Geometry { sector_size: 3, write_size: 1, capacity: 9 };
        assert!(matches!(SimFlash::from_image(bad, vec![0; 9]), Err(FlashError::BadGeometry { .. })));
    }

    #[test]
    fn write_read_and_stats() {
        let mut flash = small();
        flash.write(8, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let mut buf = [0u8; 10];
        flash.read(7, &mut buf).unwrap();
        assert_eq!(buf, [0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xff]);
        flash.erase(0, 0x200).unwrap();
        assert!(flash.data().iter().all(|&b| b == ERASED));
        assert_eq!(flash.ops(), 3, "a write, then an erase of two sectors");
        assert_eq!(flash.stats(), FlashStats { writes: 1, bytes_written: 8, erases: 1, sectors_erased: 2 });
    }

    #[test]
    fn refused_operations_change_nothing_and_take_no_number() {
        let mut flash = small();
        flash.write(0, &[0x0f; 4]).unwrap();
        let before = flash.data().to_vec();
        assert!(matches!(flash.write(2, &[0; 4]), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.write(0, &[0; 2]), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.write(0x3fc, &[0; 8]), Err(FlashError::OutOfBounds { .. })));
        assert!(matches!(flash.write(0, &[0xf0; 4]), Err(FlashError::NotErased { offset: 0 })));
        assert!(matches!(flash.erase(0x80, 0x100), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.erase(0x300, 0x200), Err(FlashError::OutOfBounds { .. })));
        let mut buf = [0u8; 2];
        assert!(matches!(flash.read(0x3ff, &mut buf), Err(FlashError::OutOfBounds { .. })));
        assert_eq!(flash.data(), &before[..]);
        assert_eq!(flash.ops(), 1);
        // Clearing more bits of a programmed location is allowed.
        flash.write(0, &[0x0e; 4]).unwrap();
        assert_eq!(flash.ops(), 2);
    }

    #[test]
    fn clean_cut_stops_that_operation_and_everything_after() {
        let mut flash = small();
        flash.write(0, &[0; 4]).unwrap();
        flash.cut_before(2, CutMode::Clean, 0);
        let before = flash.data().to_vec();
        assert!(matches!(flash.write(4, &[0; 4]), Err(FlashError::PowerLost)));
        assert!(!flash.is_powered());
        assert_eq!(flash.data(), &before[..]);
        assert_eq!(flash.ops(), 1);
        let mut buf = [0u8; 4];
        assert!(matches!(flash.read(0, &mut buf), Err(FlashError::PowerLost)));
        assert!(matches!(flash.erase(0, 0x100), Err(FlashError::PowerLost)));
        assert_eq!(flash.data(), &before[..]);
        flash.restore_power();
        assert!(flash.is_powered());
        flash.write(4, &[0; 4]).unwrap();
        assert_eq!(flash.ops(), 2);
        assert_eq!(flash.stats().writes, 2);
    }

    #[test]
    fn a_cut_planned_in_the_past_strikes_the_next_operation() {
        let mut flash = small();
        flash.write(0, &[0; 4]).unwrap();
        flash.write(4, &[0; 4]).unwrap();
        flash.cut_before(1, CutMode::Clean, 0);
        let mut buf = [0u8; 4];
        flash.read(0, &mut buf).unwrap();
        assert!(matches!(flash.write(8, &[0; 4]), Err(FlashError::PowerLost)));
    }

    #[test]
    fn torn_write_completes_whole_units_then_one_partial_unit() {
        for seed in 0..64 {
            let mut flash = small();
            flash.cut_before(1, CutMode::Tear, seed);
            let data: Vec<u8> = (0..32).collect();
            assert!(matches!(flash.write(0x40, &data), Err(FlashError::PowerLost)));
            assert_eq!(flash.ops(), 1);
            assert_eq!(flash.stats().writes, 0);
            let cells = &flash.data()[0x40..0x60];
            let done = cells.chunks(4).zip(data.chunks(4)).take_while(|(c, d)| c == d).count();
            // Only bits the write clears move.
            assert!(cells.iter().zip(&data).all(|(&c, &d)| c & d == d), "seed {seed}");
            // At most one unit past the completed ones differs from erased.
            let rest = &cells[(done + 1).min(8) * 4..];
            assert!(rest.iter().all(|&b| b == ERASED), "seed {seed}");
            assert!(flash.data()[..0x40].iter().all(|&b| b == ERASED));
            assert!(flash.data()[0x60..].iter().all(|&b| b == ERASED));
        }
    }

    #[test]
    fn torn_erase_only_moves_bits_towards_erased() {
        let g = Geometry::new(0x100, 4, 0x400).unwrap();
        let old: Vec<u8> = (0..0x400u32).map(|i| (i * 37 + 11) as u8).collect();
        for seed in 0..32 {
            let mut flash = SimFlash::from_image(g, old.clone()).unwrap();
            flash.cut_before(1, CutMode::Tear, seed);
            assert!(matches!(flash.erase(0x100, 0x100), Err(FlashError::PowerLost)));
            let range = &flash.data()[0x100..0x200];
            // Every byte is its old value with some bits raised: nothing made up.
            assert!(range.iter().zip(&old[0x100..0x200]).all(|(&now, &was)| now & was == was), "seed {seed}");
            assert_ne!(range, &old[0x100..0x200], "seed {seed}: a torn erase moves some bits");
            assert!(range.iter().any(|&b| b != ERASED), "seed {seed}: a torn erase is not complete");
            assert_eq!(&flash.data()[..0x100], &old[..0x100]);
            assert_eq!(&flash.data()[0x200..], &old[0x200..]);
            assert_eq!(flash.stats().erases, 0);
        }
    }

    #[test]
    fn a_multi_sector_erase_is_one_operation_per_sector() {
        let g = Geometry::new(0x100, 4, 0x400).unwrap();
        let mut flash = SimFlash::from_image(g, vec![0; 0x400]).unwrap();
        flash.erase(0, 0x400).unwrap();
        assert_eq!(flash.ops(), 4);
        assert_eq!(flash.stats(), FlashStats { writes: 0, bytes_written: 0, erases: 1, sectors_erased: 4 });
        // A cut before the third sector: two erased, two untouched.
        let mut flash = SimFlash::from_image(g, vec![0; 0x400]).unwrap();
        flash.cut_before(3, CutMode::Clean, 0);
        assert!(matches!(flash.erase(0, 0x400), Err(FlashError::PowerLost)));
        assert!(flash.data()[..0x200].iter().all(|&b| b == ERASED));
        assert!(flash.data()[0x200..].iter().all(|&b| b == 0));
        assert_eq!(flash.ops(), 2);
        assert_eq!(flash.stats().erases, 0);
        assert_eq!(flash.stats().sectors_erased, 2);
    }

    #[test]
    fn unstable_bits_read_differently_until_settled() {
        let g = Geometry::new(0x100, 4, 0x400).unwrap();
        let mut found = false;
        for seed in 0..64 {
            let mut flash = SimFlash::from_image(g, vec![0; 0x400]).unwrap();
            flash.cut_before(1, CutMode::Tear, seed);
            let _ = flash.erase(0, 0x100);
            flash.restore_power();
            if flash.unstable_bytes() == 0 {
                continue;
            }
            found = true;
            let reads: Vec<Vec<u8>> = (0..8)
                .map(|_| {
                    let mut b = vec![0u8; 0x100];
                    flash.read(0, &mut b).unwrap();
                    b
                })
                .collect();
            assert!(reads.windows(2).any(|w| w[0] != w[1]), "seed {seed}: unstable bits vary");
            // Stable bits read the same every time.
            let stable: Vec<u8> = flash.data()[..0x100].to_vec();
            for r in &reads {
                for (i, (&got, &st)) in r.iter().zip(&stable).enumerate() {
                    let mask = flash.unstable.get(&(i as u32)).copied().unwrap_or(0);
                    assert_eq!(got & !mask, st & !mask, "seed {seed} byte {i}");
                }
            }
            // Power cycles keep them; an erase settles them.
            let copy = flash.clone();
            assert_eq!(copy.unstable_bytes(), flash.unstable_bytes());
            flash.erase(0, 0x100).unwrap();
            assert_eq!(flash.unstable_bytes(), 0);
            let mut b = vec![0u8; 0x100];
            flash.read(0, &mut b).unwrap();
            assert!(b.iter().all(|&x| x == ERASED));
        }
        assert!(found, "some tear leaves unstable bits");
    }

    #[test]
    fn a_write_that_clears_unstable_bits_settles_them() {
        let g = Geometry::new(0x100, 4, 0x400).unwrap();
        for seed in 0..64 {
            let mut flash = SimFlash::new(g);
            flash.cut_before(1, CutMode::Tear, seed);
            let _ = flash.write(0, &[0; 0x40]);
            flash.restore_power();
            // Bits the torn write was clearing may be anything: clearing them again settles them.
            flash.write(0, &[0; 0x40]).unwrap();
            assert_eq!(flash.unstable_bytes(), 0, "seed {seed}");
            let mut b = [0xaau8; 0x40];
            flash.read(0, &mut b).unwrap();
            assert_eq!(b, [0; 0x40]);
        }
    }

    #[test]
    fn a_fault_once_fails_that_operation_only() {
        let mut flash = small();
        flash.fail_at(2, Fault::Once);
        flash.write(0, &[0; 4]).unwrap();
        let before = flash.data().to_vec();
        assert!(matches!(flash.write(4, &[0; 4]), Err(FlashError::Failed { offset: 4 })));
        assert_eq!(flash.data(), &before[..], "a failed operation changes nothing");
        assert!(flash.is_powered());
        flash.write(4, &[0; 4]).unwrap();
        assert_eq!(flash.ops(), 3);
        assert_eq!(flash.stats().writes, 2);
    }

    #[test]
    fn a_bad_sector_fails_until_healed() {
        let mut flash = small();
        flash.fail_at(1, Fault::BadSector);
        assert!(matches!(flash.erase(0x100, 0x200), Err(FlashError::Failed { offset: 0x100 })));
        assert!(matches!(flash.write(0x104, &[0; 4]), Err(FlashError::Failed { offset: 0x104 })));
        assert!(matches!(flash.erase(0x100, 0x100), Err(FlashError::Failed { .. })));
        // Other sectors work.
        flash.write(0x200, &[0; 4]).unwrap();
        flash.erase(0x200, 0x100).unwrap();
        flash.heal();
        flash.write(0x104, &[0; 4]).unwrap();
        flash.erase(0x100, 0x200).unwrap();
    }

    #[test]
    fn tear_is_determined_by_the_seed() {
        let run = |seed: u64| {
            let mut flash = small();
            flash.write(0, &[0x33; 0x40]).unwrap();
            flash.cut_before(2, CutMode::Tear, seed);
            let _ = flash.write(0x100, &[0x11; 0x100]);
            let mut other = flash.data().to_vec();
            flash.restore_power();
            flash.cut_before(3, CutMode::Tear, seed);
            let _ = flash.erase(0, 0x100);
            other.extend_from_slice(flash.data());
            other
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn torn_empty_write_changes_nothing() {
        let mut flash = small();
        flash.cut_before(1, CutMode::Tear, 3);
        assert!(matches!(flash.write(0, &[]), Err(FlashError::PowerLost)));
        assert!(flash.data().iter().all(|&b| b == ERASED));
    }
}
