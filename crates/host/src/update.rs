//! URC filters for [`crate::Session`], one per profile, read through the shared AT vocabulary
//! (`atfota-vocab`) so that no URC text is written here.

use atfota_vocab::{nl668, slm};

/// URC filter of the Nordic SLM profile: `#XFOTA: <stage>,<status>[,<info>]` and `Ready`.
pub fn slm_urc(line: &str) -> bool {
    slm::Urc::parse(line).is_ok()
}

/// URC filter of the Fibocom NL668 profile: `GTOTA ...`, `RDY`, `RING`.
pub fn nl668_urc(line: &str) -> bool {
    nl668::Urc::parse(line).is_ok()
}
