//! Update targets: the parts of the device an update can replace, each with
//! its own download area, verification, installer and way of reporting the
//! result. The download session (start, resume, progress, cancel,
//! checkpoints) and the persisted record are written once, in the engine,
//! and serve every target.
//!
//! Dispatch is an enum rather than a trait object, like the profiles, so
//! the engine stays generic over its flash.

mod app;

pub(crate) use app::AppTarget;

use atfota_image::{ImageKind, StreamVerifier, TrustedKey, VerifiedImage};

use crate::event::{FailKind, Failure};

/// Which part of the device an update replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// The application, through the MCUboot slots.
    App,
}

impl TargetKind {
    /// The target that installs images of `kind`, if any.
    pub fn for_image(kind: ImageKind) -> Option<Self> {
        match kind {
            ImageKind::McubootApp => Some(Self::App),
            _ => None,
        }
    }
}

/// Checks a download's bytes as they arrive, for its target.
#[derive(Debug)]
pub(crate) enum Verifier {
    /// An MCUboot image.
    App(StreamVerifier),
}

/// A download whose signature checked out, ready to be scheduled.
#[derive(Debug)]
pub(crate) enum Verified {
    /// An MCUboot image.
    App(VerifiedImage),
}

impl Verifier {
    /// Feeds the next bytes; fails as soon as they prove the download bad.
    pub fn update(&mut self, data: &[u8]) -> Result<(), Failure> {
        match self {
            Self::App(v) => v.update(data).map_err(|e| image_failure(&e)),
        }
    }

    /// Checks the signature once every byte was fed.
    pub fn finish(self, keys: &[TrustedKey]) -> Result<Verified, Failure> {
        match self {
            Self::App(v) => v.finish(keys).map(Verified::App).map_err(|e| image_failure(&e)),
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
