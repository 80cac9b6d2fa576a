//! The Fibocom NL668 profile (`nl668`): `AT+GTOTA`, `AT+GTSET` and the
//! identification commands, in Fibocom's style.
//!
//! Owns the argument rules and URC wording of spec/fibocom-gtota.md,
//! including this project's extensions where the vendor's reference is
//! silent (failure URCs, their codes, the result after the automatic
//! reboot), and the emulated incoming call. Never logs or answers a
//! password: refusals are logged by parameter position, not by value.

use atfota_at::{Args, CmeError, Command, Op, Response, quote};
use atfota_download::{FtpSource, HttpSource, Source};
use atfota_image::ImageKind;
use atfota_storage::NorFlash;

use super::{Conditions, Ctx, cme_for};
use crate::engine::DownloadRequest;
use crate::event::{Event, FailKind, Failure, UpgradeResult};

/// Line printed when a boot completes.
pub const BANNER: &str = "RDY";
/// Longest string parameter of `AT+GTOTA`, in bytes.
pub const MAX_STRING: usize = 255;
/// Settings key of `AT+GTSET="CALLBREAK"`.
pub const KEY_CALLBREAK: &str = "nl668.callbreak";
/// Settings key of `AT+GTSET="GPRSFIRST"`.
pub const KEY_GPRSFIRST: &str = "nl668.gprsfirst";

const MANUFACTURER: &str = "Fibocom Wireless Inc.";
const MODEL: &str = "NL668-EAU";
const GTOTA_TEST: &str = "+GTOTA: (0-1),<\"url\">[,<\"filename\">,<\"username\">,<\"password\">]";
/// `AT+GTSET` names, their settings keys, in listing order.
const GTSET: [(&str, &str); 2] = [("CALLBREAK", KEY_CALLBREAK), ("GPRSFIRST", KEY_GPRSFIRST)];

/// The NL668 profile.
#[derive(Debug)]
pub struct Nl668 {
    conditions: Conditions,
    /// The emulated call already rang during this download.
    rang: bool,
}

impl Nl668 {
    /// A profile under the given emulated conditions.
    pub fn new(conditions: Conditions) -> Self {
        Self { conditions, rang: false }
    }

