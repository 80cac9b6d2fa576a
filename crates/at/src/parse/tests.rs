use proptest::prelude::*;

use super::*;
use crate::format::quote;
use crate::framer::{Frame, Framer};

fn cmd(name: &str, op: Op) -> Command {
    Command { name: name.to_owned(), op }
}

fn set(args: Vec<Arg>) -> Op {
    Op::Set(Args::from(args))
}

fn text(s: &str) -> Arg {
    Arg::Str(s.to_owned())
}

fn bare(s: &str) -> Arg {
    Arg::Bare(s.to_owned())
}

#[test]
fn valid_lines() {
    let cases: Vec<(&str, Vec<Command>)> = vec![
        // Prefix and case.
        ("AT", vec![]),
        ("at", vec![]),
        ("aT", vec![]),
        ("AT;", vec![]),
        // Basic commands.
        ("ATI", vec![cmd("I", Op::Action)]),
        ("ATE0", vec![cmd("E", set(vec![Arg::Int(0)]))]),
        ("ate1", vec![cmd("E", set(vec![Arg::Int(1)]))]),
        ("ATE0V1", vec![cmd("E", set(vec![Arg::Int(0)])), cmd("V", set(vec![Arg::Int(1)]))]),
        ("ATE0;V1", vec![cmd("E", set(vec![Arg::Int(0)])), cmd("V", set(vec![Arg::Int(1)]))]),
        ("ATZ", vec![cmd("Z", Op::Action)]),
        ("ATQ0", vec![cmd("Q", set(vec![Arg::Int(0)]))]),
        ("AT&F", vec![cmd("&F", Op::Action)]),
        ("at&f0", vec![cmd("&F", set(vec![Arg::Int(0)]))]),
        ("AT&W;Z", vec![cmd("&W", Op::Action), cmd("Z", Op::Action)]),
        ("ATS3?", vec![cmd("S3", Op::Read)]),
        ("ATS3=13", vec![cmd("S3", set(vec![Arg::Int(13)]))]),
        ("ats03=?", vec![cmd("S3", Op::Test)]),
        ("ATS3=", vec![cmd("S3", set(vec![]))]),
        (
            "ATS3=13S4=10E0",
            vec![
                cmd("S3", set(vec![Arg::Int(13)])),
                cmd("S4", set(vec![Arg::Int(10)])),
                cmd("E", set(vec![Arg::Int(0)])),
            ],
        ),
        // Extended commands and their four forms.
        ("AT+CGMR", vec![cmd("+CGMR", Op::Action)]),
        ("at+cgmr", vec![cmd("+CGMR", Op::Action)]),
        ("AT+CMEE?", vec![cmd("+CMEE", Op::Read)]),
        ("AT+CMEE=?", vec![cmd("+CMEE", Op::Test)]),
        ("AT+CMEE=1", vec![cmd("+CMEE", set(vec![Arg::Int(1)]))]),
        ("AT+CMEE=", vec![cmd("+CMEE", set(vec![]))]),
        ("AT%CMNG=1", vec![cmd("%CMNG", set(vec![Arg::Int(1)]))]),
        ("AT#xfota?", vec![cmd("#XFOTA", Op::Read)]),
        ("AT$QCSIMSTAT?", vec![cmd("$QCSIMSTAT", Op::Read)]),
        ("AT^SYSCFG=?", vec![cmd("^SYSCFG", Op::Test)]),
        ("AT+x.y-z/1:2_3!%", vec![cmd("+X.Y-Z/1:2_3!%", Op::Action)]),
        // Several commands on one line.
        ("AT+CMEE=1;+CGMR", vec![cmd("+CMEE", set(vec![Arg::Int(1)])), cmd("+CGMR", Op::Action)]),
        (
            "ATE0+CGMR;I",
            vec![cmd("E", set(vec![Arg::Int(0)])), cmd("+CGMR", Op::Action), cmd("I", Op::Action)],
        ),
        ("AT+CMEE=1;;+CGMR;", vec![cmd("+CMEE", set(vec![Arg::Int(1)])), cmd("+CGMR", Op::Action)]),
        // Blanks outside quotes are ignored, inside kept.
        ("AT+CMEE = 1", vec![cmd("+CMEE", set(vec![Arg::Int(1)]))]),
        (
            "  AT + CMEE = 1 , 2 ;\t+CGMR  ",
            vec![cmd("+CMEE", set(vec![Arg::Int(1), Arg::Int(2)])), cmd("+CGMR", Op::Action)],
        ),
        ("AT E 0", vec![cmd("E", set(vec![Arg::Int(0)]))]),
        ("AT+X=\" a b \"", vec![cmd("+X", set(vec![text(" a b ")]))]),
        // Parameter kinds.
        ("AT+X=1,,3", vec![cmd("+X", set(vec![Arg::Int(1), Arg::Omitted, Arg::Int(3)]))]),
        ("AT+X=,", vec![cmd("+X", set(vec![Arg::Omitted, Arg::Omitted]))]),
        ("AT+X=1,", vec![cmd("+X", set(vec![Arg::Int(1), Arg::Omitted]))]),
        ("AT+X=-5", vec![cmd("+X", set(vec![Arg::Int(-5)]))]),
        ("AT+X=007", vec![cmd("+X", set(vec![Arg::Int(7)]))]),
        ("AT+X=-9223372036854775808", vec![cmd("+X", set(vec![Arg::Int(i64::MIN)]))]),
        ("AT+X=abc", vec![cmd("+X", set(vec![bare("abc")]))]),
        ("AT+X=0x1F", vec![cmd("+X", set(vec![bare("0x1F")]))]),
        ("AT+X=-", vec![cmd("+X", set(vec![bare("-")]))]),
        ("AT+X=+5", vec![cmd("+X", set(vec![bare("+5")]))]),
        ("AT+X=1?", vec![cmd("+X", set(vec![bare("1?")]))]),
        ("AT+GTSET=\"CALLBREAK\",1", vec![cmd("+GTSET", set(vec![text("CALLBREAK"), Arg::Int(1)]))]),
        (
            "AT#XFOTA=1,\"http://10.0.0.1:8080/app_update.bin\"",
            vec![cmd("#XFOTA", set(vec![Arg::Int(1), text("http://10.0.0.1:8080/app_update.bin")]))],
        ),
        // Strings: separators inside, escapes.
        ("AT+X=\"a,b;c\";+Y", vec![cmd("+X", set(vec![text("a,b;c")])), cmd("+Y", Op::Action)]),
        ("AT+X=\"\"", vec![cmd("+X", set(vec![text("")]))]),
        ("AT+X=\"\\22\"", vec![cmd("+X", set(vec![text("\"")]))]),
        ("AT+X=\"\\5C\"", vec![cmd("+X", set(vec![text("\\")]))]),
        ("AT+X=\"\\5c\\22q\"", vec![cmd("+X", set(vec![text("\\\"q")]))]),
        ("AT+X=\"\\C3\\A9\"", vec![cmd("+X", set(vec![text("\u{e9}")]))]),
        ("AT+X=\"\u{e9}\"", vec![cmd("+X", set(vec![text("\u{e9}")]))]),
        ("AT+X=\"a\r\nb\"", vec![cmd("+X", set(vec![text("a\r\nb")]))]),
        ("AT+X=\"a\" , \"b\"", vec![cmd("+X", set(vec![text("a"), text("b")]))]),
    ];
    for (line, want) in cases {
        assert_eq!(parse_line(line), Ok(want), "line {line:?}");
    }
}

