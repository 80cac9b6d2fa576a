//! Sans-IO streaming verification of an MCUboot image: bytes in (any chunking), verdict out.
//!
//! Owns the walk through a signed container as bytes arrive: a fixed head (the MCUboot header,
//! or a delta package's header), the rest of the hashed region (body, protected TLV area), and
//! the unprotected TLV area, hashing on the fly and failing at the first byte that proves the
//! container bad. [`Walker`] is that walk for any head; [`StreamVerifier`] is it for
//! application images, `DeltaVerifier` for delta packages. Memory is the head, the TLV areas
//! (at most [`MAX_TLV_LEN`]) and the hash states; it must never copy the body, read a clock or
//! do IO ([`verify_reader`] is the thin IO shell).
//!
//! Which hashes run: those the trusted keys given to [`StreamVerifier::new`] can need, SHA-256
//! for Ed25519, P-256 and RSA keys and SHA-384 for P-384 keys (both only if both kinds are
//! trusted), so an all-Ed25519 device pays for one hash. A pure Ed25519 image (`imgtool sign
//! --pure`) is signed over the whole hashed region, not a digest, and its signature sits at the
//! end: [`StreamVerifier::finish`] then returns a [`SecondPass`] that must be fed the hashed
//! region again (from the slot the image was written to), computing SHA-512 for its SHA512 TLV
//! and one Ed25519 stream per candidate key. Only pure images pay for that second read.

mod pure;

use std::fmt;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

use crate::check::{self, Mode};
use crate::digest::{Hasher, ImageDigest};
use crate::tlv::{self, INFO_LEN, TlvArea, TlvInfo};
use crate::{ImageError, ImageHeader, TrustedKey};

pub use pure::SecondPass;

/// Largest size of both TLV areas together that the verifier buffers.
pub const MAX_TLV_LEN: u64 = 0x1_0000;

/// Incremental verifier for one image being received, e.g. while it is written to a slot.
#[derive(Debug, Clone)]
pub struct StreamVerifier(Walker<ImageHeader>);

/// What [`StreamVerifier::finish`] concluded.
#[derive(Debug)]
#[non_exhaustive]
pub enum Finish {
    /// Hash and signature checked out.
    Verified(VerifiedImage),
    /// The image is signed pure (SIG_PURE): feed its hashed region again to the second pass.
    SecondPass(SecondPass),
}

/// An image whose hash and signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    /// Its header.
    pub header: ImageHeader,
    /// Its hash TLV, checked against the hashed region (header, body and protected TLVs):
    /// SHA-256 for Ed25519, P-256 and RSA signatures, SHA-384 for P-384, SHA-512 when pure.
    pub digest: ImageDigest,
    /// Bytes from the header to the end of the unprotected TLV area.
    pub total_len: u64,
    /// Index, in the key list given, of the key that signed it.
    pub key_index: usize,
    /// The security counter (SEC_CNT in the protected TLV area, `imgtool sign
    /// --security-counter`), for anti-rollback; `None` if the image has none.
    pub security_counter: Option<u32>,
}

/// Verifies an image read from `reader`, reading no byte past its end (e.g. imgtool's --pad).
///
/// The image starts at the reader's position. A pure-signed image is read twice: after the
/// first pass the reader seeks back and the hashed region is read again (see [`SecondPass`]).
pub fn verify_reader<R: Read + Seek>(
    mut reader: R,
    limit: u64,
    keys: &[TrustedKey],
) -> Result<VerifiedImage, ImageError> {
    let start = reader.stream_position()?;
    let mut verifier = StreamVerifier::new(limit, keys);
    pump(&mut reader, &mut verifier)?;
    match verifier.finish(keys)? {
        Finish::Verified(image) => Ok(image),
        Finish::SecondPass(pass) => {
            reader.seek(SeekFrom::Start(start))?;
            pass.read_from(reader)
        }
    }
}

impl StreamVerifier {
    /// A verifier for an image that must fit in `limit` bytes (the slot size), computing the
    /// hashes that `keys` (the keys later given to [`StreamVerifier::finish`]) can need.
    pub fn new(limit: u64, keys: &[TrustedKey]) -> Self {
        StreamVerifier(Walker::new(limit, keys, true))
    }

