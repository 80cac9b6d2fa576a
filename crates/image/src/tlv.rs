//! MCUboot TLV areas: the info header, the type table, a checked view, and an encoder.
//!
//! Owns the TLV wire layout (`u16 magic, u16 total length` then `u16 type, u16 len, value`).
//! A [`TlvArea`] exists only once every entry is known to fit, so iterating it cannot fail.
//! It must never interpret what a TLV means (hashes, keys, signatures): that is `check`'s job.

use crate::ImageError;

/// Length of a TLV area's info header and of a TLV entry's header.
pub const INFO_LEN: usize = 4;
/// Magic of the unprotected TLV area (not hashed).
pub const INFO_MAGIC: u16 = 0x6907;
/// Magic of the protected TLV area (hashed with the image).
pub const PROT_INFO_MAGIC: u16 = 0x6908;

/// TLV type numbers (`IMAGE_TLV_*` in MCUboot).
pub mod kind {
    /// SHA-256 of the signer's public key (SubjectPublicKeyInfo DER).
    pub const KEYHASH: u16 = 0x01;
    /// The signer's full public key (SubjectPublicKeyInfo DER).
    pub const PUBKEY: u16 = 0x02;
    /// SHA-256 of the hashed region.
    pub const SHA256: u16 = 0x10;
    /// SHA-384 of the hashed region.
    pub const SHA384: u16 = 0x11;
    /// SHA-512 of the hashed region.
    pub const SHA512: u16 = 0x12;
    /// RSA-2048 PSS signature.
    pub const RSA2048: u16 = 0x20;
    /// ECDSA signature, ASN.1 DER.
    pub const ECDSA: u16 = 0x22;
    /// RSA-3072 PSS signature.
    pub const RSA3072: u16 = 0x23;
    /// Ed25519 signature.
    pub const ED25519: u16 = 0x24;
    /// Marks a "pure" signature over the whole image instead of its digest.
    pub const SIG_PURE: u16 = 0x25;
    /// Image key encrypted with RSA-OAEP.
    pub const ENC_RSA2048: u16 = 0x30;
    /// Image key wrapped with AES-KW.
    pub const ENC_KW: u16 = 0x31;
    /// Image key encrypted with ECIES-P256.
    pub const ENC_EC256: u16 = 0x32;
    /// Image key encrypted with ECIES-X25519.
    pub const ENC_X25519: u16 = 0x33;
    /// Image key encrypted with ECIES-X25519, HMAC-SHA512.
    pub const ENC_X25519_SHA512: u16 = 0x34;
    /// Dependency on another image's version.
    pub const DEPENDENCY: u16 = 0x40;
    /// Security counter (u32), protected.
    pub const SEC_CNT: u16 = 0x50;
    /// Measured boot record, protected.
    pub const BOOT_RECORD: u16 = 0x60;
}

/// The human name imgtool uses for a TLV type, for messages.
pub fn name(tlv_kind: u16) -> &'static str {
    match tlv_kind {
        kind::KEYHASH => "KEYHASH",
        kind::PUBKEY => "PUBKEY",
        kind::SHA256 => "SHA256",
        kind::SHA384 => "SHA384",
        kind::SHA512 => "SHA512",
        kind::RSA2048 => "RSA2048",
        kind::ECDSA => "ECDSASIG",
        kind::RSA3072 => "RSA3072",
        kind::ED25519 => "ED25519",
        kind::SIG_PURE => "SIG_PURE",
        kind::ENC_RSA2048 => "ENCRSA2048",
        kind::ENC_KW => "ENCKW",
        kind::ENC_EC256 => "ENCEC256",
        kind::ENC_X25519 => "ENCX25519",
        kind::ENC_X25519_SHA512 => "ENCX25519_SHA512",
        kind::DEPENDENCY => "DEPENDENCY",
        kind::SEC_CNT => "SEC_CNT",
        kind::BOOT_RECORD => "BOOT_RECORD",
        _ => "unknown",
    }
}

/// The 4-byte header in front of a TLV area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvInfo {
    /// [`INFO_MAGIC`] or [`PROT_INFO_MAGIC`].
    pub magic: u16,
    /// Length of the whole area including this header.
    pub total_len: u16,
}

impl TlvInfo {
    /// Reads an info header.
    pub fn parse(bytes: [u8; INFO_LEN]) -> Self {
        TlvInfo {
            magic: u16::from_le_bytes([bytes[0], bytes[1]]),
            total_len: u16::from_le_bytes([bytes[2], bytes[3]]),
        }
    }

    /// Checks the magic and that the area can hold its own header; `offset` is for messages.
    pub fn check(&self, expected_magic: u16, offset: u64) -> Result<(), ImageError> {
        if self.magic != expected_magic {
            return Err(ImageError::TlvAreaMagic { offset, expected: expected_magic, found: self.magic });
        }
        if usize::from(self.total_len) < INFO_LEN {
            return Err(ImageError::TlvAreaLength { offset, len: self.total_len });
        }
        Ok(())
    }
}

/// One TLV entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Type number, see [`kind`].
    pub kind: u16,
    /// Value bytes.
    pub value: &'a [u8],
}

/// A TLV area whose entries are known to fit inside it.
#[derive(Debug, Clone, Copy)]
pub struct TlvArea<'a> {
    /// The whole area, info header included.
    bytes: &'a [u8],
}

