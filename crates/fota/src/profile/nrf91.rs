//! The nRF91 modem commands the Serial LTE Modem passes through: `+CFUN` (functional mode) and
//! `+CGSN` (IMEI), and the state behind them.
//!
//! Owns the functional mode (kept in RAM, back to the boot default at every boot, as on the real
//! modem) and the answers of both commands. It must never persist the mode, and never report an
//! IMEI other than the one the device was made with.

use atfota_at::{Args, CmeError, Command, Op, Response, quote};

use super::Conditions;
use crate::imei::Imei;

/// `AT+CFUN=?`: the modes the emulation has (Nordic's modem lists more, see the AT reference).
const CFUN_TEST: &str = "+CFUN: (0,1,4)";
/// `AT+CGSN=?`: the `<snt>` values (27.007 §5.4).
const CGSN_TEST: &str = "+CGSN: (0-3)";
/// Software version number: the last two digits of the IMEISV (`AT+CGSN=2`, `=3`).
const SVN: &str = "35";

/// The modem's functional mode (`+CFUN=<fun>`), as far as the emulation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FunctionalMode {
    /// 0: minimum functionality (radio off). How the real modem boots.
    Minimum,
    /// 1: normal operation (online). How the emulated modem boots unless told otherwise.
    Normal,
    /// 4: flight mode (radio off, SIM on).
    Flight,
}

impl FunctionalMode {
    /// The `<fun>` number.
    pub fn code(self) -> u8 {
        match self {
            Self::Minimum => 0,
            Self::Normal => 1,
            Self::Flight => 4,
        }
    }

    /// Online: downloads may run; credentials may not be written or deleted.
    pub fn is_online(self) -> bool {
        self == Self::Normal
    }

    fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Minimum),
            1 => Some(Self::Normal),
            4 => Some(Self::Flight),
            _ => None,
        }
    }
}

/// What a `+CFUN` set command changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ModeChange {
    /// Nothing (another command, or the same mode).
    None,
    /// The modem left normal operation: a running download loses its network.
    WentOffline,
}

/// The modem side of the device: identity and functional mode.
#[derive(Debug)]
pub(super) struct Radio {
    imei: Imei,
    boot_mode: FunctionalMode,
    mode: FunctionalMode,
}

impl Radio {
    /// The state after power-on under `conditions`.
    pub(super) fn new(conditions: &Conditions) -> Self {
        let boot_mode =
            if conditions.boot_offline { FunctionalMode::Minimum } else { FunctionalMode::Normal };
        Self { imei: conditions.imei.unwrap_or_default(), boot_mode, mode: boot_mode }
    }

    /// A boot: the mode goes back to the boot default.
    pub(super) fn boot(&mut self) {
        self.mode = self.boot_mode;
    }

    /// The current functional mode.
    pub(super) fn mode(&self) -> FunctionalMode {
        self.mode
    }

    /// Answers `+CFUN` and `+CGSN`; `None` for any other command.
    pub(super) fn execute(&mut self, cmd: &Command) -> Option<(Response, ModeChange)> {
        let unchanged = |r| Some((r, ModeChange::None));
        match (cmd.name.as_str(), &cmd.op) {
            ("+CFUN", Op::Set(args)) => Some(self.set_mode(args)),
            ("+CFUN", Op::Read) => {
                unchanged(Response::ok().with_line(format!("+CFUN: {}", self.mode.code())))
            }
            ("+CFUN", Op::Test) => unchanged(Response::ok().with_line(CFUN_TEST)),
            ("+CGSN", Op::Action) => unchanged(self.serial_number(0)),
            ("+CGSN", Op::Set(args)) => match single_int(args) {
                Some(snt) => unchanged(self.serial_number(snt)),
                None => unchanged(Response::cme(CmeError::INCORRECT_PARAMETERS)),
            },
            ("+CGSN", Op::Test) => unchanged(Response::ok().with_line(CGSN_TEST)),
            ("+CFUN" | "+CGSN", _) => unchanged(Response::error()),
            _ => None,
        }
    }

    fn set_mode(&mut self, args: &Args) -> (Response, ModeChange) {
        let Some(mode) = single_int(args).and_then(FunctionalMode::from_code) else {
            log::warn!("AT+CFUN refused: the emulated modem has modes 0, 1 and 4");
            return (Response::cme(CmeError::INCORRECT_PARAMETERS), ModeChange::None);
        };
        let was_online = std::mem::replace(&mut self.mode, mode).is_online();
        log::info!("functional mode {} (+CFUN)", mode.code());
        let change = if was_online && !mode.is_online() { ModeChange::WentOffline } else { ModeChange::None };
        (Response::ok(), change)
    }

