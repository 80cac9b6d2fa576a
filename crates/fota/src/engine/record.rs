//! The persisted FOTA record: which download the bytes in the download area
//! belong to, how far they are known good, and whether an installed update
//! waits for its result to be reported after boot.
//!
//! Owns the `fota.*` settings keys and the only transitions between their
//! states — begin, start, checkpoint, forget, schedule, report, discard —
//! each one atomic batch. Nothing else in the crate writes these keys, and
//! this module never decides *when* a transition happens: the session and
//! the targets do.
//!
//! Keys: `fota.dl.id` identifies the download (URL and file, never a
//! password); `fota.dl.offset` is a sector-aligned offset below which its
//! bytes are all on flash; `fota.dl.total` and `fota.dl.validator` let a
//! resume check it gets the same file; `fota.pending` says an update was
//! handed to its installer and its result is still to be reported.

use atfota_download::Resume;
use atfota_storage::{NorFlash, Settings};

const KEY_DL_ID: &str = "fota.dl.id";
const KEY_DL_OFFSET: &str = "fota.dl.offset";
const KEY_DL_TOTAL: &str = "fota.dl.total";
const KEY_DL_VALIDATOR: &str = "fota.dl.validator";
const KEY_PENDING: &str = "fota.pending";

/// `fota.pending` of an application update while its bootloader request is being written.
const PENDING_APP_SCHEDULING: &str = "scheduling";
/// `fota.pending` of an application update once its request is on flash (`4,0` follows).
const PENDING_APP_SCHEDULED: &str = "scheduled";
/// `fota.pending` of a modem update: `modem:<n>`, where `n` is the modem state's sequence
/// number before the request, so only an outcome recorded after it is this update's.
const PENDING_MODEM_PREFIX: &str = "modem:";

/// What `fota.pending` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// An application update was being scheduled when the device stopped.
    AppScheduling,
    /// An application update is scheduled (or installed, result not reported).
    AppScheduled,
    /// A modem update was scheduled after modem state `since`.
    Modem {
        /// Sequence number of the modem state before the request.
        since: u32,
    },
    /// A value this build does not know (from a newer build, or damaged).
    Unknown,
}

impl Pending {
    fn encode(self) -> Option<String> {
        match self {
            Self::AppScheduling => Some(PENDING_APP_SCHEDULING.into()),
            Self::AppScheduled => Some(PENDING_APP_SCHEDULED.into()),
            Self::Modem { since } => Some(format!("{PENDING_MODEM_PREFIX}{since}")),
            Self::Unknown => None,
        }
    }

    fn decode(value: &[u8]) -> Self {
        let text = std::str::from_utf8(value).unwrap_or_default();
        match text {
            PENDING_APP_SCHEDULING => Self::AppScheduling,
            PENDING_APP_SCHEDULED => Self::AppScheduled,
            _ => text
                .strip_prefix(PENDING_MODEM_PREFIX)
                .and_then(|n| n.parse().ok())
                .map_or(Self::Unknown, |since| Self::Modem { since }),
        }
    }
}

/// The download keys, all cleared.
const FORGET_DOWNLOAD: [(&str, Option<&[u8]>); 4] =
    [(KEY_DL_ID, None), (KEY_DL_OFFSET, None), (KEY_DL_TOTAL, None), (KEY_DL_VALIDATOR, None)];

/// Where a download with `identity` can resume, if its bytes are on flash:
/// a non-zero, sector-aligned offset no larger than `limit`.
pub(crate) fn resume_point(settings: &Settings, identity: &str, sector: u32, limit: u64) -> Option<Resume> {
    if settings.get_str(KEY_DL_ID) != Some(identity) {
        return None;
    }
    let offset = settings.get_u64(KEY_DL_OFFSET)?;
    if offset == 0 || !offset.is_multiple_of(u64::from(sector)) || offset > limit {
        return None;
    }
    let validator = settings.get_str(KEY_DL_VALIDATOR).map(str::to_owned);
    Some(Resume { offset, validator })
}

