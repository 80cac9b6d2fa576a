//! The host side: talk AT to a real or emulated modem and drive it through
//! a FOTA.

pub mod session;
pub mod update;

pub use session::{Direction, Reply, Session, SessionError, UrcFilter};
pub use update::{UpdateError, UpdateReport};
