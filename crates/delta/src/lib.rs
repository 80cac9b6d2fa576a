//! detools "sequential" delta patches for atfota: apply them on the device, streaming and with
//! bounded memory, and create them on the host, byte-compatible with the Python `detools`
//! tool (0.53): its `apply_patch` reads our patches, we read its patches.
//!
//! A patch is a header (type and compression byte, the new firmware's size) and one compressed
//! stream of bsdiff-style operations: diff bytes added to the old firmware, extra bytes copied,
//! and a signed adjustment of the position in the old firmware (byte layout: the shared spec's
//! `formats.md`, "detools sequential patch").
//!
//! This crate owns the patch format, the differ and the two codecs detools uses on devices
//! (LZMA "alone" streams through liblzma; heatshrink, written here). It must never trust a
//! patch: every length, position and stream end is checked, and a bad patch is a
//! [`PatchError`], never a panic, an unbounded allocation or an endless loop. It must never
//! hold a firmware in memory while applying, and never hide the caller's IO errors.
//!
//! Supported: sequential patches compressed with none, lzma or heatshrink. Refused with a
//! clear error: in-place and hdiffpatch patches, crle/bz2/zstd/lz4 compression, and
//! data-format (`--data-format`) patches.
//!
//! The suffix sorting of the differ comes from the `divsufsort` crate (a pure-Rust port of the
//! libdivsufsort detools itself uses: no C toolchain needed, and a suffix array is unique, so
//! our differ reproduces detools' operation stream exactly).

mod apply;
mod create;
mod diff;
mod error;
mod header;
mod heatshrink;
mod input;
mod lzma;
mod par;
mod read_at;
mod varint;

pub use apply::{Limits, apply};
pub use create::{CreateOptions, create};
pub use error::PatchError;
pub use header::{Compression, HeatshrinkParams, MAX_HEADER_LEN, PatchInfo, patch_info};
pub use read_at::{FileAt, ReadAt};
