//! Byte layout of the settings store: bank headers and records (described in
//! the `settings` module doc, which is the reference).
//!
//! Owns parsing and emitting those bytes, nothing else: no flash access, no
//! policy. Parsing never trusts a length before checking it against the
//! limits, so bytes read from a corrupted partition cannot make it allocate
//! more than one maximal record.

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Longest value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// "ATFS" as the bytes appear in flash.
pub(crate) const BANK_MAGIC: u32 = 0x5346_5441;
/// Layout version written in bank headers.
pub(crate) const FORMAT_VERSION: u32 = 0x0000_0001;
/// Bytes of a bank header before its padding.
pub(crate) const BANK_HEADER_LEN: usize = 0x1c;
/// Bytes of a record header.
pub(crate) const RECORD_HEADER_LEN: usize = 0x08;

/// Record type: set a key to the value that follows.
const KIND_SET: u8 = 0x01;
/// Record type: remove a key (no value).
const KIND_REMOVE: u8 = 0x02;
/// Flag in the type byte: last record of its batch.
const FLAG_COMMIT: u8 = 0x80;

mod field {
    use std::ops::Range;

    pub const MAGIC: Range<usize> = 0x00..0x04;
    pub const VERSION: Range<usize> = 0x04..0x08;
    pub const SEQ: Range<usize> = 0x08..0x10;
    pub const BANK_SIZE: Range<usize> = 0x10..0x14;
    pub const WRITE_SIZE: Range<usize> = 0x14..0x18;
    pub const HEADER_CRC: Range<usize> = 0x18..0x1c;

    pub const TYPE: usize = 0x00;
    pub const KEY_LEN: usize = 0x01;
    pub const VALUE_LEN: Range<usize> = 0x02..0x04;
    pub const RECORD_CRC: Range<usize> = 0x04..0x08;
}

/// A bank header that checked out: magic, version and CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BankHeader {
    /// Generation: the valid bank with the highest one is current.
    pub seq: u64,
    /// Bank size the bank was written with.
    pub bank_size: u32,
    /// Write size the records were aligned to.
    pub write_size: u32,
}

/// Why bytes at the start of a bank are not a usable header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderFault {
    /// All `0xFF`: the bank was erased and never completed.
    Erased,
    /// Something else than a header of this format.
    Corrupt,
    /// A well-formed header that cannot belong to this partition (other
    /// version, bank size or write size, or sequence 0).
    Foreign,
}

impl BankHeader {
    /// Parses and checks the first [`BANK_HEADER_LEN`] bytes of a bank.
    pub fn parse(
        bytes: &[u8; BANK_HEADER_LEN],
        bank_size: u32,
        write_size: u32,
    ) -> Result<Self, HeaderFault> {
        if bytes.iter().all(|&b| b == 0xff) {
            return Err(HeaderFault::Erased);
        }
        if u32_at(bytes, field::MAGIC) != BANK_MAGIC
            || u32_at(bytes, field::HEADER_CRC) != crc32fast::hash(&bytes[..field::HEADER_CRC.start])
        {
            return Err(HeaderFault::Corrupt);
        }
        let header = Self {
            seq: u64::from_le_bytes(array(&bytes[field::SEQ])),
            bank_size: u32_at(bytes, field::BANK_SIZE),
            write_size: u32_at(bytes, field::WRITE_SIZE),
        };
        // seq u64::MAX is refused so that "current + 1" always exists.
        let ours = u32_at(bytes, field::VERSION) == FORMAT_VERSION
            && header.seq != 0
            && header.seq != u64::MAX
            && header.bank_size == bank_size
            && header.write_size == write_size;
        if !ours {
            return Err(HeaderFault::Foreign);
        }
        Ok(header)
    }

    /// The header's bytes, CRC included.
    pub fn emit(&self) -> [u8; BANK_HEADER_LEN] {
        let mut bytes = [0u8; BANK_HEADER_LEN];
        bytes[field::MAGIC].copy_from_slice(&BANK_MAGIC.to_le_bytes());
        bytes[field::VERSION].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[field::SEQ].copy_from_slice(&self.seq.to_le_bytes());
        bytes[field::BANK_SIZE].copy_from_slice(&self.bank_size.to_le_bytes());
        bytes[field::WRITE_SIZE].copy_from_slice(&self.write_size.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..field::HEADER_CRC.start]);
        bytes[field::HEADER_CRC].copy_from_slice(&crc.to_le_bytes());
        bytes
    }
}

/// The fixed part of a record, with its lengths already within the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHead {
    /// `None` removes the key, `Some(len)` sets it to a value of `len` bytes.
    pub value_len: Option<u16>,
    /// Last record of its batch.
    pub commit: bool,
    /// Key length, 1..=[`MAX_KEY_LEN`].
    pub key_len: u8,
    crc: u32,
    type_byte: u8,
}

