//! Fuzz target: detools sequential patches through `atfota_delta::apply` (`atfota-delta`),
//! streamed in chunks the input chooses, against an old firmware the input carries.
//!
//! Input layout:
//! - byte 0, control: bits 0-1 the LZMA dictionary limit (8 MiB, 64 KiB, 1 MiB, 4 KiB); the
//!   other bits are unused (bit 7 chose a round trip through `create`, now `patch_create`)
//! - byte 1: the patch's chunk size (`input::chunk_len`)
//! - bytes 2-3: the old firmware's length, u16 little-endian (cut to what follows)
//! - the old firmware, then the patch
//!
//! Checks, besides no panic, no hang and no allocation over the limit: a patch applies the
//! same whether it arrives in chunks or at once; an accepted patch produced exactly the size
//! its header declares, within `Limits::max_to_size`, and `patch_info` agrees with its header;
//! a header `patch_info` refuses is refused by `apply` too.

#![no_main]

use std::io::Read;

use atfota_delta::{Limits, MAX_HEADER_LEN, PatchError, apply, patch_info};
use atfota_fuzz::input;
use libfuzzer_sys::fuzz_target;

/// Largest new firmware the target accepts (keeps outputs within the fuzzer's memory limit).
const MAX_TO_SIZE: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let ([control, pattern, len_lo, len_hi], rest) = input::header::<4>(data);
    let from_len = usize::from(u16::from_le_bytes([len_lo, len_hi])).min(rest.len());
    let (from, tail) = rest.split_at(from_len);
    let max_lzma_dict = [8 << 20, 64 << 10, 1 << 20, 4 << 10][usize::from(control & 0x03)];
    let limits = Limits { max_to_size: MAX_TO_SIZE, max_lzma_dict };

    let patch = tail;
    let mut chunked_out = Vec::new();
    let chunked = apply(&mut &from[..], Chunked::new(pattern, patch), &mut chunked_out, &limits);
    let mut whole_out = Vec::new();
    let whole = apply(&mut &from[..], patch, &mut whole_out, &limits);
    match (&chunked, &whole) {
        (Ok(a), Ok(b)) => assert_eq!((a, &chunked_out), (b, &whole_out), "chunking changed the output"),
        // Both refused. Which check fires first may differ: with less input at hand the
        // applier can meet a size overrun before the decompressor reports the corrupt stream
        // behind it (both say the patch is bad; found by this target in CI).
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the verdict: {chunked:?} / {whole:?}"),
    }

    let info = patch_info(&patch[..patch.len().min(MAX_HEADER_LEN)]);
    match whole {
        Ok(size) => {
            assert_eq!(size, whole_out.len() as u64);
            assert!(size <= MAX_TO_SIZE);
            let info = info.expect("patch_info reads the header of an accepted patch");
            assert_eq!(info.to_size, size);
        }
        Err(e) => {
            // A header patch_info refuses, apply refuses the same way (unless the size limit,
            // which patch_info does not know, came first).
            if let Err(header_err) = info
                && !matches!(header_err, PatchError::Truncated { .. })
                && !matches!(e, PatchError::ToSizeTooLarge { .. })
            {
                assert_eq!(
                    std::mem::discriminant(&header_err),
                    std::mem::discriminant(&e),
                    "{header_err} / {e}"
                );
            }
        }
    }
});

/// Hands the patch out in chunks of one size, as a slow download would.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> Chunked<'a> {
    fn new(pattern: u8, data: &'a [u8]) -> Self {
        Chunked { data, chunk: input::chunk_len(pattern) }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
