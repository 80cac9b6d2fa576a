//! The Nordic Serial LTE Modem profile (`nrf9160-slm`): `AT#XFOTA`,
//! `AT#XRESET`, `AT#XSLMVER` and the identification commands, plus the modem
//! commands it passes through (`+CFUN`, `+CGSN` in [`super::nrf91`], `%CMNG`
//! in [`super::cmng`]).
//!
//! Owns argument rules and URC wording of spec/nordic-xfota.md; the engine
//! does the work. Never reports a password or a URL's credentials.

use atfota_at::{CmeError, Command, Op, Response, quote};
use atfota_image::ImageKind;
use atfota_net::{HttpSource, Source};
use atfota_storage::NorFlash;

use super::nrf91::{ModeChange, ModemState};
use super::{Conditions, Ctx, KEY_MODEM_VERSION, cme_for};
use crate::engine::DownloadRequest;
use crate::event::{Event, FailKind, Failure, UpgradeResult};

/// Longest `<file_url>` accepted, in bytes (Nordic's `FILE_URI_MAX` less its NUL).
pub const MAX_URL_LEN: usize = 255;
const MANUFACTURER: &str = "Nordic Semiconductor ASA";
const MODEL: &str = "nRF9160-SICA";
const XFOTA_TEST: &str = "#XFOTA: (0,1,2,8,9),<file_url>,<sec_tag>,<apn>";

/// The Nordic SLM profile: the modem's functional mode and identity; the rest lives in the engine.
#[derive(Debug)]
pub struct Slm {
    modem: ModemState,
}

impl Slm {
    /// The profile of a device started under `conditions` (IMEI, boot mode).
    pub fn new(conditions: &Conditions) -> Self {
        Self { modem: ModemState::new(conditions) }
    }

    /// A boot: the functional mode goes back to the boot default.
    pub fn on_boot(&mut self) {
        self.modem.boot();
    }

