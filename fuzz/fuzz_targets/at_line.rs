//! Fuzz target: host bytes through the AT framer and command-line parser (`atfota-at`).
//!
//! Checks that neither panics on any byte stream, that every line the framer emits keeps its
//! promises (non-empty, trimmed, within the length limit, no stray control byte), that every
//! argument accessor answers, and that parsed commands survive being written back as text:
//! quoted strings through `quote`, whole extended commands through a re-render. It never
//! reads a file or keeps state between inputs.

#![no_main]

use atfota_at::{Arg, Command, Frame, Framer, MAX_LINE_LEN, Op, parse_line, quote};
use atfota_fuzz::input;
use libfuzzer_sys::fuzz_target;

/// Control byte bit: `AT%CMNG` lines keep CR/LF inside quotes and get a longer limit (the SLM's
/// certificate mode).
const MULTILINE: u8 = 0x01;
/// Control byte bit: a short line limit, so the overflow paths are reached cheaply.
const SHORT_LIMIT: u8 = 0x02;

fuzz_target!(|data: &[u8]| {
    let ([control], bytes) = input::header::<1>(data);
    let max_len = if control & SHORT_LIMIT != 0 { usize::from(control >> 2) } else { MAX_LINE_LEN };
    let multiline = control & MULTILINE != 0;
    let cmng_len = max_len.saturating_mul(2);
    let mut framer = Framer::new(max_len);
    if multiline {
        framer = framer.multiline_command("%CMNG", cmng_len);
    }
    for &byte in bytes {
        if let Some(Frame::Line(line)) = framer.push(byte) {
            let cmng = multiline && line.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("AT%CMNG"));
            check_line(&line, if cmng { cmng_len } else { max_len }, cmng);
            if let Ok(commands) = parse_line(&line) {
                commands.iter().for_each(check_command);
            }
        }
    }
    framer.reset();
    assert!(!framer.is_partial(), "reset left a partial line");
});

fn check_line(line: &str, max_len: usize, multiline: bool) {
    assert!(!line.is_empty(), "empty line emitted");
    assert!(line.len() <= max_len, "line of {} bytes over the limit {max_len}", line.len());
    assert!(!line.starts_with([' ', '\t']) && !line.ends_with([' ', '\t']), "untrimmed {line:?}");
    let mut in_quotes = false;
    for byte in line.bytes() {
        in_quotes ^= multiline && byte == b'"';
        let allowed = byte == b'\t' || (multiline && in_quotes && matches!(byte, b'\r' | b'\n'));
        assert!(byte >= 0x20 || allowed, "control byte {byte:#04x} in {line:?}");
    }
}

fn check_command(command: &Command) {
    let Op::Set(args) = &command.op else {
        check_round_trip(command);
        return;
    };
    // Every accessor answers for every index, one past the end included.
    for i in 0..=args.len() {
        let int = args.int(i);
        let string = args.string(i);
        match args.get(i) {
            None | Some(Arg::Omitted) => assert!(matches!((int, string), (Ok(None), Ok(None)))),
            Some(Arg::Int(n)) => assert!(matches!((int, string), (Ok(Some(m)), Err(_)) if m == *n)),
            Some(Arg::Str(s)) => {
                assert!(matches!((int, string), (Err(_), Ok(Some(t))) if t == s));
                let line = format!("AT+X={}", quote(s));
                let expected =
                    vec![Command { name: "+X".into(), op: Op::Set(vec![Arg::Str(s.clone())].into()) }];
                assert_eq!(parse_line(&line), Ok(expected), "quote did not round-trip via {line:?}");
            }
            Some(_) => assert!(matches!((int, string), (Err(_), Err(_)))),
        }
    }
    check_round_trip(command);
}

/// An extended command without bare words, written back as text, parses to itself. (Bare
/// words lose their blanks, so `1 2` can come back as the number 12, and a lone omitted
/// parameter is written `AT+X=`, which means no parameter: both are left out.)
fn check_round_trip(command: &Command) {
    if !command.name.starts_with(['+', '#', '%', '$', '^']) {
        return;
    }
    if let Op::Set(args) = &command.op
        && args.as_slice() == [Arg::Omitted]
    {
        return;
    }
    let text = match &command.op {
        Op::Action => format!("AT{}", command.name),
        Op::Read => format!("AT{}?", command.name),
        Op::Test => format!("AT{}=?", command.name),
        Op::Set(args) => {
            let mut rendered = Vec::with_capacity(args.len());
            for arg in args {
                rendered.push(match arg {
                    Arg::Omitted => String::new(),
                    Arg::Int(n) => n.to_string(),
                    Arg::Str(s) => quote(s),
                    _ => return,
                });
            }
            format!("AT{}={}", command.name, rendered.join(","))
        }
        _ => return,
    };
    assert_eq!(parse_line(&text), Ok(vec![command.clone()]), "{command:?} rendered as {text:?}");
}
