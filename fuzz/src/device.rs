//! A factory-fresh emulated modem for fuzzing, and a scripted stand-in for its downloader.
//!
//! Owns the device the `modem_input` target starts from (an nRF9160 SLM with 64 KiB slots on a
//! simulated flash, provisioned once and copied for every input) and [`Server`], which answers
//! the modem's transfer requests with bytes from the input instead of the network. It must
//! never open a socket or a file: a transfer is only ever a sequence of `handle_*` calls.

use std::sync::OnceLock;

use atfota_device::{DeviceConfig, Modem, ModemError, layout_for, provision};
use atfota_fota::{Action, EngineConfig, ProfileKind};
use atfota_net::{DownloadError, Outcome, Resume, StartInfo};
use atfota_storage::{Geometry, Layout, SimFlash};

use crate::input;

/// Application slot size: the smallest a device accepts, so every input boots fast.
pub const SLOT_SIZE: u32 = 0x1_0000;
/// The profile fuzzed.
pub const PROFILE: ProfileKind = ProfileKind::Nrf9160Slm;
/// The ETag the scripted server gives its one file, so a resume can match it.
const VALIDATOR: &str = "\"fuzz\"";

/// A provisioned device as it leaves the factory: its flash contents and partition table.
struct Factory {
    geometry: Geometry,
    layout: Layout,
    image: Vec<u8>,
}

/// A fresh copy of the factory device's flash, and its partition table.
pub fn factory_flash() -> (SimFlash, Layout) {
    let factory = FACTORY.get_or_init(provision_factory);
    // The geometry and length are those of a flash that was just built with them.
    let flash = SimFlash::from_image(factory.geometry, factory.image.clone()).expect("factory copy");
    (flash, factory.layout)
}

/// Powers a modem on over `flash` with the profile fuzzed.
pub fn power_on(flash: SimFlash, layout: Layout, fail_self_test: bool) -> Result<Modem<SimFlash>, ModemError> {
    Modem::power_on(flash, layout, PROFILE, EngineConfig { fail_self_test })
}

static FACTORY: OnceLock<Factory> = OnceLock::new();

/// Builds the factory device once per fuzzing process; a failure here is a harness bug, so it
/// panics with the reason rather than reporting every input as a crash of its own.
fn provision_factory() -> Factory {
    let config = DeviceConfig {
        profile: PROFILE.name().to_owned(),
        sector_size: 0x1000,
        write_size: 0x04,
        slot_size: SLOT_SIZE,
    };
    let layout = layout_for(&config).unwrap_or_else(|e| panic!("factory layout: {e}"));
    let geometry = Geometry::new(config.sector_size, config.write_size, layout.capacity())
        .unwrap_or_else(|e| panic!("factory geometry: {e}"));
    let mut flash = SimFlash::new(geometry);
    provision(&mut flash, &layout, PROFILE).unwrap_or_else(|e| panic!("provisioning: {e}"));
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
}

impl Ending {
    /// The ending chosen by two bits of a control byte.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Ending::Complete,
            1 => Ending::DropHalfway,
            2 => Ending::NotFound,
            _ => Ending::Cancelled,
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
}

