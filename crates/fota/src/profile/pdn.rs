//! PDN contexts: `+CGDCONT` (define, remove, list) and `+CGACT` (activate, list), and the APN a
//! download goes over.
//!
//! Owns the contexts (RAM, back to the default context alone at every boot, as on the real
//! modules). The default context carries the APN the network assigns on attach. It never
//! decides whether the device is registered: the caller says.

use std::collections::BTreeMap;

use atfota_at::{Args, CmeError, Op, Response, quote};

/// The default bearer's APN, assigned by the network on attach.
pub(super) const DEFAULT_APN: &str = "internet.test";
/// Highest `<cid>` (the nRF9160 allows 0..=11; the NL668 emulation uses the same range).
const MAX_CID: u32 = 11;

/// One PDN context.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Context {
    pdp_type: String,
    apn: String,
    active: bool,
}

/// One context as the status report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdn {
    /// `<cid>`.
    pub cid: u32,
    /// `<APN>`; empty: the network's default.
    pub apn: String,
    /// Active (`+CGACT: <cid>,1`).
    pub active: bool,
}

/// The contexts of one device.
#[derive(Debug)]
pub(super) struct Contexts {
    default_cid: u32,
    map: BTreeMap<u32, Context>,
}

impl Contexts {
    /// The default context alone, numbered `default_cid` (0 on the nRF9160, 1 on the NL668).
    pub(super) fn new(default_cid: u32) -> Self {
        let mut s = Self { default_cid, map: BTreeMap::new() };
        s.boot();
        s
    }

    pub(super) fn boot(&mut self) {
        self.map.clear();
        let default = Context { pdp_type: "IP".into(), apn: DEFAULT_APN.into(), active: true };
        self.map.insert(self.default_cid, default);
    }

    /// `+CGDCONT` and `+CGACT`; `registered`: the device has a network for data.
    pub(super) fn execute(&mut self, name: &str, op: &Op, registered: bool) -> Option<Response> {
        Some(match (name, op) {
            ("+CGDCONT", Op::Read) => self.map.iter().fold(Response::ok(), |r, (cid, c)| {
                r.with_line(format!("+CGDCONT: {cid},{},{},\"\",0,0", quote(&c.pdp_type), quote(&c.apn)))
            }),
            ("+CGDCONT", Op::Set(args)) => self.define(args),
            ("+CGDCONT", Op::Test) => {
                Response::ok().with_line("+CGDCONT: (0-11),(\"IP\",\"IPV6\",\"IPV4V6\")")
            }
            ("+CGACT", Op::Read) => self.map.iter().fold(Response::ok(), |r, (cid, c)| {
                r.with_line(format!("+CGACT: {cid},{}", u8::from(registered && c.active)))
            }),
            ("+CGACT", Op::Set(args)) => self.activate(args, registered),
            ("+CGACT", Op::Test) => Response::ok().with_line("+CGACT: (0,1)"),
            ("+CGDCONT" | "+CGACT", _) => Response::error(),
            _ => return None,
        })
    }

    /// The PDN a download over `apn` uses: the default bearer for the network's APN (or an
    /// empty one), a defined context for its APN (activated now, as the modem does to
    /// download over it). APNs compare without regard to case (3GPP TS 23.003 §9.1).
    pub(super) fn open(&mut self, apn: &str) -> Result<u32, String> {
        if apn.is_empty() || apn.eq_ignore_ascii_case(DEFAULT_APN) {
            return Ok(self.default_cid);
        }
        match self.map.iter_mut().find(|(_, c)| c.apn.eq_ignore_ascii_case(apn)) {
            Some((cid, c)) => {
                c.active = true;
                Ok(*cid)
            }
            None => Err(format!(
                "APN {apn:?} is neither defined (AT+CGDCONT=<cid>,\"IP\",\"{apn}\") nor the network's \
                 default ({DEFAULT_APN:?}): no PDN to download over"
            )),
        }
    }

    /// The contexts for a status report; `registered` as for `+CGACT?`.
    pub(super) fn list(&self, registered: bool) -> Vec<Pdn> {
        self.map
            .iter()
            .map(|(cid, c)| Pdn { cid: *cid, apn: c.apn.clone(), active: registered && c.active })
            .collect()
    }

    /// `AT+CGDCONT=<cid>[,"<PDP_type>","<APN>"]`: defines a context, or with `<cid>` alone
    /// removes it (the default context cannot be removed).
    fn define(&mut self, args: &Args) -> Response {
        let Some(cid) =
            args.int(0).ok().flatten().and_then(|c| u32::try_from(c).ok()).filter(|&c| c <= MAX_CID)
        else {
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        };
        if args.len() == 1 {
            if cid == self.default_cid {
                return Response::cme(CmeError::OPERATION_NOT_ALLOWED);
            }
            self.map.remove(&cid);
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
                let active = cid == self.default_cid;
                self.map.insert(cid, Context { pdp_type: t, apn, active });
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
        match self.map.get_mut(&cid) {
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
    use super::*;

    #[test]
    fn a_download_apn_must_be_the_default_or_defined() {
        let mut c = Contexts::new(0);
        assert_eq!(c.open(""), Ok(0));
        assert_eq!(c.open("INTERNET.test"), Ok(0));
        let err = c.open("iot.example").unwrap_err();
        assert!(err.contains("AT+CGDCONT") && err.contains("iot.example"), "{err}");
        let args = atfota_at::parse_line("AT+CGDCONT=3,\"IP\",\"iot.example\"").unwrap().remove(0);
        let Op::Set(args) = args.op else { panic!() };
        assert_eq!(c.define(&args), Response::ok());
        assert_eq!(c.list(true)[1], Pdn { cid: 3, apn: "iot.example".into(), active: false });
        assert_eq!(c.open("iot.example"), Ok(3));
        assert!(c.list(true)[1].active, "opened for the download");
        assert!(!c.list(false)[1].active, "nothing is active without a network");
        c.boot();
        assert!(c.open("iot.example").is_err(), "contexts live in RAM");
    }
}
