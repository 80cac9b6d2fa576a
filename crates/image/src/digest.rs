//! The hashes an image is checked with: which ones a set of trusted keys needs, computing them
//! in one pass, and the digest a verified image reports.
//!
//! Owns imgtool's choice of hash per signature (SHA-384 for ECDSA P-384, SHA-512 for pure
//! Ed25519, SHA-256 for everything else). It must never compute a hash that no trusted key can
//! use: each one is a full pass of CPU over the image (SHA-384 next to SHA-256 halves the
//! verifier's throughput).

use std::fmt;

use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::TrustedKey;
use crate::tlv::kind;

/// The hash TLV value that a verified image or package was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageDigest {
    /// SHA-256 (TLV 0x10): Ed25519, ECDSA P-256 and RSA signatures.
    Sha256([u8; 32]),
    /// SHA-384 (TLV 0x11): ECDSA P-384 signatures.
    Sha384([u8; 48]),
    /// SHA-512 (TLV 0x12): pure Ed25519 signatures (`imgtool sign --pure`).
    Sha512([u8; 64]),
}

impl ImageDigest {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ImageDigest::Sha256(digest) => digest,
            ImageDigest::Sha384(digest) => digest,
            ImageDigest::Sha512(digest) => digest,
        }
    }

    /// The TLV type that carries this digest in an image.
    pub fn tlv_kind(&self) -> u16 {
        self.hash().tlv_kind()
    }

    /// The algorithm's name as imgtool writes it ("SHA256", ...).
    pub fn name(&self) -> &'static str {
        crate::tlv::name(self.tlv_kind())
    }

    fn hash(&self) -> HashKind {
        match self {
            ImageDigest::Sha256(_) => HashKind::Sha256,
            ImageDigest::Sha384(_) => HashKind::Sha384,
            ImageDigest::Sha512(_) => HashKind::Sha512,
        }
    }
}

impl fmt::Display for ImageDigest {
    /// Lowercase hex, like `imgtool dumpinfo`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

/// A hash algorithm used for images and key hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashKind {
    Sha256,
    Sha384,
    Sha512,
}

impl HashKind {
    /// The hash a TLV of this type carries, if it is a hash TLV.
    pub(crate) fn of_tlv(tlv_kind: u16) -> Option<Self> {
        match tlv_kind {
            kind::SHA256 => Some(HashKind::Sha256),
            kind::SHA384 => Some(HashKind::Sha384),
            kind::SHA512 => Some(HashKind::Sha512),
            _ => None,
        }
    }

    /// The hash whose output has `len` bytes (how a KEYHASH TLV says which hash it is).
    pub(crate) fn of_len(len: usize) -> Option<Self> {
        [HashKind::Sha256, HashKind::Sha384, HashKind::Sha512].into_iter().find(|hash| hash.len() == len)
    }

    pub(crate) fn tlv_kind(self) -> u16 {
        match self {
            HashKind::Sha256 => kind::SHA256,
            HashKind::Sha384 => kind::SHA384,
            HashKind::Sha512 => kind::SHA512,
        }
    }

    pub(crate) fn len(self) -> usize {
        match self {
            HashKind::Sha256 => 32,
            HashKind::Sha384 => 48,
            HashKind::Sha512 => 64,
        }
    }

    /// The digest of `data` (small inputs: keys, test regions).
    pub(crate) fn digest(self, data: &[u8]) -> ImageDigest {
        match self {
            HashKind::Sha256 => ImageDigest::Sha256(Sha256::digest(data).into()),
            HashKind::Sha384 => ImageDigest::Sha384(Sha384::digest(data).into()),
            HashKind::Sha512 => ImageDigest::Sha512(Sha512::digest(data).into()),
        }
    }
}

/// The hashes of one pass over an image's hashed region, only those some trusted key needs.
#[derive(Debug, Clone)]
pub(crate) struct Hasher {
    sha256: Option<Sha256>,
    sha384: Option<Sha384>,
}

