//! [`Settings`]: a power-fail-safe key/value store kept in one flash partition
//! (FOTA stage, resume offset, result to report after reboot, trusted keys).
//!
//! Owns the partition's contents and an in-RAM map that mirrors them. It must
//! never write into bytes that may hold a torn write (those are left behind
//! and compacted away, never overwritten), never erase the bank that holds the
//! current values before another bank has taken over, and never panic on what
//! it reads back.
//!
//! Written by hand rather than with the usual crate, `sequential-storage`:
//! that one is async-only, needs flash that can be written several times per
//! word, and repairs corruption by erasing pages, which can lose the old value
//! under the torn-write model this project proves itself against (a cut may
//! leave arbitrary bytes in the write unit being programmed, or in a sector
//! being erased).
//!
//! # On-flash format (version 1)
//!
//! Integers are little-endian. CRC-32 is the IEEE one (zlib, `crc32fast`).
//! `ws` is the flash write size; everything written is padded with `0xFF` to a
//! multiple of it.
//!
//! The partition is split into two banks of `floor(sectors / 2)` sectors:
//! bank 0 at partition offset 0, bank 1 right after it (an odd last sector is
//! unused).
//!
//! Bank header, at bank offset 0, `round_up(0x1c, ws)` bytes:
//!
//! | offset | size | field                                                    |
//! |--------|------|----------------------------------------------------------|
//! | 0x00   | 4    | magic `0x53465441` (bytes `41 54 46 53`, "ATFS")         |
//! | 0x04   | 4    | format version, `0x00000001`                             |
//! | 0x08   | 8    | sequence number, `1 ..= 0xFFFF_FFFF_FFFF_FFFE`           |
//! | 0x10   | 4    | bank size in bytes                                       |
//! | 0x14   | 4    | write size in bytes                                      |
//! | 0x18   | 4    | CRC-32 of bytes `0x00..0x18`                             |
//!
//! A bank is valid when magic and CRC check out, the version is 1, the
//! sequence number is in range, and bank and write size are the partition's.
//!
//! Records follow the header back to back, each at a multiple of `ws`:
//!
//! | offset   | size | field                                                           |
//! |----------|------|-----------------------------------------------------------------|
//! | 0x00     | 1    | type: bits 6..0 kind (`0x01` set, `0x02` remove); bit 7 commit  |
//! | 0x01     | 1    | key length `k`, 1..=64                                          |
//! | 0x02     | 2    | value length `v`, 0..=4096 (0 for remove)                       |
//! | 0x04     | 4    | CRC-32 of: bank sequence (8 bytes) ‖ bytes `0x00..0x04` ‖ key ‖ value |
//! | 0x08     | k    | key, printable ASCII `0x20..=0x7E`                              |
//! | 0x08 + k | v    | value                                                           |
//!
//! then `0xFF` up to a multiple of `ws`. The commit bit marks the last record
//! of a batch; a batch counts only once its commit record is complete. The
//! sequence number in the CRC ties each record to its bank's generation.
//!
//! Reading (`open`): the valid bank with the highest sequence number is
//! current (bank 0 on a tie); no valid bank means an empty store. Its records
//! are read in order up to the first one that does not check out or does not
//! fit in the bank; committed batches are applied, records after the last
//! commit are ignored. The *tail* runs from the end of the last committed
//! record to the end of the bank: if any byte of it is not `0xFF`, a write was
//! torn there, and the next write compacts instead of appending.
//!
//! Writing: a batch (only the changes that alter a value, in key order) is
//! appended as one record per flash write, the last with the commit bit. When
//! it does not fit, when the tail is not clean, or after any failed write, the
//! store *compacts*: it erases the other bank sector by sector (the header's
//! sector first, so an old header dies before anything else changes), writes
//! every live value — the batch already applied — as a set record with the
//! commit bit, in key order, and writes the header with sequence + 1 **last**.
//! Until that header is complete the old bank stays current and untouched;
//! once it is, the new bank wins. Either way each key reads its value from
//! before or after the interrupted call, and a batch survives whole or not at
//! all. A bank at the last sequence number (only a foreign header can have
//! one) has no successor: compacting it fails and changes nothing.

mod format;
mod scan;

#[cfg(test)]
mod power_cut_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use crate::flash::{FlashError, Geometry, NorFlash};
use crate::partition::Partition;

pub use format::{MAX_KEY_LEN, MAX_VALUE_LEN};

/// The key/value store; an in-RAM map mirrors the flash, which every change goes to first.
pub struct Settings {
    banks: Banks,
    current: Option<Current>,
    /// Bank offset where the next record goes in the current bank.
    append_at: u32,
    /// The current bank's tail may hold torn bytes: compact before writing.
    must_compact: bool,
    map: BTreeMap<String, Vec<u8>>,
}

