//! Verdicts of the streaming verifier on the imgtool fixtures and on hand-made images.

use std::io::{self, Cursor, Read, Seek, SeekFrom};

use proptest::prelude::*;

use sha2::{Digest, Sha256};

use super::*;
use crate::tlv::{Tlv, encode_area, kind};
use crate::{ImageDigest, ImageVersion, SigningKey, fixtures};

/// Slot size the fixtures were signed for (imgtool --slot-size 0x10000).
const SLOT: u64 = 0x10000;

/// One trusted key of every type: Ed25519 (0), P-256 (1), P-384 (2), RSA-2048 (3), RSA-3072 (4).
fn trusted() -> Vec<TrustedKey> {
    fixtures::KEY_PAIRS.iter().map(|(_, public, _)| TrustedKey::from_pem(public).unwrap()).collect()
}

/// Fixtures that verify come first, [`VALID`] of them.
const VALID: usize = 15;

/// Each fixture and what it must produce with [`trusted`] keys: a key index or an error name.
fn table() -> Vec<(&'static str, &'static [u8], Result<usize, &'static str>)> {
    vec![
        ("signed-ed25519", fixtures::SIGNED_ED25519, Ok(0)),
        ("signed-ecdsa-p256", fixtures::SIGNED_ECDSA, Ok(1)),
        ("signed-padded", fixtures::SIGNED_PADDED, Ok(0)),
        ("signed-sec-cnt", fixtures::SIGNED_SEC_CNT, Ok(0)),
        ("signed-pubkey", fixtures::SIGNED_PUBKEY, Ok(0)),
        ("signed-pure", fixtures::SIGNED_PURE, Ok(0)),
        ("signed-pubkey-pure", fixtures::SIGNED_PUBKEY_PURE, Ok(0)),
        ("signed-ecdsa-p384", fixtures::SIGNED_P384, Ok(2)),
        ("signed-rsa2048", fixtures::SIGNED_RSA2048, Ok(3)),
        ("signed-rsa3072", fixtures::SIGNED_RSA3072, Ok(4)),
        ("signed-pubkey-ecdsa-p256", fixtures::SIGNED_PUBKEY_P256, Ok(1)),
        ("signed-pubkey-ecdsa-p384", fixtures::SIGNED_PUBKEY_P384, Ok(2)),
        ("signed-pubkey-rsa-2048", fixtures::SIGNED_PUBKEY_RSA2048, Ok(3)),
        ("signed-pubkey-rsa-3072", fixtures::SIGNED_PUBKEY_RSA3072, Ok(4)),
        ("signed-p384-sec-cnt", fixtures::SIGNED_P384_SEC_CNT, Ok(2)),
        ("unsigned", fixtures::UNSIGNED, Err("Unsigned")),
        ("signed-untrusted", fixtures::SIGNED_UNTRUSTED, Err("UntrustedKey")),
        ("signed-dev", fixtures::SIGNED_DEV, Err("UntrustedKey")),
        ("bad-hash", fixtures::BAD_HASH, Err("HashMismatch")),
        ("rsa-salt20", fixtures::RSA_SALT20, Err("BadSignature")),
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

/// Feeds `image` in chunks of the given sizes (cycled), then finishes; feeds a pure image's
/// hashed region again, chunked the same way, to its second pass.
fn stream(
    image: &[u8],
    chunks: &[usize],
    limit: u64,
    keys: &[TrustedKey],
) -> Result<VerifiedImage, ImageError> {
    let mut verifier = StreamVerifier::new(limit, keys);
    feed(image, chunks, |chunk| {
        let result = verifier.update(chunk);
        assert!(verifier.tlvs().len() as u64 <= MAX_TLV_LEN);
        result
    })?;
    match verifier.finish(keys)? {
        Finish::Verified(image) => Ok(image),
        Finish::SecondPass(mut pass) => {
            assert_eq!(pass.range().start, 0);
            feed(image, chunks, |chunk| pass.update(chunk))?;
            assert_eq!(pass.needed(), 0);
            pass.finish()
        }
    }
}

fn feed(
    mut rest: &[u8],
    chunks: &[usize],
    mut update: impl FnMut(&[u8]) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    for size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        update(chunk)?;
        rest = tail;
    }
    Ok(())
}

/// `verify_reader` over a byte slice.
fn read(image: &[u8], limit: u64, keys: &[TrustedKey]) -> Result<VerifiedImage, ImageError> {
    verify_reader(Cursor::new(image), limit, keys)
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
    at: usize,
    taken: usize,
}

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8]) -> Self {
        Trickle { data, at: 0, taken: 0 }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(7).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        self.taken += n;
        Ok(n)
    }
}