    /// Feeds the next bytes; fails as soon as they prove the image bad (then for good).
    ///
    /// Bytes after the end of the unprotected TLV area are not part of the image and are
    /// ignored, but they still count against the limit.
    pub fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.0.update(data)
    }

    /// The parsed header, once 32 bytes have arrived.
    pub fn header(&self) -> Option<&ImageHeader> {
        self.0.head()
    }

    /// Header + body + protected + unprotected TLV length, once the TLV info has arrived.
    pub fn total_len(&self) -> Option<u64> {
        self.0.total_len()
    }

    /// Bytes fed so far, including any ignored after the image.
    pub fn bytes_seen(&self) -> u64 {
        self.0.bytes_seen()
    }

    /// How many more bytes the verifier can use before it learns more; 0 once complete.
    pub fn needed(&self) -> u64 {
        self.0.needed()
    }

    /// Checks the signature with `keys` once the whole image has been fed; a pure image asks
    /// for a [`SecondPass`] over its hashed region.
    pub fn finish(self, keys: &[TrustedKey]) -> Result<Finish, ImageError> {
        match self.0.finish(keys)? {
            Finished::Signed(signed) => Ok(Finish::Verified(signed.into())),
            Finished::Pure(pass) => Ok(Finish::SecondPass(SecondPass::new(pass))),
        }
    }

    /// The verifier's TLV buffer, for tests of its memory bound.
    #[cfg(test)]
    fn tlvs(&self) -> &Vec<u8> {
        &self.0.tlvs
    }
}

impl From<Signed<ImageHeader>> for VerifiedImage {
    fn from(signed: Signed<ImageHeader>) -> Self {
        VerifiedImage {
            header: signed.head,
            digest: signed.digest,
            total_len: signed.total_len,
            key_index: signed.key_index,
            security_counter: signed.security_counter,
        }
    }
}

impl Head for ImageHeader {
    const LEN: usize = ImageHeader::LEN;
    const NOUN: &'static str = "image";

    fn parse_head(bytes: &[u8]) -> Result<Self, ImageError> {
        let header = ImageHeader::parse(bytes)?;
        header.check_bootable()?;
        Ok(header)
    }

    fn hashed_len(&self) -> u64 {
        ImageHeader::hashed_len(self)
    }

    fn protect_tlv_size(&self) -> u16 {
        self.protect_tlv_size
    }
}

/// The fixed head of a signed container: what it says about the rest.
pub(crate) trait Head: Clone + fmt::Debug {
    /// Length of the head at offset 0, all of it hashed.
    const LEN: usize;
    /// What the container is called in messages.
    const NOUN: &'static str;
    /// Parses and checks the head from exactly [`Head::LEN`] bytes.
    fn parse_head(bytes: &[u8]) -> Result<Self, ImageError>;
    /// Length of the hashed region: the head, the payload and the protected TLV area.
    fn hashed_len(&self) -> u64;
    /// Length of the protected TLV area that ends the hashed region, or 0.
    fn protect_tlv_size(&self) -> u16;

    /// Offset of the first TLV area (protected if present, else unprotected).
    fn tlv_offset(&self) -> u64 {
        self.hashed_len().saturating_sub(u64::from(self.protect_tlv_size()))
    }
}

/// A container whose hash and signature checked out, before it is named by its kind.
#[derive(Debug, Clone)]
pub(crate) struct Signed<H> {
    pub(crate) head: H,
    pub(crate) digest: ImageDigest,
    pub(crate) total_len: u64,
    pub(crate) key_index: usize,
    pub(crate) security_counter: Option<u32>,
}

/// What a finished walk concluded.
pub(crate) enum Finished<H> {
    Signed(Signed<H>),
    /// Boxed: the hash states make it several hundred bytes.
    Pure(Box<pure::Pass<H>>),
}

/// The streaming walk through one signed container with head `H`.
#[derive(Debug, Clone)]
pub(crate) struct Walker<H> {
    limit: u64,
    seen: u64,
    stage: Stage,
    /// The head's bytes, as received.
    head_bytes: Vec<u8>,
    head: Option<H>,
    /// Taken when the hashed region ends.
    hasher: Option<Hasher>,
    /// Protected then unprotected TLV area, as received.
    tlvs: Vec<u8>,
    security_counter: Option<u32>,
    mode: Option<Mode>,
    total_len: Option<u64>,
    allow_pure: bool,
}

/// Where in the container the next byte falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The fixed head.
    Head,
    /// The rest of the hashed region: header padding or payload, and protected TLV area.
    Hashed,
    /// The unprotected area's 4-byte info header.
    TlvInfo,
    /// The unprotected TLV entries.
    Tlvs,
    /// Past the container; bytes are ignored.
    Done,
    /// The container was rejected.
    Failed,
}

