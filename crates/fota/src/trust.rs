//! The device's trusted signing keys.
//!
//! Owns how keys are kept in the settings store (`trust.<key hash prefix>` =
//! SubjectPublicKeyInfo DER) and the rule that the built-in development key
//! is always trusted, like MCUboot's sample keys. Never stores private keys.

use atfota_image::TrustedKey;
use atfota_storage::{NorFlash, Settings, SettingsError};

const PREFIX: &str = "trust.";

/// Keys images may be signed with: the development key first, then the
/// device's own, in a stable order. Unreadable entries are skipped with a log.
pub fn load(settings: &Settings) -> Vec<TrustedKey> {
    let mut keys = vec![TrustedKey::development()];
    for (name, der) in settings.iter() {
        if !name.starts_with(PREFIX) {
            continue;
        }
        if keys.iter().any(|k| k.to_der() == der) {
            continue;
        }
        match TrustedKey::from_der(der) {
            Ok(k) => keys.push(k),
            Err(e) => log::warn!("ignoring unreadable trusted key {name}: {e}"),
        }
    }
    keys
}

/// Adds `key` to the device's trusted keys (idempotent).
pub fn store<F: NorFlash + ?Sized>(
    settings: &mut Settings,
    flash: &mut F,
    key: &TrustedKey,
) -> Result<(), SettingsError> {
    let name = format!("{PREFIX}{}", hex::encode(&key.key_hash()[..8]));
    if settings.get(&name) == Some(key.to_der().as_slice()) {
        return Ok(());
    }
    settings.set(flash, &name, &key.to_der())
}
