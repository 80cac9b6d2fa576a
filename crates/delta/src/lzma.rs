//! LZMA "alone" streams (the `.lzma` format, Python's `lzma.FORMAT_ALONE`) through liblzma:
//! a streaming decoder with a memory bound, and the encoder `create` uses.
//!
//! This module owns the choice of LZMA settings. It must never let liblzma allocate a
//! dictionary above the caller's limit: the header's dictionary size is checked before the
//! decoder exists, and liblzma's own memory limit backs that up.

use std::io::Read;

use liblzma::stream::{
    Action, Error as LzmaError, LzmaOptions, MatchFinder, Mode, PRESET_EXTREME, Status, Stream,
};

use crate::PatchError;
use crate::header::{LZMA_HEADER_LEN, LzmaHeader};
use crate::input::Input;

/// Memory liblzma needs besides the dictionary (probability tables, state), with room to spare.
const DECODER_OVERHEAD: u64 = 1 << 20;
/// Smallest dictionary liblzma uses.
const MIN_DICT: u32 = 4096;

/// Decodes an LZMA "alone" stream from the patch.
pub(crate) struct Decoder<P> {
    input: Input<P>,
    stream: Stream,
    /// The header, read ahead to check it, fed to liblzma first.
    header: [u8; LZMA_HEADER_LEN],
    header_fed: usize,
    ended: bool,
}

impl<P: Read> Decoder<P> {
    /// Reads and checks the 13-byte header; refuses a dictionary above `max_dict`.
    pub fn new(mut input: Input<P>, max_dict: u32) -> Result<Self, PatchError> {
        let mut header = [0; LZMA_HEADER_LEN];
        for b in &mut header {
            *b = input.byte("LZMA header")?;
        }
        let dict_size = LzmaHeader::parse(&header)?.dict_size;
        if dict_size > max_dict {
            return Err(PatchError::LzmaDictTooLarge { dict_size, limit: max_dict });
        }
        let memlimit = u64::from(max_dict.max(MIN_DICT)) + DECODER_OVERHEAD;
        let stream = Stream::new_lzma_decoder(memlimit).map_err(decode_error)?;
        Ok(Decoder { input, stream, header, header_fed: 0, ended: false })
    }

    /// Fills `out` with decompressed bytes; returns 0 only once the stream has ended.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, PatchError> {
        let mut stalls = 0;
        while !self.ended && !out.is_empty() {
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let from_header = self.header_fed < LZMA_HEADER_LEN;
            let input = if from_header { &self.header[self.header_fed..] } else { self.input.fill()? };
            let at_eof = input.is_empty();
            let status = self.stream.process(input, out, Action::Run).map_err(decode_error)?;
            let used = (self.stream.total_in() - in_before) as usize;
            let produced = (self.stream.total_out() - out_before) as usize;
            if from_header {
                self.header_fed += used;
            } else {
                self.input.consume(used);
            }
            if status == Status::StreamEnd {
                self.ended = true;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if self.ended {
                break;
            }
            if at_eof {
                return Err(PatchError::Truncated { what: "LZMA stream" });
            }
            // With input and output room liblzma always moves; this only bounds the loop.
            stalls = if used == 0 { stalls + 1 } else { 0 };
            if stalls > 2 {
                return Err(PatchError::LzmaCorrupt { reason: "the decoder stopped making progress" });
            }
        }
        Ok(0)
    }

    /// Succeeds only at the LZMA end marker (or the size the header declares), with no
    /// decompressed byte left and nothing after the stream.
    pub fn finish(&mut self) -> Result<(), PatchError> {
        let mut probe = [0u8; 1];
        if self.read(&mut probe)? != 0 {
            return Err(PatchError::TrailingData);
        }
        self.input.expect_end()
    }
}

fn decode_error(e: LzmaError) -> PatchError {
    PatchError::LzmaCorrupt {
        reason: match e {
            LzmaError::Data => "bad compressed data",
            LzmaError::Format | LzmaError::Options => "bad header",
            LzmaError::MemLimit => "it needs more memory than the dictionary limit allows",
            LzmaError::Mem => "out of memory",
            _ => "liblzma refused it",
        },
    }
}

/// LZMA settings for one compression attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    preset: u32,
    /// (literal context bits, literal position bits, position bits); `None` keeps the preset's.
    lclppb: Option<(u32, u32, u32)>,
    nice_len: Option<u32>,
}

impl Settings {
    /// What detools gets from Python's `lzma.LZMACompressor(format=FORMAT_ALONE)`: preset 6.
    pub const DETOOLS: Settings = Settings { preset: 6, lclppb: None, nice_len: None };
    /// Preset 9 extreme with the longest matches LZMA can code.
    pub const STRONG: Settings = Settings { preset: 9 | PRESET_EXTREME, lclppb: None, nice_len: Some(273) };

