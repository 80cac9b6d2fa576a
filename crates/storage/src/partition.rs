//! Named regions of one flash device and the device's partition table.
//!
//! Owns bounds: every access through a [`Partition`] is relative to its start
//! and refused if it would leave it, so a bug in one layer cannot scribble over
//! another layer's data. It never decides what is stored inside a partition.

use crate::flash::{FlashError, NorFlash};

/// A contiguous, sector-aligned region of a flash device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Short name for logs and docs ("primary", "secondary", ...).
    pub name: &'static str,
    /// Absolute offset of the first byte.
    pub offset: u32,
    /// Length in bytes (a multiple of the sector size).
    pub size: u32,
}

impl Partition {
    /// Reads at `offset` relative to the partition start.
    pub fn read<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), FlashError> {
        let abs = self.absolute(offset, buf.len())?;
        flash.read(abs, buf)
    }

    /// Programs `data` at `offset` relative to the partition start.
    pub fn write<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        offset: u32,
        data: &[u8],
    ) -> Result<(), FlashError> {
        let abs = self.absolute(offset, data.len())?;
        flash.write(abs, data)
    }

    /// Erases `len` bytes at `offset` relative to the partition start.
    pub fn erase<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        offset: u32,
        len: u32,
    ) -> Result<(), FlashError> {
        let abs = self.absolute(offset, len as usize)?;
        flash.erase(abs, len)
    }

    /// Erases the whole partition.
    pub fn erase_all<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), FlashError> {
        flash.erase(self.offset, self.size)
    }

    /// Absolute offset one past the last byte.
    pub fn end(&self) -> u32 {
        self.offset + self.size
    }

    fn absolute(&self, offset: u32, len: usize) -> Result<u32, FlashError> {
        let end = u64::from(offset) + len as u64;
        if end > u64::from(self.size) {
            return Err(FlashError::OutOfBounds {
                offset: u64::from(offset),
                len: len as u64,
                capacity: u64::from(self.size),
            });
        }
        Ok(self.offset + offset)
    }
}

/// Sizes the partition table is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutSpec {
    /// Size of an application slot: the largest image that can be installed.
    pub slot_size: u32,
    /// Bytes the bootloader needs for its swap state (see the boot crate).
    pub boot_state_size: u32,
    /// Bytes for the settings store (at least two sectors are used).
    pub settings_size: u32,
}

/// Sizes of the modem firmware's partitions (see [`Layout::with_modem`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModemSpec {
    /// Size of each of the two firmware banks: the largest modem firmware.
    pub bank_size: u32,
    /// Size of the scratch area a delta package is downloaded into.
    pub scratch_size: u32,
    /// Bytes the modem updater needs for its state records (see the boot crate).
    pub state_size: u32,
}

/// The partition table of an emulated device, in flash order.
///
/// The application partitions come first, in the order every device has
/// had them since the first release; the modem's partitions, when the
/// device has them, follow the settings store, so a device made without
/// them keeps its offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The running application's slot.
    pub primary: Partition,
    /// Where updates are downloaded; one sector larger than `primary` so the
    /// bootloader can swap by shifting pages (see the boot crate).
    pub secondary: Partition,
    /// The bootloader's swap progress and image state.
    pub boot_state: Partition,
    /// The key/value settings store.
    pub settings: Partition,
    /// The modem firmware's banks, scratch area and state, if the device has them.
    pub modem: Option<ModemPartitions>,
}

/// Where the modem firmware lives: two banks (one runs, the other receives
/// the next version), the scratch area for delta packages, and the state
/// that says which bank runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModemPartitions {
    /// Firmware banks 0 and 1.
    pub banks: [Partition; 2],
    /// Where a delta package is downloaded before it is applied.
    pub scratch: Partition,
    /// The modem updater's state records.
    pub state: Partition,
}

