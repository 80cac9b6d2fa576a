//! The MCUboot image version `major.minor.revision+build` and its text form.
//!
//! Owns parsing and printing with imgtool's grammar (`--version`): later parts optional, no
//! leading zeros. It must never accept a number that does not fit its header field.

use std::fmt;
use std::str::FromStr;

use crate::ImageError;

/// An image version as stored in the MCUboot header; orders like MCUboot compares versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageVersion {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
    /// Revision number.
    pub revision: u16,
    /// Build number; printed after `+` when non-zero.
    pub build: u32,
}

impl fmt::Display for ImageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)?;
        if self.build != 0 {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl FromStr for ImageVersion {
    type Err = ImageError;

    /// Parses `1`, `1.2`, `1.2.3` or `1.2.3+4`, like `imgtool sign --version`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).ok_or_else(|| ImageError::Version { input: s.to_owned() })
    }
}

fn parse(s: &str) -> Option<ImageVersion> {
    // imgtool only allows a build number after a full major.minor.revision.
    let (dotted, build) = match s.split_once('+') {
        Some((dotted, build)) => (dotted, Some(build)),
        None => (s, None),
    };
    let mut parts = dotted.split('.');
    let major = number(parts.next()?)?;
    let minor = parts.next().map(number).unwrap_or(Some(0))?;
    let revision = parts.next().map(number).unwrap_or(Some(0))?;
    if parts.next().is_some() || (build.is_some() && dotted.matches('.').count() != 2) {
        return None;
    }
    let build = build.map(number).unwrap_or(Some(0))?;
    Some(ImageVersion {
        major: u8::try_from(major).ok()?,
        minor: u8::try_from(minor).ok()?,
        revision: u16::try_from(revision).ok()?,
        build: u32::try_from(build).ok()?,
    })
}

/// A decimal number without sign or leading zeros, as imgtool's regex `[1-9]\d*|0` wants.
fn number(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v(major: u8, minor: u8, revision: u16, build: u32) -> ImageVersion {
        ImageVersion { major, minor, revision, build }
    }

    #[test]
    fn display_omits_zero_build() {
        assert_eq!(v(1, 2, 3, 0).to_string(), "1.2.3");
        assert_eq!(v(1, 2, 3, 4).to_string(), "1.2.3+4");
        assert_eq!(v(255, 255, 65535, u32::MAX).to_string(), "255.255.65535+4294967295");
    }

    #[test]
    fn parses_imgtool_forms() {
        assert_eq!("1".parse::<ImageVersion>().unwrap(), v(1, 0, 0, 0));
        assert_eq!("1.2".parse::<ImageVersion>().unwrap(), v(1, 2, 0, 0));
        assert_eq!("1.2.3".parse::<ImageVersion>().unwrap(), v(1, 2, 3, 0));
        assert_eq!("1.2.3+4".parse::<ImageVersion>().unwrap(), v(1, 2, 3, 4));
        assert_eq!("0.0.0+0".parse::<ImageVersion>().unwrap(), v(0, 0, 0, 0));
    }

    #[test]
    fn rejects_what_imgtool_rejects_or_cannot_store() {
        for bad in [
            "",
            "1.",
            ".1",
            "1..2",
            "1.2.3.4",
            "1.2+3",
            "1+3",
            "01.2.3",
            "1.02.3",
            "1.2.3+04",
            "-1.2.3",
            "+1.2.3",
            "1.2.3+",
            "a.b.c",
            " 1.2.3",
            "256.0.0",
            "0.256.0",
            "0.0.65536",
            "0.0.0+4294967296",
            "99999999999999999999999",
        ] {
            let err = bad.parse::<ImageVersion>().unwrap_err();
            assert!(matches!(err, ImageError::Version { .. }), "{bad:?} gave {err}");
        }
    }

    #[test]
    fn orders_like_mcuboot() {
        assert!(v(1, 2, 3, 4) < v(1, 2, 4, 0));
        assert!(v(1, 9, 9, 9) < v(2, 0, 0, 0));
        assert!(v(1, 2, 3, 4) < v(1, 2, 3, 5));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(major: u8, minor: u8, revision: u16, build: u32) {
            let version = v(major, minor, revision, build);
            prop_assert_eq!(version.to_string().parse::<ImageVersion>().unwrap(), version);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<ImageVersion>();
        }
    }
}
