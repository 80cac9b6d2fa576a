use proptest::prelude::*;

use super::*;

/// Every `#XFOTA` URC line of spec/nordic-xfota.md and docs/AT-nrf9160-slm.md, with its value.
fn fixtures() -> Vec<(&'static str, Xfota)> {
    vec![
        ("#XFOTA: 1,0,0", Xfota::Progress(0)),
        ("#XFOTA: 1,0,42", Xfota::Progress(42)),
        ("#XFOTA: 1,0,100", Xfota::Progress(100)),
        ("#XFOTA: 1,1,1", Xfota::DownloadFailed(FotaError::DOWNLOAD_FAILED)),
        ("#XFOTA: 1,1,2", Xfota::DownloadFailed(FotaError::IMAGE_REJECTED)),
        ("#XFOTA: 1,1,3", Xfota::DownloadFailed(FotaError::IMAGE_MISMATCH)),
        ("#XFOTA: 1,2,0", Xfota::Cancelled),
        ("#XFOTA: 2,0", Xfota::ErasePending),
        ("#XFOTA: 3,0", Xfota::Erased),
        ("#XFOTA: 4,0", Xfota::Downloaded),
        ("#XFOTA: 5,0", Xfota::Complete),
        ("#XFOTA: 5,1,2", Xfota::ActivationFailed(FotaError::IMAGE_REJECTED)),
        ("#XFOTA: 5,1,71303169", Xfota::ActivationFailed(FotaError::MODEM_INTERNAL)),
        ("#XFOTA: 5,1,71303170", Xfota::ActivationFailed(FotaError::MODEM_HARDWARE)),
        ("#XFOTA: 5,1,71303171", Xfota::ActivationFailed(FotaError::MODEM_AUTHENTICATION)),
        ("#XFOTA: 5,1,71303172", Xfota::ActivationFailed(FotaError::MODEM_UUID_MISMATCH)),
        ("#XFOTA: 5,3", Xfota::Reverted),
    ]
}

#[test]
fn spec_lines_parse_to_their_values_and_emit_back_byte_for_byte() {
    for (line, want) in fixtures() {
        assert_eq!(Xfota::parse(line), Ok(want.clone()), "{line}");
        assert_eq!(want.to_string(), line);
        assert_eq!(Urc::parse(line), Ok(Urc::Xfota(want)), "{line}");
    }
    assert_eq!(Urc::parse("Ready"), Ok(Urc::Ready));
    assert_eq!(Urc::Ready.to_string(), READY);
}

#[test]
fn lenient_about_blanks_and_terminators_only() {
    assert_eq!(Xfota::parse("\r\n#XFOTA: 1,0,7\r\n"), Ok(Xfota::Progress(7)));
    assert_eq!(Xfota::parse("#XFOTA:1, 0 ,7 "), Ok(Xfota::Progress(7)));
    assert_eq!(Urc::parse(" Ready\r"), Ok(Urc::Ready));
    assert_eq!(Xfota::parse("#XFOTA: 1,0,007"), Ok(Xfota::Progress(7)));
}

#[test]
fn other_combinations_are_kept_as_raw_numbers() {
    for (line, stage, status, info) in [
        ("#XFOTA: 0,0", 0, 0, None),
        ("#XFOTA: 1,0", 1, 0, None),
        ("#XFOTA: 1,0,300", 1, 0, Some(300)),
        ("#XFOTA: 1,1", 1, 1, None),
        ("#XFOTA: 1,1,-5", 1, 1, Some(-5)),
        ("#XFOTA: 1,2", 1, 2, None),
        ("#XFOTA: 4,1,9", 4, 1, Some(9)),
        ("#XFOTA: 5,2", 5, 2, None),
        ("#XFOTA: 7,9,1", 7, 9, Some(1)),
    ] {
        let x = Xfota::parse(line).unwrap();
        assert!(matches!(x, Xfota::Other(_)), "{line}: {x:?}");
        assert_eq!((x.stage_code(), x.status_code(), x.info()), (stage, status, info), "{line}");
        assert_eq!(x.to_string(), line);
    }
}

#[test]
fn garbage_is_an_error() {
    for line in [
        "",
        "OK",
        "READY",
        "Ready!",
        "#XFOTA",
        "#XFOTA:",
        "#XFOTA: ",
        "#XFOTA: 1",
        "#XFOTA: 1,",
        "#XFOTA: ,0",
        "#XFOTA: 1,0,42,1",
        "#XFOTA: 1,0,4x",
        "#XFOTA: 1,+0,4",
        "#XFOTA: 1,0,--4",
        "#XFOTA: 99999999999,0",
        "#XFOTA: 1,0,99999999999999999999",
        XFOTA_TEST,
        "#XSLMVER: \"1.0.0\",\"mfw\"",
        "AT#XFOTA=1,\"http://h/a\"",
        "xx#XFOTA: 1,0,1",
    ] {
        assert!(Urc::parse(line).is_err(), "{line:?}");
        assert!(Xfota::parse(line).is_err(), "{line:?}");
    }
    assert_eq!(Xfota::parse("OK"), Err(Error::Unrecognised { expected: "a #XFOTA URC" }));
    assert!(matches!(Xfota::parse("#XFOTA: 1,0,4x"), Err(Error::Malformed { .. })));
}

