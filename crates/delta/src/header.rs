//! The sequential patch header: type and compression byte, the new firmware's size, and the
//! parameters the compressed stream starts with (heatshrink's window byte, LZMA's 13-byte
//! header), as [`patch_info`] reports them.
//!
//! This module owns the header layout and the list of compressions. It must never decode the
//! compressed stream itself; it only peeks at the stream's leading parameters.

use crate::{PatchError, varint};

/// Patch type of a sequential patch (bits 6..4 of byte 0).
const TYPE_SEQUENTIAL: u8 = 0x0;
/// Bit 7 of byte 0: reserved, always clear.
const RESERVED_BIT: u8 = 0x80;
/// Compression codes (bits 3..0 of byte 0).
const CODE_NONE: u8 = 0x0;
const CODE_LZMA: u8 = 0x1;
const CODE_HEATSHRINK: u8 = 0x4;

/// Bytes of the LZMA "alone" header: properties, dictionary size (u32), uncompressed size (u64).
pub const LZMA_HEADER_LEN: usize = 13;

/// The most bytes [`patch_info`] ever needs: byte 0, a 10-byte size, the 13-byte LZMA header.
pub const MAX_HEADER_LEN: usize = 1 + varint::MAX_LEN + LZMA_HEADER_LEN;

/// How the patch's operation stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Stored as is.
    None,
    /// A raw LZMA "alone" stream (Python's `lzma.FORMAT_ALONE`).
    Lzma,
    /// Heatshrink (LZSS); the stream's first byte carries window and lookahead.
    Heatshrink,
}

impl Compression {
    /// detools' name for it (`-c` of `detools create_patch`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lzma => "lzma",
            Compression::Heatshrink => "heatshrink",
        }
    }

    /// Its code in bits 3..0 of the header byte.
    pub fn code(self) -> u8 {
        match self {
            Compression::None => CODE_NONE,
            Compression::Lzma => CODE_LZMA,
            Compression::Heatshrink => CODE_HEATSHRINK,
        }
    }

    fn from_code(code: u8) -> Result<Self, PatchError> {
        match code {
            CODE_NONE => Ok(Compression::None),
            CODE_LZMA => Ok(Compression::Lzma),
            CODE_HEATSHRINK => Ok(Compression::Heatshrink),
            _ => Err(PatchError::UnsupportedCompression { code }),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Compression::None),
            "lzma" => Ok(Compression::Lzma),
            "heatshrink" => Ok(Compression::Heatshrink),
            other => Err(format!("unknown compression {other:?}: expected none, lzma or heatshrink")),
        }
    }
}

/// Heatshrink's two parameters, as base-2 logarithms; valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeatshrinkParams {
    window_sz2: u8,
    lookahead_sz2: u8,
}

impl HeatshrinkParams {
    /// detools' default (`0x44`): a 256-byte window and 128-byte lookahead.
    pub const DETOOLS_DEFAULT: HeatshrinkParams = HeatshrinkParams { window_sz2: 8, lookahead_sz2: 7 };
    /// Smallest window heatshrink allows (2^4 bytes).
    pub const MIN_WINDOW_SZ2: u8 = 4;
    /// Largest window heatshrink allows (2^15 bytes).
    pub const MAX_WINDOW_SZ2: u8 = 15;
    /// Smallest lookahead heatshrink allows (2^3 bytes); the largest is one below the window.
    pub const MIN_LOOKAHEAD_SZ2: u8 = 3;

    /// Checks the parameters against heatshrink's limits (window 4..=15, lookahead 3..window).
    pub fn new(window_sz2: u8, lookahead_sz2: u8) -> Result<Self, PatchError> {
        if (Self::MIN_WINDOW_SZ2..=Self::MAX_WINDOW_SZ2).contains(&window_sz2)
            && (Self::MIN_LOOKAHEAD_SZ2..window_sz2).contains(&lookahead_sz2)
        {
            Ok(HeatshrinkParams { window_sz2, lookahead_sz2 })
        } else {
            Err(PatchError::HeatshrinkParams { window_sz2, lookahead_sz2 })
        }
    }

    /// Reads detools' parameter byte: `(window_sz2 - 4) << 4 | (lookahead_sz2 - 3)`.
    pub fn from_byte(byte: u8) -> Result<Self, PatchError> {
        Self::new((byte >> 4) + Self::MIN_WINDOW_SZ2, (byte & 0x0f) + Self::MIN_LOOKAHEAD_SZ2)
    }

