//! The boot-state partition: where the bootloader records what it was asked
//! to do and how far it got.
//!
//! Owns the on-flash encoding only; the decisions live in `lib.rs` and the
//! page moves in `swap.rs`. Every record here is written at most once between
//! two erases of the partition, so no write ever needs bits set back to 1 and
//! a power cut can only leave one record half-written. A *mark* is
//! `max(write size, 8)` bytes:
//!
//! ```text
//! offset 0          request record, `record_len` bytes (16 rounded up to the write unit):
//!                     u32 magic 0x61746662 | u32 pages | u32 flags (bit 0 permanent) | u32 CRC-32 of the first 12 bytes
//!                     (rest of the record left erased)
//! + record_len      4 marks: REJECTED, SWAP_DONE, CONFIRMED, REVERT_DONE
//! + 4 marks         swap progress: 2 × max_pages marks, one per finished page copy
//! + 2·max_pages     revert progress: 2 × max_pages marks
//! ```
//!
//! A mark is *set* only when it reads as all zeros, which is what the
//! bootloader programs. Erased and torn marks both read as not set: the step
//! they record is redone (every step is idempotent, see `swap.rs`) and the
//! mark programmed again, which is legal because zeros only clear bits. A
//! torn write could only pass for a set mark by leaving 64 or more bits all
//! cleared, and it is only ever written after the step it records. The
//! request record carries a CRC, so a torn request reads as "no request".

use atfota_storage::{FlashError, Geometry, NorFlash, Partition};

/// Magic of a request record: "atfb" (atfota boot).
const REQUEST_MAGIC: u32 = 0x6174_6662;
/// Bytes of a request record before padding to the write unit.
const REQUEST_LEN: u32 = 16;
/// Request flag: swap permanently (never revert).
const FLAG_PERMANENT: u32 = 0x1;
/// Largest chunk read at once when counting progress units.
const SCAN_CHUNK: usize = 4096;

/// Index of a one-unit marker after the request record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// The requested image failed validation; nothing was moved.
    Rejected = 0,
    /// Every page of the swap has been moved: the new image is in the primary slot.
    SwapDone = 1,
    /// The new image confirmed itself (or was installed as permanent).
    Confirmed = 2,
    /// Every page of the revert has been moved: the old image is back.
    RevertDone = 3,
}

/// Which progress array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Swap,
    Revert,
}

/// A decoded, CRC-checked request record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub pages: u32,
    pub permanent: bool,
}

/// Offsets of everything inside the boot-state partition for one geometry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateLayout {
    part: Partition,
    /// Bytes of one mark.
    unit: u32,
    record_len: u32,
    max_pages: u32,
}

impl StateLayout {
    pub fn new(part: Partition, geometry: Geometry, max_pages: u32) -> Self {
        let unit = mark_len(geometry.write_size);
        Self { part, unit, record_len: record_len(geometry.write_size), max_pages }
    }

    pub fn max_pages(&self) -> u32 {
        self.max_pages
    }

    /// Bytes this encoding needs (before rounding to sectors).
    pub fn needed(write_size: u32, max_pages: u32) -> u64 {
        let mark = u64::from(mark_len(write_size));
        u64::from(record_len(write_size)) + (4 + 4 * u64::from(max_pages)) * mark
    }

    pub fn read_request<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<Option<Request>, FlashError> {
        let mut rec = [0u8; REQUEST_LEN as usize];
        self.part.read(flash, 0, &mut rec)?;
        let word = |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
        if word(0) != REQUEST_MAGIC || crc32fast::hash(&rec[..12]) != word(12) {
            return Ok(None);
        }
        let pages = word(4);
        if pages == 0 || pages > self.max_pages {
            log::warn!(
                "boot state asks to swap {pages} pages but a slot has {}: ignoring the request",
                self.max_pages
            );
            return Ok(None);
        }
        Ok(Some(Request { pages, permanent: word(8) & FLAG_PERMANENT != 0 }))
    }

    /// Erases the partition and writes a request record.
    pub fn write_request<F: NorFlash + ?Sized>(&self, flash: &mut F, req: Request) -> Result<(), FlashError> {
        self.part.erase_all(flash)?;
        self.part.write(flash, 0, &self.request_record(req))
    }

