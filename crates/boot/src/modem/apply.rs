//! Applying a delta package: the patch from the running bank into the other
//! bank, then the check of the result against its SHA-256.
//!
//! Owns the IO adapters between flash partitions and the patch applier of
//! `atfota-delta` (random reads of the running bank, the patch read from the
//! scratch area, the new firmware streamed into the other bank) and the
//! sorting of what went wrong into Nordic's error codes. A simulated power
//! cut is never an outcome: it goes back to the caller, and the next boot
//! starts the apply again. It never writes the running bank.

use std::io;

use atfota_delta::{Limits, PatchError, ReadAt};
use atfota_storage::{FlashError, NorFlash, Partition, PartitionWriter};
use sha2::{Digest, Sha256};

use super::{ActiveFirmware, ApplyPlan, ModemError, ModemState, ModemUpdater};
use crate::BootError;

/// LZMA dictionaries up to this size are accepted (detools' default is 8 MiB).
const MAX_LZMA_DICT: u32 = 16 << 20;

/// Applies `plan` into a hash only, writing nothing: whether the patch,
/// applied to the running firmware, produces exactly the target it names.
pub(super) fn dry_run<F: NorFlash + ?Sized>(
    up: &ModemUpdater,
    flash: &mut F,
    st: &ModemState,
    plan: &ApplyPlan,
) -> Result<Result<(), ModemError>, BootError> {
    if plan.source_sha256 != st.active.sha256 {
        return Ok(Err(ModemError::UuidMismatch));
    }
    let mut io = FlashIo { flash: &mut *flash, bank: *up.active_bank(st), len: st.active.len, error: None };
    let mut hasher = HashSink { hasher: Sha256::new(), len: 0 };
    let applied = {
        let shared = std::cell::RefCell::new(&mut io);
        let mut from = Shared(&shared);
        let mut patch = PatchReader {
            shared: &shared,
            area: up.parts.scratch,
            pos: plan.patch_offset,
            end: plan.patch_offset.saturating_add(plan.patch_len),
        };
        let limits = Limits { max_to_size: u64::from(up.parts.banks[0].size), max_lzma_dict: MAX_LZMA_DICT };
        atfota_delta::apply(&mut from, &mut patch, &mut hasher, &limits)
    };
    if let Some(e) = io.error.take() {
        return flash_outcome(e).map(|r| r.map(|_| ()));
    }
    if let Err(e) = applied {
        log::warn!("modem: the package's patch cannot be applied to the running firmware: {e}");
        return Ok(Err(ModemError::Internal));
    }
    let digest: [u8; 32] = hasher.hasher.finalize().into();
    if hasher.len != u64::from(plan.target_len) || digest != plan.target_sha256 {
        log::warn!("modem: the package's patch does not produce the firmware the package names");
        return Ok(Err(ModemError::Internal));
    }
    Ok(Ok(()))
}

/// Applies `plan`; `Ok(Err(_))` is an outcome to record, `Err(_)` a cut.
pub(super) fn run<F: NorFlash + ?Sized>(
    up: &ModemUpdater,
    flash: &mut F,
    st: &ModemState,
    plan: &ApplyPlan,
) -> Result<Result<ActiveFirmware, ModemError>, BootError> {
    if plan.source_sha256 != st.active.sha256 {
        log::error!("modem: the package applies to another firmware than the one running");
        return Ok(Err(ModemError::UuidMismatch));
    }
    let target_bank = 1 - (st.active.bank & 1);
    let to = up.parts.banks[usize::from(target_bank)];
    if plan.target_len > to.size {
        log::error!("modem: the new firmware ({} bytes) does not fit a bank", plan.target_len);
        return Ok(Err(ModemError::Internal));
    }
    let g = up.geometry;
    let mut source =
        FlashIo { flash: &mut *flash, bank: *up.active_bank(st), len: st.active.len, error: None };
    // The patch is read through its own handle on the flash after the source:
    // both borrow it, so the applier gets them one at a time through `Shared`.
    let applied = {
        let shared = std::cell::RefCell::new(&mut source);
        let mut from = Shared(&shared);
        let mut patch = PatchReader {
            shared: &shared,
            area: up.parts.scratch,
            pos: plan.patch_offset,
            end: plan.patch_offset.saturating_add(plan.patch_len),
        };
        let mut sink =
            BankSink { shared: &shared, writer: PartitionWriter::new(to, g.sector_size, g.write_size, 0) };
        let limits = Limits { max_to_size: u64::from(to.size), max_lzma_dict: MAX_LZMA_DICT };
        let r = atfota_delta::apply(&mut from, &mut patch, &mut sink, &limits);
        match r {
            Ok(n) => sink.finish().map(|()| n).map_err(PatchError::WriteTo),
            Err(e) => Err(e),
        }
    };
    if let Some(e) = source.error.take() {
        return flash_outcome(e);
    }
    let written = match applied {
        Ok(n) => n,
        Err(e) => {
            log::error!("modem: the patch could not be applied: {e}");
            return Ok(Err(ModemError::Internal));
        }
    };
    if written != u64::from(plan.target_len) {
        log::error!("modem: the patch produced {written} bytes, the package announced {}", plan.target_len);
        return Ok(Err(ModemError::Internal));
    }
    let digest = match hash_partition(flash, &to, plan.target_len) {
        Ok(d) => d,
        Err(e) => return flash_outcome(e),
    };
    if digest != plan.target_sha256 {
        log::error!("modem: the new firmware does not match the package's SHA-256");
        return Ok(Err(ModemError::Internal));
    }
    Ok(Ok(ActiveFirmware {
        bank: target_bank,
        len: plan.target_len,
        sha256: digest,
        version: plan.target_version.clone(),
    }))
}

