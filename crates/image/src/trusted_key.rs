//! Public keys a device trusts to sign images: load, persist, fingerprint, verify a signature.
//!
//! Owns the SubjectPublicKeyInfo encodings (PEM as `imgtool getpub -e pem` writes, DER for
//! device settings), the bytes imgtool embeds in images (the SPKI DER, but PKCS#1 for RSA) with
//! their KEYHASH fingerprints, and the signature algorithms: Ed25519 (over the SHA-256 digest,
//! or over the whole region for `--pure`), ECDSA P-256 (SHA-256), ECDSA P-384 (SHA-384) and
//! RSA-2048/3072 PSS (SHA-256, MGF1-SHA-256, salt length exactly 32). It must never decide which
//! key an image names: that is `check`'s job.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::der::pem;
use p256::pkcs8::spki::SubjectPublicKeyInfoRef;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

use crate::digest::{Digests, HashKind};
use crate::pkix::{self, Algorithm};
use crate::tlv::kind;
use crate::{ImageError, SigningKey};

/// A public key trusted to sign images.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedKey {
    /// An Ed25519 key (TLV 0x24 signatures, over the digest or, with SIG_PURE, the image).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An ECDSA P-256 key (TLV 0x22 DER signatures over the SHA-256 digest).
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// An ECDSA P-384 key (TLV 0x22 DER signatures over the SHA-384 digest).
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// An RSA key of 2048 or 3072 bits (TLV 0x20 or 0x23 PSS signatures over SHA-256).
    Rsa(rsa::PublicKey),
}

impl TrustedKey {
    /// Loads a "PUBLIC KEY" (SubjectPublicKeyInfo) PEM, as `imgtool getpub -e pem` writes.
    pub fn from_pem(pem: &str) -> Result<Self, ImageError> {
        let hint = ": give the public half (imgtool getpub -k KEY.pem -e pem)";
        let der = pkix::decode_pem(pem, "PUBLIC KEY", hint)?;
        Self::from_der(&der)
    }

