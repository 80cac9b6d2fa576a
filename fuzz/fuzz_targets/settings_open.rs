//! Fuzz target: a settings partition's raw contents through `Settings::open`, then changes
//! written on top of them (`atfota-storage`).
//!
//! Checks that any flash contents open (only flash failures may fail, and the simulator has
//! none) into a store that respects its limits, and that the store then stays durable: after
//! each accepted change the flash reopens to exactly what the store holds in RAM, and a
//! refused change alters nothing. The control byte picks the partition size, whether CRCs are
//! fixed up so the fuzzer reaches the records, and which changes follow. A panic here is a
//! finding: the harness states what it expected instead of handling the error.

#![no_main]

use std::collections::BTreeMap;

use atfota_fuzz::{input, settings_image};
use atfota_storage::{MAX_KEY_LEN, MAX_VALUE_LEN, Settings, SettingsError, SimFlash};
use libfuzzer_sys::fuzz_target;

/// Control bit: rewrite the CRCs before opening.
const FIX_CRCS: u8 = 0x04;

fuzz_target!(|data: &[u8]| {
    let ([control, ops, value_len], bytes) = input::header::<3>(data);
    let (mut flash, part) = settings_image::flash(control, bytes, control & FIX_CRCS != 0);
    let mut store = Settings::open(&mut flash, part).expect("any contents open");
    for (key, value) in store.iter() {
        assert!((1..=MAX_KEY_LEN).contains(&key.len()), "key length {}", key.len());
        assert!(key.bytes().all(|b| (0x20..=0x7e).contains(&b)), "key {key:?}");
        assert!(value.len() <= MAX_VALUE_LEN, "value of {} bytes", value.len());
    }
    assert_eq!(snapshot(&store), reopen(&mut flash, part), "opening is not deterministic");

    // One to four changes (bits 6-7), each chosen by two bits: set a new key, set a key already
    // there, write a key's own value back (no change), or remove a key already there.
    let existing: Vec<String> = store.iter().map(|(k, _)| k.to_owned()).collect();
    for step in 0..usize::from(ops >> 6) + 1 {
        let choice = (ops >> (step % 3 * 2)) & 0x03;
        let key = match existing.get(step) {
            Some(key) if choice != 0 => key.clone(),
            _ => format!("fuzz.{step}"),
        };
        let len = usize::from(value_len).wrapping_mul(step + 1) % (MAX_VALUE_LEN + 1);
        let value: Vec<u8> = match (choice, store.get(&key)) {
            (2, Some(current)) => current.to_vec(),
            _ => bytes.iter().copied().cycle().take(len).collect(),
        };
        let remove = choice == 3;
        let before = snapshot(&store);
        let result =
            if remove { store.remove(&mut flash, &key) } else { store.set(&mut flash, &key, &value) };
        match result {
            Ok(()) => {
                let expected = (!remove).then_some(value.as_slice());
                assert_eq!(store.get(&key), expected, "the change is not visible");
            }
            // Refusals for want of room or of a sequence number (a forged bank header).
            Err(SettingsError::Full { .. } | SettingsError::SequenceExhausted { .. }) => {
                assert_eq!(snapshot(&store), before, "a refused change stuck");
            }
            Err(e) => panic!("change of {key:?} failed: {e}"),
        }
        assert_eq!(snapshot(&store), reopen(&mut flash, part), "the flash does not hold what the store says");
    }
});

fn snapshot(store: &Settings) -> BTreeMap<String, Vec<u8>> {
    store.iter().map(|(k, v)| (k.to_owned(), v.to_vec())).collect()
}

fn reopen(flash: &mut SimFlash, part: atfota_storage::Partition) -> BTreeMap<String, Vec<u8>> {
    snapshot(&Settings::open(flash, part).expect("the store reopens"))
}
