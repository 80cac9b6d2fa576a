//! The Fibocom NL668 profile (`nl668`): `AT+GTOTA`, `AT+GTSET` and the
//! identification commands, in Fibocom's style.
//!
//! Owns what the commands of spec/fibocom-gtota.md do, including this
//! project's extensions where the vendor's reference is silent (which
//! failure gets which code, the result after the automatic reboot), and the
//! emulated incoming call; the wording and syntax of every command and URC
//! are [`atfota_vocab::nl668`]'s. Never logs or answers a password: refusals
//! are logged by parameter position, not by value.

use atfota_at::{Args, CmeError, Command, Op, Response, quote};
use atfota_download::{FtpSource, HttpSource, Source};
use atfota_image::ImageKind;
use atfota_storage::NorFlash;
use atfota_vocab::Error as VocabError;
use atfota_vocab::nl668::{
    DownloadFailure, GTOTA_TEST, Gtota, GtotaCommand, GtsetCommand, GtsetValue, RING, Revision, Setting,
    UpgradeFailure,
};

use super::bench::{CellularStatus, Link, Stimulus};
use super::cellular::{Cellular, Flavour, View};
use super::{Conditions, Ctx, cme_for};
use crate::engine::DownloadRequest;
use crate::event::{Event, FailKind, Failure, UpgradeResult};

/// Settings key of `AT+GTSET="CALLBREAK"`.
pub const KEY_CALLBREAK: &str = "nl668.callbreak";
/// Settings key of `AT+GTSET="GPRSFIRST"`.
pub const KEY_GPRSFIRST: &str = "nl668.gprsfirst";

const MANUFACTURER: &str = "Fibocom Wireless Inc.";
const MODEL: &str = "NL668-EAU";
/// `AT+GTSET` settings and their settings keys, in listing order.
const GTSET: [(Setting, &str); 2] =
    [(Setting::CallBreak, KEY_CALLBREAK), (Setting::GprsFirst, KEY_GPRSFIRST)];

/// The NL668 profile.
#[derive(Debug)]
pub struct Nl668 {
    conditions: Conditions,
    /// The emulated call already rang during this download.
    rang: bool,
    cell: Cellular,
}

impl Nl668 {
    /// A profile under the given emulated conditions.
    pub fn new(conditions: Conditions) -> Self {
        let cell = Cellular::new(Flavour::Nl668, &conditions);
        Self { conditions, rang: false, cell }
    }

    /// A boot: registration report modes and contexts go back to their defaults.
    pub fn on_boot(&mut self) {
        self.cell.boot();
    }

    /// The link a download sees (the NL668's radio is always on).
    pub fn link(&self) -> Link {
        self.cell.link(true)
    }

    /// The cellular state, for a status report.
    pub fn cellular_status(&self) -> CellularStatus {
        self.cell.status(1)
    }

    /// Applies a bench's stimulus: a network change, or a call (which needs a registration).
    pub fn apply_stimulus<F: NorFlash>(&mut self, ctx: &mut Ctx<'_, F>, s: Stimulus) -> Result<(), String> {
        if s != Stimulus::IncomingCall {
            let urcs = self.cell.apply(s, true)?;
            ctx.system.urcs.extend(urcs);
            return Ok(());
        }
        if !matches!(self.cell.view(true), View::Served(_)) {
            return Err("no call can reach a module that is not registered".into());
        }
        let urcs = self.ring(ctx);
        ctx.system.urcs.extend(urcs);
        Ok(())
    }

    /// An incoming call: `RING`, and unless `CALLBREAK` is 1 the data session breaks (a running
    /// download fails with code 5, its bytes kept for a resume).
    fn ring<F: NorFlash>(&mut self, ctx: &mut Ctx<'_, F>) -> Vec<String> {
        if setting_value(ctx, KEY_CALLBREAK) == 1 {
            log::info!("incoming call: CALLBREAK is 1, the download goes on");
        } else if ctx.engine.interrupt(Failure::new(FailKind::CallInterrupted, "incoming call")) {
            log::warn!("incoming call breaks the data session (AT+GTSET=\"CALLBREAK\",1 prevents it)");
        } else {
            log::info!("incoming call (no download running)");
        }
        vec![RING.into()]
    }

