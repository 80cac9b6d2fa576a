//! Device profiles: the vendors' command sets in front of the one engine.
//!
//! Owns the mapping from AT commands to engine calls and from engine events
//! to URC text. A profile never reads flash itself and never formats
//! framing (`\r\n`): the AT layer does that. Dispatch is an enum rather
//! than a trait object so the engine can stay generic over its flash.

mod bench;
mod cellular;
mod cmng;
mod network;
mod nl668;
mod nrf91;
mod operator;
mod pdn;
mod sim;
mod slm;

use std::fmt;
use std::str::FromStr;

use atfota_at::{CmeError, CmeeMode, Command, Response};
use atfota_storage::NorFlash;

use crate::engine::{CommandError, Engine};
use crate::event::Event;
use crate::imei::Imei;

pub use bench::{CellularStatus, Link, Stimulus};
pub use network::{DEFAULT_SIGNAL, MAX_SIGNAL, RATE_GSM, RATE_NB_IOT, RATE_UTRAN, Rat};
pub use nrf91::FunctionalMode;
pub use pdn::Pdn;
pub use sim::{EMULATED_PUK, PIN_ATTEMPTS, PUK_ATTEMPTS, SimPin, SimState};

/// Settings key of the modem firmware version string.
pub const KEY_MODEM_VERSION: &str = "modem.version";

/// Which vendor's command set the device presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileKind {
    /// Nordic nRF9160 Serial LTE Modem: `AT#XFOTA`.
    Nrf9160Slm,
    /// Fibocom NL668: `AT+GTOTA` over HTTP or FTP.
    Nl668,
}

impl ProfileKind {
    /// The name used on the command line and in the data directory.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nrf9160Slm => "nrf9160-slm",
            Self::Nl668 => "nl668",
        }
    }

    /// Whether the device has a modem firmware of its own, updated by modem
    /// delta packages (the nRF9160; the NL668's firmware is its one image).
    pub fn has_modem_firmware(&self) -> bool {
        matches!(self, Self::Nrf9160Slm)
    }

    /// Modem firmware version a factory-fresh device reports.
    pub fn factory_modem_version(&self) -> &'static str {
        match self {
            Self::Nrf9160Slm => "mfw_nrf9160_1.3.5",
            Self::Nl668 => "19906.1000.00.01.02.07",
        }
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProfileKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nrf9160-slm" => Ok(Self::Nrf9160Slm),
            "nl668" => Ok(Self::Nl668),
            other => Err(format!("unknown profile {other:?}; known: nrf9160-slm, nl668")),
        }
    }
}

/// What a command asks of the device outside the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemRequest {
    /// Reboot once the response has been sent.
    pub reset: bool,
    /// The command takes this long on the device: its final response (and
    /// every later command) waits until then.
    pub defer: Option<std::time::Duration>,
    /// Send the URCs of the events this command raised after its final result, not before:
    /// they report what happened after the command was accepted (a download that could not
    /// start because the modem is offline).
    pub events_after_response: bool,
    /// Unsolicited lines (without framing) to send after the final result: what the command
    /// set off (`+CEREG` after `+CFUN` switched the radio).
    pub urcs: Vec<String>,
}

/// A profile's view of the device while it executes one command.
pub struct Ctx<'a, F: NorFlash> {
    /// The FOTA engine.
    pub engine: &'a mut Engine<F>,
    /// Requests to the device, carried out after the response.
    pub system: &'a mut SystemRequest,
}

/// Emulated conditions a profile reacts to, set when the device starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// An incoming call rings when a download reaches this percentage.
    pub incoming_call_at: Option<u8>,
    /// The device's IMEI (`AT+CGSN`); `None` gives [`Imei::default`].
    pub imei: Option<Imei>,
    /// nrf9160-slm: every boot starts offline (`+CFUN: 0`, as the real modem) instead of in
    /// normal operation (`+CFUN: 1`).
    pub boot_offline: bool,
    /// The SIM's PIN (`--sim-pin`): every boot the SIM asks for it (`+CPIN: SIM PIN`).
    /// `None`: the SIM needs no PIN.
    pub sim_pin: Option<SimPin>,
    /// The fastest RAT the network offers when the device starts (`--network 2g`:
    /// `Some(Rat::Gsm)`, which the nRF9160 takes as NB-IoT, its slow RAT). `None`: LTE.
    pub network: Option<Rat>,
}

