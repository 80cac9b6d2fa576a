//! A factory-fresh emulated modem for fuzzing, and a scripted stand-in for its downloader.
//!
//! Owns the devices the `modem_input` target starts from (each profile with 64 KiB slots, a
//! 64 KiB settings store and a 6 KiB factory application on a simulated flash, provisioned once
//! per process and copied for every input) and [`Server`],
//! which answers the modem's transfer requests with bytes from the input instead of the
//! network. It must never open a socket or a file: a transfer is only ever a sequence of
//! `handle_*` calls.

use std::sync::OnceLock;
use std::time::Instant;

use atfota_device::{
    DeviceConfig, LEGACY_SETTINGS_SIZE, Modem, ModemError, ModemImage, Shell, application_image, drive,
    layout_for, modem_firmware_body, provision_with,
};
use atfota_fota::{Conditions, EngineConfig, ProfileKind};
use atfota_image::ImageVersion;
use atfota_net::{DownloadError, Outcome, Resume, Source, StartInfo};
use atfota_storage::{Geometry, Layout, SimFlash};

use crate::input;

/// Application slot size: the smallest a device accepts, so every input boots fast.
pub const SLOT_SIZE: u32 = 0x1_0000;
/// Settings store size: that of devices made before the 256 KiB store (`None` in
/// `device.toml`), which the product still runs. Every boot reads the current bank to its end
/// to check that its tail is erased, over half of each input's time with 128 KiB banks; a
/// 32 KiB bank still holds the credentials' whole quota (24 KiB) beside the engine's records,
/// so a full store is one a real device can have, and it compacts sooner.
pub const SETTINGS_SIZE: u32 = LEGACY_SETTINGS_SIZE;
/// Body size of the factory application: a new device's is 48 KiB, and every boot verifies
/// the running image twice (the bootloader, then the engine reading its security counter),
/// so an input's two boots hashed 192 KiB. 6 KiB still spans two sectors.
pub const FACTORY_APP_LEN: usize = 0x1800;
/// Size of the modem firmware of profiles that have one: at most 51 KiB keeps each of its three
/// partitions at the 64 KiB minimum, so each input's flash copy is 192 KiB smaller.
pub const MODEM_FIRMWARE_LEN: usize = 0xC000;
/// The version of that modem firmware (`AT+CGMR` on profiles that have one).
pub const MODEM_VERSION: &str = "mfw fuzz 1";
/// The profiles fuzzed, in the order a control byte picks them.
pub const PROFILES: [ProfileKind; 2] = [ProfileKind::Nrf9160Slm, ProfileKind::Nl668];
/// The ETag the scripted server gives its one file, so a resume can match it.
const VALIDATOR: &str = "\"fuzz\"";

/// How a fuzzed device is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Which of [`PROFILES`].
    pub profile: ProfileKind,
    /// New images fail their self-test.
    pub fail_self_test: bool,
    /// An incoming call rings at this download percentage (profiles that emulate calls).
    pub incoming_call_at: Option<u8>,
}

impl Setup {
    /// The setup chosen by a control byte (bit 0 self-test, bit 3 profile, bit 4 call) and the
    /// call's percentage.
    pub fn from_bits(flags: u8, call_at: u8) -> Self {
        Setup {
            profile: PROFILES[usize::from(flags >> 3) % PROFILES.len()],
            fail_self_test: flags & 0x01 != 0,
            incoming_call_at: (flags & 0x10 != 0).then_some(call_at % 101),
        }
    }

    /// A factory-fresh device of this profile, powered on.
    pub fn power_on(&self) -> Result<(Modem<SimFlash>, Layout), ModemError> {
        let (flash, layout) = factory_flash(self.profile);
        Ok((self.power_on_flash(flash, layout)?, layout))
    }

    /// Powers a device of this setup on over `flash` (a power cycle when it was running).
    pub fn power_on_flash(&self, flash: SimFlash, layout: Layout) -> Result<Modem<SimFlash>, ModemError> {
        let config = EngineConfig { fail_self_test: self.fail_self_test, ..EngineConfig::default() };
        let conditions = Conditions { incoming_call_at: self.incoming_call_at, ..Conditions::default() };
        Modem::power_on_with(flash, layout, self.profile, config, conditions)
    }
}

