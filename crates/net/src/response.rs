//! The decision on one HTTP response head, without IO: follow a redirect, take the body (and
//! where it sits in the file), or fail. Owns the rules of the brief's "200 / 206 / 416 / other"
//! table and the strict `Content-Range` parser.
//!
//! It must never guess: a size or range the server did not state exactly is an error, never a
//! default. Parsing `Content-Range` is done by hand because the `http` crate has no typed
//! header for it and the grammar (RFC 9110 §14.4) is a single line.

use crate::error::DownloadError;
use atfota_download::StartInfo;

/// The status codes followed as redirects.
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// The fields of a response head that matter to a download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head<'a> {
    /// Status code.
    pub status: u16,
    /// `Content-Length`, raw.
    pub content_length: Option<&'a str>,
    /// `Content-Range`, raw.
    pub content_range: Option<&'a str>,
    /// `ETag`, raw.
    pub etag: Option<&'a str>,
    /// `Last-Modified`, raw.
    pub last_modified: Option<&'a str>,
    /// `Location`, raw.
    pub location: Option<&'a str>,
}

/// What to do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Follow the redirect to this (possibly relative) location.
    Redirect(&'a str),
    /// Read the body: `start` describes it, `length` bytes follow (may be 0).
    Body { start: StartInfo, length: u64 },
}

/// Decides what a response to a request for bytes from `requested` onwards means.
/// `known` is the validator the request carried (kept when a 206 names none).
pub fn classify<'a>(
    head: &Head<'a>,
    requested: u64,
    known: Option<&str>,
) -> Result<Verdict<'a>, DownloadError> {
    match head.status {
        200 => {
            let total = head
                .content_length
                .ok_or(DownloadError::MissingSize)
                .and_then(|v| parse_decimal(v).ok_or(DownloadError::BadContentLength(v.to_owned())))?;
            let start = StartInfo { offset: 0, total, validator: validator(head) };
            Ok(Verdict::Body { start, length: total })
        }
        206 => {
            let raw = head
                .content_range
                .ok_or(DownloadError::BadContentRange { requested, header: String::new() })?;
            let bad = || DownloadError::BadContentRange { requested, header: raw.to_owned() };
            let ContentRange::Bytes { first, last, total } = ContentRange::parse(raw).ok_or_else(bad)? else {
                return Err(bad());
            };
            let total = total.ok_or_else(bad)?;
            if first != requested || last.checked_add(1) != Some(total) {
                return Err(bad());
            }
            let length = total - first;
            if let Some(cl) = head.content_length {
                let cl = parse_decimal(cl).ok_or(DownloadError::BadContentLength(cl.to_owned()))?;
                if cl != length {
                    return Err(DownloadError::LengthMismatch { content_length: cl, range_length: length });
                }
            }
            let start = StartInfo {
                offset: first,
                total,
                validator: validator(head).or_else(|| known.map(str::to_owned)),
            };
            Ok(Verdict::Body { start, length })
        }
        416 => {
            // Asking from exactly the end of the file is how a finished download that was not
            // yet marked finished resumes: there is nothing left to fetch.
            if let Some(ContentRange::Unsatisfied { total }) =
                head.content_range.and_then(ContentRange::parse)
                && total == requested
                && requested > 0
            {
                let start = StartInfo {
                    offset: requested,
                    total,
                    validator: validator(head).or_else(|| known.map(str::to_owned)),
                };
                return Ok(Verdict::Body { start, length: 0 });
            }
            Err(DownloadError::RangeNotSatisfiable { offset: requested })
        }
        code if REDIRECTS.contains(&code) => head
            .location
            .filter(|l| !l.trim().is_empty())
            .map(|l| Verdict::Redirect(l.trim()))
            .ok_or(DownloadError::BadRedirect("the redirect has no Location header".into())),
        code => Err(DownloadError::Status(code)),
    }
}

