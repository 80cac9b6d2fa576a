//! The FOTA engine: one state machine for every profile and every update
//! target.
//!
//! Owns the life of an update on the device side — start, resume, cancel,
//! type detection, progress, verification, scheduling, and the result after
//! reboot. It is sans-IO in the manner of quinn-proto: the host's commands
//! and the downloader's output come in as method calls, and what the engine
//! wants done (start or abort a transfer) and what it has to say (events)
//! are polled. It never touches a socket or a clock; flash is a parameter.
//!
//! The concerns live in their own modules: [`lifecycle`] (power on, the
//! bootloader's hand-over, self-test, the result after boot), [`session`]
//! (one running download), [`schedule`] (a finished download handed to its
//! target's installer, or a failure), and [`record`] (the settings keys that
//! make all of it survive power cycles). What differs between the
//! application and other targets lives in `crate::target`.

mod lifecycle;
pub use lifecycle::KEY_PROVISIONED;
pub(crate) mod record;
mod schedule;
mod session;

use std::collections::VecDeque;

use atfota_boot::SwapState;
use atfota_download::{Outcome, Resume, Source, StartInfo, TransferError};
use atfota_image::{ImageKind, ImageVersion, TrustedKey};
use atfota_storage::{Geometry, NorFlash, Settings};

use crate::credentials;
use crate::event::{Event, Failure};
use crate::target::{AppTarget, ModemTarget, TargetKind};

use self::session::Session;

/// How the emulated application behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineConfig {
    /// A newly swapped-in image fails its self-test (and so is never confirmed).
    pub fail_self_test: bool,
    /// Emulated time erasing the modem's scratch area takes (`#XFOTA: 2,0`
    /// to `3,0`, and `AT#XFOTA=9`).
    pub modem_erase_time: std::time::Duration,
    /// Images older than the running one may be installed (`--allow-downgrade`).
    pub allow_downgrade: bool,
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
    /// The credential set an `https` download trusts and presents (`AT%CMNG`).
    pub sec_tag: Option<u32>,
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
    /// Call `handle_timer(id)` once `after` has passed (emulated time a
    /// device operation takes, such as erasing the modem's scratch area).
    Timer {
        /// Tag for the `handle_timer` call.
        id: u64,
        /// How long from now.
        after: std::time::Duration,
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
    /// The device has no modem firmware partitions.
    #[error(
        "this device was created without modem firmware partitions (by an atfota older than modem \
         delta updates); create a new device (a new, empty --data directory) to update its modem"
    )]
    NoModemFirmware,
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
    Boot(#[from] atfota_boot::BootError),
    /// The settings store could not be read.
    #[error("settings store unreadable: {0}")]
    Settings(String),
}

/// The FOTA engine of one device.
pub struct Engine<F: NorFlash> {
    flash: F,
    geometry: Geometry,
    app: AppTarget,
    modem: Option<ModemTarget>,
    config: EngineConfig,
    settings: Settings,
    keys: Vec<TrustedKey>,
    app_version: Option<ImageVersion>,
    self_test_failed: bool,
    session: Option<Session>,
    next_id: u64,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
}

impl<F: NorFlash> Engine<F> {
    /// Version of the running application (from the primary slot's header).
    pub fn app_version(&self) -> Option<ImageVersion> {
        self.app_version
    }

    /// True when a new image failed its self-test: the device must reboot
    /// (as a watchdog would) so the bootloader reverts it.
    pub fn self_test_failed(&self) -> bool {
        self.self_test_failed
    }

    /// How the engine was configured.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Whether a download is running.
    pub fn is_downloading(&self) -> bool {
        self.session.is_some()
    }

    /// The settings store, for profile-level settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
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

    /// Stores a profile-level setting durably.
    pub fn set_setting(&mut self, key: &str, value: &[u8]) -> Result<(), CommandError> {
        self.settings.set(&mut self.flash, key, value).map_err(|e| CommandError::Storage(e.to_string()))
    }

    /// The running modem firmware's version, on devices with modem partitions.
    pub fn modem_version(&mut self) -> Option<String> {
        let modem = self.modem?;
        modem.running(&mut self.flash).map(|st| st.active.version)
    }

