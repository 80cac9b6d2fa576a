//! Helpers shared by the atfota fuzz targets in `fuzz_targets/`: how a target cuts its input
//! into the pieces it feeds ([`input`]), how bytes become a settings partition
//! ([`settings_image`]), and a factory-fresh emulated modem with a scripted downloader
//! (`device`, with the default feature `device`).
//!
//! Everything here is deterministic and does no IO: a fuzz input must replay to the same run.
//! The helpers only shape inputs; every check of the code under test lives in the targets.

#[cfg(feature = "device")]
pub mod device;
pub mod input;
pub mod settings_image;
