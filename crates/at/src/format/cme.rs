//! `+CME ERROR` codes: the 3GPP TS 27.007 §9.2.1 codes a modem here can report, the nRF91
//! credential-store codes, and their verbose texts.
//!
//! It owns the code table only; which error a command reports is the profile's decision. It must
//! never invent wording for a 27.007 code: those texts are the standard's, byte for byte.

/// A `+CME ERROR` code (27.007 §9.2), as sent in numeric mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmeError(pub u16);

// The codes are decimal numbers in the standard and on the wire (`+CME ERROR: 50`), so they are
// written in decimal here too.
impl CmeError {
    /// 0: phone failure.
    pub const PHONE_FAILURE: Self = Self(0);
    /// 3: operation not allowed (e.g. a FOTA is already running).
    pub const OPERATION_NOT_ALLOWED: Self = Self(3);
    /// 4: operation not supported.
    pub const OPERATION_NOT_SUPPORTED: Self = Self(4);
    /// 10: SIM not inserted.
    pub const SIM_NOT_INSERTED: Self = Self(10);
    /// 11: SIM PIN required (a PIN-restricted command while the SIM is locked).
    pub const SIM_PIN_REQUIRED: Self = Self(11);
    /// 12: SIM PUK required (the PIN was entered wrong too often).
    pub const SIM_PUK_REQUIRED: Self = Self(12);
    /// 13: SIM failure.
    pub const SIM_FAILURE: Self = Self(13);
    /// 16: incorrect password.
    pub const INCORRECT_PASSWORD: Self = Self(16);
    /// 20: memory full.
    pub const MEMORY_FULL: Self = Self(20);
    /// 21: invalid index.
    pub const INVALID_INDEX: Self = Self(21);
    /// 22: not found.
    pub const NOT_FOUND: Self = Self(22);
    /// 23: memory failure.
    pub const MEMORY_FAILURE: Self = Self(23);
    /// 24: text string too long.
    pub const TEXT_STRING_TOO_LONG: Self = Self(24);
    /// 25: invalid characters in text string.
    pub const INVALID_CHARACTERS: Self = Self(25);
    /// 30: no network service.
    pub const NO_NETWORK_SERVICE: Self = Self(30);
    /// 31: network timeout.
    pub const NETWORK_TIMEOUT: Self = Self(31);
    /// 50: incorrect parameters.
    pub const INCORRECT_PARAMETERS: Self = Self(50);
    /// 100: unknown.
    pub const UNKNOWN: Self = Self(100);
    /// 513 (nRF91 `%CMNG`): no credential with that sec_tag and type.
    pub const CMNG_NOT_FOUND: Self = Self(513);
    /// 514 (nRF91 `%CMNG`): the credential may not be accessed (e.g. reading a private key).
    pub const CMNG_NO_ACCESS: Self = Self(514);
    /// 515 (nRF91 `%CMNG`): the credential store is full.
    pub const CMNG_MEMORY_FULL: Self = Self(515);
    /// 518 (nRF91 `%CMNG`): writing or deleting is not allowed while the modem is online
    /// (`+CFUN=1`).
    pub const CMNG_NOT_ALLOWED_ACTIVE: Self = Self(518);
    /// 519 (nRF91 `%CMNG`): a credential with that sec_tag and type already exists.
    pub const CMNG_ALREADY_EXISTS: Self = Self(519);
    /// 527 (nRF91 `%CMNG`): the credential content is malformed.
    pub const CMNG_INVALID_CONTENT: Self = Self(527);

    /// The verbose text sent with `AT+CMEE=2`; "unknown" for a code not in the table.
    pub fn text(&self) -> &'static str {
        TABLE.iter().find(|(code, _)| *code == self.0).map_or("unknown", |(_, text)| text)
    }

    /// The code whose verbose text is `text` (ASCII case ignored); the first one for texts that
    /// two codes share ("not found" gives 22, not 513).
    pub fn from_text(text: &str) -> Option<Self> {
        TABLE.iter().find(|(_, t)| t.eq_ignore_ascii_case(text)).map(|(code, _)| Self(*code))
    }
}