    /// The running modem firmware's UUID (from its SHA-256), on devices with modem partitions.
    pub fn modem_uuid(&mut self) -> Option<String> {
        let modem = self.modem?;
        modem.running(&mut self.flash).map(|st| atfota_image::modem_uuid(&st.active.sha256))
    }

    /// Whether the device has modem firmware partitions (modem delta updates).
    pub fn has_modem_firmware(&self) -> bool {
        self.modem.is_some()
    }

    /// Starts (or resumes, for the same identity) a download. One update at
    /// a time: refused while any update waits for activation.
    pub fn start_download(&mut self, req: DownloadRequest) -> Result<(), CommandError> {
        let Some(target) = TargetKind::for_image(req.kind) else {
            return Err(CommandError::Unsupported(req.kind));
        };
        if self.session.is_some() {
            return Err(CommandError::Busy);
        }
        self.check_start(target)?;
        let limit = self.limit(target);
        let resume = record::resume_point(&self.settings, &req.identity, self.geometry.sector_size, limit);
        if target == TargetKind::App {
            self.app.prepare(&mut self.flash)?;
        }
        let erase_first = match (target, self.modem) {
            (TargetKind::Modem, Some(m)) => resume.is_none() && m.scratch_dirty(&mut self.flash)?,
            _ => false,
        };
        if resume.is_none() {
            record::begin(&mut self.settings, &mut self.flash, &req.identity)
                .map_err(CommandError::Storage)?;
        }
        let id = self.next_id;
        self.next_id += 1;
        let resume_from = resume.as_ref().map_or(0, |r| r.offset);
        log::info!("download {id} starts at byte {resume_from}");
        let source = self.with_tls(req.source, req.sec_tag);
        let mut session = Session::new(id, req.kind, target, resume_from, self.verifier(target));
        if erase_first {
            log::info!("the modem scratch area holds an earlier package: erasing it first");
            session.waiting = Some((source, resume));
            self.events.push_back(Event::ErasePending);
            self.actions.push_back(Action::Timer { id, after: self.config.modem_erase_time });
        } else {
            self.actions.push_back(Action::Start { id, source, resume });
        }
        self.session = Some(session);
        Ok(())
    }

    /// A timer asked for with [`Action::Timer`] has run out.
    pub fn handle_timer(&mut self, id: u64) {
        let Some(mut session) = self.take_session(id) else { return };
        let Some((source, resume)) = session.waiting.take() else {
            self.session = Some(session);
            return;
        };
        let erased = match self.modem {
            Some(m) => m.erase_scratch(&mut self.flash),
            None => Err(CommandError::NoModemFirmware),
        };
        match erased {
            Ok(()) => {
                self.events.push_back(Event::Erased);
                self.actions.push_back(Action::Start { id, source, resume });
                self.session = Some(session);
            }
            Err(e) => self.fail(session, Failure::new(crate::event::FailKind::Storage, e.to_string())),
        }
    }

    /// Erases the modem's scratch area (`AT#XFOTA=9`), forgetting a partial
    /// download's resume point. Refused during a download and while a modem
    /// update waits for activation.
    pub fn erase_modem_scratch(&mut self) -> Result<(), CommandError> {
        let modem = self.modem.ok_or(CommandError::NoModemFirmware)?;
        if self.session.is_some() {
            return Err(CommandError::Busy);
        }
        modem.check_start(&mut self.flash)?;
        record::forget(&mut self.settings, &mut self.flash).map_err(CommandError::Storage)?;
        modem.erase_scratch(&mut self.flash)
    }

    /// Fills an `https` source with what its sec_tag holds (the one place the
    /// credential store meets TLS). A sec_tag that cannot serve is logged
    /// with its fix and leaves the source without roots: the transfer then
    /// fails to verify the server (`#XFOTA: 1,1,1`) before a byte is stored.
    fn with_tls(&self, source: Source, sec_tag: Option<u32>) -> Source {
        let Source::Http(mut http) = source else { return source };
        if http.url.scheme() != "https" {
            return Source::Http(http);
        }
        let resolved = match sec_tag.map(|t| credentials::SecTag::try_from(i64::from(t))) {
            Some(Ok(tag)) => credentials::tls_credentials(&self.settings, tag),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("an https download needs a sec_tag".to_string()),
        };
        match resolved {
            Ok(tls) => http.tls = tls,
            Err(why) => log::warn!("the https download cannot be verified: {why}"),
        }
        Source::Http(http)
    }

