//! The machine driven line by line, with time as a parameter.

use super::*;
use crate::request::{Target, Timeouts};

/// A machine and a clock.
struct Run {
    u: Update,
    now: Instant,
    sent: Vec<String>,
    events: Vec<Event>,
    reopens: usize,
}

impl Run {
    fn new(req: Request) -> Self {
        let now = Instant::now();
        let mut r = Self {
            u: Update::new(req, Timeouts::default(), now),
            now,
            sent: vec![],
            events: vec![],
            reopens: 0,
        };
        r.drain();
        r
    }

    fn drain(&mut self) {
        while let Some(o) = self.u.poll() {
            match o {
                Output::Transmit(b) => {
                    let text = String::from_utf8(b).unwrap();
                    assert!(text.ends_with('\r'));
                    self.sent.push(text.trim_end().to_string());
                }
                Output::Event(e) => self.events.push(e),
                Output::Reopen => self.reopens += 1,
            }
        }
    }

    fn lines(&mut self, lines: &[&str]) {
        for l in lines {
            self.u.handle_line(self.now, l);
            self.drain();
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.u.handle_timeout(self.now);
        self.drain();
    }

    fn last_sent(&self) -> &str {
        self.sent.last().map(String::as_str).unwrap_or("")
    }

    fn outcome(&self) -> Option<Outcome> {
        self.u.outcome().cloned()
    }
}

fn slm() -> Request {
    Request::http(Profile::Nrf9160Slm, "http://h/app.bin")
}

#[test]
fn slm_app_update_with_echo_and_repeated_percentages() {
    let mut r = Run::new(slm());
    assert_eq!(r.last_sent(), "AT");
    r.lines(&["AT", "OK"]);
    assert_eq!(r.last_sent(), "AT#XFOTA=1,\"http://h/app.bin\"");
    r.lines(&["AT#XFOTA=1,\"http://h/app.bin\"", "#XFOTA: 1,0,0", "OK"]);
    r.lines(&["#XFOTA: 1,0,10", "#XFOTA: 1,0,10", "#XFOTA: 1,0,10", "#XFOTA: 1,0,55", "#XFOTA: 1,0,100"]);
    r.lines(&["#XFOTA: 4,0"]);
    assert_eq!(r.last_sent(), "AT#XRESET");
    r.lines(&["OK", "Ready", "#XFOTA: 5,0"]);
    assert_eq!(r.last_sent(), "AT#XSLMVER");
    assert_eq!(r.outcome(), None);
    r.lines(&["#XSLMVER: \"2.0.0\",\"mfw_nrf9160_1.3.5\"", "OK"]);
    assert_eq!(r.outcome(), Some(Outcome::Updated { version: Some("2.0.0".into()) }));
    let progress: Vec<u8> = r
        .events
        .iter()
        .filter_map(|e| if let Event::Progress { percent } = e { Some(*percent) } else { None })
        .collect();
    assert_eq!(progress, [0, 10, 55, 100]);
    for e in [Event::Downloaded, Event::Rebooting, Event::Booted] {
        assert!(r.events.contains(&e), "{e:?} missing from {:?}", r.events);
    }
}

#[test]
fn probes_until_the_modem_answers_then_times_out() {
    let mut r = Run::new(slm());
    for _ in 0..5 {
        r.advance(Duration::from_secs(1));
    }
    assert_eq!(r.sent.iter().filter(|s| *s == "AT").count(), 6);
    r.advance(Duration::from_secs(200));
    assert!(matches!(r.outcome(), Some(Outcome::TimedOut(_))), "{:?}", r.outcome());
}

#[test]
fn download_failures_retry_the_same_url_then_give_up() {
    let mut req = slm();
    req.retries = 1;
    let mut r = Run::new(req);
    r.lines(&["OK", "OK", "#XFOTA: 1,1,1"]);
    assert_eq!(r.sent.iter().filter(|s| s.starts_with("AT#XFOTA=1")).count(), 2);
    r.lines(&["OK", "#XFOTA: 1,0,40", "#XFOTA: 1,1,1"]);
    assert_eq!(r.outcome().map(|o| o.exit_code()), Some(5));
}

#[test]
fn a_stall_cancels_and_retries_then_times_out() {
    let mut req = slm();
    req.retries = 1;
    let mut r = Run::new(req);
    r.lines(&["OK", "OK", "#XFOTA: 1,0,3"]);
    r.advance(Duration::from_secs(61));
    assert_eq!(r.last_sent(), "AT#XFOTA=0");
    r.lines(&["#XFOTA: 1,2,0", "OK"]);
    assert!(r.last_sent().starts_with("AT#XFOTA=1"));
    r.lines(&["OK"]);
    r.advance(Duration::from_secs(61));
    r.lines(&["ERROR"]); // the cancel found nothing running any more
    assert_eq!(r.outcome().map(|o| o.exit_code()), Some(10));
}

#[test]
fn nl668_sets_prerequisites_and_restores_them() {
    let mut r = Run::new(Request::http(Profile::Nl668, "http://h/p.bin"));
    r.lines(&["OK"]);
    assert_eq!(r.last_sent(), "AT+GTSET?");
    r.lines(&["+GTSET: \"CALLBREAK\",0", "+GTSET: \"GPRSFIRST\",1", "OK"]);
    assert_eq!(r.last_sent(), "AT+GTSET=\"CALLBREAK\",1");
    r.lines(&["OK"]);
    assert_eq!(r.last_sent(), "AT+GTOTA=0,\"http://h/p.bin\"");
    r.lines(&["OK", "GTOTA DOWNLOAD START", "GTOTA DOWNLOADING: 50%", "GTOTA DOWNLOAD COMPLETE", "RDY"]);
    r.lines(&["GTOTA UPGRADE SUCCESS"]);
    assert_eq!(r.last_sent(), "AT+GTSET=\"CALLBREAK\",0");
    r.lines(&["OK"]);
    assert_eq!(r.last_sent(), "AT+CGMR");
    r.lines(&["+CGMR: \"NL668-EAU_V1.1.0\"", "OK"]);
    assert_eq!(r.outcome(), Some(Outcome::Updated { version: Some("NL668-EAU_V1.1.0".into()) }));
}

#[test]
fn interrupt_cancels_the_download() {
    let mut r = Run::new(slm());
    r.lines(&["OK", "OK", "#XFOTA: 1,0,3"]);
    r.u.interrupt(r.now);
    r.drain();
    assert_eq!(r.last_sent(), "AT#XFOTA=0");
    r.lines(&["#XFOTA: 1,2,0", "OK"]);
    assert_eq!(r.outcome(), Some(Outcome::Interrupted));
}

#[test]
fn port_closing_during_the_reboot_is_reopened() {
    let mut req = slm();
    req.target = Target::Modem;
    let mut r = Run::new(req);
    r.lines(&["OK", "OK", "#XFOTA: 2,0"]);
    r.advance(Duration::from_secs(90)); // the erase allowance, not the stall timeout, applies
    r.lines(&["#XFOTA: 3,0", "#XFOTA: 4,0", "OK"]);
    r.u.handle_closed(r.now);
    r.drain();
    assert_eq!(r.reopens, 1);
    r.advance(Duration::from_secs(5));
    r.u.handle_opened(r.now);
    r.lines(&["Ready", "#XFOTA: 5,1,71303172"]);
    assert_eq!(r.last_sent(), "AT+CGMR");
    r.lines(&["mfw 1.0", "OK"]);
    let o = r.outcome().unwrap();
    assert_eq!(o.exit_code(), 8, "{o}");
    assert!(o.to_string().contains("running mfw 1.0"), "{o}");
}

#[test]
fn ftp_password_never_appears_in_events() {
    let mut r = Run::new(Request::ftp("127.0.0.1:21", "p.bin", "u", "s3cret"));
    r.lines(&["OK", "ERROR"]);
    assert!(r.sent.last().unwrap().contains("s3cret"), "the modem gets the password");
    r.lines(&["AT+GTOTA=1,\"127.0.0.1:21\",\"p.bin\",\"u\",\"s3cret\"", "+CME ERROR: 50"]);
    let o = r.outcome().unwrap();
    assert_eq!(o.exit_code(), 4);
    assert!(!format!("{o} {:?}", r.events).contains("s3cret"));
}
