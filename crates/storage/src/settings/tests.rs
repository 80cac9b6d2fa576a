//! Unit tests of the settings store: API behaviour, limits, damaged
//! partitions, and a model-based property test. The power-cut proofs live in
//! `power_cut_tests`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Once;

use proptest::prelude::*;

use super::*;
use crate::sim::{CutMode, SimFlash};

/// 16 KiB of 4 KiB sectors; the store takes the middle two (banks of one sector).
pub(super) fn small() -> (SimFlash, Partition) {
    let geometry = Geometry::new(0x1000, 4, 0x4000).unwrap();
    (SimFlash::new(geometry), Partition { name: "settings", offset: 0x1000, size: 0x2000 })
}

pub(super) fn contents(store: &Settings) -> BTreeMap<String, Vec<u8>> {
    store.iter().map(|(k, v)| (k.to_owned(), v.to_vec())).collect()
}

/// Runs `f` and returns the warnings it logged on this thread.
fn warnings_during<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Another logger may already be installed by a test binary harness; then
        // warnings are not captured and the assertions on them would fail loudly.
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Warn);
    });
    WARNINGS.with(|w| w.borrow_mut().clear());
    let out = f();
    (out, WARNINGS.with(|w| w.take()))
}

thread_local! {
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static CAPTURE: Capture = Capture;

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() == log::Level::Warn {
            WARNINGS.with(|w| w.borrow_mut().push(record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn a_blank_partition_opens_empty_without_warning() {
    let (mut flash, part) = small();
    let (store, warnings) = warnings_during(|| Settings::open(&mut flash, part).unwrap());
    assert_eq!(store.iter().count(), 0);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(flash.ops(), 0, "open never writes");
}

#[test]
fn values_survive_reopen() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "fota.stage", b"downloading").unwrap();
    store.set(&mut flash, "fota.offset", &0x1234_5678u64.to_le_bytes()).unwrap();
    store.set(&mut flash, "empty", b"").unwrap();
    store.set(&mut flash, "fota.stage", b"verifying").unwrap();
    store.remove(&mut flash, "empty").unwrap();
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(reopened.get_str("fota.stage"), Some("verifying"));
    assert_eq!(reopened.get_u64("fota.offset"), Some(0x1234_5678));
    assert_eq!(reopened.get("empty"), None);
    assert_eq!(contents(&reopened), contents(&store));
    let keys: Vec<&str> = reopened.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["fota.offset", "fota.stage"]);
    // Nothing outside the partition was touched.
    assert!(flash.data()[..0x1000].iter().all(|&b| b == 0xff));
    assert!(flash.data()[0x3000..].iter().all(|&b| b == 0xff));
}

#[test]
fn typed_getters_refuse_other_shapes() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "bin", &[0xff, 0xfe]).unwrap();
    store.set(&mut flash, "seven", &[1; 7]).unwrap();
    assert_eq!(store.get_str("bin"), None);
    assert_eq!(store.get_u64("seven"), None);
    assert_eq!(store.get_u64("missing"), None);
    assert_eq!(store.get_str("missing"), None);
}

#[test]
fn bad_keys_and_values_are_refused_and_change_nothing() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    let ops = flash.ops();
    for key in ["", "tab\t", "é", &"k".repeat(65)] {
        assert!(matches!(store.set(&mut flash, key, b"x"), Err(SettingsError::InvalidKey { .. })), "{key:?}");
    }
    let big = vec![0; MAX_VALUE_LEN + 1];
    let err = store.set(&mut flash, "b", &big).unwrap_err();
    assert!(matches!(err, SettingsError::ValueTooLarge { len: 4097, .. }));
    // One bad change spoils the whole batch.
    let batch: [(&str, Option<&[u8]>); 2] = [("c", Some(b"ok")), ("bad key\n", None)];
    assert!(store.apply(&mut flash, &batch).is_err());
    assert_eq!(flash.ops(), ops);
    assert_eq!(contents(&store), BTreeMap::from([("a".to_owned(), b"1".to_vec())]));
    assert!(store.set(&mut flash, &"k".repeat(64), b"longest key").is_ok());
}