/// A provisioned device as it leaves the factory: its flash contents and partition table.
struct Factory {
    geometry: Geometry,
    layout: Layout,
    image: Vec<u8>,
}

static FACTORIES: [OnceLock<Factory>; PROFILES.len()] = [const { OnceLock::new() }; PROFILES.len()];

/// A fresh copy of the flash of a factory device of `profile`, and its partition table.
pub fn factory_flash(profile: ProfileKind) -> (SimFlash, Layout) {
    let index = PROFILES.iter().position(|&p| p == profile).unwrap_or(0);
    let factory = FACTORIES[index].get_or_init(|| provision_factory(PROFILES[index]));
    // The geometry and length are those of a flash that was just built with them.
    let flash = SimFlash::from_image(factory.geometry, factory.image.clone()).expect("factory copy");
    (flash, factory.layout)
}

/// Builds a factory device once per fuzzing process; a failure here is a harness bug, so it
/// panics with the reason rather than reporting every input as a crash of its own.
fn provision_factory(profile: ProfileKind) -> Factory {
    // A small modem firmware keeps every input's flash copy small.
    let modem = profile.has_modem_firmware().then(|| ModemImage {
        bytes: modem_firmware_body(1, MODEM_FIRMWARE_LEN),
        version: MODEM_VERSION.to_owned(),
    });
    let mut config = DeviceConfig::for_new_device(profile, SLOT_SIZE, modem.as_ref())
        .unwrap_or_else(|e| panic!("factory config: {e}"));
    config.settings_size = Some(SETTINGS_SIZE);
    let layout = layout_for(&config).unwrap_or_else(|e| panic!("factory layout: {e}"));
    let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
        .unwrap_or_else(|e| panic!("factory geometry: {e}"));
    let mut flash = SimFlash::new(geometry);
    let modem = modem.unwrap_or_else(|| ModemImage::factory(profile));
    provision_with(&mut flash, &layout, profile, &modem).unwrap_or_else(|e| panic!("provisioning: {e}"));
    // The factory's application, made smaller: same tag, version and key (see FACTORY_APP_LEN).
    let version = ImageVersion { major: 1, minor: 0, revision: 0, build: 0 };
    let mut app =
        application_image(&format!("atfota emulated {profile} application"), version, FACTORY_APP_LEN)
            .unwrap_or_else(|e| panic!("factory application: {e}"));
    app.resize(app.len().next_multiple_of(config.write_size as usize), 0xff);
    layout.primary.erase_all(&mut flash).unwrap_or_else(|e| panic!("erasing the primary slot: {e}"));
    layout.primary.write(&mut flash, 0, &app).unwrap_or_else(|e| panic!("writing the application: {e}"));
    Factory { geometry, layout, image: flash.data().to_vec() }
}

/// How the scripted server ends each transfer it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// Every byte, then success.
    Complete,
    /// Half the bytes, then a dropped connection.
    DropHalfway,
    /// No byte: the host name does not resolve.
    NotFound,
    /// Half the bytes, then the shell reports the transfer cancelled.
    Cancelled,
    /// Half the bytes, then nothing: the transfer is still running when the host goes on.
    Stall,
}

impl Ending {
    /// The ending chosen by two bits of a control byte (never [`Ending::Stall`]).
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Ending::Complete,
            1 => Ending::DropHalfway,
            2 => Ending::NotFound,
            _ => Ending::Cancelled,
        }
    }
}

/// How the scripted server misbehaves, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Quirk {
    /// A well-behaved server.
    None,
    /// Announces the file one byte shorter than it sends.
    ShortTotal,
    /// Sends the first bytes before its response.
    DataFirst,
    /// Answers a resume from the wrong offset (half the one asked).
    WrongOffset,
}

impl Quirk {
    /// The quirk chosen by two bits of a control byte.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Quirk::None,
            1 => Quirk::ShortTotal,
            2 => Quirk::DataFirst,
            _ => Quirk::WrongOffset,
        }
    }
}