impl Server<'_> {
    /// Answers every action the modem has queued; returns how many transfers it served.
    pub fn serve(&self, modem: &mut Modem<SimFlash>) -> usize {
        let mut served = 0;
        while let Some(action) = modem.poll_action() {
            // Aborts need no answer: the transfer is already stopped here.
            if let Action::Start { id, resume, .. } = action {
                self.transfer(modem, id, resume.as_ref());
                served += 1;
            }
        }
        served
    }

    fn transfer(&self, modem: &mut Modem<SimFlash>, id: u64, resume: Option<&Resume>) {
        let total = self.file.len() as u64;
        if self.ending == Ending::NotFound {
            modem.handle_finished(id, Err(DownloadError::HostNotFound));
            return;
        }
        // Like an HTTP server honouring `Range` + `If-Range`: a resume of this very file
        // continues, anything else gets the whole file.
        let offset = resume
            .filter(|r| r.validator.as_deref() == Some(VALIDATOR) && r.offset <= total)
            .map_or(0, |r| r.offset);
        let info = StartInfo { offset, total, validator: Some(VALIDATOR.to_owned()) };
        modem.handle_started(id, info);
        // In range: `offset <= total`, the file's length.
        let body = &self.file[offset as usize..];
        let sent = match self.ending {
            Ending::Complete => body,
            _ => &body[..body.len() / 2],
        };
        for chunk in input::chunks(self.pattern, sent) {
            modem.handle_data(id, chunk);
        }
        let result = match self.ending {
            Ending::Complete => Ok(Outcome::Complete),
            Ending::Cancelled => Ok(Outcome::Cancelled),
            _ => Err(DownloadError::Connect(std::io::ErrorKind::ConnectionReset.into())),
        };
        modem.handle_finished(id, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` to the modem and returns what it answered.
    fn exchange(modem: &mut Modem<SimFlash>, server: &Server<'_>, text: &[u8]) -> String {
        for line in input::lines(text) {
            modem.handle_input(line).expect("the simulated flash never fails");
            server.serve(modem);
        }
        String::from_utf8(modem.take_output()).expect("the modem answers in text")
    }

    const DEV_IMAGE: &[u8] = include_bytes!("../../testdata/images/signed-dev.bin");

    #[test]
    fn the_factory_device_boots_and_answers() {
        let (flash, layout) = factory_flash();
        let mut modem = power_on(flash, layout, false).expect("factory device boots");
        let server = Server { file: b"", pattern: &[], ending: Ending::Complete };
        let out = exchange(&mut modem, &server, b"AT+CGMR\r\n");
        assert!(out.contains("Ready"), "{out:?}");
        assert!(out.contains("mfw_nrf9160_1.3.5\r\n\r\nOK"), "{out:?}");
    }

    #[test]
    fn a_served_signed_image_is_installed_by_a_reset() {
        let (flash, layout) = factory_flash();
        let mut modem = power_on(flash, layout, false).expect("factory device boots");
        let server = Server { file: DEV_IMAGE, pattern: &[7, 100], ending: Ending::Complete };
        let out = exchange(&mut modem, &server, b"AT#XFOTA=1,\"http://127.0.0.1/app.bin\"\r\n");
        assert!(out.contains("#XFOTA: 4,0"), "downloaded: {out:?}");
        let out = exchange(&mut modem, &server, b"AT#XRESET\r\nAT#XSLMVER\r\n");
        assert!(out.contains("#XFOTA: 5,0"), "installed: {out:?}");
        assert!(out.contains("#XSLMVER: \"1.2.3+4\""), "new version runs: {out:?}");
    }

    #[test]
    fn an_interrupted_transfer_resumes_where_it_stopped() {
        let (flash, layout) = factory_flash();
        let mut modem = power_on(flash, layout, false).expect("factory device boots");
        let cut = Server { file: DEV_IMAGE, pattern: &[], ending: Ending::DropHalfway };
        let out = exchange(&mut modem, &cut, b"AT#XFOTA=1,\"http://127.0.0.1/app.bin\"\r\n");
        assert!(out.contains("#XFOTA: 1,1,"), "failed: {out:?}");
        let rest = Server { ending: Ending::Complete, ..cut };
        let out = exchange(&mut modem, &rest, b"AT#XFOTA=1,\"http://127.0.0.1/app.bin\"\r\n");
        assert!(out.contains("#XFOTA: 4,0"), "resumed and finished: {out:?}");
    }

    #[test]
    fn every_ending_comes_from_two_bits() {
        let endings: Vec<Ending> = (0..8).map(Ending::from_bits).collect();
        assert_eq!(endings[..4], [Ending::Complete, Ending::DropHalfway, Ending::NotFound, Ending::Cancelled]);
        assert_eq!(endings[4..], endings[..4]);
    }
}
