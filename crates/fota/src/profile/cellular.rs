//! The cellular state a host checks before it starts a download: network registration
//! (`+CEREG`, and on the NL668 also `+CREG` and `+CGREG`), the operator (`+COPS`), the signal
//! (`+CESQ`, and `+CSQ` on the NL668), PDN contexts (`+CGDCONT`, `+CGACT`) and the SIM
//! (`+CPIN`), in the syntax of 3GPP TS 27.007.
//!
//! Owns those answers and the RAM state behind them (report modes and contexts go back to their
//! defaults at every boot, as on the real modules). The emulated network is one LTE cell of the
//! 3GPP test network (PLMN 001-01) with a good signal, and the SIM needs no PIN; the device is
//! registered exactly while its radio is on (`+CFUN: 1` on the nRF9160, always on the NL668).
//! Changing the network while a device runs is not built yet (a control channel would drive it).

use std::collections::BTreeMap;

use atfota_at::{Args, CmeError, Command, Op, Response, quote};

use super::nrf91::single_int;

/// The network's numeric PLMN (3GPP test network).
const PLMN: &str = "00101";
/// Its long alphanumeric name.
const OPERATOR: &str = "Test Network";
/// Tracking area code and cell identity of the one cell, as hex strings (27.007 `<tac>`, `<ci>`).
const TAC: &str = "002F";
const CELL_ID: &str = "0012BEEF";
/// Access technology `<AcT>` of the cell: 7, E-UTRAN (LTE).
const ACT_LTE: u8 = 7;
/// `+CESQ` values of the cell: RSRQ index 28 (-6 dB) and RSRP index 62 (-79 dBm).
const RSRQ: u8 = 28;
const RSRP: u8 = 62;
/// `+CSQ` RSSI index of the cell (-63 dBm).
const RSSI: u8 = 25;
/// The default bearer's APN, assigned by the network on attach.
const DEFAULT_APN: &str = "internet.test";

/// Which module's variant of the commands to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavour {
    /// nRF9160: `+CEREG` 0..5, default context 0, no `+CREG`/`+CGREG`/`+CSQ`.
    Nrf91,
    /// NL668: `+CREG`/`+CGREG`/`+CEREG` 0..2, default context 1, `+CSQ`.
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
}

/// One PDN context (`+CGDCONT`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Context {
    pdp_type: String,
    apn: String,
    active: bool,
}

/// The cellular state of one device.
#[derive(Debug)]
pub(super) struct Cellular {
    flavour: Flavour,
    report: BTreeMap<Reg, u8>,
    contexts: BTreeMap<u32, Context>,
    /// `+COPS` `<format>`: 0 long alphanumeric, 1 short, 2 numeric.
    cops_format: u8,
}

impl Cellular {
    /// The state after power-on.
    pub(super) fn new(flavour: Flavour) -> Self {
        let mut s = Self { flavour, report: BTreeMap::new(), contexts: BTreeMap::new(), cops_format: 0 };
        s.boot();
        s
    }

    /// A boot: report modes off, only the default context, the format the module starts with.
    pub(super) fn boot(&mut self) {
        self.report.clear();
        self.contexts.clear();
        self.contexts.insert(
            self.default_cid(),
            Context { pdp_type: "IP".into(), apn: DEFAULT_APN.into(), active: true },
        );
        self.cops_format = match self.flavour {
            Flavour::Nrf91 => 2,
            Flavour::Nl668 => 0,
        };
    }

    fn default_cid(&self) -> u32 {
        match self.flavour {
            Flavour::Nrf91 => 0,
            Flavour::Nl668 => 1,
        }
    }

