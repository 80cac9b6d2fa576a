//! The modem firmware's updater: two banks, a scratch area for delta
//! packages, and a state partition that says which bank runs.
//!
//! Life of a modem update:
//! 1. the FOTA engine downloads a delta package into the scratch area,
//!    verifies it, and calls [`ModemUpdater::request`];
//! 2. at reset, [`ModemUpdater::boot`] has the package checked again (the
//!    caller's validator: signature, header), checks that the running
//!    firmware is the package's source, applies the patch from the running
//!    bank into the other one, checks the result against the target
//!    SHA-256, and only then flips banks by writing a new state record;
//! 3. the outcome stays in the state for the engine to report.
//!
//! Power-fail safety: the running bank is only ever read during an update;
//! the other bank is rewritten from scratch by every attempt (an interrupted
//! apply is simply redone at the next boot), and the flip is one state
//! record (see [`state`](self::state)), so a cut at any flash operation
//! leaves the old or the new firmware running, never neither. The patch
//! format is `atfota-delta`'s; this module never parses packages (the caller
//! passes a validator), like the application bootloader.

mod apply;
mod state;

use atfota_storage::{FlashError, Geometry, ModemPartitions, NorFlash, Partition};
use sha2::{Digest, Sha256};

pub use state::{ActiveFirmware, MAX_VERSION_LEN, ModemError, ModemOutcome, ModemState};

use self::state::StateStore;
use crate::BootError;

/// What the caller's validator found in the scratch area: where the patch
/// is and what it must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyPlan {
    /// Offset of the patch in the scratch area.
    pub patch_offset: u32,
    /// Length of the patch.
    pub patch_len: u32,
    /// SHA-256 of the firmware the patch applies to.
    pub source_sha256: [u8; 32],
    /// SHA-256 of the firmware it produces.
    pub target_sha256: [u8; 32],
    /// Length of the firmware it produces.
    pub target_len: u32,
    /// Version string of the firmware it produces.
    pub target_version: String,
}

/// What [`ModemUpdater::boot`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModemBootAction {
    /// Nothing was requested.
    None,
    /// A package was applied: the new firmware runs.
    Applied,
    /// A package was refused or could not be applied: the old firmware runs.
    Failed(ModemError),
}

/// The modem updater for one device's modem partitions.
#[derive(Clone, Copy, Debug)]
pub struct ModemUpdater {
    parts: ModemPartitions,
    geometry: Geometry,
    store: StateStore,
}

impl ModemUpdater {
    /// Checks the partitions: two equal banks, state of at least two sectors.
    pub fn new(geometry: Geometry, parts: ModemPartitions) -> Result<Self, BootError> {
        if parts.banks[0].size != parts.banks[1].size {
            return Err(BootError::Layout("the two modem banks differ in size".into()));
        }
        let store = StateStore::new(parts.state, geometry.sector_size)
            .ok_or_else(|| BootError::Layout("the modem state partition needs two sectors".into()))?;
        Ok(Self { parts, geometry, store })
    }

    /// Bytes of state partition the updater needs: two sectors.
    pub fn state_size(geometry: Geometry) -> u32 {
        2 * geometry.sector_size
    }

    /// The partitions this updater works on.
    pub fn partitions(&self) -> &ModemPartitions {
        &self.parts
    }

    /// The current state; `None` when the partition holds no valid record
    /// (a device whose modem firmware was never installed).
    pub fn state<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<Option<ModemState>, BootError> {
        Ok(self.store.read(flash)?.map(|(st, _)| st))
    }

