//! Sans-IO framing of FTP replies (RFC 959 §4.2): bytes read from the control connection go
//! in through [`ReplyReader::unfilled`]/[`ReplyReader::filled`], complete replies come out of
//! [`ReplyReader::poll_reply`]. Multi-line replies (`220-...` up to the line that starts with
//! the same code and a space) of any length are consumed line by line and only their last
//! line is kept, so memory stays at one fixed buffer whatever the server sends.
//!
//! It must never allocate per byte, keep more than one line, or accept a line longer than its
//! buffer (a server that never sends a line end gets an error, not unbounded memory).

use crate::error::DownloadError;

/// The read buffer, which is also the longest line accepted (RFC 959 sets no limit; real
/// servers stay under a few hundred bytes).
const BUF: usize = 0x1000;
/// Lines of one multi-line reply before the server is considered broken (pure-ftpd's banner
/// has about a dozen).
const MAX_LINES: u32 = 0x400;

/// One complete reply: its code and the text of its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code, 100..=599.
    pub code: u16,
    /// The last line after the code and separator, lossily decoded, control characters
    /// replaced, trimmed.
    pub text: String,
}

impl Reply {
    /// 1xx: preliminary, another reply follows.
    pub fn is_preliminary(&self) -> bool {
        self.code < 200
    }

