//! PEM unwrapping and key-algorithm identification shared by trusted and signing keys.
//!
//! Owns the mapping from PEM labels and algorithm OIDs to the supported key kinds (imgtool's:
//! Ed25519, ECDSA P-256 and P-384, RSA), so that any other key gets a message naming it rather
//! than a decoder's complaint. It must never hold key material longer than the call.

use p256::pkcs8::ObjectIdentifier;
use p256::pkcs8::der::pem;
use p256::pkcs8::spki::AlgorithmIdentifierRef;

use crate::ImageError;

/// The key algorithms this crate signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    /// RSA of any size; the key types check the size (2048 or 3072 bits).
    Rsa,
}

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");

/// Decodes a PEM document that must carry `label`; `hint` is appended when it does not.
pub(crate) fn decode_pem(text: &str, label: &'static str, hint: &'static str) -> Result<Vec<u8>, ImageError> {
    let (found, der) =
        pem::decode_vec(text.trim().as_bytes()).map_err(|e| ImageError::Pem { reason: e.to_string() })?;
    if found != label {
        return Err(ImageError::PemLabel { expected: label, found: found.to_owned(), hint });
    }
    Ok(der)
}

/// Maps an X.509/PKCS#8 algorithm identifier to a supported algorithm or a clear refusal.
pub(crate) fn identify(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<Algorithm, ImageError> {
    let unsupported = |name: &str| ImageError::UnsupportedKey { algorithm: name.to_owned() };
    match algorithm.oid {
        ED25519 => Ok(Algorithm::Ed25519),
        EC_PUBLIC_KEY => match algorithm.parameters_oid() {
            Ok(P256) => Ok(Algorithm::EcdsaP256),
            Ok(P384) => Ok(Algorithm::EcdsaP384),
            Ok(curve) => Err(unsupported(&format!("ECDSA on curve {curve}"))),
            Err(_) => Err(unsupported("ECDSA without a named curve")),
        },
        RSA => Ok(Algorithm::Rsa),
        X25519 => Err(unsupported("X25519 (an encryption key, not a signing key)")),
        other => Err(unsupported(&format!("OID {other}"))),
    }
}

/// Wraps a decoder error as an invalid-key error.
pub(crate) fn invalid(error: impl std::fmt::Display) -> ImageError {
    ImageError::InvalidKey { reason: error.to_string() }
}

/// Refuses RSA keys of sizes MCUboot cannot verify (it has RSA-2048 and RSA-3072 only).
pub(crate) fn check_rsa_bits(bits: usize) -> Result<(), ImageError> {
    match bits {
        RSA2048_BITS | RSA3072_BITS => Ok(()),
        _ => Err(ImageError::UnsupportedKey { algorithm: format!("RSA-{bits}") }),
    }
}

/// Modulus size of an RSA-2048 key.
pub(crate) const RSA2048_BITS: usize = 2048;
/// Modulus size of an RSA-3072 key.
pub(crate) const RSA3072_BITS: usize = 3072;
