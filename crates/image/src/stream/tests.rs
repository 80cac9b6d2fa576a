//! Verdicts of the streaming verifier on the imgtool fixtures and on hand-made images.

use std::io::{self, Read};

use proptest::prelude::*;

use super::*;
use crate::tlv::{Tlv, encode_area, kind};
use crate::{ImageVersion, SigningKey, fixtures};

/// Slot size the fixtures were signed for (imgtool --slot-size 0x10000).
const SLOT: u64 = 0x10000;

fn trusted() -> Vec<TrustedKey> {
    vec![
        TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap(),
        TrustedKey::from_pem(fixtures::ECDSA_PUB).unwrap(),
    ]
}

/// Each fixture and what it must produce with [`trusted`] keys: a key index or an error name.
fn table() -> Vec<(&'static str, &'static [u8], Result<usize, &'static str>)> {
    vec![
        ("signed-ed25519", fixtures::SIGNED_ED25519, Ok(0)),
        ("signed-ecdsa-p256", fixtures::SIGNED_ECDSA, Ok(1)),
        ("signed-padded", fixtures::SIGNED_PADDED, Ok(0)),
        ("signed-sec-cnt", fixtures::SIGNED_SEC_CNT, Ok(0)),
        ("signed-pubkey", fixtures::SIGNED_PUBKEY, Ok(0)),
        ("unsigned", fixtures::UNSIGNED, Err("Unsigned")),
        ("signed-untrusted", fixtures::SIGNED_UNTRUSTED, Err("UntrustedKey")),
        ("signed-dev", fixtures::SIGNED_DEV, Err("UntrustedKey")),
        ("bad-hash", fixtures::BAD_HASH, Err("HashMismatch")),
        ("signed-pure", fixtures::SIGNED_PURE, Err("UnsupportedSignature")),
        ("payload", fixtures::PAYLOAD, Err("BadMagic")),
    ]
}

/// The error's variant name, for comparing verdicts (`ImageError` holds io errors, so no Eq).
fn name(error: &ImageError) -> String {
    let debug = format!("{error:?}");
    debug.split([' ', '(', '{']).next().unwrap_or_default().to_owned()
}

fn verdict(result: &Result<VerifiedImage, ImageError>) -> Result<usize, String> {
    result.as_ref().map(|image| image.key_index).map_err(name)
}

fn want(expected: &Result<usize, &str>) -> Result<usize, String> {
    expected.map_err(str::to_owned)
}

/// Feeds `image` in chunks of the given sizes (cycled), then finishes.
fn stream(
    image: &[u8],
    chunks: &[usize],
    limit: u64,
    keys: &[TrustedKey],
) -> Result<VerifiedImage, ImageError> {
    let mut verifier = StreamVerifier::new(limit);
    let mut rest = image;
    for size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        verifier.update(chunk)?;
        assert!(verifier.tlvs.len() as u64 <= MAX_TLV_LEN);
        rest = tail;
    }
    verifier.finish(keys)
}

/// Builds an image by hand: a header (sizes filled in), `body`, and the two TLV areas.
fn build(header: ImageHeader, body: &[u8], protected: &[Tlv<'_>], unprotected: &[Tlv<'_>]) -> Vec<u8> {
    let mut image = vec![0; usize::from(header.hdr_size)];
    image.extend_from_slice(body);
    let mut prot = Vec::new();
    if !protected.is_empty() {
        encode_area(&mut prot, tlv::PROT_INFO_MAGIC, protected).unwrap();
    }
    let header = ImageHeader { img_size: body.len() as u32, protect_tlv_size: prot.len() as u16, ..header };
    header.emit(&mut image);
    image.extend_from_slice(&prot);
    let digest: [u8; 32] = Sha256::digest(&image).into();
    let mut entries = vec![Tlv { kind: kind::SHA256, value: &digest }];
    entries.extend_from_slice(unprotected);
    encode_area(&mut image, tlv::INFO_MAGIC, &entries).unwrap();
    image
}

