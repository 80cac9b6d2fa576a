//! The modem update target: delta packages, downloaded into the scratch
//! area, applied at reset by the modem updater into the other firmware bank
//! and flipped to only once the result matches its SHA-256.
//!
//! Owns what is particular to the modem: the scratch area (erased, with the
//! `2,0`/`3,0` stages, before a fresh download if it holds anything), the
//! check of a package's source firmware as soon as its header arrives, the
//! dry run that proves a package applies before it is scheduled, the
//! validator the updater runs at boot, and the result after boot. Nordic's
//! modem finds a package for another firmware only when applying it; this
//! target refuses it before anything is stored.

use std::io::Read;

use atfota_boot::{ApplyPlan, ModemError, ModemOutcome, ModemState, ModemUpdater};
use atfota_image::{DeltaVerifier, TrustedKey, VerifiedDelta};
use atfota_storage::{NorFlash, Partition, Settings};

use crate::engine::CommandError;
use crate::engine::record::{self, Pending};
use crate::event::{FailKind, Failure, UpgradeResult};
use crate::slot::SlotReader;

/// The modem's firmware banks, scratch area and updater.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModemTarget {
    updater: ModemUpdater,
}

impl ModemTarget {
    pub fn new(updater: ModemUpdater) -> Self {
        Self { updater }
    }

    /// Where downloads are written: the scratch area.
    pub fn area(&self) -> Partition {
        self.updater.partitions().scratch
    }

    /// Largest package accepted: the scratch area's size.
    pub fn limit(&self) -> u64 {
        u64::from(self.area().size)
    }

    /// The running modem firmware, if the state partition names one.
    pub fn running<F: NorFlash>(&self, flash: &mut F) -> Option<ModemState> {
        self.updater.state(flash).ok().flatten()
    }

    /// A verifier for a package of at most [`ModemTarget::limit`] bytes.
    pub fn verifier(&self, keys: &[TrustedKey]) -> DeltaVerifier {
        DeltaVerifier::new(self.limit(), keys)
    }

    /// Refuses a download while a modem update waits for activation.
    pub fn check_start<F: NorFlash>(&self, flash: &mut F) -> Result<(), CommandError> {
        match self.updater.state(flash).map_err(storage)? {
            Some(st) if st.request.is_some() => Err(CommandError::PendingActivation),
            Some(_) => Ok(()),
            None => Err(CommandError::Storage("the modem state partition holds no valid record".into())),
        }
    }

    /// Whether the scratch area holds anything (it must be erased before a fresh download).
    pub fn scratch_dirty<F: NorFlash>(&self, flash: &mut F) -> Result<bool, CommandError> {
        let area = self.area();
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u32;
        while off < area.size {
            let n = (area.size - off).min(buf.len() as u32);
            area.read(flash, off, &mut buf[..n as usize])
                .map_err(|e| CommandError::Storage(e.to_string()))?;
            if buf[..n as usize].iter().any(|&b| b != 0xff) {
                return Ok(true);
            }
            off += n;
        }
        Ok(false)
    }

    /// Erases the scratch area.
    pub fn erase_scratch<F: NorFlash>(&self, flash: &mut F) -> Result<(), CommandError> {
        self.area().erase_all(flash).map_err(|e| CommandError::Storage(e.to_string()))
    }

    /// Refuses a package whose source is not the running firmware, as soon
    /// as its header is known.
    pub fn check_source<F: NorFlash>(&self, flash: &mut F, v: &DeltaVerifier) -> Result<(), Failure> {
        let Some(header) = v.header() else { return Ok(()) };
        let running = self
            .running(flash)
            .ok_or_else(|| Failure::new(FailKind::Storage, "the running modem firmware is unknown"))?;
        if header.source.sha256 != running.active.sha256 {
            return Err(Failure::new(
                FailKind::Invalid,
                format!(
                    "the delta package applies to modem firmware {} ({}) but {} ({}) runs",
                    header.source.uuid(),
                    header.source.version,
                    atfota_image::modem_uuid(&running.active.sha256),
                    running.active.version
                ),
            ));
        }
        Ok(())
    }

    /// Proves the verified package applies (a dry run into a hash), then
    /// hands it to the updater. `fota.pending` names the modem state before
    /// the request, so a cut between the two leaves nothing to report.
    pub fn schedule<F: NorFlash>(
        &self,
        flash: &mut F,
        settings: &mut Settings,
        verified: &VerifiedDelta,
    ) -> Result<(), Failure> {
        let plan = plan_of(verified)?;
        let verdict =
            self.updater.check(flash, &plan).map_err(|e| Failure::new(FailKind::Storage, e.to_string()))?;
        if let Err(e) = verdict {
            return Err(Failure::new(
                FailKind::Invalid,
                format!("the delta package does not apply to the running modem firmware ({e:?})"),
            ));
        }
        let since = self
            .running(flash)
            .map(|st| st.seq)
            .ok_or_else(|| Failure::new(FailKind::Storage, "the running modem firmware is unknown"))?;
        record::schedule(settings, flash, Pending::Modem { since })
            .map_err(|e| Failure::new(FailKind::Storage, e))?;
        let len = u32::try_from(verified.total_len)
            .map_err(|_| Failure::new(FailKind::Invalid, "the delta package is larger than 4 GiB"))?;
        self.updater.request(flash, len).map_err(|e| Failure::new(FailKind::Storage, e.to_string()))?;
        log::info!(
            "modem delta {} -> {} ({} bytes, verified with key #{}) scheduled for the next reset",
            verified.header.source.version,
            verified.header.target.version,
            verified.total_len,
            verified.key_index
        );
        Ok(())
    }

