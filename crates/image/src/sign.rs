//! Signing a payload into an MCUboot image, byte for byte as imgtool 2.5.0 does it.
//!
//! Owns the image layout imgtool produces with `--pad-header --align 4`: header padding of
//! erased 0xff, a protected TLV area only for `--security-counter` (SEC_CNT), and unprotected
//! TLVs in the order hash (SHA256, SHA384 for P-384 keys, SHA512 with SIG_PURE for `--pure`),
//! KEYHASH or PUBKEY, signature. The signed TLV area is shared with delta packages. It must
//! never pad the image to a slot or write a trailer: slots are the storage layer's.

use crate::digest::HashKind;
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
    /// `--pure`: Ed25519 over the whole hashed region instead of its digest (SIG_PURE, SHA512).
    pub pure: bool,
    /// `--security-counter`: a SEC_CNT TLV in the protected (hashed) area, for anti-rollback.
    pub security_counter: Option<u32>,
    /// `--public-key-format`: how the image names its signer.
    pub key_format: KeyFormat,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            version: ImageVersion::default(),
            header_size: 0x200,
            load_addr: 0,
            pure: false,
            security_counter: None,
            key_format: KeyFormat::Hash,
        }
    }
}

/// How a signed image names the key that signed it (`imgtool sign --public-key-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// A KEYHASH TLV: the hash of the public key (`hash`, imgtool's default).
    #[default]
    Hash,
    /// A PUBKEY TLV: the whole public key (`full`).
    Full,
}

/// Value of erased flash, which imgtool fills the header padding with.
const ERASED: u8 = 0xff;

/// Wraps `payload` into a signed MCUboot image.
pub fn sign(payload: &[u8], opts: &SignOptions, key: &SigningKey) -> Result<Vec<u8>, ImageError> {
    if usize::from(opts.header_size) < ImageHeader::LEN {
        return Err(ImageError::SignHeaderSize { header_size: opts.header_size });
    }
    if opts.pure {
        // Fail before hashing anything; `sign_pure` would refuse too.
        key.sign_pure(&[])?;
    }
    let img_size =
        u32::try_from(payload.len()).map_err(|_| ImageError::PayloadTooLarge { len: payload.len() })?;
    let mut protected = Vec::new();
    if let Some(counter) = opts.security_counter {
        let entries = [Tlv { kind: kind::SEC_CNT, value: &counter.to_le_bytes() }];
        tlv::encode_area(&mut protected, tlv::PROT_INFO_MAGIC, &entries)?;
    }
    let header = ImageHeader {
        load_addr: opts.load_addr,
        hdr_size: opts.header_size,
        // Twelve bytes: a 4-byte info header and one 8-byte SEC_CNT entry.
        protect_tlv_size: protected.len() as u16,
        img_size,
        flags: if opts.load_addr != 0 { flags::RAM_LOAD } else { 0 },
        version: opts.version,
    };
    let mut image = Vec::with_capacity(usize::from(opts.header_size) + payload.len() + 0x300);
    image.resize(usize::from(opts.header_size), ERASED);
    header.emit(&mut image);
    image.extend_from_slice(payload);
    image.extend_from_slice(&protected);
    append_signature(&mut image, key, opts.pure, opts.key_format)?;
    Ok(image)
}

