//! Heatshrink encoder with optimal parsing and, on request, a choice of parameters.
//!
//! Owns match finding (hash chains over the window, with the decoder's zeroed window in front
//! of the data) and the parse. With fixed window and lookahead every literal costs 9 bits and
//! every match `1 + window_sz2 + lookahead_sz2` bits whatever its length and distance, so the
//! cheapest parse is a shortest path: a backward pass where a match at `i` can end anywhere
//! within its longest match, found with a sliding-window minimum. It must never run a search
//! whose cost grows with the match length per byte: runs extend the previous match instead.

use crate::HeatshrinkParams;

/// Chain steps tried per position before settling for the best match so far.
const MAX_CHAIN: usize = 96;
/// Windows tried by [`compress_best`].
const BEST_WINDOWS: std::ops::RangeInclusive<u8> = 6..=13;
/// Largest lookahead tried by [`compress_best`].
const BEST_MAX_LOOKAHEAD: u8 = 10;

/// Compresses `data` with the given parameters; the output starts with the parameter byte.
pub(crate) fn compress(data: &[u8], params: HeatshrinkParams) -> Vec<u8> {
    let matches = Matches::find(data, params.window_sz2(), params.lookahead_sz2());
    let parse = Parse::run(&matches, params);
    emit(data, &matches, &parse, params)
}

/// Compresses `data` with the parameters (window 2^6..2^13, any lookahead heatshrink allows up
/// to 2^10, and detools' default) that give the fewest bytes.
pub(crate) fn compress_best(data: &[u8]) -> Vec<u8> {
    // Each window's search is independent: run them in parallel (see `par`), then pick the
    // first smallest in window order, as a sequential search does.
    let windows: Vec<u8> = BEST_WINDOWS.collect();
    let per_window = crate::par::map(&windows, |&window| {
        let max_lookahead = (window - 1).min(BEST_MAX_LOOKAHEAD);
        let matches = Matches::find(data, window, max_lookahead);
        let mut best: Option<(u64, HeatshrinkParams)> = None;
        for lookahead in HeatshrinkParams::MIN_LOOKAHEAD_SZ2..=max_lookahead {
            let Ok(params) = HeatshrinkParams::new(window, lookahead) else { continue };
            let bits = Parse::run(&matches, params).total_bits();
            if best.is_none_or(|(b, _)| bits < b) {
                best = Some((bits, params));
            }
        }
        best
    });
    // Window 2^8 with lookahead 2^7 (detools' default) is among the candidates.
    let mut best = (u64::MAX, HeatshrinkParams::DETOOLS_DEFAULT);
    for (bits, params) in per_window.into_iter().flatten() {
        if bits < best.0 {
            best = (bits, params);
        }
    }
    compress(data, best.1)
}

/// For every position of the data, the longest match found within the window.
struct Matches {
    /// Length of the match (0: none), capped at the longest lookahead it is found for.
    len: Vec<u32>,
    /// Its distance (1..=2^window_sz2).
    distance: Vec<u32>,
}

impl Matches {
    /// Matches within 2^window_sz2 bytes, no longer than 2^lookahead_sz2: longer ones would be
    /// cut by every parse, and searching for them makes runs cost their length per byte.
    fn find(data: &[u8], window_sz2: u8, lookahead_sz2: u8) -> Matches {
        let window = 1usize << window_sz2;
        let longest = 1usize << lookahead_sz2;
        // The decoder's window starts zeroed: matches may reach into these zeros.
        let mut buf = vec![0u8; window + data.len()];
        buf[window..].copy_from_slice(data);
        let mut chains = Chains::new(buf.len());
        let mut last2 = vec![u32::MAX; 1 << 16];
        let mut last1 = [u32::MAX; 256];
        for p in 0..window {
            chains.insert(&buf, p);
            remember_short(&buf, p, &mut last1, &mut last2);
        }

        let mut len = vec![0u32; data.len()];
        let mut distance = vec![0u32; data.len()];
        let (mut prev_len, mut prev_dist) = (0usize, 0usize);
        for p in window..buf.len() {
            let max = longest.min(buf.len() - p);
            // The previous match, shifted by one byte, still matches here (minus its first byte).
            let (mut best_len, mut best_dist) = (0, 0);
            if prev_len > 1 {
                best_dist = prev_dist;
                best_len = extend(&buf, p, p - best_dist, prev_len - 1, max);
            }
            if best_len < max {
                for cand in chains.candidates(&buf, p, window) {
                    let l = extend_if_longer(&buf, p, cand, best_len, max);
                    if l > best_len {
                        (best_len, best_dist) = (l, p - cand);
                        if l == max {
                            break;
                        }
                    }
                }
                for cand in [last2[pair(&buf, p)], last1[usize::from(buf[p])]] {
                    let cand = cand as usize;
                    if cand < p && p - cand <= window {
                        let l = extend_if_longer(&buf, p, cand, best_len, max);
                        if l > best_len {
                            (best_len, best_dist) = (l, p - cand);
                        }
                    }
                }
            }
            chains.insert(&buf, p);
            remember_short(&buf, p, &mut last1, &mut last2);
            len[p - window] = best_len as u32;
            distance[p - window] = best_dist as u32;
            (prev_len, prev_dist) = (best_len, best_dist);
        }
        Matches { len, distance }
    }
}

/// Hash chains over 3-byte prefixes.
struct Chains {
    head: Vec<u32>,
    prev: Vec<u32>,
}

const HASH_BITS: u32 = 16;

impl Chains {
    fn new(len: usize) -> Self {
        Chains { head: vec![u32::MAX; 1 << HASH_BITS], prev: vec![u32::MAX; len] }
    }

