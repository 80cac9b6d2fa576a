//! Response formatting: information text, URCs and final result codes as bytes on the line
//! (V.250 §5.7, verbose form `ATV1`), plus `+CME ERROR` reporting under `AT+CMEE`.
//!
//! It owns the framing of everything a modem sends. It must never decide which response a command
//! gets, and never emit a string parameter that the parser could not read back: [`quote`] and
//! [`crate::parse_line`] round-trip every string.

mod cme;

use std::fmt::Write as _;

use crate::parse::ArgError;

pub use cme::CmeError;

/// One line of information text or a URC as sent: `"\r\n{text}\r\n"`.
pub fn line(text: &str) -> String {
    format!("\r\n{text}\r\n")
}

/// A 27.007 string parameter: double-quoted, with `"`, `\` and control characters as `\HH`.
pub fn quote(s: &str) -> String {
    quote_with(s, false)
}

/// Like [`quote`], but CR and LF go out as they are: how the nRF91 sends a stored PEM back
/// (`%CMNG: ...,"-----BEGIN CERTIFICATE-----<CR><LF>MIIB..."`). A framer with
/// [`crate::Framer::multiline_command`] for the command reads such a string back unchanged.
pub fn quote_multiline(s: &str) -> String {
    quote_with(s, true)
}

fn quote_with(s: &str, keep_line_breaks: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let line_break = keep_line_breaks && matches!(c, '\r' | '\n');
        if matches!(c, '"' | '\\') || (c.is_ascii_control() && !line_break) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// How errors are reported, as set by `AT+CMEE=<n>` (27.007 §9.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CmeeMode {
    /// `AT+CMEE=0` (the default): every error is a plain `ERROR`.
    #[default]
    Disabled,
    /// `AT+CMEE=1`: `+CME ERROR: <code>`.
    Numeric,
    /// `AT+CMEE=2`: `+CME ERROR: <text>`.
    Verbose,
}

impl CmeeMode {
    /// The `<n>` of `AT+CMEE=<n>` for this mode, as `AT+CMEE?` reports it.
    pub fn code(self) -> u8 {
        match self {
            CmeeMode::Disabled => 0,
            CmeeMode::Numeric => 1,
            CmeeMode::Verbose => 2,
        }
    }
}

impl TryFrom<i64> for CmeeMode {
    type Error = ArgError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(CmeeMode::Disabled),
            1 => Ok(CmeeMode::Numeric),
            2 => Ok(CmeeMode::Verbose),
            _ => Err(ArgError::OutOfRange {
                value,
                allowed: "0 (ERROR only), 1 (numeric codes) or 2 (verbose texts)",
            }),
        }
    }
}

/// The final result code that ends every command line's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Final {
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
    /// `+CME ERROR: <err>`, or `ERROR` while `AT+CMEE=0`.
    Cme(CmeError),
}

const PREFIX_CME: &str = "+CME ERROR:";

impl Final {
    /// The bytes to send under the given `AT+CMEE` mode.
    pub fn render(&self, mode: CmeeMode) -> String {
        match (self, mode) {
            (Final::Ok, _) => line("OK"),
            (Final::Error, _) | (Final::Cme(_), CmeeMode::Disabled) => line("ERROR"),
            (Final::Cme(e), CmeeMode::Numeric) => line(&format!("{PREFIX_CME} {}", e.0)),
            (Final::Cme(e), CmeeMode::Verbose) => line(&format!("{PREFIX_CME} {}", e.text())),
        }
    }

    /// Recognise a received line (terminators and blanks around it allowed) as a final result.
    ///
    /// For host software: a `+CME ERROR` whose code or text is not understood still ends the
    /// response, so it gives [`CmeError::UNKNOWN`] rather than `None`.
    pub fn from_line(line: &str) -> Option<Final> {
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        match line {
            "OK" => return Some(Final::Ok),
            "ERROR" => return Some(Final::Error),
            _ => {}
        }
        let detail = line.strip_prefix(PREFIX_CME)?.trim_matches([' ', '\t']);
        let code = if detail.bytes().all(|b| b.is_ascii_digit()) {
            detail.parse().ok().map(CmeError)
        } else {
            CmeError::from_text(detail)
        };
        Some(Final::Cme(code.unwrap_or(CmeError::UNKNOWN)))
    }
}