/// Why a settings operation failed; a failed change leaves the store as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The flash refused or failed an operation.
    #[error("settings storage failed: {0}")]
    Flash(#[from] FlashError),
    /// The partition cannot hold a store.
    #[error(
        "settings partition {name} at {offset:#x}+{size:#x} must be sector-aligned, inside the flash, and span at least two sectors of {sector_size:#x} bytes"
    )]
    BadPartition {
        /// Partition name.
        name: &'static str,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// The flash's sector size.
        sector_size: u32,
    },
    /// A key is empty, too long or not printable ASCII.
    #[error("setting key {key:?} is invalid: use 1 to 64 printable ASCII characters")]
    InvalidKey {
        /// The refused key.
        key: String,
    },
    /// A value is longer than [`MAX_VALUE_LEN`].
    #[error("value for setting {key:?} is {len} bytes, more than the 4096 allowed")]
    ValueTooLarge {
        /// The key it was for.
        key: String,
        /// Its length.
        len: usize,
    },
    /// The current bank has the last sequence number, so no bank can succeed it.
    #[error(
        "settings partition {name} has used up its sequence numbers (its header was not written by this store): erase the settings partition to start it again"
    )]
    SequenceExhausted {
        /// Partition name.
        name: &'static str,
    },
    /// The values would no longer fit in one bank.
    #[error(
        "settings would need {needed} bytes but a bank holds {capacity}: remove settings or enlarge the settings partition"
    )]
    Full {
        /// Bytes the live values would take, bank header included.
        needed: u64,
        /// Bytes in a bank.
        capacity: u64,
    },
}

/// Where the two banks are and how records are aligned.
#[derive(Clone, Copy, Debug)]
struct Banks {
    part: Partition,
    bank_size: u32,
    sector_size: u32,
    write_size: u32,
}

/// The bank that holds the live values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Current {
    index: usize,
    seq: u64,
}

impl Settings {
    /// Loads the store from `part`; damaged contents give an empty store and a
    /// warning, only flash errors and an unusable partition fail.
    pub fn open<F: NorFlash + ?Sized>(flash: &mut F, part: Partition) -> Result<Self, SettingsError> {
        let banks = Banks::new(flash.geometry(), part)?;
        let mut store = Self { banks, current: None, append_at: 0, must_compact: true, map: BTreeMap::new() };
        let Some(current) = scan::find_current(flash, &banks)? else {
            return Ok(store);
        };
        let replay = scan::replay(flash, &banks, current)?;
        if !replay.clean {
            log::warn!(
                "settings: partition {} has a torn write after offset {:#x} of bank {}; \
                 it will be compacted before the next change",
                part.name,
                replay.end,
                current.index
            );
        }
        store.current = Some(current);
        store.append_at = replay.end;
        store.must_compact = !replay.clean;
        store.map = replay.map;
        Ok(store)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// The value of `key` if it is set and is UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of `key` if it is set and is 8 bytes (a little-endian `u64`).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        let bytes: [u8; 8] = self.get(key)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    /// Sets `key` to `value`, durably once this returns `Ok`.
    pub fn set<F: NorFlash + ?Sized>(
        &mut self,
        flash: &mut F,
        key: &str,
        value: &[u8],
    ) -> Result<(), SettingsError> {
        self.apply(flash, &[(key, Some(value))])
    }

    /// Removes `key` (nothing happens if it is not set).
    pub fn remove<F: NorFlash + ?Sized>(&mut self, flash: &mut F, key: &str) -> Result<(), SettingsError> {
        self.apply(flash, &[(key, None)])
    }

    /// Sets (`Some`) and removes (`None`) several keys atomically: after a power cut
    /// either all changes are in flash or none is. A key named twice takes its last change.
    pub fn apply<F: NorFlash + ?Sized>(
        &mut self,
        flash: &mut F,
        changes: &[(&str, Option<&[u8]>)],
    ) -> Result<(), SettingsError> {
        let batch = self.effective_changes(changes)?;
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.write_batch(flash, &batch);
        if let Err(SettingsError::Flash(_)) = result {
            // Part of a record may be in flash: never append after it.
            self.must_compact = true;
        }
        result
    }

    /// All settings, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Checks every change, then keeps only the last change per key, and only
    /// if it alters the value (rewriting a value wears flash for nothing).
    fn effective_changes<'a>(
        &self,
        changes: &[(&'a str, Option<&'a [u8]>)],
    ) -> Result<BTreeMap<&'a str, Option<&'a [u8]>>, SettingsError> {
        let mut batch = BTreeMap::new();
        for &(key, value) in changes {
            if !format::valid_key(key.as_bytes()) {
                return Err(SettingsError::InvalidKey { key: key.to_owned() });
            }
            if let Some(value) = value
                && value.len() > MAX_VALUE_LEN
            {
                return Err(SettingsError::ValueTooLarge { key: key.to_owned(), len: value.len() });
            }
            batch.insert(key, value);
        }
        batch.retain(|key, value| self.get(key) != *value);
        Ok(batch)
    }

