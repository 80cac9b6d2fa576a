//! Fuzz target: MCUboot image bytes through the streaming verifier and the header, TLV and
//! type-detection parsers (`atfota-image`).
//!
//! Checks that nothing panics or buffers without bound, and that the verdict does not depend
//! on how the bytes arrive: the input's chunking, one single update and `verify_reader` must
//! agree (a pure image's second pass is fed with the same chunking), a rejected stream stays
//! rejected, and an accepted image's digest (SHA-256, SHA-384 or SHA-512, by its signer),
//! length, header and security counter are what an independent reading of its bytes gives.
//! The keys are one of every type imgtool makes, so every signature path is reached. It never
//! reads a file at run time.

#![no_main]

use std::io::Cursor;
use std::sync::LazyLock;

use atfota_fuzz::input;
use atfota_image::tlv::{INFO_LEN, INFO_MAGIC, PROT_INFO_MAGIC, TlvArea};
use atfota_image::{
    DETECT_LEN, Detection, Finish, ImageDigest, ImageError, ImageHeader, ImageKind, StreamVerifier,
    TrustedKey, VerifiedImage, verify_reader,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The development key and the fixtures' keys, so that the seed images verify.
static KEYS: LazyLock<Vec<TrustedKey>> = LazyLock::new(|| {
    let pem = |text: &str| TrustedKey::from_pem(text).unwrap_or_else(|e| panic!("fixture key: {e}"));
    vec![
        TrustedKey::development(),
        pem(include_str!("../../testdata/keys/trusted-ed25519.pub.pem")),
        pem(include_str!("../../testdata/keys/ecdsa-p256.pub.pem")),
        pem(include_str!("../../testdata/keys/ecdsa-p384.pub.pem")),
        pem(include_str!("../../testdata/keys/rsa-2048.pub.pem")),
        pem(include_str!("../../testdata/keys/rsa-3072.pub.pem")),
    ]
});

/// A verdict with its error as text, so that verdicts can be compared.
type Verdict = Result<VerifiedImage, String>;

fuzz_target!(|data: &[u8]| {
    let ([p0, p1, p2, l0, l1], image) = input::header::<5>(data);
    let limit = match u16::from_le_bytes([l0, l1]) {
        0xffff => u64::MAX,
        l => u64::from(l) * 4,
    };
    let chunked = verify_chunked(&[p0, p1, p2], image, limit);
    if image.len() as u64 <= limit {
        let whole = verify_chunked(&[], image, limit);
        assert_eq!(chunked, whole, "the verdict depends on the chunking");
        let read = verify_reader(Cursor::new(image), limit, &KEYS).map_err(|e| format!("{e:?}"));
        assert_eq!(chunked, read, "verify_reader disagrees with the streaming verifier");
    }
    if let Ok(verified) = &chunked {
        check_verified(verified, image, limit);
    }
    check_header(image);
    check_tlv_areas(image);
    check_detect(image);
});

/// Feeds `image` in chunks (with empty updates around them) and finishes, feeding a pure
/// image's hashed region again, chunked the same way, to its second pass.
fn verify_chunked(pattern: &[u8], image: &[u8], limit: u64) -> Verdict {
    let mut verifier = StreamVerifier::new(limit, &KEYS);
    let mut failure = None;
    for chunk in std::iter::once(&[][..]).chain(input::chunks(pattern, image)).chain([&[][..]]) {
        if let Err(e) = verifier.update(chunk) {
            failure = Some(format!("{e:?}"));
            break;
        }
        assert!(verifier.bytes_seen() <= limit, "more bytes accepted than the limit");
        check_progress(&verifier, image);
    }
    let Some(failure) = failure else {
        return match verifier.finish(&KEYS).map_err(|e| format!("{e:?}"))? {
            Finish::Verified(verified) => Ok(verified),
            Finish::SecondPass(mut pass) => {
                assert!(pass.range().end <= image.len() as u64, "second pass wants bytes never seen");
                for chunk in input::chunks(pattern, image) {
                    pass.update(chunk).map_err(|e| format!("{e:?}"))?;
                }
                assert_eq!(pass.needed(), 0);
                pass.finish().map_err(|e| format!("{e:?}"))
            }
            other => panic!("unknown outcome {other:?}"),
        };
    };
    // A rejected stream stays rejected, whatever comes next.
    assert!(matches!(verifier.update(b"x"), Err(ImageError::AlreadyFailed)));
    assert_eq!(verifier.needed(), 0);
    assert!(matches!(verifier.finish(&KEYS), Err(ImageError::AlreadyFailed)));
    Err(failure)
}

/// What the verifier reports mid-stream is what the bytes say.
fn check_progress(verifier: &StreamVerifier, image: &[u8]) {
    let Some(header) = verifier.header() else {
        assert!(verifier.bytes_seen() < ImageHeader::LEN as u64, "32 bytes accepted without a header");
        return;
    };
    assert_eq!(Some(header), ImageHeader::parse(image).ok().as_ref(), "header differs from the bytes");
    if let Some(total) = verifier.total_len() {
        assert!(total >= header.hashed_len() + INFO_LEN as u64, "total {total} shorter than its parts");
    }
}

fn check_verified(verified: &VerifiedImage, image: &[u8], limit: u64) {
    let total = usize::try_from(verified.total_len).expect("a verified length fits the input");
    assert!(total <= image.len() && verified.total_len <= limit);
    assert!(verified.key_index < KEYS.len());
    let header = ImageHeader::parse(image).expect("a verified image has a header");
    assert_eq!(verified.header, header);
    let hashed = usize::try_from(header.hashed_len()).expect("hashed bytes are in the input");
    assert!(hashed + INFO_LEN <= total);
    let region = &image[..hashed];
    let expected = match verified.digest {
        ImageDigest::Sha256(_) => ImageDigest::Sha256(Sha256::digest(region).into()),
        ImageDigest::Sha384(_) => ImageDigest::Sha384(Sha384::digest(region).into()),
        ImageDigest::Sha512(_) => ImageDigest::Sha512(Sha512::digest(region).into()),
        other => panic!("unknown digest {other:?}"),
    };
    assert_eq!(verified.digest, expected, "digest is not the hash of the hashed bytes");
    if verified.security_counter.is_some() {
        assert_ne!(header.protect_tlv_size, 0, "a security counter outside the protected area");
    }
    // The bytes after the image are not part of it.
    let alone = verify_chunked(&[], &image[..total], limit);
    assert_eq!(alone.as_ref(), Ok(verified), "trailing bytes changed the verdict");
}

/// A header that parses is written back to the same bytes (its padding aside).
fn check_header(image: &[u8]) {
    let Ok(header) = ImageHeader::parse(image) else { return };
    let mut out = [0u8; ImageHeader::LEN];
    header.emit(&mut out);
    assert_eq!(out[..0x1c], image[..0x1c], "header does not round-trip");
    assert_eq!(ImageHeader::parse(&out).ok(), Some(header));
    let _ = header.check_bootable();
}

/// Parses a TLV area at the start of the input, and where the header says the areas are.
fn check_tlv_areas(image: &[u8]) {
    for magic in [INFO_MAGIC, PROT_INFO_MAGIC] {
        check_tlv_area(image, magic);
    }
    let Ok(header) = ImageHeader::parse(image) else { return };
    let (Ok(tlvs), Ok(hashed)) = (usize::try_from(header.tlv_offset()), usize::try_from(header.hashed_len()))
    else {
        return;
    };
    if header.protect_tlv_size != 0
        && let Some(protected) = image.get(tlvs..)
    {
        check_tlv_area(protected, PROT_INFO_MAGIC);
    }
    if let Some(unprotected) = image.get(hashed..) {
        check_tlv_area(unprotected, INFO_MAGIC);
    }
}

fn check_tlv_area(bytes: &[u8], magic: u16) {
    let Ok(area) = TlvArea::parse(bytes, magic, 0) else { return };
    assert!(area.len() >= INFO_LEN && area.len() <= bytes.len());
    let entries: usize = area.iter().map(|tlv| INFO_LEN + tlv.value.len()).sum();
    assert_eq!(INFO_LEN + entries, area.len(), "entries do not fill the area");
    assert_eq!(area.is_empty(), area.iter().next().is_none());
}

/// Only the first bytes decide, and enough of them always decide.
fn check_detect(image: &[u8]) {
    let verdict = ImageKind::detect(image);
    assert_eq!(verdict, ImageKind::detect(&image[..image.len().min(DETECT_LEN)]));
    if image.len() >= DETECT_LEN {
        assert_ne!(verdict, Detection::NeedMore);
    }
}
