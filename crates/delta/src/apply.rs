//! Applying a sequential patch: the header, the decompressor, and the operation loop that
//! writes the new firmware in order.
//!
//! This module owns the checks that make an untrusted patch safe to run: every length is
//! bounded by the declared size, every read of the old firmware stays inside it, the stream
//! must end exactly where the new firmware does. It must never buffer a firmware: memory is two
//! fixed chunks, the patch input buffer and the decompressor's state (the LZMA dictionary the
//! stream declares, up to [`Limits::max_lzma_dict`]; the heatshrink window, up to 32 KiB).

use std::io::{Read, Write};

use crate::header::Header;
use crate::input::Input;
use crate::{Compression, HeatshrinkParams, PatchError, ReadAt, heatshrink, lzma, varint};

/// Bytes of diff or extra data handled at a time.
const CHUNK: usize = 4096;
/// Operations in a row that produce no byte before the patch is refused. bsdiff never writes two
/// in a row; the bound keeps a stream of them (cheap to make with LZMA) from running for long.
const MAX_IDLE_OPS: u32 = 1024;

/// Bounds on what a patch may make `apply` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest new firmware accepted (the size in the header); set it to the slot size.
    pub max_to_size: u64,
    /// Largest LZMA dictionary accepted: the decoder allocates this much.
    pub max_lzma_dict: u32,
}

impl Default for Limits {
    /// 64 MiB of new firmware; an 8 MiB dictionary, what detools' LZMA (preset 6) declares.
    fn default() -> Self {
        Limits { max_to_size: 64 << 20, max_lzma_dict: 8 << 20 }
    }
}

/// Applies a whole patch streamed from `patch` (positioned at its first byte), reading the old
/// firmware from `from` and writing the new one to `to` in order; returns its size.
///
/// On error, `to` may hold a prefix of the new firmware; the caller discards it.
pub fn apply<R: ReadAt + ?Sized, P: Read, W: Write>(
    from: &mut R,
    patch: P,
    to: &mut W,
    limits: &Limits,
) -> Result<u64, PatchError> {
    let mut input = Input::new(patch);
    let first = input.byte("patch header")?;
    let header = Header::parse_with(first, || input.byte("new firmware size"))?;
    if header.to_size > limits.max_to_size {
        return Err(PatchError::ToSizeTooLarge { to_size: header.to_size, limit: limits.max_to_size });
    }
    if header.to_size == 0 {
        // detools writes no compressed stream at all for an empty new firmware.
        input.expect_end()?;
        to.flush().map_err(PatchError::WriteTo)?;
        return Ok(0);
    }
    let stream = match header.compression {
        Compression::None => Stream::Plain(input),
        Compression::Lzma => Stream::Lzma(lzma::Decoder::new(input, limits.max_lzma_dict)?),
        Compression::Heatshrink => {
            let params = HeatshrinkParams::from_byte(input.byte("heatshrink parameters")?)?;
            Stream::Heatshrink(heatshrink::Decoder::new(input, params))
        }
    };
    let mut ops = Ops { stream, buf: Box::new([0; CHUNK]), start: 0, end: 0 };
    let dfpatch_size = ops.size("data-format patch size")?;
    if dfpatch_size != 0 {
        return Err(PatchError::DataFormat { size: dfpatch_size });
    }
    let mut applier = Applier {
        from_size: from.len(),
        from,
        to,
        from_pos: 0,
        to_pos: 0,
        to_size: header.to_size,
        data: Box::new([0; CHUNK]),
        old: Box::new([0; CHUNK]),
    };
    applier.run(&mut ops)?;
    ops.finish()?;
    applier.to.flush().map_err(PatchError::WriteTo)?;
    Ok(header.to_size)
}

/// The operation loop's state.
struct Applier<'a, R: ?Sized, W> {
    from: &'a mut R,
    from_size: u64,
    to: &'a mut W,
    from_pos: u64,
    to_pos: u64,
    to_size: u64,
    data: Box<[u8; CHUNK]>,
    old: Box<[u8; CHUNK]>,
}

