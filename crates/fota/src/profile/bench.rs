//! The device as a test bench: the changes a bench injects into the emulated network
//! ([`Stimulus`]), the link a download sees ([`Link`]), and the cellular state a bench reads
//! back ([`CellularStatus`]).
//!
//! Owns these plain types and how a network stimulus changes the cellular state. It never
//! touches a transfer itself: the device shell applies [`Link`] to running transfers (down:
//! they stall; a rate: they are slowed), and a call reaches the engine through the profile.

use super::cellular::{Cellular, View};
use super::network::{MAX_SIGNAL, Rat};
use super::pdn::Pdn;
use super::sim::SimState;

/// A change of the emulated network, injected by a test bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stimulus {
    /// The network stops carrying data; the device stays registered (no URC).
    NetworkDown,
    /// The network carries data again.
    NetworkUp,
    /// Coverage is lost: the device searches (`<stat>` 2), with the registration URCs of the
    /// report modes on.
    Deregister,
    /// Coverage is back: the device registers again (`<stat>` 1).
    Register,
    /// The signal, as the `+CSQ` `<rssi>` index 0..=31 (-113 dBm + 2 dB per step; 31: -51 dBm
    /// or more). `+CESQ` follows: RSRP 16 dB and RSCP 4 dB under that power, RXLEV at it.
    Signal(u8),
    /// The fastest RAT the network offers from now on (it offers the slower ones of the site
    /// too). A RAT the module does not have is refused: the nRF9160 has LTE-M (`lte`) and
    /// NB-IoT, the NL668 LTE, 3G and 2G.
    Rat(Rat),
    /// A voice call comes in now (NL668 only): `RING`, and unless `AT+GTSET="CALLBREAK",1` a
    /// running download fails (`GTOTA DOWNLOAD FAILED: 5`).
    IncomingCall,
}

/// The link a download sees, from the functional mode, the SIM, the registration, the
/// network's data and the RAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Data flows. Down: a running transfer stalls (and fails by the stall timeout).
    pub up: bool,
    /// Bytes per second of the RAT served on; `None`: as fast as the network allows (LTE), or
    /// not registered.
    pub rate: Option<u64>,
}

/// The cellular state, for a bench's status report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CellularStatus {
    /// Registration `<stat>`: 0 not registered (radio off, SIM locked, deregistered by
    /// `+COPS=2`), 1 registered (home), 2 searching (no coverage, or no allowed RAT).
    pub stat: u8,
    /// The RAT served on while registered.
    pub rat: Option<Rat>,
    /// The fastest RAT the network offers.
    pub network_rat: Rat,
    /// The network has coverage ([`Stimulus::Deregister`] / [`Stimulus::Register`]).
    pub coverage: bool,
    /// The network carries data ([`Stimulus::NetworkDown`] / [`Stimulus::NetworkUp`]).
    pub network_up: bool,
    /// The signal level ([`Stimulus::Signal`]'s scale), whether or not a cell is visible.
    pub signal: u8,
    /// The functional mode `<fun>` (`+CFUN`; always 1 on the NL668).
    pub cfun: u8,
    /// What the SIM asks for.
    pub sim: SimState,
    /// The PDN contexts.
    pub pdns: Vec<Pdn>,
    /// The link a download sees.
    pub link: Link,
}

impl Cellular {
    /// Applies a network stimulus (not [`Stimulus::IncomingCall`], the profile's) and returns
    /// the registration URCs it gives.
    pub(super) fn apply(&mut self, s: Stimulus, radio_on: bool) -> Result<Vec<String>, String> {
        let before = self.view(radio_on);
        match s {
            Stimulus::NetworkDown => self.network.data = false,
            Stimulus::NetworkUp => self.network.data = true,
            Stimulus::Deregister => self.network.coverage = false,
            Stimulus::Register => self.network.coverage = true,
            Stimulus::Signal(level) if level <= MAX_SIGNAL => self.network.signal = level,
            Stimulus::Signal(level) => {
                return Err(format!("signal level {level} is out of range: use 0 to {MAX_SIGNAL}"));
            }
            Stimulus::Rat(rat) => self.network.set_best(rat)?,
            Stimulus::IncomingCall => return Err("a call is not a network change".into()),
        }
        log::info!("bench: {s:?}");
        Ok(self.registration_urcs(before, self.view(radio_on)))
    }

    /// The status report, with the functional mode `cfun`.
    pub(super) fn status(&self, cfun: u8) -> CellularStatus {
        let radio_on = cfun == 1;
        let view = self.view(radio_on);
        let (stat, rat) = match view {
            View::Off => (0, None),
            View::Searching => (2, None),
            View::Served(r) => (1, Some(r)),
        };
        CellularStatus {
            stat,
            rat,
            network_rat: self.network.best(),
            coverage: self.network.coverage,
            network_up: self.network.data,
            signal: self.network.signal,
            cfun,
            sim: self.sim.state(),
            pdns: self.pdn.list(rat.is_some()),
            link: self.link(radio_on),
        }
    }
}
