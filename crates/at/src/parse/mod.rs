//! Command-line parser: one framed line to the commands it holds (V.250 §5, 27.007 §4).
//!
//! It owns the command grammar: the `AT` prefix, basic commands (`E0`, `&F`, `S3=13`), extended
//! commands (`+CMEE=1`, `#XFOTA?`, `%CMNG=?`) and the `;` that chains them. It must never decide
//! what a command means or whether it exists: that is the device profile's job. It is written by
//! hand because the grammar is small, and every error must carry a position a user can act on,
//! which generic parser crates do not give for free.

mod args;
mod scan;

pub use args::{Arg, ArgError, Args};

use scan::Scanner;

/// One command of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Upper-cased name with its prefix: "E", "I", "&F", "S3", "+CGMR", "#XFOTA", "%CMNG".
    pub name: String,
    /// What the line asked of the command.
    pub op: Op,
}

/// The four forms of an AT command (27.007 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `AT+CGMR`, `ATI`: run the command.
    Action,
    /// `AT+CMEE=1`, `ATE0`, `ATS3=13`: set parameters.
    Set(Args),
    /// `AT+CMEE?`, `ATS3?`: report the current setting.
    Read,
    /// `AT+CMEE=?`: report the supported parameters.
    Test,
}

/// A command line that does not follow the AT syntax; offsets are byte offsets into the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line does not begin with `AT`.
    #[error("the line does not start with AT: begin every command line with AT")]
    NoPrefix,
    /// A character that the grammar does not allow where it stands.
    #[error("unexpected {found:?} at byte {offset} of the line: expected {expected}")]
    UnexpectedChar {
        /// Byte offset of the character.
        offset: usize,
        /// The character found.
        found: char,
        /// What would have been valid there.
        expected: &'static str,
    },
    /// The line ended in the middle of a command.
    #[error("the line ends too early at byte {offset}: expected {expected}")]
    UnexpectedEnd {
        /// Byte offset of the end of the line.
        offset: usize,
        /// What was missing.
        expected: &'static str,
    },
    /// A number does not fit in an `i64`.
    #[error("the number at byte {offset} of the line is too large: use a value that fits in 64 bits")]
    IntegerOverflow {
        /// Byte offset where the number starts.
        offset: usize,
    },
    /// A string has no closing quote.
    #[error("the string starting at byte {offset} of the line has no closing double quote")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A backslash in a string not followed by two hex digits.
    #[error(
        "invalid escape at byte {offset} of the line: in a string write a backslash only as \\HH \
         with two hex digits (\\22 for a double quote, \\5C for a backslash)"
    )]
    InvalidEscape {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// A string whose `\HH` escapes decode to bytes that are not UTF-8.
    #[error(
        "the string starting at byte {offset} of the line is not UTF-8 once its \\HH escapes are \
         decoded: check the escapes"
    )]
    InvalidUtf8 {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A double quote in the middle of an unquoted value.
    #[error(
        "unexpected double quote at byte {offset} of the line inside an unquoted value: \
         quote the whole value"
    )]
    QuoteInValue {
        /// Byte offset of the quote.
        offset: usize,
    },
}

/// Parse one command line (without terminator) into its commands; `AT` alone gives none.
pub fn parse_line(line: &str) -> Result<Vec<Command>, ParseError> {
    let mut s = Scanner::new(line);
    let prefix = (s.bump(), s.bump());
    if !matches!(prefix, (Some('A' | 'a'), Some('T' | 't'))) {
        return Err(ParseError::NoPrefix);
    }
    let mut commands = Vec::new();
    loop {
        match s.peek() {
            None => return Ok(commands),
            // Separators: between extended commands they are required, between basic ones
            // allowed; a repeated or trailing one is harmless.
            Some(';') => {
                s.bump();
            }
            Some(c) if is_extended_prefix(c) => {
                commands.push(extended(&mut s)?);
                end_of_extended(&mut s)?;
            }
            Some(c) if c.is_ascii_alphabetic() || c == '&' => commands.push(basic(&mut s)?),
            Some(found) => {
                return Err(ParseError::UnexpectedChar {
                    offset: s.offset(),
                    found,
                    expected: "a command: a letter, '&', or one of + # % $ ^ and a name",
                });
            }
        }
    }
}

/// Parse the parameter list of a response or URC line, the text after its `<name>: ` prefix (for
/// example `"CALLBREAK",1` of `+GTSET: "CALLBREAK",1`), with the same value syntax as a set
/// command's. Offsets in errors are byte offsets into `text`.
pub fn parse_args(text: &str) -> Result<Args, ParseError> {
    let mut s = Scanner::new(text);
    let args = args::arg_list(&mut s)?;
    match s.peek() {
        None => Ok(args),
        Some(found) => Err(ParseError::UnexpectedChar {
            offset: s.offset(),
            found,
            expected: "',' before the next parameter, or the end of the line",
        }),
    }
}

