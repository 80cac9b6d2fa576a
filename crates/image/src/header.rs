//! The fixed 32-byte MCUboot image header: parse, emit, and the sizes derived from it.
//!
//! Owns the field layout (offsets in `mod field`) and structural validation (magic, header
//! size). Whether this device can boot an image with given flags is a separate question
//! ([`ImageHeader::check_bootable`]) so that host tools can still show such headers. It must
//! never read past the 32 bytes it is given.

use std::ops::Range;

use crate::detect::MCUBOOT_MAGIC;
use crate::{ImageError, ImageVersion};

/// Header flag bits (`IMAGE_F_*` in MCUboot).
pub mod flags {
    /// Position-independent code.
    pub const PIC: u32 = 0x0000_0001;
    /// Body encrypted with AES-128.
    pub const ENCRYPTED_AES128: u32 = 0x0000_0004;
    /// Body encrypted with AES-256.
    pub const ENCRYPTED_AES256: u32 = 0x0000_0008;
    /// Not to be booted (e.g. a data image for another core).
    pub const NON_BOOTABLE: u32 = 0x0000_0010;
    /// Loaded into RAM at `load_addr`; imgtool sets it whenever a load address is given.
    pub const RAM_LOAD: u32 = 0x0000_0020;
    /// Must run from a fixed flash address.
    pub const ROM_FIXED: u32 = 0x0000_0100;
    /// Body compressed with LZMA1.
    pub const COMPRESSED_LZMA1: u32 = 0x0000_0200;
    /// Body compressed with LZMA2.
    pub const COMPRESSED_LZMA2: u32 = 0x0000_0400;
    /// ARM Thumb filter applied before compression.
    pub const COMPRESSED_ARM_THUMB: u32 = 0x0000_0800;
}

/// Largest `hdr_size` accepted: far above any MCUboot port (0x200 typical, 0x1000 seen),
/// small enough that a corrupt header cannot make the verifier hash megabytes of "header".
pub const MAX_HDR_SIZE: u16 = 0x8000;

/// The fields of an MCUboot image header (the magic and trailing pad are implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageHeader {
    /// Load address (RAM-load images) or 0.
    pub load_addr: u32,
    /// Size of the header area; the body starts here.
    pub hdr_size: u16,
    /// Size of the protected TLV area including its 4-byte info header, or 0.
    pub protect_tlv_size: u16,
    /// Size of the body.
    pub img_size: u32,
    /// `IMAGE_F_*` flags, see [`flags`].
    pub flags: u32,
    /// Image version.
    pub version: ImageVersion,
}

/// Byte ranges of the header fields, all little-endian.
mod field {
    use std::ops::Range;

    pub const MAGIC: Range<usize> = 0x00..0x04;
    pub const LOAD_ADDR: Range<usize> = 0x04..0x08;
    pub const HDR_SIZE: Range<usize> = 0x08..0x0a;
    pub const PROTECT_TLV_SIZE: Range<usize> = 0x0a..0x0c;
    pub const IMG_SIZE: Range<usize> = 0x0c..0x10;
    pub const FLAGS: Range<usize> = 0x10..0x14;
    pub const VER_MAJOR: usize = 0x14;
    pub const VER_MINOR: usize = 0x15;
    pub const VER_REVISION: Range<usize> = 0x16..0x18;
    pub const VER_BUILD: Range<usize> = 0x18..0x1c;
    pub const PAD: Range<usize> = 0x1c..0x20;
}

impl ImageHeader {
    /// Length of the fixed header structure.
    pub const LEN: usize = 32;

