//! The modem delta package: the signed container that carries a modem firmware delta.
//!
//! Owns the package layout ([`DeltaHeader`], field offsets in one private `mod field`), the
//! firmware UUID rule ([`modem_uuid`]), streaming verification ([`DeltaVerifier`]: the same
//! walk, hash and signature rules and trusted keys as application images) and signing
//! ([`sign_delta`]). The patch is opaque here: this module must never interpret it (that is
//! the delta applier's job) nor buffer it.
//!
//! Detected like a Nordic modem delta (u32 `0x7544656d` at offset 4). All integers are
//! little-endian:
//!
//! | Offset  | Size | Field                                                                  |
//! |---------|------|------------------------------------------------------------------------|
//! | `0x000` | 2    | format version, `1`                                                    |
//! | `0x002` | 2    | header length = offset of the patch, `0x140` (the only one for version 1) |
//! | `0x004` | 4    | magic `0x7544656d`                                                     |
//! | `0x008` | 4    | flags, `0` (reserved: a package with any flag set is refused)          |
//! | `0x00c` | 4    | patch length in bytes                                                  |
//! | `0x010` | 4    | source firmware size                                                   |
//! | `0x014` | 4    | target firmware size                                                   |
//! | `0x018` | 32   | source firmware SHA-256                                                |
//! | `0x038` | 32   | target firmware SHA-256                                                |
//! | `0x058` | 36   | source firmware UUID: ASCII, lowercase 8-4-4-4-12, see [`modem_uuid`]  |
//! | `0x07c` | 36   | target firmware UUID                                                   |
//! | `0x0a0` | 64   | source version string: 1 to 63 printable ASCII characters, NUL-padded  |
//! | `0x0e0` | 64   | target version string (same rules)                                     |
//! | `0x120` | 32   | reserved, zero                                                         |
//! | `0x140` | n    | patch: a detools sequential patch (opaque to this crate)               |
//! | `0x140 + n` |  | unprotected TLV area (magic `0x6907`, as MCUboot's): the hash of bytes `[0, 0x140 + n)` (SHA256 `0x10`; SHA384 `0x11` for ECDSA P-384 keys), KEYHASH `0x01` or PUBKEY `0x02`, and a signature TLV of any type application images accept except pure Ed25519 |
//!
//! A package whose UUID fields disagree with its SHA-256 fields is refused, and so is one with a
//! protected TLV area (there is no header field for one) or a SIG_PURE TLV.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::detect::MODEM_DELTA_MAGIC;
use crate::digest::ImageDigest;
use crate::sign::{KeyFormat, append_signature};
use crate::stream::{Finished, Head, Sink, Walker};
use crate::{ImageError, SigningKey, TrustedKey};

/// The package format version this crate reads and writes.
pub const DELTA_FORMAT_VERSION: u16 = 0x0001;

/// Byte ranges of the header fields.
mod field {
    use std::ops::Range;

    pub const FORMAT_VERSION: Range<usize> = 0x000..0x002;
    pub const HEADER_LEN: Range<usize> = 0x002..0x004;
    pub const MAGIC: Range<usize> = 0x004..0x008;
    pub const FLAGS: Range<usize> = 0x008..0x00c;
    pub const PATCH_LEN: Range<usize> = 0x00c..0x010;
    pub const SOURCE_SIZE: Range<usize> = 0x010..0x014;
    pub const TARGET_SIZE: Range<usize> = 0x014..0x018;
    pub const SOURCE_SHA256: Range<usize> = 0x018..0x038;
    pub const TARGET_SHA256: Range<usize> = 0x038..0x058;
    pub const SOURCE_UUID: Range<usize> = 0x058..0x07c;
    pub const TARGET_UUID: Range<usize> = 0x07c..0x0a0;
    pub const SOURCE_VERSION: Range<usize> = 0x0a0..0x0e0;
    pub const TARGET_VERSION: Range<usize> = 0x0e0..0x120;
    pub const RESERVED: Range<usize> = 0x120..0x140;
}

/// The UUID by which a modem firmware is known: derived from its SHA-256.
///
/// The first 16 bytes of the digest, with the RFC 9562 version nibble set to 8 (custom) and
/// the variant bits to `10`, formatted as 36 lowercase characters (8-4-4-4-12).
pub fn modem_uuid(sha256: &[u8; 32]) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&sha256[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = |range: Range<usize>| hex::encode(&bytes[range]);
    format!("{}-{}-{}-{}-{}", hex(0..4), hex(4..6), hex(6..8), hex(8..10), hex(10..16))
}

/// A modem firmware version string (e.g. `mfw_nrf9160_1.3.5`): 1 to 63 printable ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModemVersion(String);

impl ModemVersion {
    /// Longest version string: the field is 64 bytes and always ends in a NUL.
    pub const MAX_LEN: usize = 63;

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse_field(field: &[u8], which: &'static str) -> Result<Self, ImageError> {
        let invalid = || ImageError::ModemVersion { which };
        let len = field.iter().position(|&b| b == 0).ok_or_else(invalid)?;
        let (text, padding) = field.split_at(len);
        if padding.iter().any(|&b| b != 0) {
            return Err(invalid());
        }
        let text = std::str::from_utf8(text).map_err(|_| invalid())?;
        Self::checked(text, which)
    }

