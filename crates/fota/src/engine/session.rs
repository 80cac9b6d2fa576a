//! One running download: the bytes of a transfer written into its target's
//! download area, checked as they arrive, with progress and resume
//! checkpoints.
//!
//! Owns the transfer's bookkeeping (offsets, the announced size, progress,
//! type detection) and the rule that bytes reach flash before the
//! checkpoint that covers them is recorded. It never decides what happens
//! to a finished or failed download: that is `schedule`'s job.

use atfota_download::{Resume, Source, StartInfo};
use atfota_image::{Detection, ImageKind};
use atfota_storage::{NorFlash, Partition, PartitionWriter};

use super::{Engine, record};
use crate::event::{Event, FailKind, Failure};
use crate::target::{TargetKind, Verifier};

/// The resume checkpoint is persisted about every 1/64 of the file, but at
/// least every 1 MiB and at most once per sector: a few hundred small
/// settings records per download, whatever its size.
const CHECKPOINT_MAX_INTERVAL: u64 = 1024 * 1024;
const CHECKPOINTS_PER_FILE: u64 = 64;

/// A transfer in progress.
pub(super) struct Session {
    pub id: u64,
    pub kind: ImageKind,
    pub target: TargetKind,
    pub resume_from: u64,
    /// Set by the first `Started`.
    pub writer: Option<PartitionWriter>,
    pub verifier: Verifier,
    pub total: u64,
    announced: bool,
    detected: bool,
    head: Vec<u8>,
    last_pct: Option<u8>,
    pub saved_checkpoint: u32,
    /// Bytes received but not stored yet: a delta package's until its header is checked.
    held: Vec<u8>,
    /// The transfer to start once the scratch area is erased (see `Engine::handle_timer`).
    pub waiting: Option<(Source, Option<Resume>)>,
}

impl Session {
    pub fn new(id: u64, kind: ImageKind, target: TargetKind, resume_from: u64, verifier: Verifier) -> Self {
        Self {
            id,
            kind,
            target,
            resume_from,
            writer: None,
            verifier,
            total: 0,
            announced: false,
            detected: false,
            head: Vec::new(),
            last_pct: None,
            // Resume offsets come from `record::resume_point`, which bounds them by the area size.
            saved_checkpoint: resume_from as u32,
            held: Vec::new(),
            waiting: None,
        }
    }
}

impl<F: NorFlash> Engine<F> {
    /// Where downloads for `target` are written.
    pub(super) fn area(&self, target: TargetKind) -> Partition {
        match (target, self.modem) {
            (TargetKind::Modem, Some(m)) => m.area(),
            _ => self.app.area(),
        }
    }

    /// Largest download `target` accepts (0 for a target the device lacks).
    pub(super) fn limit(&self, target: TargetKind) -> u64 {
        match (target, self.modem) {
            (TargetKind::App, _) => self.app.limit(),
            (TargetKind::Modem, Some(m)) => m.limit(),
            (TargetKind::Modem, None) => 0,
        }
    }

    /// A fresh verifier for a download for `target`.
    pub(super) fn verifier(&self, target: TargetKind) -> Verifier {
        match (target, self.modem) {
            (TargetKind::Modem, Some(m)) => Verifier::Delta(m.verifier(&self.keys)),
            _ => Verifier::App(self.app.verifier(&self.keys)),
        }
    }

    /// Feeds bytes to the verifier, refusing a package for another modem
    /// firmware as soon as its header is known.
    fn check(&mut self, s: &mut Session, data: &[u8]) -> Result<(), Failure> {
        check_type(s, data)?;
        let had_header = s.verifier.may_store();
        s.verifier.update(data)?;
        if let (Verifier::Delta(v), Some(m), false) = (&s.verifier, self.modem, had_header) {
            m.check_source(&mut self.flash, v)?;
        }
        Ok(())
    }

    pub(super) fn on_started(&mut self, s: &mut Session, info: &StartInfo) -> Result<(), Failure> {
        let limit = self.limit(s.target);
        if info.total > limit {
            return Err(Failure::new(
                FailKind::Invalid,
                format!("image of {} bytes does not fit the {limit}-byte slot", info.total),
            ));
        }
        if s.total != 0 && s.total != info.total {
            return Err(Failure::new(
                FailKind::Server,
                format!("file size changed from {} to {} bytes during the transfer", s.total, info.total),
            ));
        }
        let current = s.writer.as_ref().map(PartitionWriter::position);
        if info.offset == 0 && current != Some(0) {
            self.restart(s)?;
        } else if current.is_none() && info.offset == s.resume_from {
            self.resume(s)?;
        } else if current != Some(info.offset) {
            return Err(Failure::new(
                FailKind::Server,
                format!(
                    "server continued at byte {} but {} bytes are stored",
                    info.offset,
                    current.unwrap_or(0)
                ),
            ));
        }
        if s.total == 0 {
            s.total = info.total;
            record::started(&mut self.settings, &mut self.flash, info.total, info.validator.as_deref())
                .map_err(storage_failure)?;
        }
        if !s.announced {
            s.announced = true;
            self.events.push_back(Event::DownloadStarted { offset: info.offset, total: info.total });
        }
        Ok(())
    }

