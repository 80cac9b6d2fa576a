//! Fuzz target: an HTTP response head, as the server sends it, through ureq's parser (the one
//! the client runs, `ureq_proto::parser::try_parse_response` with ureq's header limit), the
//! client's field extraction and its decision on the response (`atfota-net`, feature
//! `fuzzing`: `head`, `classify`, `ContentRange::parse`).
//!
//! Input: `[flags: 1 byte][requested offset: u64 LE]`, then the response head bytes. Flag bit 0:
//! the request carried a validator (`If-Range`), which a 206 without one keeps.
//!
//! Checks that nothing panics, and that every decision is one the head justifies: a body's
//! start, length and total agree with each other and with `Content-Length` /
//! `Content-Range`, a partial body starts exactly at the requested offset, a validator is a
//! strong ETag, a Last-Modified or the request's own, a redirect comes with a 3xx and its
//! Location, and any other status is an error naming it. Every `Content-Range` the parser
//! accepts is within its grammar and re-renders to a value that parses back to itself. It
//! keeps no state between inputs.

#![no_main]

use atfota_fuzz::input;
use atfota_net::DownloadError;
use atfota_net::fuzzing::{ContentRange, Head, Verdict, classify, head};
use libfuzzer_sys::fuzz_target;
use ureq_proto::parser::try_parse_response;

/// ureq's limit on response headers (`ureq_proto::client::MAX_RESPONSE_HEADERS`).
const MAX_HEADERS: usize = 128;
/// The validator a request with flag bit 0 carried.
const KNOWN: &str = "\"known\"";
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

fuzz_target!(|data: &[u8]| {
    let ([flags, r0, r1, r2, r3, r4, r5, r6, r7], raw) = input::header::<9>(data);
    let requested = u64::from_le_bytes([r0, r1, r2, r3, r4, r5, r6, r7]);
    let known = (flags & 0x01 != 0).then_some(KNOWN);
    let Ok(Some((used, response))) = try_parse_response::<MAX_HEADERS>(raw) else {
        return;
    };
    assert!(used <= raw.len());
    let head = head(&response);
    assert_eq!(head.status, response.status().as_u16());
    for value in [head.content_length, head.content_range, head.etag, head.last_modified, head.location]
        .into_iter()
        .flatten()
    {
        assert!(
            value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)),
            "{value:?} is not visible ASCII"
        );
    }
    if let Some(raw_range) = head.content_range {
        check_content_range(raw_range);
    }
    let verdict = classify(&head, requested, known);
    assert_eq!(verdict.as_ref().ok(), classify(&head, requested, known).as_ref().ok(), "not deterministic");
    check_verdict(&head, requested, known, verdict);
});

fn check_verdict(
    head: &Head<'_>,
    requested: u64,
    known: Option<&str>,
    verdict: Result<Verdict<'_>, DownloadError>,
) {
    match verdict {
        Ok(Verdict::Body { start, length }) => {
            assert!(start.offset <= start.total, "{start:?}");
            assert_eq!(start.offset.checked_add(length), Some(start.total), "{start:?}, length {length}");
            match head.status {
                200 => {
                    assert_eq!(start.offset, 0);
                    assert_eq!(head.content_length.and_then(decimal), Some(start.total));
                }
                206 => {
                    assert_eq!(start.offset, requested, "a partial body elsewhere than asked");
                    let range = head.content_range.and_then(ContentRange::parse);
                    let expected = ContentRange::Bytes {
                        first: requested,
                        last: start.total - 1,
                        total: Some(start.total),
                    };
                    assert_eq!(range, Some(expected));
                    if let Some(cl) = head.content_length {
                        assert_eq!(decimal(cl), Some(length), "Content-Length {cl:?} disagrees");
                    }
                }
                416 => {
                    assert_eq!((start.offset, length), (requested, 0));
                    assert!(requested > 0);
                    let range = head.content_range.and_then(ContentRange::parse);
                    assert_eq!(range, Some(ContentRange::Unsatisfied { total: requested }));
                }
                status => panic!("a body taken from status {status}"),
            }
            if let Some(validator) = &start.validator {
                let strong_etag = head.etag.map(str::trim) == Some(validator.as_str())
                    && validator.len() >= 2
                    && validator.starts_with('"')
                    && validator.ends_with('"');
                let modified =
                    head.last_modified.map(str::trim) == Some(validator.as_str()) && !validator.is_empty();
                let kept = head.status != 200 && known == Some(validator.as_str());
                assert!(strong_etag || modified || kept, "validator {validator:?} from nowhere in {head:?}");
            }
        }
        Ok(Verdict::Redirect(location)) => {
            assert!(REDIRECTS.contains(&head.status), "a redirect from status {}", head.status);
            assert!(!location.is_empty() && location.trim() == location, "location {location:?}");
            assert!(head.location.is_some_and(|l| l.contains(location)), "location not from the head");
        }
        Err(DownloadError::Status(code)) => {
            assert_eq!(code, head.status);
            assert!(![200, 206, 416].contains(&code) && !REDIRECTS.contains(&code), "status {code} refused");
        }
        Err(_) => {
            assert!([200, 206, 416].contains(&head.status) || REDIRECTS.contains(&head.status), "{head:?}");
        }
    }
}

fn check_content_range(raw: &str) {
    let Some(range) = ContentRange::parse(raw) else {
        return;
    };
    let rendered = match range {
        ContentRange::Bytes { first, last, total } => {
            assert!(first <= last, "{raw:?}");
            if let Some(total) = total {
                assert!(last < total, "{raw:?}");
            }
            let total = total.map_or("*".to_owned(), |t| t.to_string());
            format!("bytes {first}-{last}/{total}")
        }
        ContentRange::Unsatisfied { total } => format!("bytes */{total}"),
    };
    assert_eq!(ContentRange::parse(&rendered), Some(range), "{raw:?} re-rendered as {rendered:?}");
    assert!(raw.to_ascii_lowercase().contains("bytes"), "{raw:?}");
}

/// Digits only, fitting in u64 (the client's rule for sizes).
fn decimal(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}
