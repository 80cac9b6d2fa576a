//! The boot lifecycle of the engine: power on (the bootloader finishes
//! what its state asks for), the application's start (self-test of a new
//! image), and the result of a pending update, queued once per boot.
//!
//! Owns the order of those steps; it never streams a download and never
//! decides what a result means for a target (the targets do).

use std::collections::VecDeque;

use atfota_boot::{BootAction, BootReport, Bootloader, ModemUpdater};
use atfota_storage::{Layout, NorFlash, Settings};

use super::record::{self, Pending};
use super::{Engine, EngineConfig, EngineError};
use crate::event::Event;
use crate::slot::{self, SlotReader};
use crate::target::{AppTarget, ModemTarget, rollback};
use crate::trust;

/// Settings key the factory writes into every device's settings store; a
/// store without it (nor the `modem.version` devices made before it carry)
/// has been lost — erased or overwritten — with the trusted keys in it.
pub const KEY_PROVISIONED: &str = "device.provisioned";

/// Whether a settings store is the device's own (see [`KEY_PROVISIONED`]).
fn provisioned(settings: &Settings) -> bool {
    settings.get(KEY_PROVISIONED).is_some() || settings.get(crate::profile::KEY_MODEM_VERSION).is_some()
}

impl<F: NorFlash> Engine<F> {
    /// Powers the device on: the bootloader finishes what its state asks for
    /// (validating the requested image against the device's trusted keys,
    /// swapping, or reverting an image that did not confirm), then the
    /// application starts (see [`Engine::start`]). A flash failure (a
    /// simulated power cut included) returns an error; calling this again on
    /// the same flash resumes.
    pub fn power_on(
        flash: F,
        layout: Layout,
        config: &EngineConfig,
    ) -> Result<(Self, BootReport), EngineError> {
        Self::try_power_on(flash, layout, config).map_err(|(e, _)| e)
    }

    /// Like [`Engine::power_on`], but a failure gives the flash back: the
    /// device can try again, as a watchdog reset would (a flash operation that
    /// failed once, or a power cut, leaves nothing that the next boot does not
    /// finish).
    pub fn try_power_on(
        mut flash: F,
        layout: Layout,
        config: &EngineConfig,
    ) -> Result<(Self, BootReport), (EngineError, F)> {
        let report = match Self::boot_stage(&mut flash, layout) {
            Ok(report) => report,
            Err(e) => return Err((e, flash)),
        };
        let engine = Self::try_start(flash, layout, &report, config)?;
        Ok((engine, report))
    }

    /// What the bootloader does before the application runs.
    fn boot_stage(flash: &mut F, layout: Layout) -> Result<BootReport, EngineError> {
        let boot = Bootloader::new(flash.geometry(), layout)?;
        let settings =
            Settings::open(flash, layout.settings).map_err(|e| EngineError::Settings(e.to_string()))?;
        let lost = !provisioned(&settings);
        let (keys, floor) = (trust::load(&settings), rollback::floor(&settings));
        if lost {
            log::error!(
                "the settings store is empty or unreadable: the trusted keys, security counter floor and \
                 pending results in it are gone. Nothing is installed at this boot (a waiting image is \
                 refused); the running image boots"
            );
        }
        let limit = u64::from(layout.primary.size);
        let report = boot.boot(flash, &mut |flash, part| {
            if lost {
                return intact_primary(flash, part, &layout, limit);
            }
            let reader = SlotReader::new(flash, *part, limit);
            let v = atfota_image::verify_reader(reader, limit, &keys).map_err(|e| e.to_string())?;
            // The floor guards what is about to be installed; the running image set it.
            let installing = *part != layout.primary;
            match rollback::counter_refusal(v.security_counter, floor).filter(|_| installing) {
                Some(why) => Err(why),
                None => Ok(v.total_len),
            }
        })?;
        log_boot(&report);
        if let Some(parts) = layout.modem {
            let modem = ModemTarget::new(ModemUpdater::new(flash.geometry(), parts)?);
            if lost {
                modem.refuse_request(flash)?;
            } else {
                modem.boot(flash, &keys)?;
            }
        }
        if lost {
            // The waiting updates are refused: from now on the store serves again.
            let mut settings =
                Settings::open(flash, layout.settings).map_err(|e| EngineError::Settings(e.to_string()))?;
            settings.set(flash, KEY_PROVISIONED, b"1").map_err(|e| EngineError::Settings(e.to_string()))?;
        }
        Ok(report)
    }

    /// Starts the application's FOTA service after the bootloader handed
    /// over: runs the self-test of a new image (confirming it when it passes)
    /// and queues the result of a pending upgrade.
    pub fn start(
        flash: F,
        layout: Layout,
        report: &BootReport,
        config: &EngineConfig,
    ) -> Result<Self, EngineError> {
        Self::try_start(flash, layout, report, config).map_err(|(e, _)| e)
    }