fn plain_header() -> ImageHeader {
    ImageHeader {
        load_addr: 0,
        hdr_size: 0x40,
        protect_tlv_size: 0,
        img_size: 0,
        flags: 0,
        version: ImageVersion { major: 0, minor: 1, revision: 0, build: 0 },
    }
}

/// Reads like a network socket: few bytes at a time, counting what was taken.
struct Trickle<'a> {
    data: &'a [u8],
    taken: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(7).min(self.data.len() - self.taken);
        buf[..n].copy_from_slice(&self.data[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

#[test]
fn every_fixture_gives_its_verdict_whole_and_through_a_reader() {
    let keys = trusted();
    for (file, image, expected) in table() {
        let whole = stream(image, &[image.len()], SLOT, &keys);
        assert_eq!(verdict(&whole), want(&expected), "{file} fed whole");
        let read = verify_reader(image, SLOT, &keys);
        assert_eq!(verdict(&read), want(&expected), "{file} through verify_reader");
    }
}

#[test]
fn verified_fixtures_report_header_digest_and_length() {
    let image = verify_reader(fixtures::SIGNED_ED25519, SLOT, &trusted()).unwrap();
    assert_eq!(image.header.version.to_string(), "1.2.3+4");
    assert_eq!(image.total_len, fixtures::SIGNED_ED25519.len() as u64);
    assert_eq!(image.digest.to_vec(), fixtures::tlv(fixtures::SIGNED_ED25519, kind::SHA256));

    let sec_cnt = verify_reader(fixtures::SIGNED_SEC_CNT, SLOT, &trusted()).unwrap();
    assert_eq!(sec_cnt.header.protect_tlv_size, 12);
    assert_eq!(sec_cnt.digest.to_vec(), fixtures::tlv(fixtures::SIGNED_SEC_CNT, kind::SHA256));
}

#[test]
fn development_key_verifies_the_dev_fixture() {
    let keys = [TrustedKey::from_pem(fixtures::UNTRUSTED_PUB).unwrap(), TrustedKey::development()];
    assert_eq!(verify_reader(fixtures::SIGNED_DEV, SLOT, &keys).unwrap().key_index, 1);
}

#[test]
fn padded_image_is_read_only_up_to_its_tlvs() {
    let mut reader = Trickle { data: fixtures::SIGNED_PADDED, taken: 0 };
    let image = verify_reader(&mut reader, 0x4000, &trusted()).unwrap();
    assert_eq!(image.total_len, 3655);
    assert_eq!(reader.taken, 3655);
    // Fed whole, the trailer is ignored but counted.
    let mut verifier = StreamVerifier::new(0x4000);
    verifier.update(fixtures::SIGNED_PADDED).unwrap();
    assert_eq!(verifier.bytes_seen(), 0x4000);
    assert_eq!(verifier.total_len(), Some(3655));
    assert_eq!(verifier.needed(), 0);
    assert!(verifier.finish(&trusted()).is_ok());
}

#[test]
fn hash_mismatch_fails_at_the_last_byte_not_at_finish() {
    let mut verifier = StreamVerifier::new(SLOT);
    let (body, last) = fixtures::BAD_HASH.split_at(fixtures::BAD_HASH.len() - 1);
    verifier.update(body).unwrap();
    assert!(matches!(verifier.update(last), Err(ImageError::HashMismatch { .. })));
    assert!(matches!(verifier.update(b""), Err(ImageError::AlreadyFailed)));
    assert!(matches!(verifier.finish(&trusted()), Err(ImageError::AlreadyFailed)));
}

#[test]
fn image_larger_than_the_limit_is_rejected_at_the_header() {
    let header = ImageHeader { img_size: 0x4000_0000, ..plain_header() };
    let mut head = [0; 32];
    header.emit(&mut head);
    let mut verifier = StreamVerifier::new(0x10_0000);
    let err = verifier.update(&head).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { len, limit: 0x10_0000 } if len == 0x40 + 0x4000_0000 + 4));
    assert_eq!(verifier.bytes_seen(), 32);
    // A reader stops right there too: not one body byte is read.
    let mut image = head.to_vec();
    image.resize(0x2000, 0xa5);
    let mut reader = Trickle { data: &image, taken: 0 };
    assert!(matches!(verify_reader(&mut reader, 0x10_0000, &trusted()), Err(ImageError::TooLarge { .. })));
    assert_eq!(reader.taken, 32);
}

