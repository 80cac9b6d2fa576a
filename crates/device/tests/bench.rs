//! A test bench's stimuli (network down/up, deregister/register, signal, RAT, a call) and the
//! link a download sees, driven on the device profile and engine directly: the `Modem` does not
//! take stimuli itself yet (its shell calls `Profile::apply_stimulus` and reads
//! `Profile::link`). Transfers are fed by hand, so no server is needed.

mod common;

use atfota_at::{CmeeMode, parse_line};
use atfota_device::{DeviceConfig, layout_for, provision};
use atfota_download::{Outcome, StartInfo};
use atfota_fota::profile::{RATE_GSM, RATE_NB_IOT, RATE_UTRAN};
use atfota_fota::{
    Action, Conditions, Ctx, Engine, EngineConfig, Link, Profile, ProfileKind, Rat, SimState, Stimulus,
    SystemRequest,
};
use atfota_storage::{Geometry, SimFlash};

/// A profile and its engine on simulated flash: what the `Modem` holds, without the AT session.
struct Bench {
    profile: Profile,
    engine: Engine<SimFlash>,
    transfer: Option<u64>,
}

impl Bench {
    fn new(kind: ProfileKind, conditions: Conditions) -> Self {
        let cfg = DeviceConfig::for_new_device(kind, 1024 * 1024, None).unwrap();
        let layout = layout_for(&cfg).unwrap();
        let mut flash = SimFlash::new(Geometry::new(4096, 4, layout.capacity()).unwrap());
        provision(&mut flash, &layout, kind).unwrap();
        let (engine, _) = Engine::power_on(flash, layout, &EngineConfig::default()).unwrap();
        let mut b = Self { profile: Profile::new(kind, conditions), engine, transfer: None };
        b.events();
        b
    }

    /// One command: its response, then the URCs it set off, then those of its events.
    fn send(&mut self, line: &str) -> String {
        let cmd = parse_line(line).unwrap().remove(0);
        let mut system = SystemRequest::default();
        let r = self.profile.execute(&cmd, &mut Ctx { engine: &mut self.engine, system: &mut system });
        let mut out = r.render(CmeeMode::Numeric);
        system.urcs.iter().for_each(|u| out.push_str(&atfota_at::line(u)));
        out + &self.events()
    }

    /// A stimulus: its URCs, then those of the events it caused.
    fn stimulus(&mut self, s: Stimulus) -> Result<String, String> {
        let mut system = SystemRequest::default();
        self.profile.apply_stimulus(&mut Ctx { engine: &mut self.engine, system: &mut system }, s)?;
        let out: String = system.urcs.iter().map(|u| atfota_at::line(u)).collect();
        Ok(out + &self.events())
    }

    /// Feeds `data` to the running transfer (starting it first if needed).
    fn feed(&mut self, total: u64, data: &[u8]) -> String {
        if self.transfer.is_none() {
            let Some(Action::Start { id, .. }) = self.engine.poll_action() else { panic!("no transfer") };
            self.engine.handle_started(id, StartInfo { offset: 0, total, validator: None });
            self.transfer = Some(id);
        }
        self.engine.handle_data(self.transfer.unwrap(), data);
        self.events()
    }

    fn events(&mut self) -> String {
        let mut system = SystemRequest::default();
        let mut out = String::new();
        while let Some(ev) = self.engine.poll_event() {
            let mut ctx = Ctx { engine: &mut self.engine, system: &mut system };
            self.profile.on_event(&ev, &mut ctx).iter().for_each(|u| out.push_str(&atfota_at::line(u)));
        }
        out
    }
}

