//! The FOTA engine: one state machine for every profile.
//!
//! Owns the life of an update on the device side — start, resume, cancel,
//! type detection, progress, verification, scheduling, and the result after
//! reboot — and the settings keys that make it survive power cycles. It is
//! sans-IO in the manner of quinn-proto: the host's commands and the
//! downloader's output come in as method calls, and what the engine wants
//! done (start or abort a transfer) and what it has to say (events) are
//! polled. It never touches a socket or a clock; flash is a parameter.
//!
//! Persistence (settings keys): `fota.dl.id` identifies the download that
//! the bytes in the secondary slot belong to, `fota.dl.offset` is a
//! sector-aligned offset below which they are all on flash, `fota.dl.total`
//! and `fota.dl.validator` let a resume check it gets the same file;
//! `fota.pending` says an installed-but-unreported upgrade is waiting for its
//! result to be reported after boot.

use std::collections::VecDeque;

use atfota_boot::{BootAction, BootError, BootReport, Bootloader, SwapState};
use atfota_image::{Detection, ImageKind, ImageVersion, StreamVerifier, TrustedKey};
use atfota_net::{DownloadError, Outcome, Resume, Source, StartInfo};
use atfota_storage::{FlashError, Geometry, Layout, NorFlash, Settings};

use crate::event::{Event, FailKind, Failure, UpgradeResult};
use crate::slot::{self, SlotReader};
use crate::trust;
use crate::writer::SlotWriter;

/// The resume checkpoint is persisted about every 1/64 of the file, but at
/// least every 1 MiB and at most once per sector: a few hundred small
/// settings records per download, whatever its size.
const CHECKPOINT_MAX_INTERVAL: u64 = 1024 * 1024;
const CHECKPOINTS_PER_FILE: u64 = 64;

const KEY_DL_ID: &str = "fota.dl.id";
const KEY_DL_OFFSET: &str = "fota.dl.offset";
const KEY_DL_TOTAL: &str = "fota.dl.total";
const KEY_DL_VALIDATOR: &str = "fota.dl.validator";
const KEY_PENDING: &str = "fota.pending";
/// `fota.pending` while the bootloader request is being written.
const PENDING_SCHEDULING: &[u8] = b"scheduling";
/// `fota.pending` once the request is on flash (`4,0` follows).
const PENDING_SCHEDULED: &[u8] = b"scheduled";

/// How the emulated application behaves at start.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineConfig {
    /// A newly swapped-in image fails its self-test (and so is never confirmed).
    pub fail_self_test: bool,
}

/// A request to download and install an image.
#[derive(Clone, Debug)]
pub struct DownloadRequest {
    /// The kind of image the command asked for.
    pub kind: ImageKind,
    /// Where to get it.
    pub source: Source,
    /// Identifies the transfer for resuming (URL and file, never a password).
    pub identity: String,
}

/// Work for the IO shell.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Action {
    /// Start a transfer and feed its output back tagged with `id`.
    Start {
        /// Tag for the `handle_*` calls of this transfer.
        id: u64,
        /// Where to get it.
        source: Source,
        /// Where to resume, if anywhere.
        resume: Option<Resume>,
    },
    /// Stop transfer `id`; anything it still delivers is ignored.
    Abort {
        /// The transfer to stop.
        id: u64,
    },
}

/// Why a command was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A download is running.
    #[error("a download is already running; cancel it first")]
    Busy,
    /// A downloaded image waits for a reset to be installed.
    #[error("an image is waiting for activation; reset to install it or erase it first")]
    PendingActivation,
    /// A swap or a pending revert still needs the secondary slot.
    #[error("the bootloader still needs the secondary slot ({0:?})")]
    Protected(SwapState),
    /// There is no download to cancel.
    #[error("no download is running")]
    NothingToCancel,
    /// This kind of update is not supported by the device.
    #[error("{0:?} updates are not supported")]
    Unsupported(ImageKind),
    /// Flash or settings failed.
    #[error("storage failed: {0}")]
    Storage(String),
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The partition table does not suit the bootloader.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The settings store could not be read.
    #[error("settings store unreadable: {0}")]
    Settings(String),
}