/// Appends the unprotected TLV area that signs all of `signed` (the hashed region): the hash
/// TLV, SIG_PURE if `pure`, the key TLV and the signature, in imgtool's order.
pub(crate) fn append_signature(
    signed: &mut Vec<u8>,
    key: &SigningKey,
    pure: bool,
    key_format: KeyFormat,
) -> Result<(), ImageError> {
    let hash = if pure { HashKind::Sha512 } else { key.hash_kind() };
    let digest = hash.digest(signed);
    let public = key.public().embedded();
    let (key_kind, key_value) = match key_format {
        // imgtool hashes the key with the image's hash (SHA-384 for P-384, SHA-512 when pure).
        KeyFormat::Hash => (kind::KEYHASH, hash.digest(&public).as_bytes().to_vec()),
        KeyFormat::Full => (kind::PUBKEY, public),
    };
    let (signature_kind, signature) =
        if pure { key.sign_pure(signed)? } else { key.sign_digest(digest.as_bytes())? };
    let mut entries = vec![Tlv { kind: digest.tlv_kind(), value: digest.as_bytes() }];
    if pure {
        entries.push(Tlv { kind: kind::SIG_PURE, value: &[1] });
    }
    entries.push(Tlv { kind: key_kind, value: &key_value });
    entries.push(Tlv { kind: signature_kind, value: &signature });
    tlv::encode_area(signed, tlv::INFO_MAGIC, &entries)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::tlv::TlvArea;
    use crate::{TrustedKey, fixtures, verify_reader};

    fn imgtool_options() -> SignOptions {
        SignOptions { version: "1.2.3+4".parse().unwrap(), ..SignOptions::default() }
    }

    #[test]
    fn ed25519_matches_imgtool_byte_for_byte() {
        let full = KeyFormat::Full;
        let cases = [
            (fixtures::TRUSTED_PRIV, SignOptions::default(), fixtures::SIGNED_ED25519),
            (fixtures::UNTRUSTED_PRIV, SignOptions::default(), fixtures::SIGNED_UNTRUSTED),
            (
                fixtures::TRUSTED_PRIV,
                SignOptions { security_counter: Some(7), ..Default::default() },
                fixtures::SIGNED_SEC_CNT,
            ),
            (
                fixtures::TRUSTED_PRIV,
                SignOptions { key_format: full, ..Default::default() },
                fixtures::SIGNED_PUBKEY,
            ),
            (fixtures::TRUSTED_PRIV, SignOptions { pure: true, ..Default::default() }, fixtures::SIGNED_PURE),
            (
                fixtures::TRUSTED_PRIV,
                SignOptions { pure: true, key_format: full, ..Default::default() },
                fixtures::SIGNED_PUBKEY_PURE,
            ),
        ];
        for (pem, opts, expected) in cases {
            let key = SigningKey::from_pem(pem).unwrap();
            let opts = SignOptions { version: imgtool_options().version, ..opts };
            let image = sign(fixtures::PAYLOAD, &opts, &key).unwrap();
            assert!(
                image == expected,
                "{opts:?} differs from imgtool: {} vs {}",
                hex::encode(&image),
                hex::encode(expected)
            );
        }
        let dev = sign(fixtures::PAYLOAD, &imgtool_options(), &SigningKey::development()).unwrap();
        assert!(dev == fixtures::SIGNED_DEV, "differs from imgtool's signed-dev.bin");
    }

    /// Randomized signatures (ECDSA, RSA-PSS): all but the signature equals imgtool's image.
    #[test]
    fn other_key_types_match_imgtool_except_the_signature() {
        let full = SignOptions { key_format: KeyFormat::Full, ..imgtool_options() };
        let counter = SignOptions { security_counter: Some(0x10203), ..imgtool_options() };
        let cases = [
            (fixtures::ECDSA_PRIV, imgtool_options(), fixtures::SIGNED_ECDSA),
            (fixtures::P384_PRIV, imgtool_options(), fixtures::SIGNED_P384),
            (fixtures::RSA2048_PRIV, imgtool_options(), fixtures::SIGNED_RSA2048),
            (fixtures::RSA3072_PRIV, imgtool_options(), fixtures::SIGNED_RSA3072),
            (fixtures::ECDSA_PRIV, full, fixtures::SIGNED_PUBKEY_P256),
            (fixtures::P384_PRIV, full, fixtures::SIGNED_PUBKEY_P384),
            (fixtures::RSA2048_PRIV, full, fixtures::SIGNED_PUBKEY_RSA2048),
            (fixtures::RSA3072_PRIV, full, fixtures::SIGNED_PUBKEY_RSA3072),
            (fixtures::P384_PRIV, counter, fixtures::SIGNED_P384_SEC_CNT),
        ];
        for (pem, opts, theirs) in cases {
            let key = SigningKey::from_pem(pem).unwrap();
            let image = sign(fixtures::PAYLOAD, &opts, &key).unwrap();
            let hashed = fixtures::hashed_region(theirs).len();
            assert!(image[..hashed] == theirs[..hashed], "header, body or protected TLVs differ");
            let ours = TlvArea::parse(&image[hashed..], tlv::INFO_MAGIC, 0).unwrap();
            let theirs_area = TlvArea::parse(&theirs[hashed..], tlv::INFO_MAGIC, 0).unwrap();
            let kinds = |area: &TlvArea<'_>| area.iter().map(|t| t.kind).collect::<Vec<_>>();
            assert_eq!(kinds(&ours), kinds(&theirs_area));
            // Hash and key TLVs are equal; only the last (the signature) differs.
            for (a, b) in ours.iter().zip(theirs_area.iter()).take(2) {
                assert_eq!(hex::encode(a.value), hex::encode(b.value));
            }
            assert_eq!(image.len(), hashed + ours.len());
            let verified = verify_reader(Cursor::new(&image), 0x10000, &[key.public()]).unwrap();
            assert_eq!(verified.total_len, image.len() as u64);
        }
    }

    #[test]
    fn pure_needs_an_ed25519_key() {
        let key = SigningKey::from_pem(fixtures::ECDSA_PRIV).unwrap();
        let opts = SignOptions { pure: true, ..SignOptions::default() };
        let err = sign(b"x", &opts, &key).unwrap_err();
        assert!(matches!(err, ImageError::PureNeedsEd25519 { found: "ECDSA P-256" }), "{err}");
    }

    #[test]
    fn load_address_sets_ram_load_like_imgtool() {
        let opts = SignOptions { load_addr: 0x2000_0000, header_size: 0x20, ..SignOptions::default() };
        let image = sign(b"abc", &opts, &SigningKey::development()).unwrap();
        let header = ImageHeader::parse(&image).unwrap();
        assert_eq!(header.flags, flags::RAM_LOAD);
        assert_eq!(header.load_addr, 0x2000_0000);
        assert!(header.check_bootable().is_ok());
        let verified = verify_reader(Cursor::new(&image), 1 << 20, &[TrustedKey::development()]).unwrap();
        assert_eq!(verified.header, header);
    }

    #[test]
    fn empty_payload_and_minimal_header_verify() {
        let opts = SignOptions { header_size: 0x20, ..SignOptions::default() };
        let image = sign(&[], &opts, &SigningKey::development()).unwrap();
        assert!(verify_reader(Cursor::new(&image), 1 << 20, &[TrustedKey::development()]).is_ok());
    }

    #[test]
    fn refuses_a_header_smaller_than_the_fixed_part() {
        let opts = SignOptions { header_size: 0x1f, ..SignOptions::default() };
        let err = sign(b"x", &opts, &SigningKey::development()).unwrap_err();
        assert!(matches!(err, ImageError::SignHeaderSize { header_size: 0x1f }));
    }
}