    /// 2xx: completed.
    pub fn is_complete(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: transient negative completion.
    pub fn is_transient_refusal(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

/// Reassembles replies from arbitrary chunks of control-connection bytes.
#[derive(Debug)]
pub struct ReplyReader {
    buf: Box<[u8; BUF]>,
    /// First byte not consumed yet.
    start: usize,
    /// End of the bytes received.
    end: usize,
    /// The multi-line reply in progress: its code and the lines seen so far.
    pending: Option<([u8; 3], u32)>,
}

impl ReplyReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self { buf: Box::new([0; BUF]), start: 0, end: 0, pending: None }
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn poll_reply(&mut self) -> Result<Option<Reply>, DownloadError> {
        loop {
            let Some(newline) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') else {
                if self.start == 0 && self.end == BUF {
                    return Err(DownloadError::FtpProtocol(format!(
                        "a reply line is longer than {BUF} bytes"
                    )));
                }
                return Ok(None);
            };
            let line_end = self.start + newline;
            let line_start = std::mem::replace(&mut self.start, line_end + 1);
            let mut line = &self.buf[line_start..line_end];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if let Some(reply) = next_line(&mut self.pending, line)? {
                return Ok(Some(reply));
            }
        }
    }

    /// Space for the next read from the socket; never empty while `poll_reply` returns
    /// `Ok(None)`.
    pub fn unfilled(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Accounts `n` bytes written into [`ReplyReader::unfilled`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(BUF);
    }
}

impl Default for ReplyReader {
    fn default() -> Self {
        Self::new()
    }
}

/// Feeds one line (without its line end) to the reply in progress.
fn next_line(pending: &mut Option<([u8; 3], u32)>, line: &[u8]) -> Result<Option<Reply>, DownloadError> {
    match pending {
        None => {
            let Some(code) = code_of(line) else {
                return Err(DownloadError::FtpProtocol(format!(
                    "a reply must start with a three-digit code, got {:?}",
                    printable(&line[..line.len().min(40)])
                )));
            };
            match line.get(3) {
                None | Some(b' ') => Ok(Some(reply(code, line))),
                Some(b'-') => {
                    *pending = Some((code, 1));
                    Ok(None)
                }
                Some(_) => Err(DownloadError::FtpProtocol(format!(
                    "the reply code {} is followed by neither a space nor a dash",
                    printable(&code)
                ))),
            }
        }
        Some((code, lines)) => {
            *lines += 1;
            if *lines > MAX_LINES {
                return Err(DownloadError::FtpProtocol(format!(
                    "a multi-line reply is longer than {MAX_LINES} lines"
                )));
            }
            // RFC 959: only the same code followed by a space ends the reply; continuation
            // lines may start with anything, digits included.
            if line.starts_with(code) && matches!(line.get(3), None | Some(b' ')) {
                let code = *code;
                *pending = None;
                return Ok(Some(reply(code, line)));
            }
            Ok(None)
        }
    }
}

/// The code of a line that starts with one: first digit 1..=5, then two digits.
fn code_of(line: &[u8]) -> Option<[u8; 3]> {
    match line {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => Some([*a, *b, *c]),
        _ => None,
    }
}

/// The reply whose last line is `line`, which starts with `code`.
fn reply(code: [u8; 3], line: &[u8]) -> Reply {
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let text = line.get(4..).unwrap_or_default();
    Reply { code, text: printable(text).trim().to_owned() }
}

/// Text safe to show and log: invalid UTF-8 and control characters replaced.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the replies or the first error.
    fn replies(input: &[u8], step: usize) -> Result<Vec<Reply>, DownloadError> {
        let mut reader = ReplyReader::new();
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let space = reader.unfilled();
                let n = space.len().min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                reader.filled(n);
                rest = &rest[n..];
                while let Some(reply) = reader.poll_reply()? {
                    out.push(reply);
                }
            }
        }
        Ok(out)
    }

    fn r(code: u16, text: &str) -> Reply {
        Reply { code, text: text.into() }
    }

    #[test]
    fn single_and_multi_line_replies() {
        let input = b"220 ready\r\n331 password please\r\n230-Welcome\r\n230-  more\r\n230 in\r\n";
        assert_eq!(
            replies(input, 1000).unwrap(),
            vec![r(220, "ready"), r(331, "password please"), r(230, "in")]
        );
    }

    #[test]
    fn a_twelve_line_banner_like_pure_ftpd() {
        let banner = b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n\
220-You are user number 1 of 50 allowed.\r\n\
220-Local time is now 12:00. Server port: 21.\r\n\
220-This is a private system - No anonymous login\r\n\
220-IPv6 connections are also welcome on this server.\r\n\
220-You will be disconnected after 15 minutes of inactivity.\r\n\
 indented continuation\r\n\
123 a continuation that looks like a code\r\n\
220-line 9\r\n\
220-line 10\r\n\
220-line 11\r\n\
220 line 12\r\n\
150-Accepted data connection\r\n\
150 1.2 kbytes to download\r\n\
226-File successfully transferred\r\n\
226 0.001 seconds (measured here), 1.17 Mbytes per second\r\n";
        let got = replies(banner, 7).unwrap();
        assert_eq!(
            got,
            vec![
                r(220, "line 12"),
                r(150, "1.2 kbytes to download"),
                r(226, "0.001 seconds (measured here), 1.17 Mbytes per second"),
            ]
        );
    }

    #[test]
    fn bare_lf_bare_code_and_control_characters() {
        let got = replies(b"200\n500 bad\x07 \xff\r\n", 3).unwrap();
        assert_eq!(got, vec![r(200, ""), r(500, "bad? \u{fffd}")]);
        assert!(got[0].is_complete() && !got[0].is_preliminary());
        assert!(r(150, "").is_preliminary() && r(421, "").is_transient_refusal());
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [&b"HTTP/1.1 200 OK\r\n"[..], b"22 short\r\n", b"2200 long\r\n", b"620 code\r\n", b"\r\n"]
        {
            assert!(matches!(replies(bad, 1000), Err(DownloadError::FtpProtocol(_))), "{bad:?}");
        }
    }

    #[test]
    fn an_endless_line_is_refused_not_buffered() {
        let mut input = b"220 ".to_vec();
        input.extend(std::iter::repeat_n(b'a', BUF * 3));
        assert!(matches!(replies(&input, 999), Err(DownloadError::FtpProtocol(_))));
    }

    #[test]
    fn an_endless_multi_line_reply_is_refused() {
        let mut input = b"220-hi\r\n".to_vec();
        for _ in 0..=MAX_LINES {
            input.extend_from_slice(b" more\r\n");
        }
        assert!(matches!(replies(&input, 4096), Err(DownloadError::FtpProtocol(_))));
    }

    #[test]
    fn a_partial_reply_waits_for_more() {
        assert_eq!(replies(b"220-a\r\n220 b", 1).unwrap(), vec![]);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_replies(
            lines in proptest::collection::vec((100u16..600, "[ -~]{0,30}", 0usize..4), 1..8),
            step in 1usize..64,
        ) {
            let mut input = Vec::new();
            for (code, text, extra) in &lines {
                for i in 0..*extra {
                    input.extend_from_slice(format!("{code}-line {i}\r\n").as_bytes());
                }
                input.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
            }
            let whole = replies(&input, input.len()).unwrap();
            prop_assert_eq!(&whole, &replies(&input, step).unwrap());
            let expected: Vec<Reply> = lines.iter().map(|(c, t, _)| r(*c, t.trim())).collect();
            prop_assert_eq!(whole, expected);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2000), step in 1usize..300) {
            let _ = replies(&input, step);
        }
    }
}