    /// Parses the first 32 bytes of an image; more bytes may be given and are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImageError> {
        let Some(bytes) = bytes.get(..Self::LEN) else {
            return Err(ImageError::HeaderTooShort { len: bytes.len() });
        };
        let magic = le_u32(bytes, field::MAGIC);
        if magic != MCUBOOT_MAGIC {
            return Err(ImageError::BadMagic { found: magic });
        }
        let hdr_size = le_u16(bytes, field::HDR_SIZE);
        if usize::from(hdr_size) < Self::LEN || hdr_size > MAX_HDR_SIZE {
            return Err(ImageError::HeaderSize { hdr_size, max: MAX_HDR_SIZE });
        }
        let protect_tlv_size = le_u16(bytes, field::PROTECT_TLV_SIZE);
        if protect_tlv_size != 0 && usize::from(protect_tlv_size) < crate::tlv::INFO_LEN {
            let offset = u64::from(hdr_size) + u64::from(le_u32(bytes, field::IMG_SIZE));
            return Err(ImageError::TlvAreaLength { offset, len: protect_tlv_size });
        }
        Ok(ImageHeader {
            load_addr: le_u32(bytes, field::LOAD_ADDR),
            hdr_size,
            protect_tlv_size,
            img_size: le_u32(bytes, field::IMG_SIZE),
            flags: le_u32(bytes, field::FLAGS),
            version: ImageVersion {
                major: bytes[field::VER_MAJOR],
                minor: bytes[field::VER_MINOR],
                revision: le_u16(bytes, field::VER_REVISION),
                build: le_u32(bytes, field::VER_BUILD),
            },
        })
    }

    /// Writes the 32-byte header (magic included, pad zeroed) into `out[..32]`.
    ///
    /// # Panics
    /// If `out` is shorter than [`ImageHeader::LEN`]: a caller bug, not bad input.
    pub fn emit(&self, out: &mut [u8]) {
        let out = &mut out[..Self::LEN];
        out[field::MAGIC].copy_from_slice(&MCUBOOT_MAGIC.to_le_bytes());
        out[field::LOAD_ADDR].copy_from_slice(&self.load_addr.to_le_bytes());
        out[field::HDR_SIZE].copy_from_slice(&self.hdr_size.to_le_bytes());
        out[field::PROTECT_TLV_SIZE].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        out[field::IMG_SIZE].copy_from_slice(&self.img_size.to_le_bytes());
        out[field::FLAGS].copy_from_slice(&self.flags.to_le_bytes());
        out[field::VER_MAJOR] = self.version.major;
        out[field::VER_MINOR] = self.version.minor;
        out[field::VER_REVISION].copy_from_slice(&self.version.revision.to_le_bytes());
        out[field::VER_BUILD].copy_from_slice(&self.version.build.to_le_bytes());
        out[field::PAD].fill(0);
    }

    /// Length of the hashed region: header, body and protected TLV area.
    pub fn hashed_len(&self) -> u64 {
        self.tlv_offset() + u64::from(self.protect_tlv_size)
    }

    /// Offset of the first TLV area (protected if present, else unprotected).
    pub fn tlv_offset(&self) -> u64 {
        u64::from(self.hdr_size) + u64::from(self.img_size)
    }

    /// Refuses flags that this device's bootloader cannot boot, naming which.
    pub fn check_bootable(&self) -> Result<(), ImageError> {
        let flags = self.flags;
        if flags & (flags::ENCRYPTED_AES128 | flags::ENCRYPTED_AES256) != 0 {
            return Err(ImageError::Encrypted { flags });
        }
        if flags & (flags::COMPRESSED_LZMA1 | flags::COMPRESSED_LZMA2) != 0 {
            return Err(ImageError::Compressed { flags });
        }
        if flags & flags::NON_BOOTABLE != 0 {
            return Err(ImageError::NonBootable { flags });
        }
        Ok(())
    }
}

// The ranges are constants of the right width and `parse` checked the length first, so the
// slicing and copy below cannot fail.
fn le_u16(bytes: &[u8], range: Range<usize>) -> u16 {
    let mut word = [0; 2];
    word.copy_from_slice(&bytes[range]);
    u16::from_le_bytes(word)
}