/// The FOTA engine of one device.
pub struct Engine<F: NorFlash> {
    flash: F,
    geometry: Geometry,
    layout: Layout,
    boot: Bootloader,
    settings: Settings,
    keys: Vec<TrustedKey>,
    app_version: Option<ImageVersion>,
    self_test_failed: bool,
    download: Option<Download>,
    next_id: u64,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
}

/// A transfer in progress.
struct Download {
    id: u64,
    kind: ImageKind,
    resume_from: u64,
    /// Set by the first `Started`.
    writer: Option<SlotWriter>,
    verifier: StreamVerifier,
    total: u64,
    announced: bool,
    detected: bool,
    head: Vec<u8>,
    last_pct: Option<u8>,
    saved_checkpoint: u32,
}

impl<F: NorFlash> Engine<F> {
    /// Powers the device on: the bootloader finishes what its state asks for
    /// (validating the requested image against the device's trusted keys,
    /// swapping, or reverting an image that did not confirm), then the
    /// application starts (see [`Engine::start`]). A flash failure (a
    /// simulated power cut included) returns an error; calling this again on
    /// the same flash resumes.
    pub fn power_on(
        mut flash: F,
        layout: Layout,
        config: &EngineConfig,
    ) -> Result<(Self, BootReport), EngineError> {
        let boot = Bootloader::new(flash.geometry(), layout)?;
        let keys = {
            let settings = Settings::open(&mut flash, layout.settings)
                .map_err(|e| EngineError::Settings(e.to_string()))?;
            trust::load(&settings)
        };
        let limit = u64::from(layout.primary.size);
        let report = boot.boot(&mut flash, &mut |flash, part| {
            let reader = SlotReader::new(flash, *part, limit);
            atfota_image::verify_reader(reader, limit, &keys).map(|v| v.total_len).map_err(|e| e.to_string())
        })?;
        match report.recovery {
            Some(atfota_boot::Recovery::NothingValid) => {
                log::error!("boot: no valid image in either slot; the application version is unknown")
            }
            Some(r) => log::warn!("boot: the primary slot was invalid; recovered ({r:?})"),
            None => {}
        }
        match &report.action {
            BootAction::None => log::info!("boot: primary slot as it was"),
            BootAction::Swapped { permanent } => {
                log::info!("boot: new image installed (permanent: {permanent})")
            }
            BootAction::Reverted => log::warn!("boot: previous image restored"),
            BootAction::Rejected { reason } => log::error!("boot: requested image rejected: {reason}"),
            other => log::info!("boot: {other:?}"),
        }
        let engine = Self::start(flash, layout, &report, config)?;
        Ok((engine, report))
    }

    /// Starts the application's FOTA service after the bootloader handed
    /// over: runs the self-test of a new image (confirming it when it passes)
    /// and queues the result of a pending upgrade.
    pub fn start(
        mut flash: F,
        layout: Layout,
        report: &BootReport,
        config: &EngineConfig,
    ) -> Result<Self, EngineError> {
        let geometry = flash.geometry();
        let boot = Bootloader::new(geometry, layout)?;
        let settings =
            Settings::open(&mut flash, layout.settings).map_err(|e| EngineError::Settings(e.to_string()))?;
        let keys = trust::load(&settings);
        let mut engine = Self {
            flash,
            geometry,
            layout,
            boot,
            settings,
            keys,
            app_version: None,
            self_test_failed: false,
            download: None,
            next_id: 1,
            events: VecDeque::new(),
            actions: VecDeque::new(),
        };
        engine.app_version =
            if report.primary_valid { slot::version(&mut engine.flash, &layout.primary) } else { None };
        engine.self_test(report, config)?;
        engine.queue_result(report)?;
        Ok(engine)
    }

    /// Version of the running application (from the primary slot's header).
    pub fn app_version(&self) -> Option<ImageVersion> {
        self.app_version
    }

