//! Byte-fed framer: cuts the raw byte stream of a serial line into command lines.
//!
//! It owns line termination (V.250 S3/S4, plus LF-only hosts), command-line editing (V.250 S5:
//! BS and DEL), the line-length limit and the rejection of control bytes. It must never buffer more
//! than `max_len` bytes, interpret AT syntax beyond double quotes, or panic on any byte.

/// Documented limit of one command line in bytes, terminator excluded (the nRF91 SLM's limit).
pub const MAX_LINE_LEN: usize = 4096;

const TAB: u8 = 0x09;
const LF: u8 = 0x0A;
const CR: u8 = 0x0D;
const BS: u8 = 0x08;
const DEL: u8 = 0x7F;
const SPACE: u8 = 0x20;
const QUOTE: u8 = 0x22;
/// Bytes below this are C0 control characters.
const FIRST_PRINTABLE: u8 = 0x20;
/// First buffer allocation: most command lines fit, so small lines never reallocate.
const INITIAL_CAPACITY: usize = 64;

/// What the framer reports when a line ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A complete line: no terminator, surrounding spaces and tabs trimmed, never empty.
    Line(String),
    /// The line exceeded the framer's `max_len`; its bytes were discarded.
    TooLong,
    /// The line held a control byte other than TAB, or was not valid UTF-8.
    Invalid,
}

/// Byte-fed line framer with a bounded buffer.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    max_len: usize,
    /// The current line lost bytes beyond `max_len`; sticky until its terminator, because the
    /// discarded bytes can no longer be edited back.
    overflow: bool,
    /// The previous byte was a CR that ended a line, so an LF right after it is its pair.
    after_cr: bool,
    /// CR and LF between double quotes are line content ([`Framer::multiline_strings`]).
    multiline_strings: bool,
    /// An odd number of double quotes has been seen on the current line.
    in_quotes: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(MAX_LINE_LEN)
    }
}

impl Framer {
    /// A framer that accepts lines of at most `max_len` bytes (terminator excluded).
    pub fn new(max_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_len,
            overflow: false,
            after_cr: false,
            multiline_strings: false,
            in_quotes: false,
        }
    }

    /// Treat CR and LF inside double quotes as content, as the nRF91 Serial LTE Modem does, so a
    /// quoted PEM certificate (`AT%CMNG=0,16842753,0,"-----BEGIN...`) can span several lines.
    ///
    /// Off by default. A stray quote would otherwise swallow the following lines, so a line that
    /// has overflowed `max_len` ends at the next terminator even inside quotes.
    pub fn multiline_strings(mut self, enabled: bool) -> Self {
        self.multiline_strings = enabled;
        self
    }

    /// The longest line this framer accepts, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Feed one byte; returns `Some` when it ended a non-empty line.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match byte {
            LF if after_cr => None,
            CR | LF if !self.in_quotes || self.overflow => {
                self.after_cr = byte == CR;
                self.finish()
            }
            BS | DEL => {
                self.erase();
                None
            }
            _ => {
                self.store(byte);
                None
            }
        }
    }

    /// True while bytes of an unfinished line are buffered (or were discarded for length).
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }

    /// Drop the unfinished line and all state, as after a power cycle.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overflow = false;
        self.after_cr = false;
        self.in_quotes = false;
    }

    fn store(&mut self, byte: u8) {
        if self.multiline_strings && byte == QUOTE {
            // Tracked for discarded bytes too, so the true end of an overlong line is found.
            self.in_quotes = !self.in_quotes;
        }
        if self.overflow || self.buf.len() >= self.max_len {
            self.overflow = true;
            return;
        }
        if self.buf.len() == self.buf.capacity() {
            // Grow by hand so the capacity never exceeds `max_len`: memory stays bounded by the
            // documented limit, not by Vec's doubling.
            let target = (self.buf.capacity() * 2).max(INITIAL_CAPACITY).min(self.max_len);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.push(byte);
    }

    /// V.250 S5: remove the last character. A whole UTF-8 sequence goes at once, because a
    /// terminal sends one BS per character it shows, not per byte.
    fn erase(&mut self) {
        if self.overflow {
            // The erased byte was discarded; what it was (a quote?) is unknown, and the line is
            // reported too long whatever follows.
            return;
        }
        let len = self.buf.len();
        let trailing = self.buf.iter().rev().take(3).take_while(|&&b| is_continuation(b)).count();
        let cut = match len.checked_sub(trailing + 1) {
            Some(lead) if trailing > 0 && self.buf.get(lead).is_some_and(|&b| is_lead(b)) => lead,
            _ => len.saturating_sub(1),
        };
        if self.multiline_strings && self.buf.get(cut) == Some(&QUOTE) {
            self.in_quotes = !self.in_quotes;
        }
        self.buf.truncate(cut);
    }

    fn finish(&mut self) -> Option<Frame> {
        let overflow = std::mem::replace(&mut self.overflow, false);
        self.in_quotes = false;
        if overflow {
            self.buf.clear();
            return Some(Frame::TooLong);
        }
        let frame = classify(trim(&self.buf), self.multiline_strings);
        self.buf.clear();
        frame
    }
}