impl<R: ReadAt + ?Sized, W: Write> Applier<'_, R, W> {
    fn run<P: Read>(&mut self, ops: &mut Ops<P>) -> Result<(), PatchError> {
        let mut idle = 0;
        while self.to_pos < self.to_size {
            let diff_len = ops.size("diff length")?;
            self.check_fits("diff data", diff_len)?;
            if self.from_pos.checked_add(diff_len).is_none_or(|end| end > self.from_size) {
                return Err(PatchError::DiffOutOfBounds {
                    len: diff_len,
                    from_pos: self.from_pos,
                    from_size: self.from_size,
                });
            }
            self.copy(ops, diff_len, true)?;

            let extra_len = ops.size("extra length")?;
            self.check_fits("extra data", extra_len)?;
            self.copy(ops, extra_len, false)?;

            let adjustment = ops.signed("adjustment")?;
            let new_pos = i128::from(self.from_pos) + i128::from(adjustment);
            if new_pos < 0 || new_pos > i128::from(self.from_size) {
                return Err(PatchError::SeekOutOfBounds {
                    adjustment,
                    from_pos: self.from_pos,
                    from_size: self.from_size,
                });
            }
            // Within 0..=from_size, checked just above.
            self.from_pos = new_pos as u64;

            idle = if diff_len == 0 && extra_len == 0 { idle + 1 } else { 0 };
            if idle > MAX_IDLE_OPS {
                return Err(PatchError::IdleOperations { count: idle });
            }
        }
        Ok(())
    }

    fn check_fits(&self, what: &'static str, len: u64) -> Result<(), PatchError> {
        if self.to_pos.checked_add(len).is_none_or(|end| end > self.to_size) {
            return Err(PatchError::TooLong { what, len, to_pos: self.to_pos, to_size: self.to_size });
        }
        Ok(())
    }

    /// Writes `len` bytes of the stream to the new firmware, adding the old firmware's bytes
    /// first when `add_old` (diff data) and moving along the old firmware with them.
    fn copy<P: Read>(&mut self, ops: &mut Ops<P>, len: u64, add_old: bool) -> Result<(), PatchError> {
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            let data = &mut self.data[..n];
            ops.read_exact(data, if add_old { "diff data" } else { "extra data" })?;
            if add_old {
                let old = &mut self.old[..n];
                self.from.read_exact_at(self.from_pos, old).map_err(PatchError::ReadFrom)?;
                for (d, o) in data.iter_mut().zip(old.iter()) {
                    *d = d.wrapping_add(*o);
                }
                self.from_pos += n as u64;
            }
            self.to.write_all(data).map_err(PatchError::WriteTo)?;
            self.to_pos += n as u64;
            left -= n as u64;
        }
        Ok(())
    }
}

/// The decompressed operation stream.
enum Stream<P> {
    Plain(Input<P>),
    Lzma(lzma::Decoder<P>),
    Heatshrink(heatshrink::Decoder<P>),
}

impl<P: Read> Stream<P> {
    /// Fills `buf` with decompressed bytes; 0 only at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PatchError> {
        match self {
            Stream::Plain(input) => {
                let avail = input.fill()?;
                let n = avail.len().min(buf.len());
                buf[..n].copy_from_slice(&avail[..n]);
                input.consume(n);
                Ok(n)
            }
            Stream::Lzma(dec) => dec.read(buf),
            Stream::Heatshrink(dec) => dec.read(buf),
        }
    }

    fn finish(&mut self) -> Result<(), PatchError> {
        match self {
            Stream::Plain(input) => input.expect_end(),
            Stream::Lzma(dec) => dec.finish(),
            Stream::Heatshrink(dec) => dec.finish(),
        }
    }
}

/// Reads operation fields from the decompressed stream through one chunk of read-ahead.
struct Ops<P> {
    stream: Stream<P>,
    buf: Box<[u8; CHUNK]>,
    start: usize,
    end: usize,
}

impl<P: Read> Ops<P> {
    fn byte(&mut self, what: &'static str) -> Result<u8, PatchError> {
        if self.start == self.end {
            self.refill(what)?;
        }
        let b = self.buf[self.start];
        self.start += 1;
        Ok(b)
    }

    fn read_exact(&mut self, out: &mut [u8], what: &'static str) -> Result<(), PatchError> {
        let mut filled = 0;
        while filled < out.len() {
            if self.start == self.end {
                self.refill(what)?;
            }
            let n = (self.end - self.start).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            filled += n;
        }
        Ok(())
    }

    fn refill(&mut self, what: &'static str) -> Result<(), PatchError> {
        let n = self.stream.read(&mut self.buf[..])?;
        if n == 0 {
            return Err(PatchError::Truncated { what });
        }
        (self.start, self.end) = (0, n);
        Ok(())
    }

    fn size(&mut self, what: &'static str) -> Result<u64, PatchError> {
        let value = varint::decode(|| self.byte(what))?;
        u64::try_from(value).map_err(|_| PatchError::NegativeSize { what })
    }

    fn signed(&mut self, what: &'static str) -> Result<i64, PatchError> {
        varint::decode(|| self.byte(what))
    }

    /// Succeeds only if the stream (and the patch) ends here.
    fn finish(&mut self) -> Result<(), PatchError> {
        if self.start < self.end {
            return Err(PatchError::TrailingData);
        }
        self.stream.finish()
    }
}
