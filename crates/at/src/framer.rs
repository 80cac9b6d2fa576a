//! Byte-fed framer: cuts the raw byte stream of a serial line into command lines.
//!
//! It owns line termination (V.250 S3/S4, plus LF-only hosts), command-line editing (V.250 S5:
//! BS and DEL), the line-length limits and the rejection of control bytes, and the one exception
//! to "CR ends a line": the lines of one configured command (the nRF91's `AT%CMNG`) whose quoted
//! parameters may hold CR and LF ([`Framer::multiline_command`]). It must never buffer more than
//! the limit of the line at hand, interpret AT syntax beyond double quotes and that command's
//! prefix, or panic on any byte.

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
    /// The line exceeded its length limit; its bytes were discarded.
    TooLong,
    /// The line held a control byte other than TAB (or CR and LF inside the quotes of a
    /// multi-line command), or was not valid UTF-8.
    Invalid,
}

/// Byte-fed line framer with a bounded buffer.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    max_len: usize,
    /// The one command whose quoted strings may span lines, and its own limit.
    multiline: Option<Multiline>,
    /// The current line lost bytes beyond its limit; sticky until its terminator, because the
    /// discarded bytes can no longer be edited back.
    overflow: bool,
    /// Bytes of the current line discarded beyond its limit.
    dropped: usize,
    /// The previous byte was a CR that ended a line, so an LF right after it is its pair.
    after_cr: bool,
    /// An odd number of double quotes has been seen on the current line (discarded bytes too).
    in_quotes: bool,
    /// Leading spaces and tabs at the start of `buf`: the command prefix is looked for after them.
    lead: usize,
}