impl<H: Head> Walker<H> {
    pub(crate) fn new(limit: u64, keys: &[TrustedKey], allow_pure: bool) -> Self {
        Walker {
            limit,
            seen: 0,
            stage: Stage::Head,
            head_bytes: Vec::with_capacity(H::LEN),
            head: None,
            hasher: Some(Hasher::for_keys(keys)),
            tlvs: Vec::new(),
            security_counter: None,
            mode: None,
            total_len: None,
            allow_pure,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        if self.stage == Stage::Failed {
            return Err(ImageError::AlreadyFailed);
        }
        let result = self.absorb(data);
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    pub(crate) fn head(&self) -> Option<&H> {
        self.head.as_ref()
    }

    pub(crate) fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    pub(crate) fn bytes_seen(&self) -> u64 {
        self.seen
    }

    pub(crate) fn needed(&self) -> u64 {
        match self.stage {
            Stage::Done | Stage::Failed => 0,
            _ => self.stage_end() - self.seen,
        }
    }

    pub(crate) fn finish(self, keys: &[TrustedKey]) -> Result<Finished<H>, ImageError> {
        if self.stage == Stage::Failed {
            return Err(ImageError::AlreadyFailed);
        }
        let (Stage::Done, Some(head), Some(mode), Some(total_len)) =
            (self.stage, self.head.clone(), self.mode, self.total_len)
        else {
            let expected = match self.total_len {
                Some(total) => format!("the {} is {total}", H::NOUN),
                None => format!("the {}'s size is not known yet", H::NOUN),
            };
            return Err(ImageError::Truncated { seen: self.seen, expected });
        };
        let area = self.unprotected()?;
        let digests = match mode {
            Mode::Digest(digests) => digests,
            Mode::Pure { sha512 } => {
                let attempts = check::attempts(&area, keys, true);
                let pass = pure::Pass::new(
                    pure::Signing { head, total_len, security_counter: self.security_counter, sha512 },
                    &self.head_bytes,
                    self.tlvs.get(..usize::from(self.protected_len())).unwrap_or_default(),
                    attempts,
                    keys,
                )?;
                return Ok(Finished::Pure(Box::new(pass)));
            }
        };
        let verdict = check::signature(&area, &digests, keys);
        log::debug!("{} ({total_len} bytes): signature {verdict:?}", H::NOUN);
        let key_index = verdict?;
        // The signature verified against the digest of its key's kind, so that digest exists.
        let digest = keys
            .get(key_index)
            .and_then(|key| digests.get(key.hash_kind()))
            .ok_or(ImageError::MissingHash { pure: false })?;
        Ok(Finished::Signed(Signed {
            head,
            digest,
            total_len,
            key_index,
            security_counter: self.security_counter,
        }))
    }

    /// Absolute offset where the current stage ends.
    fn stage_end(&self) -> u64 {
        let hashed_len = self.head.as_ref().map_or(0, H::hashed_len);
        match self.stage {
            Stage::Head => H::LEN as u64,
            Stage::Hashed => hashed_len,
            Stage::TlvInfo => hashed_len + INFO_LEN as u64,
            Stage::Tlvs => self.total_len.unwrap_or(u64::MAX),
            Stage::Done | Stage::Failed => u64::MAX,
        }
    }

    fn absorb(&mut self, mut data: &[u8]) -> Result<(), ImageError> {
        let fed = self.seen.saturating_add(data.len() as u64);
        if fed > self.limit {
            return Err(ImageError::TooLarge { len: fed, limit: self.limit });
        }
        loop {
            let end = self.stage_end();
            // Advancing before looking at `data` also handles empty stages and empty updates.
            if self.seen == end {
                self.advance()?;
                continue;
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = usize::try_from(end - self.seen).map_or(data.len(), |left| left.min(data.len()));
            let (chunk, rest) = data.split_at(take);
            self.consume(chunk);
            self.seen += take as u64;
            data = rest;
        }
    }

    /// Hashes and buffers one chunk that lies inside the current stage.
    fn consume(&mut self, chunk: &[u8]) {
        if matches!(self.stage, Stage::Head | Stage::Hashed)
            && let Some(hasher) = &mut self.hasher
        {
            hasher.update(chunk);
        }
        match (self.stage, &self.head) {
            // The head stage ends at offset H::LEN, so the head never grows past it.
            (Stage::Head, _) => self.head_bytes.extend_from_slice(chunk),
            (Stage::Hashed, Some(head)) => {
                // Keep only the protected-area part of a chunk that may straddle body and area.
                let skip = head.tlv_offset().saturating_sub(self.seen);
                if let Some(area) = usize::try_from(skip).ok().and_then(|skip| chunk.get(skip..)) {
                    self.tlvs.extend_from_slice(area);
                }
            }
            (Stage::TlvInfo | Stage::Tlvs, _) => self.tlvs.extend_from_slice(chunk),
            _ => {}
        }
    }

    /// Acts on what the bytes up to the end of the current stage revealed, and moves on.
    fn advance(&mut self) -> Result<(), ImageError> {
        self.stage = match self.stage {
            Stage::Head => {
                let head = H::parse_head(&self.head_bytes)?;
                // Even the smallest unprotected area must fit, so a huge claim fails right here.
                self.check_limit(head.hashed_len() + INFO_LEN as u64)?;
                check_tlv_len(u64::from(head.protect_tlv_size()) + INFO_LEN as u64)?;
                self.tlvs.reserve_exact(usize::from(head.protect_tlv_size()) + INFO_LEN);
                self.head = Some(head);
                Stage::Hashed
            }
            Stage::Hashed => {
                self.security_counter = self.check_protected()?;
                Stage::TlvInfo
            }
            Stage::TlvInfo => {
                self.read_tlv_info()?;
                Stage::Tlvs
            }
            Stage::Tlvs => {
                // The hasher is taken only here, once, at the end of the hashed region's stages.
                let computed = self.hasher.take().map(Hasher::finalize).unwrap_or_default();
                self.mode = Some(check::hash(&self.unprotected()?, &computed, self.allow_pure)?);
                Stage::Done
            }
            stage @ (Stage::Done | Stage::Failed) => stage,
        };
        Ok(())
    }

    fn protected_len(&self) -> u16 {
        self.head.as_ref().map_or(0, H::protect_tlv_size)
    }

    fn check_protected(&self) -> Result<Option<u32>, ImageError> {
        let Some(head) = self.head.as_ref().filter(|h| h.protect_tlv_size() != 0) else {
            return Ok(None);
        };
        let info = tlv_info(&self.tlvs);
        info.check(tlv::PROT_INFO_MAGIC, head.tlv_offset())?;
        if info.total_len != head.protect_tlv_size() {
            return Err(ImageError::ProtectedSizeMismatch {
                header: head.protect_tlv_size(),
                area: info.total_len,
            });
        }
        check::protected_area(&TlvArea::parse(&self.tlvs, tlv::PROT_INFO_MAGIC, head.tlv_offset())?)
    }

    fn read_tlv_info(&mut self) -> Result<(), ImageError> {
        let protect = self.protected_len();
        let offset = self.head.as_ref().map_or(0, H::hashed_len);
        let info = tlv_info(self.tlvs.get(usize::from(protect)..).unwrap_or_default());
        if info.magic == tlv::PROT_INFO_MAGIC && protect == 0 {
            // A protected area the header does not account for: its bytes were not hashed.
            return Err(ImageError::ProtectedSizeMismatch { header: 0, area: info.total_len });
        }
        info.check(tlv::INFO_MAGIC, offset)?;
        check_tlv_len(u64::from(protect) + u64::from(info.total_len))?;
        let total = offset + u64::from(info.total_len);
        self.check_limit(total)?;
        // `check` above guaranteed total_len >= INFO_LEN.
        self.tlvs.reserve_exact(usize::from(info.total_len).saturating_sub(INFO_LEN));
        self.total_len = Some(total);
        Ok(())
    }

    fn unprotected(&self) -> Result<TlvArea<'_>, ImageError> {
        let offset = self.head.as_ref().map_or(0, H::hashed_len);
        // The stages put exactly `protect` bytes before the unprotected area; an empty slice
        // would only give a parse error, never a panic.
        let area = self.tlvs.get(usize::from(self.protected_len())..).unwrap_or_default();
        TlvArea::parse(area, tlv::INFO_MAGIC, offset)
    }

    fn check_limit(&self, len: u64) -> Result<(), ImageError> {
        if len > self.limit {
            return Err(ImageError::TooLarge { len, limit: self.limit });
        }
        Ok(())
    }
}

/// Something that takes a container's bytes in order and says how many more it can use.
pub(crate) trait Sink {
    /// Bytes the sink can use before it learns more; 0 when it wants no more.
    fn wanted(&self) -> u64;
    /// Feeds bytes.
    fn feed(&mut self, data: &[u8]) -> Result<(), ImageError>;
}

impl Sink for StreamVerifier {
    fn wanted(&self) -> u64 {
        self.needed()
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), ImageError> {
        self.update(data)
    }
}

/// Reads from `reader` into `sink` until the sink wants no more or the reader ends.
pub(crate) fn pump<R: Read, S: Sink>(reader: &mut R, sink: &mut S) -> Result<(), ImageError> {
    let mut buffer = vec![0; 0x1_0000];
    loop {
        let wanted = usize::try_from(sink.wanted()).unwrap_or(usize::MAX).min(buffer.len());
        if wanted == 0 {
            return Ok(());
        }
        let read = match reader.read(&mut buffer[..wanted]) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        sink.feed(&buffer[..read])?;
    }
}

fn check_tlv_len(len: u64) -> Result<(), ImageError> {
    if len > MAX_TLV_LEN {
        return Err(ImageError::TlvTooLarge { len, max: MAX_TLV_LEN });
    }
    Ok(())
}

/// The info header at the start of `area`; the stage that collected it made it 4 bytes long.
fn tlv_info(area: &[u8]) -> TlvInfo {
    let mut info = [0; INFO_LEN];
    let len = area.len().min(INFO_LEN);
    info[..len].copy_from_slice(&area[..len]);
    TlvInfo::parse(info)
}

#[cfg(test)]
mod tests;
