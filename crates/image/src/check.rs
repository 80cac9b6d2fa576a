//! What the TLVs of a complete image mean: hash check, key identification, signature check.
//!
//! Owns the verdict rules (which TLVs are required, which are refused, which error wins when
//! several apply). Works on already-checked [`TlvArea`]s and a finished digest; it must never
//! see the image body, so it cannot make the verifier's memory grow.

use crate::pkix::Algorithm;
use crate::tlv::{self, Tlv, TlvArea, kind};
use crate::{ImageError, TrustedKey};

/// Refuses TLVs that mean nothing inside the protected (hashed) area.
pub(crate) fn protected_area(area: &TlvArea<'_>) -> Result<(), ImageError> {
    for entry in area.iter() {
        if matches!(
            entry.kind,
            kind::KEYHASH
                | kind::PUBKEY
                | kind::SHA256
                | kind::SHA384
                | kind::SHA512
                | kind::RSA2048
                | kind::ECDSA
                | kind::RSA3072
                | kind::ED25519
                | kind::SIG_PURE
        ) {
            return Err(ImageError::MisplacedTlv { name: tlv::name(entry.kind), kind: entry.kind });
        }
        if entry.kind == kind::SEC_CNT {
            expect_len(&entry, 4)?;
        }
    }
    Ok(())
}

/// Checks the unprotected area's shape and that every SHA256 TLV equals `digest`.
pub(crate) fn hash(area: &TlvArea<'_>, digest: &[u8; 32]) -> Result<(), ImageError> {
    // A pure image carries SHA512 instead of SHA256; name the real reason, not the symptom.
    if area.iter().any(|entry| entry.kind == kind::SIG_PURE) {
        return Err(unsupported(kind::SIG_PURE));
    }
    let mut found = false;
    for entry in area.iter() {
        match entry.kind {
            kind::SHA256 => {
                expect_len(&entry, 32)?;
                if entry.value != digest {
                    return Err(ImageError::HashMismatch {
                        expected: hex::encode(entry.value),
                        computed: hex::encode(digest),
                    });
                }
                found = true;
            }
            kind::KEYHASH => expect_len(&entry, 32)?,
            kind::ED25519 => expect_len(&entry, 64)?,
            _ => {}
        }
    }
    if found { Ok(()) } else { Err(ImageError::MissingSha256) }
}

/// Finds a signature TLV that a trusted key verifies; returns that key's index in `keys`.
///
/// Like MCUboot, a KEYHASH or PUBKEY TLV names the key for the signature TLVs after it;
/// without one, every trusted key of the signature's type is tried.
pub(crate) fn signature(
    area: &TlvArea<'_>,
    digest: &[u8; 32],
    keys: &[TrustedKey],
) -> Result<usize, ImageError> {
    let hashes: Vec<[u8; 32]> = keys.iter().map(TrustedKey::key_hash).collect();
    let mut named: Option<Named> = None;
    let mut verdict = Verdict::default();
    for entry in area.iter() {
        match entry.kind {
            kind::KEYHASH => named = Some(Named::find(entry.value, |i| hashes[i] == entry.value, keys.len())),
            kind::PUBKEY => {
                named = Some(Named::find(entry.value, |i| keys[i].to_der() == entry.value, keys.len()));
            }
            kind::ED25519 | kind::ECDSA => {
                let algorithm =
                    if entry.kind == kind::ED25519 { Algorithm::Ed25519 } else { Algorithm::EcdsaP256 };
                match &named {
                    Some(Named::Trusted(index)) => {
                        // A named key of the other algorithm cannot have made this signature.
                        let key = &keys[*index];
                        if key.algorithm() == algorithm && key.verifies(digest, entry.value) {
                            return Ok(*index);
                        }
                        verdict.bad.get_or_insert(*index);
                    }
                    Some(Named::Unknown(hash)) => {
                        verdict.untrusted.get_or_insert_with(|| hash.clone());
                    }
                    None => {
                        let signer = (0..keys.len()).find(|&i| {
                            keys[i].algorithm() == algorithm && keys[i].verifies(digest, entry.value)
                        });
                        if let Some(index) = signer {
                            return Ok(index);
                        }
                        // The hash already matched, so this is most likely another key's work.
                        verdict.untrusted.get_or_insert_with(|| "not named in the image".to_owned());
                    }
                }
            }
            kind::RSA2048 | kind::RSA3072 => {
                verdict.unsupported.get_or_insert(entry.kind);
            }
            _ => {}
        }
    }
    Err(verdict.into_error())
}

