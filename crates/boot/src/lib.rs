//! The emulated modem's bootloader: installs a downloaded image by swapping
//! the primary and secondary slots, lets the new image confirm itself, and
//! swaps back (reverts) if it does not — safely at every power cut.
//!
//! Owns the boot decision and the swap; never parses images (the caller
//! passes a validator) and never touches the settings store. Written by hand
//! rather than using embassy-boot because embassy-boot fixes the flash
//! geometry at compile time, works on async flash traits, has no notion of a
//! permanent (never reverted) install, and its state encoding is not the one
//! proved here against torn writes. The scheme is embassy-boot's page shift
//! (see [`swap`](crate::swap)); the state encoding is in [`state`](crate::state).
//!
//! Life of an upgrade:
//! 1. the FOTA engine writes and verifies the image in the secondary slot,
//!    then calls [`Bootloader::request_upgrade`] (state `Requested`);
//! 2. at reset, [`Bootloader::boot`] validates the secondary image (a failure
//!    marks the request `Rejected` and nothing moves), swaps page by page,
//!    and boots the new image as a test (`Testing`) — or `Confirmed` at once
//!    when the request was permanent;
//! 3. the new image runs its self-test and calls [`Bootloader::confirm`];
//! 4. if it resets before confirming, the next [`Bootloader::boot`] swaps the
//!    old image back (`Reverted`).

pub mod modem;
mod state;
mod swap;

use atfota_storage::{FlashError, Geometry, Layout, NorFlash, Partition};

pub use crate::modem::{
    ActiveFirmware, ApplyPlan, ModemBootAction, ModemError, ModemOutcome, ModemState, ModemUpdater,
};
use crate::state::{Marker, Phase, Request, StateLayout};
use crate::swap::Slots;

/// What the boot-state partition says, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwapState {
    /// Nothing requested (or an unreadable request): boot the primary slot.
    Idle,
    /// An upgrade waits for the next reset.
    Requested {
        /// Pages the swap will move.
        pages: u32,
        /// Install without a test boot.
        permanent: bool,
    },
    /// A swap was interrupted after `progress` page copies.
    Swapping {
        /// Pages the swap moves.
        pages: u32,
        /// Install without a test boot.
        permanent: bool,
        /// Page copies known done.
        progress: u32,
    },
    /// The new image runs on trial: it must confirm before the next reset.
    Testing {
        /// Pages the swap moved.
        pages: u32,
    },
    /// The new image is installed for good.
    Confirmed {
        /// Pages the swap moved.
        pages: u32,
    },
    /// A revert was interrupted after `progress` page copies.
    Reverting {
        /// Pages the revert moves.
        pages: u32,
        /// Page copies known done.
        progress: u32,
    },
    /// The old image is back after the new one failed to confirm.
    Reverted {
        /// Pages the revert moved.
        pages: u32,
    },
    /// The requested image failed validation; the primary slot was not touched.
    Rejected,
}

impl SwapState {
    /// Whether erasing the secondary slot now could destroy an image that a
    /// swap or a pending revert still needs.
    pub fn protects_secondary(&self) -> bool {
        matches!(self, Self::Swapping { .. } | Self::Testing { .. } | Self::Reverting { .. })
    }
}

/// What [`Bootloader::boot`] did during this boot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BootAction {
    /// Booted the primary slot as it was.
    None,
    /// Installed the requested image (finished an interrupted swap included).
    Swapped {
        /// Installed without a test boot.
        permanent: bool,
    },
    /// Swapped the previous image back because the new one did not confirm.
    Reverted,
    /// The requested image failed validation and was not installed.
    Rejected {
        /// Why the validator refused it.
        reason: String,
    },
}

/// Result of a boot: what was done and the state left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// What this boot did.
    pub action: BootAction,
    /// The boot state after it.
    pub state: SwapState,
    /// Whether the primary slot now holds an image the validator accepts.
    /// (An image on trial is not checked here: its self-test decides.)
    pub primary_valid: bool,
    /// What the bootloader did because the primary slot held no valid image.
    pub recovery: Option<Recovery>,
}

/// How the bootloader got a valid image back into an invalid primary slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// Installed (permanently) a valid image found at the start of the secondary slot.
    InstalledSecondary,
    /// Swapped back the previous image kept one page up in the secondary slot.
    RestoredPrevious,
    /// Neither slot holds a valid image: the device runs without one.
    NothingValid,
}