#[test]
fn changes_that_alter_nothing_write_nothing() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    let ops = flash.ops();
    store.set(&mut flash, "a", b"1").unwrap();
    store.remove(&mut flash, "missing").unwrap();
    store.apply(&mut flash, &[]).unwrap();
    store.apply(&mut flash, &[("a", Some(b"2")), ("a", Some(b"1"))]).unwrap();
    assert_eq!(flash.ops(), ops);
}

#[test]
fn a_batch_applies_its_last_change_per_key() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "gone", b"x").unwrap();
    let batch: [(&str, Option<&[u8]>); 4] =
        [("a", Some(b"1")), ("a", Some(b"2")), ("gone", None), ("b", Some(b"3"))];
    store.apply(&mut flash, &batch).unwrap();
    let expected = BTreeMap::from([("a".to_owned(), b"2".to_vec()), ("b".to_owned(), b"3".to_vec())]);
    assert_eq!(contents(&store), expected);
    assert_eq!(contents(&Settings::open(&mut flash, part).unwrap()), expected);
}

#[test]
fn compaction_alternates_banks_and_keeps_live_values() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "keep", b"kept").unwrap();
    assert_eq!(store.current, Some(Current { index: 0, seq: 1 }));
    for i in 0..500u32 {
        store.set(&mut flash, "counter", &i.to_le_bytes()).unwrap();
    }
    let current = store.current.unwrap();
    assert!(current.seq >= 3, "{current:?}");
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(reopened.current, store.current);
    assert_eq!(reopened.append_at, store.append_at);
    assert_eq!(reopened.get("keep"), Some(&b"kept"[..]));
    assert_eq!(reopened.get("counter"), Some(&499u32.to_le_bytes()[..]));
    assert!(!reopened.must_compact);
}

#[test]
fn values_that_no_longer_fit_a_bank_are_refused_cleanly() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", &[1; 2000]).unwrap();
    let err = store.set(&mut flash, "b", &[2; 2100]).unwrap_err();
    assert!(matches!(err, SettingsError::Full { capacity: 0x1000, .. }), "{err}");
    assert!(err.to_string().contains("enlarge"));
    assert_eq!(store.get("b"), None);
    assert!(!store.must_compact, "a refusal is not a flash failure");
    // A value as large as allowed can never fit a 4 KiB bank.
    assert!(matches!(store.set(&mut flash, "c", &[0; MAX_VALUE_LEN]), Err(SettingsError::Full { .. })));
    // Replacing the big value is still possible, and so is everything after.
    store.set(&mut flash, "a", &[3; 2100]).unwrap();
    store.set(&mut flash, "b", b"small").unwrap();
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(reopened.get("a"), Some(&[3u8; 2100][..]));
    assert_eq!(reopened.get("b"), Some(&b"small"[..]));
}

#[test]
fn unusable_partitions_are_refused() {
    let (mut flash, _) = small();
    let cases = [
        Partition { name: "one-sector", offset: 0x1000, size: 0x1000 },
        Partition { name: "misaligned", offset: 0x800, size: 0x2000 },
        Partition { name: "ragged", offset: 0x1000, size: 0x2800 },
        Partition { name: "outside", offset: 0x3000, size: 0x2000 },
        Partition { name: "wraps", offset: 0xffff_f000, size: 0x2000 },
    ];
    for part in cases {
        let err = Settings::open(&mut flash, part).unwrap_err();
        assert!(matches!(err, SettingsError::BadPartition { .. }), "{}: {err}", part.name);
    }
    // An odd sector count leaves the last sector unused.
    let part = Partition { name: "odd", offset: 0x1000, size: 0x3000 };
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    assert_eq!(store.banks.bank_size, 0x1000);
}