impl Hasher {
    /// Computes SHA-384 only when an ECDSA P-384 key is trusted, and SHA-256 unless every
    /// trusted key is a P-384 key. With no key at all SHA-256 is still computed, so that an
    /// intact image is reported as untrusted rather than as unverifiable.
    pub(crate) fn for_keys(keys: &[TrustedKey]) -> Self {
        let sha384 = keys.iter().any(|key| key.hash_kind() == HashKind::Sha384);
        let sha256 = keys.iter().any(|key| key.hash_kind() == HashKind::Sha256) || !sha384;
        Hasher { sha256: sha256.then(Sha256::new), sha384: sha384.then(Sha384::new) }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        if let Some(hasher) = &mut self.sha256 {
            hasher.update(data);
        }
        if let Some(hasher) = &mut self.sha384 {
            hasher.update(data);
        }
    }

    pub(crate) fn finalize(self) -> Digests {
        Digests {
            sha256: self.sha256.map(|hasher| hasher.finalize().into()),
            sha384: self.sha384.map(|hasher| hasher.finalize().into()),
        }
    }
}

/// Digests of an image's hashed region; `None` for a hash that was not computed (or, once
/// the hash TLVs are checked, one the image does not carry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Digests {
    pub(crate) sha256: Option<[u8; 32]>,
    pub(crate) sha384: Option<[u8; 48]>,
}

impl Digests {
    /// The digest of this kind, if there is one.
    pub(crate) fn get(&self, hash: HashKind) -> Option<ImageDigest> {
        match hash {
            HashKind::Sha256 => self.sha256.map(ImageDigest::Sha256),
            HashKind::Sha384 => self.sha384.map(ImageDigest::Sha384),
            HashKind::Sha512 => None,
        }
    }

    /// Keeps only the digests of these kinds.
    pub(crate) fn only(self, keep: impl Fn(HashKind) -> bool) -> Self {
        Digests {
            sha256: self.sha256.filter(|_| keep(HashKind::Sha256)),
            sha384: self.sha384.filter(|_| keep(HashKind::Sha384)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn hashes_follow_the_trusted_keys() {
        let ed = TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap();
        let p384 = TrustedKey::from_pem(fixtures::P384_PUB).unwrap();
        let rsa = TrustedKey::from_pem(fixtures::RSA2048_PUB).unwrap();
        let computed = |keys: &[TrustedKey]| {
            let digests = Hasher::for_keys(keys).finalize();
            (digests.sha256.is_some(), digests.sha384.is_some())
        };
        assert_eq!(computed(&[]), (true, false));
        assert_eq!(computed(std::slice::from_ref(&ed)), (true, false));
        assert_eq!(computed(&[rsa]), (true, false));
        assert_eq!(computed(std::slice::from_ref(&p384)), (false, true));
        assert_eq!(computed(&[ed, p384]), (true, true));
    }

    #[test]
    fn one_pass_gives_the_plain_digests() {
        let keys = [TrustedKey::development(), TrustedKey::from_pem(fixtures::P384_PUB).unwrap()];
        let mut hasher = Hasher::for_keys(&keys);
        hasher.update(b"ab");
        hasher.update(b"c");
        let digests = hasher.finalize();
        assert_eq!(digests.get(HashKind::Sha256), Some(HashKind::Sha256.digest(b"abc")));
        assert_eq!(digests.get(HashKind::Sha384), Some(HashKind::Sha384.digest(b"abc")));
        assert_eq!(
            HashKind::Sha256.digest(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digests.only(|hash| hash == HashKind::Sha384).sha256, None);
    }

    #[test]
    fn kinds_by_tlv_and_length() {
        for hash in [HashKind::Sha256, HashKind::Sha384, HashKind::Sha512] {
            assert_eq!(HashKind::of_tlv(hash.tlv_kind()), Some(hash));
            assert_eq!(HashKind::of_len(hash.len()), Some(hash));
            assert_eq!(hash.digest(b"").as_bytes().len(), hash.len());
            assert_eq!(hash.digest(b"").tlv_kind(), hash.tlv_kind());
        }
        assert_eq!(HashKind::of_tlv(kind::KEYHASH), None);
        assert_eq!(HashKind::of_len(20), None);
        assert_eq!(HashKind::Sha512.digest(b"").name(), "SHA512");
    }
}
