//! The emulated network and the module's choice of radio access technology: which RATs the
//! network offers, whether it covers the device and carries data, the signal, and the module's
//! selection (`+COPS` mode and access technology, the NL668's `+GTRAT`).
//!
//! Owns the answer to "on which RAT is the device served, if any" and the speed of each RAT.
//! It knows nothing of the SIM or the radio's functional mode (the caller combines them), and
//! never reads a clock: every change is a method call.

use std::fmt;
use std::str::FromStr;

use super::cellular::Flavour;

/// Bytes per second of the emulated 2G (GSM/GPRS) link: about 32 kbit/s, two or three GPRS
/// timeslots. Slow enough that a 1 MiB package takes over four minutes.
pub const RATE_GSM: u64 = 4_000;
/// Bytes per second of the emulated 3G (UTRAN) link: 384 kbit/s, a UMTS Release 99 bearer.
pub const RATE_UTRAN: u64 = 48_000;
/// Bytes per second of the emulated NB-IoT link: about 24 kbit/s, a Cat-NB1 downlink.
pub const RATE_NB_IOT: u64 = 3_000;
/// The `+CSQ` `<rssi>` index of the signal after power-on (-63 dBm).
pub const DEFAULT_SIGNAL: u8 = 25;
/// The highest `+CSQ` `<rssi>` index (-51 dBm or more).
pub const MAX_SIGNAL: u8 = 31;

/// A radio access technology, as 3GPP TS 27.007 numbers it in `<AcT>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rat {
    /// 2G, GSM with GPRS (`<AcT>` 0). NL668.
    Gsm,
    /// 3G, UTRAN (`<AcT>` 2). NL668.
    Utran,
    /// 4G, E-UTRAN (`<AcT>` 7): LTE Cat 1 on the NL668, LTE-M on the nRF9160.
    Lte,
    /// E-UTRAN in NB-S1 mode, NB-IoT (`<AcT>` 9). nRF9160.
    NbIot,
}

impl Rat {
    /// Every RAT, slowest first.
    pub const ALL: [Rat; 4] = [Rat::NbIot, Rat::Gsm, Rat::Utran, Rat::Lte];

    /// The 27.007 `<AcT>` number.
    pub fn act(self) -> u8 {
        match self {
            Self::Gsm => 0,
            Self::Utran => 2,
            Self::Lte => 7,
            Self::NbIot => 9,
        }
    }

    /// The RAT of a 27.007 `<AcT>` number.
    pub fn from_act(act: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| i64::from(r.act()) == act)
    }

    /// Bytes per second a download gets on this RAT; `None`: as fast as the network allows.
    pub fn rate(self) -> Option<u64> {
        match self {
            Self::Gsm => Some(RATE_GSM),
            Self::Utran => Some(RATE_UTRAN),
            Self::Lte => None,
            Self::NbIot => Some(RATE_NB_IOT),
        }
    }

    /// The name used by the control channel and in status reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gsm => "2g",
            Self::Utran => "3g",
            Self::Lte => "lte",
            Self::NbIot => "nb-iot",
        }
    }

    /// Rank among the RATs of one site: a network that offers a RAT offers every RAT of lower
    /// rank too (an LTE site also has 3G and 2G; an LTE-M cell also serves NB-IoT).
    fn rank(self) -> u8 {
        match self {
            Self::Gsm | Self::NbIot => 0,
            Self::Utran => 1,
            Self::Lte => 2,
        }
    }

    /// The RAT the `flavour`'s module has that is nearest to this one: the nRF9160 has no 2G
    /// or 3G (NB-IoT is its slow RAT), the NL668 no NB-IoT (2G is its slow RAT).
    pub(super) fn nearest_for(self, flavour: Flavour) -> Self {
        match (flavour, self) {
            (Flavour::Nrf91, Self::Gsm | Self::Utran) => Self::NbIot,
            (Flavour::Nl668, Self::NbIot) => Self::Gsm,
            (_, r) => r,
        }
    }
}

impl fmt::Display for Rat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "2g" | "gsm" => Ok(Self::Gsm),
            "3g" | "utran" | "umts" => Ok(Self::Utran),
            "lte" | "4g" | "lte-m" => Ok(Self::Lte),
            "nb-iot" | "nbiot" => Ok(Self::NbIot),
            other => Err(format!("unknown radio technology {other:?}; known: 2g, 3g, lte, nb-iot")),
        }
    }
}

/// The RATs a module has, fastest first.
pub(super) fn rats_of(flavour: Flavour) -> &'static [Rat] {
    match flavour {
        Flavour::Nrf91 => &[Rat::Lte, Rat::NbIot],
        Flavour::Nl668 => &[Rat::Lte, Rat::Utran, Rat::Gsm],
    }
}

/// Network selection (`+COPS=<mode>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Selection {
    /// 0: automatic.
    Automatic,
    /// 1: manual, on the one network, preferring this access technology if given.
    Manual(Option<Rat>),
    /// 2: deregistered, until `+COPS=0` or `1`.
    Deregistered,
}

impl Selection {
    /// The `<mode>` number.
    pub(super) fn mode(self) -> u8 {
        match self {
            Self::Automatic => 0,
            Self::Manual(_) => 1,
            Self::Deregistered => 2,
        }
    }
}

/// What the network looks like to the module, and the module's choices.
#[derive(Debug)]
pub(super) struct Network {
    flavour: Flavour,
    /// The fastest RAT the network offers (it offers the slower ones of its site too).
    best: Rat,
    /// The network covers the device (a bench's deregister/register).
    pub(super) coverage: bool,
    /// The network carries data (a bench's network down/up; registration is kept).
    pub(super) data: bool,
    /// `+CSQ` `<rssi>` index, 0..=31.
    pub(super) signal: u8,
    /// `+COPS` selection: RAM, back to automatic at boot.
    pub(super) selection: Selection,
    /// NL668 `+GTRAT`: which RATs the module may use. RAM, back to automatic at boot.
    pub(super) mode: RatMode,
}