#[test]
fn limit_is_checked_against_the_tlv_area_and_the_bytes_fed() {
    let len = fixtures::SIGNED_ED25519.len() as u64;
    assert!(stream(fixtures::SIGNED_ED25519, &[100], len, &trusted()).is_ok());
    // Header + body + 4 fit, the whole unprotected area does not: refused at its info header.
    let mut verifier = StreamVerifier::new(len - 1);
    let err = verifier.update(fixtures::SIGNED_ED25519).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { len: l, .. } if l == len));
    // Trailing bytes beyond the slot are refused too.
    let mut verifier = StreamVerifier::new(len);
    verifier.update(fixtures::SIGNED_ED25519).unwrap();
    assert!(matches!(verifier.update(&[0xff]), Err(ImageError::TooLarge { .. })));
}

#[test]
fn truncation_is_reported_with_what_was_expected() {
    let image = fixtures::SIGNED_ED25519;
    for cut in [0, 10, 32, 0x200, image.len() - 145, image.len() - 140, image.len() - 1] {
        let err = stream(&image[..cut], &[64], SLOT, &trusted()).unwrap_err();
        assert!(
            matches!(&err, ImageError::Truncated { seen, .. } if *seen == cut as u64),
            "cut {cut}: {err}"
        );
    }
    let err = verify_reader(&image[..100], SLOT, &trusted()).unwrap_err();
    assert!(err.to_string().contains("not known"), "{err}");
    let err = verify_reader(&image[..image.len() - 1], SLOT, &trusted()).unwrap_err();
    assert!(err.to_string().contains(&format!("the image is {}", image.len())), "{err}");
}

#[test]
fn unbootable_flags_fail_at_the_header() {
    for (flags, want) in [
        (0x04, "Encrypted"),
        (0x08, "Encrypted"),
        (0x200, "Compressed"),
        (0x400, "Compressed"),
        (0x10, "NonBootable"),
    ] {
        let mut image = fixtures::SIGNED_ED25519.to_vec();
        image[0x10..0x14].copy_from_slice(&u32::to_le_bytes(flags));
        let mut verifier = StreamVerifier::new(SLOT);
        let err = verifier.update(&image[..32]).unwrap_err();
        assert_eq!(name(&err), want);
    }
}

#[test]
fn hand_made_images_get_distinct_errors() {
    let key = SigningKey::development();
    let keys = [key.public()];
    let sec_cnt = [Tlv { kind: kind::SEC_CNT, value: &[1, 0, 0, 0] }];
    let ok = build(plain_header(), b"body", &sec_cnt, &[]);
    assert!(matches!(stream(&ok, &[3], SLOT, &keys), Err(ImageError::Unsigned)));

    // The header's protected size disagrees with the area.
    let mut bad = ok.clone();
    bad[0x0a] += 4;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "ProtectedSizeMismatch");
    // A protected area the header does not mention.
    let mut bad = ok.clone();
    bad[0x0a] = 0;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "ProtectedSizeMismatch");
    // Unprotected area magic damaged.
    let mut bad = ok.clone();
    bad[0x40 + 4 + 12] ^= 0xff;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "TlvAreaMagic");
    // A TLV entry longer than its area.
    let mut bad = ok.clone();
    let last_len = bad.len() - 32 - 2;
    bad[last_len] = 0x40;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "TlvOverrun");
    // A hash TLV inside the protected area.
    let misplaced = [Tlv { kind: kind::SHA256, value: &[0; 32] }];
    let bad = build(plain_header(), b"body", &misplaced, &[]);
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "MisplacedTlv");
    // No SHA256 TLV at all.
    let mut bad = build(plain_header(), b"body", &[], &[]);
    bad[0x44 + 4] = kind::SHA384 as u8;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "MissingSha256");
    // An RSA signature.
    let bad = build(plain_header(), b"body", &[], &[Tlv { kind: kind::RSA2048, value: &[0; 256] }]);
    assert!(matches!(
        stream(&bad, &[5], SLOT, &keys),
        Err(ImageError::UnsupportedSignature { kind: 0x20, name: "RSA2048" })
    ));
}

