//! The application update target: MCUboot images, downloaded into the
//! secondary slot, installed at reset by the bootloader's swap, confirmed by
//! the new image's self-test or reverted.
//!
//! Owns what is particular to the application: the checks before a download
//! may overwrite the secondary slot, verification, the two-phase scheduling
//! (`fota.pending` before the bootloader request), and reading the result
//! from the boot state. It never streams a download itself: the session does.

use atfota_boot::{BootAction, BootReport, Bootloader, SwapState};
use atfota_image::{StreamVerifier, TrustedKey, VerifiedImage};
use atfota_storage::{NorFlash, Partition, Settings};

use crate::engine::CommandError;
use crate::engine::record::{self, Pending};
use crate::event::{FailKind, Failure, UpgradeResult};
use crate::slot::{self, SlotReader};

/// The application slots and their bootloader.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppTarget {
    boot: Bootloader,
}

impl AppTarget {
    pub fn new(boot: Bootloader) -> Self {
        Self { boot }
    }

    /// Where downloads are written: the secondary slot.
    pub fn area(&self) -> Partition {
        *self.boot.secondary()
    }

    /// Largest image accepted: the primary slot's size.
    pub fn limit(&self) -> u64 {
        u64::from(self.boot.primary().size)
    }

    /// A verifier for an image of at most [`AppTarget::limit`] bytes,
    /// computing the digests `keys` can need.
    pub fn verifier(&self, keys: &[TrustedKey]) -> StreamVerifier {
        StreamVerifier::new(self.limit(), keys)
    }

    /// Finishes a pure signature's check by reading the image back from the slot.
    pub fn second_pass<F: NorFlash>(
        &self,
        flash: &mut F,
        pass: atfota_image::SecondPass,
    ) -> Result<VerifiedImage, Failure> {
        pass.read_from(SlotReader::new(flash, self.area(), self.limit()))
            .map_err(|e| super::image_failure(&e))
    }

    /// Refuses a download while the secondary slot holds something the
    /// bootloader still needs or that waits for activation.
    pub fn check_start<F: NorFlash>(&self, flash: &mut F) -> Result<(), CommandError> {
        match self.boot.state(flash).map_err(storage)? {
            SwapState::Requested { .. } => Err(CommandError::PendingActivation),
            st if st.protects_secondary() => Err(CommandError::Protected(st)),
            _ => Ok(()),
        }
    }

    /// Refuses while an application image waits for activation (any other
    /// target's download may run meanwhile; it does not touch these slots).
    pub fn check_pending<F: NorFlash>(&self, flash: &mut F) -> Result<(), CommandError> {
        match self.boot.state(flash).map_err(storage)? {
            SwapState::Requested { .. } => Err(CommandError::PendingActivation),
            _ => Ok(()),
        }
    }

    /// The secondary slot is about to be rewritten: a finished swap's old
    /// image there is no longer wanted.
    pub fn prepare<F: NorFlash>(&self, flash: &mut F) -> Result<(), CommandError> {
        self.boot.cancel_request(flash).map_err(storage)
    }

    /// Hands a verified image to the bootloader. `fota.pending` is recorded
    /// first: a cut before the request leaves "pending, nothing requested",
    /// which the next boot clears without a false report.
    pub fn schedule<F: NorFlash>(
        &self,
        flash: &mut F,
        settings: &mut Settings,
        verified: &VerifiedImage,
    ) -> Result<(), Failure> {
        let old_len = slot::image_len(flash, self.boot.primary());
        let pages = self.boot.pages_for(verified.total_len, old_len);
        record::schedule(settings, flash, Pending::AppScheduling).map_err(store_failure)?;
        self.boot
            .request_upgrade(flash, pages, false)
            .map_err(|e| Failure::new(FailKind::Storage, e.to_string()))?;
        record::scheduled(settings, flash).map_err(store_failure)?;
        log::info!(
            "image {} ({} bytes) verified with key #{}; swap of {pages} pages requested",
            verified.header.version,
            verified.total_len,
            verified.key_index
        );
        Ok(())
    }