/// The validator to send in `If-Range` next time: a strong ETag, else Last-Modified.
/// Weak ETags cannot be used with `If-Range` (RFC 9110 §13.1.5).
fn validator(head: &Head<'_>) -> Option<String> {
    head.etag
        .map(str::trim)
        .filter(|e| e.starts_with('"') && e.len() >= 2 && e.ends_with('"'))
        .or_else(|| head.last_modified.map(str::trim).filter(|d| !d.is_empty()))
        .map(str::to_owned)
}

/// A parsed `Content-Range` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/total` (`total` is `None` for `*`).
    Bytes { first: u64, last: u64, total: Option<u64> },
    /// `bytes */total`, sent with 416.
    Unsatisfied { total: u64 },
}

impl ContentRange {
    /// Parses one value strictly; `None` for anything not in the grammar or out of range.
    pub fn parse(raw: &str) -> Option<Self> {
        let (unit, rest) = raw.trim().split_once(' ')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (range, total) = rest.split_once('/')?;
        let total = match total {
            "*" => None,
            digits => Some(parse_decimal(digits)?),
        };
        if range == "*" {
            return total.map(|total| Self::Unsatisfied { total });
        }
        let (first, last) = range.split_once('-')?;
        let (first, last) = (parse_decimal(first)?, parse_decimal(last)?);
        if first > last || total.is_some_and(|t| last >= t) {
            return None;
        }
        Some(Self::Bytes { first, last, total })
    }
}