#[test]
fn tlv_areas_beyond_64_kib_are_refused_before_buffering() {
    let mut head = [0; 32];
    ImageHeader { protect_tlv_size: 0xfffd, ..plain_header() }.emit(&mut head);
    let err = StreamVerifier::new(u64::MAX).update(&head).unwrap_err();
    assert!(matches!(err, ImageError::TlvTooLarge { len: 0x1_0001, .. }), "{err}");

    // A protected area of 0x8000 bytes plus an unprotected area of 0x9000.
    let filler = vec![0; 0x8000 - 8];
    let prot = [Tlv { kind: 0xa0, value: &filler }];
    let image = build(plain_header(), b"", &prot, &[]);
    let mut verifier = StreamVerifier::new(u64::MAX);
    let info_at = 0x40 + 0x8000;
    verifier.update(&image[..info_at]).unwrap();
    let err = verifier.update(&[0x07, 0x69, 0x00, 0x90]).unwrap_err();
    assert!(matches!(err, ImageError::TlvTooLarge { len: 0x1_1000, .. }), "{err}");
}

#[test]
fn signed_images_of_edge_sizes_verify_in_any_chunking() {
    let key = SigningKey::development();
    for (header_size, len) in [(0x20u16, 0usize), (0x20, 1), (0x200, 4096), (0x400, 65537)] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let opts = crate::SignOptions { header_size, ..Default::default() };
        let image = crate::sign(&payload, &opts, &key).unwrap();
        for chunks in [&[1usize][..], &[31, 1, 4096], &[image.len()]] {
            let verified = stream(&image, chunks, 1 << 20, &[key.public()]).unwrap();
            assert_eq!(verified.total_len, image.len() as u64);
        }
    }
}

#[test]
fn a_256_mib_image_streams_with_bounded_memory() {
    let key = SigningKey::development();
    let body_len: u32 = 256 << 20;
    let header = ImageHeader { img_size: body_len, ..plain_header() };
    let mut head = vec![0xff; usize::from(header.hdr_size)];
    header.emit(&mut head);
    let chunk: Vec<u8> = (0..0x1_0000u32).map(|i| (i % 251) as u8).collect();

    let mut hasher = Sha256::new();
    let mut verifier = StreamVerifier::new(u64::from(body_len) + 0x1000);
    hasher.update(&head);
    verifier.update(&head).unwrap();
    for _ in 0..body_len / 0x1_0000 {
        hasher.update(&chunk);
        verifier.update(&chunk).unwrap();
    }
    let digest: [u8; 32] = hasher.finalize().into();
    let (sig_kind, sig) = key.sign_digest(&digest).unwrap();
    let key_hash = key.public().key_hash();
    let mut tlvs = Vec::new();
    let entries = [
        Tlv { kind: kind::SHA256, value: &digest },
        Tlv { kind: kind::KEYHASH, value: &key_hash },
        Tlv { kind: sig_kind, value: &sig },
    ];
    encode_area(&mut tlvs, tlv::INFO_MAGIC, &entries).unwrap();
    verifier.update(&tlvs).unwrap();

    assert!(verifier.tlvs.capacity() <= 0x200, "buffered {}", verifier.tlvs.capacity());
    let verified = verifier.finish(&[key.public()]).unwrap();
    assert_eq!(verified.total_len, 0x40 + u64::from(body_len) + tlvs.len() as u64);
    assert_eq!(verified.digest, digest);
}