    /// Executes one command.
    pub fn execute<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        // The modem firmware is not in the settings store on a real module: an
        // emptied store falls back to what the factory installed.
        let modem = ctx
            .engine
            .settings()
            .get_str(KEY_MODEM_VERSION)
            .unwrap_or(super::ProfileKind::Nrf9160Slm.factory_modem_version())
            .to_string();
        match (cmd.name.as_str(), &cmd.op) {
            ("I", Op::Action) => Response::ok().with_line(MANUFACTURER).with_line(MODEL).with_line(modem),
            ("+CGMI", Op::Action) => Response::ok().with_line(MANUFACTURER),
            ("+CGMM", Op::Action) => Response::ok().with_line(MODEL),
            ("+CGMR", Op::Action) => Response::ok().with_line(modem),
            ("+CGMI" | "+CGMM" | "+CGMR" | "#XSLMVER" | "#XRESET", Op::Test) => Response::ok(),
            ("#XSLMVER", Op::Action) => {
                let app = ctx.engine.app_version().map_or_else(|| "unknown".to_string(), |v| v.to_string());
                Response::ok().with_line(format!("#XSLMVER: {},{}", quote(&app), quote(&modem)))
            }
            ("#XRESET", Op::Action) => {
                ctx.system.reset = true;
                Response::ok()
            }
            ("#XFOTA", Op::Set(args)) => self.xfota(args, ctx),
            ("%CMNG", Op::Set(args)) => super::cmng::execute(args, self.modem.mode().is_online(), ctx.engine),
            ("+CFUN" | "+CGSN", _) => self.modem_command(cmd, ctx),
            ("#XFOTA", Op::Test) => Response::ok().with_line(XFOTA_TEST),
            _ => Response::error(),
        }
    }

    /// URC lines for an engine event.
    pub fn urcs(&mut self, event: &Event) -> Vec<String> {
        let line = match event {
            Event::DownloadStarted { .. } | Event::TransferComplete => return Vec::new(),
            Event::Progress(p) => format!("#XFOTA: 1,0,{p}"),
            Event::Downloaded => "#XFOTA: 4,0".to_string(),
            Event::DownloadFailed(f) => format!("#XFOTA: 1,1,{}", code(f)),
            Event::Cancelled => "#XFOTA: 1,2,0".to_string(),
            Event::Result(UpgradeResult::Complete) => "#XFOTA: 5,0".to_string(),
            Event::Result(UpgradeResult::Reverted) => "#XFOTA: 5,3".to_string(),
            Event::Result(UpgradeResult::Failed(f)) => format!("#XFOTA: 5,1,{}", code(f)),
        };
        vec![line]
    }

    fn xfota<F: NorFlash>(&mut self, args: &atfota_at::Args, ctx: &mut Ctx<'_, F>) -> Response {
        let bad = || Response::cme(CmeError::INCORRECT_PARAMETERS);
        let Ok(Some(op)) = args.int(0) else { return bad() };
        let result = match op {
            0 | 8 if args.len() > 1 => return bad(),
            0 => ctx.engine.cancel(),
            8 => ctx.engine.erase_secondary(),
            1 => match self.app_request(args) {
                Ok(_) if !self.modem.mode().is_online() => {
                    // As on the real modem: accepted, then the download fails for want of a network.
                    let why = "the modem is offline (AT+CFUN=1 connects it)";
                    ctx.engine.report_failure(Failure::new(FailKind::Network, why));
                    ctx.system.events_after_response = true;
                    return Response::ok();
                }
                Ok(req) => ctx.engine.start_download(req),
                Err(resp) => return resp,
            },
            // Modem delta updates arrive with their own issue.
            2 | 9 => return Response::cme(CmeError::OPERATION_NOT_SUPPORTED),
            _ => return bad(),
        };
        match result {
            Ok(()) => Response::ok(),
            Err(e) => {
                log::warn!("AT#XFOTA={op} refused: {e}");
                Response::cme(cme_for(&e))
            }
        }
    }

    /// `+CFUN` and `+CGSN`; going offline ends a running download (its bytes are kept).
    fn modem_command<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        let Some((response, change)) = self.modem.execute(cmd) else { return Response::error() };
        if change == ModeChange::WentOffline
            && ctx.engine.interrupt(Failure::new(FailKind::Network, "the modem went offline (AT+CFUN)"))
        {
            ctx.system.events_after_response = true;
        }
        response
    }

    /// Checks `1,<file_url>[,<sec_tag>[,<apn>]]` and builds the request.
    fn app_request(&self, args: &atfota_at::Args) -> Result<DownloadRequest, Response> {
        let bad = |why: &str| {
            log::warn!("AT#XFOTA=1 refused: {why}");
            Response::cme(CmeError::INCORRECT_PARAMETERS)
        };
        if args.len() > 4 {
            return Err(bad("too many parameters"));
        }
        let url = match args.string(1) {
            Ok(Some(u)) if !u.is_empty() => u,
            Ok(_) => return Err(bad("<file_url> is missing")),
            Err(e) => return Err(bad(&e.to_string())),
        };
        if url.len() > MAX_URL_LEN {
            log::warn!("AT#XFOTA=1 refused: <file_url> is {} bytes, at most {MAX_URL_LEN}", url.len());
            return Err(Response::cme(CmeError::TEXT_STRING_TOO_LONG));
        }
        let sec_tag = args.int(2).map_err(|e| bad(&e.to_string()))?;
        if sec_tag.is_some_and(|t| !(0..=2_147_483_647).contains(&t)) {
            return Err(bad("<sec_tag> out of range 0..2147483647"));
        }
        let apn = args.string(3).map_err(|e| bad(&e.to_string()))?;
        if apn.is_some_and(|a| a.len() > 63) {
            return Err(bad("<apn> longer than 63 bytes"));
        }
        let parsed = atfota_net::parse_http_url(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() == "https" {
            if sec_tag.is_none() {
                return Err(bad("https needs a <sec_tag>"));
            }
            // The credential store arrives with the HTTPS issue.
            log::warn!("AT#XFOTA=1 refused: HTTPS downloads are not supported yet");
            return Err(Response::cme(CmeError::OPERATION_NOT_SUPPORTED));
        }
        Ok(DownloadRequest {
            kind: ImageKind::McubootApp,
            identity: format!("app {parsed}"),
            source: Source::Http(HttpSource { url: parsed, ca_certs: Vec::new() }),
        })
    }
}

/// Nordic's `<fota_info>` error code for a failure: 1 download failed,
/// 2 image rejected, 3 image mismatch.
fn code(f: &Failure) -> u32 {
    match f.kind {
        FailKind::Invalid | FailKind::Untrusted | FailKind::Install => 2,
        FailKind::Mismatch => 3,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urcs_follow_the_nordic_table() {
        let mut p = Slm::new(&Conditions::default());
        let fail = |kind| Failure::new(kind, "x");
        let cases = [
            (Event::Progress(42), vec!["#XFOTA: 1,0,42"]),
            (Event::Downloaded, vec!["#XFOTA: 4,0"]),
            (Event::DownloadFailed(fail(FailKind::Network)), vec!["#XFOTA: 1,1,1"]),
            (Event::DownloadFailed(fail(FailKind::NotFound)), vec!["#XFOTA: 1,1,1"]),
            (Event::DownloadFailed(fail(FailKind::Invalid)), vec!["#XFOTA: 1,1,2"]),
            (Event::DownloadFailed(fail(FailKind::Untrusted)), vec!["#XFOTA: 1,1,2"]),
            (Event::DownloadFailed(fail(FailKind::Mismatch)), vec!["#XFOTA: 1,1,3"]),
            (Event::Cancelled, vec!["#XFOTA: 1,2,0"]),
            (Event::Result(UpgradeResult::Complete), vec!["#XFOTA: 5,0"]),
            (Event::Result(UpgradeResult::Reverted), vec!["#XFOTA: 5,3"]),
            (Event::Result(UpgradeResult::Failed(fail(FailKind::Install))), vec!["#XFOTA: 5,1,2"]),
            (Event::DownloadStarted { offset: 0, total: 1 }, vec![]),
        ];
        for (ev, want) in cases {
            assert_eq!(p.urcs(&ev), want, "{ev:?}");
        }
    }
}
