//! The second pass of a pure Ed25519 verification (`imgtool sign --pure`).
//!
//! A pure signature covers the whole hashed region (header, body, protected TLVs) rather than
//! its digest, and the signature only arrives after that region. So once the first pass has
//! read the TLVs, the region is fed again: here, through one Ed25519 stream verifier per
//! candidate (signature, key) pair and a SHA-512 for the SHA512 TLV. Memory is those states
//! and the first pass's header and protected area, which the second pass must see unchanged
//! (the verdict reports them). It must never buffer the region, nor decide a verdict by other
//! rules than `check::decide`.

use std::fmt;
use std::io::Read;
use std::ops::Range;

use sha2::{Digest, Sha512};

use super::{Head, Signed, Sink, VerifiedImage, pump};
use crate::check::{self, Attempt, MAX_PURE_CANDIDATES};
use crate::digest::ImageDigest;
use crate::{ImageError, ImageHeader, TrustedKey};

/// The second pass over a pure-signed image's hashed region, from [`super::Finish`].
///
/// Feed it bytes `0..range().end` of the image again, in order and in any chunking (from the
/// slot the first pass wrote to, or with [`SecondPass::read_from`]); bytes past the region are
/// ignored. [`SecondPass::finish`] then gives the verdict. It holds no key and no image bytes
/// beyond the header and protected TLV area, which must come back unchanged.
pub struct SecondPass(Box<Pass<ImageHeader>>);

impl SecondPass {
    pub(super) fn new(pass: Box<Pass<ImageHeader>>) -> Self {
        SecondPass(pass)
    }

    /// The bytes of the image to feed again: its hashed region.
    pub fn range(&self) -> Range<u64> {
        0..self.0.len
    }

    /// How many more bytes of the region are expected; 0 once all were fed.
    pub fn needed(&self) -> u64 {
        self.0.len - self.0.fed
    }

    /// Feeds the next bytes of the region; fails if they differ from the first pass's header
    /// or protected TLV area (then for good).
    pub fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.0.update(data)
    }

    /// Checks the SHA512 TLV and the signatures once the whole region has been fed.
    pub fn finish(self) -> Result<VerifiedImage, ImageError> {
        self.0.finish().map(VerifiedImage::from)
    }

    /// Reads the region from `reader` (positioned at the image's first byte) and finishes.
    pub fn read_from<R: Read>(mut self, mut reader: R) -> Result<VerifiedImage, ImageError> {
        pump(&mut reader, &mut self)?;
        self.finish()
    }
}

impl fmt::Debug for SecondPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Sink for SecondPass {
    fn wanted(&self) -> u64 {
        self.needed()
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.update(data)
    }
}

/// What the first pass learned that the verdict reports.
pub(crate) struct Signing<H> {
    pub(crate) head: H,
    pub(crate) total_len: u64,
    pub(crate) security_counter: Option<u32>,
    /// The SHA512 TLV value.
    pub(crate) sha512: [u8; 64],
}

/// The second pass for a container with head `H`.
pub(crate) struct Pass<H> {
    signing: Signing<H>,
    /// Bytes `0..head_bytes.len()` as the first pass saw them.
    head_bytes: Vec<u8>,
    /// The protected TLV area, ending the region, as the first pass saw it.
    protected: Vec<u8>,
    len: u64,
    fed: u64,
    failed: bool,
    sha512: Sha512,
    attempts: Vec<Attempt>,
    key_kinds: Vec<u16>,
    /// (attempt index, key index, its verifier), in the order `check::decide` tries them.
    candidates: Vec<(usize, usize, ed25519_dalek::StreamVerifier)>,
}

