//! The delta package: its hand-made header fixture, signing and the streaming verdicts.

use proptest::prelude::*;

use super::*;
use crate::tlv::{self, Tlv, encode_area, kind};
use crate::{Detection, ImageKind, fixtures};

/// A header written out by hand from the layout in the module docs.
#[rustfmt::skip]
const FIXTURE: [u8; 0x140] = [
    0x01, 0x00, 0x40, 0x01, 0x6d, 0x65, 0x44, 0x75, 0x00, 0x00, 0x00, 0x00, 0x34, 0x12, 0x00, 0x00, // 0x000
    0x40, 0x42, 0x0f, 0x00, 0x10, 0x4a, 0x0f, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, // 0x010
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // 0x020
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, // 0x030
    0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, // 0x040
    0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x30, 0x30, 0x30, 0x31, 0x30, 0x32, 0x30, 0x33, // 0x050
    0x2d, 0x30, 0x34, 0x30, 0x35, 0x2d, 0x38, 0x36, 0x30, 0x37, 0x2d, 0x38, 0x38, 0x30, 0x39, 0x2d, // 0x060
    0x30, 0x61, 0x30, 0x62, 0x30, 0x63, 0x30, 0x64, 0x30, 0x65, 0x30, 0x66, 0x65, 0x30, 0x65, 0x31, // 0x070
    0x65, 0x32, 0x65, 0x33, 0x2d, 0x65, 0x34, 0x65, 0x35, 0x2d, 0x38, 0x36, 0x65, 0x37, 0x2d, 0x61, // 0x080
    0x38, 0x65, 0x39, 0x2d, 0x65, 0x61, 0x65, 0x62, 0x65, 0x63, 0x65, 0x64, 0x65, 0x65, 0x65, 0x66, // 0x090
    0x6d, 0x66, 0x77, 0x5f, 0x6e, 0x72, 0x66, 0x39, 0x31, 0x36, 0x30, 0x5f, 0x31, 0x2e, 0x33, 0x2e, // 0x0a0
    0x35, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0b0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0c0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0d0
    0x6d, 0x66, 0x77, 0x5f, 0x6e, 0x72, 0x66, 0x39, 0x31, 0x36, 0x30, 0x5f, 0x31, 0x2e, 0x33, 0x2e, // 0x0e0
    0x36, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0f0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x110
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x120
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x130
];

fn fixture_header() -> DeltaHeader {
    let mut source_sha = [0u8; 32];
    let mut target_sha = [0u8; 32];
    for i in 0..32 {
        source_sha[i] = i as u8;
        target_sha[i] = 0xe0 + i as u8;
    }
    DeltaHeader {
        source: ModemFirmware {
            size: 1_000_000,
            sha256: source_sha,
            version: "mfw_nrf9160_1.3.5".parse().unwrap(),
        },
        target: ModemFirmware {
            size: 1_002_000,
            sha256: target_sha,
            version: "mfw_nrf9160_1.3.6".parse().unwrap(),
        },
        patch_len: 0x1234,
    }
}

#[test]
fn parses_and_emits_the_hand_made_fixture() {
    let header = DeltaHeader::parse(&FIXTURE).unwrap();
    assert_eq!(header, fixture_header());
    assert_eq!(header.source.uuid(), "00010203-0405-8607-8809-0a0b0c0d0e0f");
    assert_eq!(header.target.uuid(), "e0e1e2e3-e4e5-86e7-a8e9-eaebecedeeef");
    assert_eq!(header.patch_offset(), 0x140);
    assert_eq!(header.signed_len(), 0x140 + 0x1234);
    let mut out = vec![0xaa];
    header.emit(&mut out);
    assert_eq!(out[0], 0xaa);
    assert_eq!(out[1..], FIXTURE);
    assert_eq!(ImageKind::detect(&FIXTURE), Detection::Kind(ImageKind::ModemDelta));
}

