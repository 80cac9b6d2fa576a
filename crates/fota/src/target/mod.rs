//! Update targets: the parts of the device an update can replace, each with
//! its own download area, verification, installer and way of reporting the
//! result. The download session (start, resume, progress, cancel,
//! checkpoints) and the persisted record are written once, in the engine,
//! and serve every target.
//!
//! Dispatch is an enum rather than a trait object, like the profiles, so
//! the engine stays generic over its flash.

mod app;
mod modem;
pub(crate) mod rollback;

pub(crate) use app::AppTarget;
pub(crate) use modem::ModemTarget;

use atfota_image::{
    DeltaVerifier, Finish, ImageKind, StreamVerifier, TrustedKey, VerifiedDelta, VerifiedImage,
};

use crate::event::{FailKind, Failure};

/// Which part of the device an update replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// The application, through the MCUboot slots.
    App,
    /// The modem firmware, through its banks and scratch area.
    Modem,
}

impl TargetKind {
    /// The target that installs images of `kind`, if any.
    pub fn for_image(kind: ImageKind) -> Option<Self> {
        match kind {
            ImageKind::McubootApp => Some(Self::App),
            ImageKind::ModemDelta => Some(Self::Modem),
            _ => None,
        }
    }
}

/// Checks a download's bytes as they arrive, for its target.
#[derive(Debug)]
pub(crate) enum Verifier {
    /// An MCUboot image.
    App(StreamVerifier),
    /// A modem delta package.
    Delta(DeltaVerifier),
}

/// The end of verification.
#[derive(Debug)]
pub(crate) enum Verified {
    /// An MCUboot image, checked.
    App(VerifiedImage),
    /// An MCUboot image whose pure signature needs its bytes once more.
    AppSecondPass(atfota_image::SecondPass),
    /// A modem delta package, checked.
    Delta(VerifiedDelta),
}

impl Verifier {
    /// Feeds the next bytes; fails as soon as they prove the download bad.
    pub fn update(&mut self, data: &[u8]) -> Result<(), Failure> {
        match self {
            Self::App(v) => v.update(data),
            Self::Delta(v) => v.update(data),
        }
        .map_err(|e| image_failure(&e))
    }

    /// Whether the bytes fed so far may be stored: a delta package is held
    /// back until its header (and so its source firmware) is known.
    pub fn may_store(&self) -> bool {
        match self {
            Self::App(_) => true,
            Self::Delta(v) => v.header().is_some(),
        }
    }

    /// Checks the signature once every byte was fed.
    pub fn finish(self, keys: &[TrustedKey]) -> Result<Verified, Failure> {
        match self {
            Self::App(v) => match v.finish(keys).map_err(|e| image_failure(&e))? {
                Finish::Verified(image) => Ok(Verified::App(image)),
                Finish::SecondPass(pass) => Ok(Verified::AppSecondPass(pass)),
                _ => Err(Failure::new(FailKind::Invalid, "unknown verification outcome")),
            },
            Self::Delta(v) => v.finish(keys).map(Verified::Delta).map_err(|e| image_failure(&e)),
        }
    }
}

/// Classifies an image that failed verification.
pub(crate) fn image_failure(e: &atfota_image::ImageError) -> Failure {
    use atfota_image::ImageError as E;
    let kind = match e {
        E::HashMismatch { .. } | E::Unsigned | E::UntrustedKey { .. } | E::BadSignature { .. } => {
            FailKind::Untrusted
        }
        _ => FailKind::Invalid,
    };
    Failure::new(kind, e.to_string())
}
