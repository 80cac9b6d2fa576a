//! Creating a sequential patch: the differ's operation stream, compressed, behind the header.
//!
//! This module owns the choice of compression settings. It must never write a patch that
//! detools' `apply_patch` would read differently; it holds both firmwares and the suffix array
//! in memory (a host-side tool).

use crate::header::Header;
use crate::{Compression, HeatshrinkParams, PatchError, diff, heatshrink, lzma};

/// How to create a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// The compression written in the header.
    pub compression: Compression,
    /// Heatshrink's window and lookahead; `None` picks them (see [`CreateOptions::thorough`]).
    pub heatshrink: Option<HeatshrinkParams>,
    /// Try several settings and keep the smallest patch: for LZMA, detools' own preset 6 and
    /// preset 9 extreme with several literal/position bit settings; for heatshrink without
    /// fixed parameters, windows 2^6..=2^13 with every lookahead up to 2^10. When off: detools'
    /// own settings (LZMA preset 6; heatshrink window 2^8, lookahead 2^7), which is faster.
    pub thorough: bool,
}

impl CreateOptions {
    /// The given compression, thorough, heatshrink parameters picked.
    pub fn new(compression: Compression) -> Self {
        CreateOptions { compression, heatshrink: None, thorough: true }
    }
}

impl Default for CreateOptions {
    /// LZMA, as `detools create_patch` defaults to.
    fn default() -> Self {
        CreateOptions::new(Compression::Lzma)
    }
}

/// Creates a complete detools sequential patch turning `from` into `to`.
pub fn create(from: &[u8], to: &[u8], opts: &CreateOptions) -> Result<Vec<u8>, PatchError> {
    for (which, data) in [("old", from), ("new", to)] {
        if data.len() > diff::MAX_INPUT_LEN {
            return Err(PatchError::InputTooLarge { which, len: data.len(), max: diff::MAX_INPUT_LEN });
        }
    }
    let mut patch = Vec::new();
    Header { compression: opts.compression, to_size: to.len() as u64 }.emit(&mut patch);
    if to.is_empty() {
        // As detools: no compressed stream at all.
        return Ok(patch);
    }
    let ops = diff::op_stream(from, to);
    match opts.compression {
        Compression::None => patch.extend_from_slice(&ops),
        Compression::Lzma => {
            let stream = if opts.thorough {
                lzma::compress_smallest(&ops, &lzma::Settings::thorough())?
            } else {
                lzma::compress(&ops, lzma::Settings::DETOOLS)?
            };
            patch.extend_from_slice(&stream);
        }
        Compression::Heatshrink => {
            let stream = match (opts.heatshrink, opts.thorough) {
                (Some(params), _) => heatshrink::compress(&ops, params),
                (None, true) => heatshrink::compress_best(&ops),
                (None, false) => heatshrink::compress(&ops, HeatshrinkParams::DETOOLS_DEFAULT),
            };
            patch.extend_from_slice(&stream);
        }
    }
    Ok(patch)
}