    /// The key as a "PUBLIC KEY" PEM, byte-identical to `imgtool getpub -e pem`.
    pub fn to_pem(&self) -> String {
        // Encoding a few hundred bytes with a fixed, valid label and line ending cannot fail.
        match pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.to_der()) {
            Ok(pem) => pem,
            Err(reason) => unreachable!("PEM encoding of a public key failed: {reason}"),
        }
    }

    /// Loads a DER SubjectPublicKeyInfo, e.g. one persisted with [`TrustedKey::to_der`].
    pub fn from_der(spki: &[u8]) -> Result<Self, ImageError> {
        let info = SubjectPublicKeyInfoRef::try_from(spki).map_err(pkix::invalid)?;
        match pkix::identify(&info.algorithm)? {
            Algorithm::Ed25519 => {
                let key = ed25519_dalek::VerifyingKey::try_from(info).map_err(pkix::invalid)?;
                Ok(TrustedKey::Ed25519(key))
            }
            Algorithm::EcdsaP256 => {
                let key = p256::ecdsa::VerifyingKey::try_from(info).map_err(pkix::invalid)?;
                Ok(TrustedKey::EcdsaP256(key))
            }
            Algorithm::EcdsaP384 => {
                let key = p384::ecdsa::VerifyingKey::try_from(info).map_err(pkix::invalid)?;
                Ok(TrustedKey::EcdsaP384(key))
            }
            Algorithm::Rsa => {
                let key = rsa::PublicKey::try_from(info).map_err(pkix::invalid)?;
                pkix::check_rsa_bits(key.size() * 8)?;
                Ok(TrustedKey::Rsa(key))
            }
        }
    }

    /// The key as DER SubjectPublicKeyInfo (uncompressed point for ECDSA, as imgtool).
    pub fn to_der(&self) -> Vec<u8> {
        let encoded = match self {
            TrustedKey::Ed25519(key) => key.to_public_key_der(),
            TrustedKey::EcdsaP256(key) => key.to_public_key_der(),
            TrustedKey::EcdsaP384(key) => key.to_public_key_der(),
            TrustedKey::Rsa(key) => key.to_public_key_der(),
        };
        // The encoders only fail on allocation or on keys that cannot exist once parsed.
        match encoded {
            Ok(document) => document.into_vec(),
            Err(reason) => unreachable!("DER encoding of a public key failed: {reason}"),
        }
    }

    /// SHA-256 of the key as imgtool embeds it (the SPKI DER; PKCS#1 `RSAPublicKey` for RSA).
    ///
    /// This is the KEYHASH TLV of images hashed with SHA-256 (Ed25519, P-256, RSA) and the
    /// key's fingerprint in messages and settings. P-384 images carry the SHA-384 of the same
    /// bytes and pure Ed25519 images the SHA-512; the verifier matches all three.
    pub fn key_hash(&self) -> [u8; 32] {
        let mut hash = [0; 32];
        hash.copy_from_slice(HashKind::Sha256.digest(&self.embedded()).as_bytes());
        hash
    }

    /// The public half of the built-in development key (see [`SigningKey::development`]).
    pub fn development() -> Self {
        // Parsed and derived once: every boot asks for it (a scalar multiplication each time).
        static KEY: std::sync::OnceLock<TrustedKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| SigningKey::development().public()).clone()
    }

    /// A short name of the key type, for messages ("Ed25519", "RSA-3072", ...).
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            TrustedKey::Ed25519(_) => "Ed25519",
            TrustedKey::EcdsaP256(_) => "ECDSA P-256",
            TrustedKey::EcdsaP384(_) => "ECDSA P-384",
            TrustedKey::Rsa(key) if key.size() * 8 == pkix::RSA2048_BITS => "RSA-2048",
            TrustedKey::Rsa(_) => "RSA-3072",
        }
    }

    /// The signature TLV type this key's signatures travel in.
    pub(crate) fn signature_kind(&self) -> u16 {
        match self {
            TrustedKey::Ed25519(_) => kind::ED25519,
            TrustedKey::EcdsaP256(_) | TrustedKey::EcdsaP384(_) => kind::ECDSA,
            TrustedKey::Rsa(key) if key.size() * 8 == pkix::RSA2048_BITS => kind::RSA2048,
            TrustedKey::Rsa(_) => kind::RSA3072,
        }
    }

    /// The image hash this key signs (in digest mode), as imgtool picks it.
    pub(crate) fn hash_kind(&self) -> HashKind {
        match self {
            TrustedKey::EcdsaP384(_) => HashKind::Sha384,
            _ => HashKind::Sha256,
        }
    }

    /// The key as imgtool embeds it in PUBKEY TLVs and hashes it for KEYHASH TLVs.
    pub(crate) fn embedded(&self) -> Vec<u8> {
        match self {
            // MCUboot keeps RSA keys as PKCS#1; imgtool follows (keys/rsa.py get_public_bytes).
            TrustedKey::Rsa(key) => match key.to_pkcs1_der() {
                Ok(document) => document.into_vec(),
                Err(reason) => unreachable!("PKCS#1 encoding of a parsed RSA key failed: {reason}"),
            },
            _ => self.to_der(),
        }
    }

    /// Whether a KEYHASH TLV value names this key (SHA-256, SHA-384 or SHA-512, by length).
    pub(crate) fn matches_key_hash(&self, value: &[u8]) -> bool {
        HashKind::of_len(value.len()).is_some_and(|hash| hash.digest(&self.embedded()).as_bytes() == value)
    }

    /// Whether a PUBKEY TLV value is this key (as imgtool embeds it, or as SPKI).
    pub(crate) fn matches_public_key(&self, value: &[u8]) -> bool {
        self.embedded() == value || self.to_der() == value
    }

    /// Whether `signature`, a TLV of type `sig_kind`, signs the image whose checked digests
    /// are `digests` (digest mode: everything but pure Ed25519).
    pub(crate) fn verifies(&self, sig_kind: u16, digests: &Digests, signature: &[u8]) -> bool {
        if sig_kind != self.signature_kind() {
            return false;
        }
        let Some(digest) = digests.get(self.hash_kind()) else {
            return false;
        };
        let digest = digest.as_bytes();
        match self {
            TrustedKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(digest, &sig).is_ok()),
            TrustedKey::EcdsaP256(key) => p256::ecdsa::Signature::from_der(der_prefix(signature))
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
            TrustedKey::EcdsaP384(key) => p384::ecdsa::Signature::from_der(der_prefix(signature))
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
            TrustedKey::Rsa(key) => {
                // `new` fixes the salt length to the digest length (32), as MCUboot requires;
                // a signature with any other salt length fails.
                let verifier = rsa::pss::VerifyingKey::<Sha256>::new(key.clone());
                rsa::pss::Signature::try_from(signature)
                    .is_ok_and(|sig| verifier.verify_prehash(digest, &sig).is_ok())
            }
        }
    }

    /// A verifier for a pure Ed25519 `signature` that is then fed the whole hashed region;
    /// `None` when this is not an Ed25519 key or the signature cannot be valid.
    pub(crate) fn pure_verifier(&self, signature: &[u8]) -> Option<ed25519_dalek::StreamVerifier> {
        let TrustedKey::Ed25519(key) = self else { return None };
        // The stream verifier checks like RFC 8032 (and MCUboot), not like verify_strict;
        // refusing small-order keys here keeps the one check that matters for trusted keys.
        if key.is_weak() {
            return None;
        }
        let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
        key.verify_stream(&signature).ok()
    }
}