#[test]
fn helpers_say_what_a_host_needs() {
    let p = |l| Xfota::parse(l).unwrap();
    assert_eq!(p("#XFOTA: 1,0,42").percent(), Some(42));
    assert_eq!(p("#XFOTA: 4,0").percent(), None);
    for (line, result, ends) in [
        ("#XFOTA: 1,0,5", false, false),
        ("#XFOTA: 1,1,1", false, true),
        ("#XFOTA: 1,2,0", false, true),
        ("#XFOTA: 1,2", false, true),
        ("#XFOTA: 2,0", false, false),
        ("#XFOTA: 4,0", false, true),
        ("#XFOTA: 5,0", true, false),
        ("#XFOTA: 5,1,2", true, false),
        ("#XFOTA: 5,3", true, false),
        ("#XFOTA: 5,2", true, false),
    ] {
        assert_eq!((p(line).is_result(), p(line).ends_download()), (result, ends), "{line}");
    }
    assert_eq!(p("#XFOTA: 5,3").stage(), Some(Stage::Complete));
    assert_eq!(p("#XFOTA: 5,3").status(), Some(Status::Reverted));
    assert_eq!(p("#XFOTA: 7,9").stage(), None);
    assert_eq!(p("#XFOTA: 5,1,71303172").error(), Some(FotaError::MODEM_UUID_MISMATCH));
    for stage in 0..=5 {
        assert_eq!(Stage::from_code(stage).map(Stage::code), Some(stage));
    }
    for status in 0..=3 {
        assert_eq!(Status::from_code(status).map(Status::code), Some(status));
    }
}

#[test]
fn meanings_name_the_outcome() {
    let m = |l| Xfota::parse(l).unwrap().meaning();
    assert!(m("#XFOTA: 1,1,1").starts_with("download failed"));
    assert!(m("#XFOTA: 1,1,2").starts_with("rejected:") && m("#XFOTA: 1,1,2").contains("trusted"));
    assert!(m("#XFOTA: 1,1,3").starts_with("mismatch:"));
    assert!(m("#XFOTA: 5,1,2").starts_with("activation failed:"));
    assert!(m("#XFOTA: 5,1,71303172").contains("UUID mismatch"));
    assert!(m("#XFOTA: 5,1,71303169").contains("internal"));
    assert!(m("#XFOTA: 5,1,77").contains("error code 77"));
    assert_eq!(m("#XFOTA: 5,3"), "reverted: the new image did not confirm itself");
    assert!(m("#XFOTA: 5,0").starts_with("updated"));
    assert_eq!(m("#XFOTA: 7,9,1"), "unknown FOTA state 7,9,1");
}

