//! Untrusted patches and failing IO: every bad patch is a clear `PatchError` (never a panic,
//! never `Ok`), and the caller's own IO errors come back out unchanged.

use std::io::{self, Read, Write};

use atfota_delta::{Compression, CreateOptions, Limits, PatchError, ReadAt, apply, create};
use proptest::prelude::*;

const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Lzma, Compression::Heatshrink];

fn apply_to_vec(from: &[u8], patch: &[u8]) -> Result<Vec<u8>, PatchError> {
    let mut out = Vec::new();
    apply(&mut &from[..], patch, &mut out, &Limits::default())?;
    Ok(out)
}

/// An old and a new firmware that differ in a few places.
fn sample_pair() -> (Vec<u8>, Vec<u8>) {
    let from: Vec<u8> = (0..6000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut to = from.clone();
    to[100..140].copy_from_slice(&[0xaa; 40]);
    to.splice(3000..3010, b"inserted text, a little longer".iter().copied());
    to.drain(5000..5100);
    (from, to)
}

/// A none-compressed patch from explicit fields: to_size, then the stream's values, each a
/// signed varint, or raw bytes.
enum Field {
    Num(i64),
    Bytes(Vec<u8>),
}

fn plain_patch(to_size: i64, fields: &[Field]) -> Vec<u8> {
    let mut out = vec![0x00];
    put_varint(to_size, &mut out);
    for f in fields {
        match f {
            Field::Num(v) => put_varint(*v, &mut out),
            Field::Bytes(b) => out.extend_from_slice(b),
        }
    }
    out
}

fn put_varint(v: i64, out: &mut Vec<u8>) {
    let mut m = v.unsigned_abs();
    let mut byte = if v < 0 { 0x40 } else { 0 } | (m & 0x3f) as u8;
    m >>= 6;
    while m > 0 {
        out.push(byte | 0x80);
        byte = (m & 0x7f) as u8;
        m >>= 7;
    }
    out.push(byte);
}

use Field::{Bytes, Num};

/// Whether an error is the one a case expects.
type Expect = fn(&PatchError) -> bool;

#[test]
fn hand_made_operations_apply() {
    // dfpatch 0; diff 3 bytes (+1 each) of "abc"; extra "XY"; adjustment -3; diff 2 of "ab".
    let patch = plain_patch(
        7,
        &[
            Num(0),
            Num(3),
            Bytes(vec![1, 1, 1]),
            Num(2),
            Bytes(b"XY".to_vec()),
            Num(-3),
            Num(2),
            Bytes(vec![0, 0]),
            Num(0),
            Num(0),
        ],
    );
    assert_eq!(apply_to_vec(b"abc", &patch).unwrap(), b"bcdXYab");
}

#[test]
fn malformed_operations_get_their_own_errors() {
    let from = b"abcdef";
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (plain_patch(4, &[Num(0), Num(7), Bytes(vec![0; 7])]), |e| matches!(e, PatchError::TooLong { .. })),
        (plain_patch(9, &[Num(0), Num(7), Bytes(vec![0; 7])]), |e| {
            matches!(e, PatchError::DiffOutOfBounds { .. })
        }),
        (plain_patch(4, &[Num(0), Num(0), Num(5), Bytes(vec![0; 5])]), |e| {
            matches!(e, PatchError::TooLong { .. })
        }),
        (plain_patch(4, &[Num(0), Num(-1)]), |e| matches!(e, PatchError::NegativeSize { .. })),
        (plain_patch(4, &[Num(0), Num(0), Num(1), Bytes(vec![1]), Num(-1)]), |e| {
            matches!(e, PatchError::SeekOutOfBounds { .. })
        }),
        (plain_patch(4, &[Num(0), Num(0), Num(1), Bytes(vec![1]), Num(7)]), |e| {
            matches!(e, PatchError::SeekOutOfBounds { .. })
        }),
        (plain_patch(4, &[Num(12)]), |e| matches!(e, PatchError::DataFormat { size: 12 })),
        (plain_patch(1, &[Num(0), Num(1), Bytes(vec![0]), Num(0), Num(0), Num(9)]), |e| {
            matches!(e, PatchError::TrailingData)
        }),
        (plain_patch(2, &[Num(0), Num(1), Bytes(vec![0]), Num(0), Num(0)]), |e| {
            matches!(e, PatchError::Truncated { what: "diff length" })
        }),
        (plain_patch(2, &[Num(0), Num(2), Bytes(vec![0])]), |e| {
            matches!(e, PatchError::Truncated { what: "diff data" })
        }),
        (vec![0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], |e| {
            matches!(e, PatchError::VarintOverflow)
        }),
        (vec![0x10, 0x01], |e| matches!(e, PatchError::UnsupportedPatchType { kind: 1 })),
        (vec![0x05, 0x01], |e| matches!(e, PatchError::UnsupportedCompression { code: 5 })),
        (vec![0x00, 0x00, 0x00], |e| matches!(e, PatchError::TrailingData)),
    ];
    for (i, (patch, is_expected)) in cases.into_iter().enumerate() {
        let err = apply_to_vec(from, &patch).unwrap_err();
        assert!(is_expected(&err), "case {i}: {err:?}");
    }
}