/// Digits only (no sign, no spaces), fitting in u64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn head(status: u16) -> Head<'static> {
        Head { status, ..Head::default() }
    }

    #[test]
    fn ok_takes_the_size_from_content_length() {
        let h = Head { content_length: Some("1000"), etag: Some("\"abc\""), ..head(200) };
        let v = classify(&h, 0, None).unwrap();
        let start = StartInfo { offset: 0, total: 1000, validator: Some("\"abc\"".into()) };
        assert_eq!(v, Verdict::Body { start, length: 1000 });
    }

    #[test]
    fn ok_to_a_ranged_request_starts_over() {
        let h = Head { content_length: Some("10"), ..head(200) };
        let Verdict::Body { start, .. } = classify(&h, 5, Some("\"old\"")).unwrap() else {
            panic!("not a body")
        };
        assert_eq!((start.offset, start.validator), (0, None));
    }

    #[test]
    fn ok_without_size_is_refused() {
        assert!(matches!(classify(&head(200), 0, None), Err(DownloadError::MissingSize)));
        let h = Head { content_length: Some("-1"), ..head(200) };
        assert!(matches!(classify(&h, 0, None), Err(DownloadError::BadContentLength(_))));
    }

    #[test]
    fn partial_must_match_the_request_exactly() {
        let partial = |cr: &'static str, cl: Option<&'static str>| Head {
            content_range: Some(cr),
            content_length: cl,
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            ..head(206)
        };
        let v = classify(&partial("bytes 100-999/1000", Some("900")), 100, None).unwrap();
        let Verdict::Body { start, length } = v else { panic!("not a body") };
        assert_eq!((start.offset, start.total, length), (100, 1000, 900));
        assert_eq!(start.validator.as_deref(), Some("Wed, 21 Oct 2015 07:28:00 GMT"));

        for (cr, cl) in [
            ("bytes 101-999/1000", None),  // starts elsewhere
            ("bytes 100-998/1000", None),  // stops short of the end
            ("bytes 100-999/*", None),     // size unknown
            ("bytes */1000", None),        // not a range
            ("items 100-999/1000", None),  // not bytes
            ("bytes 100-999/1000/", None), // junk
        ] {
            let r = classify(&partial(cr, cl), 100, None);
            assert!(matches!(r, Err(DownloadError::BadContentRange { .. })), "{cr}: {r:?}");
        }
        let r = classify(&partial("bytes 100-999/1000", Some("901")), 100, None);
        assert!(matches!(r, Err(DownloadError::LengthMismatch { .. })), "{r:?}");
        let r = classify(&head(206), 100, None);
        assert!(matches!(r, Err(DownloadError::BadContentRange { .. })), "{r:?}");
    }

    #[test]
    fn partial_without_validator_keeps_the_known_one() {
        let h = Head { content_range: Some("bytes 5-9/10"), ..head(206) };
        let Verdict::Body { start, .. } = classify(&h, 5, Some("\"v1\"")).unwrap() else {
            panic!("not a body")
        };
        assert_eq!(start.validator.as_deref(), Some("\"v1\""));
    }

    #[test]
    fn weak_etag_falls_back_to_last_modified() {
        let h = Head {
            content_length: Some("1"),
            etag: Some("W/\"weak\""),
            last_modified: Some("date"),
            ..head(200)
        };
        let Verdict::Body { start, .. } = classify(&h, 0, None).unwrap() else { panic!() };
        assert_eq!(start.validator.as_deref(), Some("date"));
    }

    #[test]
    fn unsatisfiable_range() {
        let r = classify(&head(416), 50, None);
        assert!(matches!(r, Err(DownloadError::RangeNotSatisfiable { offset: 50 })));
        let at_end = Head { content_range: Some("bytes */50"), ..head(416) };
        let Verdict::Body { start, length } = classify(&at_end, 50, None).unwrap() else { panic!() };
        assert_eq!((start.offset, start.total, length), (50, 50, 0));
        let shorter = Head { content_range: Some("bytes */40"), ..head(416) };
        assert!(classify(&shorter, 50, None).is_err());
    }

    #[test]
    fn redirects_need_a_location() {
        for code in REDIRECTS {
            let h = Head { location: Some(" /next "), ..head(code) };
            assert_eq!(classify(&h, 0, None).unwrap(), Verdict::Redirect("/next"));
            assert!(matches!(classify(&head(code), 0, None), Err(DownloadError::BadRedirect(_))));
        }
    }

    #[test]
    fn other_statuses_are_errors() {
        for code in [204, 304, 400, 403, 404, 500, 503] {
            assert!(matches!(classify(&head(code), 0, None), Err(DownloadError::Status(c)) if c == code));
        }
    }

    #[test]
    fn content_range_grammar() {
        let bytes = |first, last, total| Some(ContentRange::Bytes { first, last, total });
        assert_eq!(ContentRange::parse("bytes 0-0/1"), bytes(0, 0, Some(1)));
        assert_eq!(ContentRange::parse("Bytes 1-2/*"), bytes(1, 2, None));
        assert_eq!(ContentRange::parse(" bytes 1-2/3 "), bytes(1, 2, Some(3)));
        assert_eq!(ContentRange::parse("bytes */7"), Some(ContentRange::Unsatisfied { total: 7 }));
        for bad in [
            "",
            "bytes",
            "bytes 1-2",
            "bytes 2-1/5",
            "bytes 1-5/5",
            "bytes -1-2/5",
            "bytes +1-2/5",
            "bytes 1 -2/5",
            "bytes */*",
            "bytes 1-2/18446744073709551616",
            "bytes a-b/c",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn content_range_round_trips(first in any::<u64>(), len in any::<u64>(), extra in any::<u64>()) {
            let last = first.saturating_add(len);
            let total = last.checked_add(1).map(|t| t.saturating_add(extra));
            let text = match total {
                Some(t) => format!("bytes {first}-{last}/{t}"),
                None => format!("bytes {first}-{last}/*"),
            };
            prop_assert_eq!(ContentRange::parse(&text), Some(ContentRange::Bytes { first, last, total }));
        }

        #[test]
        fn content_range_never_panics(s in "\\PC{0,40}") {
            let _ = ContentRange::parse(&s);
        }

        #[test]
        fn accepted_partials_fit_in_the_file(
            first in 0u64..1_000_000, last in 0u64..1_000_000, total in 0u64..1_000_000,
        ) {
            let text = format!("bytes {first}-{last}/{total}");
            let h = Head { content_range: Some(&text), ..head(206) };
            if let Ok(Verdict::Body { start, length }) = classify(&h, first, None) {
                prop_assert_eq!(start.offset, first);
                prop_assert_eq!(start.offset + length, start.total);
                prop_assert_eq!(last + 1, total);
            }
        }
    }
}