    /// Installs a factory firmware into bank 0 and writes the first state.
    /// The device is being made: nothing else is on these partitions.
    pub fn provision<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        firmware: &[u8],
        version: &str,
    ) -> Result<(), BootError> {
        let len = u32::try_from(firmware.len()).ok().filter(|&n| n <= self.parts.banks[0].size).ok_or_else(
            || {
                BootError::Layout(format!(
                    "a modem firmware of {} bytes does not fit a {}-byte bank",
                    firmware.len(),
                    self.parts.banks[0].size
                ))
            },
        )?;
        check_version(version)?;
        let bank = &self.parts.banks[0];
        let mut w = atfota_storage::PartitionWriter::new(
            *bank,
            self.geometry.sector_size,
            self.geometry.write_size,
            0,
        );
        w.write(flash, firmware)?;
        w.flush(flash)?;
        let firmware =
            ActiveFirmware { bank: 0, len, sha256: Sha256::digest(firmware).into(), version: version.into() };
        self.store.write(flash, &ModemState { seq: 1, active: firmware, request: None, outcome: None })?;
        Ok(())
    }

    /// Asks the next boot to apply the package of `package_len` bytes in the
    /// scratch area. Returns the sequence number of the state before the
    /// request: an outcome recorded for a later sequence is this request's.
    pub fn request<F: NorFlash + ?Sized>(&self, flash: &mut F, package_len: u32) -> Result<u32, BootError> {
        let st = self.current(flash)?;
        let before = st.seq;
        self.store.write(flash, &ModemState { seq: before + 1, request: Some(package_len), ..st })?;
        Ok(before)
    }

    /// Withdraws a request that has not been applied (nothing happens when there is none).
    pub fn cancel_request<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), BootError> {
        let st = self.current(flash)?;
        if st.request.is_some() {
            self.store.write(flash, &ModemState { seq: st.seq + 1, request: None, ..st })?;
        }
        Ok(())
    }

    /// The bank the running firmware is in.
    pub fn active_bank(&self, state: &ModemState) -> &Partition {
        &self.parts.banks[usize::from(state.active.bank & 1)]
    }

    /// One boot of the modem: applies a requested package (see the module
    /// docs). `validate` checks the package of the given length in the
    /// scratch area and says what applying it must produce. A power cut
    /// returns `Err(Flash(PowerLost))`; the next call redoes the apply.
    pub fn boot<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        validate: &mut dyn FnMut(&mut F, &Partition, u32) -> Result<ApplyPlan, ModemError>,
    ) -> Result<ModemBootAction, BootError> {
        let Some(st) = self.state(flash)? else {
            log::error!("modem: no valid state record; the modem firmware is unknown");
            return Ok(ModemBootAction::None);
        };
        let Some(package_len) = st.request else { return Ok(ModemBootAction::None) };
        log::info!("modem: applying the delta package of {package_len} bytes");
        let outcome = match validate(flash, &self.parts.scratch, package_len) {
            Ok(plan) => apply::run(self, flash, &st, &plan)?,
            Err(e) => Err(e),
        };
        let (active, action) = match outcome {
            Ok(new) => (new, ModemBootAction::Applied),
            Err(e) => {
                log::error!("modem: the update failed ({e:?}, code {}); the old firmware runs", e.code());
                (st.active.clone(), ModemBootAction::Failed(e))
            }
        };
        let result = match action {
            ModemBootAction::Failed(e) => ModemOutcome::Failed(e),
            _ => ModemOutcome::Applied,
        };
        let next = ModemState { seq: st.seq + 1, active, request: None, outcome: Some((result, st.seq)) };
        self.store.write(flash, &next)?;
        Ok(action)
    }

    /// Checks, without writing, that the package in the scratch area would
    /// apply: the patch run against the running firmware produces exactly
    /// the target `plan` names. `Ok(Err(_))` is the verdict; `Err(_)` a
    /// flash failure.
    pub fn check<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        plan: &ApplyPlan,
    ) -> Result<Result<(), ModemError>, BootError> {
        let st = self.current(flash)?;
        apply::dry_run(self, flash, &st, plan)
    }

    /// Copies the running firmware into `out`.
    pub fn export<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        out: &mut dyn std::io::Write,
    ) -> Result<(), BootError> {
        let st = self.current(flash)?;
        let bank = *self.active_bank(&st);
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u32;
        while off < st.active.len {
            let n = (st.active.len - off).min(buf.len() as u32);
            bank.read(flash, off, &mut buf[..n as usize])?;
            out.write_all(&buf[..n as usize]).map_err(|e| BootError::Flash(FlashError::Io(e)))?;
            off += n;
        }
        Ok(())
    }

    fn current<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<ModemState, BootError> {
        self.state(flash)?
            .ok_or_else(|| BootError::Layout("the modem state partition holds no valid record".into()))
    }
}

fn check_version(version: &str) -> Result<(), BootError> {
    let ok =
        (1..=MAX_VERSION_LEN).contains(&version.len()) && version.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BootError::Layout(format!(
            "a modem firmware version must be 1..={MAX_VERSION_LEN} printable ASCII characters"
        )))
    }
}
