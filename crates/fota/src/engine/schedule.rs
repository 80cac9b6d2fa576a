//! The end of a download: a complete one is verified and handed to its
//! target's installer (`#XFOTA: 4,0` follows); a failed one keeps its bytes
//! for a resume when the failure was the transfer's, or forgets them when
//! the image itself was bad.
//!
//! Owns those two outcomes and the classification of transfer failures; the
//! installers' own steps live in `crate::target`.

use atfota_download::{FailureClass, TransferError};
use atfota_storage::NorFlash;

use super::session::{Session, flash_failure, judge_type};
use super::{Action, Engine, record};
use crate::event::{Event, FailKind, Failure};
use crate::target::{Verified, rollback};

impl<F: NorFlash> Engine<F> {
    pub(super) fn on_complete(&mut self, mut s: Session) {
        if let Err(f) = self.finish(&mut s) {
            self.fail(s, f);
            return;
        }
        // `4,0` promises an install at the next reset: the request is durable first.
        if let Err(e) = self.flash.sync() {
            log::error!("could not make the scheduled update durable: {e}");
        }
        log::info!("download {} complete, verified and scheduled", s.id);
        self.events.push_back(Event::Downloaded);
    }

    fn finish(&mut self, s: &mut Session) -> Result<(), Failure> {
        let writer = s.writer.as_mut().ok_or_else(|| Failure::new(FailKind::Server, "no response"))?;
        // Before the flush, which pads the last write unit with erased bytes.
        let got = writer.position();
        writer.flush(&mut self.flash).map_err(flash_failure)?;
        if got != s.total {
            return Err(Failure::new(
                FailKind::Server,
                format!("transfer ended after {got} of {} bytes", s.total),
            ));
        }
        // The host is told the download is complete: its bytes survive a host crash from here.
        self.flash.sync().map_err(flash_failure)?;
        self.events.push_back(Event::TransferComplete);
        judge_type(s, true)?;
        let verifier = std::mem::replace(&mut s.verifier, self.verifier(s.target));
        match verifier.finish(&self.keys)? {
            Verified::App(image) => self.schedule_app(&image),
            Verified::AppSecondPass(pass) => {
                // A pure signature covers the whole image: read it back from the slot.
                let image = self.app.second_pass(&mut self.flash, pass)?;
                self.schedule_app(&image)
            }
            Verified::Delta(package) => match self.modem {
                Some(m) => m.schedule(&mut self.flash, &mut self.settings, &package),
                None => Err(Failure::new(FailKind::Mismatch, "this device has no modem firmware partitions")),
            },
        }
    }

    /// Anti-rollback, then the bootloader request.
    fn schedule_app(&mut self, image: &atfota_image::VerifiedImage) -> Result<(), Failure> {
        let floor = rollback::floor(&self.settings);
        rollback::check(image, floor, self.app_version, self.config.allow_downgrade)?;
        self.app.schedule(&mut self.flash, &mut self.settings, image)
    }

    /// Ends a download with a failure: keeps resumable bytes for transfer
    /// failures, forgets them for bad images.
    pub(super) fn fail(&mut self, s: Session, failure: Failure) {
        log::warn!("download {} failed: {failure}", s.id);
        self.actions.push_back(Action::Abort { id: s.id });
        if failure.kind.keeps_bytes() {
            self.save_checkpoint(&s);
        } else if let Err(e) = record::forget(&mut self.settings, &mut self.flash) {
            log::error!("could not forget the rejected download: {e}");
        }
        self.events.push_back(Event::DownloadFailed(failure));
    }
}

/// Classifies a transfer failure for the profiles' error codes.
pub(super) fn download_failure(e: &TransferError) -> Failure {
    let kind = match e.class {
        FailureClass::NotFound => FailKind::NotFound,
        FailureClass::LoginRefused => FailKind::LoginRefused,
        FailureClass::Network => FailKind::Network,
        _ => FailKind::Server,
    };
    Failure::new(kind, e.message.clone())
}