    fn write_batch<F: NorFlash + ?Sized>(
        &mut self,
        flash: &mut F,
        batch: &BTreeMap<&str, Option<&[u8]>>,
    ) -> Result<(), SettingsError> {
        let write_size = self.banks.write_size;
        let batch_len: u64 = batch
            .iter()
            .map(|(key, value)| {
                format::record_len(key.len(), value.map_or(0, <[u8]>::len), write_size) as u64
            })
            .sum();
        let fits = u64::from(self.append_at) + batch_len <= u64::from(self.banks.bank_size);
        match self.current {
            Some(current) if fits && !self.must_compact => {
                self.append(flash, current, batch)?;
                apply_to(&mut self.map, batch);
            }
            _ => {
                let mut next = self.map.clone();
                apply_to(&mut next, batch);
                self.compact(flash, &next)?;
                self.map = next;
            }
        }
        Ok(())
    }

    /// Appends the batch to the current bank, commit bit on its last record.
    fn append<F: NorFlash + ?Sized>(
        &mut self,
        flash: &mut F,
        current: Current,
        batch: &BTreeMap<&str, Option<&[u8]>>,
    ) -> Result<(), FlashError> {
        let base = self.banks.offset(current.index);
        let last = batch.len() - 1;
        for (i, (key, value)) in batch.iter().enumerate() {
            let record = format::emit_record(current.seq, key, *value, i == last, self.banks.write_size);
            self.banks.part.write(flash, base + self.append_at, &record)?;
            // Fits in u32: write_batch checked the batch fits in the bank.
            self.append_at += record.len() as u32;
        }
        Ok(())
    }

    /// Rewrites `next` into the other bank, header last, and makes it current.
    fn compact<F: NorFlash + ?Sized>(
        &mut self,
        flash: &mut F,
        next: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), SettingsError> {
        let write_size = self.banks.write_size;
        let header_len = format::bank_header_len(write_size);
        let needed = header_len as u64
            + next
                .iter()
                .map(|(key, value)| format::record_len(key.len(), value.len(), write_size) as u64)
                .sum::<u64>();
        if needed > u64::from(self.banks.bank_size) {
            return Err(SettingsError::Full { needed, capacity: u64::from(self.banks.bank_size) });
        }
        // find_current refuses u64::MAX, so seq + 1 cannot overflow; but a bank numbered
        // u64::MAX would be refused too, so the last valid number has no successor.
        let (index, seq) = match self.current {
            Some(current) if current.seq + 1 == u64::MAX => {
                return Err(SettingsError::SequenceExhausted { name: self.banks.part.name });
            }
            Some(current) => (1 - current.index, current.seq + 1),
            None => (0, 1),
        };
        let base = self.banks.offset(index);
        let sector = self.banks.sector_size;
        for offset in (base..base + self.banks.bank_size).step_by(sector as usize) {
            self.banks.part.erase(flash, offset, sector)?;
        }
        let mut at = base + header_len as u32;
        for (key, value) in next {
            let record = format::emit_record(seq, key, Some(value), true, write_size);
            self.banks.part.write(flash, at, &record)?;
            // Fits in u32: `needed` was checked against the bank size.
            at += record.len() as u32;
        }
        let mut header =
            format::BankHeader { seq, bank_size: self.banks.bank_size, write_size }.emit().to_vec();
        header.resize(header_len, 0xff);
        self.banks.part.write(flash, base, &header)?;
        self.current = Some(Current { index, seq });
        self.append_at = at - base;
        self.must_compact = false;
        Ok(())
    }
}

impl fmt::Debug for Settings {
    // Values may be credentials: show keys only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("partition", &self.banks.part.name)
            .field("current", &self.current)
            .field("append_at", &self.append_at)
            .field("must_compact", &self.must_compact)
            .field("keys", &self.map.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Banks {
    /// Splits `part` into two banks, refusing partitions the store cannot use.
    fn new(geometry: Geometry, part: Partition) -> Result<Self, SettingsError> {
        let geometry = Geometry::new(geometry.sector_size, geometry.write_size, geometry.capacity)?;
        let sector_size = geometry.sector_size;
        let bank_size = part.size / sector_size / 2 * sector_size;
        let usable = part.offset.is_multiple_of(sector_size)
            && part.size.is_multiple_of(sector_size)
            && u64::from(part.offset) + u64::from(part.size) <= u64::from(geometry.capacity)
            && bank_size as usize > format::bank_header_len(geometry.write_size);
        if !usable {
            return Err(SettingsError::BadPartition {
                name: part.name,
                offset: part.offset,
                size: part.size,
                sector_size,
            });
        }
        Ok(Self { part, bank_size, sector_size, write_size: geometry.write_size })
    }

    /// Partition offset of bank `index` (0 or 1).
    fn offset(&self, index: usize) -> u32 {
        if index == 0 { 0 } else { self.bank_size }
    }
}

fn apply_to(map: &mut BTreeMap<String, Vec<u8>>, batch: &BTreeMap<&str, Option<&[u8]>>) {
    for (&key, value) in batch {
        match value {
            Some(value) => map.insert(key.to_owned(), value.to_vec()),
            None => map.remove(key),
        };
    }
}