    /// The candidates tried when `create` is thorough: detools' own settings (so a thorough
    /// patch is never larger than detools' with the same operation stream), then the strong
    /// preset with literal/position bits suited to other kinds of streams: pb = 0 for streams
    /// without alignment (mostly zero diff bytes around unaligned extra data), lp = pb = 2
    /// for 32-bit code (ARM), lc = 0 for streams dominated by zero runs.
    pub fn thorough() -> [Settings; 8] {
        let strong = |lc, lp, pb| Settings { lclppb: Some((lc, lp, pb)), ..Settings::STRONG };
        [
            Settings::DETOOLS,
            Settings::STRONG,
            strong(0, 0, 0),
            strong(3, 0, 0),
            strong(4, 0, 0),
            strong(2, 2, 0),
            strong(0, 2, 2),
            strong(1, 2, 2),
        ]
    }
}

/// Compresses `data` into an LZMA "alone" stream (end marker, unknown size in the header), with
/// the dictionary no larger than the data needs, so decoders allocate little for small patches.
pub(crate) fn compress(data: &[u8], settings: Settings) -> Result<Vec<u8>, PatchError> {
    let mut options = LzmaOptions::new_preset(settings.preset).map_err(encode_error)?;
    let preset_dict = match settings.preset & 0x1f {
        0 => 256 << 10,
        1 => 1 << 20,
        2 => 2 << 20,
        3 | 4 => 4 << 20,
        5 | 6 => 8 << 20,
        7 => 16 << 20,
        8 => 32 << 20,
        _ => 64 << 20,
    };
    let needed = u32::try_from(data.len()).unwrap_or(u32::MAX).max(MIN_DICT).checked_next_power_of_two();
    options.dict_size(needed.map_or(preset_dict, |n| n.min(preset_dict)));
    if let Some((lc, lp, pb)) = settings.lclppb {
        options.literal_context_bits(lc).literal_position_bits(lp).position_bits(pb);
    }
    if let Some(nice) = settings.nice_len {
        options.nice_len(nice).match_finder(MatchFinder::BinaryTree4).mode(Mode::Normal);
    }
    let mut stream = Stream::new_lzma_encoder(&options).map_err(encode_error)?;
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let before = stream.total_in();
        let status = stream.process_vec(input, &mut out, Action::Finish).map_err(encode_error)?;
        input = &input[(stream.total_in() - before) as usize..];
        if status == Status::StreamEnd {
            return Ok(out);
        }
    }
}

fn encode_error(e: LzmaError) -> PatchError {
    PatchError::LzmaEncode {
        reason: match e {
            LzmaError::Mem => "out of memory",
            LzmaError::Options => "unsupported options",
            _ => "internal error",
        },
    }
}

/// Compresses with every setting in `candidates` (in parallel, see `par`) and keeps the smallest
/// stream, the first of equals.
pub(crate) fn compress_smallest(data: &[u8], candidates: &[Settings]) -> Result<Vec<u8>, PatchError> {
    let mut best: Option<Vec<u8>> = None;
    for out in crate::par::map(candidates, |&settings| compress(data, settings)) {
        let out = out?;
        if best.as_ref().is_none_or(|b| out.len() < b.len()) {
            best = Some(out);
        }
    }
    best.ok_or(PatchError::LzmaEncode { reason: "no settings to try" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(stream: &[u8], max_dict: u32) -> Result<Vec<u8>, PatchError> {
        let mut dec = Decoder::new(Input::new(stream), max_dict)?;
        let mut out = Vec::new();
        let mut buf = [0; 333];
        loop {
            let n = dec.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        dec.finish()?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        (0..20_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
    }

    #[test]
    fn round_trips_with_every_candidate() {
        let data = sample();
        for settings in Settings::thorough() {
            let stream = compress(&data, settings).unwrap();
            // A dictionary no larger than the data needs: 32 KiB here.
            assert_eq!(&stream[1..5], &(32u32 << 10).to_le_bytes());
            assert_eq!(&stream[5..13], &[0xff; 8]);
            assert_eq!(decompress(&stream, 1 << 20).unwrap(), data);
        }
    }

    #[test]
    fn the_detools_settings_write_pythons_properties() {
        let stream = compress(b"hello", Settings::DETOOLS).unwrap();
        assert_eq!(stream[0], 0x5d);
    }

    #[test]
    fn refuses_a_dictionary_above_the_limit() {
        let stream = compress(&sample(), Settings::STRONG).unwrap();
        let err = decompress(&stream, 16 << 10).unwrap_err();
        assert!(matches!(err, PatchError::LzmaDictTooLarge { dict_size: 32768, limit: 16384 }), "{err}");
    }

    #[test]
    fn truncation_trailing_bytes_and_garbage_are_refused() {
        let stream = compress(&sample(), Settings::DETOOLS).unwrap();
        let err = decompress(&stream[..stream.len() - 1], 1 << 20).unwrap_err();
        assert!(matches!(err, PatchError::Truncated { .. }), "{err}");
        let mut longer = stream.clone();
        longer.push(0);
        assert!(matches!(decompress(&longer, 1 << 20), Err(PatchError::TrailingData)));
        let mut garbage = stream.clone();
        for b in &mut garbage[20..40] {
            *b ^= 0x5a;
        }
        assert!(decompress(&garbage, 1 << 20).is_err());
    }
}
