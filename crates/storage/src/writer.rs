//! [`PartitionWriter`]: streams bytes into a partition from a sector
//! boundary on — a download into its slot, a patched firmware into its bank.
//!
//! Owns alignment and erasing: bytes arrive in chunks of any size, flash
//! takes only whole write units into erased sectors. The writer erases ahead
//! in large batches (one syscall per batch on the file backend, not one per
//! sector), writes aligned runs straight from the caller's buffer, keeps the
//! unaligned remainder (< one write unit) until more arrives, and tells the
//! caller the last sector-aligned offset that is fully on flash: the resume
//! checkpoint. It never writes outside its partition and never writes into a
//! sector it has not erased itself.

use crate::flash::{FlashError, NorFlash};
use crate::partition::Partition;

/// Sectors are erased ahead of the data in batches of at least this many bytes.
const ERASE_BATCH: u32 = 1024 * 1024;

/// Sequential writer into one partition, starting at a sector boundary.
#[derive(Debug)]
pub struct PartitionWriter {
    slot: Partition,
    sector: u32,
    write_size: u32,
    /// Bytes of the slot already programmed (a multiple of `write_size`).
    written: u32,
    /// Everything below this offset has been erased by this writer.
    erased_to: u32,
    /// Bytes received but not yet programmed (fewer than one write unit).
    tail: Vec<u8>,
}

impl PartitionWriter {
    /// A writer whose first byte lands at `start`, which must be sector-aligned.
    pub fn new(slot: Partition, sector: u32, write_size: u32, start: u32) -> Self {
        debug_assert_eq!(start % sector, 0, "resume offsets are sector-aligned");
        Self { slot, sector, write_size, written: start, erased_to: start, tail: Vec::new() }
    }

    /// Offset of the next byte to receive.
    pub fn position(&self) -> u64 {
        u64::from(self.written) + self.tail.len() as u64
    }

    /// Last sector boundary below which every byte is on flash: a safe
    /// place to resume from after a power cut.
    pub fn checkpoint(&self) -> u32 {
        self.written / self.sector * self.sector
    }

    /// Appends `data`; fails without writing if it would overflow the slot.
    pub fn write<F: NorFlash + ?Sized>(&mut self, flash: &mut F, mut data: &[u8]) -> Result<(), FlashError> {
        let end = self.position() + data.len() as u64;
        if end > u64::from(self.slot.size) {
            return Err(FlashError::OutOfBounds {
                offset: self.position(),
                len: data.len() as u64,
                capacity: u64::from(self.slot.size),
            });
        }
        let unit = self.write_size as usize;
        if !self.tail.is_empty() {
            let take = (unit - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() < unit {
                return Ok(());
            }
            let tail = std::mem::take(&mut self.tail);
            self.program(flash, &tail)?;
        }
        let aligned = data.len() / unit * unit;
        if aligned > 0 {
            self.program(flash, &data[..aligned])?;
        }
        self.tail.extend_from_slice(&data[aligned..]);
        Ok(())
    }

    /// Programs the remainder, padded with erased bytes to a whole unit.
    pub fn flush<F: NorFlash + ?Sized>(&mut self, flash: &mut F) -> Result<(), FlashError> {
        if self.tail.is_empty() {
            return Ok(());
        }
        let mut unit = std::mem::take(&mut self.tail);
        unit.resize(self.write_size as usize, 0xff);
        self.program(flash, &unit)
    }

    /// Writes an aligned run at `written`, erasing ahead first.
    fn program<F: NorFlash + ?Sized>(&mut self, flash: &mut F, run: &[u8]) -> Result<(), FlashError> {
        // The run fits in the slot (checked by `write`), so this fits in u32.
        let end = self.written + run.len() as u32;
        if end > self.erased_to {
            let batch = ERASE_BATCH.max(self.sector);
            let target = end.div_ceil(batch).saturating_mul(batch).min(self.slot.size);
            let target = target.div_ceil(self.sector) * self.sector;
            self.slot.erase(flash, self.erased_to, target - self.erased_to)?;
            self.erased_to = target;
        }
        self.slot.write(flash, self.written, run)?;
        self.written = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{FlashStats, Geometry, Partition, SimFlash};
    use proptest::prelude::*;

    use super::*;

    fn setup(sector: u32, write: u32) -> (SimFlash, Partition) {
        let g = Geometry::new(sector, write, 16 * sector).unwrap();
        let mut f = SimFlash::new(g);
        // Stale data everywhere: the writer must erase before writing.
        f.write(0, &vec![0x00; (16 * sector) as usize]).unwrap();
        (f, Partition { name: "slot", offset: 2 * sector, size: 12 * sector })
    }

    proptest! {
        #[test]
        fn any_chunking_writes_the_same_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..40_000),
            cuts in proptest::collection::vec(1usize..5000, 0..40),
            write in prop_oneof![Just(1u32), Just(4), Just(16)],
        ) {
            let (mut f, slot) = setup(4096, write);
            let mut w = PartitionWriter::new(slot, 4096, write, 0);
            let mut rest = data.as_slice();
            for c in cuts {
                let n = c.min(rest.len());
                w.write(&mut f, &rest[..n]).unwrap();
                rest = &rest[n..];
                prop_assert_eq!(w.position(), (data.len() - rest.len()) as u64);
                prop_assert!(u64::from(w.checkpoint()) <= w.position());
                prop_assert_eq!(w.checkpoint() % 4096, 0);
            }
            w.write(&mut f, rest).unwrap();
            w.flush(&mut f).unwrap();
            let mut back = vec![0u8; data.len()];
            slot.read(&mut f, 0, &mut back).unwrap();
            prop_assert_eq!(back, data);
        }
    }

