//! `device.toml`: the hardware of an emulated device, fixed when it is made,
//! and the partition table computed from it.
//!
//! Owns the file's fields and their compatibility: every field added after
//! the first release is optional, and its absence means what devices made
//! before it had (a 64 KiB settings store, no modem partitions), so a device
//! made by an older build opens as it was made.

use atfota_boot::{Bootloader, ModemUpdater};
use atfota_fota::ProfileKind;
use atfota_storage::{Geometry, Layout, LayoutSpec, ModemSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DEFAULT_SECTOR_SIZE, DEFAULT_WRITE_SIZE, DataDirError, ModemImage};

/// Settings store of devices made before its size was recorded.
pub const LEGACY_SETTINGS_SIZE: u32 = 64 * 1024;
/// Settings store of new devices: room for the credential store (`AT%CMNG`).
pub const SETTINGS_SIZE: u32 = 256 * 1024;

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
    /// Settings store size in bytes (absent: [`LEGACY_SETTINGS_SIZE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_size: Option<u32>,
    /// The IMEI (15 digits); written at creation, or once at open by a build that has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// Images older than the running one may be installed (absent: refused).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_downgrade: bool,
    /// The modem firmware's partitions (absent: the device has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modem: Option<ModemConfig>,
}

/// The modem firmware's partitions, in `device.toml`'s `[modem]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemConfig {
    /// Size of each firmware bank.
    pub bank_size: u32,
    /// Size of the scratch area delta packages are downloaded into.
    pub scratch_size: u32,
    /// SHA-256 (hex) of the firmware installed at the factory.
    pub factory_sha256: String,
}

impl DeviceConfig {
    /// A description without modem partitions and with the legacy settings
    /// size: what every device was before modem updates existed.
    pub fn plain(profile: &str, sector_size: u32, write_size: u32, slot_size: u32) -> Self {
        Self {
            profile: profile.to_string(),
            sector_size,
            write_size,
            slot_size,
            settings_size: None,
            imei: None,
            allow_downgrade: false,
            modem: None,
        }
    }

    /// What a device of `profile` made by this build is: 4 KiB sectors,
    /// 4-byte writes, the bigger settings store, and modem partitions sized
    /// for `modem` (the built-in factory firmware when `None`) on profiles
    /// that have a modem firmware of their own.
    pub fn for_new_device(
        profile: ProfileKind,
        slot_size: u32,
        modem: Option<&ModemImage>,
    ) -> Result<Self, DataDirError> {
        let mut config = Self::plain(profile.name(), DEFAULT_SECTOR_SIZE, DEFAULT_WRITE_SIZE, slot_size);
        config.settings_size = Some(SETTINGS_SIZE);
        if profile.has_modem_firmware() {
            let sha: [u8; 32] = match modem {
                Some(m) => Sha256::digest(&m.bytes).into(),
                None => Sha256::digest(ModemImage::factory(profile).bytes).into(),
            };
            let len = modem.map_or(super::FACTORY_MODEM_LEN, |m| m.bytes.len());
            config.modem = Some(ModemConfig::for_firmware(len, &sha)?);
        } else if modem.is_some() {
            return Err(DataDirError::Mismatch(format!(
                "--modem-firmware: a {profile} device has no separate modem firmware to update \
                 (its firmware is the application image)"
            )));
        }
        Ok(config)
    }

    /// The settings store's size.
    pub fn settings_size(&self) -> u32 {
        self.settings_size.unwrap_or(LEGACY_SETTINGS_SIZE)
    }
}

impl ModemConfig {
    /// Partitions for a modem firmware of `firmware_len` bytes: banks a
    /// quarter larger (room for later versions to grow), rounded up to whole
    /// 64 KiB, and a scratch area as large as a bank (a delta rewriting the
    /// whole firmware still fits).
    pub fn for_firmware(firmware_len: usize, factory_sha256: &[u8; 32]) -> Result<Self, DataDirError> {
        let bank = (firmware_len as u64 * 5 / 4).max(64 * 1024).div_ceil(64 * 1024) * 64 * 1024;
        let bank = u32::try_from(bank).ok().filter(|&b| b <= 512 << 20).ok_or_else(|| {
            DataDirError::Mismatch(format!(
                "a modem firmware of {firmware_len} bytes is too large (at most 400 MiB)"
            ))
        })?;
        Ok(Self { bank_size: bank, scratch_size: bank, factory_sha256: hex::encode(factory_sha256) })
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
        settings_size: config.settings_size(),
    };
    let layout = Layout::new(config.sector_size, &spec).map_err(|e| bad(e.to_string()))?;
    let Some(modem) = &config.modem else { return Ok(layout) };
    let spec = ModemSpec {
        bank_size: modem.bank_size,
        scratch_size: modem.scratch_size,
        state_size: ModemUpdater::state_size(geometry),
    };
    layout.with_modem(config.sector_size, &spec).map_err(|e| bad(e.to_string()))
}