impl Seek for Trickle<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Start(to) = pos else { return Err(io::Error::other("only SeekFrom::Start")) };
        self.at = to as usize;
        Ok(to)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.at as u64)
    }
}

#[test]
fn every_fixture_gives_its_verdict_whole_and_through_a_reader() {
    let keys = trusted();
    for (file, image, expected) in table() {
        let whole = stream(image, &[image.len()], SLOT, &keys);
        assert_eq!(verdict(&whole), want(&expected), "{file} fed whole");
        let read = read(image, SLOT, &keys);
        assert_eq!(verdict(&read), want(&expected), "{file} through verify_reader");
    }
}

#[test]
fn verified_fixtures_report_header_digest_length_and_counter() {
    let image = read(fixtures::SIGNED_ED25519, SLOT, &trusted()).unwrap();
    assert_eq!(image.header.version.to_string(), "1.2.3+4");
    assert_eq!(image.total_len, fixtures::SIGNED_ED25519.len() as u64);
    assert_eq!(image.digest.as_bytes(), fixtures::tlv(fixtures::SIGNED_ED25519, kind::SHA256));
    assert_eq!(image.digest.tlv_kind(), kind::SHA256);
    assert_eq!(image.security_counter, None);

    let sec_cnt = read(fixtures::SIGNED_SEC_CNT, SLOT, &trusted()).unwrap();
    assert_eq!(sec_cnt.header.protect_tlv_size, 12);
    assert_eq!(sec_cnt.digest.as_bytes(), fixtures::tlv(fixtures::SIGNED_SEC_CNT, kind::SHA256));
    assert_eq!(sec_cnt.security_counter, Some(7));

    let p384 = read(fixtures::SIGNED_P384_SEC_CNT, SLOT, &trusted()).unwrap();
    assert_eq!(p384.digest.as_bytes(), fixtures::tlv(fixtures::SIGNED_P384_SEC_CNT, kind::SHA384));
    assert_eq!(p384.security_counter, Some(0x10203));

    let pure = read(fixtures::SIGNED_PURE, SLOT, &trusted()).unwrap();
    assert_eq!(pure.digest.as_bytes(), fixtures::tlv(fixtures::SIGNED_PURE, kind::SHA512));
    assert_eq!(pure.digest.tlv_kind(), kind::SHA512);
}

/// `image` with its unprotected TLV area rewritten by `edit` (from the original entries).
fn retlv(image: &[u8], edit: impl FnOnce(&mut Vec<(u16, Vec<u8>)>)) -> Vec<u8> {
    let hashed = fixtures::hashed_region(image);
    let area = TlvArea::parse(&image[hashed.len()..], tlv::INFO_MAGIC, 0).unwrap();
    let mut entries: Vec<(u16, Vec<u8>)> = area.iter().map(|t| (t.kind, t.value.to_vec())).collect();
    edit(&mut entries);
    let tlvs: Vec<Tlv<'_>> = entries.iter().map(|(kind, value)| Tlv { kind: *kind, value }).collect();
    let mut out = hashed.to_vec();
    encode_area(&mut out, tlv::INFO_MAGIC, &tlvs).unwrap();
    out
}

