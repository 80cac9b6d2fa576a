//! The device's IMEI (3GPP TS 23.003 §6.2.1): an 8-digit Type Allocation Code, a 6-digit
//! serial number and a Luhn check digit.
//!
//! Owns the IMEI's syntax and check digit only. It must never hold an IMEI whose check digit is
//! wrong: every value is built from its parts or parsed and checked.

use std::fmt;
use std::str::FromStr;

/// Number of digits in an IMEI.
pub const IMEI_LEN: usize = 15;
/// The Type Allocation Code emulated devices use: the one of Nordic's documented example IMEI
/// (`352656100367872`), so host software that looks at the TAC sees an nRF9160.
pub const TAC: &str = "35265610";
/// Serial numbers run from 0 to this, inclusive (6 digits).
pub const MAX_SERIAL: u32 = 999_999;

/// A 15-digit IMEI with a valid check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Imei([u8; IMEI_LEN]);

/// Why a text is not an IMEI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImeiError {
    /// Not 15 decimal digits.
    #[error("an IMEI is 15 decimal digits")]
    Syntax,
    /// The last digit is not the Luhn check digit of the first 14.
    #[error("the IMEI's check digit is wrong: the last digit must be {expected}")]
    CheckDigit {
        /// The digit it should be.
        expected: char,
    },
}

impl Imei {
    /// The IMEI with [`TAC`] and `serial` (0..=[`MAX_SERIAL`]); `None` for a larger serial.
    pub fn from_serial(serial: u32) -> Option<Self> {
        if serial > MAX_SERIAL {
            return None;
        }
        let body = format!("{TAC}{serial:06}");
        let mut digits = [0u8; IMEI_LEN];
        digits[..IMEI_LEN - 1].copy_from_slice(body.as_bytes());
        digits[IMEI_LEN - 1] = check_digit(&digits[..IMEI_LEN - 1]);
        Some(Self(digits))
    }

    /// The 15 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored (from_serial, from_str).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 6-digit serial number (digits 9 to 14).
    pub fn serial(&self) -> &str {
        &self.as_str()[8..14]
    }

    /// The Type Allocation Code (the first 8 digits).
    pub fn tac(&self) -> &str {
        &self.as_str()[..8]
    }
}

impl Default for Imei {
    /// The IMEI of a device that was given none: [`TAC`] and serial 000000.
    fn default() -> Self {
        let mut digits = *b"352656100000000";
        digits[IMEI_LEN - 1] = check_digit(&digits[..IMEI_LEN - 1]);
        Self(digits)
    }
}

impl FromStr for Imei {
    type Err = ImeiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: [u8; IMEI_LEN] = s.as_bytes().try_into().map_err(|_| ImeiError::Syntax)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(ImeiError::Syntax);
        }
        let expected = check_digit(&digits[..IMEI_LEN - 1]);
        if digits[IMEI_LEN - 1] != expected {
            return Err(ImeiError::CheckDigit { expected: char::from(expected) });
        }
        Ok(Self(digits))
    }
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imei({})", self.as_str())
    }
}

/// The Luhn check digit (ASCII) of 14 ASCII digits: from the right, every other digit starting
/// with the last is doubled (23.003 Annex B).
fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 { (d * 2) / 10 + (d * 2) % 10 } else { d }
        })
        .sum();
    // The result is below 10, so the narrowing cannot lose bits.
    b'0' + ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn nordics_example_checks_out() {
        let imei: Imei = "352656100367872".parse().unwrap();
        assert_eq!(imei.tac(), TAC);
        assert_eq!(imei.serial(), "036787");
        assert_eq!(Imei::from_serial(36787), Some(imei));
        assert_eq!("352656100367873".parse::<Imei>(), Err(ImeiError::CheckDigit { expected: '2' }));
    }

    #[test]
    fn other_known_imeis() {
        // Published examples with valid check digits.
        for ok in ["490154203237518", "352656100885188", "356938035643809"] {
            assert!(ok.parse::<Imei>().is_ok(), "{ok}");
        }
        for bad in ["", "35265610036787", "3526561003678722", "35265610036787x", "-52656100367872"] {
            assert_eq!(bad.parse::<Imei>(), Err(ImeiError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn serial_bounds_and_default() {
        assert!(Imei::from_serial(MAX_SERIAL).is_some());
        assert_eq!(Imei::from_serial(MAX_SERIAL + 1), None);
        assert_eq!(Some(Imei::default()), Imei::from_serial(0));
        assert_eq!(Imei::default().as_str(), "352656100000002", "the documented default");
        assert_eq!(Imei::default().to_string().parse(), Ok(Imei::default()));
    }

    proptest! {
        #[test]
        fn every_serial_round_trips(serial in 0..=MAX_SERIAL) {
            let imei = Imei::from_serial(serial).unwrap();
            prop_assert_eq!(imei.to_string().parse::<Imei>(), Ok(imei));
            prop_assert_eq!(imei.serial().parse::<u32>().ok(), Some(serial));
        }

        #[test]
        fn one_changed_digit_is_caught(serial in 0..=MAX_SERIAL, pos in 0usize..IMEI_LEN, delta in 1u8..10) {
            let mut text = Imei::from_serial(serial).unwrap().to_string().into_bytes();
            text[pos] = b'0' + (text[pos] - b'0' + delta) % 10;
            let text = String::from_utf8(text).unwrap();
            prop_assert!(text.parse::<Imei>().is_err(), "{}", text);
        }
    }
}