/// The DER SEQUENCE at the start of an ECDSA TLV, without the zero padding `imgtool --pad-sig`
/// may append (imgtool's verify strips it the same way).
fn der_prefix(signature: &[u8]) -> &[u8] {
    match signature {
        [0x30, len, ..] if usize::from(*len) + 2 <= signature.len() => {
            let (der, padding) = signature.split_at(usize::from(*len) + 2);
            if padding.iter().all(|&b| b == 0) { der } else { signature }
        }
        _ => signature,
    }
}

#[cfg(test)]
mod tests {
    use p256::pkcs8::DecodePrivateKey;

    use super::*;
    use crate::fixtures;

    #[test]
    fn loads_imgtool_public_keys_and_writes_them_back() {
        for (pem, name) in fixtures::PUBLIC_KEYS {
            let key = TrustedKey::from_pem(pem).unwrap();
            assert_eq!(key.to_pem(), *pem, "{name}");
            assert_eq!(TrustedKey::from_der(&key.to_der()).unwrap(), key, "{name}");
            assert_eq!(key.algorithm_name(), *name);
        }
        assert!(matches!(TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap(), TrustedKey::Ed25519(_)));
        assert!(matches!(TrustedKey::from_pem(fixtures::ECDSA_PUB).unwrap(), TrustedKey::EcdsaP256(_)));
        assert!(matches!(TrustedKey::from_pem(fixtures::P384_PUB).unwrap(), TrustedKey::EcdsaP384(_)));
        assert!(matches!(TrustedKey::from_pem(fixtures::RSA3072_PUB).unwrap(), TrustedKey::Rsa(_)));
    }

    #[test]
    fn key_hash_matches_imgtool_keyhash_tlv() {
        let cases = [
            (fixtures::TRUSTED_PUB, fixtures::SIGNED_ED25519),
            (fixtures::UNTRUSTED_PUB, fixtures::SIGNED_UNTRUSTED),
            (fixtures::ECDSA_PUB, fixtures::SIGNED_ECDSA),
            (fixtures::DEV_PUB, fixtures::SIGNED_DEV),
            (fixtures::RSA2048_PUB, fixtures::SIGNED_RSA2048),
            (fixtures::RSA3072_PUB, fixtures::SIGNED_RSA3072),
        ];
        for (pem, image) in cases {
            let key = TrustedKey::from_pem(pem).unwrap();
            let keyhash = fixtures::tlv(image, kind::KEYHASH);
            assert_eq!(keyhash, key.key_hash());
            assert!(key.matches_key_hash(&keyhash));
        }
        // P-384 images name the key by SHA-384, pure images by SHA-512.
        let p384 = TrustedKey::from_pem(fixtures::P384_PUB).unwrap();
        let keyhash = fixtures::tlv(fixtures::SIGNED_P384, kind::KEYHASH);
        assert_eq!(keyhash.len(), 48);
        assert!(p384.matches_key_hash(&keyhash));
        let ed = TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap();
        let keyhash = fixtures::tlv(fixtures::SIGNED_PURE, kind::KEYHASH);
        assert_eq!(keyhash.len(), 64);
        assert!(ed.matches_key_hash(&keyhash));
        assert!(!p384.matches_key_hash(&keyhash));
        assert!(!ed.matches_key_hash(&keyhash[..20]));
    }

    #[test]
    fn pubkey_tlv_is_what_imgtool_embeds() {
        let cases = [
            (fixtures::TRUSTED_PUB, fixtures::SIGNED_PUBKEY),
            (fixtures::ECDSA_PUB, fixtures::SIGNED_PUBKEY_P256),
            (fixtures::P384_PUB, fixtures::SIGNED_PUBKEY_P384),
            (fixtures::RSA2048_PUB, fixtures::SIGNED_PUBKEY_RSA2048),
            (fixtures::RSA3072_PUB, fixtures::SIGNED_PUBKEY_RSA3072),
        ];
        for (pem, image) in cases {
            let key = TrustedKey::from_pem(pem).unwrap();
            let value = fixtures::tlv(image, kind::PUBKEY);
            assert_eq!(value, key.embedded());
            assert!(key.matches_public_key(&value));
            assert!(key.matches_public_key(&key.to_der()));
        }
        // RSA keys are embedded as PKCS#1, the others as SPKI.
        let rsa = TrustedKey::from_pem(fixtures::RSA2048_PUB).unwrap();
        assert_ne!(rsa.embedded(), rsa.to_der());
        let ed = TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap();
        assert_eq!(ed.embedded(), ed.to_der());
    }