    /// detools' parameter byte for these parameters.
    pub fn to_byte(self) -> u8 {
        (self.window_sz2 - Self::MIN_WINDOW_SZ2) << 4 | (self.lookahead_sz2 - Self::MIN_LOOKAHEAD_SZ2)
    }

    /// Base-2 logarithm of the window (how far back a match may reach).
    pub fn window_sz2(self) -> u8 {
        self.window_sz2
    }

    /// Base-2 logarithm of the lookahead (the longest match).
    pub fn lookahead_sz2(self) -> u8 {
        self.lookahead_sz2
    }
}

/// What a patch's first bytes say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchInfo {
    /// How the operation stream is compressed.
    pub compression: Compression,
    /// Size of the new firmware the patch produces.
    pub to_size: u64,
    /// Heatshrink's parameters (heatshrink patches with a non-empty new firmware).
    pub heatshrink: Option<HeatshrinkParams>,
    /// Dictionary size the LZMA decoder will allocate (LZMA patches with a non-empty new
    /// firmware); [`crate::Limits::max_lzma_dict`] is checked against it.
    pub lzma_dict_size: Option<u32>,
    /// Bytes of the type byte and the size; the compressed stream starts here.
    pub header_len: usize,
}

/// Parses the header at the start of a patch; give it [`MAX_HEADER_LEN`] bytes, or the whole
/// patch when it is shorter.
///
/// Refuses what [`crate::apply`] would refuse from the header alone, except the caller's limits.
pub fn patch_info(patch_start: &[u8]) -> Result<PatchInfo, PatchError> {
    let mut rest = patch_start;
    let header = Header::parse(&mut rest)?;
    let mut info = PatchInfo {
        compression: header.compression,
        to_size: header.to_size,
        heatshrink: None,
        lzma_dict_size: None,
        header_len: patch_start.len() - rest.len(),
    };
    if header.to_size == 0 {
        return Ok(info);
    }
    match header.compression {
        Compression::None => {}
        Compression::Heatshrink => {
            let byte = *rest.first().ok_or(PatchError::Truncated { what: "heatshrink parameters" })?;
            info.heatshrink = Some(HeatshrinkParams::from_byte(byte)?);
        }
        Compression::Lzma => {
            let lzma: &[u8; LZMA_HEADER_LEN] = rest
                .get(..LZMA_HEADER_LEN)
                .and_then(|h| h.try_into().ok())
                .ok_or(PatchError::Truncated { what: "LZMA header" })?;
            info.lzma_dict_size = Some(LzmaHeader::parse(lzma)?.dict_size);
        }
    }
    Ok(info)
}

/// Byte 0 and the size: the part of the header outside the compressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub compression: Compression,
    pub to_size: u64,
}

impl Header {
    /// Parses byte 0 and the size from the front of `bytes`, advancing it.
    pub fn parse(bytes: &mut &[u8]) -> Result<Self, PatchError> {
        let (&first, rest) = bytes.split_first().ok_or(PatchError::Truncated { what: "patch header" })?;
        *bytes = rest;
        Self::parse_with(first, || {
            let (&b, rest) =
                bytes.split_first().ok_or(PatchError::Truncated { what: "new firmware size" })?;
            *bytes = rest;
            Ok(b)
        })
    }

    /// Parses byte 0, then the size from `next`.
    pub fn parse_with(first: u8, next: impl FnMut() -> Result<u8, PatchError>) -> Result<Self, PatchError> {
        if first & RESERVED_BIT != 0 {
            return Err(PatchError::ReservedBit { byte: first });
        }
        let kind = (first >> 4) & 0x7;
        if kind != TYPE_SEQUENTIAL {
            return Err(PatchError::UnsupportedPatchType { kind });
        }
        let compression = Compression::from_code(first & 0x0f)?;
        let to_size = varint::decode(next)?;
        let to_size =
            u64::try_from(to_size).map_err(|_| PatchError::NegativeSize { what: "new firmware size" })?;
        Ok(Header { compression, to_size })
    }

    /// Appends byte 0 and the size.
    pub fn emit(self, out: &mut Vec<u8>) {
        out.push(TYPE_SEQUENTIAL << 4 | self.compression.code());
        // Sizes come from slice lengths, far below i64::MAX.
        varint::encode(self.to_size as i64, out);
    }
}

