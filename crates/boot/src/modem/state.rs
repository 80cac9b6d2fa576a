//! The modem state partition: which firmware bank runs (with its length,
//! SHA-256 and version), whether a delta package waits in the scratch area,
//! and the outcome of the last one.
//!
//! Owns the on-flash encoding only; the decisions live in `mod.rs` and the
//! apply in `apply.rs`. The partition is split into two halves; each holds
//! at most one record at its start, and the valid record with the higher
//! sequence number is current. A new state is written into the other half:
//! erase it, then write the record with the next sequence number. A cut
//! during the erase or a torn record leaves the current record untouched
//! (a torn one fails its CRC), so every change — the flip to a new bank
//! included — happens whole or not at all. Record, 128 bytes, little-endian:
//!
//! ```text
//! 0x00 u32 magic 0x6d667461 ("atfm")      0x30 [64] active version, NUL-padded
//! 0x04 u32 sequence number (1..)          0x70 u32 package length in scratch (request)
//! 0x08 u8  active bank (0 or 1)           0x74 u32 outcome: 0 none, 1 applied, else error code
//! 0x09 u8  flags (bit 0: request)         0x78 u32 sequence of the request it answers
//! 0x0a u16 reserved, 0                    0x7c u32 CRC-32 of bytes 0x00..0x7c
//! 0x0c u32 active firmware length
//! 0x10 [32] active firmware SHA-256
//! ```

use atfota_storage::{FlashError, NorFlash, Partition};

/// "atfm": atfota modem state.
const MAGIC: u32 = 0x6d66_7461;
/// Bytes of a record.
pub(crate) const RECORD_LEN: usize = 0x80;
/// Longest version string a record holds.
pub const MAX_VERSION_LEN: usize = 63;
const FLAG_REQUEST: u8 = 0x01;
const OUTCOME_APPLIED: u32 = 1;

/// The firmware in the running bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveFirmware {
    /// Bank 0 or 1.
    pub bank: u8,
    /// Length in bytes.
    pub len: u32,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// Version string (`AT+CGMR`).
    pub version: String,
}

/// How the last delta package ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModemOutcome {
    /// Applied: the new firmware runs.
    Applied,
    /// Not applied, for this reason; the old firmware runs.
    Failed(ModemError),
}

/// Why a delta package was not applied, with Nordic's modem error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModemError {
    /// 0x4400001: the result does not match its hash, or the patch is unusable.
    Internal,
    /// 0x4400002: a flash operation failed.
    Hardware,
    /// 0x4400003: the stored package no longer verifies.
    Authentication,
    /// 0x4400004: the running firmware is not the one the package applies to.
    UuidMismatch,
}

impl ModemError {
    /// Nordic's code (printed in decimal by the modem library).
    pub fn code(self) -> u32 {
        match self {
            Self::Internal => 0x440_0001,
            Self::Hardware => 0x440_0002,
            Self::Authentication => 0x440_0003,
            Self::UuidMismatch => 0x440_0004,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        [Self::Internal, Self::Hardware, Self::Authentication, Self::UuidMismatch]
            .into_iter()
            .find(|e| e.code() == code)
    }
}

/// One decoded, CRC-checked record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModemState {
    /// Sequence number: grows with every change.
    pub seq: u32,
    /// The running firmware.
    pub active: ActiveFirmware,
    /// Length of a verified package waiting in the scratch area, if any.
    pub request: Option<u32>,
    /// Outcome of the last package, and the sequence number of the state that requested it.
    pub outcome: Option<(ModemOutcome, u32)>,
}

