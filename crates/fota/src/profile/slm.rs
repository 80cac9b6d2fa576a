//! The Nordic Serial LTE Modem profile (`nrf9160-slm`): `AT#XFOTA`,
//! `AT#XRESET`, `AT#XSLMVER` and the identification commands, plus the modem
//! commands it passes through (`+CFUN`, `+CGSN` in [`super::nrf91`], `%CMNG`
//! in [`super::cmng`]).
//!
//! Owns what the commands of spec/nordic-xfota.md do and which event gives which URC; their
//! wording and syntax are [`atfota_vocab::slm`]'s, the work is the engine's. Never reports a
//! password or a URL's credentials.

use atfota_at::{CmeError, Command, Op, Response};
use atfota_download::{HttpSource, Source};
use atfota_image::ImageKind;
use atfota_storage::NorFlash;
use atfota_vocab::Error as VocabError;
use atfota_vocab::slm::{Download, FotaError, SlmVersion, XFOTA_TEST, Xfota, XfotaCommand};

use super::bench::{CellularStatus, Link, Stimulus};
use super::cellular::{Cellular, Flavour};
use super::nrf91::{ModeChange, Radio};
use super::{Conditions, Ctx, KEY_MODEM_VERSION, cme_for};
use crate::engine::DownloadRequest;
use crate::event::{Event, FailKind, Failure, UpgradeResult};

const MANUFACTURER: &str = "Nordic Semiconductor ASA";
const MODEL: &str = "nRF9160-SICA";
/// `AT#XFOTA=9` gives up (`ERROR`) on an erase longer than this, as Nordic's host tools do.
pub const ERASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The Nordic SLM profile: the modem's functional mode and identity; the rest lives in the engine.
#[derive(Debug)]
pub struct Slm {
    radio: Radio,
    cell: Cellular,
}

impl Slm {
    /// The profile of a device started under `conditions` (IMEI, boot mode, SIM, network).
    pub fn new(conditions: &Conditions) -> Self {
        Self { radio: Radio::new(conditions), cell: Cellular::new(Flavour::Nrf91, conditions) }
    }

    /// A boot: the functional mode goes back to the boot default.
    pub fn on_boot(&mut self) {
        self.radio.boot();
        self.cell.boot();
    }

    /// The link a download sees.
    pub fn link(&self) -> Link {
        self.cell.link(self.radio.mode().is_online())
    }

    /// The cellular state, for a status report.
    pub fn cellular_status(&self) -> CellularStatus {
        self.cell.status(self.radio.mode().code())
    }

    /// Applies a network stimulus; the nRF9160 has no voice calls.
    pub fn apply_stimulus<F: NorFlash>(&mut self, ctx: &mut Ctx<'_, F>, s: Stimulus) -> Result<(), String> {
        if s == Stimulus::IncomingCall {
            return Err("the nRF9160 has no voice calls (an incoming call is an nl668 stimulus)".into());
        }
        let urcs = self.cell.apply(s, self.radio.mode().is_online())?;
        ctx.system.urcs.extend(urcs);
        Ok(())
    }

    /// Executes one command.
    pub fn execute<F: NorFlash>(&mut self, cmd: &Command, ctx: &mut Ctx<'_, F>) -> Response {
        match (cmd.name.as_str(), &cmd.op) {
            ("I", Op::Action) => {
                Response::ok().with_line(MANUFACTURER).with_line(MODEL).with_line(modem_version(ctx))
            }
            ("+CGMI", Op::Action) => Response::ok().with_line(MANUFACTURER),
            ("+CGMM", Op::Action) => Response::ok().with_line(MODEL),
            ("+CGMR", Op::Action) => Response::ok().with_line(modem_version(ctx)),
            ("%XMODEMUUID", Op::Action) => match ctx.engine.modem_uuid() {
                Some(uuid) => Response::ok().with_line(format!("%XMODEMUUID: {uuid}")),
                None => Response::error(),
            },
            ("+CGMI" | "+CGMM" | "+CGMR" | "#XSLMVER" | "#XRESET" | "%XMODEMUUID", Op::Test) => {
                Response::ok()
            }
            ("#XSLMVER", Op::Action) => {
                let app = ctx.engine.app_version().map_or_else(|| "unknown".to_string(), |v| v.to_string());
                let modem = modem_version(ctx);
                Response::ok().with_line(SlmVersion { app, modem }.to_string())
            }
            ("#XRESET", Op::Action) => {
                ctx.system.reset = true;
                Response::ok()
            }
            ("#XFOTA", Op::Set(args)) => self.xfota(args, ctx),
            ("%CMNG", Op::Set(args)) => super::cmng::execute(args, self.radio.mode().is_online(), ctx.engine),
            ("+CFUN" | "+CGSN", _) => self.modem_command(cmd, ctx),
            ("#XFOTA", Op::Test) => Response::ok().with_line(XFOTA_TEST),
            _ => {
                let online = self.radio.mode().is_online();
                self.cell.execute(cmd, online, &mut ctx.system.urcs).unwrap_or_else(Response::error)
            }
        }
    }

