//! A settings partition made from fuzz bytes: a small NOR flash (4 KiB sectors, 4-byte writes,
//! 2 to 4 sectors) holding the input, and a fix-up that makes its CRCs check out.
//!
//! Owns the flash image only; it never opens the store. Without the fix-up a fuzzer would need
//! to guess a CRC-32 before reaching any record, so [`fix_crcs`] rewrites every CRC the
//! format (documented in `atfota_storage::settings`) would check, leaving all other bytes as
//! the fuzzer chose them. The format's offsets are repeated here on purpose: the crate keeps
//! them private, and a harness that read them from the code under test would share its bugs.

use atfota_storage::{ERASED, Geometry, Partition, SimFlash};

/// Erase unit of the fuzzed flash, as on the emulated nRF9160.
pub const SECTOR_SIZE: u32 = 0x1000;
/// Write unit of the fuzzed flash.
pub const WRITE_SIZE: u32 = 0x04;

/// Bytes of a bank header covered by its CRC; the CRC follows them.
const HEADER_CRC_AT: usize = 0x18;
/// Bytes of a bank header, CRC included.
const HEADER_LEN: usize = 0x1c;
/// Offset of the bank's sequence number in its header.
const SEQ_AT: usize = 0x08;
/// Bytes of a record header: type, key length, value length, CRC.
const RECORD_HEADER_LEN: usize = 0x08;
/// Offset of the CRC in a record header.
const RECORD_CRC_AT: usize = 0x04;
/// Record kinds (type byte without the commit flag 0x80).
const KIND_SET: u8 = 0x01;
const KIND_REMOVE: u8 = 0x02;
const FLAG_COMMIT: u8 = 0x80;
const MAX_KEY_LEN: usize = 64;
const MAX_VALUE_LEN: usize = 4096;

/// A flash of `2 + selector % 3` sectors holding `bytes`, cut or padded with erased bytes, and
/// the partition that covers all of it.
pub fn flash(selector: u8, bytes: &[u8], fix: bool) -> (SimFlash, Partition) {
    let sectors = 2 + u32::from(selector % 3);
    let capacity = sectors * SECTOR_SIZE;
    let mut image = vec![ERASED; capacity as usize];
    let used = bytes.len().min(image.len());
    image[..used].copy_from_slice(&bytes[..used]);
    if fix {
        fix_crcs(&mut image, sectors);
    }
    // Constant geometry (powers of two, capacity a multiple of the sector) and a matching
    // image length: neither constructor can refuse them.
    let geometry = Geometry::new(SECTOR_SIZE, WRITE_SIZE, capacity).expect("valid constant geometry");
    let flash = SimFlash::from_image(geometry, image).expect("image is exactly the capacity");
    let partition = Partition { name: "settings", offset: 0, size: capacity };
    (flash, partition)
}

/// Rewrites the CRC of every non-erased bank header, and of every record that the reader would
/// reach, so that the store's structure, not a checksum, decides what is read.
pub fn fix_crcs(image: &mut [u8], sectors: u32) {
    let bank_size = (sectors / 2 * SECTOR_SIZE) as usize;
    for bank in image.chunks_exact_mut(bank_size).take(2) {
        fix_bank(bank);
    }
}

fn fix_bank(bank: &mut [u8]) {
    if bank[..HEADER_LEN].iter().all(|&b| b == ERASED) {
        return;
    }
    let crc = crc32fast::hash(&bank[..HEADER_CRC_AT]);
    bank[HEADER_CRC_AT..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    let seq = bank[SEQ_AT..SEQ_AT + 8].to_vec();
    let mut pos = round_up(HEADER_LEN);
    while pos + RECORD_HEADER_LEN <= bank.len() {
        let Some(body_len) = record_body_len(&bank[pos..pos + RECORD_HEADER_LEN]) else { return };
        let len = round_up(RECORD_HEADER_LEN + body_len);
        if pos + len > bank.len() {
            return;
        }
        let body_at = pos + RECORD_HEADER_LEN;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&seq);
        crc.update(&bank[pos..pos + RECORD_CRC_AT]);
        crc.update(&bank[body_at..body_at + body_len]);
        bank[pos + RECORD_CRC_AT..body_at].copy_from_slice(&crc.finalize().to_le_bytes());
        pos += len;
    }
}