/// Why the bootloader refused an operation or could not finish one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootError {
    /// The flash failed (or the simulated power was cut).
    #[error("boot flash operation failed: {0}")]
    Flash(#[from] FlashError),
    /// The partition table cannot hold this bootloader's swap.
    #[error("partition layout unusable for swapping: {0}")]
    Layout(String),
    /// A swap or revert is under way; the request would destroy data it needs.
    #[error("a swap or revert is in progress ({0:?}); try again after it completes")]
    Busy(SwapState),
    /// Only an image on trial can confirm itself.
    #[error("nothing to confirm: the running image is not on trial ({0:?})")]
    NotTesting(SwapState),
}

/// The partitions the application bootloader works on: its own configuration,
/// independent of whatever else the device's partition table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapPartitions {
    /// The running application's slot.
    pub primary: Partition,
    /// The download slot, one sector larger than `primary`.
    pub secondary: Partition,
    /// The boot-state partition (at least [`Bootloader::state_size`] bytes).
    pub state: Partition,
}

impl From<Layout> for SwapPartitions {
    fn from(layout: Layout) -> Self {
        Self { primary: layout.primary, secondary: layout.secondary, state: layout.boot_state }
    }
}

/// The bootloader for one device's flash geometry and application slots.
#[derive(Clone, Copy, Debug)]
pub struct Bootloader {
    layout: SwapPartitions,
    geometry: Geometry,
    state: StateLayout,
}

impl Bootloader {
    /// Checks that the partitions fit this scheme: secondary one page larger
    /// than primary, boot-state partition at least [`Bootloader::state_size`].
    /// A device [`Layout`] converts into its [`SwapPartitions`].
    pub fn new(geometry: Geometry, parts: impl Into<SwapPartitions>) -> Result<Self, BootError> {
        let layout = parts.into();
        let page = geometry.sector_size;
        let max_pages = layout.primary.size / page;
        if !layout.primary.size.is_multiple_of(page) || max_pages == 0 {
            return Err(BootError::Layout("primary slot is not a whole number of sectors".into()));
        }
        if layout.secondary.size != layout.primary.size + page {
            return Err(BootError::Layout(format!(
                "secondary slot must be one sector larger than the primary ({} + {page} bytes), found {}",
                layout.primary.size, layout.secondary.size
            )));
        }
        let needed = StateLayout::needed(geometry.write_size, max_pages);
        if u64::from(layout.state.size) < needed {
            return Err(BootError::Layout(format!(
                "boot-state partition holds {} bytes, the swap state needs {needed}",
                layout.state.size
            )));
        }
        let state = StateLayout::new(layout.state, geometry, max_pages);
        Ok(Self { layout, geometry, state })
    }

    /// Bytes of boot-state partition needed for slots of `slot_size` bytes.
    pub fn state_size(geometry: Geometry, slot_size: u32) -> u32 {
        let pages = slot_size.div_ceil(geometry.sector_size);
        let needed = StateLayout::needed(geometry.write_size, pages);
        // Fits: a slot of at most 4 GiB needs far less than 4 GiB of state.
        geometry.round_up_to_sector(needed).min(u64::from(u32::MAX)) as u32
    }

    /// Pages a swap must move so that both images survive it: enough for the
    /// longer of the new image and the one now in the primary slot (`None`
    /// when the primary holds nothing readable: then the whole slot).
    pub fn pages_for(&self, new_len: u64, old_len: Option<u64>) -> u32 {
        let max = self.state.max_pages();
        let page = u64::from(self.geometry.sector_size);
        let Some(old_len) = old_len else { return max };
        let len = new_len.max(old_len);
        // Clamped to max_pages, which is a u32.
        len.div_ceil(page).clamp(1, u64::from(max)) as u32
    }

    /// The primary (running) slot.
    pub fn primary(&self) -> &Partition {
        &self.layout.primary
    }

    /// The secondary (download) slot.
    pub fn secondary(&self) -> &Partition {
        &self.layout.secondary
    }