impl<H: Head> Pass<H> {
    /// Sets up one verifier per (signature, key) pair the verdict rules would try; fails
    /// right away if there is none (the verdict cannot change) or too many.
    pub(crate) fn new(
        signing: Signing<H>,
        head_bytes: &[u8],
        protected: &[u8],
        attempts: Vec<Attempt>,
        keys: &[TrustedKey],
    ) -> Result<Self, ImageError> {
        let key_kinds = check::key_kinds(keys);
        let mut candidates = Vec::new();
        for (index, attempt) in attempts.iter().enumerate() {
            for key in check::keys_to_try(attempt, &key_kinds) {
                if let Some(verifier) = keys.get(key).and_then(|k| k.pure_verifier(&attempt.signature)) {
                    candidates.push((index, key, verifier));
                }
            }
        }
        if candidates.len() > MAX_PURE_CANDIDATES {
            return Err(ImageError::TooManySignatures { count: candidates.len(), max: MAX_PURE_CANDIDATES });
        }
        if candidates.is_empty() {
            // No pair can verify, whatever the region holds: give the verdict now.
            return Err(match check::decide(&attempts, &key_kinds, |_, _| false) {
                Err(error) => error,
                Ok(_) => ImageError::Unsigned,
            });
        }
        Ok(Pass {
            len: signing.head.hashed_len(),
            signing,
            head_bytes: head_bytes.to_vec(),
            protected: protected.to_vec(),
            fed: 0,
            failed: false,
            sha512: Sha512::new(),
            attempts,
            key_kinds,
            candidates,
        })
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        if self.failed {
            return Err(ImageError::AlreadyFailed);
        }
        let left = usize::try_from(self.len - self.fed).unwrap_or(usize::MAX);
        let chunk = &data[..data.len().min(left)];
        if let Err(error) = self.compare(chunk) {
            self.failed = true;
            return Err(error);
        }
        self.sha512.update(chunk);
        for (_, _, verifier) in &mut self.candidates {
            verifier.update(chunk);
        }
        self.fed += chunk.len() as u64;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Signed<H>, ImageError> {
        if self.failed {
            return Err(ImageError::AlreadyFailed);
        }
        if self.fed < self.len {
            let expected = format!("the hashed region of the {} is {}", H::NOUN, self.len);
            return Err(ImageError::Truncated { seen: self.fed, expected });
        }
        let computed: [u8; 64] = self.sha512.finalize().into();
        if computed != self.signing.sha512 {
            return Err(ImageError::HashMismatch {
                name: "SHA512",
                expected: hex::encode(self.signing.sha512),
                computed: hex::encode(computed),
            });
        }
        let verified: Vec<(usize, usize)> = self
            .candidates
            .into_iter()
            .filter_map(|(attempt, key, verifier)| {
                verifier.finalize_and_verify().is_ok().then_some((attempt, key))
            })
            .collect();
        let verdict =
            check::decide(&self.attempts, &self.key_kinds, |key, attempt| verified.contains(&(attempt, key)));
        log::debug!("pure {} ({} bytes): signature {verdict:?}", H::NOUN, self.signing.total_len);
        Ok(Signed {
            head: self.signing.head,
            digest: ImageDigest::Sha512(computed),
            total_len: self.signing.total_len,
            key_index: verdict?,
            security_counter: self.signing.security_counter,
        })
    }

    /// Refuses a chunk that changes the header or protected area the first pass reported.
    fn compare(&self, chunk: &[u8]) -> Result<(), ImageError> {
        let at = self.fed;
        let protected_at = self.len - self.protected.len() as u64;
        if !same(&self.head_bytes, 0, chunk, at) {
            return Err(ImageError::ChangedBetweenPasses { part: "header" });
        }
        if !same(&self.protected, protected_at, chunk, at) {
            return Err(ImageError::ChangedBetweenPasses { part: "protected TLV area" });
        }
        Ok(())
    }
}

/// Whether `chunk` (at offset `at`) agrees with `known` (at offset `known_at`) where they overlap.
fn same(known: &[u8], known_at: u64, chunk: &[u8], at: u64) -> bool {
    let start = at.max(known_at);
    let end = (at + chunk.len() as u64).min(known_at + known.len() as u64);
    if start >= end {
        return true;
    }
    // Both ranges lie inside their slices, which are in memory, so the offsets fit usize.
    let (a, b, n) = ((start - known_at) as usize, (start - at) as usize, (end - start) as usize);
    known[a..a + n] == chunk[b..b + n]
}

impl<H: fmt::Debug> fmt::Debug for Pass<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondPass")
            .field("head", &self.signing.head)
            .field("len", &self.len)
            .field("fed", &self.fed)
            .field("candidates", &self.candidates.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_comparison() {
        assert!(same(b"abcd", 10, b"xxab", 8));
        assert!(!same(b"abcd", 10, b"xxaX", 8));
        assert!(same(b"abcd", 10, b"zz", 0));
        assert!(same(b"abcd", 10, b"cdzz", 12));
        assert!(!same(b"abcd", 10, b"dd", 12));
        assert!(same(b"", 0, b"zz", 0));
    }
}
