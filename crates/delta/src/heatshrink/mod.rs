//! Heatshrink (LZSS with a bit-packed stream), as detools uses it: the stream starts with one
//! parameter byte (`(window_sz2 - 4) << 4 | (lookahead_sz2 - 3)`), then symbols, most
//! significant bit first: `1` + 8-bit literal, or `0` + `window_sz2`-bit index (distance - 1) +
//! `lookahead_sz2`-bit count (length - 1). The decoder's window starts zeroed, so a match may
//! reach before the first byte and read zeros. The last byte is padded with zero bits.
//!
//! This module owns the heatshrink codec. It must never hold more than the window (at most
//! 32 KiB) and one input buffer while decoding.
//!
//! Written by hand: the crates on crates.io either fix window and lookahead at compile time
//! (`heatshrink-lib`, `icewrap`: const generics, so a runtime header byte needs a dispatch over
//! every pair and their constructors panic on bad pairs), have one fixed configuration and no
//! streaming decoder (`heatshrink`), or port the C encoder's greedy matching
//! (`embedded-heatshrink`, which also pulls in rayon). Our decoder takes the parameters from the
//! stream and pulls from a `Read`; our encoder parses optimally (fewest bits for the given
//! window and lookahead) and can choose the parameters, which makes smaller patches than
//! heatshrink's own encoder.

mod decode;
mod encode;

pub(crate) use decode::Decoder;
pub(crate) use encode::{compress, compress_best};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::HeatshrinkParams;
    use crate::input::Input;

    fn decompress(stream: &[u8]) -> Vec<u8> {
        let mut input = Input::new(stream);
        let params = HeatshrinkParams::from_byte(input.byte("params").unwrap()).unwrap();
        let mut dec = Decoder::new(input, params);
        let mut out = Vec::new();
        let mut buf = [0; 100];
        loop {
            let n = dec.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        dec.finish().unwrap();
        out
    }

    #[test]
    fn decodes_a_stream_from_the_reference_encoder() {
        // heatshrink2.compress(b"abcabcabcabcx", window_sz2=8, lookahead_sz2=4), one byte of
        // parameters in front (0x41).
        let stream = [0x41, 0xb0, 0xd8, 0xac, 0x60, 0x28, 0xbc, 0x00];
        assert_eq!(decompress(&stream), b"abcabcabcabcx");
    }

    #[test]
    fn a_match_may_reach_the_zeroed_window_before_the_start() {
        // 0 + index 0x0f (distance 16) + count 0x3 (4 bytes) with window 2^4, lookahead 2^3,
        // then a literal 'z': the first four bytes come from the zeroed window (heatshrink2 agrees).
        // Bits: 0 1111 011 | 1 01111010 -> 0111 1011 1011 1101 0(000 0000)
        let stream = [0x00, 0x7b, 0xbd, 0x00];
        assert_eq!(decompress(&stream), [0, 0, 0, 0, b'z']);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trips_for_every_parameter_pair(
            data in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..3000),
            window in 4u8..=15,
            lookahead_seed in any::<u8>(),
        ) {
            let lookahead = 3 + lookahead_seed % (window - 3);
            let params = HeatshrinkParams::new(window, lookahead).unwrap();
            let stream = compress(&data, params);
            prop_assert_eq!(stream[0], params.to_byte());
            prop_assert_eq!(decompress(&stream), data);
        }

        #[test]
        fn the_best_choice_round_trips_and_beats_the_default(
            data in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..3000),
        ) {
            let best = compress_best(&data);
            prop_assert!(best.len() <= compress(&data, HeatshrinkParams::DETOOLS_DEFAULT).len());
            prop_assert_eq!(decompress(&best), data);
        }
    }
}