    fn hash(buf: &[u8], p: usize) -> Option<usize> {
        let b = buf.get(p..p + 3)?;
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        Some((v.wrapping_mul(0x9e37_79b1) >> (32 - HASH_BITS)) as usize)
    }

    fn insert(&mut self, buf: &[u8], p: usize) {
        if let Some(h) = Self::hash(buf, p) {
            self.prev[p] = self.head[h];
            self.head[h] = p as u32;
        }
    }

    /// Earlier positions with the same hash, nearest first, within the window.
    fn candidates<'a>(&'a self, buf: &[u8], p: usize, window: usize) -> impl Iterator<Item = usize> + 'a {
        let first = Self::hash(buf, p).map_or(u32::MAX, |h| self.head[h]);
        std::iter::successors(Some(first), move |&c| self.prev.get(c as usize).copied())
            .take_while(move |&c| c != u32::MAX && p - c as usize <= window)
            .map(|c| c as usize)
            .take(MAX_CHAIN)
    }
}

fn pair(buf: &[u8], p: usize) -> usize {
    usize::from(buf[p]) << 8 | usize::from(buf.get(p + 1).copied().unwrap_or(0))
}

fn remember_short(buf: &[u8], p: usize, last1: &mut [u32; 256], last2: &mut [u32]) {
    last1[usize::from(buf[p])] = p as u32;
    if p + 1 < buf.len() {
        last2[pair(buf, p)] = p as u32;
    }
}

/// Length of the match between `p` and `cand`, knowing the first `known` bytes match.
fn extend(buf: &[u8], p: usize, cand: usize, known: usize, max: usize) -> usize {
    let mut l = known;
    while l < max && buf[cand + l] == buf[p + l] {
        l += 1;
    }
    l
}

/// Length of the match between `p` and `cand` if it beats `best` (checking its last byte first).
fn extend_if_longer(buf: &[u8], p: usize, cand: usize, best: usize, max: usize) -> usize {
    if best >= max || buf[cand + best] != buf[p + best] {
        return 0;
    }
    extend(buf, p, cand, 0, max)
}

/// The cheapest parse: for each position, 0 for a literal or the length of the match taken.
struct Parse {
    step: Vec<u32>,
    bits: u64,
}

impl Parse {
    fn run(matches: &Matches, params: HeatshrinkParams) -> Parse {
        let n = matches.len.len();
        let cap = 1usize << params.lookahead_sz2();
        let backref_bits = 1 + u64::from(params.window_sz2()) + u64::from(params.lookahead_sz2());
        let literal_bits = 9;
        let mut cost = vec![0u64; n + 1];
        let mut step = vec![0u32; n];
        // Candidate ends j (indices into `cost`), costs decreasing from front to back; the
        // back is the cheapest end still within reach.
        let mut ends = std::collections::VecDeque::new();
        for i in (0..n).rev() {
            let j = i + 1;
            while ends.front().is_some_and(|&f: &usize| cost[f] >= cost[j]) {
                ends.pop_front();
            }
            ends.push_front(j);
            // Matches::find keeps i + len(i) non-decreasing in i, so ends beyond reach now
            // stay beyond reach for every smaller i.
            let reach = i + (matches.len[i] as usize).min(cap);
            while ends.back().is_some_and(|&b| b > reach) {
                ends.pop_back();
            }
            cost[i] = cost[j] + literal_bits;
            if let Some(&b) = ends.back()
                && cost[b] + backref_bits < cost[i]
            {
                cost[i] = cost[b] + backref_bits;
                step[i] = (b - i) as u32;
            }
        }
        Parse { step, bits: cost[0] }
    }

    fn total_bits(&self) -> u64 {
        self.bits
    }
}

fn emit(data: &[u8], matches: &Matches, parse: &Parse, params: HeatshrinkParams) -> Vec<u8> {
    let mut out = BitWriter { out: Vec::with_capacity(1 + parse.bits.div_ceil(8) as usize), acc: 0, n: 0 };
    out.out.push(params.to_byte());
    let (w, l) = (u32::from(params.window_sz2()), u32::from(params.lookahead_sz2()));
    let mut i = 0;
    while i < data.len() {
        let step = parse.step[i] as usize;
        if step == 0 {
            out.put(1 << 8 | u32::from(data[i]), 9);
            i += 1;
        } else {
            out.put(0, 1);
            out.put(matches.distance[i] - 1, w);
            out.put(step as u32 - 1, l);
            i += step;
        }
    }
    out.finish()
}

struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    /// Appends the low `bits` (at most 16) bits of `value`, most significant first.
    fn put(&mut self, value: u32, bits: u32) {
        self.acc = self.acc << bits | (value & ((1 << bits) - 1));
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        self.acc &= (1 << self.n) - 1;
    }

    /// Pads the last byte with zero bits, as heatshrink does.
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_keep_their_reach_monotone() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 13) as u8 ^ (i / 300) as u8).collect();
        let m = Matches::find(&data, 8, 7);
        for i in 1..data.len() {
            assert!(i + m.len[i] as usize >= i - 1 + m.len[i - 1] as usize, "at {i}");
        }
    }

    #[test]
    fn long_runs_cost_a_few_bits_per_match() {
        let data = vec![0u8; 100_000];
        let params = HeatshrinkParams::new(8, 7).unwrap();
        let out = compress(&data, params);
        // 782 matches of 128 bytes, 16 bits each.
        assert!(out.len() < 1 + 782 * 2 + 2, "{}", out.len());
    }
}