fn is_extended_prefix(c: char) -> bool {
    matches!(c, '+' | '#' | '%' | '$' | '^')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '%' | '-' | '.' | '/' | ':' | '_')
}

/// An extended command; the scanner is at its prefix character.
fn extended(s: &mut Scanner<'_>) -> Result<Command, ParseError> {
    let mut name = String::new();
    name.extend(s.bump());
    // V.250 §5.4.1: the first character after the prefix is a letter.
    let first = expect(s, |c| c.is_ascii_alphabetic(), "a letter starting the command name")?;
    name.push(first.to_ascii_uppercase());
    while let Some(c) = s.peek().filter(|&c| is_name_char(c)) {
        name.push(c.to_ascii_uppercase());
        s.bump();
    }
    let op = match s.peek() {
        Some('=') => {
            s.bump();
            if s.peek() == Some('?') {
                s.bump();
                Op::Test
            } else {
                Op::Set(args::arg_list(s)?)
            }
        }
        Some('?') => {
            s.bump();
            Op::Read
        }
        _ => Op::Action,
    };
    Ok(Command { name, op })
}

/// After an extended command only `;` or the end of the line may follow.
fn end_of_extended(s: &mut Scanner<'_>) -> Result<(), ParseError> {
    match s.peek() {
        None | Some(';') => Ok(()),
        Some(found) => Err(ParseError::UnexpectedChar {
            offset: s.offset(),
            found,
            expected: "';' before the next command, or the end of the line",
        }),
    }
}

/// A basic command: `<letter>[<n>]`, `&<letter>[<n>]` or an S-register access.
fn basic(s: &mut Scanner<'_>) -> Result<Command, ParseError> {
    let mut name = String::new();
    if s.peek() == Some('&') {
        s.bump();
        name.push('&');
        let letter = expect(s, |c| c.is_ascii_alphabetic(), "a letter after '&'")?;
        name.push(letter.to_ascii_uppercase());
    } else {
        let letter = expect(s, |c| c.is_ascii_alphabetic(), "a letter")?;
        if letter.eq_ignore_ascii_case(&'S') {
            return s_register(s);
        }
        name.push(letter.to_ascii_uppercase());
    }
    let op = match number(s)? {
        Some(n) => Op::Set(Args::from(vec![Arg::Int(n)])),
        None => Op::Action,
    };
    Ok(Command { name, op })
}

/// `S<n>?`, `S<n>=[<v>]` or `S<n>=?` (V.250 §6.3); the `S` is consumed.
fn s_register(s: &mut Scanner<'_>) -> Result<Command, ParseError> {
    let Some(register) = number(s)? else {
        return Err(unexpected(s, "an S-register number after S, as in S3?"));
    };
    let name = format!("S{register}");
    let op = match s.peek() {
        Some('?') => {
            s.bump();
            Op::Read
        }
        Some('=') => {
            s.bump();
            if s.peek() == Some('?') {
                s.bump();
                Op::Test
            } else {
                // V.250 allows the value to be left out; the profile picks the default.
                let value = number(s)?.map(Arg::Int);
                Op::Set(Args::from(value.into_iter().collect::<Vec<_>>()))
            }
        }
        _ => return Err(unexpected(s, "'?' or '=' after the S-register number")),
    };
    Ok(Command { name, op })
}

/// An optional unsigned decimal number, as basic commands take.
fn number(s: &mut Scanner<'_>) -> Result<Option<i64>, ParseError> {
    let offset = s.offset();
    let mut value: Option<i64> = None;
    while let Some(digit) = s.peek().and_then(|c| c.to_digit(10)) {
        s.bump();
        value = value.unwrap_or(0).checked_mul(10).and_then(|v| v.checked_add(i64::from(digit)));
        if value.is_none() {
            return Err(ParseError::IntegerOverflow { offset });
        }
    }
    Ok(value)
}

/// Consume the next character if `ok` accepts it, else report what was expected.
fn expect(
    s: &mut Scanner<'_>,
    ok: impl Fn(char) -> bool,
    expected: &'static str,
) -> Result<char, ParseError> {
    match s.peek() {
        Some(c) if ok(c) => {
            s.bump();
            Ok(c)
        }
        _ => Err(unexpected(s, expected)),
    }
}

/// The error for whatever stands next: a wrong character or the end of the line.
fn unexpected(s: &mut Scanner<'_>, expected: &'static str) -> ParseError {
    let offset = s.offset();
    match s.peek() {
        Some(found) => ParseError::UnexpectedChar { offset, found, expected },
        None => ParseError::UnexpectedEnd { offset, expected },
    }
}

#[cfg(test)]
mod tests;
