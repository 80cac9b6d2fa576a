//! Field readers shared by the profiles' messages: line trimming, `<prefix>: <rest>` splitting,
//! strict decimal numbers, and typed parameters of a parsed command named by position.
//!
//! It owns the leniency rules in one place: blanks and line terminators around a line and blanks
//! around a field are ignored (modems and hosts differ there), anything else is an error. It must
//! never put a parameter's value into an error: values may be credentials.

use std::str::FromStr;

use atfota_at::{Arg, Args, Command, Op};

use crate::Error;

/// The line without the blanks and terminators around it.
pub(crate) fn trim(line: &str) -> &str {
    line.trim_matches([' ', '\t', '\r', '\n'])
}

/// The text after `prefix` (which ends in `:`), blanks after the colon skipped.
pub(crate) fn after<'a>(line: &'a str, prefix: &str, expected: &'static str) -> Result<&'a str, Error> {
    trim(line)
        .strip_prefix(prefix)
        .map(|rest| rest.trim_start_matches([' ', '\t']))
        .ok_or(Error::Unrecognised { expected })
}

/// A decimal number without sign (blanks around it allowed) that fits in `T`.
pub(crate) fn unsigned<T: FromStr>(text: &str, what: &'static str, field: &str) -> Result<T, Error> {
    let digits = text.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::malformed(what, format!("{field} must be a decimal number")));
    }
    digits.parse().map_err(|_| Error::malformed(what, format!("{field} is out of range")))
}

/// The parameters of the one set command `name` on a command line.
pub(crate) fn set_args(line: &str, name: &str, expected: &'static str) -> Result<Args, Error> {
    let mut commands = atfota_at::parse_line(trim(line))?;
    match (commands.pop(), commands.is_empty()) {
        (Some(Command { name: n, op: Op::Set(args) }), true) if n == name => Ok(args),
        _ => Err(Error::Unrecognised { expected }),
    }
}

/// A command's optional integer parameter at `i`; `what`/`field` name it in errors.
pub(crate) fn int(args: &Args, i: usize, what: &'static str, field: &str) -> Result<Option<i64>, Error> {
    match args.get(i) {
        None | Some(Arg::Omitted) => Ok(None),
        Some(Arg::Int(n)) => Ok(Some(*n)),
        Some(other) => Err(Error::malformed(what, format!("{field} must be a number, not {}", other.kind()))),
    }
}

/// A command's optional quoted string at `i`; `what`/`field` name it in errors.
pub(crate) fn string<'a>(
    args: &'a Args,
    i: usize,
    what: &'static str,
    field: &str,
) -> Result<Option<&'a str>, Error> {
    match args.get(i) {
        None | Some(Arg::Omitted) => Ok(None),
        Some(Arg::Str(s)) => Ok(Some(s)),
        Some(other) => {
            Err(Error::malformed(what, format!("{field} must be a quoted string, not {}", other.kind())))
        }
    }
}

/// The parameters of a response line after its prefix, e.g. `"2.5.0","mfw_nrf9160_1.3.5"`.
pub(crate) fn response_args(rest: &str, what: &'static str) -> Result<Args, Error> {
    atfota_at::parse_args(rest).map_err(|e| Error::malformed(what, e.to_string()))
}
