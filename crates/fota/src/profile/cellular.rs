//! The cellular state a host checks before it starts a download: network registration
//! (`+CEREG`, and on the NL668 also `+CREG` and `+CGREG`), the operator and access technology
//! (`+COPS`, the NL668's `+GTRAT`), the signal (`+CESQ`, and `+CSQ` on the NL668), in the syntax
//! of 3GPP TS 27.007; and the registration URCs every change gives.
//!
//! Owns those answers, the report modes and `+COPS` format (RAM: back to their defaults at every
//! boot, as on the real modules), and ties together the network ([`super::network`]), the SIM
//! ([`super::sim`]) and the PDN contexts ([`super::pdn`]); `+COPS` and `+GTRAT` are in
//! [`super::operator`]. The emulated network is one site of the 3GPP test network (PLMN 001-01)
//! that offers every RAT of the module by default. The radio's functional mode is the caller's
//! (`+CFUN` on the nRF9160; always on for the NL668).

use std::collections::BTreeMap;

use atfota_at::{CmeError, Command, Op, Response, quote};

use super::network::{Network, Rat, Selection};
use super::pdn::Contexts;
use super::sim::{Sim, SimState};
use super::{Conditions, bench::Link};

/// The network's numeric PLMN (3GPP test network).
pub(super) const PLMN: &str = "00101";
/// Its alphanumeric name (long and short).
pub(super) const OPERATOR: &str = "Test Network";
/// Tracking (location) area code and cell identity of the site, as hex strings (27.007
/// `<tac>`/`<lac>`, `<ci>`); the same on every RAT.
const TAC: &str = "002F";
const CELL_ID: &str = "0012BEEF";
/// `+CESQ` `<rsrq>` index (-6 dB) and `<ecno>` index (-4.5 dB): fixed, the signal level moves
/// the powers only.
const RSRQ: u8 = 28;
const ECNO: u8 = 40;

/// Which module's variant of the commands to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavour {
    /// nRF9160: `+CEREG` 0..5, default context 0, no `+CREG`/`+CGREG`/`+CSQ`/`+GTRAT`.
    Nrf91,
    /// NL668: `+CREG`/`+CGREG`/`+CEREG` 0..2, default context 1, `+CSQ`, `+GTRAT`.
    Nl668,
}

/// A registration command and the report mode (`<n>`) set through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reg {
    Creg,
    Cgreg,
    Cereg,
}

impl Reg {
    fn name(self) -> &'static str {
        match self {
            Self::Creg => "+CREG",
            Self::Cgreg => "+CGREG",
            Self::Cereg => "+CEREG",
        }
    }

    /// `<stat>` in this domain: EPS (`+CEREG`) only on an E-UTRAN RAT, CS and GPRS on any.
    fn stat(self, view: View) -> u8 {
        match view {
            View::Off => 0,
            View::Searching => 2,
            View::Served(Rat::Gsm | Rat::Utran) if self == Self::Cereg => 0,
            View::Served(_) => 1,
        }
    }
}

/// Registration as the module sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum View {
    /// Not registered, not searching: radio off, SIM locked, or deregistered (`+COPS=2`).
    Off,
    /// Not registered, searching: no coverage, or no RAT the module may use.
    Searching,
    /// Registered (home network) on this RAT.
    Served(Rat),
}

/// The cellular state of one device.
#[derive(Debug)]
pub(super) struct Cellular {
    pub(super) flavour: Flavour,
    report: BTreeMap<Reg, u8>,
    /// `+COPS` `<format>`: 0 long alphanumeric, 1 short, 2 numeric.
    pub(super) cops_format: u8,
    pub(super) network: Network,
    pub(super) sim: Sim,
    pub(super) pdn: Contexts,
}