/// The fields of an LZMA "alone" header that matter before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LzmaHeader {
    pub dict_size: u32,
}

impl LzmaHeader {
    /// Checks the properties byte the way liblzma does (lc + lp ≤ 4) and reads the dictionary.
    pub fn parse(bytes: &[u8; LZMA_HEADER_LEN]) -> Result<Self, PatchError> {
        let props = bytes[0];
        // props = (pb * 5 + lp) * 9 + lc, with pb ≤ 4, lp ≤ 4, lc ≤ 8.
        let (lc, lp) = (props % 9, (props / 9) % 5);
        if props >= 9 * 5 * 5 || lc + lp > 4 {
            return Err(PatchError::LzmaHeader { props });
        }
        let dict_size = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Ok(LzmaHeader { dict_size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_detools_lzma_header() {
        // 0x01 = sequential + lzma; 16,064 bytes; Python's FORMAT_ALONE header (8 MiB dictionary).
        let patch = [
            0x01, 0x80, 0xfb, 0x01, 0x5d, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff,
        ];
        let info = patch_info(&patch).unwrap();
        assert_eq!(info.compression, Compression::Lzma);
        assert_eq!(info.to_size, 16_064);
        assert_eq!(info.header_len, 4);
        assert_eq!(info.lzma_dict_size, Some(8 << 20));
        assert_eq!(info.heatshrink, None);
    }

    #[test]
    fn reads_heatshrink_parameters() {
        let info = patch_info(&[0x04, 0x05, 0x44]).unwrap();
        assert_eq!(info.heatshrink, Some(HeatshrinkParams::DETOOLS_DEFAULT));
        assert_eq!(HeatshrinkParams::DETOOLS_DEFAULT.to_byte(), 0x44);
        assert!(matches!(patch_info(&[0x04, 0x05]), Err(PatchError::Truncated { .. })));
        // Lookahead must stay below the window: 0x11 is window 2^5, lookahead 2^4 (fine), 0x12 is not.
        assert!(patch_info(&[0x04, 0x05, 0x11]).is_ok());
        assert!(matches!(patch_info(&[0x04, 0x05, 0x12]), Err(PatchError::HeatshrinkParams { .. })));
        assert!(matches!(patch_info(&[0x04, 0x05, 0xc0]), Err(PatchError::HeatshrinkParams { .. })));
    }

    #[test]
    fn an_empty_new_firmware_has_no_stream_parameters() {
        let info = patch_info(&[0x04, 0x00]).unwrap();
        assert_eq!((info.to_size, info.heatshrink, info.header_len), (0, None, 2));
    }

    #[test]
    fn refuses_other_types_and_compressions() {
        assert!(matches!(patch_info(&[0x11, 0x00]), Err(PatchError::UnsupportedPatchType { kind: 1 })));
        assert!(matches!(patch_info(&[0x21, 0x00]), Err(PatchError::UnsupportedPatchType { kind: 2 })));
        for code in [2, 3, 5, 6, 7, 15] {
            assert!(matches!(patch_info(&[code, 0x00]), Err(PatchError::UnsupportedCompression { .. })));
        }
        assert!(matches!(patch_info(&[0x80, 0x00]), Err(PatchError::ReservedBit { .. })));
        assert!(matches!(patch_info(&[0x00, 0x41]), Err(PatchError::NegativeSize { .. })));
        assert!(matches!(patch_info(&[]), Err(PatchError::Truncated { .. })));
    }

    #[test]
    fn refuses_lzma_properties_liblzma_refuses() {
        let mut patch = [0x01, 0x05, 0x5d, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(patch_info(&patch).is_ok());
        patch[2] = 225;
        assert!(matches!(patch_info(&patch), Err(PatchError::LzmaHeader { .. })));
        patch[2] = 8; // lc = 8
        assert!(matches!(patch_info(&patch), Err(PatchError::LzmaHeader { .. })));
    }

    #[test]
    fn header_round_trips() {
        for compression in [Compression::None, Compression::Lzma, Compression::Heatshrink] {
            let mut out = Vec::new();
            Header { compression, to_size: 1 << 40 }.emit(&mut out);
            let mut rest = &out[..];
            assert_eq!(Header::parse(&mut rest).unwrap(), Header { compression, to_size: 1 << 40 });
            assert!(rest.is_empty());
        }
    }
}
