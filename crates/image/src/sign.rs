//! Signing a payload into an MCUboot image, byte for byte as imgtool 2.5.0 does it.
//!
//! Owns the image layout imgtool produces with `--pad-header --align 4` (header padding of
//! erased 0xff, no protected TLVs, unprotected TLVs in the order SHA256, KEYHASH, signature).
//! It must never pad the image to a slot or write a trailer: slots are the storage layer's.

use sha2::{Digest, Sha256};

use crate::header::flags;
use crate::tlv::{self, Tlv, kind};
use crate::{ImageError, ImageHeader, ImageVersion, SigningKey};

/// Options of `imgtool sign` that `sign` reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// `--version`.
    pub version: ImageVersion,
    /// `--header-size` (with `--pad-header`), usually 0x200.
    pub header_size: u16,
    /// `--load-addr`; non-zero also sets the RAM_LOAD flag, as imgtool does.
    pub load_addr: u32,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions { version: ImageVersion::default(), header_size: 0x200, load_addr: 0 }
    }
}

/// Value of erased flash, which imgtool fills the header padding with.
const ERASED: u8 = 0xff;

/// Wraps `payload` into a signed MCUboot image.
pub fn sign(payload: &[u8], opts: &SignOptions, key: &SigningKey) -> Result<Vec<u8>, ImageError> {
    if usize::from(opts.header_size) < ImageHeader::LEN {
        return Err(ImageError::SignHeaderSize { header_size: opts.header_size });
    }
    let img_size =
        u32::try_from(payload.len()).map_err(|_| ImageError::PayloadTooLarge { len: payload.len() })?;
    let header = ImageHeader {
        load_addr: opts.load_addr,
        hdr_size: opts.header_size,
        protect_tlv_size: 0,
        img_size,
        flags: if opts.load_addr != 0 { flags::RAM_LOAD } else { 0 },
        version: opts.version,
    };
    let mut image = Vec::with_capacity(usize::from(opts.header_size) + payload.len() + 0x100);
    image.resize(usize::from(opts.header_size), ERASED);
    header.emit(&mut image);
    image.extend_from_slice(payload);

    let digest: [u8; 32] = Sha256::digest(&image).into();
    let key_hash = key.public().key_hash();
    let (signature_kind, signature) = key.sign_digest(&digest)?;
    let entries = [
        Tlv { kind: kind::SHA256, value: &digest },
        Tlv { kind: kind::KEYHASH, value: &key_hash },
        Tlv { kind: signature_kind, value: &signature },
    ];
    tlv::encode_area(&mut image, tlv::INFO_MAGIC, &entries)?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlv::TlvArea;
    use crate::{TrustedKey, fixtures, verify_reader};

    fn imgtool_options() -> SignOptions {
        SignOptions { version: "1.2.3+4".parse().unwrap(), ..SignOptions::default() }
    }

    #[test]
    fn ed25519_matches_imgtool_byte_for_byte() {
        let cases = [
            (fixtures::TRUSTED_PRIV, fixtures::SIGNED_ED25519),
            (fixtures::UNTRUSTED_PRIV, fixtures::SIGNED_UNTRUSTED),
        ];
        for (pem, expected) in cases {
            let key = SigningKey::from_pem(pem).unwrap();
            let image = sign(fixtures::PAYLOAD, &imgtool_options(), &key).unwrap();
            assert!(
                image == expected,
                "differs from imgtool: {} vs {}",
                hex::encode(&image),
                hex::encode(expected)
            );
        }
        let dev = sign(fixtures::PAYLOAD, &imgtool_options(), &SigningKey::development()).unwrap();
        assert!(dev == fixtures::SIGNED_DEV, "differs from imgtool's signed-dev.bin");
    }

    #[test]
    fn ecdsa_matches_imgtool_except_the_signature() {
        let key = SigningKey::from_pem(fixtures::ECDSA_PRIV).unwrap();
        let image = sign(fixtures::PAYLOAD, &imgtool_options(), &key).unwrap();
        // Header and body are identical; the TLV area differs only in the signature (whose
        // DER length, 70 to 72 bytes, also shows in the area's total length).
        let body_end = 0x200 + fixtures::PAYLOAD.len();
        assert!(image[..body_end] == fixtures::SIGNED_ECDSA[..body_end], "header or body differ");
        let ours = TlvArea::parse(&image[body_end..], tlv::INFO_MAGIC, 0).unwrap();
        let theirs = TlvArea::parse(&fixtures::SIGNED_ECDSA[body_end..], tlv::INFO_MAGIC, 0).unwrap();
        let kinds = |area: &TlvArea<'_>| area.iter().map(|t| t.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&ours), [kind::SHA256, kind::KEYHASH, kind::ECDSA]);
        assert_eq!(kinds(&ours), kinds(&theirs));
        for (a, b) in ours.iter().zip(theirs.iter()).take(2) {
            assert_eq!(hex::encode(a.value), hex::encode(b.value));
        }
        assert_eq!(image.len(), body_end + ours.len());
        let verified = verify_reader(&image[..], 0x10000, &[key.public()]).unwrap();
        assert_eq!(verified.total_len, image.len() as u64);
    }

    #[test]
    fn load_address_sets_ram_load_like_imgtool() {
        let opts = SignOptions { load_addr: 0x2000_0000, header_size: 0x20, ..SignOptions::default() };
        let image = sign(b"abc", &opts, &SigningKey::development()).unwrap();
        let header = ImageHeader::parse(&image).unwrap();
        assert_eq!(header.flags, flags::RAM_LOAD);
        assert_eq!(header.load_addr, 0x2000_0000);
        assert!(header.check_bootable().is_ok());
        let verified = verify_reader(&image[..], 1 << 20, &[TrustedKey::development()]).unwrap();
        assert_eq!(verified.header, header);
    }

    #[test]
    fn empty_payload_and_minimal_header_verify() {
        let opts = SignOptions { header_size: 0x20, ..SignOptions::default() };
        let image = sign(&[], &opts, &SigningKey::development()).unwrap();
        assert!(verify_reader(&image[..], 1 << 20, &[TrustedKey::development()]).is_ok());
    }

    #[test]
    fn refuses_a_header_smaller_than_the_fixed_part() {
        let opts = SignOptions { header_size: 0x1f, ..SignOptions::default() };
        let err = sign(b"x", &opts, &SigningKey::development()).unwrap_err();
        assert!(matches!(err, ImageError::SignHeaderSize { header_size: 0x1f }));
    }
}