/// A downloader that serves one file, from the fuzz input, to every transfer the modem starts.
#[derive(Clone, Copy, Debug)]
pub struct Server<'a> {
    /// The file's bytes.
    pub file: &'a [u8],
    /// Chunk sizes of the body (see [`input::chunks`]).
    pub pattern: &'a [u8],
    /// How each transfer ends.
    pub ending: Ending,
    /// How the server misbehaves.
    pub quirk: Quirk,
}

/// The fuzzer's side of `drive`: output collected for the checks, transfers queued.
struct Collect<'a> {
    out: &'a mut Vec<u8>,
    queued: Vec<(u64, Option<Resume>)>,
}

impl Shell for Collect<'_> {
    fn write(&mut self, bytes: Vec<u8>, _end: u64) -> bool {
        self.out.extend_from_slice(&bytes);
        true
    }

    fn start(&mut self, id: u64, _source: Source, resume: Option<Resume>) {
        self.queued.push((id, resume));
    }

    fn abort(&mut self, id: u64) {
        // The transfer is already stopped here: it only leaves the queue.
        self.queued.retain(|q| q.0 != id);
    }
}

impl Server<'_> {
    /// Drives the modem through the one driver until it waits for the host: its output goes
    /// to `out`, every transfer it asks for is served, and emulated time jumps to each timer.
    /// Returns how many transfers it served.
    pub fn serve(&self, modem: &mut Modem<SimFlash>, out: &mut Vec<u8>) -> Result<usize, ModemError> {
        let mut served = 0;
        let mut now = Instant::now();
        loop {
            let mut shell = Collect { out: &mut *out, queued: Vec::new() };
            let next_timer = drive(modem, now, &mut shell)?;
            let queued = shell.queued;
            if queued.is_empty() {
                match next_timer {
                    Some(at) => now = now.max(at),
                    None => return Ok(served),
                }
            }
            for (id, resume) in queued {
                self.transfer(modem, id, resume.as_ref())?;
                served += 1;
            }
        }
    }

    fn transfer(
        &self,
        modem: &mut Modem<SimFlash>,
        id: u64,
        resume: Option<&Resume>,
    ) -> Result<(), ModemError> {
        let total = self.file.len() as u64;
        if self.ending == Ending::NotFound {
            return modem.handle_finished(id, Err(DownloadError::HostNotFound));
        }
        // Like an HTTP server honouring `Range` + `If-Range`: a resume of this very file
        // continues, anything else gets the whole file.
        let mut offset = resume
            .filter(|r| r.validator.as_deref() == Some(VALIDATOR) && r.offset <= total)
            .map_or(0, |r| r.offset);
        let announced = match self.quirk {
            Quirk::ShortTotal => total.saturating_sub(1),
            _ => total,
        };
        if self.quirk == Quirk::WrongOffset {
            offset /= 2;
        }
        // In range: `offset <= total`, the file's length.
        let body = &self.file[offset as usize..];
        if self.quirk == Quirk::DataFirst {
            modem.handle_data(id, &body[..body.len().min(16)])?;
        }
        let info = StartInfo { offset, total: announced, validator: Some(VALIDATOR.to_owned()) };
        modem.handle_started(id, info)?;
        let sent = match self.ending {
            Ending::Complete => body,
            _ => &body[..body.len() / 2],
        };
        for chunk in input::chunks(self.pattern, sent) {
            modem.handle_data(id, chunk)?;
        }
        let result = match self.ending {
            Ending::Stall => return Ok(()),
            Ending::Complete => Ok(Outcome::Complete),
            Ending::Cancelled => Ok(Outcome::Cancelled),
            _ => Err(DownloadError::Connect(std::io::ErrorKind::ConnectionReset.into())),
        };
        modem.handle_finished(id, result)
    }
}

#[cfg(test)]
mod tests {
    use atfota_device::Next;
    use atfota_image::TrustedKey;

    use super::*;

