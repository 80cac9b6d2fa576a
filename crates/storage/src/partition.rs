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

/// The partition table of an emulated device, in flash order.
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
}

impl Layout {
    /// Lays the partitions out back to back from offset 0, each rounded up to
    /// whole sectors.
    pub fn new(sector_size: u32, spec: &LayoutSpec) -> Result<Self, FlashError> {
        let too_big = || FlashError::OutOfBounds {
            offset: 0,
            len: u64::from(spec.slot_size) * 2
                + u64::from(spec.boot_state_size)
                + u64::from(spec.settings_size),
            capacity: u64::from(u32::MAX),
        };
        let round = |len: u64| len.div_ceil(u64::from(sector_size)) * u64::from(sector_size);
        let mut next: u64 = 0;
        let mut take = |name: &'static str, len: u64| -> Result<Partition, FlashError> {
            let size = round(len.max(1));
            let offset = next;
            next += size;
            if next > u64::from(u32::MAX) {
                return Err(too_big());
            }
            // Fits in u32: checked just above.
            Ok(Partition { name, offset: offset as u32, size: size as u32 })
        };
        let primary = take("primary", u64::from(spec.slot_size))?;
        let secondary = take("secondary", u64::from(primary.size) + u64::from(sector_size))?;
        let boot_state = take("boot-state", u64::from(spec.boot_state_size))?;
        let settings = take("settings", u64::from(spec.settings_size).max(2 * u64::from(sector_size)))?;
        Ok(Self { primary, secondary, boot_state, settings })
    }

    /// Bytes of flash the layout needs.
    pub fn capacity(&self) -> u32 {
        self.settings.end()
    }
}
