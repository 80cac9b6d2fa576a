//! [`Powered`]: the device's flash behind its power supply, so a test bench can cut the power
//! before the flash operation it chooses.
//!
//! Owns only counting write/erase/sync operations and refusing them once the power is gone.
//! The cut is clean: the operation it lands on does not happen at all, and neither does any
//! later one, which is what a supply that fails between two operations leaves (the torn cases
//! are the flash simulator's, proved in the storage and boot tests). What a cut means for the
//! device (it stops, its UART output is lost, it boots when the power returns) is the shell's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use atfota_storage::{FlashError, Geometry, NorFlash};

/// The power supply of one device; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Supply {
    inner: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Operations allowed before the cut, plus one; 0 = no cut armed.
    cut_in: AtomicU64,
    lost: AtomicBool,
}

impl Supply {
    /// Cuts the power just before the `n`-th write, erase or sync from now (`n` >= 1).
    pub fn cut_before_op(&self, n: u64) {
        self.inner.cut_in.store(n.max(1), Ordering::SeqCst);
    }

    /// Whether the power went (an armed cut was reached).
    pub fn lost(&self) -> bool {
        self.inner.lost.load(Ordering::SeqCst)
    }

    /// Power is back: nothing armed, operations allowed.
    pub fn restore(&self) {
        self.inner.cut_in.store(0, Ordering::SeqCst);
        self.inner.lost.store(false, Ordering::SeqCst);
    }

    /// Operations left before an armed cut (for `status`).
    pub fn armed(&self) -> Option<u64> {
        Some(self.inner.cut_in.load(Ordering::SeqCst)).filter(|&n| n > 0)
    }

    /// Counts one operation; false when it must not happen.
    fn operate(&self) -> bool {
        if self.lost() {
            return false;
        }
        let left = self.inner.cut_in.load(Ordering::SeqCst);
        if left == 0 {
            return true;
        }
        if left == 1 {
            self.inner.cut_in.store(0, Ordering::SeqCst);
            self.inner.lost.store(true, Ordering::SeqCst);
            log::warn!("power cut before a flash operation (control channel)");
            return false;
        }
        self.inner.cut_in.store(left - 1, Ordering::SeqCst);
        true
    }
}

/// A flash whose operations stop when its [`Supply`] is cut.
#[derive(Debug)]
pub struct Powered<F> {
    flash: F,
    supply: Supply,
}

impl<F: NorFlash> Powered<F> {
    /// `flash` on `supply`.
    pub fn new(flash: F, supply: Supply) -> Self {
        Self { flash, supply }
    }

    /// The flash without its supply.
    pub fn into_inner(self) -> F {
        self.flash
    }
}

impl<F: NorFlash> NorFlash for Powered<F> {
    fn geometry(&self) -> Geometry {
        self.flash.geometry()
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        if self.supply.lost() {
            return Err(FlashError::PowerLost);
        }
        self.flash.read(offset, buf)
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        if !self.supply.operate() {
            return Err(FlashError::PowerLost);
        }
        self.flash.write(offset, data)
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        if !self.supply.operate() {
            return Err(FlashError::PowerLost);
        }
        self.flash.erase(offset, len)
    }

    fn sync(&mut self) -> Result<(), FlashError> {
        if !self.supply.operate() {
            return Err(FlashError::PowerLost);
        }
        self.flash.sync()
    }
}

#[cfg(test)]
mod tests {
    use atfota_storage::SimFlash;

    use super::*;

    #[test]
    fn a_cut_lands_before_the_chosen_operation_and_stops_every_later_one() {
        let g = Geometry::new(4096, 4, 4 * 4096).unwrap();
        let supply = Supply::default();
        let mut f = Powered::new(SimFlash::new(g), supply.clone());
        supply.cut_before_op(3);
        f.erase(0, 4096).unwrap();
        f.write(0, &[0, 0, 0, 0]).unwrap();
        assert!(matches!(f.write(4, &[0, 0, 0, 0]), Err(FlashError::PowerLost)));
        assert!(supply.lost());
        assert!(matches!(f.read(0, &mut [0; 4]), Err(FlashError::PowerLost)));
        supply.restore();
        let mut back = [0xAA; 8];
        f.read(0, &mut back).unwrap();
        assert_eq!(back, [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], "the third operation never happened");
    }
}