#[test]
fn negatives_each_give_a_specific_error() {
    let flip = |image: &[u8], at: usize| {
        let mut bytes = image.to_vec();
        bytes[at] ^= 0x01;
        bytes
    };
    let ed = fixtures::SIGNED_ED25519;
    let tlvs_at = 0x200 + fixtures::PAYLOAD.len();
    // The ED25519 entry follows the info header, SHA256 (4 + 32) and KEYHASH (4 + 32).
    let mut past_end = ed.to_vec();
    past_end[tlvs_at + 4 + 36 + 36 + 2] = 65;
    let cases: Vec<(&str, Vec<u8>, Result<usize, &str>)> = vec![
        ("tampered header", flip(ed, 0x14), Err("HashMismatch")),
        ("tampered header padding", flip(ed, 0x40), Err("HashMismatch")),
        ("tampered body", flip(ed, 0x200 + 1000), Err("HashMismatch")),
        ("tampered protected TLV", flip(fixtures::SIGNED_SEC_CNT, tlvs_at + 8), Err("HashMismatch")),
        ("tampered P-384 body", flip(fixtures::SIGNED_P384, 0x300), Err("HashMismatch")),
        ("tampered RSA body", flip(fixtures::SIGNED_RSA3072, 0x300), Err("HashMismatch")),
        ("tampered pure body", flip(fixtures::SIGNED_PURE, 0x300), Err("HashMismatch")),
        ("tampered signature", flip(ed, ed.len() - 1), Err("BadSignature")),
        (
            "tampered pure signature",
            flip(fixtures::SIGNED_PURE, fixtures::SIGNED_PURE.len() - 1),
            Err("BadSignature"),
        ),
        (
            "tampered RSA signature",
            flip(fixtures::SIGNED_RSA2048, fixtures::SIGNED_RSA2048.len() - 1),
            Err("BadSignature"),
        ),
        ("RSA-PSS salt length 20", fixtures::RSA_SALT20.to_vec(), Err("BadSignature")),
        ("untrusted key", fixtures::SIGNED_UNTRUSTED.to_vec(), Err("UntrustedKey")),
        ("KEYHASH of no trusted key", flip(ed, tlvs_at + 4 + 36 + 4), Err("UntrustedKey")),
        (
            "PUBKEY of no trusted key",
            flip(fixtures::SIGNED_PUBKEY, tlvs_at + 4 + 36 + 4 + 20),
            Err("UntrustedKey"),
        ),
        ("unsigned", fixtures::UNSIGNED.to_vec(), Err("Unsigned")),
        ("truncated TLV area", ed[..ed.len() - 10].to_vec(), Err("Truncated")),
        ("TLV length past the end", past_end, Err("TlvOverrun")),
        ("hash TLV of the wrong length", retlv(ed, |e| e[0].1.truncate(31)), Err("TlvLength")),
        (
            "SHA384 TLV of SHA-256 length",
            retlv(fixtures::SIGNED_P384, |e| e[0].1.truncate(32)),
            Err("TlvLength"),
        ),
        (
            "RSA signature of the wrong length",
            retlv(fixtures::SIGNED_RSA2048, |e| e[2].1.push(0)),
            Err("TlvLength"),
        ),
        ("no hash TLV", retlv(ed, |e| drop(e.remove(0))), Err("MissingHash")),
        ("pure without SHA512", retlv(fixtures::SIGNED_PURE, |e| drop(e.remove(0))), Err("MissingHash")),
        (
            "counter in the unprotected area",
            retlv(ed, |e| e.push((kind::SEC_CNT, vec![9, 0, 0, 0]))),
            Err("MisplacedTlv"),
        ),
        ("one bad and one good signature", retlv(ed, |e| e.insert(2, (kind::ED25519, vec![0; 64]))), Ok(0)),
        ("one good and one bad signature", retlv(ed, |e| e.push((kind::ED25519, vec![0; 64]))), Ok(0)),
        (
            "a bad RSA and a good P-384 signature",
            retlv(fixtures::SIGNED_P384, |e| {
                let rsa = TrustedKey::from_pem(fixtures::RSA2048_PUB).unwrap().embedded();
                let rsa = crate::digest::HashKind::Sha384.digest(&rsa).as_bytes().to_vec();
                e.insert(1, (kind::RSA2048, vec![7; 256]));
                e.insert(1, (kind::KEYHASH, rsa));
            }),
            Ok(2),
        ),
    ];
    let keys = trusted();
    for (what, image, expected) in cases {
        let result = stream(&image, &[image.len()], SLOT, &keys);
        assert_eq!(verdict(&result), want(&expected), "{what}: {result:?}");
        let result = read(&image, SLOT, &keys);
        assert_eq!(verdict(&result), want(&expected), "{what} through verify_reader");
    }
}

