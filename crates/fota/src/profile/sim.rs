//! The emulated SIM card: its PIN, PUK and retry counters, and `+CPIN` (3GPP TS 27.007 §8.3).
//!
//! Owns the lock state and the answers of `AT+CPIN`. The counters live on the card, so they
//! survive the module's reboots (a SIM blocked to its PUK stays blocked); a SIM with a PIN asks
//! for it again at every boot. Never logs a PIN or a PUK, and never answers one.

use std::fmt;
use std::str::FromStr;

use atfota_at::{Args, CmeError, Response};

/// The PUK of every emulated SIM (8 digits, as on real cards): what unblocks a SIM after
/// [`PIN_ATTEMPTS`] wrong PINs, with `AT+CPIN="12345678","<newpin>"`.
pub const EMULATED_PUK: &str = "12345678";
/// Wrong PINs in a row that block the SIM to its PUK (3GPP TS 31.101: 3).
pub const PIN_ATTEMPTS: u8 = 3;
/// Wrong PUKs in a row that block the SIM for good (3GPP TS 31.101: 10).
pub const PUK_ATTEMPTS: u8 = 10;

/// A SIM PIN: 4 to 8 decimal digits (3GPP TS 31.101 §9.5). `Copy`, so [`super::Conditions`]
/// stays `Copy`; its `Debug` never shows the digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SimPin {
    digits: [u8; 8],
    len: u8,
}

impl SimPin {
    /// The digits.
    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII digits are stored (checked in `from_str`), so this is UTF-8.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for SimPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimPin(****)")
    }
}

impl FromStr for SimPin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !(4..=8).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a SIM PIN is 4 to 8 decimal digits".into());
        }
        let mut digits = [0u8; 8];
        digits[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Self { digits, len: s.len() as u8 })
    }
}

/// What the SIM asks for before it serves (`AT+CPIN?`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimState {
    /// `READY`: no PIN needed, or it has been entered.
    Ready,
    /// `SIM PIN`: the PIN must be entered.
    Pin,
    /// `SIM PUK`: too many wrong PINs; the PUK and a new PIN must be entered.
    Puk,
    /// Too many wrong PUKs: the SIM is unusable (`+CME ERROR: 13`, SIM failure).
    Blocked,
}

impl SimState {
    /// The `<code>` of `+CPIN:`, or the name of a blocked SIM.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "READY",
            Self::Pin => "SIM PIN",
            Self::Puk => "SIM PUK",
            Self::Blocked => "BLOCKED",
        }
    }

    /// The `+CME ERROR` a PIN-restricted command gets in this state; `None` when ready.
    pub fn restriction(self) -> Option<CmeError> {
        match self {
            Self::Ready => None,
            Self::Pin => Some(CmeError::SIM_PIN_REQUIRED),
            Self::Puk => Some(CmeError::SIM_PUK_REQUIRED),
            Self::Blocked => Some(CmeError::SIM_FAILURE),
        }
    }
}

/// The card.
#[derive(Debug)]
pub(super) struct Sim {
    pin: Option<SimPin>,
    state: SimState,
    pin_left: u8,
    puk_left: u8,
}

impl Sim {
    /// A card with `pin` (none: the SIM needs no PIN), before the first boot.
    pub(super) fn new(pin: Option<SimPin>) -> Self {
        let mut s = Self { pin, state: SimState::Ready, pin_left: PIN_ATTEMPTS, puk_left: PUK_ATTEMPTS };
        s.boot();
        s
    }

    /// A boot powers the card up: a PIN is asked for again; PUK and blocked states stay.
    pub(super) fn boot(&mut self) {
        if self.state == SimState::Ready && self.pin.is_some() {
            self.state = SimState::Pin;
        }
    }

    pub(super) fn state(&self) -> SimState {
        self.state
    }

    /// `AT+CPIN?`.
    pub(super) fn read(&self) -> Response {
        match self.state {
            SimState::Blocked => Response::cme(CmeError::SIM_FAILURE),
            s => Response::ok().with_line(format!("+CPIN: {}", s.name())),
        }
    }

    /// `AT+CPIN="<pin>"` and `AT+CPIN="<puk>","<newpin>"`.
    pub(super) fn enter(&mut self, args: &Args) -> Response {
        let code = |i| args.string(i).ok().flatten().filter(|s: &&str| s.parse::<SimPin>().is_ok());
        let (Some(first), second) = (code(0), code(1)) else {
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        };
        if args.len() > 2 || (args.len() == 2 && second.is_none()) {
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        }
        match (self.state, second) {
            // 27.007: no PIN request pending, so nothing to enter.
            (SimState::Ready, _) => Response::cme(CmeError::OPERATION_NOT_ALLOWED),
            (SimState::Blocked, _) => Response::cme(CmeError::SIM_FAILURE),
            // A new PIN replaces the old one only with the PUK (27.007).
            (SimState::Pin, Some(_)) => Response::cme(CmeError::INCORRECT_PARAMETERS),
            (SimState::Pin, None) => self.enter_pin(first),
            (SimState::Puk, None) => Response::cme(CmeError::SIM_PUK_REQUIRED),
            (SimState::Puk, Some(new_pin)) => self.enter_puk(first, new_pin),
        }
    }

