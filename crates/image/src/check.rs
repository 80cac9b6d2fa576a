//! What the TLVs of a complete image or delta package mean: hash check, key identification,
//! signature verdict, security counter.
//!
//! Owns the verdict rules (which TLVs are required, which are refused, which error wins when
//! several apply), for application images and delta packages alike. Works on already-checked
//! [`TlvArea`]s and finished digests; it must never see the image body, so it cannot make the
//! verifiers' memory grow, and it must never verify a signature against a digest that no hash
//! TLV of the image confirmed.

use crate::digest::{Digests, HashKind};
use crate::tlv::{self, Tlv, TlvArea, kind};
use crate::{ImageError, TrustedKey};

/// The most (signature, key) pairs a pure image may make the second pass check: each one is a
/// SHA-512 over the whole image. imgtool makes one.
pub(crate) const MAX_PURE_CANDIDATES: usize = 8;

/// Refuses TLVs that mean nothing inside the protected (hashed) area; returns the security
/// counter (SEC_CNT) if there is one.
pub(crate) fn protected_area(area: &TlvArea<'_>) -> Result<Option<u32>, ImageError> {
    let mut counter = None;
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
            return Err(misplaced(entry.kind, "protected", "unprotected"));
        }
        if entry.kind == kind::SEC_CNT {
            expect_len(&entry, 4)?;
            if counter.is_some() {
                return Err(ImageError::DuplicateTlv { name: tlv::name(kind::SEC_CNT), kind: kind::SEC_CNT });
            }
            counter =
                Some(u32::from_le_bytes([entry.value[0], entry.value[1], entry.value[2], entry.value[3]]));
        }
    }
    Ok(counter)
}

/// How an image is signed, as its unprotected TLVs say once the hashes checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Signatures over a digest; only the digests a hash TLV confirmed are kept.
    Digest(Digests),
    /// A pure Ed25519 signature over the hashed region (SIG_PURE), and the SHA512 TLV that a
    /// second pass over the region must reproduce.
    Pure {
        /// The SHA512 TLV value.
        sha512: [u8; 64],
    },
}

/// Checks the unprotected area's shape and every hash TLV whose digest was `computed`.
///
/// An image needs at least one hash TLV, and a pure one (allowed only if `allow_pure`) a
/// SHA512 TLV. Hash TLVs of a kind not computed (no trusted key signs that way) are left
/// unchecked; no signature can be verified against them.
pub(crate) fn hash(area: &TlvArea<'_>, computed: &Digests, allow_pure: bool) -> Result<Mode, ImageError> {
    shape(area)?;
    let pure = area.iter().any(|entry| entry.kind == kind::SIG_PURE);
    if pure && !allow_pure {
        return Err(ImageError::PureNotAllowed);
    }
    let mut found = None;
    let mut matched = Vec::new();
    let mut sha512 = None;
    for entry in area.iter() {
        let Some(hash) = HashKind::of_tlv(entry.kind) else { continue };
        found.get_or_insert(hash);
        if hash == HashKind::Sha512 {
            sha512 = <[u8; 64]>::try_from(entry.value).ok();
        }
        let Some(digest) = computed.get(hash) else { continue };
        if entry.value != digest.as_bytes() {
            return Err(ImageError::HashMismatch {
                name: tlv::name(entry.kind),
                expected: hex::encode(entry.value),
                computed: digest.to_string(),
            });
        }
        matched.push(hash);
    }
    match (pure, found, sha512) {
        (true, _, Some(sha512)) => Ok(Mode::Pure { sha512 }),
        (true, _, None) | (false, None, _) => Err(ImageError::MissingHash { pure }),
        (false, Some(_), _) => Ok(Mode::Digest(computed.only(|hash| matched.contains(&hash)))),
    }
}

/// Finds a signature TLV that a trusted key verifies over the confirmed `digests`; returns
/// that key's index in `keys`.
pub(crate) fn signature(
    area: &TlvArea<'_>,
    digests: &Digests,
    keys: &[TrustedKey],
) -> Result<usize, ImageError> {
    let attempts = attempts(area, keys, false);
    let kinds = key_kinds(keys);
    decide(&attempts, &kinds, |key, attempt| {
        let attempt = &attempts[attempt];
        keys[key].verifies(attempt.kind, digests, &attempt.signature)
    })
}