#[test]
fn only_the_hashes_the_keys_need_are_computed() {
    // Only a P-384 key: SHA-256 images cannot be confirmed, so they are not trusted.
    let p384 = [TrustedKey::from_pem(fixtures::P384_PUB).unwrap()];
    assert_eq!(read(fixtures::SIGNED_P384, SLOT, &p384).unwrap().key_index, 0);
    assert!(matches!(read(fixtures::SIGNED_ED25519, SLOT, &p384), Err(ImageError::UntrustedKey { .. })));
    // A corrupt image hashed with a hash no key uses is untrusted, not a hash mismatch.
    let mut corrupt = fixtures::SIGNED_P384.to_vec();
    corrupt[0x300] ^= 1;
    let ed = [TrustedKey::from_pem(fixtures::TRUSTED_PUB).unwrap()];
    assert!(matches!(read(&corrupt, SLOT, &ed), Err(ImageError::UntrustedKey { .. })));
    assert!(matches!(read(&corrupt, SLOT, &p384), Err(ImageError::HashMismatch { name: "SHA384", .. })));
}

#[test]
fn development_key_verifies_the_dev_fixture() {
    let keys = [TrustedKey::from_pem(fixtures::UNTRUSTED_PUB).unwrap(), TrustedKey::development()];
    assert_eq!(read(fixtures::SIGNED_DEV, SLOT, &keys).unwrap().key_index, 1);
}

#[test]
fn padded_image_is_read_only_up_to_its_tlvs() {
    let mut reader = Trickle::new(fixtures::SIGNED_PADDED);
    let image = verify_reader(&mut reader, 0x4000, &trusted()).unwrap();
    assert_eq!(image.total_len, 3655);
    assert_eq!(reader.taken, 3655);
    // Fed whole, the trailer is ignored but counted.
    let mut verifier = StreamVerifier::new(0x4000, &trusted());
    verifier.update(fixtures::SIGNED_PADDED).unwrap();
    assert_eq!(verifier.bytes_seen(), 0x4000);
    assert_eq!(verifier.total_len(), Some(3655));
    assert_eq!(verifier.needed(), 0);
    assert!(matches!(verifier.finish(&trusted()), Ok(Finish::Verified(_))));
}

