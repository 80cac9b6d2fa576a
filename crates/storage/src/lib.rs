//! Storage for the emulated modem: a NOR-flash model with two backends (a
//! file kept in the device's data directory, and an in-memory simulator that
//! can cut the power before any operation), the partition table, and a
//! power-fail-safe key/value settings store kept inside the flash.

pub mod file;
pub mod flash;
pub mod partition;
pub mod settings;
pub mod sim;
pub mod writer;

mod rules;

pub use file::FileFlash;
pub use flash::{ERASED, FlashError, FlashStats, Geometry, NorFlash};
pub use partition::{Layout, LayoutSpec, ModemPartitions, ModemSpec, Partition};
pub use settings::{MAX_KEY_LEN, MAX_VALUE_LEN, Settings, SettingsError};
pub use sim::{CutMode, Fault, SimFlash};
pub use writer::PartitionWriter;