/// One signature TLV and who is said to have made it.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// The signature TLV type.
    pub(crate) kind: u16,
    /// Its value (at most a few hundred bytes).
    pub(crate) signature: Vec<u8>,
    /// The key the KEYHASH/PUBKEY TLV before it names.
    pub(crate) signer: Signer,
}

/// The signer of one signature TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signer {
    /// A trusted key, by index.
    Named(usize),
    /// A key that is not trusted; the hex KEYHASH or PUBKEY, for the message.
    Unknown(String),
    /// No key named: every trusted key of the signature's type is tried.
    Any,
    /// A signature type a pure image cannot use (only Ed25519 signs pure).
    Unusable,
}

/// The signature TLVs of `area` in order, each with its signer.
///
/// Like MCUboot, a KEYHASH or PUBKEY TLV names the key for the signature TLVs after it.
pub(crate) fn attempts(area: &TlvArea<'_>, keys: &[TrustedKey], pure: bool) -> Vec<Attempt> {
    let mut named = Signer::Any;
    let mut attempts = Vec::new();
    for entry in area.iter() {
        match entry.kind {
            kind::KEYHASH => named = find(entry.value, |key| key.matches_key_hash(entry.value), keys),
            kind::PUBKEY => named = find(entry.value, |key| key.matches_public_key(entry.value), keys),
            kind::ED25519 | kind::ECDSA | kind::RSA2048 | kind::RSA3072 => {
                let signer =
                    if pure && entry.kind != kind::ED25519 { Signer::Unusable } else { named.clone() };
                attempts.push(Attempt { kind: entry.kind, signature: entry.value.to_vec(), signer });
            }
            _ => {}
        }
    }
    attempts
}

/// The signature TLV type each trusted key signs with, by index.
pub(crate) fn key_kinds(keys: &[TrustedKey]) -> Vec<u16> {
    keys.iter().map(TrustedKey::signature_kind).collect()
}

/// The keys to try for one attempt, in order.
pub(crate) fn keys_to_try(attempt: &Attempt, key_kinds: &[u16]) -> Vec<usize> {
    match attempt.signer {
        // A named key of another type cannot have made this signature.
        Signer::Named(index) if key_kinds.get(index) == Some(&attempt.kind) => vec![index],
        Signer::Any => (0..key_kinds.len()).filter(|&index| key_kinds[index] == attempt.kind).collect(),
        _ => Vec::new(),
    }
}

/// The verdict over `attempts`: the first (attempt, key) pair that `verifies(key, attempt)`
/// accepts wins, as in MCUboot one valid signature by a trusted key suffices; otherwise the
/// most telling reason why none did.
pub(crate) fn decide(
    attempts: &[Attempt],
    key_kinds: &[u16],
    mut verifies: impl FnMut(usize, usize) -> bool,
) -> Result<usize, ImageError> {
    let mut verdict = Verdict::default();
    for (index, attempt) in attempts.iter().enumerate() {
        if let Some(key) = keys_to_try(attempt, key_kinds).into_iter().find(|&key| verifies(key, index)) {
            return Ok(key);
        }
        match &attempt.signer {
            Signer::Named(key) => {
                verdict.bad.get_or_insert(*key);
            }
            Signer::Unknown(hash) => {
                verdict.untrusted.get_or_insert_with(|| hash.clone());
            }
            // The hash already matched, so this is most likely another key's work.
            Signer::Any => {
                verdict.untrusted.get_or_insert_with(|| "not named in the image".to_owned());
            }
            Signer::Unusable => {
                verdict.unusable.get_or_insert(attempt.kind);
            }
        }
    }
    Err(verdict.into_error())
}

fn find(value: &[u8], matches: impl Fn(&TrustedKey) -> bool, keys: &[TrustedKey]) -> Signer {
    keys.iter().position(matches).map_or_else(|| Signer::Unknown(hex::encode(value)), Signer::Named)
}

/// Why no signature was accepted, most telling reason first.
#[derive(Default)]
struct Verdict {
    bad: Option<usize>,
    untrusted: Option<String>,
    unusable: Option<u16>,
}

impl Verdict {
    fn into_error(self) -> ImageError {
        if let Some(key_index) = self.bad {
            ImageError::BadSignature { key_index }
        } else if let Some(key_hash) = self.untrusted {
            ImageError::UntrustedKey { key_hash }
        } else if let Some(kind) = self.unusable {
            ImageError::PureNeedsEd25519 { found: tlv::name(kind) }
        } else {
            ImageError::Unsigned
        }
    }
}