/// A cut goes back to the caller; any other flash failure is a hardware error.
fn flash_outcome(e: FlashError) -> Result<Result<ActiveFirmware, ModemError>, BootError> {
    if matches!(e, FlashError::PowerLost) {
        return Err(BootError::Flash(e));
    }
    log::error!("modem: a flash operation failed during the update: {e}");
    Ok(Err(ModemError::Hardware))
}

/// SHA-256 of the first `len` bytes of `part`.
pub(crate) fn hash_partition<F: NorFlash + ?Sized>(
    flash: &mut F,
    part: &Partition,
    len: u32,
) -> Result<[u8; 32], FlashError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u32;
    while off < len {
        let n = (len - off).min(buf.len() as u32);
        part.read(flash, off, &mut buf[..n as usize])?;
        hasher.update(&buf[..n as usize]);
        off += n;
    }
    Ok(hasher.finalize().into())
}

/// The flash, with the first flash error kept (the applier only sees an
/// `io::Error` and must not mistake a cut for a corrupt patch).
struct FlashIo<'a, F: NorFlash + ?Sized> {
    flash: &'a mut F,
    bank: Partition,
    len: u32,
    error: Option<FlashError>,
}

impl<F: NorFlash + ?Sized> FlashIo<'_, F> {
    fn track<T>(&mut self, r: Result<T, FlashError>) -> io::Result<T> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.error.get_or_insert(e);
            io::Error::other(msg)
        })
    }
}

struct Shared<'s, 'a, F: NorFlash + ?Sized>(&'s std::cell::RefCell<&'s mut FlashIo<'a, F>>);

impl<F: NorFlash + ?Sized> ReadAt for Shared<'_, '_, F> {
    fn len(&self) -> u64 {
        u64::from(self.0.borrow().len)
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut r = self.0.borrow_mut();
        let at = u32::try_from(offset).map_err(|_| io::Error::other("offset past the bank"))?;
        let bank = r.bank;
        let res = bank.read(r.flash, at, buf);
        r.track(res)
    }
}

/// The patch bytes in the scratch area.
struct PatchReader<'s, 'a, F: NorFlash + ?Sized> {
    shared: &'s std::cell::RefCell<&'s mut FlashIo<'a, F>>,
    area: Partition,
    pos: u32,
    end: u32,
}

impl<F: NorFlash + ?Sized> io::Read for PatchReader<'_, '_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.pos).min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
        if n == 0 {
            return Ok(0);
        }
        let mut r = self.shared.borrow_mut();
        let res = self.area.read(r.flash, self.pos, &mut buf[..n as usize]);
        r.track(res)?;
        self.pos += n;
        Ok(n as usize)
    }
}

/// A sink that only hashes and counts (the dry run).
struct HashSink {
    hasher: Sha256,
    len: u64,
}

impl io::Write for HashSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.len += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The new firmware, streamed into the other bank.
struct BankSink<'s, 'a, F: NorFlash + ?Sized> {
    shared: &'s std::cell::RefCell<&'s mut FlashIo<'a, F>>,
    writer: PartitionWriter,
}

impl<F: NorFlash + ?Sized> BankSink<'_, '_, F> {
    fn finish(&mut self) -> io::Result<()> {
        let mut r = self.shared.borrow_mut();
        let res = self.writer.flush(r.flash);
        r.track(res)
    }
}

impl<F: NorFlash + ?Sized> io::Write for BankSink<'_, '_, F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut r = self.shared.borrow_mut();
        let res = self.writer.write(r.flash, data);
        r.track(res)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