/// Codes and verbose texts. 0..=100: 27.007 §9.2.1 wording, exactly. 513..: the nRF91 AT
/// Commands Reference lists these `%CMNG` errors with longer explanations; these are short
/// forms of them in the same lower-case style.
const TABLE: &[(u16, &str)] = &[
    (0, "phone failure"),
    (3, "operation not allowed"),
    (4, "operation not supported"),
    (10, "SIM not inserted"),
    (11, "SIM PIN required"),
    (12, "SIM PUK required"),
    (13, "SIM failure"),
    (16, "incorrect password"),
    (20, "memory full"),
    (21, "invalid index"),
    (22, "not found"),
    (23, "memory failure"),
    (24, "text string too long"),
    (25, "invalid characters in text string"),
    (30, "no network service"),
    (31, "network timeout"),
    (50, "Incorrect parameters"),
    (100, "unknown"),
    (513, "not found"),
    (514, "no access"),
    (515, "memory full"),
    (518, "not allowed in active state"),
    (519, "already exists"),
    (527, "invalid content"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        let cases = [
            (CmeError::PHONE_FAILURE, "phone failure"),
            (CmeError::OPERATION_NOT_ALLOWED, "operation not allowed"),
            (CmeError::OPERATION_NOT_SUPPORTED, "operation not supported"),
            (CmeError::SIM_NOT_INSERTED, "SIM not inserted"),
            (CmeError::SIM_PIN_REQUIRED, "SIM PIN required"),
            (CmeError::SIM_PUK_REQUIRED, "SIM PUK required"),
            (CmeError::SIM_FAILURE, "SIM failure"),
            (CmeError::INCORRECT_PASSWORD, "incorrect password"),
            (CmeError::MEMORY_FULL, "memory full"),
            (CmeError::INVALID_INDEX, "invalid index"),
            (CmeError::NOT_FOUND, "not found"),
            (CmeError::MEMORY_FAILURE, "memory failure"),
            (CmeError::TEXT_STRING_TOO_LONG, "text string too long"),
            (CmeError::INVALID_CHARACTERS, "invalid characters in text string"),
            (CmeError::NO_NETWORK_SERVICE, "no network service"),
            (CmeError::NETWORK_TIMEOUT, "network timeout"),
            (CmeError::INCORRECT_PARAMETERS, "Incorrect parameters"),
            (CmeError::UNKNOWN, "unknown"),
            (CmeError::CMNG_NOT_FOUND, "not found"),
            (CmeError::CMNG_NO_ACCESS, "no access"),
            (CmeError::CMNG_MEMORY_FULL, "memory full"),
            (CmeError::CMNG_NOT_ALLOWED_ACTIVE, "not allowed in active state"),
            (CmeError::CMNG_ALREADY_EXISTS, "already exists"),
            (CmeError::CMNG_INVALID_CONTENT, "invalid content"),
            (CmeError(9999), "unknown"),
        ];
        for (code, text) in cases {
            assert_eq!(code.text(), text, "code {}", code.0);
        }
    }

    #[test]
    fn codes_match_the_standard() {
        assert_eq!(CmeError::OPERATION_NOT_ALLOWED.0, 3);
        assert_eq!(CmeError::TEXT_STRING_TOO_LONG.0, 24);
        assert_eq!(CmeError::INCORRECT_PARAMETERS.0, 50);
        assert_eq!(CmeError::CMNG_INVALID_CONTENT.0, 527);
    }

    #[test]
    fn from_text_inverts_text() {
        assert_eq!(CmeError::from_text("incorrect PARAMETERS"), Some(CmeError::INCORRECT_PARAMETERS));
        assert_eq!(CmeError::from_text("not found"), Some(CmeError::NOT_FOUND));
        assert_eq!(CmeError::from_text("no such thing"), None);
        for (code, text) in TABLE {
            let found = CmeError::from_text(text).map(|c| c.text());
            assert_eq!(found, Some(*text), "code {code}");
        }
    }
}