/// A command whose lines keep CR and LF inside double quotes.
#[derive(Debug, Clone)]
struct Multiline {
    /// `AT` and the command name, upper case, e.g. `AT%CMNG`.
    prefix: Box<[u8]>,
    max_len: usize,
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
            multiline: None,
            overflow: false,
            dropped: 0,
            after_cr: false,
            in_quotes: false,
            lead: 0,
        }
    }

    /// Lines that start with `AT<name>` (ASCII case ignored, after leading blanks, e.g. `%CMNG`)
    /// keep CR and LF inside double quotes as content, and may be `max_len` bytes long, as the
    /// nRF91 takes a PEM certificate with its line breaks: `AT%CMNG=0,1,0,"-----BEGIN...<LF>..."`.
    /// Such a line ends at the first CR or LF outside quotes.
    ///
    /// Every other line keeps the plain rules: CR or LF ends it even inside quotes, so a stray
    /// quote never swallows the lines after it. A multi-line string without its closing quote
    /// does swallow them (as on the real modem), but boundedly: once such a line has discarded
    /// more than `max_len` bytes beyond its limit, the next CR or LF ends it, quotes or not.
    pub fn multiline_command(mut self, name: &str, max_len: usize) -> Self {
        let prefix = format!("AT{name}").to_ascii_uppercase().into_bytes().into_boxed_slice();
        self.multiline = Some(Multiline { prefix, max_len });
        self
    }

    /// The longest ordinary line this framer accepts, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Feed one byte; returns `Some` when it ended a non-empty line.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match byte {
            LF if after_cr => None,
            CR | LF if self.string_continues() => {
                self.store(byte);
                None
            }
            CR | LF => {
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
        self.dropped = 0;
        self.after_cr = false;
        self.in_quotes = false;
        self.lead = 0;
    }

    /// The current line starts with the multi-line command's prefix.
    fn is_multiline(&self) -> bool {
        let Some(m) = &self.multiline else { return false };
        let end = self.lead + m.prefix.len();
        self.buf.get(self.lead..end).is_some_and(|start| start.eq_ignore_ascii_case(&m.prefix))
    }

    /// The length limit of the current line.
    fn limit(&self) -> usize {
        match &self.multiline {
            Some(m) if self.is_multiline() => m.max_len,
            _ => self.max_len,
        }
    }

    /// A CR or LF now is string content rather than the end of the line.
    fn string_continues(&self) -> bool {
        self.in_quotes && self.is_multiline() && self.dropped <= self.limit()
    }

    fn store(&mut self, byte: u8) {
        if byte == QUOTE {
            // Tracked for discarded bytes too, so the true end of an overlong line is found.
            self.in_quotes = !self.in_quotes;
        }
        let limit = self.limit();
        if self.overflow || self.buf.len() >= limit {
            self.overflow = true;
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        if self.buf.len() == self.buf.capacity() {
            // Grow by hand so the capacity never exceeds the limit: memory stays bounded by the
            // documented limit, not by Vec's doubling.
            let target = (self.buf.capacity() * 2).max(INITIAL_CAPACITY).min(limit);
            self.buf.reserve_exact(target - self.buf.len());
        }
        if self.lead == self.buf.len() && matches!(byte, SPACE | TAB) {
            self.lead += 1;
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
        if self.buf.get(cut) == Some(&QUOTE) {
            self.in_quotes = !self.in_quotes;
        }
        self.buf.truncate(cut);
        self.lead = self.lead.min(cut);
    }

    fn finish(&mut self) -> Option<Frame> {
        let overflow = std::mem::replace(&mut self.overflow, false);
        let multiline = self.is_multiline();
        self.in_quotes = false;
        self.dropped = 0;
        self.lead = 0;
        if overflow {
            self.buf.clear();
            return Some(Frame::TooLong);
        }
        let frame = classify(trim(&self.buf), multiline);
        self.buf.clear();
        frame
    }
}

/// The frame for a finished line, or `None` for an empty one.
fn classify(line: &[u8], multiline: bool) -> Option<Frame> {
    if line.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    for &byte in line {
        if byte == QUOTE {
            in_quotes = !in_quotes;
        }
        let allowed_in_quotes = multiline && in_quotes && matches!(byte, CR | LF);
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

    /// A framer like the SLM's: `%CMNG` lines may span lines and be up to 64 bytes.
    fn cmng(max_len: usize, cmng_len: usize) -> Framer {
        Framer::new(max_len).multiline_command("%CMNG", cmng_len)
    }

    const PEM_LF: &[u8] =
        b"AT%CMNG=0,16842753,0,\"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"\r\n";
    const PEM_CRLF: &[u8] =
        b"AT%CMNG=0,16842753,0,\"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\"\r\n";

    #[test]
    fn multiline_command_table() {
        let cases: Vec<(&str, &[u8], Vec<Frame>)> = vec![
            (
                "LF inside quotes",
                PEM_LF,
                vec![line(
                    "AT%CMNG=0,16842753,0,\"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"",
                )],
            ),
            (
                "CRLF inside quotes",
                PEM_CRLF,
                vec![line(
                    "AT%CMNG=0,16842753,0,\"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\"",
                )],
            ),
            (
                "lower case, leading blanks",
                b" \tat%cmng=0,1,3,\"a\nb\"\r",
                vec![line("at%cmng=0,1,3,\"a\nb\"")],
            ),
            ("line after it", b"AT%CMNG=1,\"x\ny\"\rAT\r", vec![line("AT%CMNG=1,\"x\ny\""), line("AT")]),
            (
                "two strings",
                b"AT%CMNG=0,1,2,\"a\nb\",\"c\nd\"\r",
                vec![line("AT%CMNG=0,1,2,\"a\nb\",\"c\nd\"")],
            ),
            ("terminator outside quotes", b"AT%CMNG=1\rAT\r", vec![line("AT%CMNG=1"), line("AT")]),
            ("other command unaffected", b"AT+X=\"a\rb\"\r", vec![line("AT+X=\"a"), line("b\"")]),
            (
                "unterminated quote, other command",
                b"AT#XFOTA=1,\"http://h/a\rAT\r",
                vec![line("AT#XFOTA=1,\"http://h/a"), line("AT")],
            ),
            (
                "prefix with a blank inside",
                b"AT %CMNG=0,\"a\nb\"\r",
                vec![line("AT %CMNG=0,\"a"), line("b\"")],
            ),
            ("longer name is still the prefix", b"AT%CMNGX=\"a\nb\"\r", vec![line("AT%CMNGX=\"a\nb\"")]),
            ("prefix erased", b"AT%CMNG\x08\x08G=\"a\nb\"\r", vec![line("AT%CMG=\"a"), line("b\"")]),
            ("erased quote closes the string", b"AT%CMNG=\"\x08\r", vec![line("AT%CMNG=")]),
            ("control outside quotes", b"AT%CMNG=1\x01\r", vec![Frame::Invalid]),
            ("control inside quotes", b"AT%CMNG=1,\"\x01\"\r", vec![Frame::Invalid]),
            ("missing closing quote swallows lines", b"AT%CMNG=0,1,0,\"abc\r\nAT\r\n", vec![]),
            (
                "missing closing quote ends at the next quote",
                b"AT%CMNG=0,1,0,\"abc\r\nAT\r\n\"\r\nAT\r\n",
                vec![line("AT%CMNG=0,1,0,\"abc\r\nAT\r\n\""), line("AT")],
            ),
        ];
        for (name, input, want) in cases {
            let mut framer = cmng(MAX_LINE_LEN, 100);
            assert_eq!(feed(&mut framer, input), want, "case {name}");
        }
    }

    #[test]
    fn multiline_command_split_anywhere_gives_same_frames() {
        let mut input = PEM_CRLF.to_vec();
        input.extend_from_slice(PEM_LF);
        input.extend_from_slice(b"AT\r\n");
        let mut whole = cmng(MAX_LINE_LEN, 200);
        let want = feed(&mut whole, &input);
        assert_eq!(want.len(), 3);
        for split in 0..=input.len() {
            let mut framer = cmng(MAX_LINE_LEN, 200);
            let mut got = feed(&mut framer, &input[..split]);
            got.extend(feed(&mut framer, &input[split..]));
            assert_eq!(got, want, "split at {split}");
        }
    }

    #[test]
    fn multiline_command_has_its_own_limit() {
        // Ordinary lines keep the short limit; %CMNG lines get the long one, exactly.
        let content = "x".repeat(40);
        let fits = format!("AT%CMNG=0,1,3,\"{content}\"");
        let mut framer = cmng(16, fits.len());
        assert_eq!(feed(&mut framer, format!("{fits}\r").as_bytes()), vec![line(&fits)]);
        assert_eq!(feed(&mut framer, b"AT+CGMR=1234567890\r"), vec![Frame::TooLong]);
        assert!(framer.buf.capacity() <= fits.len());

        let mut framer = cmng(16, fits.len() - 1);
        assert_eq!(feed(&mut framer, format!("{fits}\rAT\r").as_bytes()), vec![Frame::TooLong, line("AT")]);
    }

    #[test]
    fn overlong_multiline_line_is_one_error_up_to_twice_the_limit() {
        // A PEM over the limit ends at the terminator after its closing quote: one answer,
        // no stray lines from its tail.
        let mut framer = cmng(16, 40);
        let pem = format!("AT%CMNG=0,1,0,\"{}\n{}\"\r\nAT\r\n", "a".repeat(30), "b".repeat(30));
        assert_eq!(feed(&mut framer, pem.as_bytes()), vec![Frame::TooLong, line("AT")]);
        assert!(!framer.is_partial());
        // Without a closing quote, a line that dropped more than the limit ends at the next
        // terminator: the device cannot be swallowed for ever.
        let mut framer = cmng(16, 40);
        let runaway = format!("AT%CMNG=0,1,0,\"{}\n{}\r\nAT\r\n", "a".repeat(40), "b".repeat(50));
        assert_eq!(feed(&mut framer, runaway.as_bytes()), vec![Frame::TooLong, line("AT")]);
    }

    #[test]
    fn multiline_prefix_ignores_blanks_that_are_erased() {
        let mut framer = cmng(MAX_LINE_LEN, 100);
        assert_eq!(feed(&mut framer, b"  \x08\x08\x08AT%CMNG=\"a\nb\"\r"), vec![line("AT%CMNG=\"a\nb\"")]);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            max_len in 0usize..300,
            cmng_len in 0usize..600,
            multiline in any::<bool>(),
        ) {
            let mut framer = Framer::new(max_len);
            if multiline {
                framer = framer.multiline_command("%CMNG", cmng_len);
            }
            let bound = if multiline { max_len.max(cmng_len) } else { max_len };
            for byte in bytes {
                if let Some(Frame::Line(text)) = framer.push(byte) {
                    prop_assert!(!text.is_empty());
                    prop_assert!(text.len() <= bound);
                    prop_assert_eq!(text.trim_matches([' ', '\t']), text.as_str());
                }
                prop_assert!(framer.buf.len() <= bound);
                prop_assert!(framer.buf.capacity() <= bound);
            }
        }

        #[test]
        fn multiline_pem_survives_any_split(
            body in "[A-Za-z0-9+/=]{0,64}(\r?\n[A-Za-z0-9+/=]{1,64}){0,8}",
            split in any::<prop::sample::Index>(),
        ) {
            let text = format!("AT%CMNG=0,7,0,\"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\"");
            let mut bytes = text.clone().into_bytes();
            bytes.extend_from_slice(b"\r\nAT\r\n");
            let at = split.index(bytes.len() + 1);
            let mut framer = Framer::default().multiline_command("%CMNG", 1024);
            let mut frames = feed(&mut framer, &bytes[..at]);
            frames.extend(feed(&mut framer, &bytes[at..]));
            prop_assert_eq!(frames, vec![Frame::Line(text), line("AT")]);
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