    /// True when a new image failed its self-test: the device must reboot
    /// (as a watchdog would) so the bootloader reverts it.
    pub fn self_test_failed(&self) -> bool {
        self.self_test_failed
    }

    /// Whether a download is running.
    pub fn is_downloading(&self) -> bool {
        self.download.is_some()
    }

    /// The settings store, for profile-level settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stores a profile-level setting durably.
    pub fn set_setting(&mut self, key: &str, value: &[u8]) -> Result<(), CommandError> {
        self.settings.set(&mut self.flash, key, value).map_err(|e| CommandError::Storage(e.to_string()))
    }

    /// The settings store and the flash under it, for a profile-level store that writes
    /// several keys in one atomic batch (the `%CMNG` credential store).
    pub fn settings_mut(&mut self) -> (&mut Settings, &mut F) {
        (&mut self.settings, &mut self.flash)
    }

    /// Reports a download that could not even start (the modem is offline) as failed, without
    /// touching a running download or its stored bytes.
    pub fn report_failure(&mut self, failure: Failure) {
        log::warn!("download not started: {failure}");
        self.events.push_back(Event::DownloadFailed(failure));
    }

    /// Starts (or resumes, for the same identity) a download.
    pub fn start_download(&mut self, req: DownloadRequest) -> Result<(), CommandError> {
        if req.kind != ImageKind::McubootApp {
            return Err(CommandError::Unsupported(req.kind));
        }
        if self.download.is_some() {
            return Err(CommandError::Busy);
        }
        let st = self.boot.state(&mut self.flash).map_err(storage)?;
        if matches!(st, SwapState::Requested { .. }) {
            return Err(CommandError::PendingActivation);
        }
        if st.protects_secondary() {
            return Err(CommandError::Protected(st));
        }
        let resume = self.resume_point(&req.identity);
        // The secondary slot is about to be rewritten: a finished swap's old
        // image there is no longer wanted.
        self.boot.cancel_request(&mut self.flash).map_err(storage)?;
        if resume.is_none() {
            let id = req.identity.as_bytes();
            self.apply(&[
                (KEY_DL_ID, Some(id)),
                (KEY_DL_OFFSET, Some(&0u64.to_le_bytes())),
                (KEY_DL_TOTAL, None),
                (KEY_DL_VALIDATOR, None),
            ])
            .map_err(CommandError::Storage)?;
        }
        let id = self.next_id;
        self.next_id += 1;
        let resume_from = resume.as_ref().map_or(0, |r| r.offset);
        log::info!("download {id} starts at byte {resume_from}");
        self.download = Some(Download {
            id,
            kind: req.kind,
            resume_from,
            writer: None,
            verifier: StreamVerifier::new(u64::from(self.layout.primary.size)),
            total: 0,
            announced: false,
            detected: false,
            head: Vec::new(),
            last_pct: None,
            saved_checkpoint: resume_from as u32,
        });
        self.actions.push_back(Action::Start { id, source: req.source, resume });
        Ok(())
    }

    /// Cancels the running download, keeping its bytes for a resume.
    pub fn cancel(&mut self) -> Result<(), CommandError> {
        let Some(dl) = self.download.take() else {
            return Err(CommandError::NothingToCancel);
        };
        self.actions.push_back(Action::Abort { id: dl.id });
        self.save_checkpoint(&dl);
        self.events.push_back(Event::Cancelled);
        Ok(())
    }

    /// Erases the secondary slot (discarding an image that waits for
    /// activation). Refused during a download, a swap, or a pending revert.
    pub fn erase_secondary(&mut self) -> Result<(), CommandError> {
        if self.download.is_some() {
            return Err(CommandError::Busy);
        }
        let st = self.boot.state(&mut self.flash).map_err(storage)?;
        if st.protects_secondary() {
            return Err(CommandError::Protected(st));
        }
        // Forget the waiting image first: a cut after this leaves nothing to install or report.
        self.boot.cancel_request(&mut self.flash).map_err(storage)?;
        self.apply(&[
            (KEY_PENDING, None),
            (KEY_DL_ID, None),
            (KEY_DL_OFFSET, None),
            (KEY_DL_TOTAL, None),
            (KEY_DL_VALIDATOR, None),
        ])
        .map_err(CommandError::Storage)?;
        self.layout.secondary.erase_all(&mut self.flash).map_err(|e| CommandError::Storage(e.to_string()))
    }