impl Layout {
    /// Lays the partitions out back to back from offset 0, each rounded up to
    /// whole sectors.
    pub fn new(sector_size: u32, spec: &LayoutSpec) -> Result<Self, FlashError> {
        let mut next = Allocator::new(sector_size);
        let primary = next.take("primary", u64::from(spec.slot_size))?;
        let secondary = next.take("secondary", u64::from(primary.size) + u64::from(sector_size))?;
        let boot_state = next.take("boot-state", u64::from(spec.boot_state_size))?;
        let settings =
            next.take("settings", u64::from(spec.settings_size).max(2 * u64::from(sector_size)))?;
        Ok(Self { primary, secondary, boot_state, settings, modem: None })
    }

    /// Appends the modem firmware's partitions after everything else.
    pub fn with_modem(self, sector_size: u32, spec: &ModemSpec) -> Result<Self, FlashError> {
        let mut next = Allocator { sector_size, next: u64::from(self.capacity()) };
        let bank_size = u64::from(spec.bank_size);
        let banks = [next.take("modem-bank-0", bank_size)?, next.take("modem-bank-1", bank_size)?];
        let scratch = next.take("modem-scratch", u64::from(spec.scratch_size))?;
        let state = next.take("modem-state", u64::from(spec.state_size).max(2 * u64::from(sector_size)))?;
        Ok(Self { modem: Some(ModemPartitions { banks, scratch, state }), ..self })
    }

    /// Every partition, in flash order.
    pub fn partitions(&self) -> Vec<Partition> {
        let mut all = vec![self.primary, self.secondary, self.boot_state, self.settings];
        if let Some(m) = &self.modem {
            all.extend([m.banks[0], m.banks[1], m.scratch, m.state]);
        }
        all
    }

    /// Bytes of flash the layout needs.
    pub fn capacity(&self) -> u32 {
        self.partitions().iter().map(Partition::end).max().unwrap_or(0)
    }
}

/// Hands out sector-aligned partitions back to back.
struct Allocator {
    sector_size: u32,
    next: u64,
}

impl Allocator {
    fn new(sector_size: u32) -> Self {
        Self { sector_size, next: 0 }
    }

    fn take(&mut self, name: &'static str, len: u64) -> Result<Partition, FlashError> {
        let sector = u64::from(self.sector_size);
        let size = len.max(1).div_ceil(sector) * sector;
        let offset = self.next;
        let end = offset + size;
        if end > u64::from(u32::MAX) {
            return Err(FlashError::OutOfBounds { offset, len: size, capacity: u64::from(u32::MAX) });
        }
        self.next = end;
        // Both fit in u32: checked just above.
        Ok(Partition { name, offset: offset as u32, size: size as u32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modem_partitions_follow_without_moving_the_others() {
        let spec = LayoutSpec { slot_size: 64 * 1024, boot_state_size: 100, settings_size: 8192 };
        let plain = Layout::new(4096, &spec).unwrap();
        let modem = ModemSpec { bank_size: 10_000, scratch_size: 5000, state_size: 1 };
        let full = plain.with_modem(4096, &modem).unwrap();
        assert_eq!(
            (full.primary, full.secondary, full.boot_state, full.settings),
            (plain.primary, plain.secondary, plain.boot_state, plain.settings)
        );
        let m = full.modem.unwrap();
        assert_eq!(m.banks[0].offset, plain.capacity());
        assert_eq!(m.banks[0].size, 12_288);
        assert_eq!(m.banks[1].offset, m.banks[0].end());
        assert_eq!(m.scratch.size, 8192);
        assert_eq!(m.state.size, 8192);
        assert_eq!(full.capacity(), m.state.end());
        let parts = full.partitions();
        assert!(parts.windows(2).all(|w| w[0].end() == w[1].offset));
    }

    #[test]
    fn a_table_past_4_gib_is_refused() {
        let spec = LayoutSpec { slot_size: u32::MAX / 2, boot_state_size: 1, settings_size: 1 };
        assert!(Layout::new(4096, &spec).is_err());
    }
}