/// A complete response: information lines, then the final result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Information text lines, without framing.
    pub lines: Vec<String>,
    /// The final result code.
    pub result: Final,
}

impl Response {
    /// A bare `OK`.
    pub fn ok() -> Self {
        Self::with_result(Final::Ok)
    }

    /// A bare `ERROR`.
    pub fn error() -> Self {
        Self::with_result(Final::Error)
    }

    /// A `+CME ERROR` (plain `ERROR` while `AT+CMEE=0`).
    pub fn cme(e: CmeError) -> Self {
        Self::with_result(Final::Cme(e))
    }

    /// Add an information line before the final result.
    pub fn with_line(mut self, text: impl Into<String>) -> Self {
        self.lines.push(text.into());
        self
    }

    /// The bytes to send: each line framed by [`line()`], then the final result code.
    pub fn render(&self, mode: CmeeMode) -> String {
        let mut out: String = self.lines.iter().map(|text| line(text)).collect();
        out.push_str(&self.result.render(mode));
        out
    }

    fn with_result(result: Final) -> Self {
        Self { lines: Vec::new(), result }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn line_frames_text() {
        assert_eq!(line("#XFOTA: 1,0,0"), "\r\n#XFOTA: 1,0,0\r\n");
        assert_eq!(line(""), "\r\n\r\n");
    }

    #[test]
    fn quote_table() {
        let cases = [
            ("", "\"\""),
            ("abc", "\"abc\""),
            ("a,b;c", "\"a,b;c\""),
            ("say \"hi\"", "\"say \\22hi\\22\""),
            ("C:\\x", "\"C:\\5Cx\""),
            ("a\r\nb", "\"a\\0D\\0Ab\""),
            ("\t\u{0}\u{7f}", "\"\\09\\00\\7F\""),
            ("\u{e9}\u{1F600}", "\"\u{e9}\u{1F600}\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn quote_multiline_keeps_line_breaks_only() {
        assert_eq!(quote_multiline("a\r\nb\nc"), "\"a\r\nb\nc\"");
        assert_eq!(quote_multiline("\"\\\t\u{0}"), "\"\\22\\5C\\09\\00\"");
    }

    proptest! {
        #[test]
        fn quote_multiline_survives_framer_and_parser(text in "[ -~\r\n\t]{0,200}") {
            let line = format!("AT%CMNG=0,1,0,{}\r\n", quote_multiline(&text));
            let mut framer = crate::Framer::default().multiline_command("%CMNG", 1024);
            let frames: Vec<_> = line.bytes().filter_map(|b| framer.push(b)).collect();
            let [crate::Frame::Line(framed)] = frames.as_slice() else {
                return Err(TestCaseError::fail(format!("frames {frames:?}")));
            };
            let commands = crate::parse_line(framed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let crate::Op::Set(args) = &commands[0].op else { return Err(TestCaseError::fail("not a set")) };
            prop_assert_eq!(args.string(3), Ok(Some(text.as_str())));
        }
    }

    #[test]
    fn cmee_mode_from_int() {
        assert_eq!(CmeeMode::try_from(0), Ok(CmeeMode::Disabled));
        assert_eq!(CmeeMode::try_from(1), Ok(CmeeMode::Numeric));
        assert_eq!(CmeeMode::try_from(2), Ok(CmeeMode::Verbose));
        for bad in [-1, 3, i64::MAX] {
            assert!(matches!(
                CmeeMode::try_from(bad),
                Err(ArgError::OutOfRange { value, .. }) if value == bad
            ));
        }
        for mode in [CmeeMode::Disabled, CmeeMode::Numeric, CmeeMode::Verbose] {
            assert_eq!(CmeeMode::try_from(i64::from(mode.code())), Ok(mode));
        }
        assert_eq!(CmeeMode::default(), CmeeMode::Disabled);
    }

    #[test]
    fn final_render_table() {
        let e = CmeError::INCORRECT_PARAMETERS;
        let cases = [
            (Final::Ok, CmeeMode::Disabled, "\r\nOK\r\n"),
            (Final::Ok, CmeeMode::Verbose, "\r\nOK\r\n"),
            (Final::Error, CmeeMode::Numeric, "\r\nERROR\r\n"),
            (Final::Cme(e), CmeeMode::Disabled, "\r\nERROR\r\n"),
            (Final::Cme(e), CmeeMode::Numeric, "\r\n+CME ERROR: 50\r\n"),
            (Final::Cme(e), CmeeMode::Verbose, "\r\n+CME ERROR: Incorrect parameters\r\n"),
            (Final::Cme(CmeError(777)), CmeeMode::Verbose, "\r\n+CME ERROR: unknown\r\n"),
        ];
        for (result, mode, want) in cases {
            assert_eq!(result.render(mode), want, "{result:?} in {mode:?}");
        }
    }

    #[test]
    fn final_from_line_table() {
        let cases = [
            ("OK", Some(Final::Ok)),
            ("\r\nOK\r\n", Some(Final::Ok)),
            ("ERROR", Some(Final::Error)),
            ("+CME ERROR: 50", Some(Final::Cme(CmeError(50)))),
            ("+CME ERROR:513", Some(Final::Cme(CmeError(513)))),
            ("+CME ERROR: Incorrect parameters", Some(Final::Cme(CmeError::INCORRECT_PARAMETERS))),
            ("+CME ERROR: gibberish", Some(Final::Cme(CmeError::UNKNOWN))),
            ("+CME ERROR: 99999999", Some(Final::Cme(CmeError::UNKNOWN))),
            ("+CME ERROR:", Some(Final::Cme(CmeError::UNKNOWN))),
            ("OKAY", None),
            ("+CGMR: 1.0", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(Final::from_line(input), want, "line {input:?}");
        }
    }

    #[test]
    fn response_render() {
        assert_eq!(Response::ok().render(CmeeMode::Disabled), "\r\nOK\r\n");
        assert_eq!(Response::error().render(CmeeMode::Verbose), "\r\nERROR\r\n");
        let info = Response::ok()
            .with_line("#XSLMVER: \"2.5.0\",\"mfw_nrf9160_1.3.5\"")
            .with_line(String::from("second"));
        assert_eq!(
            info.render(CmeeMode::Numeric),
            "\r\n#XSLMVER: \"2.5.0\",\"mfw_nrf9160_1.3.5\"\r\n\r\nsecond\r\n\r\nOK\r\n"
        );
        let cme = Response::cme(CmeError::CMNG_NOT_FOUND);
        assert_eq!(cme.render(CmeeMode::Numeric), "\r\n+CME ERROR: 513\r\n");
        assert_eq!(cme.render(CmeeMode::Verbose), "\r\n+CME ERROR: not found\r\n");
        assert_eq!(cme.render(CmeeMode::Disabled), "\r\nERROR\r\n");
    }

    proptest! {
        #[test]
        fn quote_output_is_printable(s in any::<String>()) {
            let q = quote(&s);
            prop_assert!(q.starts_with('"') && q.ends_with('"') && q.len() >= 2);
            prop_assert!(!q.chars().any(|c| c.is_ascii_control()));
            prop_assert_eq!(q.matches('"').count(), 2);
        }

        #[test]
        fn numeric_final_round_trips(code in any::<u16>()) {
            let rendered = Final::Cme(CmeError(code)).render(CmeeMode::Numeric);
            prop_assert_eq!(Final::from_line(&rendered), Some(Final::Cme(CmeError(code))));
        }

        #[test]
        fn from_line_never_panics(s in any::<String>()) {
            let _ = Final::from_line(&s);
        }
    }
}