    /// Executes one command.
    pub fn execute<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        let revision = revision(ctx);
        match (cmd.name.as_str(), &cmd.op) {
            ("I", Op::Action) => Response::ok()
                .with_line(format!("Manufacturer: {MANUFACTURER}"))
                .with_line(format!("Model: {MODEL}"))
                .with_line(format!("Revision: {revision}")),
            ("+CGMI", Op::Action) => Response::ok().with_line(format!("+CGMI: {}", quote(MANUFACTURER))),
            ("+CGMM", Op::Action) => Response::ok().with_line(format!("+CGMM: {}", quote(MODEL))),
            ("+CGMR", Op::Action) => Response::ok().with_line(format!("+CGMR: {}", quote(&revision))),
            ("+CGMI" | "+CGMM" | "+CGMR", Op::Test) => Response::ok(),
            ("+GTOTA", Op::Set(args)) => self.gtota(args, ctx),
            ("+GTOTA", Op::Test) => Response::ok().with_line(GTOTA_TEST),
            ("+GTSET", Op::Set(args)) => gtset(args, ctx),
            ("+GTSET", Op::Read) => {
                GTSET.iter().fold(Response::ok(), |r, (name, key)| r.with_line(gtset_line(name, key, ctx)))
            }
            ("+GTSET", Op::Test) => GTSET
                .iter()
                .fold(Response::ok(), |r, (name, _)| r.with_line(format!("+GTSET: \"{name}\",(0,1)"))),
            ("+GTOTA" | "+GTSET", _) => Response::cme(CmeError::OPERATION_NOT_SUPPORTED),
            _ => Response::error(),
        }
    }

    /// URCs for an engine event, and the automatic reboot once a package is
    /// downloaded and verified.
    pub fn on_event<F: NorFlash>(&mut self, event: &Event, ctx: &mut Ctx<'_, F>) -> Vec<String> {
        match event {
            Event::DownloadStarted { .. } => {
                self.rang = false;
                vec!["GTOTA DOWNLOAD START".into()]
            }
            Event::Progress(p) => {
                let mut urcs = vec![format!("GTOTA DOWNLOADING: {p}%")];
                if self.conditions.incoming_call_at.is_some_and(|at| *p >= at) && !self.rang {
                    self.rang = true;
                    urcs.push("RING".into());
                    if setting(ctx, KEY_CALLBREAK) == 1 {
                        log::info!("incoming call: CALLBREAK is 1, the download goes on");
                    } else {
                        log::warn!(
                            "incoming call breaks the data session (AT+GTSET=\"CALLBREAK\",1 prevents it)"
                        );
                        ctx.engine.interrupt(Failure::new(FailKind::CallInterrupted, "incoming call"));
                    }
                }
                urcs
            }
            Event::TransferComplete => vec!["GTOTA DOWNLOAD COMPLETE".into()],
            Event::Downloaded => {
                // The module installs by itself: reboot into the bootloader.
                ctx.system.reset = true;
                Vec::new()
            }
            Event::DownloadFailed(f) => match download_code(f) {
                Some(code) => vec![format!("GTOTA DOWNLOAD FAILED: {code}")],
                None => vec![format!("GTOTA UPGRADE FAILED: {}", upgrade_code(f))],
            },
            Event::Result(UpgradeResult::Complete) => vec!["GTOTA UPGRADE SUCCESS".into()],
            Event::Result(UpgradeResult::Reverted) => vec!["GTOTA UPGRADE FAILED: 14".into()],
            Event::Result(UpgradeResult::Failed(f)) => {
                vec![format!("GTOTA UPGRADE FAILED: {}", upgrade_code(f))]
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

/// Checks the parameters of `AT+GTOTA` and builds the request.
fn request(args: &Args) -> Result<DownloadRequest, (CmeError, String)> {
    let bad = |why: String| (CmeError::INCORRECT_PARAMETERS, why);
    if args.len() > 5 {
        return Err(bad(format!("{} parameters, at most 5", args.len())));
    }
    let kind = match args.int(0) {
        Ok(Some(k @ (0 | 1))) => k,
        Ok(Some(k)) => return Err(bad(format!("<type> {k} is not 0 (HTTP) or 1 (FTP)"))),
        _ => return Err(bad("<type> must be 0 (HTTP) or 1 (FTP)".into())),
    };
    // Each string: quoted, at most 255 bytes. Errors name the position, never the value.
    let mut strings: [Option<&str>; 5] = [None; 5];
    for (i, name) in [(1, "url"), (2, "filename"), (3, "username"), (4, "password")] {
        match args.string(i) {
            Ok(Some(s)) if s.len() > MAX_STRING => {
                return Err((
                    CmeError::TEXT_STRING_TOO_LONG,
                    format!("<{name}> is {} bytes, at most {MAX_STRING}", s.len()),
                ));
            }
            Ok(v) => strings[i] = v,
            Err(_) => return Err(bad(format!("<{name}> must be a quoted string"))),
        }
    }
    let [_, url, file, user, pass] = strings;
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| bad("<url> is missing".into()))?;
    if kind == 0 {
        if file.is_some() || user.is_some() || pass.is_some() {
            return Err(bad("HTTP (type 0) takes only the URL: the file is part of it".into()));
        }
        let full = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
        let parsed = atfota_download::parse_http_url(&full).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err((CmeError::OPERATION_NOT_SUPPORTED, "type 0 downloads over plain HTTP only".into()));
        }
        return Ok(DownloadRequest {
            kind: ImageKind::McubootApp,
            identity: format!("nl668 {parsed}"),
            source: Source::Http(HttpSource::new(parsed)),
            sec_tag: None,
        });
    }
    let (Some(file), Some(user), Some(pass)) = (file, user, pass) else {
        return Err(bad("FTP (type 1) needs <filename>, <username> and <password>".into()));
    };
    if file.is_empty() || user.is_empty() {
        return Err(bad("<filename> and <username> must not be empty".into()));
    }
    let (host, port) = atfota_download::parse_ftp_server(url).map_err(|e| bad(e.to_string()))?;
    Ok(DownloadRequest {
        kind: ImageKind::McubootApp,
        identity: format!("nl668 ftp://{user}@{host}:{port}/{file}"),
        source: Source::Ftp(FtpSource {
            host,
            port,
            path: file.to_string(),
            user: user.to_string(),
            password: pass.to_string(),
        }),
        sec_tag: None,
    })
}

/// `AT+GTSET="<name>"[,<0|1>]`.
fn gtset<F: NorFlash>(args: &Args, ctx: &mut Ctx<'_, F>) -> Response {
    let bad = || Response::cme(CmeError::INCORRECT_PARAMETERS);
    let Ok(Some(name)) = args.string(0) else { return bad() };
    let Some((name, key)) = GTSET.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else { return bad() };
    if args.len() > 2 {
        return bad();
    }
    match args.int(1) {
        Ok(None) => Response::ok().with_line(gtset_line(name, key, ctx)),
        Ok(Some(v @ (0 | 1))) => match ctx.engine.set_setting(key, &[v as u8]) {
            Ok(()) => Response::ok(),
            Err(e) => Response::cme(cme_for(&e)),
        },
        _ => bad(),
    }
}

fn gtset_line<F: NorFlash>(name: &str, key: &str, ctx: &Ctx<'_, F>) -> String {
    format!("+GTSET: \"{name}\",{}", setting(ctx, key))
}

/// A stored `AT+GTSET` value (0 when never set).
fn setting<F: NorFlash>(ctx: &Ctx<'_, F>, key: &str) -> u8 {
    ctx.engine.settings().get(key).and_then(|v| v.first().copied()).unwrap_or(0)
}

/// The firmware revision string: Fibocom-style, carrying the installed
/// package's version (its MCUboot header).
fn revision<F: NorFlash>(ctx: &Ctx<'_, F>) -> String {
    let v = ctx.engine.app_version().map_or_else(|| "unknown".to_string(), |v| v.to_string());
    format!("{MODEL}_V{v}")
}

/// `GTOTA DOWNLOAD FAILED` code, or `None` when the package itself failed.
fn download_code(f: &Failure) -> Option<u32> {
    Some(match f.kind {
        FailKind::Network => 1,
        FailKind::Server => 2,
        FailKind::NotFound => 3,
        FailKind::LoginRefused => 4,
        FailKind::CallInterrupted => 5,
        FailKind::Storage => 6,
        _ => return None,
    })
}

/// `GTOTA UPGRADE FAILED` code for a package that failed.
fn upgrade_code(f: &Failure) -> u32 {
    match f.kind {
        FailKind::Mismatch => 11,
        FailKind::Untrusted => 12,
        FailKind::Install => 13,
        _ => 10,
    }
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