impl Cellular {
    /// The state after power-on under `conditions` (the SIM's PIN, the network's RATs).
    pub(super) fn new(flavour: Flavour, conditions: &Conditions) -> Self {
        let default_cid = match flavour {
            Flavour::Nrf91 => 0,
            Flavour::Nl668 => 1,
        };
        let mut s = Self {
            flavour,
            report: BTreeMap::new(),
            cops_format: 0,
            network: Network::new(flavour, conditions.network.unwrap_or(Rat::Lte)),
            sim: Sim::new(conditions.sim_pin),
            pdn: Contexts::new(default_cid),
        };
        s.boot();
        s
    }

    /// A boot: report modes off, only the default context, the format the module starts with,
    /// automatic selection, and the SIM asks for its PIN again.
    pub(super) fn boot(&mut self) {
        self.report.clear();
        self.pdn.boot();
        self.network.boot();
        self.sim.boot();
        self.cops_format = match self.flavour {
            Flavour::Nrf91 => 2,
            Flavour::Nl668 => 0,
        };
    }

    /// Registration with the radio on or off.
    pub(super) fn view(&self, radio_on: bool) -> View {
        if !radio_on || self.sim.state() != SimState::Ready {
            return View::Off;
        }
        if self.network.selection == Selection::Deregistered {
            return View::Off;
        }
        self.network.serving().map_or(View::Searching, View::Served)
    }

    /// The link a download sees: up while registered and the network carries data.
    pub(super) fn link(&self, radio_on: bool) -> Link {
        match self.view(radio_on) {
            View::Served(rat) => Link { up: self.network.data, rate: rat.rate() },
            _ => Link { up: false, rate: None },
        }
    }

    /// Answers the commands this module owns (and pushes the registration URCs a change gives
    /// onto `urcs`); `None` for any other. `radio_on`: the module's functional mode.
    pub(super) fn execute(
        &mut self,
        cmd: &Command,
        radio_on: bool,
        urcs: &mut Vec<String>,
    ) -> Option<Response> {
        let before = self.view(radio_on);
        let response = self.dispatch(cmd, radio_on)?;
        urcs.extend(self.registration_urcs(before, self.view(radio_on)));
        Some(response)
    }

    fn dispatch(&mut self, cmd: &Command, radio_on: bool) -> Option<Response> {
        let name = cmd.name.as_str();
        if let Some(&reg) = self.regs().iter().find(|r| r.name() == name) {
            return Some(self.registration(reg, &cmd.op, radio_on));
        }
        let registered = matches!(self.view(radio_on), View::Served(_));
        if let Some(r) = self.pdn.execute(name, &cmd.op, registered) {
            return Some(r);
        }
        let nl668 = self.flavour == Flavour::Nl668;
        Some(match (name, &cmd.op) {
            ("+COPS", Op::Read) => Response::ok().with_line(self.operator(radio_on)),
            ("+COPS", Op::Set(args)) => self.set_operator(args),
            ("+COPS", Op::Test) => Response::ok().with_line(self.operators(radio_on)),
            ("+CESQ", Op::Action) => Response::ok().with_line(self.cesq(radio_on)),
            ("+CESQ", Op::Test) => Response::ok()
                .with_line("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)"),
            ("+CSQ", Op::Action) if nl668 => Response::ok().with_line(match self.visible(radio_on) {
                Some(_) => format!("+CSQ: {},99", self.network.signal),
                None => "+CSQ: 99,99".into(),
            }),
            ("+CSQ", Op::Test) if nl668 => Response::ok().with_line("+CSQ: (0-31,99),(0-7,99)"),
            ("+GTRAT", Op::Set(args)) if nl668 => self.set_rat_mode(args),
            ("+GTRAT", Op::Read) if nl668 => Response::ok().with_line(self.rat_mode()),
            ("+GTRAT", Op::Test) if nl668 => Response::ok().with_line("+GTRAT: (0,2,3,10),(0,2,3),(0,2,3)"),
            ("+CPIN", Op::Read) => self.sim.read(),
            ("+CPIN", Op::Set(args)) => self.sim.enter(args),
            ("+CPIN", Op::Test) => Response::ok(),
            ("+COPS" | "+CESQ" | "+CPIN", _) => Response::error(),
            ("+CSQ" | "+GTRAT", _) if nl668 => Response::error(),
            _ => return None,
        })
    }