    /// Reads and decodes the boot state. Marks that contradict each other
    /// (possible only through corruption) are resolved towards finishing
    /// what may have started, with a warning: a swap with progress is always
    /// finished, a mark that needs a finished swap counts only after one.
    pub fn state<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<SwapState, BootError> {
        let Some(req) = self.state.read_request(flash)? else {
            return Ok(SwapState::Idle);
        };
        let pages = req.pages;
        let is = |flash: &mut F, m| self.state.is_set(flash, m);
        let swap_done = is(flash, Marker::SwapDone)?;
        let confirmed = is(flash, Marker::Confirmed)?;
        let revert_done = is(flash, Marker::RevertDone)?;
        let rejected = is(flash, Marker::Rejected)?;
        let swapped = self.state.progress(flash, Phase::Swap)?;
        let reverted = self.state.progress(flash, Phase::Revert)?;
        // The page-copy marks are the ground truth: a "done" mark that claims more
        // than they show (only a corrupted state has one) is ignored and the swap
        // finished, rather than trusted with half-swapped slots.
        if swap_done && swapped < 2 * pages {
            log::warn!(
                "impossible boot state: swap marked done after {swapped} of {} page copies; finishing the swap",
                2 * pages
            );
        }
        if swap_done && swapped >= 2 * pages {
            if revert_done && reverted < 2 * pages {
                log::warn!(
                    "impossible boot state: revert marked done after {reverted} of {} page copies; ignoring the mark",
                    2 * pages
                );
            }
            return Ok(if revert_done && reverted >= 2 * pages {
                SwapState::Reverted { pages }
            } else if reverted > 0 {
                SwapState::Reverting { pages, progress: reverted }
            } else if confirmed {
                SwapState::Confirmed { pages }
            } else {
                SwapState::Testing { pages }
            });
        }
        if confirmed || revert_done || reverted > 0 {
            log::warn!("impossible boot state: confirm/revert marks without a finished swap; ignoring them");
        }
        if swapped > 0 {
            if rejected {
                log::warn!(
                    "impossible boot state: a rejected image with page copies done; finishing the swap"
                );
            }
            return Ok(SwapState::Swapping { pages, permanent: req.permanent, progress: swapped });
        }
        if rejected {
            return Ok(SwapState::Rejected);
        }
        Ok(SwapState::Requested { pages, permanent: req.permanent })
    }

