//! Reading what an application slot holds.
//!
//! Owns the read side of slots: an `io::Read` view for streaming
//! verification, and cheap look-ups of an image's header and length. Never
//! writes.

use std::io;

use atfota_image::{ImageHeader, ImageVersion};
use atfota_storage::{NorFlash, Partition};

/// Unprotected TLV area magic (MCUboot `IMAGE_TLV_INFO_MAGIC`).
const TLV_INFO_MAGIC: u16 = 0x6907;
/// Protected TLV area magic (MCUboot `IMAGE_TLV_PROT_INFO_MAGIC`).
const TLV_PROT_INFO_MAGIC: u16 = 0x6908;

/// Sequential reader over a slot, for `atfota_image::verify_reader`.
pub(crate) struct SlotReader<'a, F: NorFlash + ?Sized> {
    flash: &'a mut F,
    slot: Partition,
    pos: u32,
    end: u32,
}

impl<'a, F: NorFlash + ?Sized> SlotReader<'a, F> {
    /// Reads `slot` from its start up to `len` bytes (clamped to the slot).
    pub fn new(flash: &'a mut F, slot: Partition, len: u64) -> Self {
        let end = len.min(u64::from(slot.size)) as u32;
        Self { flash, slot, pos: 0, end }
    }
}

impl<F: NorFlash + ?Sized> io::Read for SlotReader<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.pos).min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
        if n == 0 {
            return Ok(0);
        }
        self.slot.read(self.flash, self.pos, &mut buf[..n as usize]).map_err(io::Error::other)?;
        self.pos += n;
        Ok(n as usize)
    }
}

impl<F: NorFlash + ?Sized> io::Seek for SlotReader<'_, F> {
    /// Moves within the readable range (a pure signature's second pass seeks back to 0).
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let to = match pos {
            io::SeekFrom::Start(to) => i128::from(to),
            io::SeekFrom::Current(by) => i128::from(self.pos) + i128::from(by),
            io::SeekFrom::End(by) => i128::from(self.end) + i128::from(by),
        };
        let pos = u32::try_from(to)
            .ok()
            .filter(|&to| to <= self.end)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the slot"))?;
        self.pos = pos;
        Ok(u64::from(pos))
    }
}

/// Header of the image in `slot`, if its first bytes parse as one.
pub(crate) fn header<F: NorFlash + ?Sized>(flash: &mut F, slot: &Partition) -> Option<ImageHeader> {
    let mut buf = [0u8; ImageHeader::LEN];
    slot.read(flash, 0, &mut buf).ok()?;
    ImageHeader::parse(&buf).ok()
}

/// Version of the image in `slot`, if it has a readable header.
pub(crate) fn version<F: NorFlash + ?Sized>(flash: &mut F, slot: &Partition) -> Option<ImageVersion> {
    header(flash, slot).map(|h| h.version)
}

/// Length of the image in `slot` (header, body and both TLV areas), if its
/// header and TLV info headers are readable and it fits in the slot.
pub(crate) fn image_len<F: NorFlash + ?Sized>(flash: &mut F, slot: &Partition) -> Option<u64> {
    let h = header(flash, slot)?;
    let mut off = h.tlv_offset();
    let mut info = [0u8; 4];
    let mut read_info = |flash: &mut F, off: u64| -> Option<(u16, u16)> {
        slot.read(flash, u32::try_from(off).ok()?, &mut info).ok()?;
        Some((u16::from_le_bytes([info[0], info[1]]), u16::from_le_bytes([info[2], info[3]])))
    };
    let (mut magic, mut len) = read_info(flash, off)?;
    if magic == TLV_PROT_INFO_MAGIC {
        off += u64::from(len);
        (magic, len) = read_info(flash, off)?;
    }
    if magic != TLV_INFO_MAGIC {
        return None;
    }
    let total = off + u64::from(len);
    (total <= u64::from(slot.size)).then_some(total)
}