    pub(super) fn on_data(&mut self, s: &mut Session, data: &[u8]) -> Result<(), Failure> {
        let Some(pos) = s.writer.as_ref().map(|w| w.position() + s.held.len() as u64) else {
            return Err(Failure::new(FailKind::Server, "server sent data before a response"));
        };
        if pos + data.len() as u64 > s.total {
            return Err(Failure::new(FailKind::Server, "server sent more bytes than announced"));
        }
        self.check(s, data)?;
        if !s.verifier.may_store() {
            // Bounded: a delta header is 0x140 bytes, and the verifier decides once it has them.
            s.held.extend_from_slice(data);
            return Ok(());
        }
        let writer = s.writer.as_mut().ok_or_else(|| Failure::new(FailKind::Server, "no response"))?;
        if !s.held.is_empty() {
            writer.write(&mut self.flash, &std::mem::take(&mut s.held)).map_err(flash_failure)?;
        }
        writer.write(&mut self.flash, data).map_err(flash_failure)?;
        let pos = writer.position();
        let checkpoint = writer.checkpoint();
        let pct = (pos * 100 / s.total.max(1)) as u8;
        if s.last_pct != Some(pct) {
            s.last_pct = Some(pct);
            self.events.push_back(Event::Progress(pct));
        }
        let sector = u64::from(self.geometry.sector_size);
        let interval = (s.total / CHECKPOINTS_PER_FILE).clamp(sector, CHECKPOINT_MAX_INTERVAL.max(sector));
        if u64::from(checkpoint) >= u64::from(s.saved_checkpoint) + interval {
            record::checkpoint(&mut self.settings, &mut self.flash, u64::from(checkpoint))
                .map_err(storage_failure)?;
            s.saved_checkpoint = checkpoint;
        }
        Ok(())
    }

    /// Records how far a stopped session's bytes are on flash, for a resume.
    pub(super) fn save_checkpoint(&mut self, s: &Session) {
        let Some(cp) = s.writer.as_ref().map(PartitionWriter::checkpoint) else { return };
        if cp == s.saved_checkpoint {
            return;
        }
        if let Err(e) = record::checkpoint(&mut self.settings, &mut self.flash, u64::from(cp)) {
            log::error!("could not save the resume point: {e}");
        }
    }

    /// Starts writing from byte 0 (fresh start, or a server that ignored the Range).
    fn restart(&mut self, s: &mut Session) -> Result<(), Failure> {
        let sector = self.geometry.sector_size;
        s.writer = Some(PartitionWriter::new(self.area(s.target), sector, self.geometry.write_size, 0));
        s.verifier = self.verifier(s.target);
        s.held.clear();
        s.detected = false;
        s.head.clear();
        s.last_pct = None;
        s.saved_checkpoint = 0;
        record::checkpoint(&mut self.settings, &mut self.flash, 0).map_err(storage_failure)
    }

    /// Continues after the bytes already on flash: re-checks them first.
    fn resume(&mut self, s: &mut Session) -> Result<(), Failure> {
        // Bounded by the area size (see `Session::new`).
        let from = s.resume_from as u32;
        let area = self.area(s.target);
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u32;
        while off < from {
            let n = (from - off).min(buf.len() as u32);
            let chunk = &mut buf[..n as usize];
            area.read(&mut self.flash, off, chunk).map_err(flash_failure)?;
            self.check(s, chunk)?;
            off += n;
        }
        let sector = self.geometry.sector_size;
        s.writer = Some(PartitionWriter::new(area, sector, self.geometry.write_size, from));
        Ok(())
    }
}

/// Detects the image type from the first bytes and refuses the wrong one.
fn check_type(s: &mut Session, data: &[u8]) -> Result<(), Failure> {
    if s.detected {
        return Ok(());
    }
    let need = atfota_image::DETECT_LEN - s.head.len();
    s.head.extend_from_slice(&data[..need.min(data.len())]);
    judge_type(s, false)
}

/// The verdict on the type once enough bytes (or all of them) are in.
pub(super) fn judge_type(s: &mut Session, at_end: bool) -> Result<(), Failure> {
    match ImageKind::detect(&s.head) {
        Detection::Kind(k) if k == s.kind => {
            s.detected = true;
            Ok(())
        }
        Detection::Kind(k) => Err(Failure::new(
            FailKind::Mismatch,
            format!("the file is a {k:?} image but {:?} was asked for", s.kind),
        )),
        Detection::NeedMore if !at_end => Ok(()),
        _ => Err(Failure::new(FailKind::Invalid, "the file is not a known image type")),
    }
}

pub(super) fn flash_failure(e: atfota_storage::FlashError) -> Failure {
    Failure::new(FailKind::Storage, format!("flash: {e}"))
}

pub(super) fn storage_failure(e: String) -> Failure {
    Failure::new(FailKind::Storage, e)
}
