//! Streaming heatshrink decoder: pulls compressed bytes from the patch, hands out decompressed
//! bytes on demand.
//!
//! Owns the window and the bit reader. It must never read past the patch's end or allocate
//! more than the 2^window_sz2-byte window; a truncated stream simply ends early (the caller
//! notices missing bytes), and [`Decoder::finish`] rejects anything after the last symbol
//! other than the zero-bit padding of the last byte.

use std::io::Read;

use crate::input::Input;
use crate::{HeatshrinkParams, PatchError};

/// A literal symbol: tag bit plus 8 bits.
const LITERAL_BITS: u32 = 9;

/// One decoded symbol.
enum Symbol {
    Literal(u8),
    Backref { distance: usize, count: usize },
}

/// Decodes a heatshrink stream whose parameter byte has already been read.
pub(crate) struct Decoder<P> {
    input: Input<P>,
    params: HeatshrinkParams,
    window: Vec<u8>,
    head: usize,
    /// Bits read ahead, the next ones in the low `bits_held` bits.
    bits: u32,
    bits_held: u32,
    copy_distance: usize,
    copy_left: usize,
    ended: bool,
    /// Bits of the symbol the input ended in (0 when it ended between symbols).
    partial_bits: u32,
}

impl<P: Read> Decoder<P> {
    pub fn new(input: Input<P>, params: HeatshrinkParams) -> Self {
        Decoder {
            input,
            params,
            window: vec![0; 1 << params.window_sz2()],
            head: 0,
            bits: 0,
            bits_held: 0,
            copy_distance: 0,
            copy_left: 0,
            ended: false,
            partial_bits: 0,
        }
    }

    /// Fills `out` with decompressed bytes; returns 0 only once the stream has ended.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, PatchError> {
        let mask = self.window.len() - 1;
        let mut n = 0;
        while n < out.len() {
            if self.copy_left > 0 {
                let take = self.copy_left.min(out.len() - n);
                for slot in &mut out[n..n + take] {
                    let b = self.window[self.head.wrapping_sub(self.copy_distance) & mask];
                    self.window[self.head & mask] = b;
                    self.head = self.head.wrapping_add(1);
                    *slot = b;
                }
                n += take;
                self.copy_left -= take;
                continue;
            }
            if self.ended {
                break;
            }
            match self.symbol()? {
                Some(Symbol::Literal(b)) => {
                    self.window[self.head & mask] = b;
                    self.head = self.head.wrapping_add(1);
                    out[n] = b;
                    n += 1;
                }
                Some(Symbol::Backref { distance, count }) => {
                    self.copy_distance = distance;
                    self.copy_left = count;
                }
                None => {}
            }
        }
        Ok(n)
    }

    /// Succeeds only if the stream holds nothing more: no pending output, no further symbol,
    /// and no whole byte after the last symbol (only the last byte's padding bits).
    pub fn finish(&mut self) -> Result<(), PatchError> {
        if self.copy_left > 0 {
            return Err(PatchError::TrailingData);
        }
        if !self.ended && self.symbol()?.is_some() {
            return Err(PatchError::TrailingData);
        }
        if self.partial_bits >= 8 {
            return Err(PatchError::TrailingData);
        }
        self.input.expect_end()
    }

    /// The next symbol, or `None` (and the stream ends) when the input runs out within it.
    fn symbol(&mut self) -> Result<Option<Symbol>, PatchError> {
        let mut read = 0;
        let symbol = self.symbol_bits(&mut read)?;
        if symbol.is_none() {
            self.ended = true;
            // The symbol's bits so far, and those read ahead that could not complete it.
            self.partial_bits = read + self.bits_held;
        }
        Ok(symbol)
    }

    fn symbol_bits(&mut self, read: &mut u32) -> Result<Option<Symbol>, PatchError> {
        let Some(tag) = self.take(1, read)? else { return Ok(None) };
        if tag == 1 {
            let Some(byte) = self.take(LITERAL_BITS - 1, read)? else { return Ok(None) };
            // 8 bits were taken: the value fits a byte.
            return Ok(Some(Symbol::Literal(byte as u8)));
        }
        let Some(index) = self.take(u32::from(self.params.window_sz2()), read)? else { return Ok(None) };
        let Some(count) = self.take(u32::from(self.params.lookahead_sz2()), read)? else { return Ok(None) };
        Ok(Some(Symbol::Backref { distance: index as usize + 1, count: count as usize + 1 }))
    }

    /// Takes `n` (at most 15) bits, most significant first; `None` at the end of the input.
    fn take(&mut self, n: u32, read: &mut u32) -> Result<Option<u32>, PatchError> {
        while self.bits_held < n {
            let Some(&b) = self.input.fill()?.first() else { return Ok(None) };
            self.input.consume(1);
            // At most 14 bits are held here, so 22 fit.
            self.bits = (self.bits << 8 | u32::from(b)) & 0x3f_ffff;
            self.bits_held += 8;
        }
        self.bits_held -= n;
        *read += n;
        Ok(Some(self.bits >> self.bits_held & ((1 << n) - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(stream: &'static [u8]) -> Decoder<&'static [u8]> {
        Decoder::new(Input::new(stream), HeatshrinkParams::new(4, 3).unwrap())
    }

    #[test]
    fn padding_bits_end_the_stream_cleanly() {
        // Literal 'a' (9 bits) + 7 zero padding bits.
        let mut dec = decoder(&[0xb0, 0x80]);
        let mut out = [0; 4];
        assert_eq!(dec.read(&mut out).unwrap(), 1);
        assert_eq!(out[0], b'a');
        dec.finish().unwrap();
    }

    #[test]
    fn a_whole_byte_after_the_last_symbol_is_trailing_data() {
        // Literal 'a', padding, then a zero byte that starts a backref it cannot finish.
        let mut dec = decoder(&[0xb0, 0x80, 0x00]);
        let mut out = [0; 1];
        assert_eq!(dec.read(&mut out).unwrap(), 1);
        assert!(matches!(dec.finish(), Err(PatchError::TrailingData)));
    }

    #[test]
    fn output_nobody_asked_for_is_trailing_data() {
        // Literal 'a' then literal 'b' (18 bits).
        let mut dec = decoder(&[0xb0, 0xd8, 0x80]);
        let mut out = [0; 1];
        assert_eq!(dec.read(&mut out).unwrap(), 1);
        assert!(matches!(dec.finish(), Err(PatchError::TrailingData)));
    }
}
