//! The NOR-flash contract every layer above writes against.
//!
//! Owns the semantics, not a backend: erase sets whole sectors to `0xFF`, a
//! write may only clear bits (1 -> 0) and must be aligned to the write size,
//! reads are unrestricted. Backends (file, simulator) must refuse anything
//! else with a [`FlashError`], never "fix it up", so that a bug that real
//! hardware would punish fails a test here.

use std::io;
use std::path::PathBuf;

/// The byte every erased location reads as.
pub const ERASED: u8 = 0xff;

/// Shape of a flash device: fixed when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Erase granularity in bytes (a power of two, a multiple of `write_size`).
    pub sector_size: u32,
    /// Write granularity in bytes (a power of two): offsets and lengths of writes are multiples of it.
    pub write_size: u32,
    /// Total size in bytes (a multiple of `sector_size`).
    pub capacity: u32,
}

impl Geometry {
    /// Checks the invariants above; every backend constructor calls this.
    pub fn new(sector_size: u32, write_size: u32, capacity: u32) -> Result<Self, FlashError> {
        let ok = sector_size.is_power_of_two()
            && write_size.is_power_of_two()
            && write_size <= sector_size
            && capacity > 0
            && capacity.is_multiple_of(sector_size);
        if !ok {
            return Err(FlashError::BadGeometry { sector_size, write_size, capacity });
        }
        Ok(Self { sector_size, write_size, capacity })
    }

    /// Number of sectors.
    pub fn sectors(&self) -> u32 {
        self.capacity / self.sector_size
    }

    /// Rounds `len` up to a whole number of sectors.
    pub fn round_up_to_sector(&self, len: u64) -> u64 {
        len.div_ceil(u64::from(self.sector_size)) * u64::from(self.sector_size)
    }
}

/// A NOR flash device. Offsets are absolute within the device.
pub trait NorFlash {
    /// The device's shape.
    fn geometry(&self) -> Geometry;

    /// Reads `buf.len()` bytes at `offset` (no alignment required).
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;

    /// Programs `data` at `offset`. Offset and length must be multiples of the
    /// write size and the write may only clear bits; otherwise nothing is
    /// written and an error is returned.
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;

    /// Erases `len` bytes at `offset` to [`ERASED`]; both must be multiples of
    /// the sector size.
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError>;

    /// Makes everything written so far survive a crash of the host (a file
    /// backend: `fdatasync`). Real NOR flash and the simulator have nothing
    /// to flush: each operation is durable when it returns.
    fn sync(&mut self) -> Result<(), FlashError> {
        Ok(())
    }
}

impl<F: NorFlash + ?Sized> NorFlash for &mut F {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        (**self).read(offset, buf)
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        (**self).write(offset, data)
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        (**self).erase(offset, len)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        (**self).sync()
    }
}

impl<F: NorFlash + ?Sized> NorFlash for Box<F> {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        (**self).read(offset, buf)
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        (**self).write(offset, data)
    }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        (**self).erase(offset, len)
    }
    fn sync(&mut self) -> Result<(), FlashError> {
        (**self).sync()
    }
}

/// Counters of the mutating operations a backend carried out (refused ones are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlashStats {
    /// Completed `write` calls.
    pub writes: u64,
    /// Bytes programmed by those calls.
    pub bytes_written: u64,
    /// Completed `erase` calls.
    pub erases: u64,
    /// Sectors erased by those calls.
    pub sectors_erased: u64,
}

/// Why a flash operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlashError {
    /// The geometry itself is impossible.
    #[error(
        "impossible flash geometry: sector {sector_size} B, write {write_size} B, capacity {capacity} B (powers of two, write <= sector, capacity a multiple of sector)"
    )]
    BadGeometry {
        /// Requested sector size.
        sector_size: u32,
        /// Requested write size.
        write_size: u32,
        /// Requested capacity.
        capacity: u32,
    },
    /// The range does not lie inside the device (or partition).
    #[error("flash range {offset:#x}+{len:#x} is outside the {capacity:#x}-byte area")]
    OutOfBounds {
        /// Start of the refused range.
        offset: u64,
        /// Its length.
        len: u64,
        /// Size of the area it had to fit in.
        capacity: u64,
    },
    /// Offset or length is not a multiple of the required granularity.
    #[error("flash range {offset:#x}+{len:#x} is not aligned to {align} bytes")]
    Misaligned {
        /// Start of the refused range.
        offset: u64,
        /// Its length.
        len: u64,
        /// The granularity it had to respect.
        align: u32,
    },
    /// The write would set a bit that is 0 back to 1: the location was not erased.
    #[error("write at {offset:#x} would set bits that are already programmed (erase the sector first)")]
    NotErased {
        /// First offending byte.
        offset: u64,
    },
    /// The simulated power was cut: this and every later operation does not happen.
    #[error("power lost")]
    PowerLost,
    /// The device reported that a write or erase failed (a worn or bad sector): the operation
    /// did not complete; what it was meant to store is not there.
    #[error("flash operation at {offset:#x} failed: the device reported an error (worn or bad sector)")]
    Failed {
        /// Start of the operation that failed.
        offset: u64,
    },
    /// The backing file failed.
    #[error("flash backing store: {0}")]
    Io(#[from] io::Error),
    /// A flash image (file or buffer) does not have the size the geometry says.
    #[error(
        "flash image is {found} bytes but the geometry needs {expected} bytes (wrong file, or the flash geometry changed)"
    )]
    SizeMismatch {
        /// Bytes the geometry needs (its capacity).
        expected: u64,
        /// Bytes the image has.
        found: u64,
    },
    /// The file holding the flash could not be created or opened.
    #[error("flash file {path}: {source} (check the data directory and its permissions)")]
    File {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}
