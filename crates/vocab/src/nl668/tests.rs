use proptest::prelude::*;

use super::*;

/// Every URC line of spec/fibocom-gtota.md and docs/AT-nl668.md, with its value.
fn fixtures() -> Vec<(&'static str, Urc)> {
    let g = Urc::Gtota;
    vec![
        ("GTOTA DOWNLOAD START", g(Gtota::DownloadStart)),
        ("GTOTA DOWNLOADING: 1%", g(Gtota::Downloading(1))),
        ("GTOTA DOWNLOADING: 100%", g(Gtota::Downloading(100))),
        ("GTOTA DOWNLOAD COMPLETE", g(Gtota::DownloadComplete)),
        ("GTOTA UPGRADE SUCCESS", g(Gtota::UpgradeSuccess)),
        ("GTOTA DOWNLOAD FAILED: 1", g(Gtota::DownloadFailed(DownloadFailure::NETWORK))),
        ("GTOTA DOWNLOAD FAILED: 2", g(Gtota::DownloadFailed(DownloadFailure::SERVER))),
        ("GTOTA DOWNLOAD FAILED: 3", g(Gtota::DownloadFailed(DownloadFailure::NOT_FOUND))),
        ("GTOTA DOWNLOAD FAILED: 4", g(Gtota::DownloadFailed(DownloadFailure::LOGIN_REFUSED))),
        ("GTOTA DOWNLOAD FAILED: 5", g(Gtota::DownloadFailed(DownloadFailure::CALL_INTERRUPTED))),
        ("GTOTA DOWNLOAD FAILED: 6", g(Gtota::DownloadFailed(DownloadFailure::STORAGE))),
        ("GTOTA UPGRADE FAILED: 10", g(Gtota::UpgradeFailed(UpgradeFailure::INVALID))),
        ("GTOTA UPGRADE FAILED: 11", g(Gtota::UpgradeFailed(UpgradeFailure::MISMATCH))),
        ("GTOTA UPGRADE FAILED: 12", g(Gtota::UpgradeFailed(UpgradeFailure::UNTRUSTED))),
        ("GTOTA UPGRADE FAILED: 13", g(Gtota::UpgradeFailed(UpgradeFailure::INSTALL))),
        ("GTOTA UPGRADE FAILED: 14", g(Gtota::UpgradeFailed(UpgradeFailure::REVERTED))),
        ("RDY", Urc::Ready),
        ("RING", Urc::Ring),
    ]
}

#[test]
fn spec_lines_parse_to_their_values_and_emit_back_byte_for_byte() {
    for (line, want) in fixtures() {
        assert_eq!(Urc::parse(line), Ok(want.clone()), "{line}");
        assert_eq!(want.to_string(), line);
    }
    assert_eq!(Urc::parse("\r\nGTOTA DOWNLOADING: 7%\r\n"), Ok(Urc::Gtota(Gtota::Downloading(7))));
    assert_eq!(Gtota::parse("GTOTA DOWNLOADING:7 %"), Ok(Gtota::Downloading(7)));
}

#[test]
fn garbage_is_an_error() {
    for line in [
        "",
        "OK",
        "rdy",
        "RDY RDY",
        "GTOTA",
        "GTOTA ",
        "GTOTA DOWNLOAD",
        "GTOTA DOWNLOAD STARTED",
        "GTOTA DOWNLOADING: 42",
        "GTOTA DOWNLOADING: %",
        "GTOTA DOWNLOADING: 256%",
        "GTOTA DOWNLOADING: -1%",
        "GTOTA DOWNLOAD FAILED: x",
        "GTOTA DOWNLOAD FAILED:",
        "GTOTA UPGRADE FAILED: 1 2",
        "GTOTA UPGRADE SUCCESSFUL",
        "+GTOTA: 1",
        GTOTA_TEST,
        "AT+GTOTA=0,\"http://h/p\"",
        "+GTSET: \"CALLBREAK\",1",
    ] {
        assert!(Urc::parse(line).is_err(), "{line:?}");
    }
    assert!(matches!(Gtota::parse("GTOTA DOWNLOADING: 42"), Err(Error::Malformed { .. })));
    assert!(matches!(Gtota::parse("GTOTA FOO"), Err(Error::Unrecognised { .. })));
}