    #[test]
    fn erases_in_batches_not_per_sector() {
        let g = Geometry::new(4096, 4, 1024 * 4096).unwrap();
        let mut f = SimFlash::new(g);
        let slot = Partition { name: "slot", offset: 0, size: 1024 * 4096 };
        let mut w = PartitionWriter::new(slot, 4096, 4, 0);
        let chunk = vec![0x5a; 64 * 1024];
        for _ in 0..64 {
            w.write(&mut f, &chunk).unwrap();
        }
        let FlashStats { erases, sectors_erased, .. } = f.stats();
        assert_eq!(sectors_erased, 1024, "4 MiB written: 1024 sectors erased");
        assert_eq!(erases, 4, "in 1 MiB batches");
    }

    #[test]
    fn resuming_at_a_checkpoint_erases_what_follows_it() {
        let (mut f, slot) = setup(4096, 4);
        let mut w = PartitionWriter::new(slot, 4096, 4, 0);
        w.write(&mut f, &vec![0x11; 10_000]).unwrap();
        assert_eq!(w.checkpoint(), 8192);
        // Power cut; the bytes after the checkpoint are stale (here: 0x11).
        let mut w = PartitionWriter::new(slot, 4096, 4, 8192);
        w.write(&mut f, &vec![0x22; 3000]).unwrap();
        w.flush(&mut f).unwrap();
        let mut back = vec![0u8; 12_288];
        slot.read(&mut f, 0, &mut back).unwrap();
        assert!(back[..8192].iter().all(|&b| b == 0x11));
        assert!(back[8192..11_192].iter().all(|&b| b == 0x22));
        assert!(back[11_192..].iter().all(|&b| b == 0xff), "the rest of the sector is erased, not stale");
    }

    #[test]
    fn refuses_to_write_past_the_slot() {
        let (mut f, slot) = setup(4096, 4);
        let mut w = PartitionWriter::new(slot, 4096, 4, 0);
        w.write(&mut f, &vec![1; slot.size as usize - 2]).unwrap();
        assert!(w.write(&mut f, &[1, 2, 3]).is_err());
        assert_eq!(w.position(), u64::from(slot.size) - 2, "nothing written by the refused call");
        w.write(&mut f, &[1, 2]).unwrap();
    }
}
