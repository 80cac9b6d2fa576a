//! The device's data directory: what survives a power cycle.
//!
//! Owns the directory's files and their creation: `device.toml` (the
//! hardware, fixed when the device is made: profile, flash geometry, IMEI) and
//! `flash.bin` (the emulated NOR flash, everything else: images, boot state,
//! settings). A missing or empty directory becomes a factory-fresh device.
//! Never edits flash contents after provisioning: that is the firmware's job.

use std::fs;
use std::path::{Path, PathBuf};

use atfota_boot::Bootloader;
use atfota_fota::{Imei, ProfileKind, profile::KEY_MODEM_VERSION, trust};
use atfota_image::{ImageVersion, SignOptions, SigningKey, TrustedKey};
use atfota_storage::{FileFlash, FlashError, Geometry, Layout, LayoutSpec, NorFlash, Settings};
use serde::{Deserialize, Serialize};

/// Default application slot size: 1 MiB.
pub const DEFAULT_SLOT_SIZE: u32 = 1024 * 1024;
/// Sector size of the emulated flash (nRF9160-like).
pub const DEFAULT_SECTOR_SIZE: u32 = 4096;
/// Write unit of the emulated flash (nRF9160-like).
pub const DEFAULT_WRITE_SIZE: u32 = 4;
/// Largest slot accepted (two slots must fit a 32-bit flash address space).
pub const MAX_SLOT_SIZE: u32 = 1024 * 1024 * 1024;
/// Bytes of flash for the settings store.
const SETTINGS_SIZE: u32 = 64 * 1024;
/// Size of the factory application's body.
const FACTORY_BODY_LEN: usize = 48 * 1024;

const CONFIG_FILE: &str = "device.toml";
const FLASH_FILE: &str = "flash.bin";

/// What a user asks for when opening a data directory.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Profile; `None` means the directory's own (or the default for a new one).
    pub profile: Option<ProfileKind>,
    /// Slot size; `None` means the directory's own (or the default).
    pub slot_size: Option<u32>,
    /// Public keys to add to the device's trusted keys.
    pub trust: Vec<TrustedKey>,
}

/// The hardware description kept in `device.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// Profile name (`nrf9160-slm`).
    pub profile: String,
    /// Flash erase unit in bytes.
    pub sector_size: u32,
    /// Flash write unit in bytes.
    pub write_size: u32,
    /// Application slot size in bytes.
    pub slot_size: u32,
    /// The IMEI (15 digits); written at creation, or once at open by a build that has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
}

/// An opened data directory, ready to power on.
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Its hardware description.
    pub config: DeviceConfig,
    /// The profile it presents.
    pub profile: ProfileKind,
    /// Its partition table.
    pub layout: Layout,
    /// Its flash.
    pub flash: FileFlash,
    /// Whether this call made it (factory-fresh).
    pub created: bool,
}

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// Filesystem trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// `device.toml` is not readable.
    #[error("{path}: not a valid device description: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The options contradict what the device was made as.
    #[error("{0}")]
    Mismatch(String),
    /// The flash file or the settings in it are unusable.
    #[error("flash: {0}")]
    Flash(String),
}