    /// `+CGSN=<snt>`: 0 the serial number (the IMEI, alone), 1 the IMEI, 2 the IMEISV,
    /// 3 the SVN; the last three as `+CGSN: "<value>"`.
    fn serial_number(&self, snt: i64) -> Response {
        let value = match snt {
            0 => return Response::ok().with_line(self.imei.as_str()),
            1 => self.imei.to_string(),
            2 => format!("{}{}{SVN}", self.imei.tac(), self.imei.serial()),
            3 => SVN.to_string(),
            _ => return Response::cme(CmeError::INCORRECT_PARAMETERS),
        };
        Response::ok().with_line(format!("+CGSN: {}", quote(&value)))
    }
}

/// The one integer of a set command with exactly one parameter.
pub(super) fn single_int(args: &Args) -> Option<i64> {
    match args.int(0) {
        Ok(Some(n)) if args.len() == 1 => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use atfota_at::{CmeeMode, parse_line};

    use super::*;

    fn run(state: &mut Radio, line: &str) -> String {
        let cmd = parse_line(line).unwrap().remove(0);
        state.execute(&cmd).map_or("none".into(), |(r, _)| r.render(CmeeMode::Numeric))
    }

    #[test]
    fn cfun_and_cgsn_answers() {
        let imei = Imei::from_serial(36787);
        let mut s = Radio::new(&Conditions { imei, ..Conditions::default() });
        let cases = [
            ("AT+CFUN?", "\r\n+CFUN: 1\r\n\r\nOK\r\n"),
            ("AT+CFUN=4", "\r\nOK\r\n"),
            ("AT+CFUN?", "\r\n+CFUN: 4\r\n\r\nOK\r\n"),
            ("AT+CFUN=0", "\r\nOK\r\n"),
            ("AT+CFUN?", "\r\n+CFUN: 0\r\n\r\nOK\r\n"),
            ("AT+CFUN=2", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CFUN=1,1", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CFUN=\"1\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CFUN=", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CFUN", "\r\nERROR\r\n"),
            ("AT+CFUN=?", "\r\n+CFUN: (0,1,4)\r\n\r\nOK\r\n"),
            ("AT+CGSN", "\r\n352656100367872\r\n\r\nOK\r\n"),
            ("AT+CGSN=0", "\r\n352656100367872\r\n\r\nOK\r\n"),
            ("AT+CGSN=1", "\r\n+CGSN: \"352656100367872\"\r\n\r\nOK\r\n"),
            ("AT+CGSN=2", "\r\n+CGSN: \"3526561003678735\"\r\n\r\nOK\r\n"),
            ("AT+CGSN=3", "\r\n+CGSN: \"35\"\r\n\r\nOK\r\n"),
            ("AT+CGSN=4", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGSN=1,1", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGSN?", "\r\nERROR\r\n"),
            ("AT+CGSN=?", "\r\n+CGSN: (0-3)\r\n\r\nOK\r\n"),
            ("AT+CGMI", "none"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut s, line), want, "{line}");
        }
    }

    #[test]
    fn boot_restores_the_boot_mode() {
        let mut online = Radio::new(&Conditions::default());
        assert_eq!(online.mode(), FunctionalMode::Normal);
        let cmd = parse_line("AT+CFUN=4").unwrap().remove(0);
        assert_eq!(online.execute(&cmd).map(|(_, c)| c), Some(ModeChange::WentOffline));
        assert_eq!(online.execute(&cmd).map(|(_, c)| c), Some(ModeChange::None), "already offline");
        online.boot();
        assert_eq!(online.mode(), FunctionalMode::Normal);

        let mut offline = Radio::new(&Conditions { boot_offline: true, ..Conditions::default() });
        assert_eq!(offline.mode(), FunctionalMode::Minimum);
        let cmd = parse_line("AT+CFUN=1").unwrap().remove(0);
        assert_eq!(offline.execute(&cmd).map(|(_, c)| c), Some(ModeChange::None));
        assert!(offline.mode().is_online());
        offline.boot();
        assert_eq!(offline.mode(), FunctionalMode::Minimum);
    }
}
