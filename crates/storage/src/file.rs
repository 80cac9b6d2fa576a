//! [`FileFlash`]: the emulated device's NOR flash, kept in one file of its data
//! directory, byte for byte (offset N of the flash is offset N of the file).
//!
//! Owns the file and the NOR rules on it. It must never mmap the file (mapped
//! pages count in the process RSS, and a 256 MiB image has to stream through
//! with a few MiB of memory) and never hold more than a bounded buffer: it uses
//! positioned reads and writes (`pread`/`pwrite` through [`FileExt`]).
//!
//! Speed: enforcing "a write may only clear bits" naively means reading back
//! every byte before writing it, which halves the throughput of a download.
//! Instead each sector carries a watermark, the offset inside the sector from
//! which it is *known* to be erased: an erase sets it to 0, a write raises it
//! to the end of what it wrote, and after [`FileFlash::open`] it is the sector
//! size (nothing known, because the file was written by an earlier process).
//! A write that lies entirely above the watermarks needs no read-back; any
//! other part is read back (in bounded chunks) and checked. The watermark is
//! raised *before* the bytes go to the file, so a failed write can only make
//! it pessimistic, never let a later write skip a check it needs. Erasing
//! writes `0xFF` from one reusable 1 MiB buffer, so erasing 256 MiB costs 256
//! syscalls, not one per sector.
//!
//! Write-back: the device syncs the file (`fdatasync`) before it tells the host an image is
//! downloaded, so that a host crash cannot lose what was acknowledged. Left to the page cache,
//! a 256 MiB download is still all in memory at that point and the sync writes all of it while
//! the host waits. Every [`WRITEBACK_CHUNK`] of sequential writes, and whenever a write elsewhere
//! ends a sequence (a download's checkpoint in the settings, at least every 1 MiB), the file asks
//! the kernel to start writing that range out now (`sync_file_range` with
//! `SYNC_FILE_RANGE_WRITE`, which does not wait), so the disk works during the download and the
//! sync waits only for the tail. It is a hint: it promises nothing, its failure is ignored, and
//! only `sync` makes data durable. Neither nix nor rustix wraps `sync_file_range`, hence the
//! one `libc` call (Linux only).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::flash::{ERASED, FlashError, FlashStats, Geometry, NorFlash};
use crate::rules;

/// Erased bytes, written in pieces this big to fill erased areas (file creation and erase):
/// one static block shared by every flash of the process, so a fleet of a thousand devices
/// does not hold a thousand fill buffers.
const FILL_CHUNK: usize = 0x1_0000;
static ERASED_BLOCK: [u8; FILL_CHUNK] = [ERASED; FILL_CHUNK];
/// Largest buffer used to read old bytes back before a write.
const READ_BACK_CHUNK: usize = 0x1_0000;
/// Sequential bytes written before the file asks the kernel to start writing them to disk.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// A NOR flash kept in a file.
pub struct FileFlash {
    file: File,
    geometry: Geometry,
    /// Per sector: offset inside it from which the sector is known to be erased.
    erased_from: Vec<u32>,
    /// Buffer for read-backs; allocated on first use.
    scratch: Vec<u8>,
    stats: FlashStats,
    read_backs: u64,
    /// Written bytes (one contiguous range) not yet handed to the kernel's write-back.
    unflushed: std::ops::Range<u64>,
}

