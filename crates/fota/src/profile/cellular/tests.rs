//! The answers of the cellular commands, byte for byte, and the URCs every change gives.

use atfota_at::{CmeeMode, parse_line};

use super::*;
use crate::profile::bench::Stimulus;
use crate::profile::network::{RATE_GSM, RATE_NB_IOT, RATE_UTRAN};

/// Runs one command; its rendered response followed by the URCs it gave, one per line.
fn run(state: &mut Cellular, line: &str, radio_on: bool) -> String {
    let cmd = parse_line(line).unwrap().remove(0);
    let mut urcs = Vec::new();
    let Some(r) = state.execute(&cmd, radio_on, &mut urcs) else { return "none".into() };
    urcs.iter().fold(r.render(CmeeMode::Numeric), |s, u| format!("{s}{u}\n"))
}

fn check(state: &mut Cellular, radio_on: bool, cases: &[(&str, &str)]) {
    for (line, want) in cases {
        assert_eq!(run(state, line, radio_on), *want, "{line}");
    }
}

fn nl668(conditions: &Conditions) -> Cellular {
    Cellular::new(Flavour::Nl668, conditions)
}

#[test]
fn nrf91_answers() {
    let mut s = Cellular::new(Flavour::Nrf91, &Conditions::default());
    check(
        &mut s,
        true,
        &[
            ("AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
            ("AT+CEREG=5", "\r\nOK\r\n"),
            ("AT+CEREG?", "\r\n+CEREG: 5,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n"),
            ("AT+CEREG=6", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CEREG=?", "\r\n+CEREG: (0-5)\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,2,\"00101\",7\r\n\r\nOK\r\n"),
            ("AT+COPS=3,0", "\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,0,\"Test Network\",7\r\n\r\nOK\r\n"),
            ("AT+COPS=1,2,\"00102\"", "\r\n+CME ERROR: 30\r\n"),
            ("AT+COPS=1,0,\"Test Network\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=2", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=1,2,\"00101\",0", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=1,2,\"00101\",9", "\r\nOK\r\n+CEREG: 1,\"002F\",\"0012BEEF\",9\n"),
            ("AT+COPS?", "\r\n+COPS: 1,2,\"00101\",9\r\n\r\nOK\r\n"),
            (
                "AT+COPS=?",
                "\r\n+COPS: (1,\"Test Network\",\"Test Network\",\"00101\",7),\
             (2,\"Test Network\",\"Test Network\",\"00101\",9),,(0,1,3),(0-2)\r\n\r\nOK\r\n",
            ),
            ("AT+COPS=0", "\r\nOK\r\n+CEREG: 1,\"002F\",\"0012BEEF\",7\n"),
            ("AT+CESQ", "\r\n+CESQ: 99,99,255,255,28,62\r\n\r\nOK\r\n"),
            ("AT+CSQ", "none"),
            ("AT+CREG?", "none"),
            ("AT+GTRAT?", "none"),
            ("AT+CGDCONT?", "\r\n+CGDCONT: 0,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n"),
            ("AT+CGDCONT=1,\"IP\",\"apn.example\"", "\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 1,0\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,1", "\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,1\r\n\r\n+CGACT: 1,1\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,7", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGDCONT=0", "\r\n+CME ERROR: 3\r\n"),
            ("AT+CGDCONT=1", "\r\nOK\r\n"),
            ("AT+CGDCONT=12,\"IP\",\"x\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CGDCONT=2,\"X25\",\"x\"", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
            ("AT+CPIN=\"1234\"", "\r\n+CME ERROR: 3\r\n"),
            ("AT+CPIN=?", "\r\nOK\r\n"),
            ("AT+CGMI", "none"),
        ],
    );
    check(
        &mut s,
        false,
        &[
            ("AT+CEREG?", "\r\n+CEREG: 5,0\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0\r\n\r\nOK\r\n"),
            ("AT+COPS=?", "\r\n+COPS: ,,(0,1,3),(0-2)\r\n\r\nOK\r\n"),
            ("AT+CESQ", "\r\n+CESQ: 99,99,255,255,255,255\r\n\r\nOK\r\n"),
            ("AT+CGACT?", "\r\n+CGACT: 0,0\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,0", "\r\n+CME ERROR: 30\r\n"),
        ],
    );
    assert_eq!(s.registration_urcs(View::Off, s.view(true)), ["+CEREG: 1,\"002F\",\"0012BEEF\",7"]);
    assert_eq!(s.registration_urcs(s.view(true), View::Off), ["+CEREG: 0"]);
    s.boot();
    assert!(s.registration_urcs(View::Off, s.view(true)).is_empty(), "report modes are off after a boot");
    check(
        &mut s,
        true,
        &[("AT+CGDCONT?", "\r\n+CGDCONT: 0,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n")],
    );
}

#[test]
fn nl668_answers() {
    let mut s = nl668(&Conditions::default());
    check(
        &mut s,
        true,
        &[
            ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
            ("AT+CGREG=2", "\r\nOK\r\n"),
            ("AT+CGREG?", "\r\n+CGREG: 2,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n"),
            ("AT+CEREG=3", "\r\n+CME ERROR: 50\r\n"),
            ("AT+CEREG=?", "\r\n+CEREG: (0-2)\r\n\r\nOK\r\n"),
            ("AT+CSQ", "\r\n+CSQ: 25,99\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0,0,\"Test Network\",7\r\n\r\nOK\r\n"),
            (
                "AT+COPS=?",
                "\r\n+COPS: (2,\"Test Network\",\"Test Network\",\"00101\",7),\
             (1,\"Test Network\",\"Test Network\",\"00101\",2),\
             (1,\"Test Network\",\"Test Network\",\"00101\",0),,(0-3),(0-2)\r\n\r\nOK\r\n",
            ),
            ("AT+CGDCONT?", "\r\n+CGDCONT: 1,\"IP\",\"internet.test\",\"\",0,0\r\n\r\nOK\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
            ("AT+GTRAT?", "\r\n+GTRAT: 10\r\n\r\nOK\r\n"),
            ("AT+GTRAT=?", "\r\n+GTRAT: (0,2,3,10),(0,2,3),(0,2,3)\r\n\r\nOK\r\n"),
        ],
    );
}

#[test]
fn nl668_rat_switches_give_their_urcs_and_rates() {
    let mut s = nl668(&Conditions::default());
    check(&mut s, true, &[("AT+CREG=2", "\r\nOK\r\n"), ("AT+CEREG=1", "\r\nOK\r\n")]);
    assert_eq!(s.link(true), Link { up: true, rate: None });
    // The mistake: 2G. CREG (mode 2) shows the new AcT; EPS registration is lost on 2G.
    check(
        &mut s,
        true,
        &[
            ("AT+COPS=1,2,\"00101\",0", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",0\n+CEREG: 0\n"),
            ("AT+COPS?", "\r\n+COPS: 1,2,\"00101\",0\r\n\r\nOK\r\n"),
            ("AT+CESQ", "\r\n+CESQ: 48,99,255,255,255,255\r\n\r\nOK\r\n"),
        ],
    );
    assert_eq!(s.link(true), Link { up: true, rate: Some(RATE_GSM) });
    check(
        &mut s,
        true,
        &[
            ("AT+COPS=1,0,\"Test Network\",2", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",2\n"),
            ("AT+CESQ", "\r\n+CESQ: 99,99,54,40,255,255\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 1,0,\"Test Network\",2\r\n\r\nOK\r\n"),
        ],
    );
    assert_eq!(s.link(true).rate, Some(RATE_UTRAN));
    // The fix, Fibocom's way: LTE only; then back to automatic.
    check(
        &mut s,
        true,
        &[
            ("AT+GTRAT=3", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",7\n+CEREG: 1\n"),
            ("AT+GTRAT?", "\r\n+GTRAT: 3\r\n\r\nOK\r\n"),
            ("AT+GTRAT=10,0,2", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",2\n+CEREG: 0\n"),
            ("AT+GTRAT?", "\r\n+GTRAT: 10,0,2\r\n\r\nOK\r\n"),
            ("AT+GTRAT=10,3,3", "\r\n+CME ERROR: 50\r\n"),
            ("AT+GTRAT=7", "\r\n+CME ERROR: 50\r\n"),
            ("AT+GTRAT=3,0", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=1,2,\"00101\",9", "\r\n+CME ERROR: 50\r\n"),
            ("AT+COPS=0", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",0\n"),
            ("AT+GTRAT=10", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",7\n+CEREG: 1\n"),
            ("AT+COPS=2", "\r\nOK\r\n+CREG: 0\n+CEREG: 0\n"),
            ("AT+COPS?", "\r\n+COPS: 2\r\n\r\nOK\r\n"),
        ],
    );
    assert_eq!(s.link(true), Link { up: false, rate: None });
    check(&mut s, true, &[("AT+COPS=0", "\r\nOK\r\n+CREG: 1,\"002F\",\"0012BEEF\",7\n+CEREG: 1\n")]);
}

#[test]
fn stimuli_give_the_urcs_of_each_report_mode() {
    for n in 0..=2u8 {
        let mut s = nl668(&Conditions::default());
        for reg in ["CREG", "CGREG", "CEREG"] {
            assert_eq!(run(&mut s, &format!("AT+{reg}={n}"), true), "\r\nOK\r\n");
        }
        let loc = |act: u8| if n == 2 { format!(",\"002F\",\"0012BEEF\",{act}") } else { String::new() };
        let all = |stat: &str, act| -> Vec<String> {
            if n == 0 {
                return Vec::new();
            }
            let l = if stat == "1" { loc(act) } else { String::new() };
            ["+CREG", "+CGREG", "+CEREG"].iter().map(|r| format!("{r}: {stat}{l}")).collect()
        };
        assert_eq!(s.apply(Stimulus::NetworkDown, true).unwrap(), Vec::<String>::new(), "n={n}");
        assert_eq!(s.link(true), Link { up: false, rate: None });
        assert_eq!(s.apply(Stimulus::NetworkUp, true).unwrap(), Vec::<String>::new());
        assert_eq!(s.apply(Stimulus::Deregister, true).unwrap(), all("2", 7), "n={n}");
        assert!(!s.link(true).up);
        assert_eq!(s.apply(Stimulus::Register, true).unwrap(), all("1", 7), "n={n}");
        assert_eq!(s.apply(Stimulus::Signal(10), true).unwrap(), Vec::<String>::new());
        assert_eq!(run(&mut s, "AT+CSQ", true), "\r\n+CSQ: 10,99\r\n\r\nOK\r\n");
        assert_eq!(run(&mut s, "AT+CESQ", true), "\r\n+CESQ: 99,99,255,255,28,32\r\n\r\nOK\r\n");
        assert!(s.apply(Stimulus::Signal(32), true).is_err());
        let to_2g = s.apply(Stimulus::Rat(Rat::Gsm), true).unwrap();
        let want: Vec<String> = match n {
            0 => vec![],
            1 => vec!["+CEREG: 0".into()],
            _ => vec![format!("+CREG: 1{}", loc(0)), format!("+CGREG: 1{}", loc(0)), "+CEREG: 0".into()],
        };
        assert_eq!(to_2g, want, "n={n}");
        assert_eq!(s.link(true), Link { up: true, rate: Some(RATE_GSM) });
        assert!(s.apply(Stimulus::Rat(Rat::NbIot), true).is_err());
        assert_eq!(s.apply(Stimulus::Rat(Rat::Lte), true).unwrap().len(), [0, 1, 3][usize::from(n)]);
    }
}

#[test]
fn nrf91_stimuli() {
    let mut s = Cellular::new(Flavour::Nrf91, &Conditions::default());
    check(&mut s, true, &[("AT+CEREG=1", "\r\nOK\r\n")]);
    assert!(s.apply(Stimulus::Rat(Rat::Gsm), true).is_err(), "no 2G on the nRF9160");
    assert_eq!(s.apply(Stimulus::Rat(Rat::NbIot), true).unwrap(), Vec::<String>::new(), "stat unchanged");
    assert_eq!(s.link(true), Link { up: true, rate: Some(RATE_NB_IOT) });
    assert_eq!(s.apply(Stimulus::Deregister, false).unwrap(), Vec::<String>::new(), "radio off: no change");
    assert_eq!(s.registration_urcs(View::Off, s.view(true)), ["+CEREG: 2"]);
    assert_eq!(s.status(1).stat, 2);
    let started_2g =
        Cellular::new(Flavour::Nrf91, &Conditions { network: Some(Rat::Gsm), ..Conditions::default() });
    assert_eq!(started_2g.link(true).rate, Some(RATE_NB_IOT), "--network 2g maps onto NB-IoT");
}

#[test]
fn a_locked_sim_keeps_the_module_unregistered() {
    let pin = "1234".parse().ok();
    let mut s = nl668(&Conditions { sim_pin: pin, ..Conditions::default() });
    check(
        &mut s,
        true,
        &[
            ("AT+CEREG=1", "\r\nOK\r\n"),
            ("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"),
            ("AT+CEREG?", "\r\n+CEREG: 1,0\r\n\r\nOK\r\n"),
            ("AT+COPS?", "\r\n+COPS: 0\r\n\r\nOK\r\n"),
            ("AT+CSQ", "\r\n+CSQ: 25,99\r\n\r\nOK\r\n"),
            ("AT+CGACT=1,1", "\r\n+CME ERROR: 30\r\n"),
            ("AT+CPIN=\"4321\"", "\r\n+CME ERROR: 16\r\n"),
            ("AT+CPIN=\"1234\"", "\r\nOK\r\n+CEREG: 1\n"),
        ],
    );
    assert_eq!(s.link(true), Link { up: true, rate: None });
    s.boot();
    assert_eq!(s.status(1).sim, SimState::Pin, "the PIN is asked for at every boot");
    assert_eq!(s.link(true), Link { up: false, rate: None });
    let status = s.status(1);
    assert_eq!((status.stat, status.rat, status.pdns[0].active), (0, None, false));
}