    /// [`Engine::start`], giving the flash back when it fails.
    fn try_start(
        mut flash: F,
        layout: Layout,
        report: &BootReport,
        config: &EngineConfig,
    ) -> Result<Self, (EngineError, F)> {
        let geometry = flash.geometry();
        let parts = (|| {
            let app = AppTarget::new(Bootloader::new(geometry, layout)?);
            let modem = match layout.modem {
                Some(parts) => Some(ModemTarget::new(ModemUpdater::new(geometry, parts)?)),
                None => None,
            };
            let settings = Settings::open(&mut flash, layout.settings)
                .map_err(|e| EngineError::Settings(e.to_string()))?;
            Ok::<_, EngineError>((app, modem, settings))
        })();
        let (app, modem, settings) = match parts {
            Ok(parts) => parts,
            Err(e) => return Err((e, flash)),
        };
        let keys = trust::load(&settings);
        let mut engine = Self {
            flash,
            geometry,
            app,
            modem,
            config: *config,
            settings,
            keys,
            app_version: None,
            self_test_failed: false,
            session: None,
            next_id: 1,
            events: VecDeque::new(),
            actions: VecDeque::new(),
        };
        match engine.start_application(layout, report, config) {
            Ok(()) => Ok(engine),
            Err(e) => Err((e, engine.into_flash())),
        }
    }

    /// The application's start: self-test (and confirm), floor, result.
    fn start_application(
        &mut self,
        layout: Layout,
        report: &BootReport,
        config: &EngineConfig,
    ) -> Result<(), EngineError> {
        self.app_version =
            if report.primary_valid { slot::version(&mut self.flash, &layout.primary) } else { None };
        match self.app.self_test(&mut self.flash, &self.keys, config.fail_self_test)? {
            Some(true) => {
                log::info!("new image {} passed its self-test and is confirmed", self.version_text());
                self.flash.sync().map_err(|e| EngineError::Boot(e.into()))?;
            }
            Some(false) => self.self_test_failed = true,
            None => {}
        }
        self.raise_floor(report)?;
        self.queue_result(report)
    }

    /// A confirmed image's security counter becomes the device's floor. Done
    /// at every boot that runs a confirmed (or never swapped) image, so a cut
    /// between the confirm and this write is made good by the next boot.
    fn raise_floor(&mut self, report: &BootReport) -> Result<(), EngineError> {
        // An image on trial that passed its self-test has just been confirmed.
        if !report.primary_valid || self.self_test_failed {
            return Ok(());
        }
        let Some(counter) = self.app.running_counter(&mut self.flash, &self.keys) else { return Ok(()) };
        rollback::raise(&mut self.settings, &mut self.flash, counter).map_err(EngineError::Settings)
    }

    /// Queues the result of the update `fota.pending` names, once known.
    fn queue_result(&mut self, report: &BootReport) -> Result<(), EngineError> {
        let Some(pending) = record::pending(&self.settings) else { return Ok(()) };
        if self.self_test_failed {
            return Ok(());
        }
        let result = match pending {
            Pending::AppScheduling | Pending::AppScheduled => {
                self.app.result(&mut self.flash, &mut self.settings, pending, report)
            }
            Pending::Modem { since } => match self.modem {
                Some(m) => m.result(&mut self.flash, &mut self.settings, since),
                None => forget(self, "a modem update result is pending on a device without modem partitions"),
            },
            Pending::Unknown => forget(self, "an update result of an unknown kind is pending"),
        }
        .map_err(EngineError::Settings)?;
        if let Some(result) = result {
            self.events.push_back(Event::Result(result));
        }
        Ok(())
    }

    fn version_text(&self) -> String {
        self.app_version.map_or_else(|| "(unknown)".to_string(), |v| v.to_string())
    }
}

/// The validator while the settings are lost: only the primary slot, and
/// only for integrity (its hash; its signer cannot be checked without the
/// trusted keys) — nothing else is ever installed.
fn intact_primary<F: NorFlash>(
    flash: &mut F,
    part: &atfota_storage::Partition,
    layout: &Layout,
    limit: u64,
) -> Result<u64, String> {
    use atfota_image::ImageError;
    if *part != layout.primary {
        return Err("the settings store is lost: nothing is installed".into());
    }
    match atfota_image::verify_reader(SlotReader::new(flash, *part, limit), limit, &[]) {
        Ok(v) => Ok(v.total_len),
        Err(ImageError::UntrustedKey { .. } | ImageError::Unsigned) => {
            slot::image_len(flash, part).ok_or_else(|| "the primary image's length is unreadable".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn forget<F: NorFlash>(engine: &mut Engine<F>, why: &str) -> Result<Option<crate::UpgradeResult>, String> {
    log::warn!("{why}; forgetting it");
    record::reported(&mut engine.settings, &mut engine.flash).map(|()| None)
}

fn log_boot(report: &BootReport) {
    match report.recovery {
        Some(atfota_boot::Recovery::NothingValid) => {
            log::error!("boot: no valid image in either slot; the application version is unknown")
        }
        Some(r) => log::warn!("boot: the primary slot was invalid; recovered ({r:?})"),
        None => {}
    }
    match &report.action {
        BootAction::None => log::info!("boot: primary slot as it was"),
        BootAction::Swapped { permanent } => log::info!("boot: new image installed (permanent: {permanent})"),
        BootAction::Reverted => log::warn!("boot: previous image restored"),
        BootAction::Rejected { reason } => log::error!("boot: requested image rejected: {reason}"),
        other => log::info!("boot: {other:?}"),
    }
}
