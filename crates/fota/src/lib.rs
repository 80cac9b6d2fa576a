//! The FOTA engine and the device profiles that drive it.
//!
//! [`Engine`] is the sans-IO state machine every profile shares: it takes
//! commands and downloader output as method calls and hands back actions and
//! [`Event`]s to poll. [`Profile`] turns AT commands into engine calls and
//! events into the profile's URCs.

pub mod credentials;
mod engine;
mod event;
pub mod imei;
pub mod profile;
mod slot;
mod target;
pub mod trust;

pub use engine::{Action, CommandError, DownloadRequest, Engine, EngineConfig, EngineError, KEY_PROVISIONED};
pub use event::{Event, FailKind, Failure, UpgradeResult};
pub use imei::Imei;
pub use profile::{
    CellularStatus, Conditions, Ctx, FunctionalMode, Link, Profile, ProfileKind, Rat, SimPin, SimState,
    Stimulus, SystemRequest,
};