    fn enter_pin(&mut self, pin: &str) -> Response {
        if self.pin.is_some_and(|p| p.as_str() == pin) {
            self.state = SimState::Ready;
            self.pin_left = PIN_ATTEMPTS;
            log::info!("SIM PIN accepted");
            return Response::ok();
        }
        self.pin_left = self.pin_left.saturating_sub(1);
        if self.pin_left == 0 {
            self.state = SimState::Puk;
            log::warn!("wrong SIM PIN, {PIN_ATTEMPTS} in a row: the SIM now needs its PUK");
        } else {
            log::warn!("wrong SIM PIN: {} attempts left", self.pin_left);
        }
        Response::cme(CmeError::INCORRECT_PASSWORD)
    }

    fn enter_puk(&mut self, puk: &str, new_pin: &str) -> Response {
        if puk == EMULATED_PUK {
            self.pin = new_pin.parse().ok();
            self.state = SimState::Ready;
            self.pin_left = PIN_ATTEMPTS;
            self.puk_left = PUK_ATTEMPTS;
            log::info!("SIM PUK accepted: the SIM has a new PIN");
            return Response::ok();
        }
        self.puk_left = self.puk_left.saturating_sub(1);
        if self.puk_left == 0 {
            self.state = SimState::Blocked;
            log::warn!("wrong SIM PUK, {PUK_ATTEMPTS} in a row: the SIM is blocked for good");
        } else {
            log::warn!("wrong SIM PUK: {} attempts left", self.puk_left);
        }
        Response::cme(CmeError::INCORRECT_PASSWORD)
    }
}

#[cfg(test)]
mod tests {
    use atfota_at::{CmeeMode, Op, parse_line};

    use super::*;

    fn cpin(sim: &mut Sim, line: &str) -> String {
        let cmd = parse_line(line).unwrap().remove(0);
        let r = match &cmd.op {
            Op::Read => sim.read(),
            Op::Set(args) => sim.enter(args),
            other => panic!("{other:?}"),
        };
        r.render(CmeeMode::Numeric)
    }

    #[test]
    fn pins_are_4_to_8_digits_and_never_shown() {
        for bad in ["", "123", "123456789", "12a4", " 1234"] {
            assert!(bad.parse::<SimPin>().is_err(), "{bad:?}");
        }
        let pin: SimPin = "0042".parse().unwrap();
        assert_eq!(pin.as_str(), "0042");
        assert!(!format!("{pin:?}").contains("42"));
    }

    #[test]
    fn pin_then_puk_then_blocked() {
        let mut sim = Sim::new(Some("1234".parse().unwrap()));
        assert_eq!(cpin(&mut sim, "AT+CPIN?"), "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"1111\""), "\r\n+CME ERROR: 16\r\n");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"1234\""), "\r\nOK\r\n", "a right PIN resets the count");
        sim.boot();
        for _ in 0..PIN_ATTEMPTS {
            assert_eq!(cpin(&mut sim, "AT+CPIN=\"1111\""), "\r\n+CME ERROR: 16\r\n");
        }
        assert_eq!(cpin(&mut sim, "AT+CPIN?"), "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"1234\""), "\r\n+CME ERROR: 12\r\n");
        sim.boot();
        assert_eq!(sim.state(), SimState::Puk, "the counters live on the card");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"12345678\",\"12\""), "\r\n+CME ERROR: 50\r\n");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"12345678\",\"4321\""), "\r\nOK\r\n");
        sim.boot();
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"1234\""), "\r\n+CME ERROR: 16\r\n", "the old PIN is gone");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"4321\""), "\r\nOK\r\n");
        sim.boot();
        for _ in 0..PIN_ATTEMPTS {
            cpin(&mut sim, "AT+CPIN=\"0000\"");
        }
        for _ in 0..PUK_ATTEMPTS {
            assert_eq!(cpin(&mut sim, "AT+CPIN=\"00000000\",\"1234\""), "\r\n+CME ERROR: 16\r\n");
        }
        assert_eq!(cpin(&mut sim, "AT+CPIN?"), "\r\n+CME ERROR: 13\r\n");
        assert_eq!(cpin(&mut sim, "AT+CPIN=\"12345678\",\"1234\""), "\r\n+CME ERROR: 13\r\n");
    }

    #[test]
    fn malformed_entries_cost_no_attempt() {
        let mut sim = Sim::new(Some("1234".parse().unwrap()));
        for line in
            ["AT+CPIN=1234", "AT+CPIN=\"12\"", "AT+CPIN=\"1234\",\"5678\"", "AT+CPIN=\"1\",\"2\",\"3\""]
        {
            assert_eq!(cpin(&mut sim, line), "\r\n+CME ERROR: 50\r\n", "{line}");
        }
        assert_eq!(sim.pin_left, PIN_ATTEMPTS);
        let mut open = Sim::new(None);
        assert_eq!(cpin(&mut open, "AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
        assert_eq!(cpin(&mut open, "AT+CPIN=\"1234\""), "\r\n+CME ERROR: 3\r\n");
    }
}
