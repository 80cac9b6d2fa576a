//! The crate's one error type: every way applying or creating a patch can fail.
//!
//! Each message is a sentence a user can act on. Failures of the caller's own IO (the old
//! firmware, the patch source, the new firmware's sink) keep their `io::Error` untouched, so a
//! device gets its flash errors back with `into_inner`/`downcast`; they are never reported as a
//! corrupt patch. This module owns no logic.

use std::io;

/// Why a patch could not be applied, inspected or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// Reading the old ("from") firmware failed; the error is the caller's own.
    #[error("reading the old firmware failed: {0}")]
    ReadFrom(#[source] io::Error),
    /// Reading the patch failed; the error is the caller's own.
    #[error("reading the patch failed: {0}")]
    ReadPatch(#[source] io::Error),
    /// Writing the new ("to") firmware failed; the error is the caller's own.
    #[error("writing the new firmware failed: {0}")]
    WriteTo(#[source] io::Error),

    /// The patch (or its compressed stream) ended before the new firmware was complete.
    #[error(
        "the patch ends early (while reading {what}): the download is incomplete, or the patch \
         declares a larger new firmware than it holds"
    )]
    Truncated {
        /// What was being read when the bytes ran out.
        what: &'static str,
    },
    /// The header's reserved bit 7 is set: detools never writes it.
    #[error("patch header byte {byte:#04x} has its reserved bit 7 set: this is not a detools patch")]
    ReservedBit {
        /// The first byte of the patch.
        byte: u8,
    },
    /// The patch is an in-place or hdiffpatch patch, or of an unknown type.
    #[error(
        "patch type {kind} ({}) is not supported: create a sequential patch \
         (detools create_patch -t sequential)", patch_type_name(*kind)
    )]
    UnsupportedPatchType {
        /// Bits 6..4 of the first byte.
        kind: u8,
    },
    /// The patch uses a compression this crate does not decode.
    #[error(
        "compression {code} ({}) is not supported: create the patch with -c none, lzma or heatshrink",
        compression_name(*code)
    )]
    UnsupportedCompression {
        /// Bits 3..0 of the first byte.
        code: u8,
    },
    /// A size or offset in the patch does not fit in 64 bits (or uses more than 10 bytes).
    #[error("a size in the patch does not fit in 64 bits: the patch is corrupt")]
    VarintOverflow,
    /// A length in the patch is negative.
    #[error("the patch holds a negative {what}: the patch is corrupt")]
    NegativeSize {
        /// Which length.
        what: &'static str,
    },
    /// The declared size of the new firmware is above the caller's limit.
    #[error(
        "the patch makes a {to_size}-byte firmware, more than the limit of {limit} bytes: \
         use a patch for this device, or raise Limits::max_to_size"
    )]
    ToSizeTooLarge {
        /// Size declared in the header.
        to_size: u64,
        /// `Limits::max_to_size`.
        limit: u64,
    },
    /// The patch uses detools' experimental data-format mode.
    #[error(
        "data-format patches (data-format patch of {size} bytes) are not supported: create the \
         patch without --data-format"
    )]
    DataFormat {
        /// The non-zero `dfpatch_size`.
        size: u64,
    },
    /// The heatshrink parameter byte names a window or lookahead heatshrink does not allow.
    #[error(
        "heatshrink window 2^{window_sz2} with lookahead 2^{lookahead_sz2} is outside \
         heatshrink's limits (window 4..=15, lookahead 3..window): the patch is corrupt"
    )]
    HeatshrinkParams {
        /// Base-2 logarithm of the window size.
        window_sz2: u8,
        /// Base-2 logarithm of the lookahead size.
        lookahead_sz2: u8,
    },
    /// The LZMA header's properties byte is invalid.
    #[error("the LZMA header is invalid (properties byte {props:#04x}): the patch is corrupt")]
    LzmaHeader {
        /// The properties byte (lc, lp, pb).
        props: u8,
    },
    /// The LZMA stream declares a dictionary above the caller's memory limit.
    #[error(
        "the LZMA stream needs a {dict_size}-byte dictionary, more than the limit of {limit} \
         bytes: create the patch with a smaller dictionary, or raise Limits::max_lzma_dict"
    )]
    LzmaDictTooLarge {
        /// Dictionary size from the LZMA header.
        dict_size: u32,
        /// `Limits::max_lzma_dict`.
        limit: u32,
    },
    /// liblzma refused the compressed data.
    #[error("the LZMA stream is corrupt ({reason}): download the patch again")]
    LzmaCorrupt {
        /// liblzma's verdict.
        reason: &'static str,
    },
    /// A diff or extra block would write past the declared size of the new firmware.
    #[error(
        "{what} of {len} bytes at new-firmware offset {to_pos} runs past the declared size \
         {to_size}: the patch is corrupt"
    )]
    TooLong {
        /// "diff data" or "extra data".
        what: &'static str,
        /// The block's length.
        len: u64,
        /// Bytes of new firmware written before the block.
        to_pos: u64,
        /// Size declared in the header.
        to_size: u64,
    },
    /// A diff block reads past the end of the old firmware.
    #[error(
        "a diff of {len} bytes at old-firmware offset {from_pos} reads past its end \
         ({from_size} bytes): the patch was made for another old firmware, or is corrupt"
    )]
    DiffOutOfBounds {
        /// The block's length.
        len: u64,
        /// Where in the old firmware it starts.
        from_pos: u64,
        /// Size of the old firmware.
        from_size: u64,
    },
    /// An adjustment moves the old-firmware offset before its start or past its end.
    #[error(
        "an adjustment of {adjustment} moves the old-firmware offset {from_pos} outside \
         0..={from_size}: the patch was made for another old firmware, or is corrupt"
    )]
    SeekOutOfBounds {
        /// The signed adjustment.
        adjustment: i64,
        /// The offset before it.
        from_pos: u64,
        /// Size of the old firmware.
        from_size: u64,
    },
    /// Too many operations in a row produced no byte.
    #[error("the patch repeats operations that produce nothing ({count} in a row): the patch is corrupt")]
    IdleOperations {
        /// How many in a row were seen.
        count: u32,
    },
    /// Bytes (or decompressed data) follow the end of the patch.
    #[error(
        "the patch goes on after the new firmware is complete: it is corrupt, or was joined \
         with other data"
    )]
    TrailingData,
    /// An input to `create` is larger than the differ handles.
    #[error("the {which} firmware is {len} bytes; patches can be created for at most {max} bytes")]
    InputTooLarge {
        /// "old" or "new".
        which: &'static str,
        /// Its size.
        len: usize,
        /// The largest size accepted.
        max: usize,
    },
    /// liblzma failed while compressing (out of memory, or an option it refuses).
    #[error("the LZMA encoder failed ({reason})")]
    LzmaEncode {
        /// liblzma's verdict.
        reason: &'static str,
    },
}