    /// The registration URCs for a change from `before` to `after`, for every report mode on:
    /// 27.007 sends one when what that mode shows has changed (`<stat>`; with `<n>` ≥ 2 also
    /// the cell and `<AcT>`).
    pub(super) fn registration_urcs(&self, before: View, after: View) -> Vec<String> {
        self.report
            .iter()
            .filter(|&(_, &n)| n > 0)
            .filter_map(|(&reg, &n)| {
                let now = status(reg, n, after, false);
                (status(reg, n, before, false) != now).then(|| format!("{}: {now}", reg.name()))
            })
            .collect()
    }

    /// The RAT of the cell the module camps on (SIM or not), for the signal answers.
    pub(super) fn visible(&self, radio_on: bool) -> Option<Rat> {
        if radio_on { self.network.serving() } else { None }
    }

    fn regs(&self) -> &'static [Reg] {
        match self.flavour {
            Flavour::Nrf91 => &[Reg::Cereg],
            Flavour::Nl668 => &[Reg::Creg, Reg::Cgreg, Reg::Cereg],
        }
    }

    fn max_report(&self) -> u8 {
        match self.flavour {
            Flavour::Nrf91 => 5,
            Flavour::Nl668 => 2,
        }
    }

    fn registration(&mut self, reg: Reg, op: &Op, radio_on: bool) -> Response {
        let max = self.max_report();
        match op {
            Op::Set(args) => match super::nrf91::single_int(args) {
                Some(n) if (0..=i64::from(max)).contains(&n) => {
                    self.report.insert(reg, n as u8);
                    Response::ok()
                }
                _ => Response::cme(CmeError::INCORRECT_PARAMETERS),
            },
            Op::Read => {
                let n = self.report.get(&reg).copied().unwrap_or(0);
                let view = self.view(radio_on);
                Response::ok().with_line(format!("{}: {}", reg.name(), status(reg, n, view, true)))
            }
            Op::Test => Response::ok().with_line(format!("{}: (0-{max})", reg.name())),
            _ => Response::error(),
        }
    }

    /// `+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>`: the fields of the RAT camped on,
    /// from the `+CSQ` level (see [`super::bench::Stimulus::Signal`]).
    fn cesq(&self, radio_on: bool) -> String {
        let dbm = -113 + 2 * i32::from(self.network.signal);
        let index = |offset: i32, max: i32| (dbm + offset).clamp(0, max);
        match self.visible(radio_on) {
            None => "+CESQ: 99,99,255,255,255,255".into(),
            Some(Rat::Gsm) => format!("+CESQ: {},99,255,255,255,255", index(111, 63)),
            // RSCP: 4 dB under the RSSI (Ec/No of the pilot).
            Some(Rat::Utran) => format!("+CESQ: 99,99,{},{ECNO},255,255", index(121 - 4, 96)),
            // RSRP: 16 dB under the RSSI (one resource element against the whole band).
            Some(_) => format!("+CESQ: 99,99,255,255,{RSRQ},{}", index(141 - 16, 97)),
        }
    }
}

/// `[<n>,]<stat>[,"<tac>","<ci>",<AcT>]`: the location only with `<n>` ≥ 2 while registered.
fn status(reg: Reg, n: u8, view: View, with_n: bool) -> String {
    let stat = reg.stat(view);
    let mut s = if with_n { format!("{n},{stat}") } else { stat.to_string() };
    if let (true, 1, View::Served(rat)) = (n >= 2, stat, view) {
        s.push_str(&format!(",{},{},{}", quote(TAC), quote(CELL_ID), rat.act()));
    }
    s
}

#[cfg(test)]
mod tests;