#[test]
fn endless_empty_operations_are_refused() {
    let mut fields = vec![Num(0)];
    for _ in 0..5000 {
        fields.extend([Num(0), Num(0), Num(0)]);
    }
    let err = apply_to_vec(b"abc", &plain_patch(1, &fields)).unwrap_err();
    assert!(matches!(err, PatchError::IdleOperations { .. }), "{err}");
}

#[test]
fn every_truncation_and_appended_byte_is_refused() {
    let (from, to) = sample_pair();
    for c in COMPRESSIONS {
        let patch = create(&from, &to, &CreateOptions::new(c)).unwrap();
        for len in 0..patch.len() {
            let result = apply_to_vec(&from, &patch[..len]);
            assert!(result.is_err(), "{}: prefix of {len} bytes accepted", c.name());
        }
        for extra in [0x00, 0x5a, 0xff] {
            let mut longer = patch.clone();
            longer.push(extra);
            let err = apply_to_vec(&from, &longer).unwrap_err();
            assert!(matches!(err, PatchError::TrailingData), "{}: {err}", c.name());
        }
    }
}

/// Hands out the patch one byte per read, with an `Interrupted` before each.
struct Trickle<'a> {
    data: &'a [u8],
    interrupt: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let Some((&b, rest)) = self.data.split_first() else { return Ok(0) };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = b;
        self.data = rest;
        Ok(1)
    }
}

#[test]
fn a_patch_arriving_byte_by_byte_applies() {
    let (from, to) = sample_pair();
    for c in COMPRESSIONS {
        let patch = create(&from, &to, &CreateOptions::new(c)).unwrap();
        let mut out = Vec::new();
        apply(&mut &from[..], Trickle { data: &patch, interrupt: false }, &mut out, &Limits::default())
            .unwrap();
        assert!(out == to, "{}", c.name());
    }
}

#[derive(Debug)]
struct PowerLost;

impl std::fmt::Display for PowerLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("power lost")
    }
}

impl std::error::Error for PowerLost {}

/// Accepts `budget` bytes, then fails like the device's flash.
struct FailingFlash {
    budget: usize,
}

impl Write for FailingFlash {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other(PowerLost));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct FailingOld<'a> {
    data: &'a [u8],
    fail_at: u64,
}

impl ReadAt for FailingOld<'_> {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset + buf.len() as u64 > self.fail_at {
            return Err(io::Error::other(PowerLost));
        }
        self.data.read_exact_at(offset, buf)
    }
}

struct FailingPatch<'a> {
    data: &'a [u8],
}

impl Read for FailingPatch<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::other(PowerLost));
        }
        self.data.read(buf)
    }
}