    fn regs(&self) -> &'static [Reg] {
        match self.flavour {
            Flavour::Nrf91 => &[Reg::Cereg],
            Flavour::Nl668 => &[Reg::Creg, Reg::Cgreg, Reg::Cereg],
        }
    }

    fn max_report(&self, reg: Reg) -> u8 {
        match (self.flavour, reg) {
            (Flavour::Nrf91, _) => 5,
            (Flavour::Nl668, _) => 2,
        }
    }

    /// Answers the commands this module owns; `None` for any other. `registered`: the radio is
    /// on (the one cell is always there).
    pub(super) fn execute(&mut self, cmd: &Command, registered: bool) -> Option<Response> {
        let name = cmd.name.as_str();
        if let Some(&reg) = self.regs().iter().find(|r| r.name() == name) {
            return Some(self.registration(reg, &cmd.op, registered));
        }
        let csq = self.flavour == Flavour::Nl668;
        Some(match (name, &cmd.op) {
            ("+COPS", Op::Read) => Response::ok().with_line(self.operator(registered)),
            ("+COPS", Op::Set(args)) => self.set_operator(args),
            ("+COPS", Op::Test) => Response::ok().with_line(format!(
                "+COPS: (2,{},{},{},{ACT_LTE}),,(0-4),(0-2)",
                quote(OPERATOR),
                quote(OPERATOR),
                quote(PLMN)
            )),
            ("+CESQ", Op::Action) => Response::ok().with_line(if registered {
                format!("+CESQ: 99,99,255,255,{RSRQ},{RSRP}")
            } else {
                "+CESQ: 99,99,255,255,255,255".to_string()
            }),
            ("+CESQ", Op::Test) => Response::ok()
                .with_line("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)"),
            ("+CSQ", Op::Action) if csq => Response::ok().with_line(if registered {
                format!("+CSQ: {RSSI},99")
            } else {
                "+CSQ: 99,99".into()
            }),
            ("+CSQ", Op::Test) if csq => Response::ok().with_line("+CSQ: (0-31,99),(0-7,99)"),
            ("+CGDCONT", Op::Read) => self.contexts.iter().fold(Response::ok(), |r, (cid, c)| {
                r.with_line(format!("+CGDCONT: {cid},{},{},\"\",0,0", quote(&c.pdp_type), quote(&c.apn)))
            }),
            ("+CGDCONT", Op::Set(args)) => self.define_context(args),
            ("+CGDCONT", Op::Test) => {
                Response::ok().with_line("+CGDCONT: (0-11),(\"IP\",\"IPV6\",\"IPV4V6\")")
            }
            ("+CGACT", Op::Read) => self.contexts.iter().fold(Response::ok(), |r, (cid, c)| {
                r.with_line(format!("+CGACT: {cid},{}", u8::from(registered && c.active)))
            }),
            ("+CGACT", Op::Set(args)) => self.activate(args, registered),
            ("+CGACT", Op::Test) => Response::ok().with_line("+CGACT: (0,1)"),
            ("+CPIN", Op::Read) => Response::ok().with_line("+CPIN: READY"),
            // No PIN is required, so there is none to enter (27.007: operation not allowed).
            ("+CPIN", Op::Set(_)) => Response::cme(CmeError::OPERATION_NOT_ALLOWED),
            ("+CPIN", Op::Test) => Response::ok(),
            ("+COPS" | "+CESQ" | "+CGDCONT" | "+CGACT" | "+CPIN", _) => Response::error(),
            ("+CSQ", _) if csq => Response::error(),
            _ => return None,
        })
    }

    /// The registration URCs a change of the radio gives (`+CFUN`), for every report mode on.
    pub(super) fn radio_changed(&self, registered: bool) -> Vec<String> {
        self.report
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(&reg, &n)| format!("{}: {}", reg.name(), self.status(reg, n, registered, false)))
            .collect()
    }

    fn registration(&mut self, reg: Reg, op: &Op, registered: bool) -> Response {
        let max = self.max_report(reg);
        match op {
            Op::Set(args) => match single_int(args) {
                Some(n) if (0..=i64::from(max)).contains(&n) => {
                    self.report.insert(reg, n as u8);
                    Response::ok()
                }
                _ => Response::cme(CmeError::INCORRECT_PARAMETERS),
            },
            Op::Read => {
                let n = self.report.get(&reg).copied().unwrap_or(0);
                Response::ok().with_line(format!("{}: {}", reg.name(), self.status(reg, n, registered, true)))
            }
            Op::Test => Response::ok().with_line(format!("{}: (0-{max})", reg.name())),
            _ => Response::error(),
        }
    }

    /// `[<n>,]<stat>[,"<tac>","<ci>",<AcT>]`: the location only with `<n>` ≥ 2 while registered.
    fn status(&self, _reg: Reg, n: u8, registered: bool, with_n: bool) -> String {
        // 1: registered, home network; 0: not registered, not searching (radio off).
        let stat = u8::from(registered);
        let mut s = if with_n { format!("{n},{stat}") } else { stat.to_string() };
        if n >= 2 && registered {
            s.push_str(&format!(",{},{},{ACT_LTE}", quote(TAC), quote(CELL_ID)));
        }
        s
    }

    fn operator(&self, registered: bool) -> String {
        if !registered {
            return "+COPS: 0".into();
        }
        let name = if self.cops_format == 2 { PLMN } else { OPERATOR };
        format!("+COPS: 0,{},{},{ACT_LTE}", self.cops_format, quote(name))
    }

    /// `AT+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]`: automatic selection (0) and setting the
    /// format (3) are what the one-cell network supports.
    fn set_operator(&mut self, args: &Args) -> Response {
        let mode = args.int(0).ok().flatten();
        let format = args.int(1).ok().flatten();
        match (mode, format) {
            (Some(0), None) if args.len() == 1 => Response::ok(),
            (Some(3), Some(f @ 0..=2)) if args.len() == 2 => {
                self.cops_format = f as u8;
                Response::ok()
            }
            _ => Response::cme(CmeError::INCORRECT_PARAMETERS),
        }
    }

    /// `AT+CGDCONT=<cid>[,"<PDP_type>","<APN>"]`: defines a context, or with `<cid>` alone
    /// removes it (the default context cannot be removed).
    fn define_context(&mut self, args: &Args) -> Response {
        let Some(cid) = args.int(0).ok().flatten().and_then(|c| u32::try_from(c).ok()).filter(|&c| c <= 11)
        else {
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        };
        if args.len() == 1 {
            if cid == self.default_cid() {
                return Response::cme(CmeError::OPERATION_NOT_ALLOWED);
            }
            self.contexts.remove(&cid);
            return Response::ok();
        }
        let pdp_type = args.string(1).ok().flatten().map(str::to_string);
        let apn = if args.len() > 2 {
            args.string(2).ok().flatten().map(str::to_string)
        } else {
            Some(String::new())
        };
        match (pdp_type, apn) {
            (Some(t), Some(apn)) if ["IP", "IPV6", "IPV4V6"].contains(&t.as_str()) && args.len() <= 3 => {
                let active = cid == self.default_cid();
                self.contexts.insert(cid, Context { pdp_type: t, apn, active });
                Response::ok()
            }
            _ => Response::cme(CmeError::INCORRECT_PARAMETERS),
        }
    }

    /// `AT+CGACT=<state>,<cid>`: activation needs the network and a defined context.
    fn activate(&mut self, args: &Args, registered: bool) -> Response {
        let state = args.int(0).ok().flatten();
        let cid = args.int(1).ok().flatten().and_then(|c| u32::try_from(c).ok());
        let (Some(state @ 0..=1), Some(cid), 2) = (state, cid, args.len()) else {
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        };
        if state == 1 && !registered {
            return Response::cme(CmeError::NO_NETWORK_SERVICE);
        }
        match self.contexts.get_mut(&cid) {
            Some(c) => {
                c.active = state == 1;
                Response::ok()
            }
            None => Response::cme(CmeError::INCORRECT_PARAMETERS),
        }
    }
}