/// A fresh download of `identity` begins: no bytes known good yet.
pub(crate) fn begin<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    identity: &str,
) -> Result<(), String> {
    let zero = 0u64.to_le_bytes();
    apply(
        settings,
        flash,
        &[
            (KEY_DL_ID, Some(identity.as_bytes())),
            (KEY_DL_OFFSET, Some(&zero)),
            (KEY_DL_TOTAL, None),
            (KEY_DL_VALIDATOR, None),
        ],
    )
}

/// The server told the file's size and validator (kept for a resume).
pub(crate) fn started<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    total: u64,
    validator: Option<&str>,
) -> Result<(), String> {
    let total = total.to_le_bytes();
    apply(settings, flash, &[(KEY_DL_TOTAL, Some(&total)), (KEY_DL_VALIDATOR, validator.map(str::as_bytes))])
}

/// Every byte below `offset` (sector-aligned) is on flash.
pub(crate) fn checkpoint<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    offset: u64,
) -> Result<(), String> {
    apply(settings, flash, &[(KEY_DL_OFFSET, Some(&offset.to_le_bytes()))])
}

/// The download's bytes are worthless (a rejected image): no resume.
pub(crate) fn forget<F: NorFlash>(settings: &mut Settings, flash: &mut F) -> Result<(), String> {
    apply(settings, flash, &FORGET_DOWNLOAD)
}

/// The download is complete and goes to its installer: `pending` is
/// recorded and the download forgotten, in one batch.
pub(crate) fn schedule<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    pending: Pending,
) -> Result<(), String> {
    let value = pending.encode().unwrap_or_default();
    let mut changes = FORGET_DOWNLOAD.to_vec();
    changes.push((KEY_PENDING, Some(value.as_bytes())));
    apply(settings, flash, &changes)
}

/// The installer has the request: an application update moves from
/// scheduling to scheduled.
pub(crate) fn scheduled<F: NorFlash>(settings: &mut Settings, flash: &mut F) -> Result<(), String> {
    apply(settings, flash, &[(KEY_PENDING, PENDING_APP_SCHEDULED.as_bytes().into())])
}

/// What `fota.pending` says, if anything.
pub(crate) fn pending(settings: &Settings) -> Option<Pending> {
    settings.get(KEY_PENDING).map(Pending::decode)
}

/// The result has been reported (or there is none to report): forget it.
pub(crate) fn reported<F: NorFlash>(settings: &mut Settings, flash: &mut F) -> Result<(), String> {
    if settings.get(KEY_PENDING).is_none() {
        return Ok(());
    }
    apply(settings, flash, &[(KEY_PENDING, None)])
}

/// The download's bytes are dropped, and with `pending` the waiting update too.
pub(crate) fn discard<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    pending: bool,
) -> Result<(), String> {
    let mut changes = FORGET_DOWNLOAD.to_vec();
    if pending {
        changes.push((KEY_PENDING, None));
    }
    apply(settings, flash, &changes)
}

fn apply<F: NorFlash>(
    settings: &mut Settings,
    flash: &mut F,
    changes: &[(&str, Option<&[u8]>)],
) -> Result<(), String> {
    settings.apply(flash, changes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_values_round_trip_and_old_ones_still_read() {
        for p in [
            Pending::AppScheduling,
            Pending::AppScheduled,
            Pending::Modem { since: 0 },
            Pending::Modem { since: 77 },
        ] {
            assert_eq!(Pending::decode(p.encode().unwrap().as_bytes()), p);
        }
        // The values devices made by earlier builds hold.
        assert_eq!(Pending::decode(b"scheduling"), Pending::AppScheduling);
        assert_eq!(Pending::decode(b"scheduled"), Pending::AppScheduled);
        assert_eq!(Pending::decode(b"modem:x"), Pending::Unknown);
        assert_eq!(Pending::decode(&[0xff, 0xfe]), Pending::Unknown);
    }
}