#[test]
fn modem_uuid_is_version_8_variant_10_of_the_digest() {
    // SHA-256 of the empty string: e3b0c442 98fc1c14 9afbf4c8 996fb924 ...
    let empty: [u8; 32] = Sha256::digest(b"").into();
    assert_eq!(modem_uuid(&empty), "e3b0c442-98fc-8c14-9afb-f4c8996fb924");
    assert_eq!(modem_uuid(&[0xff; 32]), "ffffffff-ffff-8fff-bfff-ffffffffffff");
    assert_eq!(modem_uuid(&[0; 32]), "00000000-0000-8000-8000-000000000000");
}

#[test]
fn version_strings() {
    assert_eq!("a".parse::<ModemVersion>().unwrap().as_str(), "a");
    assert_eq!("x".repeat(63).parse::<ModemVersion>().unwrap().to_string().len(), 63);
    for bad in ["", &"x".repeat(64), "tab\there", "é", "nul\0"] {
        assert!(
            matches!(bad.parse::<ModemVersion>(), Err(ImageError::ModemVersion { which: "given" })),
            "{bad:?}"
        );
    }
}

/// Each header mutation and the error it must give.
#[test]
fn header_refusals() {
    type Mutation = fn(&mut [u8]);
    let cases: &[(Mutation, &str)] = &[
        (|h| h[4] ^= 1, "DeltaMagic"),
        (|h| h[0] = 2, "DeltaFormat"),
        (|h| h[2] = 0x20, "DeltaFormat"),
        (|h| h[0x08] = 1, "DeltaFlags"),
        (|h| h[0x0b] = 0x80, "DeltaFlags"),
        (|h| h[0x13f] = 1, "DeltaReserved"),
        // One digest byte changed: the UUID no longer belongs to it.
        (|h| h[0x18] ^= 1, "DeltaUuid"),
        (|h| h[0x38 + 15] ^= 1, "DeltaUuid"),
        // The UUID in upper case.
        (|h| h[0x58 + 20] = b'A', "DeltaUuid"),
        (|h| h[0xa0] = 0x07, "ModemVersion"),
        (|h| h[0xe0 + 3] = 0x7f, "ModemVersion"),
        // Text after the NUL padding, an empty string, or no NUL at all.
        (|h| h[0xa0 + 40] = b'x', "ModemVersion"),
        (|h| h[0xe0] = 0, "ModemVersion"),
        (|h| h[0xa0..0xe0].fill(b'v'), "ModemVersion"),
    ];
    for (index, (mutate, want)) in cases.iter().enumerate() {
        let mut bytes = FIXTURE;
        mutate(&mut bytes);
        let err = DeltaHeader::parse(&bytes).unwrap_err();
        assert_eq!(name(&err), *want, "case {index}: {err}");
    }
    let err = DeltaHeader::parse(&FIXTURE[..0x13f]).unwrap_err();
    assert!(matches!(err, ImageError::Truncated { seen: 0x13f, .. }), "{err}");
}

fn name(error: &ImageError) -> String {
    format!("{error:?}").split([' ', '(', '{']).next().unwrap_or_default().to_owned()
}

fn patch() -> Vec<u8> {
    // A detools header byte (sequential, lzma) and filler: opaque to the package anyway.
    let mut patch = vec![0x01, 0x80, 0xfb, 0x01];
    patch.extend((0..3000u32).map(|i| (i * 31 % 251) as u8));
    patch
}

fn firmware(tag: &str) -> ModemFirmware {
    let image: Vec<u8> = tag.bytes().cycle().take(4096).collect();
    ModemFirmware::of(&image, format!("mfw_nrf9160_{tag}").parse().unwrap()).unwrap()
}

fn package(key: &SigningKey) -> Vec<u8> {
    sign_delta(&firmware("1.3.5"), &firmware("1.3.6"), &patch(), key).unwrap()
}