impl FileFlash {
    /// Creates a new flash file, all erased; fails if `path` already exists.
    pub fn create(path: &Path, geometry: Geometry) -> Result<Self, FlashError> {
        let geometry = revalidate(geometry)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| FlashError::File { path: path.to_owned(), source })?;
        let mut flash = Self::with_file(file, geometry);
        if let Err(err) = flash.fill_erased(0, geometry.capacity) {
            // A short file would make every later open fail with a size
            // mismatch and every later create fail because it exists.
            drop(flash);
            let _ = fs::remove_file(path);
            return Err(err);
        }
        Ok(flash)
    }

    /// Opens an existing flash file, whose length must be the geometry's capacity.
    pub fn open(path: &Path, geometry: Geometry) -> Result<Self, FlashError> {
        let geometry = revalidate(geometry)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| FlashError::File { path: path.to_owned(), source })?;
        let found =
            file.metadata().map_err(|source| FlashError::File { path: path.to_owned(), source })?.len();
        if found != u64::from(geometry.capacity) {
            return Err(FlashError::SizeMismatch { expected: u64::from(geometry.capacity), found });
        }
        Ok(Self::with_file(file, geometry))
    }

    /// Flushes written data to the disk (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), FlashError> {
        self.file.sync_data()?;
        // Everything written so far is on disk: no write-back left to start for it.
        self.unflushed = self.unflushed.end..self.unflushed.end;
        Ok(())
    }

    /// Counters of completed operations.
    pub fn stats(&self) -> FlashStats {
        self.stats
    }

    /// Reads issued to check old bytes before a write (a performance diagnostic:
    /// sequential writes into erased sectors should issue none).
    pub fn read_backs(&self) -> u64 {
        self.read_backs
    }

    fn with_file(file: File, geometry: Geometry) -> Self {
        Self {
            file,
            geometry,
            erased_from: vec![geometry.sector_size; geometry.sectors() as usize],
            scratch: Vec::new(),
            stats: FlashStats::default(),
            read_backs: 0,
            unflushed: 0..0,
        }
    }

    /// Notes a write of `len` bytes at `offset`, starting the write-back of a range once it is
    /// [`WRITEBACK_CHUNK`] long or the writes stop being sequential.
    fn note_written(&mut self, offset: u64, len: u64) {
        if offset != self.unflushed.end {
            self.start_writeback();
            self.unflushed = offset..offset;
        }
        self.unflushed.end = offset + len;
        if self.unflushed.end - self.unflushed.start >= WRITEBACK_CHUNK {
            self.start_writeback();
        }
    }

    /// Asks the kernel to start writing the noted range to disk, without waiting.
    fn start_writeback(&mut self) {
        let end = self.unflushed.end;
        let range = std::mem::replace(&mut self.unflushed, end..end);
        if range.is_empty() {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // Lengths are at most the flash's capacity (a u32), so they fit an off64_t.
            let (start, len) = (range.start as libc::off64_t, (range.end - range.start) as libc::off64_t);
            // SAFETY: plain syscall on a descriptor this struct owns for its whole life; it reads
            // no memory of ours. A failure only means no early write-back: `sync` still syncs.
            let rc = unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), start, len, libc::SYNC_FILE_RANGE_WRITE)
            };
            if rc != 0 {
                log::debug!("sync_file_range: {}", std::io::Error::last_os_error());
            }
        }
    }

    /// Writes `0xFF` over a sector-aligned range, then records it as erased.
    fn fill_erased(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        let end = u64::from(offset) + u64::from(len);
        let mut pos = u64::from(offset);
        while pos < end {
            let n = FILL_CHUNK.min((end - pos) as usize);
            self.file.write_all_at(&ERASED_BLOCK[..n], pos)?;
            pos += n as u64;
        }
        // Only now: an interrupted fill left bytes that are merely "more
        // erased", so the old watermarks stay true.
        let sector_size = self.geometry.sector_size;
        for sector in offset / sector_size..(offset + len) / sector_size {
            self.erased_from[sector as usize] = 0;
        }
        Ok(())
    }

    /// Refuses `data` at `offset` if it would set a programmed bit, reading back
    /// only the parts that lie below the sectors' erased watermarks.
    fn check_programmable(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let sector_size = u64::from(self.geometry.sector_size);
        let start = u64::from(offset);
        let end = start + data.len() as u64;
        // Contiguous ranges to check are merged so a write over unknown
        // sectors reads back in large chunks, not one read per sector.
        let mut pending: Option<(u64, u64)> = None;
        let mut pos = start;
        while pos < end {
            let sector = pos / sector_size;
            let sector_start = sector * sector_size;
            let piece_end = (sector_start + sector_size).min(end);
            let known_erased = sector_start + u64::from(self.erased_from[sector as usize]);
            let check_end = piece_end.min(known_erased);
            if pos < check_end {
                pending = match pending {
                    Some((a, b)) if b == pos => Some((a, check_end)),
                    Some((a, b)) => {
                        self.verify(a, &data[(a - start) as usize..(b - start) as usize])?;
                        Some((pos, check_end))
                    }
                    None => Some((pos, check_end)),
                };
            }
            pos = piece_end;
        }
        if let Some((a, b)) = pending {
            self.verify(a, &data[(a - start) as usize..(b - start) as usize])?;
        }
        Ok(())
    }

    /// Reads the cells under `new` (at absolute `offset`) and checks the NOR rule.
    fn verify(&mut self, offset: u64, new: &[u8]) -> Result<(), FlashError> {
        if self.scratch.is_empty() {
            self.scratch = vec![0; READ_BACK_CHUNK];
        }
        let mut done = 0;
        while done < new.len() {
            let n = self.scratch.len().min(new.len() - done);
            let at = offset + done as u64;
            self.file.read_exact_at(&mut self.scratch[..n], at)?;
            self.read_backs += 1;
            if let Some(bad) = rules::first_unprogrammable(&self.scratch[..n], &new[done..done + n]) {
                return Err(FlashError::NotErased { offset: at + bad as u64 });
            }
            done += n;
        }
        Ok(())
    }

    /// Marks everything a write touches as no longer known to be erased.
    fn raise_watermarks(&mut self, offset: u32, len: usize) {
        let sector_size = u64::from(self.geometry.sector_size);
        let end = u64::from(offset) + len as u64;
        let mut pos = u64::from(offset);
        while pos < end {
            let sector = pos / sector_size;
            let sector_start = sector * sector_size;
            let piece_end = (sector_start + sector_size).min(end);
            let mark = &mut self.erased_from[sector as usize];
            // Fits in u32: at most the sector size.
            *mark = (*mark).max((piece_end - sector_start) as u32);
            pos = piece_end;
        }
    }
}