impl RecordHead {
    /// Parses a record header; `None` if it cannot start a valid record
    /// (erased bytes included).
    pub fn parse(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<Self> {
        let type_byte = bytes[field::TYPE];
        let key_len = bytes[field::KEY_LEN];
        let len = u16::from_le_bytes(array(&bytes[field::VALUE_LEN]));
        let value_len = match type_byte & !FLAG_COMMIT {
            KIND_SET if usize::from(len) <= MAX_VALUE_LEN => Some(len),
            KIND_REMOVE if len == 0 => None,
            _ => return None,
        };
        if key_len == 0 || usize::from(key_len) > MAX_KEY_LEN {
            return None;
        }
        Some(Self {
            value_len,
            commit: type_byte & FLAG_COMMIT != 0,
            key_len,
            crc: u32_at(bytes, field::RECORD_CRC),
            type_byte,
        })
    }

    /// Bytes of key and value that follow the header.
    pub fn body_len(&self) -> usize {
        usize::from(self.key_len) + usize::from(self.value_len.unwrap_or(0))
    }

    /// Whether `body` (key then value) is what this header's CRC covers in a
    /// bank of generation `seq`.
    pub fn matches(&self, seq: u64, body: &[u8]) -> bool {
        let len = self.value_len.unwrap_or(0).to_le_bytes();
        let head = [self.type_byte, self.key_len, len[0], len[1]];
        record_crc(seq, &head, body) == self.crc
    }
}

/// Bytes a record takes in flash, padding included.
pub(crate) fn record_len(key_len: usize, value_len: usize, write_size: u32) -> usize {
    round_up(RECORD_HEADER_LEN + key_len + value_len, write_size)
}

/// Bytes a bank header takes in flash, padding included.
pub(crate) fn bank_header_len(write_size: u32) -> usize {
    round_up(BANK_HEADER_LEN, write_size)
}

/// A complete record for a bank of generation `seq`, padded with `0xFF` to
/// the write size. `key` and `value` must already respect the limits.
pub(crate) fn emit_record(
    seq: u64,
    key: &str,
    value: Option<&[u8]>,
    commit: bool,
    write_size: u32,
) -> Vec<u8> {
    let body = value.unwrap_or(&[]);
    let mut type_byte = if value.is_some() { KIND_SET } else { KIND_REMOVE };
    if commit {
        type_byte |= FLAG_COMMIT;
    }
    // Both fit: the caller checked the key and value limits (64 and 4096).
    let value_len = (body.len() as u16).to_le_bytes();
    let head = [type_byte, key.len() as u8, value_len[0], value_len[1]];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(&head);
    crc.update(key.as_bytes());
    crc.update(body);
    let len = record_len(key.len(), body.len(), write_size);
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&crc.finalize().to_le_bytes());
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(body);
    bytes.resize(len, 0xff);
    bytes
}

/// Whether `key` may name a setting: 1..=64 printable ASCII bytes (0x20..=0x7E).
pub(crate) fn valid_key(key: &[u8]) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

fn record_crc(seq: u64, head: &[u8; 4], body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(head);
    crc.update(body);
    crc.finalize()
}

fn round_up(len: usize, write_size: u32) -> usize {
    let unit = write_size.max(1) as usize;
    len.div_ceil(unit) * unit
}

fn u32_at(bytes: &[u8], range: std::ops::Range<usize>) -> u32 {
    u32::from_le_bytes(array(&bytes[range]))
}

