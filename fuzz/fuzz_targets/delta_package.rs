//! Fuzz target: modem delta package bytes through `DeltaVerifier` and `DeltaHeader::parse`
//! (`atfota-image`).
//!
//! Input: [3 chunk-pattern bytes, limit u16 LE: 0xffff none, else limit * 4], then the package.
//! Checks that nothing panics or buffers without bound; that the verdict does not depend on
//! the chunking; that a rejected stream stays rejected; that the header is known exactly once
//! its 0x140 bytes arrived, equals `DeltaHeader::parse` of them and emits back to them (so its
//! UUIDs belong to its digests); and that an accepted package's digest is the hash of its header
//! and patch, with the patch where the header says. It never reads a file at run time.

#![no_main]

use std::sync::LazyLock;

use atfota_fuzz::input;
use atfota_image::{
    DeltaHeader, DeltaVerifier, ImageDigest, ImageError, TrustedKey, VerifiedDelta, modem_uuid,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256, Sha384};

/// The development key (the seeds are signed with it) and one key of every other type.
static KEYS: LazyLock<Vec<TrustedKey>> = LazyLock::new(|| {
    let pem = |text: &str| TrustedKey::from_pem(text).unwrap_or_else(|e| panic!("fixture key: {e}"));
    vec![
        TrustedKey::development(),
        pem(include_str!("../../testdata/keys/ecdsa-p256.pub.pem")),
        pem(include_str!("../../testdata/keys/ecdsa-p384.pub.pem")),
        pem(include_str!("../../testdata/keys/rsa-2048.pub.pem")),
    ]
});

/// A verdict with its error as text, so that verdicts can be compared.
type Verdict = Result<VerifiedDelta, String>;

fuzz_target!(|data: &[u8]| {
    let ([p0, p1, p2, l0, l1], package) = input::header::<5>(data);
    let limit = match u16::from_le_bytes([l0, l1]) {
        0xffff => u64::MAX,
        l => u64::from(l) * 4,
    };
    let chunked = verify_chunked(&[p0, p1, p2], package, limit);
    if package.len() as u64 <= limit {
        let whole = verify_chunked(&[], package, limit);
        assert_eq!(chunked, whole, "the verdict depends on the chunking");
    }
    if let Ok(verified) = &chunked {
        check_verified(verified, package, limit);
    }
    check_header(package);
});

fn verify_chunked(pattern: &[u8], package: &[u8], limit: u64) -> Verdict {
    let mut verifier = DeltaVerifier::new(limit, &KEYS);
    let mut failure = None;
    for chunk in std::iter::once(&[][..]).chain(input::chunks(pattern, package)).chain([&[][..]]) {
        if let Err(e) = verifier.update(chunk) {
            failure = Some(format!("{e:?}"));
            break;
        }
        assert!(verifier.bytes_seen() <= limit, "more bytes accepted than the limit");
        let seen = usize::try_from(verifier.bytes_seen()).expect("fed bytes fit in memory");
        match verifier.header() {
            Some(header) => {
                assert!(seen >= DeltaHeader::LEN);
                assert_eq!(
                    Some(header),
                    DeltaHeader::parse(package).ok().as_ref(),
                    "header differs from the bytes"
                );
            }
            None => assert!(seen < DeltaHeader::LEN, "0x140 bytes accepted without a header"),
        }
    }
    let Some(failure) = failure else {
        return verifier.finish(&KEYS).map_err(|e| format!("{e:?}"));
    };
    assert!(matches!(verifier.update(b"x"), Err(ImageError::AlreadyFailed)));
    assert_eq!(verifier.needed(), 0);
    assert!(matches!(verifier.finish(&KEYS), Err(ImageError::AlreadyFailed)));
    Err(failure)
}

fn check_verified(verified: &VerifiedDelta, package: &[u8], limit: u64) {
    let total = usize::try_from(verified.total_len).expect("a verified length fits the input");
    assert!(total <= package.len() && verified.total_len <= limit);
    assert!(verified.key_index < KEYS.len());
    assert_eq!(verified.patch_offset, DeltaHeader::LEN as u64);
    assert_eq!(verified.patch_len, u64::from(verified.header.patch_len));
    let signed = usize::try_from(verified.patch_offset + verified.patch_len).expect("in the input");
    assert!(signed + 4 <= total);
    let region = &package[..signed];
    let expected = match verified.digest {
        ImageDigest::Sha256(_) => ImageDigest::Sha256(Sha256::digest(region).into()),
        ImageDigest::Sha384(_) => ImageDigest::Sha384(Sha384::digest(region).into()),
        other => panic!("a delta package verified with {other:?}"),
    };
    assert_eq!(verified.digest, expected, "digest is not the hash of header and patch");
    let alone = verify_chunked(&[], &package[..total], limit);
    assert_eq!(alone.as_ref(), Ok(verified), "trailing bytes changed the verdict");
}

/// A header that parses emits back to exactly its bytes, its UUIDs those of its digests.
fn check_header(package: &[u8]) {
    let Ok(header) = DeltaHeader::parse(package) else { return };
    let mut out = Vec::new();
    header.emit(&mut out);
    assert_eq!(out[..], package[..DeltaHeader::LEN], "header does not round-trip");
    assert_eq!(header.source.uuid(), modem_uuid(&header.source.sha256));
    assert_eq!(header.source.uuid().len(), 36);
    assert!(header.target.version.as_str().bytes().all(|b| (0x20..0x7f).contains(&b)));
}
