//! Sans-IO streaming verification of an MCUboot image: bytes in (any chunking), verdict out.
//!
//! Owns the walk through header, body, protected and unprotected TLV areas as bytes arrive,
//! hashing on the fly and failing at the first byte that proves the image bad. Memory is the
//! 32-byte header, the TLV areas (at most [`MAX_TLV_LEN`]) and the SHA-256 state; it must
//! never copy the body, read a clock or do IO (`verify_reader` is the thin IO shell).

use std::io::{ErrorKind, Read};

use sha2::{Digest, Sha256};

use crate::tlv::{self, INFO_LEN, TlvArea, TlvInfo};
use crate::{ImageError, ImageHeader, TrustedKey, check};

/// Largest size of both TLV areas together that the verifier buffers.
pub const MAX_TLV_LEN: u64 = 0x1_0000;

/// Incremental verifier for one image being received, e.g. while it is written to a slot.
#[derive(Debug, Clone)]
pub struct StreamVerifier {
    limit: u64,
    seen: u64,
    stage: Stage,
    head: [u8; ImageHeader::LEN],
    header: Option<ImageHeader>,
    hasher: Sha256,
    /// Protected then unprotected TLV area, as received.
    tlvs: Vec<u8>,
    digest: Option<[u8; 32]>,
    total_len: Option<u64>,
}

/// Where in the image the next byte falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The fixed 32-byte header.
    Header,
    /// Header padding, body and protected TLV area: hashed.
    Hashed,
    /// The unprotected area's 4-byte info header.
    TlvInfo,
    /// The unprotected TLV entries.
    Tlvs,
    /// Past the image; bytes are ignored.
    Done,
    /// The image was rejected.
    Failed,
}

/// An image whose hash and signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    /// Its header.
    pub header: ImageHeader,
    /// SHA-256 of header, body and protected TLVs (the SHA256 TLV value).
    pub digest: [u8; 32],
    /// Bytes from the header to the end of the unprotected TLV area.
    pub total_len: u64,
    /// Index, in the key list given, of the key that signed it.
    pub key_index: usize,
}

/// Verifies an image read from `reader`, reading no byte past its end (e.g. imgtool's --pad).
pub fn verify_reader<R: Read>(
    mut reader: R,
    limit: u64,
    keys: &[TrustedKey],
) -> Result<VerifiedImage, ImageError> {
    let mut verifier = StreamVerifier::new(limit);
    let mut buffer = vec![0; 0x1_0000];
    loop {
        let wanted = usize::try_from(verifier.needed()).unwrap_or(usize::MAX).min(buffer.len());
        if wanted == 0 {
            break;
        }
        let read = match reader.read(&mut buffer[..wanted]) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        verifier.update(&buffer[..read])?;
    }
    verifier.finish(keys)
}

impl StreamVerifier {
    /// A verifier for an image that must fit in `limit` bytes (the slot size).
    pub fn new(limit: u64) -> Self {
        StreamVerifier {
            limit,
            seen: 0,
            stage: Stage::Header,
            head: [0; ImageHeader::LEN],
            header: None,
            hasher: Sha256::new(),
            tlvs: Vec::new(),
            digest: None,
            total_len: None,
        }
    }

