//! Reading the settings partition back: which bank is current, what its
//! committed batches say, and whether its tail is clean.
//!
//! Owns the read side only; it never writes or erases, so opening a store can
//! never make a damaged partition worse. Everything it reads is treated as
//! untrusted: any inconsistency ends the log there, it never panics.

use std::collections::BTreeMap;

use crate::flash::{ERASED, FlashError, NorFlash};
use crate::settings::format::{self, BankHeader, HeaderFault, RECORD_HEADER_LEN, RecordHead};
use crate::settings::{Banks, Current};

/// Chunk size for checking that a tail is erased.
const TAIL_CHUNK: usize = 0x1000;

/// What a bank's log says.
#[derive(Debug)]
pub(super) struct Replay {
    /// Values after every committed batch.
    pub map: BTreeMap<String, Vec<u8>>,
    /// Bank offset just past the last committed record.
    pub end: u32,
    /// Whether every byte from `end` to the end of the bank is erased.
    pub clean: bool,
}

/// The valid bank with the highest sequence number, if any.
pub(super) fn find_current<F: NorFlash + ?Sized>(
    flash: &mut F,
    banks: &Banks,
) -> Result<Option<Current>, FlashError> {
    let mut faults = [HeaderFault::Erased; 2];
    let mut best: Option<Current> = None;
    for (index, fault) in faults.iter_mut().enumerate() {
        let mut bytes = [0u8; format::BANK_HEADER_LEN];
        banks.part.read(flash, banks.offset(index), &mut bytes)?;
        match BankHeader::parse(&bytes, banks.bank_size, banks.write_size) {
            Ok(header) if best.is_none_or(|b| header.seq > b.seq) => {
                best = Some(Current { index, seq: header.seq });
            }
            Ok(_) => {}
            Err(f) => *fault = f,
        }
    }
    match (best, faults) {
        (Some(current), _) => {
            log::debug!("settings: bank {} is current (sequence {})", current.index, current.seq)
        }
        (None, [HeaderFault::Erased, HeaderFault::Erased]) => {
            log::debug!("settings: partition {} is blank, starting empty", banks.part.name)
        }
        (None, _) => log::warn!(
            "settings: no valid bank in partition {} ({faults:?}); starting empty, the next write rebuilds it",
            banks.part.name
        ),
    }
    Ok(best)
}

/// Replays the committed batches of the current bank and checks its tail.
pub(super) fn replay<F: NorFlash + ?Sized>(
    flash: &mut F,
    banks: &Banks,
    current: Current,
) -> Result<Replay, FlashError> {
    let base = banks.offset(current.index);
    let size = banks.bank_size as usize;
    let mut map = BTreeMap::new();
    let mut pending: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut pos = format::bank_header_len(banks.write_size);
    let mut end = pos;
    let mut body = Vec::new();
    while pos + RECORD_HEADER_LEN <= size {
        let mut head = [0u8; RECORD_HEADER_LEN];
        banks.part.read(flash, base + pos as u32, &mut head)?;
        let Some(head) = RecordHead::parse(&head) else {
            break;
        };
        let value_len = usize::from(head.value_len.unwrap_or(0));
        let len = format::record_len(usize::from(head.key_len), value_len, banks.write_size);
        if pos + len > size {
            break;
        }
        // Bounded: parse() checked the lengths against the limits.
        body.resize(head.body_len(), 0);
        banks.part.read(flash, base + (pos + RECORD_HEADER_LEN) as u32, &mut body)?;
        if !head.matches(current.seq, &body) {
            break;
        }
        let (key, value) = body.split_at(usize::from(head.key_len));
        if !format::valid_key(key) {
            break;
        }
        // Printable ASCII, hence UTF-8.
        let key = String::from_utf8_lossy(key).into_owned();
        pending.push((key, head.value_len.map(|_| value.to_vec())));
        pos += len;
        if head.commit {
            for (key, value) in pending.drain(..) {
                match value {
                    Some(value) => map.insert(key, value),
                    None => map.remove(&key),
                };
            }
            end = pos;
        }
    }
    let clean = is_erased(flash, banks, base + end as u32, (size - end) as u32)?;
    // Fits in u32: at most the bank size.
    Ok(Replay { map, end: end as u32, clean })
}

/// Whether `len` bytes at partition offset `offset` all read as erased.
fn is_erased<F: NorFlash + ?Sized>(
    flash: &mut F,
    banks: &Banks,
    offset: u32,
    len: u32,
) -> Result<bool, FlashError> {
    // A slice comparison (memcmp) rather than a byte loop: every boot checks a whole bank.
    const ERASED_CHUNK: [u8; TAIL_CHUNK] = [ERASED; TAIL_CHUNK];
    let mut buf = vec![0u8; TAIL_CHUNK.min(len as usize)];
    let mut done = 0u32;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        banks.part.read(flash, offset + done, &mut buf[..n])?;
        if buf[..n] != ERASED_CHUNK[..n] {
            return Ok(false);
        }
        done += n as u32;
    }
    Ok(true)
}