fn is_power_lost(err: PatchError) -> bool {
    err.into_io_error()
        .ok()
        .and_then(|e| e.into_inner())
        .is_some_and(|inner| inner.downcast::<PowerLost>().is_ok())
}

#[test]
fn the_callers_io_errors_come_back_out() {
    let (from, to) = sample_pair();
    for c in COMPRESSIONS {
        let patch = create(&from, &to, &CreateOptions::new(c)).unwrap();

        let err = apply(&mut &from[..], &patch[..], &mut FailingFlash { budget: 4000 }, &Limits::default())
            .unwrap_err();
        assert!(matches!(err, PatchError::WriteTo(_)), "{err}");
        assert!(is_power_lost(err));

        let mut old = FailingOld { data: &from, fail_at: 2000 };
        let err = apply(&mut old, &patch[..], &mut Vec::new(), &Limits::default()).unwrap_err();
        assert!(matches!(err, PatchError::ReadFrom(_)), "{err}");
        assert!(is_power_lost(err));

        let cut = FailingPatch { data: &patch[..patch.len() - 1] };
        let err = apply(&mut &from[..], cut, &mut Vec::new(), &Limits::default()).unwrap_err();
        assert!(matches!(err, PatchError::ReadPatch(_)), "{err}");
        assert!(is_power_lost(err));
    }
}

/// A new firmware made from the old one by a few random edits.
fn edited(from: &[u8], edits: &[(usize, u8, Vec<u8>)]) -> Vec<u8> {
    let mut to = from.to_vec();
    for (pos, kind, bytes) in edits {
        let pos = if to.is_empty() { 0 } else { pos % (to.len() + 1) };
        match kind % 3 {
            0 => {
                to.splice(pos..pos, bytes.iter().copied());
            }
            1 => {
                let end = (pos + bytes.len()).min(to.len());
                to.drain(pos..end);
            }
            _ => {
                let end = (pos + bytes.len()).min(to.len());
                to.splice(pos..end, bytes.iter().copied());
            }
        }
    }
    to
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn create_then_apply_round_trips(
        from in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..4000),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
        unrelated in proptest::collection::vec(any::<u8>(), 0..300),
        use_unrelated in any::<bool>(),
        c in 0usize..3,
    ) {
        let to = if use_unrelated { unrelated } else { edited(&from, &edits) };
        let opts = CreateOptions { thorough: false, ..CreateOptions::new(COMPRESSIONS[c]) };
        let patch = create(&from, &to, &opts).unwrap();
        prop_assert_eq!(apply_to_vec(&from, &patch).unwrap(), to);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        from in proptest::collection::vec(any::<u8>(), 0..64),
        patch in proptest::collection::vec(any::<u8>(), 0..256),
        c in 0u8..8,
    ) {
        // Steer the first byte to a sequential patch half the time so the stream gets parsed.
        let mut patch = patch;
        if c < 3 && !patch.is_empty() {
            patch[0] = [0x00, 0x01, 0x04][usize::from(c)];
        }
        let limits = Limits { max_to_size: 1 << 16, ..Limits::default() };
        if let Ok(size) = apply(&mut &from[..], &patch[..], &mut Vec::new(), &limits) {
            prop_assert!(size <= 1 << 16);
        }
        let _ = atfota_delta::patch_info(&patch);
    }

    #[test]
    fn mutated_patches_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        c in 0usize..3,
    ) {
        let (from, to) = sample_pair();
        let opts = CreateOptions { thorough: false, ..CreateOptions::new(COMPRESSIONS[c]) };
        let mut patch = create(&from, &to, &opts).unwrap();
        for (pos, xor) in flips {
            let i = pos % patch.len();
            patch[i] ^= xor.max(1);
        }
        let mut out = Vec::new();
        let limits = Limits { max_to_size: 1 << 20, ..Limits::default() };
        if let Ok(size) = apply(&mut &from[..], &patch[..], &mut out, &limits) {
            prop_assert_eq!(size, out.len() as u64);
        }
    }
}