#[test]
fn invalid_lines() {
    use ParseError::*;
    let cases: Vec<(&str, ParseError)> = vec![
        ("", NoPrefix),
        ("A", NoPrefix),
        ("HELLO", NoPrefix),
        ("+CGMR", NoPrefix),
        ("TA", NoPrefix),
        ("AT+", UnexpectedEnd { offset: 3, expected: "a letter starting the command name" }),
        ("AT+1", UnexpectedChar { offset: 3, found: '1', expected: "a letter starting the command name" }),
        (
            "AT*X",
            UnexpectedChar {
                offset: 2,
                found: '*',
                expected: "a command: a letter, '&', or one of + # % $ ^ and a name",
            },
        ),
        ("AT&", UnexpectedEnd { offset: 3, expected: "a letter after '&'" }),
        ("AT&1", UnexpectedChar { offset: 3, found: '1', expected: "a letter after '&'" }),
        (
            "ATS?",
            UnexpectedChar { offset: 3, found: '?', expected: "an S-register number after S, as in S3?" },
        ),
        ("ATS3", UnexpectedEnd { offset: 4, expected: "'?' or '=' after the S-register number" }),
        (
            "AT+CGMR?X",
            UnexpectedChar {
                offset: 8,
                found: 'X',
                expected: "';' before the next command, or the end of the line",
            },
        ),
        (
            "AT+CMEE=?1",
            UnexpectedChar {
                offset: 9,
                found: '1',
                expected: "';' before the next command, or the end of the line",
            },
        ),
        (
            "AT+X=\"a\"b",
            UnexpectedChar {
                offset: 8,
                found: 'b',
                expected: "',' before the next parameter, ';' or the end of the line",
            },
        ),
        ("AT+X=\"abc", UnterminatedString { offset: 5 }),
        ("AT+X=1,\"a;+Y", UnterminatedString { offset: 7 }),
        ("AT+X=\"\\2\"", InvalidEscape { offset: 6 }),
        ("AT+X=\"\\zz\"", InvalidEscape { offset: 6 }),
        ("AT+X=\"a\\", InvalidEscape { offset: 7 }),
        ("AT+X=\"\\FF\"", InvalidUtf8 { offset: 5 }),
        ("AT+X=ab\"c\"", QuoteInValue { offset: 7 }),
        ("AT+X=99999999999999999999", IntegerOverflow { offset: 5 }),
        ("AT+X=-9223372036854775809", IntegerOverflow { offset: 5 }),
        ("ATE99999999999999999999", IntegerOverflow { offset: 3 }),
        ("ATS99999999999999999999?", IntegerOverflow { offset: 3 }),
    ];
    for (line, want) in cases {
        assert_eq!(parse_line(line), Err(want), "line {line:?}");
    }
}

