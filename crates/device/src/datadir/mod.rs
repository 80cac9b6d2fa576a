//! The device's data directory: what survives a power cycle.
//!
//! Owns the directory's files and their creation: `device.toml` (the
//! hardware, fixed when the device is made — profile, flash geometry, IMEI,
//! partitions: see [`config`]) and `flash.bin`
//! (the emulated NOR flash, everything else: images, boot state, settings,
//! modem firmware). A missing or empty directory becomes a factory-fresh
//! device, built under a temporary name beside it and moved into place with
//! `device.toml` last, so a process killed while making it leaves no
//! half-made device. The directory is locked (`flock`, released by the
//! kernel when the process dies) for as long as it is open: one process per
//! device. Never edits flash contents after provisioning: that is the
//! firmware's job.

mod config;
mod factory;
mod lock;

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
    /// The exclusive lock on the directory, held while this value lives.
    _lock: lock::DirLock,
}

/// Keeps a data directory locked after its flash was taken out ([`DataDir::into_flash`]).
pub struct DirGuard {
    _lock: lock::DirLock,
}

impl DataDir {
    /// Takes the flash out for a device to run on; the guard keeps the directory locked for
    /// as long as it lives.
    pub fn into_flash(self) -> (FileFlash, DirGuard) {
        (self.flash, DirGuard { _lock: self._lock })
    }
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
    /// Another process has the device open.
    #[error("{0}")]
    InUse(String),
}

impl DataDir {
    /// Opens `path`, creating a factory-fresh device when it is missing or
    /// empty, and locks it for this process.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
        if !path.is_dir() {
            fs::create_dir_all(path).map_err(io)?;
            sync_parent(path);
        }
        let lock = lock::DirLock::acquire(path)?;
        remove_stale_staging(path);
        let has = |name: &str| path.join(name).exists();
        let mut dir = if !has(CONFIG_FILE) && !has(FLASH_FILE) && is_empty(path).map_err(io)? {
            Self::create(path, opts, lock)?
        } else if !has(CONFIG_FILE) && has(FLASH_FILE) && only_ours(path).map_err(io)? {
            // Killed between moving flash.bin in and device.toml (the commit): never used.
            log::warn!(
                "{}: a device was being created when its process stopped; creating it again",
                path.display()
            );
            fs::remove_file(path.join(FLASH_FILE)).map_err(io)?;
            Self::create(path, opts, lock)?
        } else {
            Self::open_existing(path, opts, lock)?
        };
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

    /// Makes a device in a staging directory beside `path` (unique to this
    /// process), then moves its files into the locked `path`: `flash.bin`
    /// first, `device.toml` last — the commit. A process killed at any point
    /// leaves no device, or a `flash.bin` alone, which the next start makes again.
    fn create(path: &Path, opts: &OpenOptions, lock: lock::DirLock) -> Result<Self, DataDirError> {
        let profile = opts.profile.unwrap_or(ProfileKind::Nrf9160Slm);
        let mut config = new_config(profile, opts)?;
        config.imei = Some(crate::identity::generate_imei().to_string());
        let layout = layout_for(&config)?;
        let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
            .map_err(|e| DataDirError::Flash(e.to_string()))?;
        let staging = staging_path(path, std::process::id())?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| DataDirError::Io { path: p, source }
        };
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
            for name in [FLASH_FILE, CONFIG_FILE] {
                fs::rename(staging.join(name), path.join(name)).map_err(io(path))?;
                sync_dir(path);
            }
            Ok(())
        })();
        let _ = fs::remove_dir_all(&staging);
        made?;
        let flash = FileFlash::open(&path.join(FLASH_FILE), geometry)
            .map_err(|e| DataDirError::Flash(e.to_string()))?;
        log::info!("created a factory-fresh {profile} device in {}", path.display());
        Ok(Self { path: path.to_path_buf(), config, profile, layout, flash, created: true, _lock: lock })
    }

    fn open_existing(path: &Path, opts: &OpenOptions, lock: lock::DirLock) -> Result<Self, DataDirError> {
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
                return Err(DataDirError::Flash(format!(
                    "{} is {found} bytes but this device's flash is {expected} bytes ({}); \
                     it is refused rather than cut or padded, so no byte you may want is lost. \
                     Restore the file from a copy of this device, or remove {} to start over \
                     with a factory-fresh device",
                    flash_path.display(),
                    if found < expected {
                        "too short: truncated or not this device's"
                    } else {
                        "too long: not this device's"
                    },
                    path.display()
                )));
            }
            other => other,
        }
        .map_err(|e| DataDirError::Flash(e.to_string()))?;
        Ok(Self { path: path.to_path_buf(), config, profile, layout, flash, created: false, _lock: lock })
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

/// A directory with files but no `device.toml`, and not just the `flash.bin`
/// a killed creation leaves (which is made again): not a device, and nothing
/// here touches files it does not know.
fn half_made(path: &Path) -> DataDirError {
    DataDirError::Mismatch(format!(
        "{dir} holds files but no {CONFIG_FILE}: it is not an atfota device, and its files are \
         left alone. Pass an empty or missing directory to --data for a new device (or, if an \
         older atfota was stopped while creating a device there, remove the directory: rm -r {dir})",
        dir = path.display()
    ))
}

/// `<parent>/.<name>.creating-<pid>`: where this process makes a device
/// before moving its files into place.
fn staging_path(path: &Path, pid: u32) -> Result<PathBuf, DataDirError> {
    let name = path.file_name().ok_or_else(|| {
        DataDirError::Mismatch(format!("{}: --data needs a directory name, not a root", path.display()))
    })?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(format!(".creating-{pid}"));
    Ok(path.with_file_name(staged))
}

/// Removes staging directories that killed processes left beside `path`
/// (safe: whoever makes this device holds its lock, and that is us).
fn remove_stale_staging(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let prefix = format!(".{}.creating-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            log::info!(
                "removing {} left by a process that stopped while creating a device",
                e.path().display()
            );
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn is_empty(path: &Path) -> std::io::Result<bool> {
    Ok(fs::read_dir(path)?.next().is_none())
}

/// Whether `path` holds nothing but what a creation moves in (`flash.bin`).
fn only_ours(path: &Path) -> std::io::Result<bool> {
    for e in fs::read_dir(path)? {
        if e?.file_name() != FLASH_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    use std::io::Write;
    let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
    let mut f = fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Makes a new entry in `path`'s parent durable (best effort: not every filesystem allows it).
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent);
    }
}

/// Makes the entries of directory `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn check_slot_size(slot_size: u32) -> Result<(), DataDirError> {
    if !(64 * 1024..=MAX_SLOT_SIZE).contains(&slot_size) {
        return Err(DataDirError::Mismatch(format!(
            "--slot-size {slot_size} is outside 65536..={MAX_SLOT_SIZE} bytes"
        )));
    }
    Ok(())
}