    fn checked(text: &str, which: &'static str) -> Result<Self, ImageError> {
        let printable = text.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if text.is_empty() || text.len() > Self::MAX_LEN || !printable {
            return Err(ImageError::ModemVersion { which });
        }
        Ok(ModemVersion(text.to_owned()))
    }
}

impl FromStr for ModemVersion {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::checked(s, "given")
    }
}

impl fmt::Display for ModemVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One modem firmware image as a package names it: the one the patch applies to, or the one
/// it produces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModemFirmware {
    /// Size in bytes.
    pub size: u32,
    /// SHA-256 of the whole firmware image.
    pub sha256: [u8; 32],
    /// Its version string.
    pub version: ModemVersion,
}

impl ModemFirmware {
    /// Describes a firmware image from its bytes.
    pub fn of(image: &[u8], version: ModemVersion) -> Result<Self, ImageError> {
        let size =
            u32::try_from(image.len()).map_err(|_| ImageError::PayloadTooLarge { len: image.len() })?;
        Ok(ModemFirmware { size, sha256: Sha256::digest(image).into(), version })
    }

    /// Its UUID, [`modem_uuid`] of its SHA-256.
    pub fn uuid(&self) -> String {
        modem_uuid(&self.sha256)
    }
}

/// The fixed 0x140-byte header of a delta package (constant fields implied).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaHeader {
    /// The firmware the patch applies to.
    pub source: ModemFirmware,
    /// The firmware the patch produces.
    pub target: ModemFirmware,
    /// Length of the patch that follows the header.
    pub patch_len: u32,
}

impl DeltaHeader {
    /// Length of the header: the patch starts here.
    pub const LEN: usize = 0x140;

    /// Parses the first [`DeltaHeader::LEN`] bytes of a package; more may be given.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImageError> {
        let Some(bytes) = bytes.get(..Self::LEN) else {
            return Err(ImageError::Truncated {
                seen: bytes.len() as u64,
                expected: format!("a delta package header is {:#x}", Self::LEN),
            });
        };
        let magic = le_u32(bytes, field::MAGIC);
        if magic != MODEM_DELTA_MAGIC {
            return Err(ImageError::DeltaMagic { found: magic });
        }
        let version = le_u16(bytes, field::FORMAT_VERSION);
        let header_len = le_u16(bytes, field::HEADER_LEN);
        if version != DELTA_FORMAT_VERSION || usize::from(header_len) != Self::LEN {
            return Err(ImageError::DeltaFormat { version, header_len });
        }
        let flags = le_u32(bytes, field::FLAGS);
        if flags != 0 {
            return Err(ImageError::DeltaFlags { flags });
        }
        if bytes[field::RESERVED].iter().any(|&b| b != 0) {
            return Err(ImageError::DeltaReserved);
        }
        let source = firmware(
            bytes,
            "source",
            field::SOURCE_SIZE,
            field::SOURCE_SHA256,
            field::SOURCE_UUID,
            field::SOURCE_VERSION,
        )?;
        let target = firmware(
            bytes,
            "target",
            field::TARGET_SIZE,
            field::TARGET_SHA256,
            field::TARGET_UUID,
            field::TARGET_VERSION,
        )?;
        Ok(DeltaHeader { source, target, patch_len: le_u32(bytes, field::PATCH_LEN) })
    }

    /// Appends the [`DeltaHeader::LEN`]-byte header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut bytes = [0u8; Self::LEN];
        bytes[field::FORMAT_VERSION].copy_from_slice(&DELTA_FORMAT_VERSION.to_le_bytes());
        bytes[field::HEADER_LEN].copy_from_slice(&(Self::LEN as u16).to_le_bytes());
        bytes[field::MAGIC].copy_from_slice(&MODEM_DELTA_MAGIC.to_le_bytes());
        bytes[field::PATCH_LEN].copy_from_slice(&self.patch_len.to_le_bytes());
        bytes[field::SOURCE_SIZE].copy_from_slice(&self.source.size.to_le_bytes());
        bytes[field::TARGET_SIZE].copy_from_slice(&self.target.size.to_le_bytes());
        bytes[field::SOURCE_SHA256].copy_from_slice(&self.source.sha256);
        bytes[field::TARGET_SHA256].copy_from_slice(&self.target.sha256);
        bytes[field::SOURCE_UUID].copy_from_slice(self.source.uuid().as_bytes());
        bytes[field::TARGET_UUID].copy_from_slice(self.target.uuid().as_bytes());
        // Versions are at most 63 bytes, so each keeps at least one NUL of its 64.
        put_text(&mut bytes[field::SOURCE_VERSION], self.source.version.as_str());
        put_text(&mut bytes[field::TARGET_VERSION], self.target.version.as_str());
        out.extend_from_slice(&bytes);
    }

    /// Offset of the patch in the package.
    pub fn patch_offset(&self) -> u64 {
        Self::LEN as u64
    }

    /// Length of the signed region: header and patch.
    pub fn signed_len(&self) -> u64 {
        Self::LEN as u64 + u64::from(self.patch_len)
    }
}