impl NorFlash for FileFlash {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn sync(&mut self) -> Result<(), FlashError> {
        FileFlash::sync(self)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        rules::check_read(&self.geometry, offset, buf.len())?;
        self.file.read_exact_at(buf, u64::from(offset))?;
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        rules::check_write(&self.geometry, offset, data.len())?;
        self.check_programmable(offset, data)?;
        self.raise_watermarks(offset, data.len());
        self.file.write_all_at(data, u64::from(offset))?;
        self.note_written(u64::from(offset), data.len() as u64);
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        rules::check_erase(&self.geometry, offset, len)?;
        self.fill_erased(offset, len)?;
        self.stats.erases += 1;
        self.stats.sectors_erased += u64::from(len / self.geometry.sector_size);
        Ok(())
    }
}

impl fmt::Debug for FileFlash {
    // The watermark table has one entry per sector: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileFlash")
            .field("file", &self.file)
            .field("geometry", &self.geometry)
            .field("stats", &self.stats)
            .field("read_backs", &self.read_backs)
            .finish_non_exhaustive()
    }
}

/// Geometry's fields are public: check them again before sizing buffers.
fn revalidate(geometry: Geometry) -> Result<Geometry, FlashError> {
    Geometry::new(geometry.sector_size, geometry.write_size, geometry.capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_writes_start_their_write_back_every_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut flash = FileFlash::create(&dir.path().join("flash.bin"), geometry()).unwrap();
        flash.erase(0, 0x80_0000).unwrap();
        let chunk = vec![0x5a; 0x10_0000];
        for i in 0..7u32 {
            flash.write(i * 0x10_0000, &chunk).unwrap();
        }
        assert_eq!(flash.unflushed, 0..0x70_0000, "7 MiB written: still collecting");
        flash.write(0x70_0000, &chunk).unwrap();
        assert!(flash.unflushed.is_empty(), "8 MiB: handed to the write-back");
        // A write elsewhere hands over the range before it and starts a new one.
        flash.erase(0x7f_f000, 0x1000).unwrap();
        flash.write(0x7f_f000, &[0; 16]).unwrap();
        assert_eq!(flash.unflushed, 0x7f_f000..0x7f_f010);
        flash.sync().unwrap();
        assert!(flash.unflushed.is_empty(), "synced: nothing left to hand over");
        let mut back = vec![0; 16];
        flash.read(0x70_0000, &mut back).unwrap();
        assert_eq!(back, [0x5a; 16], "the hints change no byte");
    }

    fn geometry() -> Geometry {
        Geometry::new(0x1000, 4, 0x80_0000).unwrap()
    }

    #[test]
    fn create_fills_with_erased_bytes_and_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let flash = FileFlash::create(&path, geometry()).unwrap();
        drop(flash);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 0x80_0000);
        assert!(bytes.iter().all(|&b| b == ERASED));
        assert!(matches!(FileFlash::create(&path, geometry()), Err(FlashError::File { .. })));
    }

    #[test]
    fn open_checks_existence_geometry_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        assert!(matches!(FileFlash::open(&path, geometry()), Err(FlashError::File { .. })));
        fs::write(&path, vec![ERASED; 0x1000]).unwrap();
        let err = FileFlash::open(&path, geometry()).unwrap_err();
        assert!(matches!(err, FlashError::SizeMismatch { expected: 0x80_0000, found: 0x1000 }));
        assert!(err.to_string().contains("geometry"));
        let bad = Geometry { sector_size: 0x1000, write_size: 3, capacity: 0x1000 };
        assert!(matches!(FileFlash::open(&path, bad), Err(FlashError::BadGeometry { .. })));
        assert!(matches!(FileFlash::create(&dir.path().join("x"), bad), Err(FlashError::BadGeometry { .. })));
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn nor_rules_are_enforced_and_refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        flash.write(0x10, &[0x0f; 8]).unwrap();
        assert!(matches!(flash.write(0x12, &[0; 4]), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.write(0x10, &[0; 3]), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.write(0x7f_fffc, &[0; 8]), Err(FlashError::OutOfBounds { .. })));
        assert!(matches!(
            flash.write(0x0c, &[0, 0, 0, 0, 0x0f, 0x0f, 0x1f, 0x0f]),
            Err(FlashError::NotErased { offset: 0x12 })
        ));
        assert!(matches!(flash.erase(0x800, 0x1000), Err(FlashError::Misaligned { .. })));
        assert!(matches!(flash.erase(0x7f_f000, 0x2000), Err(FlashError::OutOfBounds { .. })));
        let mut buf = [0u8; 16];
        flash.read(0x0c, &mut buf).unwrap();
        assert_eq!(
            buf,
            [0xff, 0xff, 0xff, 0xff, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0xff, 0xff, 0xff, 0xff]
        );
        // Clearing more bits is fine; erase brings the sector back.
        flash.write(0x10, &[0x01; 4]).unwrap();
        flash.erase(0, 0x1000).unwrap();
        flash.read(0x0c, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == ERASED));
        assert_eq!(flash.stats(), FlashStats { writes: 2, bytes_written: 12, erases: 1, sectors_erased: 1 });
    }

    #[test]
    fn contents_persist_across_reopen_and_checks_still_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        flash.write(0x2000, b"persist!").unwrap();
        flash.sync().unwrap();
        drop(flash);
        let mut flash = FileFlash::open(&path, geometry()).unwrap();
        let mut buf = [0u8; 8];
        flash.read(0x2000, &mut buf).unwrap();
        assert_eq!(&buf, b"persist!");
        // Nothing is known after open: the old bytes must be read and refused.
        assert!(matches!(flash.write(0x2000, &[0xff; 8]), Err(FlashError::NotErased { .. })));
        assert!(flash.read_backs() > 0);
        flash.write(0x2008, &[0; 8]).unwrap();
        flash.write(0x2000, &[0; 8]).unwrap();
        flash.read(0x2000, &mut buf).unwrap();
        assert_eq!(buf, [0; 8]);
    }

    #[test]
    fn sequential_writes_into_erased_sectors_never_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        let chunk: Vec<u8> = (0..0x1_0000u32).map(|i| i as u8).collect();
        for i in 0..0x40 {
            flash.write(i * 0x1_0000, &chunk).unwrap();
        }
        assert_eq!(flash.read_backs(), 0);
        // Fine-grained appends, as a log would do, stay above the watermark too.
        drop(flash);
        let mut flash = FileFlash::open(&path, geometry()).unwrap();
        flash.erase(0x10_0000, 0x1000).unwrap();
        for i in 0..0x400 {
            flash.write(0x10_0000 + i * 4, &[0x5a; 4]).unwrap();
        }
        assert_eq!(flash.read_backs(), 0);
        // Writing back into the written part is checked.
        assert!(matches!(flash.write(0x10_0000, &[0xa5; 4]), Err(FlashError::NotErased { .. })));
        assert_eq!(flash.read_backs(), 1);
    }

    #[test]
    fn a_write_across_unknown_sectors_reads_back_in_large_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        drop(FileFlash::create(&path, geometry()).unwrap());
        let mut flash = FileFlash::open(&path, geometry()).unwrap();
        flash.write(0, &vec![0x11; 0x4_0000]).unwrap();
        // 64 sectors of 4 KiB checked with 64 KiB reads.
        assert_eq!(flash.read_backs(), 4);
        let mut buf = vec![0; 0x4_0000];
        flash.read(0, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0x11));
    }

    #[test]
    fn erase_of_a_large_range_restores_erased_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flash.bin");
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        flash.write(0x1f_fff0, &[0; 0x20]).unwrap();
        flash.erase(0, 0x80_0000).unwrap();
        assert_eq!(flash.stats().sectors_erased, 0x800);
        let mut buf = [0u8; 0x20];
        flash.read(0x1f_fff0, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == ERASED));
        flash.write(0x1f_fff0, &[0; 0x20]).unwrap();
        assert_eq!(flash.read_backs(), 0);
    }
}
