//! Private keys that sign images, including the built-in development key.
//!
//! Owns loading PKCS#8 "PRIVATE KEY" PEMs as `imgtool keygen` writes them (Ed25519, ECDSA P-256
//! and P-384, RSA-2048 and RSA-3072) and producing the signature TLV value for an image digest
//! (or, for pure Ed25519, for the hashed region itself). It must never print or expose the
//! secret: `Debug` shows only the algorithm and the public key hash.
//!
//! ECDSA nonces are deterministic (RFC 6979) and RSA-PSS salts come from the operating
//! system's random generator, as imgtool's do; verifiers cannot tell the difference.
//!
//! DEVELOPMENT KEY: `keys/dev-ed25519.pem` is committed and public, like MCUboot's sample
//! keys. Anyone can sign with it, so a device that trusts [`TrustedKey::development`] accepts
//! anyone's images. It exists so that the emulated modem and the host tools work out of the
//! box; real deployments must use their own keys.

use std::fmt;

use ed25519_dalek::Signer;
use p256::ecdsa::signature::SignatureEncoding;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::PrivateKeyInfoRef;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

use crate::digest::HashKind;
use crate::pkix::{self, Algorithm};
use crate::tlv::kind;
use crate::{ImageError, TrustedKey};

/// The committed development key (PKCS#8 PEM); see the module docs before trusting it.
const DEVELOPMENT_PEM: &str = include_str!("../keys/dev-ed25519.pem");

/// A private key that signs images.
#[derive(Clone)]
pub struct SigningKey(Inner);

#[derive(Clone)]
enum Inner {
    Ed25519(ed25519_dalek::SigningKey),
    EcdsaP256(p256::ecdsa::SigningKey),
    EcdsaP384(p384::ecdsa::SigningKey),
    /// Salt length 32 (the digest length), as imgtool signs and MCUboot requires.
    Rsa(rsa::pss::SigningKey<Sha256>),
}

impl SigningKey {
    /// Loads a PKCS#8 "PRIVATE KEY" PEM as `imgtool keygen -t ed25519|ecdsa-p256|ecdsa-p384|
    /// rsa-2048|rsa-3072` writes it (without `-p`).
    pub fn from_pem(pem: &str) -> Result<Self, ImageError> {
        let hint = ": give an unencrypted PKCS#8 key as `imgtool keygen` writes it (without -p)";
        let der = pkix::decode_pem(pem, "PRIVATE KEY", hint)?;
        let info = PrivateKeyInfoRef::try_from(der.as_slice()).map_err(pkix::invalid)?;
        let inner = match pkix::identify(&info.algorithm)? {
            Algorithm::Ed25519 => {
                Inner::Ed25519(ed25519_dalek::SigningKey::try_from(info).map_err(pkix::invalid)?)
            }
            Algorithm::EcdsaP256 => {
                Inner::EcdsaP256(p256::ecdsa::SigningKey::try_from(info).map_err(pkix::invalid)?)
            }
            Algorithm::EcdsaP384 => {
                Inner::EcdsaP384(p384::ecdsa::SigningKey::try_from(info).map_err(pkix::invalid)?)
            }
            Algorithm::Rsa => {
                let key = rsa::PrivateKey::try_from(info).map_err(pkix::invalid)?;
                pkix::check_rsa_bits(key.size() * 8)?;
                Inner::Rsa(rsa::pss::SigningKey::new(key))
            }
        };
        Ok(SigningKey(inner))
    }

    /// The public half, to be trusted by devices.
    pub fn public(&self) -> TrustedKey {
        match &self.0 {
            Inner::Ed25519(key) => TrustedKey::Ed25519(key.verifying_key()),
            Inner::EcdsaP256(key) => TrustedKey::EcdsaP256(*key.verifying_key()),
            Inner::EcdsaP384(key) => TrustedKey::EcdsaP384(*key.verifying_key()),
            Inner::Rsa(key) => TrustedKey::Rsa(rsa::PublicKey::from(key.as_ref())),
        }
    }

    /// The built-in development key: public, for tests and demos only (see the module docs).
    pub fn development() -> Self {
        // DEVELOPMENT_PEM is a committed, valid Ed25519 PKCS#8 PEM; a unit test loads it.
        match Self::from_pem(DEVELOPMENT_PEM) {
            Ok(key) => key,
            Err(error) => unreachable!("the committed development key does not load: {error}"),
        }
    }

    /// The image hash this key signs in digest mode: SHA-384 for P-384, SHA-256 otherwise.
    pub(crate) fn hash_kind(&self) -> HashKind {
        match self.0 {
            Inner::EcdsaP384(_) => HashKind::Sha384,
            _ => HashKind::Sha256,
        }
    }