    /// Erases the secondary slot, forgetting a waiting image and any
    /// download. Refused during a swap or while a revert is possible.
    pub fn erase<F: NorFlash>(&self, flash: &mut F, settings: &mut Settings) -> Result<(), CommandError> {
        let st = self.boot.state(flash).map_err(storage)?;
        if st.protects_secondary() {
            return Err(CommandError::Protected(st));
        }
        // Forget the waiting image first: a cut after this leaves nothing to install or report.
        self.boot.cancel_request(flash).map_err(storage)?;
        let app_pending =
            matches!(record::pending(settings), Some(Pending::AppScheduling | Pending::AppScheduled));
        record::discard(settings, flash, app_pending).map_err(CommandError::Storage)?;
        self.area().erase_all(flash).map_err(|e| CommandError::Storage(e.to_string()))
    }

    /// The security counter of the running image (verified again: it is read
    /// from a slot that anything could have written).
    pub fn running_counter<F: NorFlash>(&self, flash: &mut F, keys: &[TrustedKey]) -> Option<u32> {
        let len = self.limit();
        let reader = SlotReader::new(flash, *self.boot.primary(), len);
        atfota_image::verify_reader(reader, len, keys).ok()?.security_counter
    }

    /// The running image's self-test after a swap: true when it passed and
    /// is now confirmed. Only an image on trial is tested.
    pub fn self_test<F: NorFlash>(
        &self,
        flash: &mut F,
        keys: &[TrustedKey],
        fail: bool,
    ) -> Result<Option<bool>, atfota_boot::BootError> {
        if !matches!(self.boot.state(flash)?, SwapState::Testing { .. }) {
            return Ok(None);
        }
        let len = self.limit();
        let verdict =
            atfota_image::verify_reader(SlotReader::new(flash, *self.boot.primary(), len), len, keys);
        match verdict {
            Ok(_) if !fail => {
                self.boot.confirm(flash)?;
                Ok(Some(true))
            }
            Ok(_) => {
                log::warn!("new image fails its self-test (--fail-self-test): not confirming");
                Ok(Some(false))
            }
            Err(e) => {
                log::error!("new image fails its self-test: {e}");
                Ok(Some(false))
            }
        }
    }

    /// The result of a scheduled application update after boot, or `None`
    /// when it is not known yet. An update that was still being scheduled
    /// when the power went and never reached the bootloader is forgotten
    /// silently (`Some(None)` with the record cleared).
    pub fn result<F: NorFlash>(
        &self,
        flash: &mut F,
        settings: &mut Settings,
        pending: Pending,
        report: &BootReport,
    ) -> Result<Option<UpgradeResult>, String> {
        let result = match self.boot.state(flash).map_err(|e| e.to_string())? {
            SwapState::Confirmed { .. } => UpgradeResult::Complete,
            SwapState::Reverted { .. } => UpgradeResult::Reverted,
            SwapState::Rejected => {
                let detail = match &report.action {
                    BootAction::Rejected { reason } => reason.clone(),
                    _ => "the bootloader rejected the image".to_string(),
                };
                UpgradeResult::Failed(Failure::new(FailKind::Install, detail))
            }
            SwapState::Idle if pending == Pending::AppScheduled => {
                log::error!("an upgrade was scheduled but the boot state is gone: it was not installed");
                UpgradeResult::Failed(Failure::new(FailKind::Install, "the boot state was lost"))
            }
            SwapState::Idle => {
                log::warn!("an upgrade was being scheduled when power was lost; nothing to report");
                record::reported(settings, flash)?;
                return Ok(None);
            }
            other => {
                log::warn!("upgrade result not known yet ({other:?})");
                return Ok(None);
            }
        };
        Ok(Some(result))
    }
}

fn storage(e: atfota_boot::BootError) -> CommandError {
    CommandError::Storage(e.to_string())
}

fn store_failure(e: String) -> Failure {
    Failure::new(FailKind::Storage, e)
}