    /// Executes one command.
    pub fn execute<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        let revision = revision(ctx);
        match (cmd.name.as_str(), &cmd.op) {
            ("I", Op::Action) => Response::ok()
                .with_line(format!("Manufacturer: {MANUFACTURER}"))
                .with_line(format!("Model: {MODEL}"))
                .with_line(format!("Revision: {}", revision.text())),
            ("+CGMI", Op::Action) => Response::ok().with_line(format!("+CGMI: {}", quote(MANUFACTURER))),
            ("+CGMM", Op::Action) => Response::ok().with_line(format!("+CGMM: {}", quote(MODEL))),
            ("+CGMR", Op::Action) => Response::ok().with_line(revision.to_string()),
            ("+CGMI" | "+CGMM" | "+CGMR", Op::Test) => Response::ok(),
            ("+GTOTA", Op::Set(args)) => match self.cell.sim.state().restriction() {
                // PIN restricted (the reference's attribute table).
                Some(code) => {
                    log::warn!("AT+GTOTA refused: the SIM is locked ({})", self.cell.sim.state().name());
                    Response::cme(code)
                }
                None => self.gtota(args, ctx),
            },
            ("+GTOTA", Op::Test) => Response::ok().with_line(GTOTA_TEST),
            ("+GTSET", Op::Set(args)) => gtset(args, ctx),
            ("+GTSET", Op::Read) => GTSET
                .iter()
                .fold(Response::ok(), |r, (s, key)| r.with_line(gtset_value(*s, key, ctx).to_string())),
            ("+GTSET", Op::Test) => GTSET.iter().fold(Response::ok(), |r, (s, _)| r.with_line(s.test_line())),
            ("+GTOTA" | "+GTSET", _) => Response::cme(CmeError::OPERATION_NOT_SUPPORTED),
            // The NL668's radio is always on.
            _ => self.cell.execute(cmd, true, &mut ctx.system.urcs).unwrap_or_else(Response::error),
        }
    }

    /// URCs for an engine event, and the automatic reboot once a package is
    /// downloaded and verified.
    pub fn on_event<F: NorFlash>(&mut self, event: &Event, ctx: &mut Ctx<'_, F>) -> Vec<String> {
        match event {
            Event::DownloadStarted { .. } => {
                self.rang = false;
                vec![Gtota::DownloadStart.to_string()]
            }
            Event::Progress(p) => {
                let mut urcs = vec![Gtota::Downloading(*p).to_string()];
                if self.conditions.incoming_call_at.is_some_and(|at| *p >= at) && !self.rang {
                    self.rang = true;
                    urcs.extend(self.ring(ctx));
                }
                urcs
            }
            Event::TransferComplete => vec![Gtota::DownloadComplete.to_string()],
            Event::Downloaded => {
                // The module installs by itself: reboot into the bootloader.
                ctx.system.reset = true;
                Vec::new()
            }
            Event::DownloadFailed(f) => match download_code(f) {
                Some(code) => vec![Gtota::DownloadFailed(DownloadFailure(code)).to_string()],
                None => vec![Gtota::UpgradeFailed(UpgradeFailure(upgrade_code(f))).to_string()],
            },
            Event::Result(UpgradeResult::Complete) => vec![Gtota::UpgradeSuccess.to_string()],
            Event::Result(UpgradeResult::Reverted) => {
                vec![Gtota::UpgradeFailed(UpgradeFailure::REVERTED).to_string()]
            }
            Event::Result(UpgradeResult::Failed(f)) => {
                vec![Gtota::UpgradeFailed(UpgradeFailure(upgrade_code(f))).to_string()]
            }
            _ => Vec::new(),
        }
    }

    /// `AT+GTOTA=<type>,"<url>"[,"<filename>","<username>","<password>"]`.
    fn gtota<F: NorFlash>(&mut self, args: &Args, ctx: &mut Ctx<'_, F>) -> Response {
        let req = match request(args) {
            Ok(r) => r,
            Err((code, why)) => {
                log::warn!("AT+GTOTA refused: {why}");
                return Response::cme(code);
            }
        };
        match ctx.engine.start_download(req) {
            Ok(()) => Response::ok(),
            Err(e) => {
                log::warn!("AT+GTOTA refused: {e}");
                Response::cme(cme_for(&e))
            }
        }
    }
}