impl DataDir {
    /// Opens `path`, creating a factory-fresh device when it is missing or empty.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
        let empty = match fs::read_dir(path) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(e)),
        };
        let mut dir = if empty { Self::create(path, opts)? } else { Self::open_existing(path, opts)? };
        if !opts.trust.is_empty() {
            let mut settings = Settings::open(&mut dir.flash, dir.layout.settings)
                .map_err(|e| DataDirError::Flash(e.to_string()))?;
            for key in &opts.trust {
                trust::store(&mut settings, &mut dir.flash, key)
                    .map_err(|e| DataDirError::Flash(e.to_string()))?;
            }
        }
        Ok(dir)
    }

    /// The device's IMEI (from `device.toml`, checked when the directory was opened).
    pub fn imei(&self) -> Imei {
        // `open` made sure the config holds a valid IMEI: the default is never reached.
        self.config.imei.as_deref().and_then(|s| s.parse().ok()).unwrap_or_default()
    }

    fn create(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let profile = opts.profile.unwrap_or(ProfileKind::Nrf9160Slm);
        let slot_size = opts.slot_size.unwrap_or(DEFAULT_SLOT_SIZE);
        check_slot_size(slot_size)?;
        let config = DeviceConfig {
            profile: profile.name().to_string(),
            sector_size: DEFAULT_SECTOR_SIZE,
            write_size: DEFAULT_WRITE_SIZE,
            slot_size,
            imei: Some(crate::identity::generate_imei().to_string()),
        };
        let layout = layout_for(&config)?;
        let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
            .map_err(|e| DataDirError::Flash(e.to_string()))?;
        fs::create_dir_all(path).map_err(|source| DataDirError::Io { path: path.to_path_buf(), source })?;
        let flash_path = path.join(FLASH_FILE);
        let mut flash =
            FileFlash::create(&flash_path, geometry).map_err(|e| DataDirError::Flash(e.to_string()))?;
        provision(&mut flash, &layout, profile)
            .and_then(|()| flash.sync().map_err(|e| e.to_string()))
            .map_err(|e| DataDirError::Flash(format!("provisioning failed: {e}")))?;
        // The config is written last: a directory without it is not a device yet.
        let text = toml::to_string(&config)
            .map_err(|e| DataDirError::Config { path: path.join(CONFIG_FILE), reason: e.to_string() })?;
        let cfg_path = path.join(CONFIG_FILE);
        fs::write(&cfg_path, text).map_err(|source| DataDirError::Io { path: cfg_path, source })?;
        log::info!("created a factory-fresh {profile} device in {}", path.display());
        Ok(Self { path: path.to_path_buf(), config, profile, layout, flash, created: true })
    }

    fn open_existing(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let cfg_path = path.join(CONFIG_FILE);
        let text = fs::read_to_string(&cfg_path)
            .map_err(|source| DataDirError::Io { path: cfg_path.clone(), source })?;
        let mut config: DeviceConfig = toml::from_str(&text)
            .map_err(|e| DataDirError::Config { path: cfg_path.clone(), reason: e.to_string() })?;
        crate::identity::ensure_imei(&cfg_path, &mut config)?;
        let profile: ProfileKind = config
            .profile
            .parse()
            .map_err(|reason| DataDirError::Config { path: cfg_path.clone(), reason })?;
        if let Some(p) = opts.profile.filter(|p| *p != profile) {
            return Err(DataDirError::Mismatch(format!(
                "{} was created as a {profile} device; it cannot become {p} (use a new directory)",
                path.display()
            )));
        }
        if let Some(s) = opts.slot_size.filter(|s| *s != config.slot_size) {
            return Err(DataDirError::Mismatch(format!(
                "{} was created with --slot-size {}; it cannot change to {s} (use a new directory)",
                path.display(),
                config.slot_size
            )));
        }
        check_slot_size(config.slot_size)?;
        let layout = layout_for(&config)?;
        let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
            .map_err(|e| DataDirError::Config { path: cfg_path, reason: e.to_string() })?;
        let flash_path = path.join(FLASH_FILE);
        let flash = match FileFlash::open(&flash_path, geometry) {
            Err(FlashError::SizeMismatch { expected, found }) => {
                // A damaged flash file must not brick the device: the missing
                // part reads as erased (or the excess is dropped), and the
                // bootloader then boots whatever image still validates.
                log::error!(
                    "{}: {found} bytes instead of {expected}; resizing it (missing bytes read as erased) \
                     and booting whatever image still validates",
                    flash_path.display()
                );
                resize_erased(&flash_path, found, expected)
                    .map_err(|source| DataDirError::Io { path: flash_path.clone(), source })?;
                FileFlash::open(&flash_path, geometry)
            }
            other => other,
        }
        .map_err(|e| DataDirError::Flash(e.to_string()))?;
        Ok(Self { path: path.to_path_buf(), config, profile, layout, flash, created: false })
    }
}

/// The partition table for a device description.
pub fn layout_for(config: &DeviceConfig) -> Result<Layout, DataDirError> {
    let bad = |e: String| DataDirError::Mismatch(format!("impossible device description: {e}"));
    let geometry = Geometry::new(config.sector_size, config.write_size, config.sector_size)
        .map_err(|e| bad(e.to_string()))?;
    let slot = geometry.round_up_to_sector(u64::from(config.slot_size));
    let slot = u32::try_from(slot).map_err(|_| bad("slot too large".into()))?;
    let spec = LayoutSpec {
        slot_size: slot,
        boot_state_size: Bootloader::state_size(geometry, slot),
        settings_size: SETTINGS_SIZE,
    };
    Layout::new(config.sector_size, &spec).map_err(|e| bad(e.to_string()))
}

/// Truncates `path` to `to` bytes, or extends it with erased bytes (0xFF).
fn resize_erased(path: &Path, from: u64, to: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    if to <= from {
        return f.set_len(to);
    }
    f.seek(SeekFrom::Start(from))?;
    let chunk = vec![0xffu8; 1 << 20];
    let mut left = to - from;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

fn check_slot_size(slot_size: u32) -> Result<(), DataDirError> {
    if !(64 * 1024..=MAX_SLOT_SIZE).contains(&slot_size) {
        return Err(DataDirError::Mismatch(format!(
            "--slot-size {slot_size} is outside 65536..={MAX_SLOT_SIZE} bytes"
        )));
    }
    Ok(())
}

/// Writes what the factory puts on a new device: application v1.0.0 signed
/// with the development key in the primary slot, and the modem firmware
/// version in the settings. The flash must be erased.
pub fn provision<F: NorFlash + ?Sized>(
    flash: &mut F,
    layout: &Layout,
    profile: ProfileKind,
) -> Result<(), String> {
    let image = factory_image(profile).map_err(|e| e.to_string())?;
    let unit = flash.geometry().write_size as usize;
    let mut padded = image;
    padded.resize(padded.len().div_ceil(unit) * unit, 0xff);
    layout.primary.write(flash, 0, &padded).map_err(|e| e.to_string())?;
    let mut settings = Settings::open(flash, layout.settings).map_err(|e| e.to_string())?;
    settings
        .set(flash, KEY_MODEM_VERSION, profile.factory_modem_version().as_bytes())
        .map_err(|e| e.to_string())
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
    let opts = SignOptions { version, header_size: 0x200, load_addr: 0 };
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