#[test]
fn flash_errors_fail_open() {
    let (mut flash, part) = small();
    flash.cut_before(1, CutMode::Clean, 0);
    let _ = flash.write(0, &[0; 4]);
    assert!(matches!(Settings::open(&mut flash, part), Err(SettingsError::Flash(FlashError::PowerLost))));
}

#[test]
fn a_failed_write_leaves_the_map_and_forces_a_compaction() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    let bank = store.current.unwrap().index;
    flash.cut_before(flash.ops() + 1, CutMode::Tear, 42);
    assert!(store.set(&mut flash, "a", b"2").is_err());
    assert_eq!(store.get("a"), Some(&b"1"[..]));
    assert!(store.must_compact);
    flash.restore_power();
    // Even without a reopen the torn tail is never appended to.
    store.set(&mut flash, "b", b"3").unwrap();
    assert_ne!(store.current.unwrap().index, bank);
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(contents(&reopened), contents(&store));
}

#[test]
fn a_torn_tail_is_reported_and_compacted_away() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    store.set(&mut flash, "b", b"2").unwrap();
    // Garbage after the last record, as a torn write leaves it.
    let end = part.offset + store.append_at;
    flash.write(end + 8, &[0x12, 0x34, 0x56, 0x78]).unwrap();
    let (reopened, warnings) = warnings_during(|| Settings::open(&mut flash, part).unwrap());
    let mut reopened = reopened;
    assert_eq!(contents(&reopened), contents(&store));
    assert!(reopened.must_compact);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("torn"));
    reopened.set(&mut flash, "c", b"3").unwrap();
    assert_eq!(reopened.current.unwrap().index, 1);
    let again = Settings::open(&mut flash, part).unwrap();
    assert_eq!(again.get("c"), Some(&b"3"[..]));
    assert!(!again.must_compact);
}

#[test]
fn an_uncommitted_batch_is_ignored() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "a", b"1").unwrap();
    let seq = store.current.unwrap().seq;
    // A batch whose commit record never arrived: one complete record, no commit bit.
    let record = format::emit_record(seq, "a", Some(b"2"), false, 4);
    flash.write(part.offset + store.append_at, &record).unwrap();
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(reopened.get("a"), Some(&b"1"[..]));
    assert!(reopened.must_compact);
}

#[test]
fn garbage_partitions_open_empty_with_a_warning() {
    let (flash, part) = small();
    let geometry = flash.geometry();
    let mut images: Vec<(String, Vec<u8>)> = vec![("zeros".into(), vec![0; 0x4000])];
    for seed in 0..32u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut bytes = vec![0; 0x4000];
        rng.fill(&mut bytes);
        images.push((format!("random {seed}"), bytes));
    }
    // Headers that check out but cannot be ours.
    let foreign = [
        format::BankHeader { seq: 0, bank_size: 0x1000, write_size: 4 },
        format::BankHeader { seq: u64::MAX, bank_size: 0x1000, write_size: 4 },
        format::BankHeader { seq: 1, bank_size: 0x2000, write_size: 4 },
        format::BankHeader { seq: 1, bank_size: 0x1000, write_size: 8 },
    ];
    for header in foreign {
        let mut bytes = vec![0xff; 0x4000];
        bytes[0x1000..0x1000 + format::BANK_HEADER_LEN].copy_from_slice(&header.emit());
        images.push((format!("{header:?}"), bytes));
    }
    for (name, bytes) in images {
        let mut flash = SimFlash::from_image(geometry, bytes).unwrap();
        let (store, warnings) = warnings_during(|| Settings::open(&mut flash, part).unwrap());
        let mut store = store;
        assert_eq!(store.iter().count(), 0, "{name}");
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        store.set(&mut flash, "after", b"garbage").unwrap();
        let reopened = Settings::open(&mut flash, part).unwrap();
        assert_eq!(contents(&reopened), contents(&store), "{name}");
    }
}