    /// The server answered transfer `id`: bytes follow from `info.offset`.
    pub fn handle_started(&mut self, id: u64, info: StartInfo) {
        let Some(mut dl) = self.take_download(id) else { return };
        match self.on_started(&mut dl, &info) {
            Ok(()) => self.download = Some(dl),
            Err(f) => self.fail(dl, f),
        }
    }

    /// Bytes of transfer `id`, in order.
    pub fn handle_data(&mut self, id: u64, data: &[u8]) {
        let Some(mut dl) = self.take_download(id) else { return };
        match self.on_data(&mut dl, data) {
            Ok(()) => self.download = Some(dl),
            Err(f) => self.fail(dl, f),
        }
    }

    /// Transfer `id` ended.
    pub fn handle_finished(&mut self, id: u64, result: Result<Outcome, DownloadError>) {
        let Some(dl) = self.take_download(id) else { return };
        match result {
            Ok(Outcome::Complete) => self.on_complete(dl),
            Ok(_) => {
                // Cancelled without us asking: the shell gave up on it.
                self.fail(dl, Failure::new(FailKind::Network, "transfer stopped"))
            }
            Err(e) => self.fail(dl, download_failure(&e)),
        }
    }

    /// Ends the running download because of something outside it (an
    /// emulated incoming call). Returns whether a download was running.
    pub fn interrupt(&mut self, failure: Failure) -> bool {
        match self.download.take() {
            Some(dl) => {
                self.fail(dl, failure);
                true
            }
            None => false,
        }
    }

    /// Stops what is running before a reset: a download keeps its bytes.
    pub fn shutdown(&mut self) {
        if let Some(dl) = self.download.take() {
            self.actions.push_back(Action::Abort { id: dl.id });
            self.save_checkpoint(&dl);
        }
    }

    /// Next event for the host, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The host has been sent the upgrade result (its URC is written out):
    /// it will not be reported again. Until this is called, a power cut
    /// makes the next boot report it again (at least once, never lost).
    pub fn result_reported(&mut self) {
        if self.settings.get(KEY_PENDING).is_some()
            && let Err(e) = self.settings.remove(&mut self.flash, KEY_PENDING)
        {
            log::error!("could not mark the upgrade result as reported: {e}");
        }
    }

    /// Next action for the IO shell.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Gives the flash back (for a reboot).
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Mutable access to the flash (tests and the device's diagnostics).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    fn self_test(&mut self, report: &BootReport, config: &EngineConfig) -> Result<(), EngineError> {
        if !matches!(report.state, SwapState::Testing { .. }) {
            return Ok(());
        }
        let len = u64::from(self.layout.primary.size);
        let reader = SlotReader::new(&mut self.flash, self.layout.primary, len);
        let verdict = atfota_image::verify_reader(reader, len, &self.keys);
        match verdict {
            Ok(_) if !config.fail_self_test => {
                self.boot.confirm(&mut self.flash)?;
                log::info!("new image {} passed its self-test and is confirmed", self.version_text());
            }
            Ok(_) => {
                log::warn!("new image fails its self-test (--fail-self-test): not confirming");
                self.self_test_failed = true;
            }
            Err(e) => {
                log::error!("new image fails its self-test: {e}");
                self.self_test_failed = true;
            }
        }
        Ok(())
    }

