//! The device's identity in its data directory: the IMEI kept in `device.toml`.
//!
//! Owns making an IMEI for a new device (a random serial under the emulated TAC) and giving one,
//! once, to a directory made by a build that did not write it; that rewrite is atomic (a
//! temporary file renamed over `device.toml`), so a crash leaves the old file or the new one.
//! It must never change an IMEI a device already has.

use std::fs;
use std::io::Write;
use std::path::Path;

use atfota_fota::Imei;
use atfota_fota::imei::MAX_SERIAL;

use crate::datadir::{DataDirError, DeviceConfig};

/// A fresh IMEI: the emulated TAC and a random serial number.
pub(crate) fn generate_imei() -> Imei {
    let serial = fastrand::u32(0..=MAX_SERIAL);
    // The serial is within 0..=MAX_SERIAL, the range from_serial accepts.
    Imei::from_serial(serial).unwrap_or_default()
}

/// The IMEI of `config`; one is generated and `device.toml` rewritten when it has none.
pub(crate) fn ensure_imei(cfg_path: &Path, config: &mut DeviceConfig) -> Result<Imei, DataDirError> {
    let bad = |reason: String| DataDirError::Config { path: cfg_path.to_path_buf(), reason };
    if let Some(text) = &config.imei {
        return text.parse().map_err(|e| bad(format!("imei {text:?}: {e}")));
    }
    let imei = generate_imei();
    config.imei = Some(imei.to_string());
    let text = toml::to_string(config).map_err(|e| bad(e.to_string()))?;
    write_atomically(cfg_path, text.as_bytes())
        .map_err(|source| DataDirError::Io { path: cfg_path.to_path_buf(), source })?;
    log::info!("{}: the device had no IMEI; it is now {imei}", cfg_path.display());
    Ok(imei)
}

/// Replaces `path` with `bytes`: a temporary file beside it, synced, then renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut file = fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename itself durable; not every platform can open a directory.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(imei: Option<&str>) -> DeviceConfig {
        DeviceConfig { imei: imei.map(str::to_owned), ..DeviceConfig::plain("nrf9160-slm", 4096, 4, 65536) }
    }

    #[test]
    fn generated_imeis_are_valid_and_vary() {
        let imeis: std::collections::BTreeSet<String> =
            (0..20).map(|_| generate_imei().to_string()).collect();
        assert!(imeis.len() > 1);
        for imei in &imeis {
            assert!(imei.parse::<Imei>().is_ok(), "{imei}");
            assert!(imei.starts_with(atfota_fota::imei::TAC));
        }
    }

    #[test]
    fn a_missing_imei_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.toml");
        let mut old = config(None);
        fs::write(&path, toml::to_string(&old).unwrap()).unwrap();
        assert!(!fs::read_to_string(&path).unwrap().contains("imei"));
        let imei = ensure_imei(&path, &mut old).unwrap();
        let written: DeviceConfig = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written.imei.as_deref(), Some(imei.as_str()));
        assert_eq!(old, written);
        let mut again = written.clone();
        assert_eq!(ensure_imei(&path, &mut again).unwrap(), imei, "kept, never regenerated");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn a_bad_imei_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.toml");
        let err = ensure_imei(&path, &mut config(Some("352656100367873"))).unwrap_err();
        assert!(err.to_string().contains("check digit"), "{err}");
        assert!(!path.exists(), "nothing written");
    }
}