#[test]
fn helpers_and_meanings() {
    let p = |l| Gtota::parse(l).unwrap();
    assert_eq!(p("GTOTA DOWNLOADING: 42%").percent(), Some(42));
    assert_eq!(p("GTOTA DOWNLOAD START").percent(), None);
    assert!(p("GTOTA UPGRADE SUCCESS").is_result() && !p("GTOTA UPGRADE SUCCESS").is_failure());
    assert!(p("GTOTA UPGRADE FAILED: 12").is_result() && p("GTOTA UPGRADE FAILED: 12").is_failure());
    assert!(!p("GTOTA DOWNLOAD FAILED: 1").is_result() && p("GTOTA DOWNLOAD FAILED: 1").is_failure());
    assert_eq!(p("GTOTA DOWNLOAD FAILED: 3").meaning(), "download failed: the server has no such file");
    assert!(p("GTOTA UPGRADE FAILED: 12").meaning().starts_with("rejected: signature not trusted"));
    assert!(p("GTOTA UPGRADE FAILED: 14").meaning().starts_with("reverted:"));
    assert!(p("GTOTA UPGRADE FAILED: 13").meaning().starts_with("activation failed:"));
    assert!(p("GTOTA UPGRADE FAILED: 11").meaning().starts_with("mismatch:"));
    assert!(p("GTOTA UPGRADE FAILED: 99").meaning().contains("error code 99"));
}