/// Length and value rules of the unprotected TLVs this crate reads.
fn shape(area: &TlvArea<'_>) -> Result<(), ImageError> {
    // imgtool hashes the key with the image's hash, so KEYHASH is as long as the hash TLV
    // (SHA-512 for a pure image).
    let pure = area.iter().any(|entry| entry.kind == kind::SIG_PURE);
    let image_hash = area.iter().find_map(|entry| HashKind::of_tlv(entry.kind));
    let key_hash_len = image_hash.map_or(if pure { 64 } else { 32 }, HashKind::len);
    for entry in area.iter() {
        match entry.kind {
            kind::SHA256 | kind::SHA384 | kind::SHA512 => {
                let hash = HashKind::of_tlv(entry.kind).map_or(0, HashKind::len);
                expect_len(&entry, hash)?;
            }
            kind::KEYHASH => expect_len(&entry, key_hash_len)?,
            kind::ED25519 => expect_len(&entry, 64)?,
            kind::RSA2048 => expect_len(&entry, 256)?,
            kind::RSA3072 => expect_len(&entry, 384)?,
            kind::SIG_PURE => {
                expect_len(&entry, 1)?;
                if entry.value != [1] {
                    return Err(ImageError::TlvValue {
                        name: tlv::name(entry.kind),
                        kind: entry.kind,
                        reason: "it must be 01 (true)",
                    });
                }
            }
            // An unprotected counter could be changed without breaking the signature.
            kind::SEC_CNT => return Err(misplaced(entry.kind, "unprotected", "protected")),
            _ => {}
        }
    }
    Ok(())
}