    /// The modem's boot: applies a requested package (see `atfota_boot::modem`).
    pub fn boot<F: NorFlash>(
        &self,
        flash: &mut F,
        keys: &[TrustedKey],
    ) -> Result<(), atfota_boot::BootError> {
        let action =
            self.updater.boot(flash, &mut |flash, scratch, len| validate(flash, scratch, len, keys))?;
        match action {
            atfota_boot::ModemBootAction::None => {}
            atfota_boot::ModemBootAction::Applied => log::info!("modem: new firmware installed"),
            atfota_boot::ModemBootAction::Failed(e) => {
                log::error!("modem: update failed with code {}", e.code())
            }
        }
        Ok(())
    }

    /// Drops a waiting package without applying it (the settings are lost:
    /// its signature can no longer be checked).
    pub fn refuse_request<F: NorFlash>(&self, flash: &mut F) -> Result<(), atfota_boot::BootError> {
        if self.running(flash).is_some_and(|st| st.request.is_some()) {
            log::error!("modem: the waiting update is not applied: the settings store is lost");
            self.updater.cancel_request(flash)?;
        }
        Ok(())
    }

    /// The result of the modem update scheduled after state `since`, once
    /// known; an update that never reached the updater is forgotten silently.
    pub fn result<F: NorFlash>(
        &self,
        flash: &mut F,
        settings: &mut Settings,
        since: u32,
    ) -> Result<Option<UpgradeResult>, String> {
        let Some(st) = self.running(flash) else {
            log::error!("modem: the state is unreadable; the update's result is unknown");
            return Ok(None);
        };
        match st.outcome {
            Some((outcome, for_seq)) if for_seq > since => Ok(Some(match outcome {
                ModemOutcome::Applied => UpgradeResult::Complete,
                ModemOutcome::Failed(e) => UpgradeResult::Failed(modem_failure(e)),
            })),
            _ if st.request.is_some() => Ok(None),
            _ => {
                log::warn!("a modem update was being scheduled when power was lost; nothing to report");
                record::reported(settings, flash)?;
                Ok(None)
            }
        }
    }
}

/// What the updater must produce for a verified package.
fn plan_of(v: &VerifiedDelta) -> Result<ApplyPlan, Failure> {
    let too_big = || Failure::new(FailKind::Invalid, "the delta package is larger than 4 GiB");
    Ok(ApplyPlan {
        patch_offset: u32::try_from(v.patch_offset).map_err(|_| too_big())?,
        patch_len: u32::try_from(v.patch_len).map_err(|_| too_big())?,
        source_sha256: v.header.source.sha256,
        target_sha256: v.header.target.sha256,
        target_len: v.header.target.size,
        target_version: v.header.target.version.to_string(),
    })
}

/// The updater's validator: the stored package must still verify.
fn validate<F: NorFlash>(
    flash: &mut F,
    scratch: &Partition,
    len: u32,
    keys: &[TrustedKey],
) -> Result<ApplyPlan, ModemError> {
    let mut verifier = DeltaVerifier::new(u64::from(scratch.size), keys);
    let mut reader = SlotReader::new(flash, *scratch, u64::from(len));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            log::error!("modem: the stored package cannot be read: {e}");
            ModemError::Hardware
        })?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n]).map_err(|e| {
            log::error!("modem: the stored package no longer verifies: {e}");
            ModemError::Authentication
        })?;
    }
    let verified = verifier.finish(keys).map_err(|e| {
        log::error!("modem: the stored package no longer verifies: {e}");
        ModemError::Authentication
    })?;
    plan_of(&verified).map_err(|_| ModemError::Authentication)
}

/// A failure carrying Nordic's modem error code.
fn modem_failure(e: ModemError) -> Failure {
    let what = match e {
        ModemError::Internal => "the new modem firmware did not come out as the package said",
        ModemError::Hardware => "a flash operation failed while applying the modem update",
        ModemError::Authentication => "the stored modem update no longer verifies",
        ModemError::UuidMismatch => "the running modem firmware is not the one the update applies to",
        _ => "the modem update failed",
    };
    Failure::new(FailKind::ModemUpdate(e.code()), what)
}

fn storage(e: atfota_boot::BootError) -> CommandError {
    CommandError::Storage(e.to_string())
}
