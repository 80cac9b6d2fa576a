//! detools' variable-length integers ("sizes"): the first byte carries a continuation bit
//! (0x80), a sign bit (0x40) and the lowest 6 bits of the magnitude; each following byte a
//! continuation bit and the next 7 bits.
//!
//! This module owns the encoding only. It must never read more than [`MAX_LEN`] bytes for one
//! value, so a stream of continuation bytes cannot make a reader loop or overflow.

use crate::PatchError;

/// The longest encoding read or written: 6 + 9 × 7 = 69 bits, enough for any 64-bit magnitude.
pub const MAX_LEN: usize = 10;

/// Appends `value` as detools' `pack_size` writes it (zero is one 0x00 byte).
pub fn encode(value: i64, out: &mut Vec<u8>) {
    let mut magnitude = value.unsigned_abs();
    let sign = if value < 0 { 0x40 } else { 0x00 };
    let mut byte = sign | (magnitude & 0x3f) as u8;
    magnitude >>= 6;
    while magnitude > 0 {
        out.push(0x80 | byte);
        byte = (magnitude & 0x7f) as u8;
        magnitude >>= 7;
    }
    out.push(byte);
}

/// The encoded length of `value`.
#[cfg(test)]
pub fn encoded_len(value: i64) -> usize {
    let bits = 64 - value.unsigned_abs().leading_zeros() as usize;
    if bits <= 6 { 1 } else { 1 + (bits - 6).div_ceil(7) }
}

/// Reads one value, pulling bytes from `next` (which reports the end of its bytes itself).
///
/// Any i64 round-trips, `i64::MIN` included; a magnitude that does not fit, or an encoding
/// longer than [`MAX_LEN`] bytes, is [`PatchError::VarintOverflow`].
pub fn decode(mut next: impl FnMut() -> Result<u8, PatchError>) -> Result<i64, PatchError> {
    let first = next()?;
    let negative = first & 0x40 != 0;
    let mut magnitude = u64::from(first & 0x3f);
    let mut more = first & 0x80 != 0;
    let mut shift = 6u32;
    let mut len = 1;
    while more {
        if len == MAX_LEN {
            return Err(PatchError::VarintOverflow);
        }
        let byte = next()?;
        len += 1;
        let bits = u64::from(byte & 0x7f);
        // The 10th byte lands at bit 69 - 7 = 62: only its two lowest bits still fit.
        if shift > 57 && bits >> (64 - shift) != 0 {
            return Err(PatchError::VarintOverflow);
        }
        magnitude |= bits << shift;
        shift += 7;
        more = byte & 0x80 != 0;
    }
    if negative {
        if magnitude > 1 << 63 {
            return Err(PatchError::VarintOverflow);
        }
        // Two's complement negation maps 2^63 to i64::MIN, the one value with no positive twin.
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| PatchError::VarintOverflow)
    }
}

/// Reads one value from the front of `bytes`, advancing it; `what` names it if bytes run out.
#[cfg(test)]
pub fn decode_slice(bytes: &mut &[u8], what: &'static str) -> Result<i64, PatchError> {
    decode(|| match bytes.split_first() {
        Some((&b, rest)) => {
            *bytes = rest;
            Ok(b)
        }
        None => Err(PatchError::Truncated { what }),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn enc(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn matches_the_reference_encoding() {
        // formats.md: `80 fb 01` = 16,064 (the small ELF's size).
        assert_eq!(enc(16_064), [0x80, 0xfb, 0x01]);
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(63), [0x3f]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(enc(-1), [0x41]);
        assert_eq!(enc(-64), [0xc0, 0x01]);
        assert_eq!(decode_slice(&mut &[0x80, 0xfb, 0x01][..], "x").unwrap(), 16_064);
    }

    #[test]
    fn refuses_overlong_and_overflowing_values() {
        let mut too_long = vec![0x80; MAX_LEN];
        too_long.push(0x00);
        assert!(matches!(decode_slice(&mut &too_long[..], "x"), Err(PatchError::VarintOverflow)));
        // 2^64: bit 64 set in the 10th byte.
        let mut big = vec![0x80; MAX_LEN - 1];
        big.push(0x04);
        assert!(matches!(decode_slice(&mut &big[..], "x"), Err(PatchError::VarintOverflow)));
        // +2^63 does not fit an i64, -2^63 does.
        let mut two63 = vec![0x80; MAX_LEN - 1];
        two63.push(0x02);
        assert!(matches!(decode_slice(&mut &two63[..], "x"), Err(PatchError::VarintOverflow)));
        two63[0] |= 0x40;
        assert_eq!(decode_slice(&mut &two63[..], "x").unwrap(), i64::MIN);
    }

    #[test]
    fn running_out_names_the_field() {
        let err = decode_slice(&mut &[0x80][..], "diff length").unwrap_err();
        assert!(matches!(err, PatchError::Truncated { what: "diff length" }));
    }

    proptest! {
        #[test]
        fn round_trips(v in any::<i64>()) {
            let bytes = enc(v);
            prop_assert_eq!(bytes.len(), encoded_len(v));
            prop_assert!(bytes.len() <= MAX_LEN);
            let mut rest = &bytes[..];
            prop_assert_eq!(decode_slice(&mut rest, "x").unwrap(), v);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = decode_slice(&mut &bytes[..], "x");
        }
    }
}