/// Copies a slice whose length the caller fixed through a `field` range.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bank_header_fixture() {
        let header = BankHeader { seq: 0x0102_0304_0506_0708, bank_size: 0x2000, write_size: 4 };
        let bytes = header.emit();
        let fixed: [u8; 0x18] = [
            0x41, 0x54, 0x46, 0x53, 0x01, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
            0x00, 0x20, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
        ];
        assert_eq!(&bytes[..0x18], &fixed);
        assert_eq!(&bytes[0x18..], &crc32fast::hash(&fixed).to_le_bytes());
        assert_eq!(BankHeader::parse(&bytes, 0x2000, 4), Ok(header));
    }

    #[test]
    fn bank_header_faults() {
        let good = BankHeader { seq: 5, bank_size: 0x1000, write_size: 4 };
        assert_eq!(BankHeader::parse(&[0xff; BANK_HEADER_LEN], 0x1000, 4), Err(HeaderFault::Erased));
        assert_eq!(BankHeader::parse(&[0; BANK_HEADER_LEN], 0x1000, 4), Err(HeaderFault::Corrupt));
        let mut flipped = good.emit();
        flipped[9] ^= 0x01;
        assert_eq!(BankHeader::parse(&flipped, 0x1000, 4), Err(HeaderFault::Corrupt));
        assert_eq!(BankHeader::parse(&good.emit(), 0x2000, 4), Err(HeaderFault::Foreign));
        assert_eq!(BankHeader::parse(&good.emit(), 0x1000, 16), Err(HeaderFault::Foreign));
        let zero = BankHeader { seq: 0, ..good };
        assert_eq!(BankHeader::parse(&zero.emit(), 0x1000, 4), Err(HeaderFault::Foreign));
        let last = BankHeader { seq: u64::MAX, ..good };
        assert_eq!(BankHeader::parse(&last.emit(), 0x1000, 4), Err(HeaderFault::Foreign));
        let mut version = good.emit();
        version[4] = 2;
        let crc = crc32fast::hash(&version[..0x18]).to_le_bytes();
        version[0x18..].copy_from_slice(&crc);
        assert_eq!(BankHeader::parse(&version, 0x1000, 4), Err(HeaderFault::Foreign));
    }

    #[test]
    fn record_fixture() {
        let bytes = emit_record(1, "ab", Some(&[0x10, 0x20, 0x30]), true, 4);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[1, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x02, 0x03, 0x00, b'a', b'b', 0x10, 0x20, 0x30]);
        let crc = crc.finalize().to_le_bytes();
        let expected = [
            0x81, 0x02, 0x03, 0x00, crc[0], crc[1], crc[2], crc[3], b'a', b'b', 0x10, 0x20, 0x30, 0xff, 0xff,
            0xff,
        ];
        assert_eq!(bytes, expected);
        let head = RecordHead::parse(&array(&bytes[..8])).unwrap();
        assert_eq!(head.value_len, Some(3));
        assert!(head.commit);
        assert!(head.matches(1, &bytes[8..13]));
        assert!(!head.matches(2, &bytes[8..13]), "a record from another generation must not match");
    }

    #[test]
    fn record_heads_outside_the_limits_are_refused() {
        assert_eq!(RecordHead::parse(&[0xff; 8]), None);
        assert_eq!(RecordHead::parse(&[0; 8]), None);
        assert_eq!(RecordHead::parse(&[0x01, 0, 1, 0, 0, 0, 0, 0]), None, "empty key");
        assert_eq!(RecordHead::parse(&[0x01, 65, 1, 0, 0, 0, 0, 0]), None, "long key");
        assert_eq!(RecordHead::parse(&[0x01, 1, 0x01, 0x10, 0, 0, 0, 0]), None, "long value");
        assert_eq!(RecordHead::parse(&[0x02, 1, 1, 0, 0, 0, 0, 0]), None, "remove with value");
        assert_eq!(RecordHead::parse(&[0x03, 1, 0, 0, 0, 0, 0, 0]), None, "unknown type");
        assert!(RecordHead::parse(&[0x01, 64, 0x00, 0x10, 0, 0, 0, 0]).is_some());
        assert!(RecordHead::parse(&[0x82, 1, 0, 0, 0, 0, 0, 0]).is_some());
    }

    #[test]
    fn keys_are_printable_ascii() {
        assert!(valid_key(b"fota.stage"));
        assert!(valid_key(b" ~"));
        assert!(valid_key(&[b'k'; 64]));
        assert!(!valid_key(b""));
        assert!(!valid_key(&[b'k'; 65]));
        assert!(!valid_key(b"tab\there"));
        assert!(!valid_key("é".as_bytes()));
    }

    #[test]
    fn lengths_are_padded_to_the_write_size() {
        assert_eq!(record_len(2, 3, 4), 16);
        assert_eq!(record_len(2, 3, 16), 16);
        assert_eq!(record_len(8, 9, 16), 32);
        assert_eq!(bank_header_len(4), 0x1c);
        assert_eq!(bank_header_len(16), 0x20);
        assert_eq!(bank_header_len(0x100), 0x100);
    }

    proptest! {
        #[test]
        fn records_round_trip(
            seq in any::<u64>(),
            key in "[ -~]{1,64}",
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=MAX_VALUE_LEN)),
            commit in any::<bool>(),
            write_shift in 0u32..6,
        ) {
            let write_size = 1 << write_shift;
            let bytes = emit_record(seq, &key, value.as_deref(), commit, write_size);
            prop_assert_eq!(bytes.len(), record_len(key.len(), value.as_ref().map_or(0, Vec::len), write_size));
            let head = RecordHead::parse(&array(&bytes[..RECORD_HEADER_LEN])).unwrap();
            prop_assert_eq!(head.commit, commit);
            prop_assert_eq!(head.value_len.map(usize::from), value.as_ref().map(Vec::len));
            let body = &bytes[RECORD_HEADER_LEN..RECORD_HEADER_LEN + head.body_len()];
            prop_assert!(head.matches(seq, body));
            prop_assert_eq!(&body[..key.len()], key.as_bytes());
            prop_assert!(bytes[RECORD_HEADER_LEN + head.body_len()..].iter().all(|&b| b == 0xff));
        }

        #[test]
        fn bank_headers_round_trip(seq in 1u64..u64::MAX, bank_size in any::<u32>(), write_size in any::<u32>()) {
            let header = BankHeader { seq, bank_size, write_size };
            prop_assert_eq!(BankHeader::parse(&header.emit(), bank_size, write_size), Ok(header));
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), BANK_HEADER_LEN)) {
            let header: [u8; BANK_HEADER_LEN] = array(&bytes);
            let _ = BankHeader::parse(&header, 0x1000, 4);
            if let Some(head) = RecordHead::parse(&array(&bytes[..RECORD_HEADER_LEN])) {
                prop_assert!(head.body_len() <= MAX_KEY_LEN + MAX_VALUE_LEN);
            }
        }
    }
}