    const DEV_IMAGE: &[u8] = include_bytes!("../../testdata/images/signed-dev.bin");
    const SLM: Setup =
        Setup { profile: ProfileKind::Nrf9160Slm, fail_self_test: false, incoming_call_at: None };
    const NL668: Setup = Setup { profile: ProfileKind::Nl668, ..SLM };

    /// Feeds `text` to the modem a line at a time, serving transfers, and returns its answer.
    fn exchange(modem: &mut Modem<SimFlash>, server: &Server<'_>, text: &[u8]) -> String {
        let mut out = Vec::new();
        for line in input::lines(text) {
            modem.handle_input(line).expect("the simulated flash never fails");
            server.serve(modem, &mut out).expect("the simulated flash never fails");
        }
        String::from_utf8(out).expect("the modem answers in text")
    }

    #[test]
    fn every_factory_device_boots_and_answers() {
        let server = Server { file: b"", pattern: &[], ending: Ending::Complete, quirk: Quirk::None };
        for (setup, banner, version) in [(SLM, "Ready", MODEM_VERSION), (NL668, "RDY", "NL668-EAU_V1.0.0")] {
            let (mut modem, _) = setup.power_on().expect("factory device boots");
            let out = exchange(&mut modem, &server, b"AT+CGMR\r\n");
            assert!(out.contains(banner), "{out:?}");
            assert!(out.contains(version), "{out:?}");
        }
    }

    #[test]
    fn a_served_signed_image_is_installed_by_a_reset() {
        let (mut modem, _) = SLM.power_on().expect("factory device boots");
        let server =
            Server { file: DEV_IMAGE, pattern: &[7, 100], ending: Ending::Complete, quirk: Quirk::None };
        let out = exchange(&mut modem, &server, b"AT#XFOTA=1,\"http://127.0.0.1/app.bin\"\r\n");
        assert!(out.contains("#XFOTA: 4,0"), "downloaded: {out:?}");
        let out = exchange(&mut modem, &server, b"AT#XRESET\r\nAT#XSLMVER\r\n");
        assert!(out.contains("#XFOTA: 5,0"), "installed: {out:?}");
        assert!(out.contains("#XSLMVER: \"1.2.3+4\""), "new version runs: {out:?}");
    }

    #[test]
    fn the_nl668_installs_by_itself() {
        let (mut modem, _) = NL668.power_on().expect("factory device boots");
        let server = Server { file: DEV_IMAGE, pattern: &[], ending: Ending::Complete, quirk: Quirk::None };
        let out = exchange(&mut modem, &server, b"AT+GTOTA=0,\"127.0.0.1/app.bin\"\r\nAT+CGMR\r\n");
        assert!(out.contains("GTOTA UPGRADE SUCCESS"), "{out:?}");
        assert!(out.contains("NL668-EAU_V1.2.3+4"), "{out:?}");
    }