/// The module's RAT setting (the NL668's `+GTRAT`; the nRF9160 stays automatic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RatMode {
    /// Only this RAT (`+GTRAT` 0, 2 or 3).
    Only(Rat),
    /// Any RAT, these first when offered, then the fastest (`+GTRAT=10[,<pref1>[,<pref2>]]`).
    Automatic(Option<Rat>, Option<Rat>),
}

impl RatMode {
    /// After boot: automatic, no preference beyond the fastest.
    pub(super) const DEFAULT: Self = Self::Automatic(None, None);

    fn allows(self, rat: Rat) -> bool {
        match self {
            Self::Only(r) => r == rat,
            Self::Automatic(..) => true,
        }
    }
}

impl Network {
    /// The network after power-on: its fastest RAT `best` (mapped to the nearest the module
    /// has), coverage and data on, the default signal.
    pub(super) fn new(flavour: Flavour, best: Rat) -> Self {
        Self {
            flavour,
            best: best.nearest_for(flavour),
            coverage: true,
            data: true,
            signal: DEFAULT_SIGNAL,
            selection: Selection::Automatic,
            mode: RatMode::DEFAULT,
        }
    }

    /// A boot: the module's choices go back to automatic; the network stays as it is.
    pub(super) fn boot(&mut self) {
        self.selection = Selection::Automatic;
        self.mode = RatMode::DEFAULT;
    }

    /// The fastest RAT the network offers.
    pub(super) fn best(&self) -> Rat {
        self.best
    }

    /// Changes the RATs the network offers; a RAT the module does not have is refused.
    pub(super) fn set_best(&mut self, rat: Rat) -> Result<(), String> {
        if !rats_of(self.flavour).contains(&rat) {
            let known: Vec<_> = rats_of(self.flavour).iter().map(|r| r.name()).collect();
            return Err(format!("this module has no {rat} radio (it has {})", known.join(", ")));
        }
        self.best = rat;
        Ok(())
    }

    /// Whether the module has `rat`.
    pub(super) fn has(&self, rat: Rat) -> bool {
        rats_of(self.flavour).contains(&rat)
    }

    /// Whether the network offers `rat` here.
    pub(super) fn offers(&self, rat: Rat) -> bool {
        self.has(rat) && rat.rank() <= self.best.rank()
    }

    /// The RAT the module is served on while its radio is on and its SIM ready: `None` when
    /// deregistered (`+COPS=2`), without coverage, or when `+GTRAT` allows only a RAT the
    /// network does not offer. A `+COPS` access technology comes first, then the `+GTRAT`
    /// preferences, then the fastest RAT; each only when offered and allowed (27.007: another
    /// RAT is used when the preferred one is not available).
    pub(super) fn serving(&self) -> Option<Rat> {
        if self.selection == Selection::Deregistered || !self.coverage {
            return None;
        }
        let cops = match self.selection {
            Selection::Manual(pref) => pref,
            _ => None,
        };
        let (pref1, pref2) = match self.mode {
            RatMode::Automatic(a, b) => (a, b),
            RatMode::Only(_) => (None, None),
        };
        let usable = |r: Rat| self.offers(r) && self.mode.allows(r);
        [cops, pref1, pref2]
            .into_iter()
            .flatten()
            .chain(rats_of(self.flavour).iter().copied())
            .find(|&r| usable(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_numbers_and_names_round_trip() {
        for r in Rat::ALL {
            assert_eq!(Rat::from_act(i64::from(r.act())), Some(r));
            assert_eq!(r.name().parse::<Rat>(), Ok(r));
        }
        assert_eq!(Rat::from_act(1), None);
        assert!("5g".parse::<Rat>().is_err());
    }

    #[test]
    fn selection_follows_offer_preference_and_restriction() {
        let mut n = Network::new(Flavour::Nl668, Rat::Lte);
        assert_eq!(n.serving(), Some(Rat::Lte), "automatic takes the fastest");
        n.selection = Selection::Manual(Some(Rat::Gsm));
        assert_eq!(n.serving(), Some(Rat::Gsm), "a +COPS AcT is honoured when offered");
        n.set_best(Rat::Utran).unwrap();
        n.selection = Selection::Manual(Some(Rat::Lte));
        assert_eq!(n.serving(), Some(Rat::Utran), "a preference not offered falls back");
        n.mode = RatMode::Only(Rat::Lte);
        assert_eq!(n.serving(), None, "+GTRAT LTE only where there is no LTE: no service");
        n.mode = RatMode::Only(Rat::Gsm);
        assert_eq!(n.serving(), Some(Rat::Gsm));
        n.selection = Selection::Automatic;
        n.mode = RatMode::Automatic(Some(Rat::Gsm), None);
        assert_eq!(n.serving(), Some(Rat::Gsm), "a +GTRAT preference");
        n.boot();
        assert_eq!(n.serving(), Some(Rat::Utran));
        n.coverage = false;
        assert_eq!(n.serving(), None);
        assert!(n.set_best(Rat::NbIot).is_err());
    }

    #[test]
    fn the_nrf91_maps_2g_onto_nb_iot() {
        let n = Network::new(Flavour::Nrf91, Rat::Gsm);
        assert_eq!(n.serving(), Some(Rat::NbIot));
        let n = Network::new(Flavour::Nrf91, Rat::Lte);
        assert_eq!(n.serving(), Some(Rat::Lte));
        assert!(n.offers(Rat::NbIot) && !n.offers(Rat::Gsm));
    }
}
