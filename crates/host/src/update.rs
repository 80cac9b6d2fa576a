//! URC filters for [`crate::Session`], one per profile, read through the host's one
//! vocabulary (the private `wire` module) so that no URC text is written here.

use crate::request::Profile;
use crate::wire;

/// URC filter of the Nordic SLM profile: `#XFOTA: <stage>,<status>[,<info>]` and `Ready`.
pub fn slm_urc(line: &str) -> bool {
    wire::parse_urc(Profile::Nrf9160Slm, line).is_some()
}

/// URC filter of the Fibocom NL668 profile: `GTOTA ...`, `RDY`, `RING`.
pub fn nl668_urc(line: &str) -> bool {
    wire::parse_urc(Profile::Nl668, line).is_some()
}
