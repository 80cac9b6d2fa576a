//! Network and RAT selection: `+COPS` (read, set, test) and the NL668's `+GTRAT`.
//!
//! Owns how those commands read and change the selection kept in [`super::network::Network`];
//! the network's identity is [`super::cellular`]'s. Never registers by itself: the registration
//! URCs a change gives are computed by the caller from the view before and after.

use atfota_at::{Args, CmeError, Response, quote};

use super::cellular::{Cellular, Flavour, OPERATOR, PLMN, View};
use super::network::{Rat, RatMode, Selection, rats_of};

impl Cellular {
    /// `+COPS: <mode>[,<format>,<oper>,<AcT>]`: the operator while registered.
    pub(super) fn operator(&self, radio_on: bool) -> String {
        let mode = self.network.selection.mode();
        match self.view(radio_on) {
            View::Served(rat) => {
                let name = if self.cops_format == 2 { PLMN } else { OPERATOR };
                format!("+COPS: {mode},{},{},{}", self.cops_format, quote(name), rat.act())
            }
            _ => format!("+COPS: {mode}"),
        }
    }

    /// `AT+COPS=?`: the network once per RAT it offers (`<stat>` 2 for the current one).
    pub(super) fn operators(&self, radio_on: bool) -> String {
        let current = match self.view(radio_on) {
            View::Served(rat) => Some(rat),
            _ => None,
        };
        let entries: Vec<String> = match self.visible(radio_on) {
            None => Vec::new(),
            Some(_) => rats_of(self.flavour)
                .iter()
                .filter(|r| self.network.offers(**r))
                .map(|&r| {
                    let stat = if current == Some(r) { 2 } else { 1 };
                    format!("({stat},{},{},{},{})", quote(OPERATOR), quote(OPERATOR), quote(PLMN), r.act())
                })
                .collect(),
        };
        let modes = match self.flavour {
            Flavour::Nrf91 => "(0,1,3)",
            Flavour::Nl668 => "(0-3)",
        };
        format!("+COPS: {},,{modes},(0-2)", entries.join(","))
    }

    /// `AT+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]`: 0 automatic, 1 manual on the one network
    /// (with a preferred `<AcT>`), 2 deregister (NL668; the nRF9160 has no mode 2), 3 the
    /// format alone.
    pub(super) fn set_operator(&mut self, args: &Args) -> Response {
        let bad = || Response::cme(CmeError::INCORRECT_PARAMETERS);
        let Ok(Some(mode)) = args.int(0) else { return bad() };
        let format = match args.int(1) {
            Ok(None) => None,
            Ok(Some(f @ 0..=2)) => Some(f as u8),
            _ => return bad(),
        };
        match (mode, args.len()) {
            (0, 1..=2) => self.network.selection = Selection::Automatic,
            (1, 3..=4) => {
                // Nordic: manual selection takes the numeric format only.
                let Some(f) = format.filter(|&f| f == 2 || self.flavour == Flavour::Nl668) else {
                    return bad();
                };
                let Ok(Some(oper)) = args.string(2) else { return bad() };
                let act = match args.int(3) {
                    Ok(None) => None,
                    Ok(Some(a)) => match Rat::from_act(a).filter(|r| self.network.has(*r)) {
                        Some(r) => Some(r),
                        None => return bad(),
                    },
                    Err(_) => return bad(),
                };
                let ours = if f == 2 { oper == PLMN } else { oper == OPERATOR };
                if !ours {
                    log::warn!(
                        "AT+COPS: no network {oper:?} here (the emulated one is {PLMN}, {OPERATOR:?})"
                    );
                    return Response::cme(CmeError::NO_NETWORK_SERVICE);
                }
                self.network.selection = Selection::Manual(act);
            }
            (2, 1) if self.flavour == Flavour::Nl668 => self.network.selection = Selection::Deregistered,
            (3, 2) => {}
            _ => return bad(),
        }
        if let Some(f) = format {
            self.cops_format = f;
        }
        Response::ok()
    }

    /// `AT+GTRAT=<mode>[,<pref1>[,<pref2>]]` (Fibocom): 0 GSM only, 2 UTRAN only, 3 LTE only,
    /// 10 automatic with the preferred RATs in order.
    pub(super) fn set_rat_mode(&mut self, args: &Args) -> Response {
        let rat = |i| match args.int(i) {
            Ok(Some(code)) => gtrat_rat(code).map(Some).ok_or(()),
            Ok(None) => Ok(None),
            Err(_) => Err(()),
        };
        let mode = match (args.int(0), rat(1), rat(2), args.len()) {
            (Ok(Some(10)), Ok(a), Ok(b), 1..=3) if a.is_none() || a != b => RatMode::Automatic(a, b),
            (Ok(Some(code)), _, _, 1) => match gtrat_rat(code) {
                Some(r) => RatMode::Only(r),
                None => return Response::cme(CmeError::INCORRECT_PARAMETERS),
            },
            _ => return Response::cme(CmeError::INCORRECT_PARAMETERS),
        };
        self.network.mode = mode;
        Response::ok()
    }

    pub(super) fn rat_mode(&self) -> String {
        match self.network.mode {
            RatMode::Only(r) => format!("+GTRAT: {}", gtrat_code(r)),
            RatMode::Automatic(a, b) => [a, b]
                .into_iter()
                .flatten()
                .fold("+GTRAT: 10".to_string(), |s, r| format!("{s},{}", gtrat_code(r))),
        }
    }
}

/// Fibocom's `+GTRAT` numbers (not 27.007's `<AcT>`).
fn gtrat_code(rat: Rat) -> u8 {
    match rat {
        Rat::Gsm => 0,
        Rat::Utran => 2,
        _ => 3,
    }
}

fn gtrat_rat(code: i64) -> Option<Rat> {
    match code {
        0 => Some(Rat::Gsm),
        2 => Some(Rat::Utran),
        3 => Some(Rat::Lte),
        _ => None,
    }
}