#[test]
fn reader_errors_surface_as_io() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("link down"))
        }
    }
    assert!(matches!(verify_reader(Broken, SLOT, &trusted()), Err(ImageError::Io(_))));
}

/// Offset of the KEYHASH or PUBKEY entry in the unprotected area of a valid image.
fn key_tlv_offset(image: &[u8], header: &ImageHeader) -> usize {
    let start = header.hashed_len() as usize;
    let area = TlvArea::parse(&image[start..], tlv::INFO_MAGIC, 0).unwrap();
    let mut at = start + INFO_LEN;
    for entry in area.iter() {
        if entry.kind == kind::KEYHASH || entry.kind == kind::PUBKEY {
            return at;
        }
        at += INFO_LEN + entry.value.len();
    }
    panic!("fixture has no key TLV");
}

fn chunkings() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![1usize..8, 8usize..600, 600usize..5000], 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunking_gives_the_same_verdict(index in 0usize..11, chunks in chunkings()) {
        let (file, image, expected) = table()[index];
        let result = stream(image, &chunks, SLOT, &trusted());
        prop_assert_eq!(verdict(&result), want(&expected), "{}", file);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunks in chunkings()) {
        let _ = stream(&bytes, &chunks, SLOT, &trusted());
        // Give the bytes a valid magic and a small header so they reach the TLV stages.
        let mut framed = bytes.clone();
        framed.resize(framed.len().max(32), 0);
        framed[..4].copy_from_slice(&crate::MCUBOOT_MAGIC.to_le_bytes());
        framed[8..10].copy_from_slice(&0x20u16.to_le_bytes());
        let img_size = u32::from(framed[12]) * 4;
        framed[12..16].copy_from_slice(&img_size.to_le_bytes());
        let _ = stream(&framed, &chunks, SLOT, &trusted());
        let _ = verify_reader(&framed[..], SLOT, &trusted());
    }

    #[test]
    fn a_flipped_byte_is_caught_or_harmless(index in 0usize..5, at in any::<prop::sample::Index>(), bit in 0u8..8, chunks in chunkings()) {
        let (_, image, _) = table()[index];
        let original = stream(image, &[image.len()], SLOT, &trusted()).unwrap();
        let mut mutated = image.to_vec();
        let at = at.index(usize::try_from(original.total_len).unwrap());
        mutated[at] ^= 1 << bit;
        // The only bytes whose change cannot matter: the type of the KEYHASH/PUBKEY TLV, which
        // turned into a type nobody reads makes the verifier try every trusted key instead.
        let key_type = key_tlv_offset(image, &original.header);
        match stream(&mutated, &chunks, SLOT, &trusted()) {
            Ok(verified) => {
                prop_assert!((key_type..key_type + 2).contains(&at), "flip at {at:#x} accepted");
                prop_assert_eq!(verified.digest, original.digest);
                prop_assert_eq!(verified.key_index, original.key_index);
            }
            Err(error) => prop_assert!(!matches!(error, ImageError::AlreadyFailed)),
        }
    }

    #[test]
    fn every_prefix_is_truncated(index in 0usize..5, cut in any::<prop::sample::Index>(), chunks in chunkings()) {
        let (_, image, _) = table()[index];
        let total = stream(image, &[image.len()], SLOT, &trusted()).unwrap().total_len;
        let cut = cut.index(usize::try_from(total).unwrap());
        let result = stream(&image[..cut], &chunks, SLOT, &trusted());
        prop_assert_eq!(verdict(&result), Err("Truncated".to_owned()));
    }
}