/// Key plus value length of a record header the reader accepts, `None` where it stops.
fn record_body_len(head: &[u8]) -> Option<usize> {
    let key_len = usize::from(head[1]);
    let value_len = usize::from(u16::from_le_bytes([head[2], head[3]]));
    let kind_ok = match head[0] & !FLAG_COMMIT {
        KIND_SET => value_len <= MAX_VALUE_LEN,
        KIND_REMOVE => value_len == 0,
        _ => false,
    };
    (kind_ok && (1..=MAX_KEY_LEN).contains(&key_len)).then_some(key_len + value_len)
}

fn round_up(len: usize) -> usize {
    len.next_multiple_of(WRITE_SIZE as usize)
}

#[cfg(test)]
mod tests {
    use atfota_storage::{NorFlash, Settings};

    use super::*;

    /// A store written through the real API, as raw bytes.
    fn written_store(sectors: u8, pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let (mut flash, part) = flash(sectors, &[], false);
        let mut store = Settings::open(&mut flash, part).expect("blank store opens");
        for (key, value) in pairs {
            store.set(&mut flash, key, value).expect("set on a blank store");
        }
        flash.data().to_vec()
    }

    #[test]
    fn the_selector_picks_two_to_four_sectors() {
        for (selector, sectors) in [(0, 2), (1, 3), (2, 4), (3, 2)] {
            let (flash, part) = flash(selector, b"x", false);
            assert_eq!(flash.geometry().capacity, sectors * SECTOR_SIZE);
            assert_eq!(part.size, sectors * SECTOR_SIZE);
            assert_eq!(flash.data()[0], b'x');
            assert!(flash.data()[1..].iter().all(|&b| b == ERASED));
        }
    }

    #[test]
    fn fixing_a_valid_store_changes_nothing() {
        let image = written_store(1, &[("a", b"1"), ("key.two", b"value")]);
        let mut fixed = image.clone();
        fix_crcs(&mut fixed, 3);
        assert_eq!(fixed, image);
    }

    #[test]
    fn fixing_makes_an_edited_record_readable_again() {
        let mut image = written_store(0, &[("a", b"1"), ("b", b"2")]);
        // The value byte of the record of "a": after its header (set + commit, key and value
        // of one byte, CRC) and its key.
        let head = [KIND_SET | FLAG_COMMIT, 1, 1, 0];
        let record = image.windows(4).position(|w| w == head).expect("the record of a");
        let at = record + RECORD_HEADER_LEN + 1;
        assert_eq!(image[at], b'1');
        image[at] = b'9';

        let (mut broken, part) = flash(0, &image, false);
        let store = Settings::open(&mut broken, part).expect("damaged store opens");
        assert_eq!(store.get("a"), None, "the CRC no longer matches");

        let (mut repaired, part) = flash(0, &image, true);
        let store = Settings::open(&mut repaired, part).expect("repaired store opens");
        assert_eq!(store.get("a"), Some(&b"9"[..]));
        assert_eq!(store.get("b"), Some(&b"2"[..]));
    }

    #[test]
    fn fixing_a_blank_or_garbage_image_never_panics() {
        let mut blank = vec![ERASED; 2 * SECTOR_SIZE as usize];
        fix_crcs(&mut blank, 2);
        assert!(blank.iter().all(|&b| b == ERASED));
        let mut garbage: Vec<u8> = (0..4 * SECTOR_SIZE).map(|i| (i * 7 % 251) as u8).collect();
        fix_crcs(&mut garbage, 4);
    }

    /// Opens a seed of the `settings_open` corpus as the target does (control byte first).
    fn open_seed(seed: &[u8]) -> Settings {
        let (mut flash, part) = flash(seed[0], &seed[3..], seed[0] & 0x04 != 0);
        Settings::open(&mut flash, part).expect("seed opens")
    }

    #[test]
    fn the_seeds_hold_the_stores_they_were_written_as() {
        let store = open_seed(include_bytes!("../corpus/settings_open/two-keys"));
        assert_eq!(store.get("a"), Some(&b"1"[..]));
        assert_eq!(store.get_str("modem.version"), Some("mfw_1.3.5"));

        let store = open_seed(include_bytes!("../corpus/settings_open/newer-bank-wins"));
        let keys: Vec<&str> = store.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["k1", "k2"], "bank 1 wins, its last batch is uncommitted");

        let store = open_seed(include_bytes!("../corpus/settings_open/remove"));
        assert_eq!(store.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b"]);

        let store = open_seed(include_bytes!("../corpus/settings_open/stale-crc-fixed"));
        assert_eq!(store.get("fix.me"), Some(&b"value"[..]), "read only thanks to the fix-up");
    }
}