#[test]
fn an_incoming_call_breaks_an_nl668_download_unless_callbreak_is_set() {
    let image = common::app_image("1.2.0", 200 * 1024, 41);
    let total = image.len() as u64;
    let half = image.len() / 2;
    let mut b = Bench::new(ProfileKind::Nl668, Conditions::default());
    assert_eq!(b.stimulus(Stimulus::IncomingCall).unwrap(), "\r\nRING\r\n", "no download: it only rings");
    let gtota = "AT+GTOTA=0,\"http://127.0.0.1:9/pkg.bin\"";
    assert_eq!(b.send(gtota), "\r\nOK\r\n");
    let out = b.feed(total, &image[..half]);
    assert!(out.starts_with("\r\nGTOTA DOWNLOAD START\r\n\r\nGTOTA DOWNLOADING: "), "{out:?}");
    assert_eq!(b.stimulus(Stimulus::IncomingCall).unwrap(), "\r\nRING\r\n\r\nGTOTA DOWNLOAD FAILED: 5\r\n");
    assert!(matches!(b.engine.poll_action(), Some(Action::Abort { .. })), "the transfer is stopped");
    b.transfer = None;

    // CALLBREAK=1: the call rings, the resumed download goes on to the end.
    assert_eq!(b.send("AT+GTSET=\"CALLBREAK\",1"), "\r\nOK\r\n");
    assert_eq!(b.send(gtota), "\r\nOK\r\n");
    let Some(Action::Start { id, resume, .. }) = b.engine.poll_action() else { panic!("no transfer") };
    let from = resume.expect("the same command resumes").offset;
    b.engine.handle_started(id, StartInfo { offset: from, total, validator: None });
    b.transfer = Some(id);
    b.events();
    assert_eq!(b.stimulus(Stimulus::IncomingCall).unwrap(), "\r\nRING\r\n");
    assert!(b.feed(total, &image[from as usize..]).ends_with("\r\nGTOTA DOWNLOADING: 100%\r\n"));
    b.engine.handle_finished(id, Ok(Outcome::Complete));
    assert_eq!(b.events(), "\r\nGTOTA DOWNLOAD COMPLETE\r\n");

    // No registration, no call.
    b.stimulus(Stimulus::Deregister).unwrap();
    assert!(b.stimulus(Stimulus::IncomingCall).is_err());
}

#[test]
fn stimuli_give_registration_urcs_and_change_the_link() {
    let mut b = Bench::new(ProfileKind::Nl668, Conditions::default());
    assert_eq!(b.profile.link(), Link { up: true, rate: None });
    assert_eq!(b.send("AT+CEREG=2"), "\r\nOK\r\n");
    assert_eq!(b.stimulus(Stimulus::NetworkDown).unwrap(), "", "registration is kept");
    assert_eq!(b.profile.link(), Link { up: false, rate: None });
    assert_eq!(b.send("AT+CEREG?"), "\r\n+CEREG: 2,1,\"002F\",\"0012BEEF\",7\r\n\r\nOK\r\n");
    assert_eq!(b.stimulus(Stimulus::NetworkUp).unwrap(), "");
    assert!(b.profile.link().up);
    assert_eq!(b.stimulus(Stimulus::Deregister).unwrap(), "\r\n+CEREG: 2\r\n");
    assert_eq!(b.send("AT+CEREG?"), "\r\n+CEREG: 2,2\r\n\r\nOK\r\n");
    assert_eq!(b.send("AT+CSQ"), "\r\n+CSQ: 99,99\r\n\r\nOK\r\n");
    assert!(!b.profile.link().up);
    assert_eq!(b.stimulus(Stimulus::Register).unwrap(), "\r\n+CEREG: 1,\"002F\",\"0012BEEF\",7\r\n");
    assert_eq!(b.stimulus(Stimulus::Signal(5)).unwrap(), "");
    assert_eq!(b.send("AT+CSQ"), "\r\n+CSQ: 5,99\r\n\r\nOK\r\n");
    assert_eq!(b.send("AT+CESQ"), "\r\n+CESQ: 99,99,255,255,28,22\r\n\r\nOK\r\n");
    assert!(b.stimulus(Stimulus::Signal(99)).is_err());
    // The network falls back to 3G, then 2G: slower each time; EPS registration is lost.
    assert_eq!(b.stimulus(Stimulus::Rat(Rat::Utran)).unwrap(), "\r\n+CEREG: 0\r\n");
    assert_eq!(b.profile.link(), Link { up: true, rate: Some(RATE_UTRAN) });
    assert_eq!(b.stimulus(Stimulus::Rat(Rat::Gsm)).unwrap(), "");
    assert_eq!(b.profile.link(), Link { up: true, rate: Some(RATE_GSM) });
    assert_eq!(b.send("AT+COPS?"), "\r\n+COPS: 0,0,\"Test Network\",0\r\n\r\nOK\r\n");
    // Fixing the module to LTE where the network has none: no service at all.
    assert_eq!(b.send("AT+GTRAT=3"), "\r\nOK\r\n\r\n+CEREG: 2\r\n");
    assert_eq!(b.profile.link(), Link { up: false, rate: None });
    assert_eq!(b.stimulus(Stimulus::Rat(Rat::Lte)).unwrap(), "\r\n+CEREG: 1,\"002F\",\"0012BEEF\",7\r\n");
    assert!(b.stimulus(Stimulus::Rat(Rat::NbIot)).is_err(), "the NL668 has no NB-IoT");
    let status = b.profile.cellular_status();
    assert_eq!((status.stat, status.rat, status.signal, status.cfun), (1, Some(Rat::Lte), 5, 1));
    assert_eq!(status.pdns.len(), 1);
    assert_eq!(status.pdns[0].apn, "internet.test");
}

