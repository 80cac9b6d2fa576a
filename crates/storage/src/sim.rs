//! [`SimFlash`]: an in-memory NOR flash that can lose power before any
//! operation, the tool the power-fail proofs (MCUboot simulator style) are
//! built on.
//!
//! Owns the simulated cell array, the operation counter and the cut plan. It
//! enforces the same NOR rules as the file backend (see `rules`) and never
//! lets an operation through after the power is gone, reads included: a dead
//! CPU reads nothing.
//!
//! Operations are the `write` and `erase` calls that pass the NOR checks,
//! numbered 1, 2, 3, ... from creation; a refused call changes nothing and
//! takes no number. A cut planned before operation `k` strikes when the
//! operation about to start has a number of at least `k`:
//!
//! - [`CutMode::Clean`]: that operation does not happen;
//! - [`CutMode::Tear`]: it happens partly, chosen by the seed — a write
//!   completes some whole write units, the next unit receives arbitrary bytes
//!   and the rest is untouched; an erase leaves every byte of its range either
//!   `0xFF` or arbitrary. A torn operation counts in [`SimFlash::ops`] (it
//!   changed the flash) but not in [`FlashStats`] (it did not complete).
//!
//! Either way the call returns [`FlashError::PowerLost`] and so does every
//! later call until [`SimFlash::restore_power`].
//!
//! Written here rather than reusing `sequential-storage`'s `MockFlashBase`:
//! that mock fixes its geometry in const generics, implements the async
//! `embedded-storage` traits rather than ours, and cuts the power after a
//! countdown of bytes where writes and erases simply stop, never leaving the
//! arbitrary bytes a torn operation can leave on real NOR.

use std::fmt;

use crate::flash::{ERASED, FlashError, FlashStats, Geometry, NorFlash};
use crate::rules;

/// How an operation interrupted by a power cut behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CutMode {
    /// The interrupted operation does not happen at all.
    Clean,
    /// The interrupted operation happens partly, with arbitrary bytes where it stopped.
    Tear,
}

/// An in-memory NOR flash with power-cut injection.
pub struct SimFlash {
    geometry: Geometry,
    data: Vec<u8>,
    ops: u64,
    cut: Option<CutPlan>,
    powered: bool,
    stats: FlashStats,
}

#[derive(Clone, Copy, Debug)]
struct CutPlan {
    before: u64,
    mode: CutMode,
    seed: u64,
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

    /// The whole cell array, as it is now.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Mutating operations (write and erase calls, torn ones included) that happened since creation.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Plans a power cut before operation number `op` (1-based, absolute, numbered like
    /// [`SimFlash::ops`]); a number already past cuts before the next operation.
    pub fn cut_before(&mut self, op: u64, mode: CutMode, seed: u64) {
        self.cut = Some(CutPlan { before: op, mode, seed });
    }

    /// "Reboots": clears the cut plan and powers the device again.
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
        Self { geometry, data, ops: 0, cut: None, powered: true, stats: FlashStats::default() }
    }

    /// Called once an operation has passed the checks: numbers it and says
    /// whether (and how) the power dies instead of letting it complete.
    fn start_op(&mut self) -> Option<CutPlan> {
        let number = self.ops + 1;
        match self.cut {
            Some(plan) if number >= plan.before => {
                self.powered = false;
                if plan.mode == CutMode::Tear {
                    self.ops = number;
                }
                Some(plan)
            }
            _ => {
                self.ops = number;
                None
            }
        }
    }

    fn require_power(&self) -> Result<(), FlashError> {
        if self.powered { Ok(()) } else { Err(FlashError::PowerLost) }
    }

    fn tear_write(&mut self, offset: usize, data: &[u8], seed: u64) {
        let unit = self.geometry.write_size as usize;
        let units = data.len() / unit;
        if units == 0 {
            return;
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        let done = rng.usize(0..units) * unit;
        self.data[offset..offset + done].copy_from_slice(&data[..done]);
        rng.fill(&mut self.data[offset + done..offset + done + unit]);
    }

    fn tear_erase(&mut self, offset: usize, len: usize, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let range = &mut self.data[offset..offset + len];
        rng.fill(range);
        // Half the bytes end erased, half hold whatever the cell drifted to;
        // one random word per 64 bytes decides which, so no buffer is needed.
        for chunk in range.chunks_mut(64) {
            let keep = rng.u64(..);
            for (i, byte) in chunk.iter_mut().enumerate() {
                if (keep >> i) & 1 == 0 {
                    *byte = ERASED;
                }
            }
        }
    }
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
        if let Some(plan) = self.start_op() {
            if plan.mode == CutMode::Tear {
                self.tear_write(start, data, plan.seed);
            }
            return Err(FlashError::PowerLost);
        }
        self.data[start..start + data.len()].copy_from_slice(data);
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        self.require_power()?;
        rules::check_erase(&self.geometry, offset, len)?;
        let (start, len) = (offset as usize, len as usize);
        if let Some(plan) = self.start_op() {
            if plan.mode == CutMode::Tear {
                self.tear_erase(start, len, plan.seed);
            }
            return Err(FlashError::PowerLost);
        }
        self.data[start..start + len].fill(ERASED);
        self.stats.erases += 1;
        self.stats.sectors_erased += (len / self.geometry.sector_size as usize) as u64;
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
        assert_eq!(flash.ops(), 2);
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
    fn torn_write_completes_whole_units_then_one_arbitrary_unit() {
        for seed in 0..64 {
            let mut flash = small();
            flash.cut_before(1, CutMode::Tear, seed);
            let data: Vec<u8> = (0..32).collect();
            assert!(matches!(flash.write(0x40, &data), Err(FlashError::PowerLost)));
            assert_eq!(flash.ops(), 1);
            assert_eq!(flash.stats().writes, 0);
            let cells = &flash.data()[0x40..0x60];
            let done = cells.chunks(4).zip(data.chunks(4)).take_while(|(c, d)| c == d).count();
            // At most one unit past the completed ones differs from erased.
            let rest = &cells[(done + 1).min(8) * 4..];
            assert!(rest.iter().all(|&b| b == ERASED), "seed {seed}");
            assert!(flash.data()[..0x40].iter().all(|&b| b == ERASED));
            assert!(flash.data()[0x60..].iter().all(|&b| b == ERASED));
        }
    }

    #[test]
    fn torn_erase_leaves_a_mix_of_erased_and_arbitrary_bytes() {
        let mut flash =
            SimFlash::from_image(Geometry::new(0x100, 4, 0x400).unwrap(), vec![0; 0x400]).unwrap();
        flash.cut_before(1, CutMode::Tear, 7);
        assert!(matches!(flash.erase(0x100, 0x200), Err(FlashError::PowerLost)));
        let range = &flash.data()[0x100..0x300];
        let erased = range.iter().filter(|&&b| b == ERASED).count();
        assert!(erased > 0x40 && erased < 0x1c0, "{erased} erased bytes");
        assert!(flash.data()[..0x100].iter().all(|&b| b == 0));
        assert!(flash.data()[0x300..].iter().all(|&b| b == 0));
        assert_eq!(flash.stats().erases, 0);
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
