//! The device's data directory: what survives a power cycle.
//!
//! Owns the directory's files and their creation: `device.toml` (the
//! hardware, fixed when the device is made — profile, flash geometry, IMEI,
//! partitions: see [`config`]) and `flash.bin`
//! (the emulated NOR flash, everything else: images, boot state, settings,
//! modem firmware). A missing or empty directory becomes a factory-fresh
//! device, built under a temporary name beside it and renamed into place,
//! so a process killed while making it leaves no half-made device. Never
//! edits flash contents after provisioning: that is the firmware's job.

mod config;
mod factory;

use std::fs;
use std::path::{Path, PathBuf};

use atfota_fota::{Imei, ProfileKind, trust};
use atfota_image::TrustedKey;
use atfota_storage::{FileFlash, FlashError, Geometry, Layout, Settings};
use sha2::{Digest, Sha256};

pub use config::{DeviceConfig, LEGACY_SETTINGS_SIZE, ModemConfig, SETTINGS_SIZE, layout_for};
pub use factory::{
    FACTORY_MODEM_LEN, ModemImage, application_body, application_image, factory_image,
    factory_modem_firmware, modem_firmware_body, provision, provision_with,
};

/// Default application slot size: 1 MiB.
pub const DEFAULT_SLOT_SIZE: u32 = 1024 * 1024;
/// Sector size of the emulated flash (nRF9160-like).
pub const DEFAULT_SECTOR_SIZE: u32 = 4096;
/// Write unit of the emulated flash (nRF9160-like).
pub const DEFAULT_WRITE_SIZE: u32 = 4;
/// Largest slot accepted (two slots must fit a 32-bit flash address space).
pub const MAX_SLOT_SIZE: u32 = 1024 * 1024 * 1024;

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
    /// The modem firmware a new device gets instead of the built-in one.
    pub modem_firmware: Option<ModemImage>,
    /// A new device accepts images older than the running one.
    pub allow_downgrade: bool,
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

    /// Makes a device in a temporary directory beside `path`, then renames
    /// it into place: either the whole device appears, or nothing does.
    fn create(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let profile = opts.profile.unwrap_or(ProfileKind::Nrf9160Slm);
        let mut config = new_config(profile, opts)?;
        config.imei = Some(crate::identity::generate_imei().to_string());
        let layout = layout_for(&config)?;
        let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
            .map_err(|e| DataDirError::Flash(e.to_string()))?;
        let staging = staging_path(path)?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| DataDirError::Io { path: p, source }
        };
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        let made = (|| {
            let mut flash = FileFlash::create(&staging.join(FLASH_FILE), geometry)
                .map_err(|e| DataDirError::Flash(e.to_string()))?;
            let modem = opts.modem_firmware.clone().unwrap_or_else(|| ModemImage::factory(profile));
            provision_with(&mut flash, &layout, profile, &modem)
                .and_then(|()| flash.sync().map_err(|e| e.to_string()))
                .map_err(|e| DataDirError::Flash(format!("provisioning failed: {e}")))?;
            drop(flash);
            let text = toml::to_string(&config)
                .map_err(|e| DataDirError::Config { path: path.join(CONFIG_FILE), reason: e.to_string() })?;
            write_synced(&staging.join(CONFIG_FILE), text.as_bytes())?;
            // An empty directory in the way (the user made it, or it was left by
            // a start that failed) is replaced; anything else was refused earlier.
            if path.exists() {
                fs::remove_dir(path).map_err(io(path))?;
            }
            fs::rename(&staging, path).map_err(io(path))?;
            sync_parent(path);
            Ok(())
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        let flash = FileFlash::open(&path.join(FLASH_FILE), geometry)
            .map_err(|e| DataDirError::Flash(e.to_string()))?;
        log::info!("created a factory-fresh {profile} device in {}", path.display());
        Ok(Self { path: path.to_path_buf(), config, profile, layout, flash, created: true })
    }

    fn open_existing(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let cfg_path = path.join(CONFIG_FILE);
        let text = match fs::read_to_string(&cfg_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(half_made(path)),
            Err(source) => return Err(DataDirError::Io { path: cfg_path, source }),
        };
        let mut config: DeviceConfig = toml::from_str(&text)
            .map_err(|e| DataDirError::Config { path: cfg_path.clone(), reason: e.to_string() })?;
        crate::identity::ensure_imei(&cfg_path, &mut config)?;
        let profile: ProfileKind = config
            .profile
            .parse()
            .map_err(|reason| DataDirError::Config { path: cfg_path.clone(), reason })?;
        check_reopen(path, &config, profile, opts)?;
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

/// The description of a new device of `profile`.
fn new_config(profile: ProfileKind, opts: &OpenOptions) -> Result<DeviceConfig, DataDirError> {
    let slot_size = opts.slot_size.unwrap_or(DEFAULT_SLOT_SIZE);
    check_slot_size(slot_size)?;
    let mut config = DeviceConfig::for_new_device(profile, slot_size, opts.modem_firmware.as_ref())?;
    config.allow_downgrade = opts.allow_downgrade;
    Ok(config)
}

/// Refuses options that contradict what an existing device was made as.
fn check_reopen(
    path: &Path,
    config: &DeviceConfig,
    profile: ProfileKind,
    opts: &OpenOptions,
) -> Result<(), DataDirError> {
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
    if opts.allow_downgrade && !config.allow_downgrade {
        return Err(DataDirError::Mismatch(format!(
            "{} was created without --allow-downgrade; it is fixed when a device is made (use a new directory)",
            path.display()
        )));
    }
    if let Some(fw) = &opts.modem_firmware {
        let given = hex::encode(Sha256::digest(&fw.bytes));
        match &config.modem {
            Some(m) if m.factory_sha256 == given => {}
            Some(_) => {
                return Err(DataDirError::Mismatch(format!(
                    "{} was created with another --modem-firmware; the factory firmware cannot change \
                     (use a new directory)",
                    path.display()
                )));
            }
            None => {
                return Err(DataDirError::Mismatch(format!(
                    "{} was created without modem firmware partitions (by an earlier atfota, or as an \
                     nl668); it cannot get them (use a new directory)",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// A directory with files but no `device.toml`: a device whose creation was
/// interrupted by an earlier build (this one renames complete devices into place).
fn half_made(path: &Path) -> DataDirError {
    DataDirError::Mismatch(format!(
        "{dir} holds files but no {CONFIG_FILE}: it is not a device. If an atfota process was \
         stopped while creating a device there, nothing in it was ever used: remove the directory \
         (rm -r {dir}) and start again to get a factory-fresh device; otherwise pass an empty or \
         missing directory to --data",
        dir = path.display()
    ))
}

/// `<parent>/.<name>.creating`: where a device is made before it is renamed into place.
fn staging_path(path: &Path) -> Result<PathBuf, DataDirError> {
    let name = path.file_name().ok_or_else(|| {
        DataDirError::Mismatch(format!("{}: --data needs a directory name, not a root", path.display()))
    })?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(".creating");
    Ok(path.with_file_name(staged))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    use std::io::Write;
    let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
    let mut f = fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Makes a rename in `path`'s parent durable (best effort: not every filesystem allows it).
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
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
