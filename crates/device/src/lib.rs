//! The emulated modem: a complete device that host software can update.
//!
//! [`Modem`] is the device without IO (AT session, profile, engine, reboots);
//! [`run`] is the shell that connects it to a transport and runs transfers;
//! [`DataDir`] is its persistent state (flash kept in a file).

mod datadir;
mod identity;
mod modem;
mod run;
mod transport;

pub use datadir::{
    DEFAULT_SLOT_SIZE, DataDir, DataDirError, DeviceConfig, FACTORY_MODEM_LEN, LEGACY_SETTINGS_SIZE,
    MAX_SLOT_SIZE, ModemConfig, ModemImage, OpenOptions, SETTINGS_SIZE, application_body, application_image,
    factory_image, factory_modem_firmware, layout_for, modem_firmware_body, provision, provision_with,
};
pub use modem::{Modem, ModemError};
pub use run::{Input, RunError, RunOptions, run};
pub use transport::Listen;
