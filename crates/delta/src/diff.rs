//! The differ: bsdiff's algorithm as detools runs it, producing the uncompressed operation
//! stream of a sequential patch (`dfpatch_size` 0, then diff/extra/adjustment operations).
//!
//! A suffix array over the old firmware finds, for each position of the new one, the longest
//! exact match; bsdiff then prefers to keep going with the current alignment while it still
//! matches about as well ("approximate matches", whose few differing bytes become non-zero diff
//! bytes), extends each aligned region forwards and backwards while at least half its bytes
//! match, and emits the gap between regions as extra bytes. The scoring rules and the suffix
//! array's tie-breaking follow detools exactly, so for the same inputs the operation stream is
//! byte for byte the one `detools create_patch -c none` writes.
//!
//! This module owns the operation stream. It must never produce an operation that reads past
//! either firmware; it does no compression.

use crate::varint;

/// Inputs longer than this do not fit the suffix array's 32-bit indices.
pub(crate) const MAX_INPUT_LEN: usize = i32::MAX as usize - 1;

/// A bsdiff match must beat the current alignment by this many bytes to start a new one.
const MATCH_MARGIN: isize = 8;

/// The operation stream turning `from` into `to`; both at most [`MAX_INPUT_LEN`] bytes.
pub(crate) fn op_stream(from: &[u8], to: &[u8]) -> Vec<u8> {
    let index = SuffixIndex::new(from);
    let mut out = Vec::with_capacity(to.len() / 4 + 16);
    varint::encode(0, &mut out); // dfpatch_size: no data-format patch.
    let mut differ =
        Differ { from, to, out, diff_buf: Vec::new(), last_scan: 0, last_pos: 0, last_offset: 0 };
    differ.run(&index);
    differ.out
}

/// The old firmware with its suffix array; entry 0 is the empty suffix, as in detools.
struct SuffixIndex<'a> {
    from: &'a [u8],
    sa: Vec<i32>,
}

impl<'a> SuffixIndex<'a> {
    fn new(from: &'a [u8]) -> Self {
        let mut sa = vec![0i32; from.len() + 1];
        sa[0] = from.len() as i32;
        divsufsort::sort_in_place(from, &mut sa[1..]);
        SuffixIndex { from, sa }
    }

    fn suffix(&self, i: usize) -> &'a [u8] {
        // Suffix array entries are offsets 0..=len into `from`.
        &self.from[self.sa[i] as usize..]
    }

    /// The longest prefix of `target` found in the old firmware: (length, position). Binary
    /// search down to two neighbours, then the longer of their matches (the later one on a tie).
    fn longest_match(&self, target: &[u8]) -> (usize, usize) {
        let (mut lo, mut hi) = (0, self.from.len());
        while hi - lo >= 2 {
            let mid = lo + (hi - lo) / 2;
            let suffix = self.suffix(mid);
            let n = suffix.len().min(target.len());
            if suffix[..n] < target[..n] {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let x = match_len(self.suffix(lo), target);
        let y = match_len(self.suffix(hi), target);
        if x > y { (x, self.sa[lo] as usize) } else { (y, self.sa[hi] as usize) }
    }
}

fn match_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

struct Differ<'a> {
    from: &'a [u8],
    to: &'a [u8],
    out: Vec<u8>,
    diff_buf: Vec<u8>,
    /// Where the last emitted region ended in `to` and in `from`.
    last_scan: usize,
    last_pos: usize,
    /// `from` offset minus `to` offset of the current alignment.
    last_offset: isize,
}