fn le_u32(bytes: &[u8], range: Range<usize>) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[range]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The header imgtool wrote for testdata/images/signed-ed25519.bin.
    const FIXTURE: [u8; 32] = [
        0x3d, 0xb8, 0xf3, 0x96, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xb7, 0x0b, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn fixture_header() -> ImageHeader {
        ImageHeader {
            load_addr: 0,
            hdr_size: 0x200,
            protect_tlv_size: 0,
            img_size: 2999,
            flags: 0,
            version: ImageVersion { major: 1, minor: 2, revision: 3, build: 4 },
        }
    }

    #[test]
    fn parses_and_emits_the_fixture() {
        let header = ImageHeader::parse(&FIXTURE).unwrap();
        assert_eq!(header, fixture_header());
        let mut out = [0xaa; 32];
        header.emit(&mut out);
        assert_eq!(out, FIXTURE);
        assert_eq!(&crate::fixtures::SIGNED_ED25519[..32], &FIXTURE);
    }

    #[test]
    fn derived_sizes() {
        let mut header = fixture_header();
        assert_eq!(header.tlv_offset(), 0x200 + 2999);
        assert_eq!(header.hashed_len(), 0x200 + 2999);
        header.protect_tlv_size = 12;
        assert_eq!(header.hashed_len(), 0x200 + 2999 + 12);
        header.img_size = u32::MAX;
        header.hdr_size = u16::MAX;
        header.protect_tlv_size = u16::MAX;
        assert_eq!(header.hashed_len(), 2 * u64::from(u16::MAX) + u64::from(u32::MAX));
    }

    #[test]
    fn rejects_structural_errors() {
        assert!(matches!(ImageHeader::parse(&FIXTURE[..31]), Err(ImageError::HeaderTooShort { len: 31 })));
        let mut bad = FIXTURE;
        bad[0] = 0x3e;
        assert!(matches!(ImageHeader::parse(&bad), Err(ImageError::BadMagic { found: 0x96f3_b83e })));
        for hdr_size in [0u16, 31, MAX_HDR_SIZE + 1, u16::MAX] {
            let mut bad = FIXTURE;
            bad[8..10].copy_from_slice(&hdr_size.to_le_bytes());
            let err = ImageHeader::parse(&bad).unwrap_err();
            assert!(matches!(err, ImageError::HeaderSize { hdr_size: h, .. } if h == hdr_size), "{err}");
        }
        let mut bad = FIXTURE;
        bad[10..12].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(ImageHeader::parse(&bad), Err(ImageError::TlvAreaLength { len: 3, .. })));
    }

    #[test]
    fn accepts_boundary_header_sizes() {
        for hdr_size in [32u16, MAX_HDR_SIZE] {
            let mut ok = FIXTURE;
            ok[8..10].copy_from_slice(&hdr_size.to_le_bytes());
            assert_eq!(ImageHeader::parse(&ok).unwrap().hdr_size, hdr_size);
        }
    }

    #[test]
    fn bootability_names_the_flag() {
        let with = |flags| ImageHeader { flags, ..fixture_header() }.check_bootable();
        assert!(with(0).is_ok());
        assert!(with(flags::RAM_LOAD | flags::ROM_FIXED | flags::PIC).is_ok());
        assert!(matches!(with(flags::ENCRYPTED_AES128), Err(ImageError::Encrypted { .. })));
        assert!(matches!(with(flags::ENCRYPTED_AES256), Err(ImageError::Encrypted { .. })));
        assert!(matches!(with(flags::COMPRESSED_LZMA1), Err(ImageError::Compressed { .. })));
        assert!(matches!(with(flags::COMPRESSED_LZMA2), Err(ImageError::Compressed { .. })));
        assert!(matches!(with(flags::NON_BOOTABLE), Err(ImageError::NonBootable { flags: 0x10 })));
    }

    fn any_header() -> impl Strategy<Value = ImageHeader> {
        (
            any::<u32>(),
            32u16..=MAX_HDR_SIZE,
            prop_oneof![Just(0u16), 4u16..],
            any::<u32>(),
            any::<u32>(),
            any::<(u8, u8, u16, u32)>(),
        )
            .prop_map(
                |(
                    load_addr,
                    hdr_size,
                    protect_tlv_size,
                    img_size,
                    flags,
                    (major, minor, revision, build),
                )| ImageHeader {
                    load_addr,
                    hdr_size,
                    protect_tlv_size,
                    img_size,
                    flags,
                    version: ImageVersion { major, minor, revision, build },
                },
            )
    }

    proptest! {
        #[test]
        fn emit_parse_round_trip(header in any_header()) {
            let mut out = [0u8; 32];
            header.emit(&mut out);
            prop_assert_eq!(ImageHeader::parse(&out).unwrap(), header);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(header) = ImageHeader::parse(&bytes) {
                let mut out = [0u8; 32];
                header.emit(&mut out);
                // Everything but the ignored pad word survives a round trip.
                prop_assert_eq!(&out[..0x1c], &bytes[..0x1c]);
            }
        }
    }
}