#[cfg(test)]
mod tests {
    use atfota_at::{CmeeMode, parse_line};

    use super::*;

    fn run(state: &mut Cellular, line: &str, registered: bool) -> String {
        let cmd = parse_line(line).unwrap().remove(0);
        state.execute(&cmd, registered).map_or("none".into(), |r| r.render(CmeeMode::Numeric))
    }

    #[test]
    fn nrf91_answers() {
        let mut s = Cellular::new(Flavour::Nrf91);
        let online = [
            ("AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
            ("AT+CEREG=5", "\r\nOK\r\n"),
            ("AT+CEREG?", "\r\n+CEREG: 5,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n"),
            ("AT+CEREG=6", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CEREG=?", "\r\n+CEREG: (0-5)\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,2,\"00101\",7\r\n\r\nOK\r\n"),
            ("AT+COPS=3,0", "\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,0,\"Test Network\",7\r\n\r\nOK\r\n"),
            ("AT+COPS=1,2,\"00102\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CESQ", "\r\n+CESQ: 99,99,255,255,28,62\r\n\r\nOK\r\n"),
            ("AT+CSQ", "none"),
            ("AT+CREG?", "none"),
            ("AT+CGDCONT?", "\r\n+CGDCONT: 0,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n"),
            ("AT+CGDCONT=1,\"IP\",\"apn.example\"", "\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 1,0\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,1", "\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 1,1\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,7", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGDCONT=0", "\r\n+CME ERROR: 3\r\n"),
            ("AT+CGDCONT=1", "\r\nOK\r\n"),
            ("AT+CGDCONT=12,\"IP\",\"x\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGDCONT=2,\"X25\",\"x\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
            ("AT+CPIN=\"1234\"", "\r\n+CME ERROR: 3\r\n"),
            ("AT+CGMI", "none"),
        ];
        for (line, want) in online {
            assert_eq!(run(&mut s, line, true), want, "{line}");
        }
        let offline = [
            ("AT+CEREG?", "\r\n+CEREG: 5,0\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0\r\n\r\nOK\r\n"),
            ("AT+CESQ", "\r\n+CESQ: 99,99,255,255,255,255\r\n\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,0\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,0", "\r\n+CME ERROR: 30\r\n"),
        ];
        for (line, want) in offline {
            assert_eq!(run(&mut s, line, false), want, "{line}");
        }
        assert_eq!(s.radio_changed(true), ["+CEREG: 1,\"002F\",\"0012BEEF\",7"]);
        assert_eq!(s.radio_changed(false), ["+CEREG: 0"]);
        s.boot();
        assert!(s.radio_changed(true).is_empty(), "report modes are off after a boot");
        assert_eq!(
            run(&mut s, "AT+CGDCONT?", true),
            "\r\n+CGDCONT: 0,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n"
        );
    }

    #[test]
    fn nl668_answers() {
        let mut s = Cellular::new(Flavour::Nl668);
        let cases = [
            ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
            ("AT+CGREG=2", "\r\nOK\r\n"),
            ("AT+CGREG?", "\r\n+CGREG: 2,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n"),
            ("AT+CEREG=3", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CEREG=?", "\r\n+CEREG: (0-2)\r\n\r\nOK\r\n"),
            ("AT+CSQ", "\r\n+CSQ: 25,99\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,0,\"Test Network\",7\r\n\r\nOK\r\n"),
            ("AT+CGDCONT?", "\r\n+CGDCONT: 1,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut s, line, true), want, "{line}");
        }
    }
}