impl<'a> TlvArea<'a> {
    /// Checks the area starting at `bytes[0]` (trailing bytes ignored); `offset` is for messages.
    pub fn parse(bytes: &'a [u8], expected_magic: u16, offset: u64) -> Result<Self, ImageError> {
        let Some(&[a, b, c, d]) = bytes.get(..INFO_LEN) else {
            return Err(truncated(bytes.len(), INFO_LEN));
        };
        let info = TlvInfo::parse([a, b, c, d]);
        info.check(expected_magic, offset)?;
        let Some(bytes) = bytes.get(..usize::from(info.total_len)) else {
            return Err(truncated(bytes.len(), usize::from(info.total_len)));
        };
        let mut at = INFO_LEN;
        while at < bytes.len() {
            let entry_offset = offset + at as u64;
            let Some(&[_, _, lo, hi]) = bytes.get(at..at + INFO_LEN) else {
                return Err(ImageError::TlvOverrun { offset: entry_offset });
            };
            let end = at + INFO_LEN + usize::from(u16::from_le_bytes([lo, hi]));
            if end > bytes.len() {
                return Err(ImageError::TlvOverrun { offset: entry_offset });
            }
            at = end;
        }
        Ok(TlvArea { bytes })
    }

    /// Length of the area including its info header.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the area holds no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == INFO_LEN
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = Tlv<'a>> + use<'a> {
        let bytes = self.bytes;
        let mut at = INFO_LEN;
        std::iter::from_fn(move || {
            // `parse` proved every entry header and value lies inside `bytes`.
            let header = bytes.get(at..at + INFO_LEN)?;
            let kind = u16::from_le_bytes([header[0], header[1]]);
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            let value = bytes.get(at + INFO_LEN..at + INFO_LEN + len)?;
            at += INFO_LEN + len;
            Some(Tlv { kind, value })
        })
    }
}

/// Appends a TLV area with these entries to `out`.
pub(crate) fn encode_area(out: &mut Vec<u8>, magic: u16, entries: &[Tlv<'_>]) -> Result<(), ImageError> {
    let body: usize = entries.iter().map(|tlv| INFO_LEN + tlv.value.len()).sum();
    let too_large = || ImageError::TlvTooLarge { len: (INFO_LEN + body) as u64, max: u64::from(u16::MAX) };
    let total = u16::try_from(INFO_LEN + body).map_err(|_| too_large())?;
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    for tlv in entries {
        // Each value is shorter than the total, which fits a u16.
        let len = u16::try_from(tlv.value.len()).map_err(|_| too_large())?;
        out.extend_from_slice(&tlv.kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(tlv.value);
    }
    Ok(())
}

fn truncated(have: usize, need: usize) -> ImageError {
    ImageError::Truncated { seen: have as u64, expected: format!("a TLV area needs {need}") }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn walks_the_fixture_area() {
        let image = crate::fixtures::SIGNED_ED25519;
        let at = 0x200 + 2999;
        let area = TlvArea::parse(&image[at..], INFO_MAGIC, at as u64).unwrap();
        assert_eq!(area.len(), 144);
        let kinds: Vec<(u16, usize)> = area.iter().map(|t| (t.kind, t.value.len())).collect();
        assert_eq!(kinds, [(kind::SHA256, 32), (kind::KEYHASH, 32), (kind::ED25519, 64)]);
    }

    #[test]
    fn rejects_bad_areas() {
        assert!(matches!(
            TlvArea::parse(&[0x08, 0x69, 4, 0], INFO_MAGIC, 7),
            Err(ImageError::TlvAreaMagic { offset: 7, expected: INFO_MAGIC, found: PROT_INFO_MAGIC })
        ));
        assert!(matches!(
            TlvArea::parse(&[0x07, 0x69, 3, 0], INFO_MAGIC, 0),
            Err(ImageError::TlvAreaLength { len: 3, .. })
        ));
        assert!(matches!(TlvArea::parse(&[0x07, 0x69], INFO_MAGIC, 0), Err(ImageError::Truncated { .. })));
        assert!(matches!(
            TlvArea::parse(&[0x07, 0x69, 9, 0, 1, 0], INFO_MAGIC, 0),
            Err(ImageError::Truncated { .. })
        ));
        // An entry header cut short by the area's end.
        assert!(matches!(
            TlvArea::parse(&[0x07, 0x69, 6, 0, 0x10, 0], INFO_MAGIC, 100),
            Err(ImageError::TlvOverrun { offset: 104 })
        ));
        // An entry value running past the area's end.
        assert!(matches!(
            TlvArea::parse(&[0x07, 0x69, 9, 0, 0x10, 0, 2, 0, 0xaa, 0xbb], INFO_MAGIC, 0),
            Err(ImageError::TlvOverrun { offset: 4 })
        ));
    }

    #[test]
    fn empty_area_is_valid() {
        let area = TlvArea::parse(&[0x07, 0x69, 4, 0, 0xff], INFO_MAGIC, 0).unwrap();
        assert!(area.is_empty());
        assert_eq!(area.iter().count(), 0);
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(entries in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80)), 0..8)) {
            let tlvs: Vec<Tlv<'_>> = entries.iter().map(|(kind, value)| Tlv { kind: *kind, value }).collect();
            let mut out = Vec::new();
            encode_area(&mut out, PROT_INFO_MAGIC, &tlvs).unwrap();
            let area = TlvArea::parse(&out, PROT_INFO_MAGIC, 0).unwrap();
            prop_assert_eq!(area.len(), out.len());
            prop_assert_eq!(area.iter().collect::<Vec<_>>(), tlvs);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut framed = vec![0x07, 0x69];
            framed.extend_from_slice(&bytes);
            for input in [&bytes[..], &framed[..]] {
                if let Ok(area) = TlvArea::parse(input, INFO_MAGIC, 0) {
                    let walked: usize = area.iter().map(|t| INFO_LEN + t.value.len()).sum();
                    prop_assert_eq!(walked + INFO_LEN, area.len());
                }
            }
        }
    }
}