    /// Refuses a download for `target` while any update waits for activation
    /// or the target's area is still needed.
    fn check_start(&mut self, target: TargetKind) -> Result<(), CommandError> {
        match (target, self.modem) {
            (TargetKind::App, modem) => {
                self.app.check_start(&mut self.flash)?;
                if let Some(m) = modem {
                    m.check_start(&mut self.flash)?;
                }
                Ok(())
            }
            (TargetKind::Modem, None) => Err(CommandError::NoModemFirmware),
            (TargetKind::Modem, Some(m)) => {
                m.check_start(&mut self.flash)?;
                self.app.check_pending(&mut self.flash)
            }
        }
    }

    /// Cancels the running download, keeping its bytes for a resume.
    pub fn cancel(&mut self) -> Result<(), CommandError> {
        let Some(session) = self.session.take() else {
            return Err(CommandError::NothingToCancel);
        };
        self.actions.push_back(Action::Abort { id: session.id });
        self.save_checkpoint(&session);
        self.events.push_back(Event::Cancelled);
        Ok(())
    }

    /// Erases the secondary slot (discarding an image that waits for
    /// activation). Refused during a download, a swap, or a pending revert.
    pub fn erase_secondary(&mut self) -> Result<(), CommandError> {
        if self.session.is_some() {
            return Err(CommandError::Busy);
        }
        self.app.erase(&mut self.flash, &mut self.settings)
    }

    /// The server answered transfer `id`: bytes follow from `info.offset`.
    pub fn handle_started(&mut self, id: u64, info: StartInfo) {
        let Some(mut session) = self.take_session(id) else { return };
        match self.on_started(&mut session, &info) {
            Ok(()) => self.session = Some(session),
            Err(f) => self.fail(session, f),
        }
    }

    /// Bytes of transfer `id`, in order.
    pub fn handle_data(&mut self, id: u64, data: &[u8]) {
        let Some(mut session) = self.take_session(id) else { return };
        match self.on_data(&mut session, data) {
            Ok(()) => self.session = Some(session),
            Err(f) => self.fail(session, f),
        }
    }

    /// Transfer `id` ended.
    pub fn handle_finished(&mut self, id: u64, result: Result<Outcome, TransferError>) {
        let Some(session) = self.take_session(id) else { return };
        match result {
            Ok(Outcome::Complete) => self.on_complete(session),
            Ok(_) => {
                // Cancelled without us asking: the shell gave up on it.
                self.fail(session, Failure::new(crate::event::FailKind::Network, "transfer stopped"))
            }
            Err(e) => self.fail(session, schedule::download_failure(&e)),
        }
    }

    /// Ends the running download because of something outside it (an
    /// emulated incoming call). Returns whether a download was running.
    pub fn interrupt(&mut self, failure: Failure) -> bool {
        match self.session.take() {
            Some(session) => {
                self.fail(session, failure);
                true
            }
            None => false,
        }
    }

    /// Stops what is running before a reset: a download keeps its bytes.
    pub fn shutdown(&mut self) {
        if let Some(session) = self.session.take() {
            self.actions.push_back(Action::Abort { id: session.id });
            self.save_checkpoint(&session);
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
        // What the result describes (a confirm, a bank flip) is durable before it is forgotten.
        if let Err(e) = self.flash.sync() {
            log::error!("could not make the installed update durable: {e}");
            return;
        }
        if let Err(e) = record::reported(&mut self.settings, &mut self.flash) {
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

    /// The running session if it is transfer `id`'s.
    fn take_session(&mut self, id: u64) -> Option<Session> {
        match self.session.take() {
            Some(s) if s.id == id => Some(s),
            other => {
                self.session = other;
                None
            }
        }
    }
}
