//! Parameters of a set command: the typed values (`Args`, `Arg`), their accessors, and the
//! reader for a comma-separated parameter list (27.007 §4.1, strings with `\HH` escapes).
//!
//! It owns the value syntax only; ranges and meanings belong to the device profiles. It must never
//! accept a malformed value silently: a bad escape, an overflowing number or a stray quote is an
//! error with its position.

use super::ParseError;
use super::scan::Scanner;

/// The parameters of a set command, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(Vec<Arg>);

/// One parameter of a set command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arg {
    /// Left empty, as the middle one in `AT+X=1,,3`: the command's default applies.
    Omitted,
    /// A decimal integer with an optional leading `-`.
    Int(i64),
    /// A double-quoted string, escapes decoded.
    Str(String),
    /// An unquoted token that is not an integer, kept as written (blanks removed).
    Bare(String),
}

/// A parameter does not have the type the command needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// A number was required.
    #[error("parameter {} must be a decimal number, not {found}", .index + 1)]
    NotInteger {
        /// Zero-based parameter index.
        index: usize,
        /// What was given instead, e.g. "a quoted string".
        found: &'static str,
    },
    /// A string was required and a number was given.
    #[error("parameter {} must be a string in double quotes, not a number", .index + 1)]
    NotString {
        /// Zero-based parameter index.
        index: usize,
    },
    /// A string was required and an unquoted word was given.
    #[error("parameter {} must be in double quotes: write \"{text}\"", .index + 1)]
    NotQuoted {
        /// Zero-based parameter index.
        index: usize,
        /// The word as given.
        text: String,
    },
    /// A number is outside the values the setting allows.
    #[error("the value {value} is out of range: use {allowed}")]
    OutOfRange {
        /// The value given.
        value: i64,
        /// The allowed values, for the message.
        allowed: &'static str,
    },
}

impl Args {
    /// Number of parameters, omitted ones included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the command had `=` and nothing after it.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameter at `i`, if the line had that many.
    pub fn get(&self, i: usize) -> Option<&Arg> {
        self.0.get(i)
    }

    /// The parameters as a slice.
    pub fn as_slice(&self) -> &[Arg] {
        &self.0
    }

    /// Iterate over the parameters.
    pub fn iter(&self) -> std::slice::Iter<'_, Arg> {
        self.0.iter()
    }

    /// The integer at `i`; `None` when omitted or absent, an error for a string or word.
    pub fn int(&self, i: usize) -> Result<Option<i64>, ArgError> {
        match self.get(i) {
            None | Some(Arg::Omitted) => Ok(None),
            Some(Arg::Int(n)) => Ok(Some(*n)),
            Some(other) => Err(ArgError::NotInteger { index: i, found: other.kind() }),
        }
    }

    /// The quoted string at `i`; `None` when omitted or absent, an error for a number or word.
    pub fn string(&self, i: usize) -> Result<Option<&str>, ArgError> {
        match self.get(i) {
            None | Some(Arg::Omitted) => Ok(None),
            Some(Arg::Str(s)) => Ok(Some(s)),
            Some(Arg::Int(_)) => Err(ArgError::NotString { index: i }),
            Some(Arg::Bare(text)) => Err(ArgError::NotQuoted { index: i, text: text.clone() }),
        }
    }
}

impl From<Vec<Arg>> for Args {
    fn from(args: Vec<Arg>) -> Self {
        Self(args)
    }
}

impl<'a> IntoIterator for &'a Args {
    type Item = &'a Arg;
    type IntoIter = std::slice::Iter<'a, Arg>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Arg {
    /// What kind of value this is, in words for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Arg::Omitted => "an omitted value",
            Arg::Int(_) => "a number",
            Arg::Str(_) => "a quoted string",
            Arg::Bare(_) => "an unquoted word",
        }
    }
}