    fn queue_result(&mut self, report: &BootReport) -> Result<(), EngineError> {
        if self.settings.get(KEY_PENDING).is_none() || self.self_test_failed {
            return Ok(());
        }
        let scheduled = self.settings.get(KEY_PENDING) == Some(PENDING_SCHEDULED);
        let result = match self.boot.state(&mut self.flash)? {
            SwapState::Confirmed { .. } => UpgradeResult::Complete,
            SwapState::Reverted { .. } => UpgradeResult::Reverted,
            SwapState::Rejected => {
                let detail = match &report.action {
                    BootAction::Rejected { reason } => reason.clone(),
                    _ => "the bootloader rejected the image".to_string(),
                };
                UpgradeResult::Failed(Failure::new(FailKind::Install, detail))
            }
            SwapState::Idle if scheduled => {
                log::error!("an upgrade was scheduled but the boot state is gone: it was not installed");
                UpgradeResult::Failed(Failure::new(FailKind::Install, "the boot state was lost"))
            }
            SwapState::Idle => {
                log::warn!("an upgrade was being scheduled when power was lost; nothing to report");
                self.settings
                    .remove(&mut self.flash, KEY_PENDING)
                    .map_err(|e| EngineError::Settings(e.to_string()))?;
                return Ok(());
            }
            other => {
                log::warn!("upgrade result not known yet ({other:?})");
                return Ok(());
            }
        };
        self.events.push_back(Event::Result(result));
        Ok(())
    }

    fn resume_point(&self, identity: &str) -> Option<Resume> {
        if self.settings.get_str(KEY_DL_ID) != Some(identity) {
            return None;
        }
        let offset = self.settings.get_u64(KEY_DL_OFFSET)?;
        let aligned = offset % u64::from(self.geometry.sector_size) == 0;
        if offset == 0 || !aligned || offset > u64::from(self.layout.primary.size) {
            return None;
        }
        let validator = self.settings.get_str(KEY_DL_VALIDATOR).map(str::to_owned);
        Some(Resume { offset, validator })
    }

    fn take_download(&mut self, id: u64) -> Option<Download> {
        match self.download.take() {
            Some(dl) if dl.id == id => Some(dl),
            other => {
                self.download = other;
                None
            }
        }
    }