#[test]
fn gtota_commands_as_hosts_send_them() {
    let ftp = |server: &str, file: &str, user: &str, password: &str| {
        GtotaCommand::Ftp(FtpLogin {
            server: server.into(),
            file: file.into(),
            user: user.into(),
            password: password.into(),
        })
    };
    let cases = [
        (
            r#"AT+GTOTA=0,"http://10.0.0.1/fw/pkg.bin""#,
            GtotaCommand::Http { url: "http://10.0.0.1/fw/pkg.bin".into() },
        ),
        (r#"AT+GTOTA=0,"10.0.0.1:8080/pkg.bin""#, GtotaCommand::Http { url: "10.0.0.1:8080/pkg.bin".into() }),
        (r#"AT+GTOTA=1,"10.0.0.1","pkg.bin","user","pass""#, ftp("10.0.0.1", "pkg.bin", "user", "pass")),
        (
            r#"AT+GTOTA=1,"192.0.2.1:2121","fw/pkg.bin","bob","p,a\22ss""#,
            ftp("192.0.2.1:2121", "fw/pkg.bin", "bob", "p,a\"ss"),
        ),
    ];
    for (line, cmd) in cases {
        assert_eq!(cmd.to_string(), line);
        assert_eq!(GtotaCommand::parse(line), Ok(cmd), "{line}");
    }
    let debug = format!("{:?}", ftp("h", "f", "u", "topsecret"));
    assert!(!debug.contains("topsecret") && debug.contains("<hidden>"), "{debug}");
}

#[test]
fn bad_gtota_commands_never_name_the_password() {
    let long = "x".repeat(256);
    for (line, too_long) in [
        (r#"AT+GTOTA=2,"http://h/p""#.to_string(), false),
        (r#"AT+GTOTA=0,"http://h/p","file""#.into(), false),
        (r#"AT+GTOTA=1,"h","f","u""#.into(), false),
        (r#"AT+GTOTA=1,"h","f",,"topsecret""#.into(), false),
        (r#"AT+GTOTA=1,"h","","u","topsecret""#.into(), false),
        (r#"AT+GTOTA=1,h,"f","u","topsecret""#.into(), false),
        (r#"AT+GTOTA=1,"h","f","u",topsecret"#.into(), false),
        (r#"AT+GTOTA=0,"http://h/f","topsecret""#.into(), false),
        (r#"AT+GTOTA=0"#.into(), false),
        (r#"AT+GTOTA=0,"""#.into(), false),
        (r#"AT+GTOTA="0","h""#.into(), false),
        (r#"AT+GTOTA=1,"h","f","u","topsecret",1"#.into(), false),
        (format!(r#"AT+GTOTA=0,"http://h/{long}""#), true),
        (format!(r#"AT+GTOTA=1,"h","f","u","topsecret{long}""#), true),
    ] {
        let err = GtotaCommand::parse(&line).unwrap_err();
        assert_eq!(matches!(err, Error::TooLong { .. }), too_long, "{line}: {err}");
        assert!(!err.to_string().contains("topsecret"), "{line}: {err}");
        assert!(!format!("{err:?}").contains("topsecret"), "{line}: {err:?}");
    }
}

#[test]
fn gtset_commands_and_answers() {
    let cases = [
        (r#"AT+GTSET="CALLBREAK",1"#, GtsetCommand::Set(Setting::CallBreak, true)),
        (r#"AT+GTSET="GPRSFIRST",0"#, GtsetCommand::Set(Setting::GprsFirst, false)),
        (r#"AT+GTSET="CALLBREAK""#, GtsetCommand::Query(Setting::CallBreak)),
    ];
    for (line, cmd) in cases {
        assert_eq!(cmd.to_string(), line);
        assert_eq!(GtsetCommand::parse(line), Ok(cmd), "{line}");
    }
    assert_eq!(
        GtsetCommand::parse(r#"AT+GTSET="callbreak",1"#),
        Ok(GtsetCommand::Set(Setting::CallBreak, true))
    );
    for line in [
        r#"AT+GTSET="CALLBREAK",2"#,
        r#"AT+GTSET="OTHER",1"#,
        r#"AT+GTSET=CALLBREAK,1"#,
        r#"AT+GTSET="CALLBREAK",1,1"#,
        r#"AT+GTSET="CALLBREAK","1""#,
        "AT+GTSET?",
        "AT+GTSET=",
    ] {
        assert!(GtsetCommand::parse(line).is_err(), "{line}");
    }
    let v = GtsetValue { setting: Setting::GprsFirst, value: 1 };
    assert_eq!(v.to_string(), r#"+GTSET: "GPRSFIRST",1"#);
    assert_eq!(GtsetValue::parse(r#"+GTSET: "GPRSFIRST",1"#), Ok(v));
    for line in
        [r#"+GTSET: "CALLBREAK",(0,1)"#, r#"+GTSET: "X",1"#, r#"+GTSET: "CALLBREAK""#, "+GTSET: 1,1", "OK"]
    {
        assert!(GtsetValue::parse(line).is_err(), "{line}");
    }
    assert_eq!(Setting::CallBreak.test_line(), r#"+GTSET: "CALLBREAK",(0,1)"#);
    assert_eq!(Setting::from_name("gprsFirst"), Some(Setting::GprsFirst));
}

#[test]
fn revision_lines() {
    let r = Revision { model: "NL668-EAU".into(), version: "1.1.0".into() };
    assert_eq!(r.to_string(), r#"+CGMR: "NL668-EAU_V1.1.0""#);
    assert_eq!(r.text(), "NL668-EAU_V1.1.0");
    assert_eq!(Revision::parse(r#"+CGMR: "NL668-EAU_V1.1.0""#), Ok(r));
    for line in [r#"+CGMR: "NL668-EAU""#, "+CGMR: NL668-EAU_V1", r#"+CGMR: "a_V1","b""#, "mfw_nrf9160_1.3.5"]
    {
        assert!(Revision::parse(line).is_err(), "{line}");
    }
}

fn any_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ -~\t\r\né]{0,40}").unwrap()
}

fn any_gtota() -> impl Strategy<Value = Gtota> {
    prop_oneof![
        Just(Gtota::DownloadStart),
        any::<u8>().prop_map(Gtota::Downloading),
        Just(Gtota::DownloadComplete),
        any::<u32>().prop_map(|c| Gtota::DownloadFailed(DownloadFailure(c))),
        Just(Gtota::UpgradeSuccess),
        any::<u32>().prop_map(|c| Gtota::UpgradeFailed(UpgradeFailure(c))),
    ]
}

proptest! {
    #[test]
    fn urcs_round_trip(g in any_gtota()) {
        prop_assert_eq!(Urc::parse(&g.to_string()), Ok(Urc::Gtota(g)));
    }

    #[test]
    fn gtota_commands_round_trip(
        url in proptest::string::string_regex("[ -~é]{1,60}").unwrap(),
        ftp in proptest::option::of((
            proptest::string::string_regex("[ -~é]{1,40}").unwrap(),
            proptest::string::string_regex("[ -~é]{1,40}").unwrap(),
            any_text(),
        )),
    ) {
        let cmd = match ftp {
            None => GtotaCommand::Http { url },
            Some((file, user, password)) => GtotaCommand::Ftp(FtpLogin { server: url, file, user, password }),
        };
        prop_assert_eq!(GtotaCommand::parse(&cmd.to_string()), Ok(cmd));
    }

    #[test]
    fn gtset_round_trips(setting in prop_oneof![Just(Setting::CallBreak), Just(Setting::GprsFirst)], value in any::<u8>(), on in any::<bool>()) {
        let v = GtsetValue { setting, value };
        prop_assert_eq!(GtsetValue::parse(&v.to_string()), Ok(v));
        for cmd in [GtsetCommand::Query(setting), GtsetCommand::Set(setting, on)] {
            prop_assert_eq!(GtsetCommand::parse(&cmd.to_string()), Ok(cmd));
        }
    }

    #[test]
    fn revisions_round_trip(model in any_text(), version in "[0-9a-z.+]{1,12}") {
        let r = Revision { model, version };
        prop_assert_eq!(Revision::parse(&r.to_string()), Ok(r));
    }

    #[test]
    fn any_line_parses_or_errs_without_panicking(line in "\\PC{0,40}", tail in "[0-9,\\- %\"]{0,20}") {
        for l in [
            line.clone(),
            format!("GTOTA DOWNLOADING: {tail}"),
            format!("GTOTA UPGRADE FAILED: {tail}"),
            format!("AT+GTOTA={tail}"),
            format!("AT+GTSET={tail}"),
            format!("+GTSET: {tail}"),
            format!("+CGMR: {line}"),
        ] {
            let _ = Urc::parse(&l);
            let _ = GtotaCommand::parse(&l);
            let _ = GtsetCommand::parse(&l);
            let _ = GtsetValue::parse(&l);
            let _ = Revision::parse(&l);
        }
    }
}