#[test]
fn commands_emit_as_hosts_send_them_and_parse_back() {
    let d = |url: &str, sec_tag, apn: Option<&str>| Download {
        url: url.to_string(),
        sec_tag,
        apn: apn.map(str::to_string),
    };
    let cases = [
        ("AT#XFOTA=0", XfotaCommand::Cancel),
        ("AT#XFOTA=8", XfotaCommand::EraseAppSlot),
        ("AT#XFOTA=9", XfotaCommand::EraseModemScratch),
        (
            r#"AT#XFOTA=1,"http://10.0.0.1/app.bin""#,
            XfotaCommand::StartApp(d("http://10.0.0.1/app.bin", None, None)),
        ),
        (
            r#"AT#XFOTA=2,"https://h/d.bin",42"#,
            XfotaCommand::StartModem(d("https://h/d.bin", Some(42), None)),
        ),
        (
            r#"AT#XFOTA=1,"https://h/a",7,"iot.apn""#,
            XfotaCommand::StartApp(d("https://h/a", Some(7), Some("iot.apn"))),
        ),
        (r#"AT#XFOTA=1,"http://h/a",,"iot""#, XfotaCommand::StartApp(d("http://h/a", None, Some("iot")))),
        (r#"AT#XFOTA=1,"http://h/a\22b""#, XfotaCommand::StartApp(d("http://h/a\"b", None, None))),
    ];
    for (line, cmd) in cases {
        assert_eq!(cmd.to_string(), line);
        assert_eq!(XfotaCommand::parse(line), Ok(cmd), "{line}");
    }
    assert_eq!(XfotaCommand::parse("at#xfota=0"), Ok(XfotaCommand::Cancel));
    assert_eq!(XfotaCommand::StartModem(Download::new("x")).op(), 2);
}

#[test]
fn bad_commands_are_refused_with_a_reason() {
    let long = format!("AT#XFOTA=1,\"http://h/{}\"", "x".repeat(250));
    assert_eq!(
        XfotaCommand::parse(&long),
        Err(Error::TooLong { field: "<file_url>", len: 259, max: MAX_URL_LEN })
    );
    for line in [
        "AT#XFOTA=",
        "AT#XFOTA=3",
        "AT#XFOTA=-1",
        "AT#XFOTA=\"1\"",
        "AT#XFOTA=0,1",
        "AT#XFOTA=8,\"x\"",
        "AT#XFOTA=9,",
        "AT#XFOTA=1",
        "AT#XFOTA=1,\"\"",
        "AT#XFOTA=1,http://h/a",
        "AT#XFOTA=1,\"http://h/a\",-1",
        "AT#XFOTA=1,\"http://h/a\",2147483648",
        "AT#XFOTA=1,\"http://h/a\",\"7\"",
        "AT#XFOTA=1,\"http://h/a\",7,apn",
        "AT#XFOTA=1,\"http://h/a\",7,\"a\",1",
        "AT#XFOTA?",
        "AT#XFOTA=?",
        "AT#XFOTA=0;#XFOTA=0",
        "AT+GTOTA=0,\"http://h/a\"",
        "#XFOTA: 1,0,1",
    ] {
        assert!(XfotaCommand::parse(line).is_err(), "{line}");
    }
    let apn = format!("AT#XFOTA=1,\"http://h/a\",1,\"{}\"", "a".repeat(64));
    assert!(matches!(XfotaCommand::parse(&apn), Err(Error::Malformed { .. })));
}

#[test]
fn slmver_round_trip() {
    let v = SlmVersion { app: "2.5.0".into(), modem: "mfw_nrf9160_1.3.5".into() };
    assert_eq!(v.to_string(), r#"#XSLMVER: "2.5.0","mfw_nrf9160_1.3.5""#);
    assert_eq!(SlmVersion::parse(r#"#XSLMVER: "2.5.0","mfw_nrf9160_1.3.5""#), Ok(v));
    for line in
        ["#XSLMVER: \"2.5.0\"", "#XSLMVER: 2,\"m\"", "#XSLMVER: \"a\",\"b\",\"c\"", "#XSLMVER: \"a", "OK"]
    {
        assert!(SlmVersion::parse(line).is_err(), "{line}");
    }
}

fn any_xfota() -> impl Strategy<Value = Xfota> {
    prop_oneof![
        any::<u8>().prop_map(Xfota::Progress),
        any::<u32>().prop_map(|c| Xfota::DownloadFailed(FotaError(c))),
        Just(Xfota::Cancelled),
        Just(Xfota::ErasePending),
        Just(Xfota::Erased),
        Just(Xfota::Downloaded),
        Just(Xfota::Complete),
        any::<u32>().prop_map(|c| Xfota::ActivationFailed(FotaError(c))),
        Just(Xfota::Reverted),
        (0u32..10, 0u32..5, proptest::option::of(any::<i64>())).prop_map(|(stage, status, info)| {
            // Only parse makes an `Other`; what it makes of a triple is checked below.
            Xfota::parse(&format!("#XFOTA: {}", RawXfota { stage, status, info })).unwrap()
        }),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    // Printable text with quotes, backslashes, commas and control characters: all must survive.
    proptest::string::string_regex("[ -~\t\r\né]{0,40}").unwrap()
}

proptest! {
    #[test]
    fn xfota_round_trips(x in any_xfota()) {
        prop_assert_eq!(Xfota::parse(&x.to_string()), Ok(x.clone()));
        prop_assert_eq!(Urc::parse(&x.to_string()), Ok(Urc::Xfota(x)));
    }

    #[test]
    fn raw_triples_keep_their_numbers(stage in 0u32..10, status in 0u32..5, info in proptest::option::of(any::<i64>())) {
        let x = Xfota::parse(&format!("#XFOTA: {}", RawXfota { stage, status, info })).unwrap();
        prop_assert_eq!((x.stage_code(), x.status_code(), x.info()), (stage, status, info));
    }

    #[test]
    fn commands_round_trip(
        op in prop_oneof![Just(0u8), Just(1), Just(2), Just(8), Just(9)],
        url in proptest::string::string_regex("[ -~é]{1,60}").unwrap(),
        sec_tag in proptest::option::of(0..=MAX_SEC_TAG),
        apn in proptest::option::of(any_text()),
    ) {
        let d = Download { url, sec_tag, apn };
        let cmd = match op {
            0 => XfotaCommand::Cancel,
            1 => XfotaCommand::StartApp(d),
            2 => XfotaCommand::StartModem(d),
            8 => XfotaCommand::EraseAppSlot,
            _ => XfotaCommand::EraseModemScratch,
        };
        prop_assert_eq!(XfotaCommand::parse(&cmd.to_string()), Ok(cmd));
    }

    #[test]
    fn slmver_round_trips(app in any_text(), modem in any_text()) {
        let v = SlmVersion { app, modem };
        prop_assert_eq!(SlmVersion::parse(&v.to_string()), Ok(v));
    }

    #[test]
    fn any_line_parses_or_errs_without_panicking(line in "\\PC{0,40}", tail in "[0-9,\\- %]{0,20}") {
        for l in [line.clone(), format!("#XFOTA: {tail}"), format!("AT#XFOTA={tail}"), format!("#XSLMVER: {line}")] {
            let _ = Urc::parse(&l);
            let _ = XfotaCommand::parse(&l);
            let _ = SlmVersion::parse(&l);
        }
    }
}