/// Checks the parameters of `AT+GTOTA` (their syntax through the vocabulary, then the URL or
/// server) and builds the request.
fn request(args: &Args) -> Result<DownloadRequest, (CmeError, String)> {
    let bad = |why: String| (CmeError::INCORRECT_PARAMETERS, why);
    let command = GtotaCommand::from_args(args).map_err(|e| match e {
        VocabError::TooLong { .. } => (CmeError::TEXT_STRING_TOO_LONG, e.to_string()),
        _ => bad(e.to_string()),
    })?;
    let login = match command {
        GtotaCommand::Http { url } => {
            let full = if url.contains("://") { url } else { format!("http://{url}") };
            let parsed = atfota_download::parse_http_url(&full).map_err(|e| bad(e.to_string()))?;
            if parsed.scheme() != "http" {
                return Err((
                    CmeError::OPERATION_NOT_SUPPORTED,
                    "type 0 downloads over plain HTTP only".into(),
                ));
            }
            return Ok(DownloadRequest {
                kind: ImageKind::McubootApp,
                identity: format!("nl668 {parsed}"),
                source: Source::Http(HttpSource::new(parsed)),
                sec_tag: None,
            });
        }
        GtotaCommand::Ftp(login) => login,
        _ => return Err(bad("<type> must be 0 (HTTP) or 1 (FTP)".into())),
    };
    let (host, port) = atfota_download::parse_ftp_server(&login.server).map_err(|e| bad(e.to_string()))?;
    Ok(DownloadRequest {
        kind: ImageKind::McubootApp,
        identity: format!("nl668 ftp://{}@{host}:{port}/{}", login.user, login.file),
        source: Source::Ftp(FtpSource {
            host,
            port,
            path: login.file,
            user: login.user,
            password: login.password,
        }),
        sec_tag: None,
    })
}

/// `AT+GTSET="<name>"[,<0|1>]`.
fn gtset<F: NorFlash>(args: &Args, ctx: &mut Ctx<'_, F>) -> Response {
    let bad = || Response::cme(CmeError::INCORRECT_PARAMETERS);
    let Ok(command) = GtsetCommand::from_args(args) else { return bad() };
    let (GtsetCommand::Query(setting) | GtsetCommand::Set(setting, _)) = command else { return bad() };
    let Some((_, key)) = GTSET.iter().find(|(s, _)| *s == setting) else { return bad() };
    match command {
        GtsetCommand::Set(_, on) => match ctx.engine.set_setting(key, &[u8::from(on)]) {
            Ok(()) => Response::ok(),
            Err(e) => Response::cme(cme_for(&e)),
        },
        _ => Response::ok().with_line(gtset_value(setting, key, ctx).to_string()),
    }
}

fn gtset_value<F: NorFlash>(setting: Setting, key: &str, ctx: &Ctx<'_, F>) -> GtsetValue {
    GtsetValue { setting, value: setting_value(ctx, key) }
}

/// A stored `AT+GTSET` value (0 when never set).
fn setting_value<F: NorFlash>(ctx: &Ctx<'_, F>, key: &str) -> u8 {
    ctx.engine.settings().get(key).and_then(|v| v.first().copied()).unwrap_or(0)
}

/// The firmware revision: Fibocom-style, carrying the installed package's
/// version (its MCUboot header).
fn revision<F: NorFlash>(ctx: &Ctx<'_, F>) -> Revision {
    let version = ctx.engine.app_version().map_or_else(|| "unknown".to_string(), |v| v.to_string());
    Revision { model: MODEL.to_string(), version }
}

/// `GTOTA DOWNLOAD FAILED` code, or `None` when the package itself failed.
fn download_code(f: &Failure) -> Option<u32> {
    let code = match f.kind {
        FailKind::Network => DownloadFailure::NETWORK,
        FailKind::Server => DownloadFailure::SERVER,
        FailKind::NotFound => DownloadFailure::NOT_FOUND,
        FailKind::LoginRefused => DownloadFailure::LOGIN_REFUSED,
        FailKind::CallInterrupted => DownloadFailure::CALL_INTERRUPTED,
        FailKind::Storage => DownloadFailure::STORAGE,
        _ => return None,
    };
    Some(code.0)
}

