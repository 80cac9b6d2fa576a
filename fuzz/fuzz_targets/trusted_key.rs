//! Fuzz target: key files and stored keys through the key parsers (`atfota-image`): DER
//! SubjectPublicKeyInfo (as kept in device settings), PEM public keys (`--trust`, the host's
//! key files) and PKCS#8 PEM private keys (`atfota sign --key`).
//!
//! Checks that no input panics, and that a key that loads (Ed25519, ECDSA P-256/P-384, RSA-2048/
//! 3072) survives its own encodings: DER and PEM written by the crate read back to the same key. The control byte chooses whether the
//! bytes are given as they are, or first wrapped in PEM armour so the fuzzer reaches the DER
//! parsers behind the PEM ones without having to write base64.

#![no_main]

use atfota_fuzz::input;
use atfota_image::{SigningKey, TrustedKey};
use libfuzzer_sys::fuzz_target;
use pem_rfc7468::LineEnding;

fuzz_target!(|data: &[u8]| {
    let ([control], bytes) = input::header::<1>(data);
    match control % 4 {
        0 => {
            if let Ok(key) = TrustedKey::from_der(bytes) {
                check_round_trip(&key);
            }
        }
        1 => {
            let Ok(text) = std::str::from_utf8(bytes) else { return };
            if let Ok(key) = TrustedKey::from_pem(text) {
                check_round_trip(&key);
            }
            if let Ok(key) = SigningKey::from_pem(text) {
                check_round_trip(&key.public());
            }
        }
        2 => {
            let Ok(text) = pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, bytes) else { return };
            if let Ok(key) = TrustedKey::from_pem(&text) {
                check_round_trip(&key);
            }
        }
        _ => {
            let Ok(text) = pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, bytes) else { return };
            if let Ok(key) = SigningKey::from_pem(&text) {
                check_round_trip(&key.public());
            }
        }
    }
});

fn check_round_trip(key: &TrustedKey) {
    let der = key.to_der();
    assert_eq!(TrustedKey::from_der(&der).ok().as_ref(), Some(key), "DER does not read back");
    assert_eq!(TrustedKey::from_pem(&key.to_pem()).ok().as_ref(), Some(key), "PEM does not read back");
    // The fingerprint is stable and every key type has a name.
    assert_eq!(key.key_hash(), TrustedKey::from_der(&der).map(|k| k.key_hash()).unwrap_or_default());
    assert!(!key.algorithm_name().is_empty());
}