    /// The file served by a `modem_input` seed: a 9.6 KiB image signed with the development key.
    fn big_image() -> &'static [u8] {
        let seed: &[u8] = include_bytes!("../corpus/modem_input/resume-big");
        input::split_at_byte(&seed[4..], 0x00).1
    }

    const URL: &[u8] = b"AT#XFOTA=1,\"http://127.0.0.1/app.bin\"\r\n";

    #[test]
    fn the_big_seed_is_a_valid_development_image() {
        let image = big_image();
        let verified = atfota_image::verify_reader(
            std::io::Cursor::new(image),
            u64::from(SLOT_SIZE),
            &[TrustedKey::development()],
        )
        .expect("the seed verifies");
        assert_eq!(verified.total_len, image.len() as u64);
        assert!(image.len() > 2 * 0x1000, "spans two sectors");
    }

    #[test]
    fn an_interrupted_transfer_resumes_where_it_stopped() {
        let (mut modem, _) = SLM.power_on().expect("factory device boots");
        let cut = Server { file: big_image(), pattern: &[], ending: Ending::DropHalfway, quirk: Quirk::None };
        let out = exchange(&mut modem, &cut, URL);
        assert!(out.contains("#XFOTA: 1,1,"), "failed: {out:?}");
        modem.handle_input(URL).expect("the simulated flash never fails");
        let mut started = None;
        while let Some(next) = modem.poll(Instant::now()).expect("the simulated flash never fails") {
            if let Next::Start { id, resume, .. } = next {
                started = Some((id, resume));
            }
        }
        let Some((id, Some(resume))) = started else { panic!("a resumed transfer expected") };
        assert_eq!(resume.offset, 0x1000, "from the first whole sector");
        let rest = Server { ending: Ending::Complete, ..cut };
        rest.transfer(&mut modem, id, Some(&resume)).expect("the simulated flash never fails");
        let mut out = Vec::new();
        rest.serve(&mut modem, &mut out).expect("the simulated flash never fails");
        let out = String::from_utf8(out).expect("the modem answers in text");
        assert!(out.contains("#XFOTA: 4,0"), "resumed and finished: {out:?}");
    }

    #[test]
    fn a_stalled_transfer_can_be_cancelled_and_reset_mid_way() {
        let (mut modem, _) = SLM.power_on().expect("factory device boots");
        let stall = Server { file: big_image(), pattern: &[], ending: Ending::Stall, quirk: Quirk::None };
        let out = exchange(&mut modem, &stall, URL);
        assert!(out.ends_with("#XFOTA: 1,0,50\r\n"), "running at half: {out:?}");
        let out = exchange(&mut modem, &stall, URL);
        assert!(out.contains("ERROR"), "busy: {out:?}");
        let out = exchange(&mut modem, &stall, b"AT#XFOTA=0\r\n");
        assert!(out.contains("#XFOTA: 1,2,0"), "cancelled: {out:?}");
        exchange(&mut modem, &stall, URL);
        let out = exchange(&mut modem, &stall, b"AT#XRESET\r\n");
        assert!(out.contains("Ready"), "rebooted mid-transfer: {out:?}");
    }

    #[test]
    fn server_quirks_fail_the_transfer() {
        for quirk in [Quirk::ShortTotal, Quirk::DataFirst] {
            let (mut modem, _) = SLM.power_on().expect("factory device boots");
            let server = Server { file: DEV_IMAGE, pattern: &[], ending: Ending::Complete, quirk };
            let out = exchange(&mut modem, &server, URL);
            assert!(out.contains("#XFOTA: 1,1,"), "{quirk:?}: {out:?}");
        }
        let (mut modem, _) = SLM.power_on().expect("factory device boots");
        let cut = Server {
            file: big_image(),
            pattern: &[],
            ending: Ending::DropHalfway,
            quirk: Quirk::WrongOffset,
        };
        exchange(&mut modem, &cut, URL);
        let out = exchange(&mut modem, &Server { ending: Ending::Complete, ..cut }, URL);
        assert!(out.contains("#XFOTA: 1,1,") && !out.contains("#XFOTA: 4,0"), "{out:?}");
    }

    #[test]
    fn a_device_survives_a_power_cycle() {
        let (modem, layout) = SLM.power_on().expect("factory device boots");
        let flash = modem.into_flash().expect("a booted modem holds its flash");
        let modem = SLM.power_on_flash(flash, layout).expect("boots again");
        assert_eq!(modem.boots(), 1);
    }

    #[test]
    fn control_bits_choose_the_setup_the_ending_and_the_quirk() {
        assert_eq!(Setup::from_bits(0x00, 50), SLM);
        assert_eq!(Setup::from_bits(0x08, 50), NL668);
        let setup = Setup::from_bits(0x11, 150);
        assert_eq!((setup.fail_self_test, setup.incoming_call_at), (true, Some(49)));
        let endings: Vec<Ending> = (0..8).map(Ending::from_bits).collect();
        assert_eq!(
            endings[..4],
            [Ending::Complete, Ending::DropHalfway, Ending::NotFound, Ending::Cancelled]
        );
        assert_eq!(endings[4..], endings[..4]);
        let quirks: Vec<Quirk> = (0..4).map(Quirk::from_bits).collect();
        assert_eq!(quirks, [Quirk::None, Quirk::ShortTotal, Quirk::DataFirst, Quirk::WrongOffset]);
    }
}