#[test]
fn a_valid_header_over_random_records_never_panics() {
    let (flash, part) = small();
    for seed in 0..64u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut bytes = vec![0xff; 0x4000];
        rng.fill(&mut bytes[0x1000..0x3000]);
        let header = format::BankHeader { seq: 7, bank_size: 0x1000, write_size: 4 }.emit();
        bytes[0x1000..0x1000 + header.len()].copy_from_slice(&header);
        // Plausible record heads with random bodies and lengths.
        let mut at = 0x1000 + 0x1c;
        while at + 8 < 0x2000 {
            bytes[at] = if rng.bool() { 0x81 } else { 0x01 };
            bytes[at + 1] = rng.u8(..);
            bytes[at + 2..at + 4].copy_from_slice(&rng.u16(..0x1100).to_le_bytes());
            at += rng.usize(1..64) * 4;
        }
        let mut flash = SimFlash::from_image(flash.geometry(), bytes).unwrap();
        let mut store = Settings::open(&mut flash, part).unwrap();
        assert_eq!(store.current.map(|c| c.seq), Some(7));
        store.set(&mut flash, "k", b"v").unwrap();
        assert_eq!(store.current.map(|c| c.seq), Some(8));
        assert_eq!(contents(&Settings::open(&mut flash, part).unwrap()), contents(&store));
    }
}

/// Found by the `settings_open` fuzz target: a bank at the last valid sequence number
/// (only a foreign or forged header has one) was "compacted" into a bank numbered
/// `u64::MAX`, which no reader accepts, so the change was lost at the next open.
#[test]
fn a_bank_at_the_last_sequence_number_refuses_to_compact() {
    let (flash, part) = small();
    let last = u64::MAX - 1;
    let mut bytes = vec![0xff; 0x4000];
    let header = format::BankHeader { seq: last, bank_size: 0x1000, write_size: 4 }.emit();
    bytes[0x1000..0x1000 + header.len()].copy_from_slice(&header);
    let record = format::emit_record(last, "a", Some(b"1"), true, 4);
    bytes[0x1000 + 0x1c..0x1000 + 0x1c + record.len()].copy_from_slice(&record);
    let mut flash = SimFlash::from_image(flash.geometry(), bytes).unwrap();
    let mut store = Settings::open(&mut flash, part).unwrap();
    assert_eq!(store.get("a"), Some(&b"1"[..]));

    // The first big value is appended; the second no longer fits after it and needs the
    // other bank, hence a sequence number after the last.
    store.set(&mut flash, "b", &[2; 3000]).unwrap();
    let ops = flash.ops();
    let err = store.set(&mut flash, "b", &[3; 3000]).unwrap_err();
    assert!(matches!(err, SettingsError::SequenceExhausted { .. }), "{err}");
    assert!(err.to_string().contains("erase the settings partition"), "{err}");
    assert_eq!(flash.ops(), ops, "nothing was erased or written");
    assert_eq!(contents(&store), contents(&Settings::open(&mut flash, part).unwrap()));

    // Appending needs no new sequence number: small changes still work and last.
    store.set(&mut flash, "c", b"3").unwrap();
    let reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(contents(&reopened), contents(&store));
    assert_eq!(reopened.get("c"), Some(&b"3"[..]));
}

#[test]
fn a_half_written_partition_keeps_what_was_committed() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    for i in 0..10u8 {
        store.set(&mut flash, &format!("k{i}"), &[i; 40]).unwrap();
    }
    // Random bytes over the second half of the current bank.
    let mut image = flash.data().to_vec();
    let start = (part.offset + store.append_at) as usize;
    let mut rng = fastrand::Rng::with_seed(9);
    rng.fill(&mut image[start..0x2000]);
    let mut flash = SimFlash::from_image(flash.geometry(), image).unwrap();
    let mut reopened = Settings::open(&mut flash, part).unwrap();
    assert_eq!(contents(&reopened), contents(&store));
    reopened.set(&mut flash, "k0", b"new").unwrap();
    let again = Settings::open(&mut flash, part).unwrap();
    assert_eq!(again.get("k0"), Some(&b"new"[..]));
    assert_eq!(again.get("k9"), Some(&[9u8; 40][..]));
}

