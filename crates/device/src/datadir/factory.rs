//! What the factory puts on a new device: the application image (v1.0.0,
//! signed with the development key) in the primary slot, and the modem
//! firmware in bank 0 of devices that have modem partitions.
//!
//! Owns the factory contents and their determinism (the same bytes on every
//! device and every run, so tests and host developers can build deltas
//! against them). It never opens files: the caller gives the flash.

use atfota_boot::ModemUpdater;
use atfota_fota::{KEY_PROVISIONED, ProfileKind, profile::KEY_MODEM_VERSION};
use atfota_image::{ImageVersion, SignOptions, SigningKey};
use atfota_storage::{Layout, NorFlash, Settings};

/// Size of the factory application's body.
const FACTORY_BODY_LEN: usize = 48 * 1024;
/// Size of the built-in factory modem firmware: a realistic 2 MiB and a bit
/// (deliberately not a multiple of any sector size).
pub const FACTORY_MODEM_LEN: usize = 2 * 1024 * 1024 + 12_345;

/// A modem firmware to install at the factory: its bytes and version string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModemImage {
    /// The firmware.
    pub bytes: Vec<u8>,
    /// Its version (`AT+CGMR`), 1..=63 printable ASCII characters.
    pub version: String,
}

impl ModemImage {
    /// The built-in factory modem firmware of `profile`.
    pub fn factory(profile: ProfileKind) -> Self {
        Self { bytes: factory_modem_firmware(), version: profile.factory_modem_version().to_string() }
    }
}

/// Writes what the factory puts on a new device (see the module docs). The
/// flash must be erased. `modem` is required when the layout has modem
/// partitions.
pub fn provision<F: NorFlash + ?Sized>(
    flash: &mut F,
    layout: &Layout,
    profile: ProfileKind,
) -> Result<(), String> {
    provision_with(flash, layout, profile, &ModemImage::factory(profile))
}

/// [`provision`] with a given modem firmware.
pub fn provision_with<F: NorFlash + ?Sized>(
    flash: &mut F,
    layout: &Layout,
    profile: ProfileKind,
    modem: &ModemImage,
) -> Result<(), String> {
    let image = factory_image(profile).map_err(|e| e.to_string())?;
    let unit = flash.geometry().write_size as usize;
    let mut padded = image;
    padded.resize(padded.len().div_ceil(unit) * unit, 0xff);
    layout.primary.write(flash, 0, &padded).map_err(|e| e.to_string())?;
    let mut settings = Settings::open(flash, layout.settings).map_err(|e| e.to_string())?;
    match layout.modem {
        Some(parts) => {
            let updater = ModemUpdater::new(flash.geometry(), parts).map_err(|e| e.to_string())?;
            updater.provision(flash, &modem.bytes, &modem.version).map_err(|e| e.to_string())?;
        }
        None => {
            // Devices without modem partitions keep the version in the settings, as they always did.
            settings.set(flash, KEY_MODEM_VERSION, modem.version.as_bytes()).map_err(|e| e.to_string())?;
        }
    }
    // Last: a store holding it is this device's own (see `KEY_PROVISIONED`).
    settings.set(flash, KEY_PROVISIONED, b"1").map_err(|e| e.to_string())
}

/// The factory application image: a deterministic body, version 1.0.0,
/// signed with the development key.
pub fn factory_image(profile: ProfileKind) -> Result<Vec<u8>, atfota_image::ImageError> {
    let version = ImageVersion { major: 1, minor: 0, revision: 0, build: 0 };
    application_image(&format!("atfota emulated {profile} application"), version, FACTORY_BODY_LEN)
}

/// A stand-in application image: a deterministic body of `len` bytes tagged
/// `tag`, in MCUboot format, signed with the development key (what the
/// factory, the demo and the tests install).
pub fn application_image(
    tag: &str,
    version: ImageVersion,
    len: usize,
) -> Result<Vec<u8>, atfota_image::ImageError> {
    let opts = SignOptions { version, header_size: 0x200, ..SignOptions::default() };
    atfota_image::sign(&application_body(tag, len), &opts, &SigningKey::development())
}

/// A deterministic stand-in for an application binary of `len` bytes.
pub fn application_body(tag: &str, len: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(len);
    let mut x: u32 = 0x2545_f491;
    body.extend_from_slice(tag.as_bytes());
    while body.len() < len {
        // xorshift32: compressible enough to look like code, cheap, reproducible.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body.extend_from_slice(&x.to_le_bytes());
    }
    body.truncate(len);
    body
}

/// The built-in factory modem firmware: [`FACTORY_MODEM_LEN`] deterministic
/// bytes that look like firmware to a differ (runs of "instructions" drawn
/// from a small vocabulary, tables, and padding), so deltas against it are
/// realistic rather than either trivial or incompressible.
pub fn factory_modem_firmware() -> Vec<u8> {
    modem_firmware_body(0x6d66_7731, FACTORY_MODEM_LEN)
}

/// A deterministic modem-firmware-like body of `len` bytes from `seed`.
pub fn modem_firmware_body(seed: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"atfota emulated modem firmware\0");
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    // A vocabulary of 256 four-byte "instructions", like a code section's common encodings.
    let words: Vec<[u8; 4]> = (0..256).map(|_| next().to_le_bytes()).collect();
    while out.len() < len {
        let r = next();
        match r % 16 {
            // Mostly code: a run of instructions from the vocabulary.
            0..=11 => {
                for _ in 0..(8 + r % 56) {
                    out.extend_from_slice(&words[(next() % 256) as usize]);
                }
            }
            // Data tables: incrementing words.
            12 | 13 => {
                let base = next();
                for i in 0..(4 + r % 28) {
                    out.extend_from_slice(&base.wrapping_add(i * 4).to_le_bytes());
                }
            }
            // Padding between sections.
            14 => out.extend(std::iter::repeat_n(0xff, (16 + r % 112) as usize)),
            _ => out.extend_from_slice(&next().to_le_bytes()),
        }
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_modem_firmware_is_deterministic_and_of_its_size() {
        let a = factory_modem_firmware();
        assert_eq!(a.len(), FACTORY_MODEM_LEN);
        assert_eq!(a, factory_modem_firmware());
        assert_ne!(a, modem_firmware_body(7, FACTORY_MODEM_LEN));
    }
}