    /// Feeds the next bytes; fails as soon as they prove the image bad (then for good).
    ///
    /// Bytes after the end of the unprotected TLV area are not part of the image and are
    /// ignored, but they still count against the limit.
    pub fn update(&mut self, data: &[u8]) -> Result<(), ImageError> {
        if self.stage == Stage::Failed {
            return Err(ImageError::AlreadyFailed);
        }
        let result = self.absorb(data);
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    /// The parsed header, once 32 bytes have arrived.
    pub fn header(&self) -> Option<&ImageHeader> {
        self.header.as_ref()
    }

    /// Header + body + protected + unprotected TLV length, once the TLV info has arrived.
    pub fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    /// Bytes fed so far, including any ignored after the image.
    pub fn bytes_seen(&self) -> u64 {
        self.seen
    }

    /// How many more bytes the verifier can use before it learns more; 0 once complete.
    pub fn needed(&self) -> u64 {
        match self.stage {
            Stage::Done | Stage::Failed => 0,
            _ => self.stage_end() - self.seen,
        }
    }

    /// Checks the signature with `keys` once the whole image has been fed.
    pub fn finish(self, keys: &[TrustedKey]) -> Result<VerifiedImage, ImageError> {
        if self.stage == Stage::Failed {
            return Err(ImageError::AlreadyFailed);
        }
        let (Stage::Done, Some(header), Some(digest), Some(total_len)) =
            (self.stage, self.header, self.digest, self.total_len)
        else {
            let expected = match self.total_len {
                Some(total) => format!("the image is {total}"),
                None => "the image's size is not known yet".to_owned(),
            };
            return Err(ImageError::Truncated { seen: self.seen, expected });
        };
        let verdict = check::signature(&self.unprotected()?, &digest, keys);
        log::debug!("image {} ({total_len} bytes): signature {verdict:?}", header.version);
        Ok(VerifiedImage { header, digest, total_len, key_index: verdict? })
    }

    /// Absolute offset where the current stage ends.
    fn stage_end(&self) -> u64 {
        let hashed_len = self.header.map_or(0, |h| h.hashed_len());
        match self.stage {
            Stage::Header => ImageHeader::LEN as u64,
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
        match (self.stage, self.header) {
            (Stage::Header, _) => {
                // The header stage ends at offset 32, so `seen + chunk.len() <= 32`.
                let at = self.seen as usize;
                self.head[at..at + chunk.len()].copy_from_slice(chunk);
                self.hasher.update(chunk);
            }
            (Stage::Hashed, Some(header)) => {
                self.hasher.update(chunk);
                // Keep only the protected-area part of a chunk that may straddle body and area.
                let skip = header.tlv_offset().saturating_sub(self.seen);
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
            Stage::Header => {
                let header = ImageHeader::parse(&self.head)?;
                header.check_bootable()?;
                // Even the smallest unprotected area must fit, so a huge claim fails right here.
                self.check_limit(header.hashed_len() + INFO_LEN as u64)?;
                check_tlv_len(u64::from(header.protect_tlv_size) + INFO_LEN as u64)?;
                self.tlvs.reserve_exact(usize::from(header.protect_tlv_size) + INFO_LEN);
                self.header = Some(header);
                Stage::Hashed
            }
            Stage::Hashed => {
                self.digest = Some(std::mem::take(&mut self.hasher).finalize().into());
                self.check_protected()?;
                Stage::TlvInfo
            }
            Stage::TlvInfo => {
                self.read_tlv_info()?;
                Stage::Tlvs
            }
            Stage::Tlvs => {
                // The Hashed stage, always passed before this one, set the digest.
                let digest = self.digest.unwrap_or_default();
                check::hash(&self.unprotected()?, &digest)?;
                Stage::Done
            }
            stage @ (Stage::Done | Stage::Failed) => stage,
        };
        Ok(())
    }

    fn check_protected(&self) -> Result<(), ImageError> {
        let Some(header) = self.header.filter(|h| h.protect_tlv_size != 0) else {
            return Ok(());
        };
        let info = tlv_info(&self.tlvs);
        info.check(tlv::PROT_INFO_MAGIC, header.tlv_offset())?;
        if info.total_len != header.protect_tlv_size {
            return Err(ImageError::ProtectedSizeMismatch {
                header: header.protect_tlv_size,
                area: info.total_len,
            });
        }
        check::protected_area(&TlvArea::parse(&self.tlvs, tlv::PROT_INFO_MAGIC, header.tlv_offset())?)
    }

    fn read_tlv_info(&mut self) -> Result<(), ImageError> {
        let (protect, offset) = self.header.map_or((0, 0), |h| (h.protect_tlv_size, h.hashed_len()));
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
        let (protect, offset) = self.header.map_or((0, 0), |h| (h.protect_tlv_size, h.hashed_len()));
        // The stages put exactly `protect` bytes before the unprotected area; an empty slice
        // would only give a parse error, never a panic.
        let area = self.tlvs.get(usize::from(protect)..).unwrap_or_default();
        TlvArea::parse(area, tlv::INFO_MAGIC, offset)
    }

    fn check_limit(&self, len: u64) -> Result<(), ImageError> {
        if len > self.limit {
            return Err(ImageError::TooLarge { len, limit: self.limit });
        }
        Ok(())
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