#[test]
fn a_pure_image_is_read_twice_from_where_the_reader_was() {
    let image = fixtures::SIGNED_PURE;
    let hashed = fixtures::hashed_region(image).len();
    let mut stored = vec![0xee; 100];
    stored.extend_from_slice(image);
    stored.resize(stored.len() + 50, 0xff);
    let mut reader = Trickle::new(&stored);
    reader.seek(SeekFrom::Start(100)).unwrap();
    let verified = verify_reader(&mut reader, SLOT, &trusted()).unwrap();
    assert_eq!(verified.key_index, 0);
    assert_eq!(reader.taken, image.len() + hashed);

    // Sans-IO: the first pass asks for the region, which is then fed again.
    let mut verifier = StreamVerifier::new(SLOT, &trusted());
    verifier.update(image).unwrap();
    let Ok(Finish::SecondPass(mut pass)) = verifier.finish(&trusted()) else {
        panic!("pure needs a second pass")
    };
    assert_eq!(pass.range(), 0..hashed as u64);
    assert_eq!(pass.needed(), hashed as u64);
    let early = format!("{pass:?}");
    assert!(early.contains("SecondPass"), "{early}");
    pass.update(&image[..10]).unwrap();
    pass.update(&image[10..]).unwrap();
    assert_eq!(pass.needed(), 0);
    assert_eq!(pass.finish().unwrap().digest.tlv_kind(), kind::SHA512);
}

#[test]
fn a_pure_second_pass_refuses_changed_or_missing_bytes() {
    let image = fixtures::SIGNED_PURE;
    let hashed = fixtures::hashed_region(image).len();
    let second_pass = || {
        let mut verifier = StreamVerifier::new(SLOT, &trusted());
        verifier.update(image).unwrap();
        match verifier.finish(&trusted()).unwrap() {
            Finish::SecondPass(pass) => pass,
            Finish::Verified(_) => panic!("pure needs a second pass"),
        }
    };
    let changed = |at: usize| {
        let mut bytes = image.to_vec();
        bytes[at] ^= 0x01;
        bytes
    };
    // A changed header (the version the verdict would report) is named as such.
    let mut pass = second_pass();
    let err = pass.update(&changed(0x14)).unwrap_err();
    assert!(matches!(err, ImageError::ChangedBetweenPasses { part: "header" }), "{err}");
    assert!(matches!(pass.update(b""), Err(ImageError::AlreadyFailed)));
    // A changed body byte fails the SHA512 TLV.
    let err = second_pass().read_from(Cursor::new(changed(0x300))).unwrap_err();
    assert!(matches!(err, ImageError::HashMismatch { name: "SHA512", .. }), "{err}");
    // Too few bytes.
    let err = second_pass().read_from(Cursor::new(&image[..hashed - 1])).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { seen, .. } if seen == hashed as u64 - 1), "{err}");
    // Bytes past the region are ignored.
    let mut pass = second_pass();
    pass.update(image).unwrap();
    assert!(pass.finish().is_ok());
}

#[test]
fn a_pure_image_with_no_candidate_key_is_judged_without_a_second_pass() {
    let keys = [TrustedKey::from_pem(fixtures::UNTRUSTED_PUB).unwrap()];
    let mut verifier = StreamVerifier::new(SLOT, &keys);
    verifier.update(fixtures::SIGNED_PURE).unwrap();
    assert!(matches!(verifier.finish(&keys), Err(ImageError::UntrustedKey { .. })));
    // Named by PUBKEY, an untrusted key likewise.
    let mut verifier = StreamVerifier::new(SLOT, &keys);
    verifier.update(fixtures::SIGNED_PUBKEY_PURE).unwrap();
    assert!(matches!(verifier.finish(&keys), Err(ImageError::UntrustedKey { .. })));
}

#[test]
fn hash_mismatch_fails_at_the_last_byte_not_at_finish() {
    let mut verifier = StreamVerifier::new(SLOT, &trusted());
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
    let mut verifier = StreamVerifier::new(0x10_0000, &trusted());
    let err = verifier.update(&head).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { len, limit: 0x10_0000 } if len == 0x40 + 0x4000_0000 + 4));
    assert_eq!(verifier.bytes_seen(), 32);
    // A reader stops right there too: not one body byte is read.
    let mut image = head.to_vec();
    image.resize(0x2000, 0xa5);
    let mut reader = Trickle::new(&image);
    assert!(matches!(verify_reader(&mut reader, 0x10_0000, &trusted()), Err(ImageError::TooLarge { .. })));
    assert_eq!(reader.taken, 32);
}