    /// The signature TLV (type, value) over an image's `digest` of [`SigningKey::hash_kind`].
    pub(crate) fn sign_digest(&self, digest: &[u8]) -> Result<(u16, Vec<u8>), ImageError> {
        match &self.0 {
            Inner::Ed25519(key) => Ok((kind::ED25519, key.sign(digest).to_bytes().to_vec())),
            Inner::EcdsaP256(key) => {
                let signature: p256::ecdsa::DerSignature = key.sign_prehash(digest).map_err(pkix::invalid)?;
                Ok((kind::ECDSA, signature.to_vec()))
            }
            Inner::EcdsaP384(key) => {
                let signature: p384::ecdsa::DerSignature = key.sign_prehash(digest).map_err(pkix::invalid)?;
                Ok((kind::ECDSA, signature.to_vec()))
            }
            Inner::Rsa(key) => {
                let signature = key.sign_prehash(digest).map_err(pkix::invalid)?;
                Ok((self.public().signature_kind(), signature.to_vec()))
            }
        }
    }

    /// The pure signature TLV (`imgtool sign --pure`): Ed25519 over the whole hashed `region`.
    pub(crate) fn sign_pure(&self, region: &[u8]) -> Result<(u16, Vec<u8>), ImageError> {
        match &self.0 {
            Inner::Ed25519(key) => Ok((kind::ED25519, key.sign(region).to_bytes().to_vec())),
            _ => Err(ImageError::PureNeedsEd25519 { found: self.public().algorithm_name() }),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = self.public();
        f.debug_struct("SigningKey")
            .field("algorithm", &public.algorithm_name())
            .field("key_hash", &hex::encode(public.key_hash()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn loads_imgtool_private_keys() {
        let mut cases = vec![
            (fixtures::TRUSTED_PRIV, fixtures::TRUSTED_PUB),
            (fixtures::UNTRUSTED_PRIV, fixtures::UNTRUSTED_PUB),
            (DEVELOPMENT_PEM, fixtures::DEV_PUB),
        ];
        cases.extend(fixtures::KEY_PAIRS.iter().map(|&(private, public, _)| (private, public)));
        for (private, public) in cases {
            let key = SigningKey::from_pem(private).unwrap();
            assert_eq!(key.public(), TrustedKey::from_pem(public).unwrap());
        }
    }

    #[test]
    fn development_key_loads() {
        assert_eq!(SigningKey::development().public(), TrustedKey::development());
    }

    #[test]
    fn signatures_verify_with_the_public_half() {
        use crate::digest::Digests;

        let digests = Digests { sha256: Some([0x5a; 32]), sha384: Some([0x5b; 48]) };
        let others = Digests { sha256: Some([0xa5; 32]), sha384: Some([0xa6; 48]) };
        for (pem, _, name) in fixtures::KEY_PAIRS {
            let key = SigningKey::from_pem(pem).unwrap();
            let digest = digests.get(key.hash_kind()).unwrap();
            let (sig_kind, signature) = key.sign_digest(digest.as_bytes()).unwrap();
            assert_eq!(sig_kind, key.public().signature_kind(), "{name}");
            assert!(key.public().verifies(sig_kind, &digests, &signature), "{name}");
            assert!(!key.public().verifies(sig_kind, &others, &signature), "{name}");
            let pure = key.sign_pure(b"region");
            if *name == "Ed25519" {
                assert!(pure.is_ok());
            } else {
                assert!(matches!(pure, Err(ImageError::PureNeedsEd25519 { found }) if found == *name));
            }
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SigningKey::development();
        let shown = format!("{key:?}");
        assert!(
            shown.contains("Ed25519") && shown.contains(&hex::encode(key.public().key_hash())),
            "{shown}"
        );
        let Inner::Ed25519(inner) = &key.0 else { panic!("development key is Ed25519") };
        assert!(!shown.contains(&hex::encode(inner.as_bytes())), "{shown}");
    }

    #[test]
    fn refuses_public_encrypted_and_foreign_keys() {
        let err = SigningKey::from_pem(fixtures::TRUSTED_PUB).unwrap_err();
        assert!(matches!(err, ImageError::PemLabel { found, .. } if found == "PUBLIC KEY"));
        let err = SigningKey::from_pem(fixtures::ENCRYPTED_PRIV).unwrap_err();
        assert!(matches!(err, ImageError::PemLabel { found, .. } if found == "ENCRYPTED PRIVATE KEY"));
        assert!(matches!(SigningKey::from_pem(""), Err(ImageError::Pem { .. })));
        let err = SigningKey::from_pem(fixtures::RSA1024_PRIV).unwrap_err();
        assert!(matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm == "RSA-1024"), "{err}");
    }
}
