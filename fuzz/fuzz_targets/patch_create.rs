//! Fuzz target: `atfota_delta::create` (`atfota-delta`) of two firmwares the input carries,
//! its patch applied back. Split from `patch_apply`, whose round-trip mode this was: a
//! `create` costs 10 to 100 times an `apply` under coverage instrumentation (suffix sorting,
//! then a match search per byte for heatshrink), and round trips took over nine tenths of
//! that target's time while making up most of its corpus.
//!
//! Input layout:
//! - byte 0, control: bits 0-1 the compression (none, LZMA, heatshrink, heatshrink)
//! - bytes 1-2: the old firmware's length, u16 little-endian (cut to what follows)
//! - the old firmware, then the new one; each is cut to `MAX_FIRMWARE` bytes
//!
//! Checks, besides no panic, no hang and no allocation over the limit: `create` accepts any
//! two firmwares this small, and its patch applies (within the default limits) to exactly the
//! new firmware.

#![no_main]

use atfota_delta::{Compression, CreateOptions, Limits, apply, create};
use atfota_fuzz::input;
use libfuzzer_sys::fuzz_target;

/// Longest old and new firmware. A `create` costs far more per byte than an `apply` (up to
/// 30 ms for 4 KiB with heatshrink, instrumented); 4 KiB is sixteen heatshrink windows of
/// `create`'s default parameters, and longer inputs mostly repeat what these reach.
const MAX_FIRMWARE: usize = 0x1000;

fuzz_target!(|data: &[u8]| {
    let ([control, len_lo, len_hi], rest) = input::header::<3>(data);
    let from_len = usize::from(u16::from_le_bytes([len_lo, len_hi])).min(rest.len());
    let (from, to) = rest.split_at(from_len);
    let (from, to) = (&from[..from.len().min(MAX_FIRMWARE)], &to[..to.len().min(MAX_FIRMWARE)]);
    let compression =
        [Compression::None, Compression::Lzma, Compression::Heatshrink, Compression::Heatshrink]
            [usize::from(control & 0x03)];
    let opts = CreateOptions { thorough: false, ..CreateOptions::new(compression) };
    let patch = create(from, to, &opts).expect("create accepts any inputs this small");
    let mut out = Vec::new();
    apply(&mut &from[..], &patch[..], &mut out, &Limits::default()).expect("our own patch applies");
    assert!(out == to, "round trip gave other bytes");
});