/// Feeds `package` in chunks of the given sizes (cycled), then finishes.
fn stream(
    package: &[u8],
    chunks: &[usize],
    limit: u64,
    keys: &[TrustedKey],
) -> Result<VerifiedDelta, ImageError> {
    let mut verifier = DeltaVerifier::new(limit, keys);
    let mut rest = package;
    for size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        verifier.update(chunk)?;
        rest = tail;
    }
    verifier.finish(keys)
}

fn trusted() -> Vec<TrustedKey> {
    fixtures::KEY_PAIRS.iter().map(|(_, public, _)| TrustedKey::from_pem(public).unwrap()).collect()
}

#[test]
fn packages_signed_with_every_key_type_verify() {
    let keys = trusted();
    for (index, (private, _, name)) in fixtures::KEY_PAIRS.iter().enumerate() {
        let key = SigningKey::from_pem(private).unwrap();
        let package = package(&key);
        let verified = stream(&package, &[package.len()], 0x10000, &keys).unwrap();
        assert_eq!(verified.key_index, index, "{name}");
        assert_eq!(verified.header.source, firmware("1.3.5"));
        assert_eq!(verified.header.target.version.as_str(), "mfw_nrf9160_1.3.6");
        assert_eq!((verified.patch_offset, verified.patch_len), (0x140, patch().len() as u64));
        assert_eq!(&package[0x140..0x140 + patch().len()], patch());
        assert_eq!(verified.total_len, package.len() as u64);
        let expected_hash = if *name == "ECDSA P-384" { kind::SHA384 } else { kind::SHA256 };
        assert_eq!(verified.digest.tlv_kind(), expected_hash, "{name}");
        // TLVs in the order `sign` writes them.
        let area = tlv::TlvArea::parse(&package[0x140 + patch().len()..], tlv::INFO_MAGIC, 0).unwrap();
        let kinds: Vec<u16> = area.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [expected_hash, kind::KEYHASH, key.public().signature_kind()]);
    }
}

#[test]
fn header_is_known_after_its_bytes_before_the_patch() {
    let package = package(&SigningKey::development());
    let mut verifier = DeltaVerifier::new(0x10000, &[TrustedKey::development()]);
    verifier.update(&package[..0x13f]).unwrap();
    assert!(verifier.header().is_none());
    assert_eq!(verifier.needed(), 1);
    verifier.update(&package[0x13f..0x140]).unwrap();
    assert_eq!(verifier.header().unwrap().source.uuid(), firmware("1.3.5").uuid());
    assert_eq!(verifier.needed(), patch().len() as u64);
    verifier.update(&package[0x140..]).unwrap();
    assert_eq!(verifier.needed(), 0);
    assert_eq!(verifier.total_len(), Some(package.len() as u64));
    assert_eq!(verifier.bytes_seen(), package.len() as u64);
    assert_eq!(verifier.finish(&[TrustedKey::development()]).unwrap().key_index, 0);
}

