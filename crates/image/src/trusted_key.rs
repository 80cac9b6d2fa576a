//! Public keys a device trusts to sign images: load, persist, fingerprint, verify a digest.
//!
//! Owns the SubjectPublicKeyInfo encodings (PEM as `imgtool getpub -e pem` writes, DER for
//! device settings) and the KEYHASH fingerprint (SHA-256 of that DER, as imgtool computes
//! it). It must never decide which key an image names: that is `check`'s job.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::der::pem;
use p256::pkcs8::spki::SubjectPublicKeyInfoRef;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

use crate::pkix::{self, Algorithm};
use crate::{ImageError, SigningKey};

/// A public key trusted to sign images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedKey {
    /// An Ed25519 key (TLV 0x24 signatures).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An ECDSA P-256 key (TLV 0x22 DER signatures).
    EcdsaP256(p256::ecdsa::VerifyingKey),
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
        // Encoding under 100 bytes with a fixed, valid label and line ending cannot fail.
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
        }
    }

    /// The key as DER SubjectPublicKeyInfo (uncompressed point for ECDSA, as imgtool).
    pub fn to_der(&self) -> Vec<u8> {
        let encoded = match self {
            TrustedKey::Ed25519(key) => key.to_public_key_der(),
            TrustedKey::EcdsaP256(key) => key.to_public_key_der(),
        };
        // Both encoders only fail on allocation or on keys that cannot exist once parsed.
        match encoded {
            Ok(document) => document.into_vec(),
            Err(reason) => unreachable!("DER encoding of a public key failed: {reason}"),
        }
    }

    /// SHA-256 of [`TrustedKey::to_der`]: the value imgtool puts in the KEYHASH TLV.
    pub fn key_hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_der()).into()
    }

    /// The public half of the built-in development key (see [`SigningKey::development`]).
    pub fn development() -> Self {
        SigningKey::development().public()
    }

    /// Which algorithm this key verifies.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            TrustedKey::Ed25519(_) => Algorithm::Ed25519,
            TrustedKey::EcdsaP256(_) => Algorithm::EcdsaP256,
        }
    }

    /// Whether `signature` (a TLV value of this key's type) signs the image `digest`.
    pub(crate) fn verifies(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        match self {
            TrustedKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(digest, &sig).is_ok()),
            TrustedKey::EcdsaP256(key) => p256::ecdsa::Signature::from_der(der_prefix(signature))
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
        }
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
        for pem in [fixtures::TRUSTED_PUB, fixtures::UNTRUSTED_PUB, fixtures::ECDSA_PUB] {
            let key = TrustedKey::from_pem(pem).unwrap();
            assert_eq!(key.to_pem(), pem);
            assert_eq!(TrustedKey::from_der(&key.to_der()).unwrap(), key);
        }
        assert!(matches!(TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap(), TrustedKey::Ed25519(_)));
        assert!(matches!(TrustedKey::from_pem(fixtures::ECDSA_PUB).unwrap(), TrustedKey::EcdsaP256(_)));
    }

    #[test]
    fn key_hash_matches_imgtool_keyhash_tlv() {
        let cases = [
            (fixtures::TRUSTED_PUB, fixtures::SIGNED_ED25519),
            (fixtures::UNTRUSTED_PUB, fixtures::SIGNED_UNTRUSTED),
            (fixtures::ECDSA_PUB, fixtures::SIGNED_ECDSA),
            (fixtures::DEV_PUB, fixtures::SIGNED_DEV),
        ];
        for (pem, image) in cases {
            let key = TrustedKey::from_pem(pem).unwrap();
            assert_eq!(fixtures::tlv(image, crate::tlv::kind::KEYHASH), key.key_hash());
        }
    }

    #[test]
    fn pubkey_tlv_is_the_der() {
        let key = TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap();
        assert_eq!(fixtures::tlv(fixtures::SIGNED_PUBKEY, crate::tlv::kind::PUBKEY), key.to_der());
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
        // `imgtool getpub -e pem` of an RSA-2048, an ECDSA P-384 and an X25519 key.
        let rsa = fixtures::RSA2048_PUB;
        let err = TrustedKey::from_pem(rsa).unwrap_err();
        assert!(matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm == "RSA"), "{err}");
        let p384 = fixtures::P384_PUB;
        let err = TrustedKey::from_pem(p384).unwrap_err();
        assert!(
            matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm == "ECDSA P-384"),
            "{err}"
        );
        let err = TrustedKey::from_pem(fixtures::X25519_PUB).unwrap_err();
        assert!(
            matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm.starts_with("X25519")),
            "{err}"
        );
    }

    #[test]
    fn ecdsa_accepts_high_and_low_s_and_zero_padding_like_mcuboot() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;

        let key = crate::SigningKey::from_pem(fixtures::ECDSA_PRIV).unwrap().public();
        let TrustedKey::EcdsaP256(_) = key else { panic!("fixture is a P-256 key") };
        let private = p256::ecdsa::SigningKey::from_pkcs8_der(&pkix_der(fixtures::ECDSA_PRIV)).unwrap();
        let digest = [0x42; 32];
        let signature: p256::ecdsa::Signature = private.sign_prehash(&digest).unwrap();
        let low = signature.normalize_s();
        // OpenSSL (imgtool) does not normalize s, so both halves of the curve order occur.
        let high = p256::ecdsa::Signature::from_scalars(low.r().to_bytes(), (-*low.s()).to_bytes()).unwrap();
        assert_ne!(low, high);
        for candidate in [low, high] {
            let der = candidate.to_der();
            assert!(key.verifies(&digest, der.as_bytes()));
            let mut padded = der.as_bytes().to_vec();
            padded.resize(72, 0);
            assert!(key.verifies(&digest, &padded));
            assert!(!key.verifies(&[0x43; 32], der.as_bytes()));
        }
        assert!(!key.verifies(&digest, &[]));
        assert!(!key.verifies(&digest, &[0x30, 0x00]));
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
}