impl Head for DeltaHeader {
    const LEN: usize = DeltaHeader::LEN;
    const NOUN: &'static str = "delta package";

    fn parse_head(bytes: &[u8]) -> Result<Self, ImageError> {
        DeltaHeader::parse(bytes)
    }

    fn hashed_len(&self) -> u64 {
        self.signed_len()
    }

    fn protect_tlv_size(&self) -> u16 {
        0
    }
}

/// Incremental, sans-IO verifier of one delta package being received.
///
/// Like [`crate::StreamVerifier`]: bytes in any chunking, bounded memory (the header, the TLV
/// area, the hash states), failure at the first byte that proves the package bad. The header
/// is available as soon as its 0x140 bytes arrived, so that the caller can check the source
/// firmware before storing the patch.
#[derive(Debug, Clone)]
pub struct DeltaVerifier(Walker<DeltaHeader>);

/// A delta package whose hash and signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelta {
    /// Its header.
    pub header: DeltaHeader,
    /// Its hash TLV (SHA-256; SHA-384 when signed with a P-384 key) over header and patch.
    pub digest: ImageDigest,
    /// Offset of the patch in the package.
    pub patch_offset: u64,
    /// Length of the patch.
    pub patch_len: u64,
    /// Bytes from the header to the end of the TLV area.
    pub total_len: u64,
    /// Index, in the key list given, of the key that signed it.
    pub key_index: usize,
}

impl DeltaVerifier {
    /// A verifier for a package that must fit in `limit` bytes (the scratch area), computing
    /// the hashes that `keys` can need.
    pub fn new(limit: u64, keys: &[TrustedKey]) -> Self {
        DeltaVerifier(Walker::new(limit, keys, false))
    }

    /// Feeds the next bytes; fails as soon as they prove the package bad (then for good).
    pub fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.0.update(data)
    }

    /// The parsed header, once [`DeltaHeader::LEN`] bytes have arrived.
    pub fn header(&self) -> Option<&DeltaHeader> {
        self.0.head()
    }

    /// Header + patch + TLV length, once the TLV info has arrived.
    pub fn total_len(&self) -> Option<u64> {
        self.0.total_len()
    }

    /// Bytes fed so far, including any ignored after the package.
    pub fn bytes_seen(&self) -> u64 {
        self.0.bytes_seen()
    }

    /// How many more bytes the verifier can use before it learns more; 0 once complete.
    pub fn needed(&self) -> u64 {
        self.0.needed()
    }

    /// Checks the signature with `keys` once the whole package has been fed.
    pub fn finish(self, keys: &[TrustedKey]) -> Result<VerifiedDelta, ImageError> {
        match self.0.finish(keys)? {
            Finished::Signed(signed) => Ok(VerifiedDelta {
                patch_offset: signed.head.patch_offset(),
                patch_len: u64::from(signed.head.patch_len),
                header: signed.head,
                digest: signed.digest,
                total_len: signed.total_len,
                key_index: signed.key_index,
            }),
            // The walker was built refusing SIG_PURE, so it never asks for a second pass.
            Finished::Pure(_) => Err(ImageError::PureNotAllowed),
        }
    }
}

impl Sink for DeltaVerifier {
    fn wanted(&self) -> u64 {
        self.needed()
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.update(data)
    }
}

/// Builds a complete signed delta package: header, `patch`, and the TLVs SHA256 (SHA384 for a
/// P-384 key), KEYHASH and signature, in the order `sign` writes them for images.
pub fn sign_delta(
    source: &ModemFirmware,
    target: &ModemFirmware,
    patch: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, ImageError> {
    let patch_len =
        u32::try_from(patch.len()).map_err(|_| ImageError::PayloadTooLarge { len: patch.len() })?;
    let header = DeltaHeader { source: source.clone(), target: target.clone(), patch_len };
    let mut package = Vec::with_capacity(DeltaHeader::LEN + patch.len() + 0x300);
    header.emit(&mut package);
    package.extend_from_slice(patch);
    append_signature(&mut package, key, false, KeyFormat::Hash)?;
    Ok(package)
}

fn firmware(
    bytes: &[u8],
    which: &'static str,
    size: Range<usize>,
    sha256: Range<usize>,
    uuid: Range<usize>,
    version: Range<usize>,
) -> Result<ModemFirmware, ImageError> {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&bytes[sha256]);
    let expected = modem_uuid(&digest);
    if bytes[uuid.clone()] != *expected.as_bytes() {
        let found = String::from_utf8_lossy(&bytes[uuid]).into_owned();
        return Err(ImageError::DeltaUuid { which, found, expected });
    }
    let version = ModemVersion::parse_field(&bytes[version], which)?;
    Ok(ModemFirmware { size: le_u32(bytes, size), sha256: digest, version })
}

fn put_text(field: &mut [u8], text: &str) {
    field[..text.len()].copy_from_slice(text.as_bytes());
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
mod tests;