    /// Erases the partition and records a finished, unconfirmed swap of
    /// `req.pages` (what the recovery of a previous image starts from): the
    /// page-copy marks and the done mark first, the request record last, so a
    /// cut leaves either no request at all or the whole finished swap.
    pub fn write_finished_swap<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        req: Request,
    ) -> Result<(), FlashError> {
        self.part.erase_all(flash)?;
        for step in 0..2 * req.pages {
            self.set_progress(flash, Phase::Swap, step)?;
        }
        self.set(flash, Marker::SwapDone)?;
        self.part.write(flash, 0, &self.request_record(req))
    }

    fn request_record(&self, req: Request) -> Vec<u8> {
        let mut rec = vec![0xffu8; self.record_len as usize];
        rec[0..4].copy_from_slice(&REQUEST_MAGIC.to_le_bytes());
        rec[4..8].copy_from_slice(&req.pages.to_le_bytes());
        let flags = if req.permanent { FLAG_PERMANENT } else { 0 };
        rec[8..12].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32fast::hash(&rec[..12]);
        rec[12..16].copy_from_slice(&crc.to_le_bytes());
        rec
    }

    /// Erases the whole partition: no request, nothing in progress.
    pub fn clear<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), FlashError> {
        self.part.erase_all(flash)
    }

    pub fn is_set<F: NorFlash + ?Sized>(&self, flash: &mut F, m: Marker) -> Result<bool, FlashError> {
        self.unit_is_set(flash, self.marker_offset(m))
    }

    pub fn set<F: NorFlash + ?Sized>(&self, flash: &mut F, m: Marker) -> Result<(), FlashError> {
        self.set_unit(flash, self.marker_offset(m))
    }

    /// Number of leading set units of a progress array: the steps known done.
    pub fn progress<F: NorFlash + ?Sized>(&self, flash: &mut F, phase: Phase) -> Result<u32, FlashError> {
        let total = 2 * self.max_pages;
        let unit = self.unit as usize;
        let per_chunk = (SCAN_CHUNK / unit).max(1);
        let mut buf = vec![0u8; per_chunk * unit];
        let mut done = 0u32;
        while done < total {
            let n = per_chunk.min((total - done) as usize);
            let chunk = &mut buf[..n * unit];
            self.part.read(flash, self.progress_offset(phase, done), chunk)?;
            for u in chunk.chunks(unit) {
                if !is_mark(u) {
                    return Ok(done);
                }
                done += 1;
            }
        }
        Ok(done)
    }

    /// Records that step `step` of `phase` has completed.
    pub fn set_progress<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        phase: Phase,
        step: u32,
    ) -> Result<(), FlashError> {
        self.set_unit(flash, self.progress_offset(phase, step))
    }

    fn marker_offset(&self, m: Marker) -> u32 {
        self.record_len + m as u32 * self.unit
    }

    fn progress_offset(&self, phase: Phase, step: u32) -> u32 {
        let base = self.record_len + 4 * self.unit;
        let phase_base = match phase {
            Phase::Swap => 0,
            Phase::Revert => 2 * self.max_pages * self.unit,
        };
        base + phase_base + step * self.unit
    }

    fn unit_is_set<F: NorFlash + ?Sized>(&self, flash: &mut F, offset: u32) -> Result<bool, FlashError> {
        let mut u = vec![0u8; self.unit as usize];
        self.part.read(flash, offset, &mut u)?;
        Ok(is_mark(&u))
    }

    fn set_unit<F: NorFlash + ?Sized>(&self, flash: &mut F, offset: u32) -> Result<(), FlashError> {
        // Zeros only clear bits, so this is legal over an erased mark and over a torn one.
        self.part.write(flash, offset, &vec![0u8; self.unit as usize])
    }
}

fn record_len(write_size: u32) -> u32 {
    REQUEST_LEN.div_ceil(write_size) * write_size
}

/// Bytes of a mark: at least 8 so that a torn write cannot plausibly read as
/// set; a multiple of the write size because both are powers of two.
fn mark_len(write_size: u32) -> u32 {
    write_size.max(8)
}

fn is_mark(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}
