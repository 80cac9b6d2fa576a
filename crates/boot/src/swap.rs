//! The page moves of a swap and of a revert, resumable after a power cut.
//!
//! Owns the order of copies and nothing else: the secondary slot is one page
//! (sector) larger than the primary, so the old image can be shifted up by
//! one page while the new one comes down, with no scratch area (the scheme of
//! embassy-boot). With `n` pages and the primary slot `P`, secondary `S`:
//!
//! ```text
//! swap,   for p = n-1 down to 0:  step 2(n-1-p):   P[p]   -> S[p+1]
//!                                 step 2(n-1-p)+1: S[p]   -> P[p]
//!         result: P[0..n] = new image, S[1..n+1] = old image
//! revert, for p = 0 up to n-1:    step 2p:         P[p]   -> S[p]
//!                                 step 2p+1:       S[p+1] -> P[p]
//!         result: P[0..n] = old image, S[0..n] = new image
//! ```
//!
//! Every step's source is only overwritten by a *later* step, so redoing the
//! step that a power cut interrupted copies the same bytes again: resuming
//! from the first step without a progress record is always correct. Each
//! step is erase, copy, then one progress record: two erases of one page per
//! slot and page, which is the minimum for a swap in place.

use atfota_storage::{FlashError, NorFlash, Partition};

use crate::state::{Phase, StateLayout};

/// Largest chunk copied at once: bounds memory for 128 KiB+ sectors.
const COPY_CHUNK: u32 = 64 * 1024;

/// The two slots and the page size a swap works on.
pub(crate) struct Slots<'a> {
    pub primary: &'a Partition,
    pub secondary: &'a Partition,
    pub page: u32,
    pub write_size: u32,
}

/// Runs (or resumes at step `from`) the swap of `pages` pages.
pub(crate) fn swap<F: NorFlash + ?Sized>(
    flash: &mut F,
    slots: &Slots<'_>,
    state: &StateLayout,
    pages: u32,
    from: u32,
) -> Result<(), FlashError> {
    for step in from..2 * pages {
        let p = pages - 1 - step / 2;
        if step % 2 == 0 {
            copy_page(flash, slots, slots.primary, p, slots.secondary, p + 1)?;
        } else {
            copy_page(flash, slots, slots.secondary, p, slots.primary, p)?;
        }
        state.set_progress(flash, Phase::Swap, step)?;
    }
    Ok(())
}

/// Runs (or resumes at step `from`) the revert of a swap of `pages` pages.
pub(crate) fn revert<F: NorFlash + ?Sized>(
    flash: &mut F,
    slots: &Slots<'_>,
    state: &StateLayout,
    pages: u32,
    from: u32,
) -> Result<(), FlashError> {
    for step in from..2 * pages {
        let p = step / 2;
        if step % 2 == 0 {
            copy_page(flash, slots, slots.primary, p, slots.secondary, p)?;
        } else {
            copy_page(flash, slots, slots.secondary, p + 1, slots.primary, p)?;
        }
        state.set_progress(flash, Phase::Revert, step)?;
    }
    Ok(())
}

/// Erases page `to_page` of `to` and copies page `from_page` of `from` into it.
fn copy_page<F: NorFlash + ?Sized>(
    flash: &mut F,
    slots: &Slots<'_>,
    from: &Partition,
    from_page: u32,
    to: &Partition,
    to_page: u32,
) -> Result<(), FlashError> {
    let page = slots.page;
    to.erase(flash, to_page * page, page)?;
    // A chunk is a multiple of the write size because both are powers of two.
    let chunk = COPY_CHUNK.max(slots.write_size).min(page);
    let mut buf = vec![0u8; chunk as usize];
    let mut off = 0;
    while off < page {
        from.read(flash, from_page * page + off, &mut buf)?;
        // Erased bytes are already erased at the destination: skipping them
        // saves flash wear on the unused tail of the last page.
        if buf.iter().any(|&b| b != 0xff) {
            to.write(flash, to_page * page + off, &buf)?;
        }
        off += chunk;
    }
    Ok(())
}
