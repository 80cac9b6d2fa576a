//! `AT%CMNG=<opcode>[,<sec_tag>[,<type>[,<content>[,<passwd>]]]]`: the nRF91's credential
//! storage management, in front of [`crate::credentials`].
//!
//! Owns the command's argument rules, the offline rule (write and delete only while the modem is
//! not in normal operation), the mapping of refusals to `+CME ERROR` codes, and the wording of
//! the list and read lines. It must never log a credential's content or a passphrase, and never
//! answer a read of a private key with anything but error 514.

use atfota_at::{Args, CmeError, Response, quote_multiline};
use atfota_storage::NorFlash;

use crate::credentials::{self, CredentialError, CredentialType, Entry, SecTag};
use crate::engine::Engine;

/// Longest `AT%CMNG` line the framer takes: the largest credential plus room for the command,
/// its numbers and a passphrase (content written with `\HH` escapes takes more room and may
/// not fit; such a line is answered `ERROR`).
pub const MAX_LINE_LEN: usize = credentials::MAX_CONTENT_LEN + 256;

/// What the host asked for, its parameters checked.
enum Request<'a> {
    Write { sec_tag: SecTag, kind: CredentialType, content: &'a str },
    List { sec_tag: Option<SecTag>, kind: Option<CredentialType> },
    Read { sec_tag: SecTag, kind: CredentialType },
    Delete { sec_tag: SecTag, kind: CredentialType },
}

/// Why a request could not even be understood.
enum Refusal {
    /// Wrong number or form of parameters: error 50.
    Parameters(&'static str),
    /// A sec_tag or type out of range, or a type of newer modems.
    Credential(CredentialError),
}

/// Executes `AT%CMNG=<args>`; `online` is true in normal operation (`+CFUN=1`).
pub(super) fn execute<F: NorFlash>(args: &Args, online: bool, engine: &mut Engine<F>) -> Response {
    let request = match parse(args) {
        Ok(r) => r,
        Err(Refusal::Parameters(why)) => {
            log::warn!("AT%CMNG refused: {why}");
            return Response::cme(CmeError::INCORRECT_PARAMETERS);
        }
        Err(Refusal::Credential(e)) => return refused(&e),
    };
    let changes = matches!(request, Request::Write { .. } | Request::Delete { .. });
    if changes && online {
        log::warn!(
            "AT%CMNG refused: credentials are written and deleted only while offline (AT+CFUN=4 or 0)"
        );
        return Response::cme(CmeError::CMNG_NOT_ALLOWED_ACTIVE);
    }
    let (settings, flash) = engine.settings_mut();
    let result = match request {
        Request::Write { sec_tag, kind, content } => {
            credentials::write(settings, flash, sec_tag, kind, content).map(|_| Response::ok())
        }
        Request::List { sec_tag, kind } => {
            let lines = credentials::list(settings, sec_tag, kind).iter().map(list_line).collect();
            Ok(Response { lines, ..Response::ok() })
        }
        Request::Read { sec_tag, kind } => credentials::read(settings, sec_tag, kind).map(|c| {
            Response::ok().with_line(format!("{},{}", list_line(&c.entry), quote_multiline(&c.content)))
        }),
        Request::Delete { sec_tag, kind } => {
            credentials::delete(settings, flash, sec_tag, kind).map(|()| Response::ok())
        }
    };
    result.unwrap_or_else(|e| refused(&e))
}

/// `%CMNG: <sec_tag>,<type>,"<SHA-256>"`.
fn list_line(entry: &Entry) -> String {
    format!("%CMNG: {},{},\"{}\"", entry.sec_tag, entry.kind.code(), entry.sha256_hex())
}

fn parse(args: &Args) -> Result<Request<'_>, Refusal> {
    match int(args, 0)? {
        Some(0) if (4..=5).contains(&args.len()) => {
            let (sec_tag, kind) = pair(args)?;
            let content = match args.string(3) {
                Ok(Some(c)) => c,
                _ => return Err(Refusal::Parameters("<content> is a quoted string")),
            };
            check_passphrase(args, kind)?;
            Ok(Request::Write { sec_tag, kind, content })
        }
        Some(1) if args.len() <= 3 => {
            let sec_tag = int(args, 1)?.map(SecTag::try_from).transpose().map_err(Refusal::Credential)?;
            let kind =
                int(args, 2)?.map(CredentialType::try_from).transpose().map_err(Refusal::Credential)?;
            if sec_tag.is_none() && kind.is_some() {
                return Err(Refusal::Parameters("listing by <type> needs a <sec_tag>"));
            }
            Ok(Request::List { sec_tag, kind })
        }
        Some(2) if args.len() == 3 => pair(args).map(|(sec_tag, kind)| Request::Read { sec_tag, kind }),
        Some(3) if args.len() == 3 => pair(args).map(|(sec_tag, kind)| Request::Delete { sec_tag, kind }),
        Some(0..=3) => Err(Refusal::Parameters("wrong number of parameters for the opcode")),
        _ => Err(Refusal::Parameters("<opcode> is 0 (write), 1 (list), 2 (read) or 3 (delete)")),
    }
}

/// The integer at `i`, if given.
fn int(args: &Args, i: usize) -> Result<Option<i64>, Refusal> {
    args.int(i).map_err(|_| Refusal::Parameters("<opcode>, <sec_tag> and <type> are numbers"))
}

/// The `<sec_tag>` and `<type>` every opcode but list requires.
fn pair(args: &Args) -> Result<(SecTag, CredentialType), Refusal> {
    let missing = Refusal::Parameters("<sec_tag> and <type> are required");
    let (Some(sec_tag), Some(kind)) = (int(args, 1)?, int(args, 2)?) else { return Err(missing) };
    let sec_tag = SecTag::try_from(sec_tag).map_err(Refusal::Credential)?;
    let kind = CredentialType::try_from(kind).map_err(Refusal::Credential)?;
    Ok((sec_tag, kind))
}

/// `<passwd>` only goes with a private key; it is never stored or logged. Keys must be
/// unencrypted (the content check refuses encrypted ones), so it is accepted and ignored.
fn check_passphrase(args: &Args, kind: CredentialType) -> Result<(), Refusal> {
    match args.string(4) {
        Ok(None) => Ok(()),
        Ok(Some(_)) if kind == CredentialType::PrivateKey => Ok(()),
        Ok(Some(_)) => Err(Refusal::Parameters("<passwd> goes only with a private key (type 2)")),
        Err(_) => Err(Refusal::Parameters("<passwd> is a quoted string")),
    }
}

/// The `+CME ERROR` for a refusal, logged (the messages never quote content).
fn refused(e: &CredentialError) -> Response {
    log::warn!("AT%CMNG refused: {e}");
    Response::cme(match e {
        CredentialError::InvalidSecTag { .. } | CredentialError::InvalidType { .. } => {
            CmeError::INCORRECT_PARAMETERS
        }
        CredentialError::UnsupportedType { .. } => CmeError::OPERATION_NOT_SUPPORTED,
        CredentialError::NotFound { .. } | CredentialError::EmptySecTag { .. } => CmeError::CMNG_NOT_FOUND,
        CredentialError::NoAccess { .. } => CmeError::CMNG_NO_ACCESS,
        CredentialError::TooLarge { .. }
        | CredentialError::QuotaExceeded { .. }
        | CredentialError::StoreFull => CmeError::CMNG_MEMORY_FULL,
        CredentialError::InvalidContent { .. } => CmeError::CMNG_INVALID_CONTENT,
        _ => CmeError::MEMORY_FAILURE,
    })
}