    #[test]
    fn development_key_is_the_committed_one() {
        assert_eq!(TrustedKey::development().to_pem(), fixtures::DEV_PUB);
    }

    #[test]
    fn refuses_private_keys_garbage_and_foreign_algorithms() {
        let err = TrustedKey::from_pem(fixtures::TRUSTED_PRIV).unwrap_err();
        assert!(matches!(err, ImageError::PemLabel { found, .. } if found == "PRIVATE KEY"));
        assert!(matches!(TrustedKey::from_pem("hello"), Err(ImageError::Pem { .. })));
        assert!(matches!(
            TrustedKey::from_der(&[0x30, 0x03, 0x02, 0x01]),
            Err(ImageError::InvalidKey { .. })
        ));
        let cases = [
            (fixtures::RSA4096_PUB, "RSA-4096"),
            (fixtures::P521_PUB, "ECDSA on curve 1.3.132.0.35"),
            (fixtures::X25519_PUB, "X25519 (an encryption key, not a signing key)"),
        ];
        for (pem, name) in cases {
            let err = TrustedKey::from_pem(pem).unwrap_err();
            assert!(matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm == name), "{err}");
        }
    }

    #[test]
    fn ecdsa_accepts_high_and_low_s_and_zero_padding_like_mcuboot() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;

        let key = crate::SigningKey::from_pem(fixtures::ECDSA_PRIV).unwrap().public();
        let TrustedKey::EcdsaP256(_) = key else { panic!("fixture is a P-256 key") };
        let private = p256::ecdsa::SigningKey::from_pkcs8_der(&pkix_der(fixtures::ECDSA_PRIV)).unwrap();
        let digest = [0x42; 32];
        let digests = Digests { sha256: Some(digest), sha384: None };
        let signature: p256::ecdsa::Signature = private.sign_prehash(&digest).unwrap();
        let low = signature.normalize_s();
        // OpenSSL (imgtool) does not normalize s, so both halves of the curve order occur.
        let high = p256::ecdsa::Signature::from_scalars(low.r().to_bytes(), (-*low.s()).to_bytes()).unwrap();
        assert_ne!(low, high);
        for candidate in [low, high] {
            let der = candidate.to_der();
            assert!(key.verifies(kind::ECDSA, &digests, der.as_bytes()));
            let mut padded = der.as_bytes().to_vec();
            padded.resize(72, 0);
            assert!(key.verifies(kind::ECDSA, &digests, &padded));
            let other = Digests { sha256: Some([0x43; 32]), sha384: None };
            assert!(!key.verifies(kind::ECDSA, &other, der.as_bytes()));
            // Without a checked SHA-256 digest nothing verifies.
            assert!(!key.verifies(kind::ECDSA, &Digests::default(), der.as_bytes()));
            assert!(!key.verifies(kind::ED25519, &digests, der.as_bytes()));
        }
        assert!(!key.verifies(kind::ECDSA, &digests, &[]));
        assert!(!key.verifies(kind::ECDSA, &digests, &[0x30, 0x00]));
    }

    fn pkix_der(pem: &str) -> Vec<u8> {
        pkix::decode_pem(pem, "PRIVATE KEY", "").unwrap()
    }

    #[test]
    fn ecdsa_padding_is_stripped_only_when_zero() {
        let der = [0x30, 0x02, 0x01, 0x02];
        assert_eq!(der_prefix(&[0x30, 0x02, 0x01, 0x02, 0, 0]), &der);
        assert_eq!(der_prefix(&[0x30, 0x02, 0x01, 0x02, 0, 1]), &[0x30, 0x02, 0x01, 0x02, 0, 1]);
        assert_eq!(der_prefix(&[0x30, 0x09]), &[0x30, 0x09]);
        assert_eq!(der_prefix(&[]), &[] as &[u8]);
    }

    #[test]
    fn pure_verifier_only_for_ed25519_and_well_formed_signatures() {
        let ed = TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap();
        let signature = fixtures::tlv(fixtures::SIGNED_PURE, kind::ED25519);
        let region = fixtures::hashed_region(fixtures::SIGNED_PURE);
        let mut verifier = ed.pure_verifier(&signature).unwrap();
        verifier.update(region);
        assert!(verifier.finalize_and_verify().is_ok());
        let mut verifier = ed.pure_verifier(&signature).unwrap();
        verifier.update(&region[1..]);
        assert!(verifier.finalize_and_verify().is_err());
        assert!(ed.pure_verifier(&signature[..63]).is_none());
        let p256 = TrustedKey::from_pem(fixtures::ECDSA_PUB).unwrap();
        assert!(p256.pure_verifier(&signature).is_none());
    }
}