/// Read a parameter list up to `;` or the end of the line; the `=` is already consumed.
pub(super) fn arg_list(s: &mut Scanner<'_>) -> Result<Args, ParseError> {
    let mut args = Vec::new();
    if matches!(s.peek(), None | Some(';')) {
        return Ok(Args(args));
    }
    loop {
        args.push(arg(s)?);
        match s.peek() {
            Some(',') => {
                s.bump();
            }
            None | Some(';') => return Ok(Args(args)),
            Some(found) => {
                return Err(ParseError::UnexpectedChar {
                    offset: s.offset(),
                    found,
                    expected: "',' before the next parameter, ';' or the end of the line",
                });
            }
        }
    }
}

fn arg(s: &mut Scanner<'_>) -> Result<Arg, ParseError> {
    match s.peek() {
        None | Some(',' | ';') => Ok(Arg::Omitted),
        Some('"') => string(s).map(Arg::Str),
        Some(_) => token(s),
    }
}

/// An unquoted parameter: an integer if it looks like one, else a bare word.
fn token(s: &mut Scanner<'_>) -> Result<Arg, ParseError> {
    let start = s.offset();
    let mut text = String::new();
    while let Some(c) = s.peek() {
        match c {
            ',' | ';' => break,
            '"' => return Err(ParseError::QuoteInValue { offset: s.offset() }),
            _ => {
                text.push(c);
                s.bump();
            }
        }
    }
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Arg::Int).map_err(|_| ParseError::IntegerOverflow { offset: start });
    }
    Ok(Arg::Bare(text))
}

/// A double-quoted string with 27.007 `\HH` escapes; the scanner is at the opening quote.
fn string(s: &mut Scanner<'_>) -> Result<String, ParseError> {
    let start = s.offset();
    s.bump();
    let mut bytes = Vec::new();
    loop {
        let at = s.offset_raw();
        match s.bump_raw() {
            None => return Err(ParseError::UnterminatedString { offset: start }),
            Some('"') => break,
            Some('\\') => {
                let high = s.bump_raw().and_then(hex_digit);
                let low = s.bump_raw().and_then(hex_digit);
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push(high << 4 | low),
                    _ => return Err(ParseError::InvalidEscape { offset: at }),
                }
            }
            Some(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    String::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8 { offset: start })
}

fn hex_digit(c: char) -> Option<u8> {
    // A hex digit is below 16, so the narrowing cannot lose bits.
    c.to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Vec<Arg>) -> Args {
        Args::from(v)
    }

    #[test]
    fn int_accessor() {
        let a = args(vec![Arg::Int(-7), Arg::Omitted, Arg::Str("x".into()), Arg::Bare("y".into())]);
        assert_eq!(a.int(0), Ok(Some(-7)));
        assert_eq!(a.int(1), Ok(None));
        assert_eq!(a.int(9), Ok(None));
        assert_eq!(a.int(2), Err(ArgError::NotInteger { index: 2, found: "a quoted string" }));
        assert_eq!(a.int(3), Err(ArgError::NotInteger { index: 3, found: "an unquoted word" }));
    }

    #[test]
    fn string_accessor() {
        let a = args(vec![Arg::Str("x".into()), Arg::Omitted, Arg::Int(1), Arg::Bare("y".into())]);
        assert_eq!(a.string(0), Ok(Some("x")));
        assert_eq!(a.string(1), Ok(None));
        assert_eq!(a.string(4), Ok(None));
        assert_eq!(a.string(2), Err(ArgError::NotString { index: 2 }));
        assert_eq!(a.string(3), Err(ArgError::NotQuoted { index: 3, text: "y".into() }));
    }

    #[test]
    fn messages_name_the_parameter_one_based() {
        let err = ArgError::NotQuoted { index: 1, text: "http://x".into() };
        assert_eq!(err.to_string(), "parameter 2 must be in double quotes: write \"http://x\"");
        assert_eq!(
            ArgError::NotString { index: 0 }.to_string(),
            "parameter 1 must be a string in double quotes, not a number"
        );
    }

    #[test]
    fn iteration_and_len() {
        let a = args(vec![Arg::Int(1), Arg::Omitted]);
        assert_eq!(a.len(), 2);
        assert!(!a.is_empty());
        assert_eq!((&a).into_iter().count(), 2);
        assert_eq!(a.iter().next(), Some(&Arg::Int(1)));
        assert_eq!(a.as_slice().len(), 2);
        assert!(Args::default().is_empty());
    }
}