/// A device profile.
#[derive(Debug)]
#[non_exhaustive]
pub enum Profile {
    /// Nordic Serial LTE Modem.
    Slm(slm::Slm),
    /// Fibocom NL668.
    Nl668(nl668::Nl668),
}

impl Profile {
    /// The profile of `kind` under emulated `conditions`.
    pub fn new(kind: ProfileKind, conditions: Conditions) -> Self {
        match kind {
            ProfileKind::Nrf9160Slm => Self::Slm(slm::Slm::new(&conditions)),
            ProfileKind::Nl668 => Self::Nl668(nl668::Nl668::new(conditions)),
        }
    }

    /// Which profile this is.
    pub fn kind(&self) -> ProfileKind {
        match self {
            Self::Slm(_) => ProfileKind::Nrf9160Slm,
            Self::Nl668(_) => ProfileKind::Nl668,
        }
    }

    /// Line printed when a boot completes.
    pub fn banner(&self) -> &'static str {
        match self {
            Self::Slm(_) => atfota_vocab::slm::READY,
            Self::Nl668(_) => atfota_vocab::nl668::READY,
        }
    }

    /// Whether the device echoes input after boot (V.250 `E`).
    pub fn default_echo(&self) -> bool {
        match self {
            // Nordic's SLM does not echo; Fibocom's modules do.
            Self::Slm(_) => false,
            Self::Nl668(_) => true,
        }
    }

    /// The `AT+CMEE` mode after boot.
    pub fn default_cmee(&self) -> CmeeMode {
        match self {
            Self::Slm(_) => CmeeMode::Disabled,
            Self::Nl668(_) => CmeeMode::Numeric,
        }
    }

    /// A boot happened (power-on or reset): state that lives in RAM goes back to its default.
    pub fn on_boot(&mut self) {
        match self {
            Self::Slm(p) => p.on_boot(),
            Self::Nl668(p) => p.on_boot(),
        }
    }

    /// The command whose quoted parameters may span lines, and the length limit of its lines
    /// (for [`atfota_at::Framer::multiline_command`]): `%CMNG` on the SLM, none on the NL668.
    pub fn multiline_command(&self) -> Option<(&'static str, usize)> {
        match self {
            Self::Slm(_) => Some(("%CMNG", cmng::MAX_LINE_LEN)),
            Self::Nl668(_) => None,
        }
    }

    /// Executes one command that the AT layer did not handle itself.
    pub fn execute<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        match self {
            Self::Slm(p) => p.execute(cmd, ctx),
            Self::Nl668(p) => p.execute(cmd, ctx),
        }
    }

    /// The link a download sees now (read it after every command, event and stimulus, and
    /// apply it to running transfers).
    pub fn link(&self) -> Link {
        match self {
            Self::Slm(p) => p.link(),
            Self::Nl668(p) => p.link(),
        }
    }

    /// Applies a test bench's stimulus: the URCs it gives go to `ctx.system.urcs` (send them,
    /// then the engine's events: a call's `RING` comes before the failure it causes). A
    /// stimulus the module cannot have (a 2G network for the nRF9160, a call on the nRF9160 or
    /// while not registered, a signal out of range) is refused with the reason and changes
    /// nothing.
    pub fn apply_stimulus<F: NorFlash>(&mut self, ctx: &mut Ctx<'_, F>, s: Stimulus) -> Result<(), String> {
        match self {
            Self::Slm(p) => p.apply_stimulus(ctx, s),
            Self::Nl668(p) => p.apply_stimulus(ctx, s),
        }
    }

    /// The cellular state, for a status report.
    pub fn cellular_status(&self) -> CellularStatus {
        match self {
            Self::Slm(p) => p.cellular_status(),
            Self::Nl668(p) => p.cellular_status(),
        }
    }

    /// Reacts to an engine event: the URC lines (without framing) that
    /// announce it, and any request to the device (a reboot to install).
    pub fn on_event<F: NorFlash>(&mut self, event: &Event, ctx: &mut Ctx<'_, F>) -> Vec<String> {
        match self {
            Self::Slm(p) => p.urcs(event),
            Self::Nl668(p) => p.on_event(event, ctx),
        }
    }
}

/// The usual `+CME ERROR` for an engine refusal.
pub(crate) fn cme_for(e: &CommandError) -> CmeError {
    match e {
        CommandError::Unsupported(_) | CommandError::NoModemFirmware => CmeError::OPERATION_NOT_SUPPORTED,
        CommandError::Storage(_) => CmeError::MEMORY_FAILURE,
        _ => CmeError::OPERATION_NOT_ALLOWED,
    }
}