    fn on_started(&mut self, dl: &mut Download, info: &StartInfo) -> Result<(), Failure> {
        let limit = u64::from(self.layout.primary.size);
        if info.total > limit {
            return Err(Failure::new(
                FailKind::Invalid,
                format!("image of {} bytes does not fit the {limit}-byte slot", info.total),
            ));
        }
        if dl.total != 0 && dl.total != info.total {
            return Err(Failure::new(
                FailKind::Server,
                format!("file size changed from {} to {} bytes during the transfer", dl.total, info.total),
            ));
        }
        let current = dl.writer.as_ref().map(SlotWriter::position);
        if info.offset == 0 && current != Some(0) {
            self.restart(dl)?;
        } else if current.is_none() && info.offset == dl.resume_from {
            self.resume(dl)?;
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
        if dl.total == 0 {
            dl.total = info.total;
            let validator = info.validator.as_deref().map(str::as_bytes);
            self.apply(&[(KEY_DL_TOTAL, Some(&info.total.to_le_bytes())), (KEY_DL_VALIDATOR, validator)])
                .map_err(|e| Failure::new(FailKind::Storage, e))?;
        }
        if !dl.announced {
            dl.announced = true;
            self.events.push_back(Event::DownloadStarted { offset: info.offset, total: info.total });
        }
        Ok(())
    }

    /// Starts writing from byte 0 (fresh start, or a server that ignored the Range).
    fn restart(&mut self, dl: &mut Download) -> Result<(), Failure> {
        let sector = self.geometry.sector_size;
        dl.writer = Some(SlotWriter::new(self.layout.secondary, sector, self.geometry.write_size, 0));
        dl.verifier = StreamVerifier::new(u64::from(self.layout.primary.size));
        dl.detected = false;
        dl.head.clear();
        dl.last_pct = None;
        dl.saved_checkpoint = 0;
        self.apply(&[(KEY_DL_OFFSET, Some(&0u64.to_le_bytes()))])
            .map_err(|e| Failure::new(FailKind::Storage, e))
    }

    /// Continues after the bytes already on flash: re-hashes them first.
    fn resume(&mut self, dl: &mut Download) -> Result<(), Failure> {
        let from = dl.resume_from as u32;
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u32;
        while off < from {
            let n = (from - off).min(buf.len() as u32);
            let chunk = &mut buf[..n as usize];
            self.layout.secondary.read(&mut self.flash, off, chunk).map_err(flash_failure)?;
            self.check_type(dl, chunk)?;
            dl.verifier.update(chunk).map_err(|e| image_failure(&e))?;
            off += n;
        }
        let sector = self.geometry.sector_size;
        dl.writer = Some(SlotWriter::new(self.layout.secondary, sector, self.geometry.write_size, from));
        Ok(())
    }

    fn on_data(&mut self, dl: &mut Download, data: &[u8]) -> Result<(), Failure> {
        let Some(pos) = dl.writer.as_ref().map(SlotWriter::position) else {
            return Err(Failure::new(FailKind::Server, "server sent data before a response"));
        };
        if pos + data.len() as u64 > dl.total {
            return Err(Failure::new(FailKind::Server, "server sent more bytes than announced"));
        }
        self.check_type(dl, data)?;
        dl.verifier.update(data).map_err(|e| image_failure(&e))?;
        let writer = dl.writer.as_mut().ok_or_else(|| Failure::new(FailKind::Server, "no response"))?;
        writer.write(&mut self.flash, data).map_err(flash_failure)?;
        let pos = writer.position();
        let checkpoint = writer.checkpoint();
        let pct = (pos * 100 / dl.total.max(1)) as u8;
        if dl.last_pct != Some(pct) {
            dl.last_pct = Some(pct);
            self.events.push_back(Event::Progress(pct));
        }
        let interval = (dl.total / CHECKPOINTS_PER_FILE).clamp(
            u64::from(self.geometry.sector_size),
            CHECKPOINT_MAX_INTERVAL.max(u64::from(self.geometry.sector_size)),
        );
        if u64::from(checkpoint) >= u64::from(dl.saved_checkpoint) + interval {
            self.apply(&[(KEY_DL_OFFSET, Some(&u64::from(checkpoint).to_le_bytes()))])
                .map_err(|e| Failure::new(FailKind::Storage, e))?;
            dl.saved_checkpoint = checkpoint;
        }
        Ok(())
    }

    /// Detects the image type from the first bytes and refuses the wrong one.
    fn check_type(&self, dl: &mut Download, data: &[u8]) -> Result<(), Failure> {
        if dl.detected {
            return Ok(());
        }
        let need = atfota_image::DETECT_LEN - dl.head.len();
        dl.head.extend_from_slice(&data[..need.min(data.len())]);
        self.judge_type(dl, false)
    }

    fn judge_type(&self, dl: &mut Download, at_end: bool) -> Result<(), Failure> {
        match ImageKind::detect(&dl.head) {
            Detection::Kind(k) if k == dl.kind => {
                dl.detected = true;
                Ok(())
            }
            Detection::Kind(k) => Err(Failure::new(
                FailKind::Mismatch,
                format!("the file is a {k:?} image but {:?} was asked for", dl.kind),
            )),
            Detection::NeedMore if !at_end => Ok(()),
            _ => Err(Failure::new(FailKind::Invalid, "the file is not a known image type")),
        }
    }

    fn on_complete(&mut self, mut dl: Download) {
        if let Err(f) = self.finish(&mut dl) {
            self.fail(dl, f);
            return;
        }
        log::info!("download {} complete, verified and scheduled", dl.id);
        self.events.push_back(Event::Downloaded);
    }

    fn finish(&mut self, dl: &mut Download) -> Result<(), Failure> {
        let writer = dl.writer.as_mut().ok_or_else(|| Failure::new(FailKind::Server, "no response"))?;
        // Before the flush, which pads the last write unit with erased bytes.
        let got = writer.position();
        writer.flush(&mut self.flash).map_err(flash_failure)?;
        if got != dl.total {
            return Err(Failure::new(
                FailKind::Server,
                format!("transfer ended after {got} of {} bytes", dl.total),
            ));
        }
        self.events.push_back(Event::TransferComplete);
        self.judge_type(dl, true)?;
        let verifier =
            std::mem::replace(&mut dl.verifier, StreamVerifier::new(u64::from(self.layout.primary.size)));
        let verified = verifier.finish(&self.keys).map_err(|e| image_failure(&e))?;
        let old_len = slot::image_len(&mut self.flash, &self.layout.primary);
        let pages = self.boot.pages_for(verified.total_len, old_len);
        // Pending first: a cut before the request leaves "pending, nothing
        // requested", which the next boot clears without a false report.
        self.apply(&[
            (KEY_PENDING, Some(PENDING_SCHEDULING)),
            (KEY_DL_ID, None),
            (KEY_DL_OFFSET, None),
            (KEY_DL_TOTAL, None),
            (KEY_DL_VALIDATOR, None),
        ])
        .map_err(|e| Failure::new(FailKind::Storage, e))?;
        self.boot
            .request_upgrade(&mut self.flash, pages, false)
            .map_err(|e| Failure::new(FailKind::Storage, e.to_string()))?;
        self.apply(&[(KEY_PENDING, Some(PENDING_SCHEDULED))])
            .map_err(|e| Failure::new(FailKind::Storage, e))?;
        log::info!(
            "image {} ({} bytes) verified with key #{}; swap of {pages} pages requested",
            verified.header.version,
            verified.total_len,
            verified.key_index
        );
        Ok(())
    }

    /// Ends a download with a failure: keeps resumable bytes for transfer
    /// failures, forgets them for bad images.
    fn fail(&mut self, dl: Download, failure: Failure) {
        log::warn!("download {} failed: {failure}", dl.id);
        self.actions.push_back(Action::Abort { id: dl.id });
        if failure.kind.keeps_bytes() {
            self.save_checkpoint(&dl);
        } else if let Err(e) = self.apply(&[
            (KEY_DL_ID, None),
            (KEY_DL_OFFSET, None),
            (KEY_DL_TOTAL, None),
            (KEY_DL_VALIDATOR, None),
        ]) {
            log::error!("could not forget the rejected download: {e}");
        }
        self.events.push_back(Event::DownloadFailed(failure));
    }

    fn save_checkpoint(&mut self, dl: &Download) {
        let Some(cp) = dl.writer.as_ref().map(SlotWriter::checkpoint) else { return };
        if cp == dl.saved_checkpoint {
            return;
        }
        if let Err(e) = self.apply(&[(KEY_DL_OFFSET, Some(&u64::from(cp).to_le_bytes()))]) {
            log::error!("could not save the resume point: {e}");
        }
    }

    fn apply(&mut self, changes: &[(&str, Option<&[u8]>)]) -> Result<(), String> {
        self.settings.apply(&mut self.flash, changes).map_err(|e| e.to_string())
    }

    fn version_text(&self) -> String {
        self.app_version.map_or_else(|| "(unknown)".to_string(), |v| v.to_string())
    }
}

fn storage(e: BootError) -> CommandError {
    CommandError::Storage(e.to_string())
}

fn flash_failure(e: FlashError) -> Failure {
    Failure::new(FailKind::Storage, format!("flash: {e}"))
}

/// Classifies a transfer failure for the profiles' error codes.
fn download_failure(e: &DownloadError) -> Failure {
    let kind = match e {
        DownloadError::Status(404 | 410) | DownloadError::FileNotFound(_) => FailKind::NotFound,
        DownloadError::Status(401 | 403) | DownloadError::LoginRefused => FailKind::LoginRefused,
        e if e.is_transient() => FailKind::Network,
        _ => FailKind::Server,
    };
    Failure::new(kind, e.to_string())
}

/// Classifies an image that failed verification.
fn image_failure(e: &atfota_image::ImageError) -> Failure {
    use atfota_image::ImageError as E;
    let kind = match e {
        E::HashMismatch { .. } | E::Unsigned | E::UntrustedKey { .. } | E::BadSignature { .. } => {
            FailKind::Untrusted
        }
        _ => FailKind::Invalid,
    };
    Failure::new(kind, e.to_string())
}