    /// Asks the next boot to install the image in the secondary slot.
    /// Refused while a swap or revert is under way.
    pub fn request_upgrade<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        pages: u32,
        permanent: bool,
    ) -> Result<(), BootError> {
        let st = self.state(flash)?;
        if st.protects_secondary() {
            return Err(BootError::Busy(st));
        }
        let pages = pages.clamp(1, self.state.max_pages());
        self.state.write_request(flash, Request { pages, permanent })?;
        Ok(())
    }

    /// Withdraws a request that has not started (and forgets finished ones).
    /// Refused while a swap or revert is under way.
    pub fn cancel_request<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), BootError> {
        let st = self.state(flash)?;
        if st.protects_secondary() {
            return Err(BootError::Busy(st));
        }
        if st != SwapState::Idle {
            self.state.clear(flash)?;
        }
        Ok(())
    }

    /// Called by the running image after a successful self-test.
    pub fn confirm<F: NorFlash + ?Sized>(&self, flash: &mut F) -> Result<(), BootError> {
        match self.state(flash)? {
            SwapState::Testing { .. } => Ok(self.state.set(flash, Marker::Confirmed)?),
            SwapState::Confirmed { .. } => Ok(()),
            other => Err(BootError::NotTesting(other)),
        }
    }

    /// One boot: finishes whatever the state asks for (validate and swap, or
    /// revert an image that did not confirm), then hands over to the primary
    /// slot. `validate` checks the image in a slot and returns its length.
    /// A power cut returns `Err(Flash(PowerLost))`; the next call resumes.
    pub fn boot<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        validate: &mut dyn FnMut(&mut F, &Partition) -> Result<u64, String>,
    ) -> Result<BootReport, BootError> {
        let slots = Slots {
            primary: &self.layout.primary,
            secondary: &self.layout.secondary,
            page: self.geometry.sector_size,
            write_size: self.geometry.write_size,
        };
        let action = self.run_state(flash, &slots, validate)?;
        let mut state = self.state(flash)?;
        let mut primary_valid = true;
        let mut recovery = None;
        // A new image on trial is judged by its own self-test (and reverted if it fails).
        if !matches!(state, SwapState::Testing { .. })
            && let Err(reason) = validate(flash, &self.layout.primary)
        {
            log::error!("the primary slot holds no valid image: {reason}");
            let r = self.recover(flash, &slots, validate)?;
            primary_valid = r != Recovery::NothingValid;
            recovery = Some(r);
            state = self.state(flash)?;
        }
        Ok(BootReport { action, state, primary_valid, recovery })
    }

    /// Carries out what the boot state asks for.
    fn run_state<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        slots: &Slots<'_>,
        validate: &mut dyn FnMut(&mut F, &Partition) -> Result<u64, String>,
    ) -> Result<BootAction, BootError> {
        let action = match self.state(flash)? {
            SwapState::Idle
            | SwapState::Confirmed { .. }
            | SwapState::Reverted { .. }
            | SwapState::Rejected => BootAction::None,
            SwapState::Requested { pages, permanent } => {
                let covered = u64::from(pages) * u64::from(self.geometry.sector_size);
                match validate(flash, &self.layout.secondary) {
                    Ok(len) if len <= covered => self.finish_swap(flash, slots, pages, permanent, 0)?,
                    Ok(len) => self.reject(
                        flash,
                        format!("image of {len} bytes is longer than the {covered} bytes the request covers"),
                    )?,
                    Err(reason) => self.reject(flash, reason)?,
                }
            }
            SwapState::Swapping { pages, permanent, progress } => {
                log::info!("resuming an interrupted swap at page copy {progress} of {}", 2 * pages);
                self.finish_swap(flash, slots, pages, permanent, progress)?
            }
            SwapState::Testing { pages } => {
                log::warn!("the new image did not confirm itself: reverting to the previous one");
                self.finish_revert(flash, slots, pages, 0)?
            }
            SwapState::Reverting { pages, progress } => {
                log::info!("resuming an interrupted revert at page copy {progress} of {}", 2 * pages);
                self.finish_revert(flash, slots, pages, progress)?
            }
        };
        Ok(action)
    }

    /// The primary slot is invalid and nothing is in progress: install a
    /// valid image from the secondary slot rather than boot nothing. Each
    /// path starts by writing a fresh request, so a power cut anywhere in
    /// it ends, at the next boot, in the same recovery or its completion.
    fn recover<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        slots: &Slots<'_>,
        validate: &mut dyn FnMut(&mut F, &Partition) -> Result<u64, String>,
    ) -> Result<Recovery, BootError> {
        let page = self.geometry.sector_size;
        let pages_of =
            |len: u64| len.div_ceil(u64::from(page)).clamp(1, u64::from(self.state.max_pages())) as u32;
        let fits = |len: u64| len <= u64::from(self.layout.primary.size);
        match validate(flash, &self.layout.secondary) {
            Ok(len) if fits(len) => {
                log::warn!("recovery: installing the valid image found in the secondary slot");
                let pages = pages_of(len);
                self.state.write_request(flash, Request { pages, permanent: true })?;
                self.finish_swap(flash, slots, pages, true, 0)?;
                return Ok(Recovery::InstalledSecondary);
            }
            _ => {}
        }
        let shifted = Partition {
            name: "secondary+1",
            offset: self.layout.secondary.offset + page,
            size: self.layout.secondary.size - page,
        };
        match validate(flash, &shifted) {
            Ok(len) if fits(len) => {
                log::warn!("recovery: restoring the previous image kept in the secondary slot");
                let pages = pages_of(len);
                // A finished but unconfirmed swap of `pages` is exactly the
                // state whose revert brings that image back. Its page-copy marks
                // are written too (`state` trusts a "done" mark only with them),
                // before the request that makes the whole state count.
                self.state.write_finished_swap(flash, Request { pages, permanent: false })?;
                self.finish_revert(flash, slots, pages, 0)?;
                Ok(Recovery::RestoredPrevious)
            }
            _ => {
                log::error!("recovery: no valid image in either slot; running without one");
                Ok(Recovery::NothingValid)
            }
        }
    }

    fn finish_swap<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        slots: &Slots<'_>,
        pages: u32,
        permanent: bool,
        from: u32,
    ) -> Result<BootAction, BootError> {
        swap::swap(flash, slots, &self.state, pages, from)?;
        self.state.set(flash, Marker::SwapDone)?;
        if permanent {
            self.state.set(flash, Marker::Confirmed)?;
        }
        Ok(BootAction::Swapped { permanent })
    }

    fn finish_revert<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
        slots: &Slots<'_>,
        pages: u32,
        from: u32,
    ) -> Result<BootAction, BootError> {
        swap::revert(flash, slots, &self.state, pages, from)?;
        self.state.set(flash, Marker::RevertDone)?;
        Ok(BootAction::Reverted)
    }

    fn reject<F: NorFlash + ?Sized>(&self, flash: &mut F, reason: String) -> Result<BootAction, BootError> {
        log::error!("bootloader refused the requested image: {reason}");
        self.state.set(flash, Marker::Rejected)?;
        Ok(BootAction::Rejected { reason })
    }
}