/// `GTOTA UPGRADE FAILED` code for a package that failed.
fn upgrade_code(f: &Failure) -> u32 {
    let code = match f.kind {
        FailKind::Mismatch => UpgradeFailure::MISMATCH,
        FailKind::Untrusted => UpgradeFailure::UNTRUSTED,
        FailKind::Install => UpgradeFailure::INSTALL,
        _ => UpgradeFailure::INVALID,
    };
    code.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Args {
        let cmds = atfota_at::parse_line(line).unwrap();
        match &cmds[0].op {
            Op::Set(a) => a.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameter_rules() {
        let long = "x".repeat(256);
        let max = "x".repeat(255);
        let cases: Vec<(String, Option<u16>)> = vec![
            (r#"AT+GTOTA=0,"http://10.0.0.1/fw/pkg.bin""#.into(), None),
            (r#"AT+GTOTA=0,"10.0.0.1:8080/pkg.bin""#.into(), None),
            (r#"AT+GTOTA=1,"10.0.0.1","pkg.bin","user","pass""#.into(), None),
            (r#"AT+GTOTA=1,"ftp://10.0.0.1:2121","fw/pkg.bin","u","p,a\22ss""#.into(), None),
            (format!(r#"AT+GTOTA=1,"10.0.0.1","{max}","{max}","{max}""#), None),
            (r#"AT+GTOTA=2,"http://h/p""#.into(), Some(50)),
            (r#"AT+GTOTA=0,"http://h/p","file""#.into(), Some(50)),
            (r#"AT+GTOTA=1,"h","f","u""#.into(), Some(50)),
            (r#"AT+GTOTA=1,"h","f",,"p""#.into(), Some(50)),
            (format!(r#"AT+GTOTA=0,"http://h/{long}""#), Some(24)),
            (format!(r#"AT+GTOTA=1,"h","{long}","u","p""#), Some(24)),
            (format!(r#"AT+GTOTA=1,"h","f","{long}","p""#), Some(24)),
            (format!(r#"AT+GTOTA=1,"h","f","u","{long}""#), Some(24)),
            (r#"AT+GTOTA=1,h,"f","u","p""#.into(), Some(50)),
            (r#"AT+GTOTA=1,"h","f","u",secret"#.into(), Some(50)),
            (r#"AT+GTOTA=0"#.into(), Some(50)),
            (r#"AT+GTOTA=1,"http://h","f","u","p""#.into(), Some(50)),
            (r#"AT+GTOTA=0,"ftp://h/f""#.into(), Some(50)),
            (r#"AT+GTOTA=0,"https://h/f""#.into(), Some(4)),
            (r#"AT+GTOTA=1,"h/dir","f","u","p""#.into(), Some(50)),
        ];
        for (line, want) in cases {
            let got = request(&args(&line)).err().map(|(c, _)| c.0);
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn ftp_credentials_keep_commas_and_quotes_and_stay_out_of_the_identity() {
        let req = request(&args(r#"AT+GTOTA=1,"127.0.0.1:2121","fw/a.bin","bob","p,a\22ss""#)).unwrap();
        let Source::Ftp(src) = &req.source else { panic!("{:?}", req.source) };
        assert_eq!((src.host.as_str(), src.port, src.path.as_str()), ("127.0.0.1", 2121, "fw/a.bin"));
        assert_eq!((src.user.as_str(), src.password.as_str()), ("bob", "p,a\"ss"));
        assert!(!req.identity.contains("p,a"), "{}", req.identity);
        assert!(!format!("{:?}", req.source).contains("p,a"));
    }

    #[test]
    fn refusals_never_carry_the_password() {
        for line in [
            r#"AT+GTOTA=1,"h","f","u",topsecret"#,
            r#"AT+GTOTA=0,"http://h/f","topsecret""#,
            r#"AT+GTOTA=1,"http://h","f","u","topsecret""#,
        ] {
            let (_, why) = request(&args(line)).err().unwrap();
            assert!(!why.contains("topsecret"), "{line}: {why}");
        }
    }

    #[test]
    fn failure_codes() {
        let f = |kind| Failure::new(kind, "");
        assert_eq!(download_code(&f(FailKind::Network)), Some(1));
        assert_eq!(download_code(&f(FailKind::LoginRefused)), Some(4));
        assert_eq!(download_code(&f(FailKind::CallInterrupted)), Some(5));
        assert_eq!(download_code(&f(FailKind::Untrusted)), None);
        assert_eq!(upgrade_code(&f(FailKind::Invalid)), 10);
        assert_eq!(upgrade_code(&f(FailKind::Mismatch)), 11);
        assert_eq!(upgrade_code(&f(FailKind::Untrusted)), 12);
        assert_eq!(upgrade_code(&f(FailKind::Install)), 13);
    }
}