#[test]
fn works_on_a_file_backed_flash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    let geometry = Geometry::new(0x1000, 4, 0x4000).unwrap();
    let part = Partition { name: "settings", offset: 0x2000, size: 0x2000 };
    let mut flash = crate::file::FileFlash::create(&path, geometry).unwrap();
    let mut store = Settings::open(&mut flash, part).unwrap();
    for i in 0..100u64 {
        store.set(&mut flash, "fota.offset", &(i * 0x1000).to_le_bytes()).unwrap();
    }
    store.set(&mut flash, "fota.stage", b"ready").unwrap();
    flash.sync().unwrap();
    drop(flash);
    let mut flash = crate::file::FileFlash::open(&path, geometry).unwrap();
    let store = Settings::open(&mut flash, part).unwrap();
    assert_eq!(store.get_u64("fota.offset"), Some(99 * 0x1000));
    assert_eq!(store.get_str("fota.stage"), Some("ready"));
}

#[test]
fn debug_output_shows_keys_but_not_values() {
    let (mut flash, part) = small();
    let mut store = Settings::open(&mut flash, part).unwrap();
    store.set(&mut flash, "net.password", b"hunter2").unwrap();
    let text = format!("{store:?}");
    assert!(text.contains("net.password"));
    assert!(!text.contains("hunter2"));
}

#[derive(Clone, Debug)]
enum Op {
    Set(usize, Vec<u8>),
    Remove(usize),
    Batch(Vec<(usize, Option<Vec<u8>>)>),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let value = || proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        4 => (0..6usize, value()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (0..6usize).prop_map(Op::Remove),
        2 => proptest::collection::vec((0..6usize, proptest::option::of(value())), 1..5).prop_map(Op::Batch),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..80)) {
        let keys = ["fota.stage", "fota.offset", "fota.result", "key.a", "key.b", "k"];
        let (mut flash, part) = small();
        let mut store = Settings::open(&mut flash, part).unwrap();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(k, v) => {
                    store.set(&mut flash, keys[k], &v).unwrap();
                    model.insert(keys[k].to_owned(), v);
                }
                Op::Remove(k) => {
                    store.remove(&mut flash, keys[k]).unwrap();
                    model.remove(keys[k]);
                }
                Op::Batch(changes) => {
                    let batch: Vec<(&str, Option<&[u8]>)> =
                        changes.iter().map(|(k, v)| (keys[*k], v.as_deref())).collect();
                    store.apply(&mut flash, &batch).unwrap();
                    for (k, v) in changes {
                        match v {
                            Some(v) => model.insert(keys[k].to_owned(), v),
                            None => model.remove(keys[k]),
                        };
                    }
                }
                Op::Reopen => store = Settings::open(&mut flash, part).unwrap(),
            }
            prop_assert_eq!(&contents(&store), &model);
        }
        prop_assert_eq!(&contents(&Settings::open(&mut flash, part).unwrap()), &model);
    }

    #[test]
    fn corrupting_a_store_never_panics(
        hits in proptest::collection::vec((0usize..0x2000, any::<u8>()), 1..40),
    ) {
        let (mut flash, part) = small();
        let mut store = Settings::open(&mut flash, part).unwrap();
        for i in 0..30u8 {
            store.set(&mut flash, &format!("k{}", i % 7), &[i; 60]).unwrap();
        }
        let mut image = flash.data().to_vec();
        for (at, byte) in hits {
            image[0x1000 + at] = byte;
        }
        let mut flash = SimFlash::from_image(flash.geometry(), image).unwrap();
        let mut store = Settings::open(&mut flash, part).unwrap();
        store.set(&mut flash, "after", b"corruption").unwrap();
        let reopened = Settings::open(&mut flash, part).unwrap();
        prop_assert_eq!(contents(&reopened), contents(&store));
        prop_assert_eq!(reopened.get("after"), Some(&b"corruption"[..]));
    }
}