impl PatchError {
    /// The caller's own IO error, if this is one ([`PatchError::ReadFrom`], `ReadPatch`, `WriteTo`).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            PatchError::ReadFrom(e) | PatchError::ReadPatch(e) | PatchError::WriteTo(e) => Some(e),
            _ => None,
        }
    }

    /// Takes the caller's own IO error out, or gives the error back if it is not one.
    pub fn into_io_error(self) -> Result<io::Error, PatchError> {
        match self {
            PatchError::ReadFrom(e) | PatchError::ReadPatch(e) | PatchError::WriteTo(e) => Ok(e),
            other => Err(other),
        }
    }
}

fn patch_type_name(kind: u8) -> &'static str {
    match kind {
        0 => "sequential",
        1 => "in-place",
        2 => "hdiffpatch",
        _ => "unknown",
    }
}

fn compression_name(code: u8) -> &'static str {
    match code {
        0 => "none",
        1 => "lzma",
        2 => "crle",
        3 => "bz2",
        4 => "heatshrink",
        5 => "zstd",
        6 => "lz4",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_come_back_out_unchanged() {
        let inner = io::Error::other("power lost");
        let err = PatchError::WriteTo(inner);
        assert!(err.io_error().is_some());
        let back = err.into_io_error().unwrap();
        assert_eq!(back.into_inner().unwrap().to_string(), "power lost");
        assert!(PatchError::TrailingData.into_io_error().is_err());
    }

    #[test]
    fn messages_name_the_refused_kind() {
        let msg = PatchError::UnsupportedPatchType { kind: 1 }.to_string();
        assert!(msg.contains("in-place"), "{msg}");
        let msg = PatchError::UnsupportedCompression { code: 3 }.to_string();
        assert!(msg.contains("bz2"), "{msg}");
    }
}