impl ModemState {
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[0x00..0x04].copy_from_slice(&MAGIC.to_le_bytes());
        r[0x04..0x08].copy_from_slice(&self.seq.to_le_bytes());
        r[0x08] = self.active.bank;
        r[0x09] = if self.request.is_some() { FLAG_REQUEST } else { 0 };
        r[0x0c..0x10].copy_from_slice(&self.active.len.to_le_bytes());
        r[0x10..0x30].copy_from_slice(&self.active.sha256);
        let v = self.active.version.as_bytes();
        let n = v.len().min(MAX_VERSION_LEN);
        r[0x30..0x30 + n].copy_from_slice(&v[..n]);
        r[0x70..0x74].copy_from_slice(&self.request.unwrap_or(0).to_le_bytes());
        let (code, for_seq) = match self.outcome {
            None => (0, 0),
            Some((ModemOutcome::Applied, s)) => (OUTCOME_APPLIED, s),
            Some((ModemOutcome::Failed(e), s)) => (e.code(), s),
        };
        r[0x74..0x78].copy_from_slice(&code.to_le_bytes());
        r[0x78..0x7c].copy_from_slice(&for_seq.to_le_bytes());
        let crc = crc32fast::hash(&r[..0x7c]);
        r[0x7c..0x80].copy_from_slice(&crc.to_le_bytes());
        r
    }

    /// Decodes a record; `None` for anything that is not a complete, valid one.
    pub(crate) fn decode(r: &[u8; RECORD_LEN]) -> Option<Self> {
        let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        if word(0) != MAGIC || crc32fast::hash(&r[..0x7c]) != word(0x7c) {
            return None;
        }
        let bank = r[0x08];
        if bank > 1 || r[0x09] & !FLAG_REQUEST != 0 || r[0x0a..0x0c] != [0, 0] {
            return None;
        }
        let raw = &r[0x30..0x70];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let version = std::str::from_utf8(&raw[..end]).ok()?.to_owned();
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&r[0x10..0x30]);
        let request = (r[0x09] & FLAG_REQUEST != 0).then(|| word(0x70));
        let outcome = match word(0x74) {
            0 => None,
            OUTCOME_APPLIED => Some((ModemOutcome::Applied, word(0x78))),
            code => Some((ModemOutcome::Failed(ModemError::from_code(code)?), word(0x78))),
        };
        Some(Self {
            seq: word(0x04),
            active: ActiveFirmware { bank, len: word(0x0c), sha256, version },
            request,
            outcome,
        })
    }
}

/// The two halves of the state partition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateStore {
    halves: [Partition; 2],
}

impl StateStore {
    /// Splits `part` (at least two sectors) into two halves of whole sectors.
    pub fn new(part: Partition, sector: u32) -> Option<Self> {
        let sectors = part.size / sector;
        if sectors < 2 {
            return None;
        }
        let half = sectors / 2 * sector;
        let a = Partition { name: "modem-state-0", offset: part.offset, size: half };
        let b = Partition { name: "modem-state-1", offset: part.offset + half, size: half };
        Some(Self { halves: [a, b] })
    }

    /// The current state and the half it lives in.
    pub fn read<F: NorFlash + ?Sized>(
        &self,
        flash: &mut F,
    ) -> Result<Option<(ModemState, usize)>, FlashError> {
        let mut best: Option<(ModemState, usize)> = None;
        for (i, half) in self.halves.iter().enumerate() {
            let mut r = [0u8; RECORD_LEN];
            half.read(flash, 0, &mut r)?;
            if let Some(st) = ModemState::decode(&r)
                && best.as_ref().is_none_or(|(b, _)| st.seq > b.seq)
            {
                best = Some((st, i));
            }
        }
        Ok(best)
    }

    /// Makes `state` current: written into the half that does not hold the
    /// current record. Its sequence number must exceed the current one.
    pub fn write<F: NorFlash + ?Sized>(&self, flash: &mut F, state: &ModemState) -> Result<(), FlashError> {
        let other = match self.read(flash)? {
            Some((_, i)) => 1 - i,
            None => 0,
        };
        let half = &self.halves[other];
        half.erase(flash, 0, flash.geometry().sector_size)?;
        half.write(flash, 0, &state.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModemState {
        ModemState {
            seq: 7,
            active: ActiveFirmware {
                bank: 1,
                len: 2_097_153,
                sha256: [0xab; 32],
                version: "mfw_nrf9160_1.3.6".into(),
            },
            request: Some(4096),
            outcome: Some((ModemOutcome::Failed(ModemError::UuidMismatch), 5)),
        }
    }

    #[test]
    fn records_round_trip_and_the_fixed_bytes_are_where_the_doc_says() {
        let st = sample();
        let r = st.encode();
        assert_eq!(&r[0..4], b"atfm");
        assert_eq!(r[0x08], 1);
        assert_eq!(r[0x09], 1);
        assert_eq!(&r[0x74..0x78], &71_303_172u32.to_le_bytes());
        assert_eq!(ModemState::decode(&r), Some(st));
        let plain = ModemState { request: None, outcome: Some((ModemOutcome::Applied, 6)), ..sample() };
        assert_eq!(ModemState::decode(&plain.encode()), Some(plain));
    }

    #[test]
    fn any_damage_makes_a_record_invalid() {
        let r = sample().encode();
        for i in 0..RECORD_LEN {
            for bit in [0x01u8, 0x80] {
                let mut bad = r;
                bad[i] ^= bit;
                assert_eq!(ModemState::decode(&bad), None, "byte {i} bit {bit:#x}");
            }
        }
        assert_eq!(ModemState::decode(&[0xff; RECORD_LEN]), None);
    }

    #[test]
    fn codes_are_nordics() {
        let codes: Vec<u32> = [
            ModemError::Internal,
            ModemError::Hardware,
            ModemError::Authentication,
            ModemError::UuidMismatch,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [71_303_169, 71_303_170, 71_303_171, 71_303_172]);
    }
}
