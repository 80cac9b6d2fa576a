//! Anti-rollback for application images: the security counter floor and the
//! version rule.
//!
//! Owns the `boot.security_counter` settings key (the device's floor: the
//! highest `SEC_CNT` of any image that confirmed itself, kept power-fail
//! safe in the settings store) and the two rules: an image whose counter is
//! below the floor is refused, at download time and again by the bootloader;
//! an image whose version is below the running one is refused at download
//! time unless the device was created with `--allow-downgrade` (an equal
//! version re-installs). The floor only moves when an image is confirmed, so
//! reverting to the previous image after a failed self-test is not a
//! rollback. An image without a `SEC_CNT` TLV counts as 0.

use atfota_image::{ImageVersion, VerifiedImage};
use atfota_storage::{NorFlash, Settings};

use crate::event::{FailKind, Failure};

const KEY_FLOOR: &str = "boot.security_counter";

/// The device's security counter floor (0 when none was ever recorded).
pub(crate) fn floor(settings: &Settings) -> u32 {
    settings.get(KEY_FLOOR).and_then(|v| <[u8; 4]>::try_from(v).ok()).map_or(0, u32::from_le_bytes)
}

/// Raises the floor to `counter` (never lowers it).
pub(crate) fn raise<F: NorFlash>(settings: &mut Settings, flash: &mut F, counter: u32) -> Result<(), String> {
    if counter <= floor(settings) {
        return Ok(());
    }
    log::info!("security counter floor raised to {counter}");
    settings.set(flash, KEY_FLOOR, &counter.to_le_bytes()).map_err(|e| e.to_string())
}

/// The bootloader's rule: why an image with `counter` may not be installed, if so.
pub(crate) fn counter_refusal(counter: Option<u32>, floor: u32) -> Option<String> {
    let counter = counter.unwrap_or(0);
    (counter < floor).then(|| {
        format!("security counter {counter} is below the device's floor {floor}: installing it would be a rollback")
    })
}

/// The download-time rules for a verified image against the running version.
pub(crate) fn check(
    image: &VerifiedImage,
    floor: u32,
    running: Option<ImageVersion>,
    allow_downgrade: bool,
) -> Result<(), Failure> {
    if let Some(why) = counter_refusal(image.security_counter, floor) {
        return Err(Failure::new(FailKind::Untrusted, why));
    }
    match running {
        Some(run) if image.header.version < run && !allow_downgrade => Err(Failure::new(
            FailKind::Untrusted,
            format!(
                "image version {} is older than the running {run}: a downgrade (create the device \
                 with --allow-downgrade to permit it)",
                image.header.version
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_below_the_floor_are_refused_equal_ones_pass() {
        assert_eq!(counter_refusal(Some(7), 7), None);
        assert_eq!(counter_refusal(Some(8), 7), None);
        assert!(counter_refusal(Some(6), 7).is_some());
        assert!(counter_refusal(None, 1).is_some(), "no counter counts as 0");
        assert_eq!(counter_refusal(None, 0), None);
    }
}