fn misplaced(tlv_kind: u16, found_in: &'static str, belongs_in: &'static str) -> ImageError {
    ImageError::MisplacedTlv { name: tlv::name(tlv_kind), kind: tlv_kind, found_in, belongs_in }
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

    /// The digest-mode verdict; `usize::MAX` stands for "pure: needs the second pass".
    fn run(entries: &[(u16, &[u8])], digest: &[u8; 32], keys: &[TrustedKey]) -> Result<usize, ImageError> {
        let bytes = area(entries);
        let area = TlvArea::parse(&bytes, INFO_MAGIC, 0).unwrap();
        let computed = Digests { sha256: Some(*digest), sha384: None };
        match hash(&area, &computed, true)? {
            Mode::Digest(confirmed) => signature(&area, &confirmed, keys),
            Mode::Pure { .. } => Ok(usize::MAX),
        }
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
            // Named by its full public key instead.
            let der = key.public().to_der();
            let with_key = [(kind::SHA256, &digest[..]), (kind::PUBKEY, &der[..]), (sig_kind, &sig[..])];
            assert_eq!(run(&with_key, &digest, &trusted).unwrap(), index);
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
            (vec![], "MissingHash"),
            (vec![(kind::SHA256, &other)], "HashMismatch"),
            (vec![(kind::SHA256, &digest[..31])], "TlvLength"),
            (vec![(kind::SHA384, &[0; 32])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::ED25519, &sig[..63])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash[..16])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::RSA2048, &[0; 255])], "TlvLength"),
            (vec![(kind::SHA256, &digest), (kind::RSA3072, &[0; 256])], "TlvLength"),
            (vec![(kind::SHA256, &digest)], "Unsigned"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash)], "Unsigned"),
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &other), (kind::ED25519, &sig)], "UntrustedKey"),
            (
                vec![(kind::SHA256, &digest), (kind::KEYHASH, &ed_hash), (kind::ED25519, &[0; 64])],
                "BadSignature",
            ),
            (vec![(kind::SHA256, &digest), (kind::ED25519, &[0; 64])], "UntrustedKey"),
            // No RSA key is trusted.
            (vec![(kind::SHA256, &digest), (kind::RSA2048, &[0; 256])], "UntrustedKey"),
            (
                vec![(kind::SHA256, &digest), (kind::KEYHASH, &other), (kind::RSA3072, &[0; 384])],
                "UntrustedKey",
            ),
            (vec![(kind::SHA256, &digest), (kind::ECDSA, &sig)], "UntrustedKey"),
            // A trusted ECDSA key named, then an Ed25519 signature: that key did not sign it.
            (vec![(kind::SHA256, &digest), (kind::KEYHASH, &ec_hash), (kind::ED25519, &sig)], "BadSignature"),
            // Only a SHA-384 hash, which no trusted key uses: nothing can confirm the signature.
            (vec![(kind::SHA384, &[0; 48]), (kind::ED25519, &sig)], "UntrustedKey"),
            (vec![(kind::SHA256, &digest), (kind::SEC_CNT, &[1, 0, 0, 0])], "MisplacedTlv"),
            (vec![(kind::SIG_PURE, &[1]), (kind::ED25519, &sig)], "MissingHash"),
            (vec![(kind::SHA512, &[0; 64]), (kind::SIG_PURE, &[0]), (kind::ED25519, &sig)], "TlvValue"),
            (vec![(kind::SHA512, &[0; 64]), (kind::SIG_PURE, &[1, 1])], "TlvLength"),
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
        let named = [
            (kind::SHA256, &digest[..]),
            (kind::KEYHASH, &ed_hash[..]),
            (kind::ED25519, &[0; 64][..]),
            (kind::KEYHASH, &ed_hash[..]),
            (kind::ED25519, &sig[..]),
        ];
        assert_eq!(run(&named, &digest, &trusted).unwrap(), 1);
    }

    #[test]
    fn pure_areas_need_the_second_pass_and_ed25519() {
        let (_, _, trusted) = keys();
        let digest = [7; 32];
        let sha512 = [5; 64];
        let pure = [(kind::SHA512, &sha512[..]), (kind::SIG_PURE, &[1][..]), (kind::ED25519, &[0; 64][..])];
        assert_eq!(run(&pure, &digest, &trusted).unwrap(), usize::MAX);
        let bytes = area(&pure);
        let parsed = TlvArea::parse(&bytes, INFO_MAGIC, 0).unwrap();
        assert_eq!(hash(&parsed, &Digests::default(), true).unwrap(), Mode::Pure { sha512 });
        assert!(matches!(hash(&parsed, &Digests::default(), false), Err(ImageError::PureNotAllowed)));
        // Any trusted Ed25519 key is a candidate when none is named; a pure ECDSA signature is not.
        let found = attempts(&parsed, &trusted, true);
        assert_eq!(keys_to_try(&found[0], &key_kinds(&trusted)), [1]);
        let ecdsa =
            area(&[(kind::SHA512, &sha512[..]), (kind::SIG_PURE, &[1][..]), (kind::ECDSA, &[0; 70][..])]);
        let parsed = TlvArea::parse(&ecdsa, INFO_MAGIC, 0).unwrap();
        let found = attempts(&parsed, &trusted, true);
        assert_eq!(found[0].signer, Signer::Unusable);
        let err = decide(&found, &key_kinds(&trusted), |_, _| true).unwrap_err();
        assert!(matches!(err, ImageError::PureNeedsEd25519 { found: "ECDSASIG" }), "{err}");
    }

    #[test]
    fn protected_area_gives_the_counter_and_refuses_hashes_keys_and_signatures() {
        let mut bytes = Vec::new();
        encode_area(&mut bytes, PROT_INFO_MAGIC, &[Tlv { kind: kind::SEC_CNT, value: &[7, 1, 0, 0] }])
            .unwrap();
        assert_eq!(
            protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).unwrap(),
            Some(0x107)
        );
        let mut bytes = Vec::new();
        encode_area(&mut bytes, PROT_INFO_MAGIC, &[Tlv { kind: kind::DEPENDENCY, value: &[0; 12] }]).unwrap();
        assert_eq!(protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).unwrap(), None);
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
        let twice = [
            Tlv { kind: kind::SEC_CNT, value: &[7, 0, 0, 0] },
            Tlv { kind: kind::SEC_CNT, value: &[8, 0, 0, 0] },
        ];
        let mut bytes = Vec::new();
        encode_area(&mut bytes, PROT_INFO_MAGIC, &twice).unwrap();
        let err = protected_area(&TlvArea::parse(&bytes, PROT_INFO_MAGIC, 0).unwrap()).unwrap_err();
        assert!(matches!(err, ImageError::DuplicateTlv { kind: kind::SEC_CNT, .. }));
    }
}