#[test]
fn messages_say_where_and_what() {
    let err = parse_line("AT+X=\"abc").unwrap_err();
    assert_eq!(err.to_string(), "the string starting at byte 5 of the line has no closing double quote");
    let err = parse_line("AT+CGMR?X").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected 'X' at byte 8 of the line: expected ';' before the next command, or the end \
         of the line"
    );
    assert_eq!(
        ParseError::NoPrefix.to_string(),
        "the line does not start with AT: begin every command line with AT"
    );
}

fn arg_strategy() -> impl Strategy<Value = Arg> {
    prop_oneof![
        Just(Arg::Omitted),
        any::<i64>().prop_map(Arg::Int),
        any::<String>().prop_map(Arg::Str),
        "[a-zA-Z_.][a-zA-Z0-9_.:/-]{0,12}".prop_map(Arg::Bare),
    ]
}

fn render_arg(arg: &Arg) -> String {
    match arg {
        Arg::Omitted => String::new(),
        Arg::Int(n) => n.to_string(),
        Arg::Str(s) => quote(s),
        Arg::Bare(s) => s.clone(),
    }
}

proptest! {
    #[test]
    fn never_panics_on_any_string(line in any::<String>()) {
        let _ = parse_line(&line);
    }

    #[test]
    fn never_panics_on_at_like_lines(line in "(AT|at)[-A-Za-z0-9 +#%$^&;=?,\"\\\\]{0,40}") {
        let _ = parse_line(&line);
    }

    #[test]
    fn quote_then_parse_round_trips(s in any::<String>()) {
        let line = format!("AT+X={}", quote(&s));
        prop_assert_eq!(parse_line(&line), Ok(vec![cmd("+X", set(vec![Arg::Str(s)]))]));
    }

    #[test]
    fn quoted_string_survives_the_framer(s in any::<String>()) {
        let line = format!("AT%CMNG=0,1,0,{}", quote(&s));
        let mut framer = Framer::new(line.len());
        let bytes = line.bytes().chain(*b"\r\n");
        let frames: Vec<Frame> = bytes.filter_map(|b| framer.push(b)).collect();
        prop_assert_eq!(frames, vec![Frame::Line(line.clone())]);
    }

    #[test]
    fn parameter_lists_round_trip(args in proptest::collection::vec(arg_strategy(), 1..6)) {
        // A lone omitted parameter renders as `AT+X=`, which parses as no parameters.
        prop_assume!(args != vec![Arg::Omitted]);
        let rendered: Vec<String> = args.iter().map(render_arg).collect();
        let line = format!("AT+X={};+Y?", rendered.join(","));
        prop_assert_eq!(
            parse_line(&line),
            Ok(vec![cmd("+X", set(args)), cmd("+Y", Op::Read)])
        );
    }
}

#[test]
fn response_parameter_lists() {
    assert_eq!(parse_args(r#""CALLBREAK",1"#), Ok(Args::from(vec![text("CALLBREAK"), Arg::Int(1)])));
    assert_eq!(parse_args(r#""2.5.0", "a\22b""#), Ok(Args::from(vec![text("2.5.0"), text("a\"b")])));
    assert_eq!(parse_args(""), Ok(Args::default()));
    assert_eq!(parse_args("1,,x"), Ok(Args::from(vec![Arg::Int(1), Arg::Omitted, bare("x")])));
    assert!(matches!(parse_args("1;2"), Err(ParseError::UnexpectedChar { offset: 1, found: ';', .. })));
    assert!(matches!(parse_args(r#""open"#), Err(ParseError::UnterminatedString { offset: 0 })));
}