#[test]
fn limit_is_checked_against_the_tlv_area_and_the_bytes_fed() {
    let len = fixtures::SIGNED_ED25519.len() as u64;
    assert!(stream(fixtures::SIGNED_ED25519, &[100], len, &trusted()).is_ok());
    // Header + body + 4 fit, the whole unprotected area does not: refused at its info header.
    let mut verifier = StreamVerifier::new(len - 1, &trusted());
    let err = verifier.update(fixtures::SIGNED_ED25519).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { len: l, .. } if l == len));
    // Trailing bytes beyond the slot are refused too.
    let mut verifier = StreamVerifier::new(len, &trusted());
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
    let err = read(&image[..100], SLOT, &trusted()).unwrap_err();
    assert!(err.to_string().contains("not known"), "{err}");
    let err = read(&image[..image.len() - 1], SLOT, &trusted()).unwrap_err();
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
        let mut verifier = StreamVerifier::new(SLOT, &trusted());
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
    // No hash TLV at all.
    let mut bad = build(plain_header(), b"body", &[], &[]);
    bad[0x44 + 4] = 0x13;
    assert_eq!(name(&stream(&bad, &[5], SLOT, &keys).unwrap_err()), "MissingHash");
    // An RSA signature, and no RSA key trusted.
    let bad = build(plain_header(), b"body", &[], &[Tlv { kind: kind::RSA2048, value: &[0; 256] }]);
    assert!(matches!(stream(&bad, &[5], SLOT, &keys), Err(ImageError::UntrustedKey { .. })));
}

#[test]
fn tlv_areas_beyond_64_kib_are_refused_before_buffering() {
    let mut head = [0; 32];
    ImageHeader { protect_tlv_size: 0xfffd, ..plain_header() }.emit(&mut head);
    let err = StreamVerifier::new(u64::MAX, &trusted()).update(&head).unwrap_err();
    assert!(matches!(err, ImageError::TlvTooLarge { len: 0x1_0001, .. }), "{err}");

    // A protected area of 0x8000 bytes plus an unprotected area of 0x9000.
    let filler = vec![0; 0x8000 - 8];
    let prot = [Tlv { kind: 0xa0, value: &filler }];
    let image = build(plain_header(), b"", &prot, &[]);
    let mut verifier = StreamVerifier::new(u64::MAX, &trusted());
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
    let mut verifier = StreamVerifier::new(u64::from(body_len) + 0x1000, &[key.public()]);
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

    assert!(verifier.tlvs().capacity() <= 0x200, "buffered {}", verifier.tlvs().capacity());
    let Finish::Verified(verified) = verifier.finish(&[key.public()]).unwrap() else { panic!("not pure") };
    assert_eq!(verified.total_len, 0x40 + u64::from(body_len) + tlvs.len() as u64);
    assert_eq!(verified.digest, ImageDigest::Sha256(digest));
}

#[test]
fn reader_errors_surface_as_io() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("link down"))
        }
    }
    impl Seek for Broken {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(0)
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
    fn any_chunking_gives_the_same_verdict(index in 0usize..21, chunks in chunkings()) {
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
        let _ = read(&framed, SLOT, &trusted());
    }

    #[test]
    fn a_flipped_byte_is_caught_or_harmless(index in 0usize..VALID, at in any::<prop::sample::Index>(), bit in 0u8..8, chunks in chunkings()) {
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
    fn every_prefix_is_truncated(index in 0usize..VALID, cut in any::<prop::sample::Index>(), chunks in chunkings()) {
        let (_, image, _) = table()[index];
        let total = stream(image, &[image.len()], SLOT, &trusted()).unwrap().total_len;
        let cut = cut.index(usize::try_from(total).unwrap());
        let result = stream(&image[..cut], &chunks, SLOT, &trusted());
        prop_assert_eq!(verdict(&result), Err("Truncated".to_owned()));
    }
}
