//! The NOR rules every backend enforces, in one place so the file backend and
//! the simulator refuse exactly the same operations.
//!
//! Owns range, alignment and bit checks; it never touches a device. Checks are
//! written so that a hand-made, invalid [`Geometry`] (its fields are public)
//! yields an error, never a division by zero.

use crate::flash::{FlashError, Geometry};

/// Refuses a read that does not lie inside the device.
pub(crate) fn check_read(geometry: &Geometry, offset: u32, len: usize) -> Result<(), FlashError> {
    check_bounds(geometry, offset, len as u64)
}

/// Refuses a write that leaves the device or is not aligned to the write size.
pub(crate) fn check_write(geometry: &Geometry, offset: u32, len: usize) -> Result<(), FlashError> {
    check_bounds(geometry, offset, len as u64)?;
    check_aligned(offset, len as u64, geometry.write_size)
}

/// Refuses an erase that leaves the device or is not sector-aligned.
pub(crate) fn check_erase(geometry: &Geometry, offset: u32, len: u32) -> Result<(), FlashError> {
    check_bounds(geometry, offset, u64::from(len))?;
    check_aligned(offset, u64::from(len), geometry.sector_size)
}

/// Index of the first byte where programming `new` over `old` would have to
/// set a bit from 0 to 1, which NOR cannot do without an erase.
pub(crate) fn first_unprogrammable(old: &[u8], new: &[u8]) -> Option<usize> {
    old.iter().zip(new).position(|(&o, &n)| n & !o != 0)
}

fn check_bounds(geometry: &Geometry, offset: u32, len: u64) -> Result<(), FlashError> {
    let capacity = u64::from(geometry.capacity);
    if u64::from(offset).checked_add(len).is_none_or(|end| end > capacity) {
        return Err(FlashError::OutOfBounds { offset: u64::from(offset), len, capacity });
    }
    Ok(())
}

fn check_aligned(offset: u32, len: u64, align: u32) -> Result<(), FlashError> {
    // A zero granularity only comes from a hand-made geometry: refuse everything.
    let aligned = align != 0 && offset.is_multiple_of(align) && len.is_multiple_of(u64::from(align));
    if !aligned {
        return Err(FlashError::Misaligned { offset: u64::from(offset), len, align });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry::new(0x1000, 4, 0x4000).unwrap()
    }

    #[test]
    fn bounds_are_checked_without_overflow() {
        let g = geometry();
        assert!(check_read(&g, 0x3fff, 1).is_ok());
        assert!(matches!(check_read(&g, 0x3fff, 2), Err(FlashError::OutOfBounds { .. })));
        assert!(matches!(check_read(&g, u32::MAX, usize::MAX), Err(FlashError::OutOfBounds { .. })));
    }

    #[test]
    fn writes_need_write_size_alignment() {
        let g = geometry();
        assert!(check_write(&g, 4, 8).is_ok());
        assert!(check_write(&g, 0, 0).is_ok());
        assert!(matches!(check_write(&g, 2, 4), Err(FlashError::Misaligned { align: 4, .. })));
        assert!(matches!(check_write(&g, 4, 6), Err(FlashError::Misaligned { .. })));
    }

    #[test]
    fn erases_need_sector_alignment() {
        let g = geometry();
        assert!(check_erase(&g, 0x1000, 0x2000).is_ok());
        assert!(matches!(check_erase(&g, 0x800, 0x1000), Err(FlashError::Misaligned { .. })));
        assert!(matches!(check_erase(&g, 0x3000, 0x2000), Err(FlashError::OutOfBounds { .. })));
    }

    #[test]
    fn zero_granularity_is_an_error_not_a_panic() {
        let g = Geometry { sector_size: 0, write_size: 0, capacity: 0x100 };
        assert!(matches!(check_write(&g, 0, 4), Err(FlashError::Misaligned { .. })));
        assert!(matches!(check_erase(&g, 0, 0), Err(FlashError::Misaligned { .. })));
    }

    #[test]
    fn only_clearing_bits_is_programmable() {
        assert_eq!(first_unprogrammable(&[0xff, 0xf0], &[0x00, 0x30]), None);
        assert_eq!(first_unprogrammable(&[0xff, 0xf0], &[0x00, 0x0f]), Some(1));
        assert_eq!(first_unprogrammable(&[0x00], &[0x00]), None);
    }
}