    /// URC lines for an engine event.
    pub fn urcs(&mut self, event: &Event) -> Vec<String> {
        let urc = match event {
            Event::DownloadStarted { .. } | Event::TransferComplete => return Vec::new(),
            Event::Progress(p) => Xfota::Progress(*p),
            Event::ErasePending => Xfota::ErasePending,
            Event::Erased => Xfota::Erased,
            Event::Downloaded => Xfota::Downloaded,
            Event::DownloadFailed(f) => Xfota::DownloadFailed(code(f)),
            Event::Cancelled => Xfota::Cancelled,
            Event::Result(UpgradeResult::Complete) => Xfota::Complete,
            Event::Result(UpgradeResult::Reverted) => Xfota::Reverted,
            Event::Result(UpgradeResult::Failed(f)) => Xfota::ActivationFailed(code(f)),
        };
        vec![urc.to_string()]
    }

    fn xfota<F: NorFlash>(&mut self, args: &atfota_at::Args, ctx: &mut Ctx<'_, F>) -> Response {
        let command = match XfotaCommand::from_args(args) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("AT#XFOTA refused: {e}");
                return Response::cme(match e {
                    VocabError::TooLong { .. } => CmeError::TEXT_STRING_TOO_LONG,
                    _ => CmeError::INCORRECT_PARAMETERS,
                });
            }
        };
        let op = command.op();
        let result = match command {
            XfotaCommand::Cancel => ctx.engine.cancel(),
            XfotaCommand::EraseAppSlot => ctx.engine.erase_secondary(),
            XfotaCommand::EraseModemScratch => return erase_scratch(ctx),
            XfotaCommand::StartApp(d) | XfotaCommand::StartModem(d) => {
                let kind = if op == 1 { ImageKind::McubootApp } else { ImageKind::ModemDelta };
                let apn = d.apn.clone().unwrap_or_default();
                let req = match request(op, kind, d) {
                    Ok(req) => req,
                    Err(resp) => return resp,
                };
                // As on the real modem: accepted, then the download fails for want of a network
                // or of a PDN for its APN.
                let why = if self.radio.mode().is_online() {
                    self.cell.pdn.open(&apn).err()
                } else {
                    Some("the modem is offline (AT+CFUN=1 connects it)".to_string())
                };
                if let Some(why) = why {
                    ctx.engine.report_failure(Failure::new(FailKind::Network, why));
                    ctx.system.events_after_response = true;
                    return Response::ok();
                }
                ctx.engine.start_download(req)
            }
            _ => return Response::cme(CmeError::INCORRECT_PARAMETERS),
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
        let before = self.cell.view(self.radio.mode().is_online());
        let Some((response, change)) = self.radio.execute(cmd) else { return Response::error() };
        let after = self.cell.view(self.radio.mode().is_online());
        ctx.system.urcs.extend(self.cell.registration_urcs(before, after));
        if change == ModeChange::WentOffline
            && ctx.engine.interrupt(Failure::new(FailKind::Network, "the modem went offline (AT+CFUN)"))
        {
            ctx.system.events_after_response = true;
        }
        response
    }
}

/// Checks what the vocabulary leaves to the profile (the URL itself, HTTPS needing a
/// `<sec_tag>`) and builds the request.
fn request(op: u8, kind: ImageKind, d: Download) -> Result<DownloadRequest, Response> {
    let bad = |why: &str| {
        log::warn!("AT#XFOTA={op} refused: {why}");
        Response::cme(CmeError::INCORRECT_PARAMETERS)
    };
    let parsed = atfota_download::parse_http_url(&d.url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() == "https" && d.sec_tag.is_none() {
        return Err(bad("https needs a <sec_tag>"));
    }
    let target = if kind == ImageKind::ModemDelta { "modem" } else { "app" };
    Ok(DownloadRequest {
        kind,
        identity: format!("{target} {parsed}"),
        sec_tag: d.sec_tag,
        source: Source::Http(HttpSource::new(parsed)),
    })
}

/// `AT#XFOTA=9`: erases the scratch area; the `OK` comes once the (emulated)
/// erase is done, and `ERROR` when it cannot finish within [`ERASE_TIMEOUT`].
fn erase_scratch<F: NorFlash>(ctx: &mut Ctx<'_, F>) -> Response {
    let time = ctx.engine.config().modem_erase_time;
    if time > ERASE_TIMEOUT {
        log::warn!("AT#XFOTA=9: the erase takes {time:?}, longer than the {ERASE_TIMEOUT:?} allowed");
        ctx.system.defer = Some(ERASE_TIMEOUT);
        return Response::error();
    }
    match ctx.engine.erase_modem_scratch() {
        Ok(()) => {
            ctx.system.defer = Some(time);
            Response::ok()
        }
        Err(e) => {
            log::warn!("AT#XFOTA=9 refused: {e}");
            Response::cme(cme_for(&e))
        }
    }
}

/// The modem firmware version: the running bank's, or (on devices made
/// before modem partitions) the settings' or the factory's.
fn modem_version<F: NorFlash>(ctx: &mut Ctx<'_, F>) -> String {
    if let Some(v) = ctx.engine.modem_version() {
        return v;
    }
    ctx.engine
        .settings()
        .get_str(KEY_MODEM_VERSION)
        .unwrap_or(super::ProfileKind::Nrf9160Slm.factory_modem_version())
        .to_string()
}

/// Nordic's `<fota_info>` error code for a failure: 1 download failed,
/// 2 image rejected, 3 image mismatch; a modem update's own code.
fn code(f: &Failure) -> FotaError {
    match f.kind {
        FailKind::ModemUpdate(c) => FotaError(c),
        FailKind::Invalid | FailKind::Untrusted | FailKind::Install => FotaError::IMAGE_REJECTED,
        FailKind::Mismatch => FotaError::IMAGE_MISMATCH,
        _ => FotaError::DOWNLOAD_FAILED,
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