/// The frame for a finished line, or `None` for an empty one.
fn classify(line: &[u8], multiline_strings: bool) -> Option<Frame> {
    if line.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    for &byte in line {
        if multiline_strings && byte == QUOTE {
            in_quotes = !in_quotes;
        }
        let allowed_in_quotes = multiline_strings && in_quotes && matches!(byte, CR | LF);
        if byte < FIRST_PRINTABLE && byte != TAB && !allowed_in_quotes {
            return Some(Frame::Invalid);
        }
    }
    match std::str::from_utf8(line) {
        Ok(text) => Some(Frame::Line(text.to_owned())),
        Err(_) => Some(Frame::Invalid),
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

fn is_lead(byte: u8) -> bool {
    byte >= 0xC0
}

fn trim(line: &[u8]) -> &[u8] {
    let is_blank = |b: &u8| matches!(*b, SPACE | TAB);
    let start = line.iter().position(|b| !is_blank(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !is_blank(b)).map_or(start, |i| i + 1);
    &line[start..end]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn feed(framer: &mut Framer, bytes: &[u8]) -> Vec<Frame> {
        bytes.iter().filter_map(|&b| framer.push(b)).collect()
    }

    fn line(text: &str) -> Frame {
        Frame::Line(text.to_owned())
    }

    #[test]
    fn frames_table() {
        let cases: Vec<(&str, &[u8], Vec<Frame>)> = vec![
            ("CR ends a line", b"AT\r", vec![line("AT")]),
            ("no terminator yet", b"AT", vec![]),
            ("empty line", b"\r", vec![]),
            ("CRLF", b"ATE0\r\nATI\r\n", vec![line("ATE0"), line("ATI")]),
            ("LF only", b"ATE0\nATI\n", vec![line("ATE0"), line("ATI")]),
            ("LF CR", b"AT\n\rAT\n\r", vec![line("AT"), line("AT")]),
            ("CR CR", b"AT\r\rAT\r", vec![line("AT"), line("AT")]),
            ("blank lines", b" \t \r\n\r\n\n", vec![]),
            ("trimmed", b"  AT+CGMR \t\r", vec![line("AT+CGMR")]),
            ("tab inside kept", b"AT+X=\"a\tb\"\r", vec![line("AT+X=\"a\tb\"")]),
            ("backspace", b"ATX\x08I\r", vec![line("ATI")]),
            ("delete", b"ATXY\x7f\x7fI\r", vec![line("ATI")]),
            ("erase on empty buffer", b"\x08\x7fAT\r", vec![line("AT")]),
            ("erase to empty", b"A\x08\r", vec![]),
            ("erase utf-8 char", "AT+X=\"\u{fc}\x7f\"\r".as_bytes(), vec![line("AT+X=\"\"")]),
            ("erase 4-byte char", "AT\u{1F600}\x08I\r".as_bytes(), vec![line("ATI")]),
            ("erase lone continuation", b"AT\x80\x08I\r", vec![line("ATI")]),
            ("control byte", b"AT\x1b[A\r", vec![Frame::Invalid]),
            ("NUL", b"\x00\r", vec![Frame::Invalid]),
            ("control then erased", b"AT\x01\x08I\r", vec![line("ATI")]),
            ("bad utf-8", b"AT+X=\"\xff\"\r", vec![Frame::Invalid]),
            ("truncated utf-8", b"AT+X=\xc3\r", vec![Frame::Invalid]),
            ("garbage then line", b"\xff\xfe\x00\x07\rAT\r", vec![Frame::Invalid, line("AT")]),
            ("utf-8 kept", "AT+X=\"\u{e9}\"\r".as_bytes(), vec![line("AT+X=\"\u{e9}\"")]),
            (
                "CR inside quotes ends line by default",
                b"AT+X=\"a\rb\"\r",
                vec![line("AT+X=\"a"), line("b\"")],
            ),
        ];
        for (name, input, want) in cases {
            let mut framer = Framer::new(MAX_LINE_LEN);
            let got = feed(&mut framer, input);
            let partial = framer.is_partial();
            assert_eq!(got, want, "case {name}");
            assert_eq!(partial, !input.ends_with(b"\r") && !input.ends_with(b"\n"), "case {name}");
        }
    }

    #[test]
    fn line_of_exactly_max_len_passes() {
        let mut framer = Framer::new(8);
        assert_eq!(feed(&mut framer, b"AT+ABCDE\r"), vec![line("AT+ABCDE")]);
    }

    #[test]
    fn line_of_max_len_plus_one_is_too_long() {
        let mut framer = Framer::new(8);
        assert_eq!(feed(&mut framer, b"AT+ABCDEF"), vec![]);
        assert!(framer.is_partial());
        assert!(framer.buf.len() <= 8);
        assert_eq!(feed(&mut framer, b"\r\nAT\r\n"), vec![Frame::TooLong, line("AT")]);
    }

    #[test]
    fn overflow_is_sticky_across_erase() {
        let mut framer = Framer::new(4);
        assert_eq!(feed(&mut framer, b"ATABC\x08\r"), vec![Frame::TooLong]);
    }

    #[test]
    fn zero_max_len_rejects_every_line() {
        let mut framer = Framer::new(0);
        assert_eq!(feed(&mut framer, b"AT\r\r"), vec![Frame::TooLong]);
    }

    #[test]
    fn partial_and_reset() {
        let mut framer = Framer::default();
        assert!(!framer.is_partial());
        feed(&mut framer, b"AT+CG");
        assert!(framer.is_partial());
        framer.reset();
        assert!(!framer.is_partial());
        assert_eq!(feed(&mut framer, b"MR\r"), vec![line("MR")]);
    }

    #[test]
    fn bytes_split_anywhere_give_same_frames() {
        let mut framer = Framer::default();
        let mut frames = feed(&mut framer, b"AT+CMEE=1\r");
        frames.extend(feed(&mut framer, b"\nAT"));
        frames.extend(feed(&mut framer, b"I\r"));
        assert_eq!(frames, vec![line("AT+CMEE=1"), line("ATI")]);
    }

    #[test]
    fn multiline_strings_keep_terminators_inside_quotes() {
        let mut framer = Framer::default().multiline_strings(true);
        let input = b"AT%CMNG=0,1,0,\"-----BEGIN\r\nabc\r\n-----END\"\r\nAT\r\n";
        assert_eq!(
            feed(&mut framer, input),
            vec![line("AT%CMNG=0,1,0,\"-----BEGIN\r\nabc\r\n-----END\""), line("AT")]
        );
    }

    #[test]
    fn multiline_strings_erased_quote_closes_string() {
        let mut framer = Framer::default().multiline_strings(true);
        assert_eq!(feed(&mut framer, b"AT+X=\"\x08\r"), vec![line("AT+X=")]);
    }

    #[test]
    fn multiline_strings_reject_control_outside_quotes() {
        let mut framer = Framer::default().multiline_strings(true);
        assert_eq!(feed(&mut framer, b"AT\x01\r"), vec![Frame::Invalid]);
    }

    #[test]
    fn multiline_strings_overflow_ends_at_next_terminator() {
        let mut framer = Framer::new(6).multiline_strings(true);
        assert_eq!(feed(&mut framer, b"AT+X=\"abcdef\r\nAT\r\n"), vec![Frame::TooLong, line("AT")]);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            max_len in 0usize..300,
            multiline in any::<bool>(),
        ) {
            let mut framer = Framer::new(max_len).multiline_strings(multiline);
            for byte in bytes {
                if let Some(Frame::Line(text)) = framer.push(byte) {
                    prop_assert!(!text.is_empty());
                    prop_assert!(text.len() <= max_len);
                    prop_assert_eq!(text.trim_matches([' ', '\t']), text.as_str());
                }
                prop_assert!(framer.buf.len() <= max_len);
                prop_assert!(framer.buf.capacity() <= max_len);
            }
        }

        #[test]
        fn printable_lines_pass_through(text in "[ -~]{1,100}") {
            prop_assume!(!text.trim_matches(' ').is_empty());
            let mut framer = Framer::new(100);
            let mut bytes = text.clone().into_bytes();
            bytes.extend_from_slice(b"\r\n");
            let frames = feed(&mut framer, &bytes);
            prop_assert_eq!(frames, vec![Frame::Line(text.trim_matches(' ').to_owned())]);
        }
    }
}