impl Differ<'_> {
    fn run(&mut self, index: &SuffixIndex<'_>) {
        let n = self.to.len();
        let (mut scan, mut len, mut pos) = (0usize, 0usize, 0usize);
        while scan < n {
            // A sliding count: positions leave it (when scan passes them) before they are counted
            // into it, so it can dip below zero, as in bsdiff.
            let mut old_score = 0isize;
            scan += len;
            let mut scsc = scan;
            while scan < n {
                (len, pos) = index.longest_match(&self.to[scan..]);
                // How well the current alignment matches over the same stretch.
                while scsc < scan + len {
                    if self.aligned_matches(scsc) {
                        old_score += 1;
                    }
                    scsc += 1;
                }
                if (len as isize == old_score && len != 0) || len as isize > old_score + MATCH_MARGIN {
                    break;
                }
                if self.aligned_matches(scan) {
                    old_score -= 1;
                }
                scan += 1;
            }
            if len as isize != old_score || scan == n {
                self.emit(scan, pos);
            }
        }
    }

    /// Whether `to[i]` equals the byte the current alignment puts under it.
    fn aligned_matches(&self, i: usize) -> bool {
        let j = i as isize + self.last_offset;
        j >= 0 && (j as usize) < self.from.len() && self.from[j as usize] == self.to[i]
    }

    /// Emits the operation covering `to[last_scan..scan - back]`, where a new alignment
    /// (`to[scan]` under `from[pos]`) takes over.
    fn emit(&mut self, scan: usize, pos: usize) {
        let (from, to) = (self.from, self.to);
        let (last_scan, last_pos) = (self.last_scan, self.last_pos);

        // Extend the previous alignment forwards while at least half its bytes match.
        let (mut s, mut best, mut forward) = (0isize, 0isize, 0usize);
        let mut i = 0;
        while last_scan + i < scan && last_pos + i < from.len() {
            if from[last_pos + i] == to[last_scan + i] {
                s += 1;
            }
            i += 1;
            if s * 2 - i as isize > best * 2 - forward as isize {
                best = s;
                forward = i;
            }
        }

        // Extend the new alignment backwards the same way.
        let mut back = 0usize;
        if scan < to.len() {
            let (mut s, mut best) = (0isize, 0isize);
            let mut i = 1;
            while scan >= last_scan + i && pos >= i {
                if from[pos - i] == to[scan - i] {
                    s += 1;
                }
                if s * 2 - i as isize > best * 2 - back as isize {
                    best = s;
                    back = i;
                }
                i += 1;
            }
        }

        // Where the two extensions overlap, split at the point that keeps the most matches.
        if last_scan + forward > scan - back {
            let overlap = (last_scan + forward) - (scan - back);
            let (mut s, mut best, mut split) = (0isize, 0isize, 0usize);
            for i in 0..overlap {
                if to[last_scan + forward - overlap + i] == from[last_pos + forward - overlap + i] {
                    s += 1;
                }
                if to[scan - back + i] == from[pos - back + i] {
                    s -= 1;
                }
                if s > best {
                    best = s;
                    split = i + 1;
                }
            }
            forward = forward + split - overlap;
            back -= split;
        }

        self.diff_buf.clear();
        self.diff_buf.extend(
            to[last_scan..last_scan + forward].iter().zip(&from[last_pos..]).map(|(t, f)| t.wrapping_sub(*f)),
        );
        varint::encode(forward as i64, &mut self.out);
        self.out.extend_from_slice(&self.diff_buf);

        let extra = &to[last_scan + forward..scan - back];
        varint::encode(extra.len() as i64, &mut self.out);
        self.out.extend_from_slice(extra);

        let adjustment = (pos - back) as i64 - (last_pos + forward) as i64;
        varint::encode(adjustment, &mut self.out);

        self.last_scan = scan - back;
        self.last_pos = pos - back;
        self.last_offset = pos as isize - scan as isize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_old_firmware_gives_one_extra_block() {
        let ops = op_stream(b"", b"hello");
        assert_eq!(ops, [0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0x00]);
    }

    #[test]
    fn identical_firmware_gives_one_all_zero_diff() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 256) as u8).collect();
        let ops = op_stream(&data, &data);
        let mut expected = vec![0x00];
        varint::encode(300, &mut expected);
        expected.extend(std::iter::repeat_n(0, 300));
        // No extra data; the data repeats every 256 bytes, so the last match lookup lands 256
        // bytes back: adjustment -256 (`detools create_patch -c none` writes the same bytes).
        expected.extend([0x00, 0xc0, 0x04]);
        assert_eq!(ops, expected);
    }

    #[test]
    fn finds_the_longest_match() {
        let index = SuffixIndex::new(b"xxabcdeyyabcz");
        assert_eq!(index.longest_match(b"abcde!"), (5, 2));
        assert_eq!(index.longest_match(b"q").0, 0);
    }
}