#[test]
fn rat_switches_by_cops_set_the_rate() {
    let mut b = Bench::new(ProfileKind::Nl668, Conditions::default());
    for (cmd, rate) in [
        ("AT+COPS=1,2,\"00101\",0", Some(RATE_GSM)),
        ("AT+COPS=1,2,\"00101\",2", Some(RATE_UTRAN)),
        ("AT+COPS=1,2,\"00101\",7", None),
        ("AT+COPS=0", None),
    ] {
        assert_eq!(b.send(cmd), "\r\nOK\r\n", "{cmd}");
        assert_eq!(b.profile.link(), Link { up: true, rate }, "{cmd}");
    }
    // `--network 2g`: the network offers 2G only.
    let b = Bench::new(ProfileKind::Nl668, Conditions { network: Some(Rat::Gsm), ..Conditions::default() });
    assert_eq!(b.profile.link(), Link { up: true, rate: Some(RATE_GSM) });
}

#[test]
fn the_slm_link_follows_cfun_sim_and_network() {
    let conditions = Conditions { sim_pin: "1234".parse().ok(), ..Conditions::default() };
    let mut b = Bench::new(ProfileKind::Nrf9160Slm, conditions);
    assert_eq!(b.profile.cellular_status().sim, SimState::Pin);
    assert_eq!(b.send("AT+CEREG=5"), "\r\nOK\r\n");
    assert_eq!(b.send("AT+CEREG?"), "\r\n+CEREG: 5,0\r\n\r\nOK\r\n");
    assert_eq!(b.profile.link(), Link { up: false, rate: None });
    // Locked SIM: the download is accepted and cannot reach the network (the shell stalls it).
    assert_eq!(b.send("AT#XFOTA=1,\"http://127.0.0.1:9/app.bin\""), "\r\nOK\r\n");
    assert!(matches!(b.engine.poll_action(), Some(Action::Start { .. })));
    assert_eq!(b.send("AT+CPIN=\"1234\""), "\r\nOK\r\n\r\n+CEREG: 1,\"002F\",\"0012BEEF\",7\r\n");
    assert_eq!(b.profile.link(), Link { up: true, rate: None });
    assert_eq!(b.stimulus(Stimulus::Rat(Rat::NbIot)).unwrap(), "\r\n+CEREG: 1,\"002F\",\"0012BEEF\",9\r\n");
    assert_eq!(b.profile.link(), Link { up: true, rate: Some(RATE_NB_IOT) });
    assert!(b.stimulus(Stimulus::Rat(Rat::Gsm)).is_err(), "the nRF9160 has no 2G");
    assert!(b.stimulus(Stimulus::IncomingCall).is_err(), "nor voice calls");
    assert_eq!(b.stimulus(Stimulus::Deregister).unwrap(), "\r\n+CEREG: 2\r\n");
    assert_eq!(b.stimulus(Stimulus::Register).unwrap(), "\r\n+CEREG: 1,\"002F\",\"0012BEEF\",9\r\n");
    assert_eq!(b.send("AT+CFUN=4"), "\r\nOK\r\n\r\n+CEREG: 0\r\n\r\n#XFOTA: 1,1,1\r\n");
    assert_eq!(b.profile.link(), Link { up: false, rate: None });
    assert_eq!(b.profile.cellular_status().cfun, 4);
    // `--network 2g` on the nRF9160: NB-IoT, its slow RAT.
    let b =
        Bench::new(ProfileKind::Nrf9160Slm, Conditions { network: Some(Rat::Gsm), ..Conditions::default() });
    assert_eq!(b.profile.link(), Link { up: true, rate: Some(RATE_NB_IOT) });
}