/// The signer a KEYHASH/PUBKEY TLV names.
enum Named {
    Trusted(usize),
    /// Not among the trusted keys; the hex value for the message.
    Unknown(String),
}

impl Named {
    fn find(value: &[u8], matches: impl Fn(usize) -> bool, count: usize) -> Self {
        (0..count).find(|&i| matches(i)).map_or_else(|| Named::Unknown(hex::encode(value)), Named::Trusted)
    }
}

/// Why no signature was accepted, most telling reason first.
#[derive(Default)]
struct Verdict {
    bad: Option<usize>,
    untrusted: Option<String>,
    unsupported: Option<u16>,
}

impl Verdict {
    fn into_error(self) -> ImageError {
        if let Some(key_index) = self.bad {
            ImageError::BadSignature { key_index }
        } else if let Some(key_hash) = self.untrusted {
            ImageError::UntrustedKey { key_hash }
        } else if let Some(kind) = self.unsupported {
            unsupported(kind)
        } else {
            ImageError::Unsigned
        }
    }
}

fn unsupported(tlv_kind: u16) -> ImageError {
    ImageError::UnsupportedSignature { name: tlv::name(tlv_kind), kind: tlv_kind }
}

fn expect_len(entry: &Tlv<'_>, expected: usize) -> Result<(), ImageError> {
    if entry.value.len() == expected {
        return Ok(());
    }
    Err(ImageError::TlvLength {
        name: tlv::name(entry.kind),
        kind: entry.kind,
        len: entry.value.len(),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlv::{INFO_MAGIC, PROT_INFO_MAGIC, encode_area};
    use crate::{SigningKey, fixtures};

    fn area(entries: &[(u16, &[u8])]) -> Vec<u8> {
        let tlvs: Vec<Tlv<'_>> = entries.iter().map(|&(kind, value)| Tlv { kind, value }).collect();
        let mut out = Vec::new();
        encode_area(&mut out, INFO_MAGIC, &tlvs).unwrap();
        out
    }

    fn run(entries: &[(u16, &[u8])], digest: &[u8; 32], keys: &[TrustedKey]) -> Result<usize, ImageError> {
        let bytes = area(entries);
        let area = TlvArea::parse(&bytes, INFO_MAGIC, 0).unwrap();
        hash(&area, digest)?;
        signature(&area, digest, keys)
    }

    fn keys() -> (SigningKey, SigningKey, Vec<TrustedKey>) {
        let ed = SigningKey::from_pem(fixtures::TRUSTED_PRIV).unwrap();
        let ec = SigningKey::from_pem(fixtures::ECDSA_PRIV).unwrap();
        let trusted = vec![ec.public(), ed.public()];
        (ed, ec, trusted)
    }

    #[test]
    fn keyhash_selects_the_key_and_order_of_keys_is_reported() {
        let (ed, ec, trusted) = keys();
        let digest = [7; 32];
        for (key, index) in [(&ed, 1), (&ec, 0)] {
            let (sig_kind, sig) = key.sign_digest(&digest).unwrap();
            let hash = key.public().key_hash();
            let with_hash = [(kind::SHA256, &digest[..]), (kind::KEYHASH, &hash[..]), (sig_kind, &sig[..])];
            assert_eq!(run(&with_hash, &digest, &trusted).unwrap(), index);
            // Without KEYHASH every key of the right type is tried.
            let bare = [(kind::SHA256, &digest[..]), (sig_kind, &sig[..])];
            assert_eq!(run(&bare, &digest, &trusted).unwrap(), index);
        }
    }

    #[test]
    fn verdicts_for_hand_made_areas() {
        let (ed, _, trusted) = keys();
        let digest = [7; 32];
        let (_, sig) = ed.sign_digest(&digest).unwrap();
        let ed_hash = ed.public().key_hash();
        let other = [9u8; 32];
        let ec_hash = trusted[0].key_hash();
        type Entries<'a> = Vec<(u16, &'a [u8])>;
        let cases: Vec<(Entries<'_>, &str)> = vec![
            (vec![], "MissingSha256"),
            (vec![(kind::SHA256, &other)], "HashMismatch"),
            (vec![(kind::SHA256, &digest[..31])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::ED25519, &sig[..63])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash[..16])], "TlvLength"),
            (vec![(kind::SHA256, &digest)], "Unsigned"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash)], "Unsigned"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &other), (kind::ED25519, &sig)], "UntrustedKey"),
            (
                vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash), (kind::ED25519, &[0; 64])],
                "BadSignature",
            ),
            (vec![(kind::SHA256, &digest), (kind::ED25519, &[0; 64])], "UntrustedKey"),
            (vec![(kind::SHA256, &digest), (kind::RSA2048, &[0; 256])], "UnsupportedSignature"),
            (
                vec![(kind::SHA256, &digest), (kind::KEYHASH, &other), (kind::RSA3072, &[0; 384])],
                "UnsupportedSignature",
            ),
            (
                vec![(kind::SHA512, &[0; 64]), (kind::SIG_PURE, &[1]), (kind::ED25519, &sig)],
                "UnsupportedSignature",
            ),
            (vec![(kind::SHA256, &digest), (kind::ECDSA, &sig)], "UntrustedKey"),
            // A trusted ECDSA key named, then an Ed25519 signature: that key did not sign it.
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ec_hash), (kind::ED25519, &sig)], "BadSignature"),
        ];
        for (entries, want) in cases {
            let err = run(&entries, &digest, &trusted).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{entries:02x?}: want {want}, got {err:?}");
        }
        // No trusted key at all: a valid signature is still "not trusted".
        let ok = [(kind::SHA256, &digest[..]), (kind::ED25519, &sig[..])];
        assert!(matches!(run(&ok, &digest, &[]), Err(ImageError::UntrustedKey { .. })));
        // A second, valid signature after a bad one is accepted, as MCUboot does.
        let two = [(kind::SHA256, &digest[..]), (kind::ED25519, &[0; 64][..]), (kind::ED25519, &sig[..])];
        assert_eq!(run(&two, &digest, &trusted).unwrap(), 1);
    }

    #[test]
    fn protected_area_refuses_hashes_keys_and_signatures() {
        let mut bytes = Vec::new();
        encode_area(&mut bytes, PROT_INFO_MAGIC, &[Tlv { kind: kind::SEC_CNT, value: &[7, 0, 0, 0] }])
            .unwrap();
        assert!(protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).is_ok());
        for misplaced in [kind::SHA256, kind::KEYHASH, kind::ED25519, kind::ECDSA, kind::SIG_PURE] {
            let mut bytes = Vec::new();
            encode_area(&mut bytes, PROT_INFO_MAGIC, &[Tlv { kind: misplaced, value: &[0; 32] }]).unwrap();
            let err = protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).unwrap_err();
            assert!(matches!(err, ImageError::MisplacedTlv { kind, .. } if kind == misplaced));
        }
        let mut bytes = Vec::new();
        encode_area(&mut bytes, PROT_INFO_MAGIC, &[Tlv { kind: kind::SEC_CNT, value: &[7] }]).unwrap();
        let err = protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).unwrap_err();
        assert!(matches!(err, ImageError::TlvLength { kind: kind::SEC_CNT, .. }));
    }
}
