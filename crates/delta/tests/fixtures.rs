//! The compatibility proof: patches made by the real `detools create_patch` (0.53.0) apply
//! byte for byte, our `create` reproduces detools' operation stream and is never larger, and
//! the patches ours made (checked by `detools apply_patch` in `make-fixtures.sh`) apply too.
//!
//! Fixtures: `testdata/delta/<pair>/{from,to}.bin`, `detools-<c>.patch`, `ours-<c>.patch`.

use std::path::PathBuf;

use atfota_delta::{Compression, CreateOptions, Limits, PatchError, apply, create, patch_info};

const PAIRS: [&str; 5] = ["elf", "random", "empty-from", "identical", "empty-to"];
const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Lzma, Compression::Heatshrink];

fn dir(pair: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/delta").join(pair)
}

fn read(pair: &str, name: &str) -> Vec<u8> {
    let path = dir(pair).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn apply_to_vec(from: &[u8], patch: &[u8], limits: &Limits) -> Result<Vec<u8>, PatchError> {
    let mut out = Vec::new();
    let size = apply(&mut &from[..], patch, &mut out, limits)?;
    assert_eq!(size, out.len() as u64);
    Ok(out)
}

#[test]
fn every_fixture_patch_applies_byte_exact() {
    for pair in PAIRS {
        let (from, to) = (read(pair, "from.bin"), read(pair, "to.bin"));
        for c in COMPRESSIONS {
            for maker in ["detools", "ours"] {
                let patch = read(pair, &format!("{maker}-{}.patch", c.name()));
                let out = apply_to_vec(&from, &patch, &Limits::default())
                    .unwrap_or_else(|e| panic!("{pair}/{maker}-{}: {e}", c.name()));
                assert!(out == to, "{pair}/{maker}-{}: wrong bytes", c.name());
            }
        }
    }
}

#[test]
fn patch_info_reads_every_fixture_header() {
    for pair in PAIRS {
        let to = read(pair, "to.bin");
        for c in COMPRESSIONS {
            for maker in ["detools", "ours"] {
                let patch = read(pair, &format!("{maker}-{}.patch", c.name()));
                let info = patch_info(&patch[..patch.len().min(atfota_delta::MAX_HEADER_LEN)]).unwrap();
                assert_eq!(info.compression, c, "{pair}/{maker}");
                assert_eq!(info.to_size, to.len() as u64, "{pair}/{maker}");
                assert_eq!(info.heatshrink.is_some(), c == Compression::Heatshrink && !to.is_empty());
                assert_eq!(info.lzma_dict_size.is_some(), c == Compression::Lzma && !to.is_empty());
                if maker == "detools" && c == Compression::Lzma && !to.is_empty() {
                    // Python's lzma.FORMAT_ALONE at preset 6: an 8 MiB dictionary.
                    assert_eq!(info.lzma_dict_size, Some(8 << 20));
                }
                if maker == "detools" && c == Compression::Heatshrink && !to.is_empty() {
                    assert_eq!(info.heatshrink.map(|h| h.to_byte()), Some(0x44));
                }
            }
        }
    }
    // formats.md's example: `80 fb 01` is 16,064.
    assert_eq!(patch_info(&[0x00, 0x80, 0xfb, 0x01]).unwrap().to_size, 16_064);
}

#[test]
fn our_differ_writes_detools_operation_stream() {
    for pair in PAIRS {
        let (from, to) = (read(pair, "from.bin"), read(pair, "to.bin"));
        let ours = create(&from, &to, &CreateOptions::new(Compression::None)).unwrap();
        assert!(ours == read(pair, "detools-none.patch"), "{pair}: operation streams differ");
    }
}

#[test]
fn our_patches_apply_and_are_never_larger_than_detools() {
    for pair in PAIRS {
        let (from, to) = (read(pair, "from.bin"), read(pair, "to.bin"));
        for c in [Compression::Lzma, Compression::Heatshrink] {
            let ours = create(&from, &to, &CreateOptions::new(c)).unwrap();
            let theirs = read(pair, &format!("detools-{}.patch", c.name()));
            assert!(ours.len() <= theirs.len(), "{pair}/{}: {} > {}", c.name(), ours.len(), theirs.len());
            assert!(apply_to_vec(&from, &ours, &Limits::default()).unwrap() == to, "{pair}/{}", c.name());
        }
    }
}

#[test]
fn limits_refuse_large_outputs_and_dictionaries() {
    let (from, patch) = (read("elf", "from.bin"), read("elf", "detools-lzma.patch"));
    let small = Limits { max_to_size: 1000, ..Limits::default() };
    assert!(matches!(apply_to_vec(&from, &patch, &small), Err(PatchError::ToSizeTooLarge { .. })));
    let tight = Limits { max_lzma_dict: 1 << 20, ..Limits::default() };
    let err = apply_to_vec(&from, &patch, &tight).unwrap_err();
    assert!(matches!(err, PatchError::LzmaDictTooLarge { dict_size: 0x80_0000, .. }), "{err}");
    // Ours declares only the dictionary the stream needs, so the same limit passes.
    let ours = read("elf", "ours-lzma.patch");
    assert_eq!(apply_to_vec(&from, &ours, &tight).unwrap(), read("elf", "to.bin"));
}

#[test]
fn a_patch_for_another_old_firmware_is_refused_or_differs() {
    // Applying to a shorter old firmware: a diff or adjustment goes past its end.
    let from = read("random", "from.bin");
    for c in COMPRESSIONS {
        let patch = read("random", &format!("detools-{}.patch", c.name()));
        let err = apply_to_vec(&from[..from.len() / 2], &patch, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, PatchError::DiffOutOfBounds { .. } | PatchError::SeekOutOfBounds { .. }),
            "{}: {err}",
            c.name()
        );
    }
}

#[test]
fn every_heatshrink_window_detools_writes_decodes() {
    let (from, to) = (read("elf", "from.bin"), read("elf", "to.bin"));
    for (window, lookahead) in [(4, 3), (12, 4), (15, 14)] {
        let patch = read("elf", &format!("detools-heatshrink-w{window}-l{lookahead}.patch"));
        let info = patch_info(&patch[..atfota_delta::MAX_HEADER_LEN]).unwrap();
        let params = info.heatshrink.unwrap();
        assert_eq!((params.window_sz2(), params.lookahead_sz2()), (window, lookahead));
        let out = apply_to_vec(&from, &patch, &Limits::default()).unwrap();
        assert!(out == to, "window {window}, lookahead {lookahead}: wrong bytes");
    }
}

#[test]
fn patches_detools_makes_that_we_do_not_support_are_refused_clearly() {
    let from = read("elf", "from.bin");
    let refused = |name: &str| apply_to_vec(&from, &read("elf", name), &Limits::default()).unwrap_err();
    assert!(matches!(refused("refused-hdiffpatch.patch"), PatchError::UnsupportedPatchType { kind: 2 }));
    assert!(matches!(refused("refused-in-place.patch"), PatchError::UnsupportedPatchType { kind: 1 }));
    assert!(matches!(refused("refused-bz2.patch"), PatchError::UnsupportedCompression { code: 3 }));
    assert!(matches!(refused("refused-data-format.patch"), PatchError::DataFormat { .. }));
    let info = patch_info(&read("elf", "refused-bz2.patch"));
    assert!(matches!(info, Err(PatchError::UnsupportedCompression { code: 3 })));
}
