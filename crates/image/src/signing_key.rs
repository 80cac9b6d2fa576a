//! Private keys that sign images, including the built-in development key.
//!
//! Owns loading PKCS#8 "PRIVATE KEY" PEMs as `imgtool keygen` writes them (Ed25519 and ECDSA
//! P-256) and producing the signature TLV value for an image digest. It must never print or
//! expose the secret: `Debug` shows only the algorithm and the public key hash.
//!
//! DEVELOPMENT KEY: `keys/dev-ed25519.pem` is committed and public, like MCUboot's sample
//! keys. Anyone can sign with it, so a device that trusts [`TrustedKey::development`] accepts
//! anyone's images. It exists so that the emulated modem and the host tools work out of the
//! box; real deployments must use their own keys.

use std::fmt;

use ed25519_dalek::Signer;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::PrivateKeyInfoRef;

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
}

impl SigningKey {
    /// Loads a PKCS#8 "PRIVATE KEY" PEM as `imgtool keygen -t ed25519|ecdsa-p256` writes it.
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
        };
        Ok(SigningKey(inner))
    }

    /// The public half, to be trusted by devices.
    pub fn public(&self) -> TrustedKey {
        match &self.0 {
            Inner::Ed25519(key) => TrustedKey::Ed25519(key.verifying_key()),
            Inner::EcdsaP256(key) => TrustedKey::EcdsaP256(*key.verifying_key()),
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

    /// The signature TLV (type, value) over an image's SHA-256 `digest`.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> Result<(u16, Vec<u8>), ImageError> {
        match &self.0 {
            Inner::Ed25519(key) => Ok((kind::ED25519, key.sign(digest).to_bytes().to_vec())),
            Inner::EcdsaP256(key) => {
                // RFC 6979 deterministic nonce; the verifier cannot tell it from imgtool's random one.
                let signature: p256::ecdsa::DerSignature = key.sign_prehash(digest).map_err(pkix::invalid)?;
                Ok((kind::ECDSA, signature.as_bytes().to_vec()))
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithm = match self.0 {
            Inner::Ed25519(_) => "Ed25519",
            Inner::EcdsaP256(_) => "ECDSA P-256",
        };
        f.debug_struct("SigningKey")
            .field("algorithm", &algorithm)
            .field("key_hash", &hex::encode(self.public().key_hash()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn loads_imgtool_private_keys() {
        let cases = [
            (fixtures::TRUSTED_PRIV, fixtures::TRUSTED_PUB),
            (fixtures::UNTRUSTED_PRIV, fixtures::UNTRUSTED_PUB),
            (fixtures::ECDSA_PRIV, fixtures::ECDSA_PUB),
            (DEVELOPMENT_PEM, fixtures::DEV_PUB),
        ];
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
        let digest = [0x5a; 32];
        for pem in [fixtures::TRUSTED_PRIV, fixtures::ECDSA_PRIV] {
            let key = SigningKey::from_pem(pem).unwrap();
            let (_, signature) = key.sign_digest(&digest).unwrap();
            assert!(key.public().verifies(&digest, &signature));
            assert!(!key.public().verifies(&[0xa5; 32], &signature));
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
        let err = SigningKey::from_pem(fixtures::P384_PRIV).unwrap_err();
        assert!(
            matches!(&err, ImageError::UnsupportedKey { algorithm } if algorithm == "ECDSA P-384"),
            "{err}"
        );
        assert!(matches!(SigningKey::from_pem(""), Err(ImageError::Pem { .. })));
    }
}