/// Re-signs `signed` (header and patch) with a hand-made TLV area.
fn with_tlvs(signed: &[u8], entries: &[Tlv<'_>]) -> Vec<u8> {
    let mut package = signed.to_vec();
    encode_area(&mut package, tlv::INFO_MAGIC, entries).unwrap();
    package
}

#[test]
fn bad_packages_get_distinct_errors() {
    let key = SigningKey::development();
    let keys = [key.public()];
    let good = package(&key);
    let signed_len = 0x140 + patch().len();
    let signed = &good[..signed_len];
    let digest: [u8; 32] = Sha256::digest(signed).into();
    let flip = |at: usize| {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        bad
    };
    let untrusted = SigningKey::from_pem(fixtures::UNTRUSTED_PRIV).unwrap();
    let pure = {
        let (_, signature) = key.sign_pure(signed).unwrap();
        let sha512 = crate::digest::HashKind::Sha512.digest(signed);
        with_tlvs(
            signed,
            &[
                Tlv { kind: kind::SHA512, value: sha512.as_bytes() },
                Tlv { kind: kind::SIG_PURE, value: &[1] },
                Tlv { kind: kind::ED25519, value: &signature },
            ],
        )
    };
    let mut large = good.clone();
    large[0x0c..0x10].copy_from_slice(&0x0010_0000u32.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated in the header", good[..0x100].to_vec(), "Truncated"),
        ("truncated in the patch", good[..0x200].to_vec(), "Truncated"),
        ("truncated in the TLVs", good[..good.len() - 1].to_vec(), "Truncated"),
        ("bad magic", flip(0x05), "DeltaMagic"),
        ("format version 0", flip(0x00), "DeltaFormat"),
        ("header length 0x141", flip(0x02), "DeltaFormat"),
        ("flags", flip(0x08), "DeltaFlags"),
        ("UUID not of the SHA", flip(0x58 + 3), "DeltaUuid"),
        (
            "version not printable",
            {
                let mut b = good.clone();
                b[0xa0 + 2] = 0x01;
                b
            },
            "ModemVersion",
        ),
        ("patch past the limit", large, "TooLarge"),
        ("unsigned", with_tlvs(signed, &[Tlv { kind: kind::SHA256, value: &digest }]), "Unsigned"),
        ("untrusted key", package(&untrusted), "UntrustedKey"),
        ("tampered header byte", flip(0x10), "HashMismatch"),
        ("tampered patch byte", flip(0x140 + 100), "HashMismatch"),
        ("tampered signature", flip(good.len() - 1), "BadSignature"),
        ("no hash", with_tlvs(signed, &[]), "MissingHash"),
        ("pure", pure, "PureNotAllowed"),
        ("an MCUboot image", fixtures::SIGNED_ED25519.to_vec(), "DeltaMagic"),
    ];
    for (what, package, want) in cases {
        let err = stream(&package, &[97], 0x10000, &keys).unwrap_err();
        assert_eq!(name(&err), want, "{what}: {err}");
    }
}

#[test]
fn patch_length_is_checked_against_the_limit_at_the_header() {
    let package = package(&SigningKey::development());
    let mut verifier = DeltaVerifier::new(0x140 + 100, &[TrustedKey::development()]);
    let err = verifier.update(&package[..0x140]).unwrap_err();
    assert!(
        matches!(err, ImageError::TooLarge { len, .. } if len == (0x140 + patch().len() + 4) as u64),
        "{err}"
    );
    assert!(matches!(verifier.update(b""), Err(ImageError::AlreadyFailed)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_gives_the_same_verdict(chunks in proptest::collection::vec(1usize..700, 1..8), flip in proptest::option::of(0usize..3400)) {
        let key = SigningKey::development();
        let mut package = package(&key);
        if let Some(at) = flip {
            let at = at % package.len();
            package[at] ^= 0x10;
        }
        let whole = stream(&package, &[package.len()], 0x10000, &[key.public()]).map_err(|e| name(&e));
        let chunked = stream(&package, &chunks, 0x10000, &[key.public()]).map_err(|e| name(&e));
        prop_assert_eq!(&whole, &chunked);
        prop_assert_eq!(whole.is_ok(), flip.is_none());
    }

    #[test]
    fn header_emit_parse_round_trip(size in any::<u32>(), sha in any::<[u8; 32]>(), patch_len in any::<u32>(), version in "[ -~]{1,63}") {
        let firmware = ModemFirmware { size, sha256: sha, version: version.parse().unwrap() };
        let header = DeltaHeader { source: firmware.clone(), target: firmware, patch_len };
        let mut out = Vec::new();
        header.emit(&mut out);
        prop_assert_eq!(out.len(), DeltaHeader::LEN);
        prop_assert_eq!(DeltaHeader::parse(&out).unwrap(), header);
    }

    #[test]
    fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..0x160)) {
        let mut framed = FIXTURE.to_vec();
        for (i, b) in bytes.iter().enumerate() {
            framed[i % 0x140] ^= b;
        }
        let _ = DeltaHeader::parse(&framed);
        let _ = DeltaHeader::parse(&bytes);
    }
}
