//! The emulated modem: a complete device that host software can update.
//!
//! [`Modem`] is the device without IO (AT session, profile, engine, reboots);
//! [`drive`] is the one loop around it every shell runs; [`run`] is the
//! process's shell that connects modems to transports and runs transfers;
//! [`DataDir`] is its persistent state (flash kept in a file).

mod control;
mod datadir;
mod driver;
mod identity;
mod modem;
mod power;
mod run;
mod transport;

pub use control::{ControlAddr, Request};
pub use datadir::{
    DEFAULT_SLOT_SIZE, DataDir, DataDirError, DeviceConfig, DirGuard, FACTORY_MODEM_LEN,
    LEGACY_SETTINGS_SIZE, MAX_SLOT_SIZE, ModemConfig, ModemImage, OpenOptions, SETTINGS_SIZE,
    application_body, application_image, factory_image, factory_modem_firmware, layout_for,
    modem_firmware_body, provision, provision_with,
};
pub use driver::{Shell, drive};
pub use modem::{Modem, ModemError, Next};
pub use power::{Powered, Supply};
pub use run::{Input, RunError, RunOptions, run, run_fleet};
pub use transport::Listen;
