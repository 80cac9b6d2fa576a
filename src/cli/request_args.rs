//! The options that say what an update asks of a modem and how long the host waits, shared by
//! `atfota update` (one modem) and `atfota campaign` (many): one definition, so both commands
//! take the same words with the same meaning.
//!
//! Owns turning those options into a [`Request`] and [`Timeouts`], and reading the FTP password
//! file. It never prints or logs the password.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use atfota_host::{Profile, Request, Target, Timeouts};

/// What to update and how patiently (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    /// The modem's command set: nrf9160-slm (AT#XFOTA) or nl668 (AT+GTOTA).
    #[arg(long, value_name = "PROFILE")]
    profile: Profile,
    /// The image: http:// or https:// URL; for an nl668 FTP update, ftp://HOST[:PORT].
    #[arg(long, value_name = "URL")]
    url: String,
    /// nrf9160-slm: the credential set (sec_tag) for HTTPS.
    #[arg(long, value_name = "N")]
    sec_tag: Option<u32>,
    /// nrf9160-slm: the access point name to download over.
    #[arg(long, value_name = "APN")]
    apn: Option<String>,
    /// nl668 FTP: the package's path on the server.
    #[arg(long, value_name = "PATH")]
    ftp_file: Option<String>,
    /// nl668 FTP: the login name.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// nl668 FTP: a file holding the password (one trailing newline ignored). The password is
    /// never taken from the command line, printed or logged.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// What the image replaces: app (AT#XFOTA=1) or modem (a delta, AT#XFOTA=2; nrf9160-slm).
    #[arg(long, value_name = "TARGET", default_value = "app")]
    target: Target,
    /// Download failures retried by starting the same URL again (which resumes).
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Seconds without a progress report before the download counts as stalled (cancelled
    /// where the profile can, and counted as a failure).
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = super::parse_seconds)]
    stall_timeout: f64,
    /// Seconds allowed for the modem to answer AT at the start, and to come back (port
    /// reopened, banner, result) after the reboot.
    #[arg(long, value_name = "SECS", default_value_t = 120.0, value_parser = super::parse_seconds)]
    reboot_timeout: f64,
    /// nrf9160-slm: stop once the image is downloaded and verified (no AT#XRESET).
    #[arg(long)]
    no_activate: bool,
}

impl RequestArgs {
    /// The update these options ask for, checked against the profile.
    pub fn request(&self) -> Result<Request, String> {
        let ftp = [self.ftp_file.is_some(), self.user.is_some(), self.password_file.is_some()];
        let mut req = if let Some(server) = self.url.strip_prefix("ftp://") {
            let (Some(file), Some(user), Some(pw)) = (&self.ftp_file, &self.user, &self.password_file) else {
                return Err("an ftp:// URL needs --ftp-file, --user and --password-file".into());
            };
            if self.profile != Profile::Nl668 {
                return Err("FTP updates are an nl668 feature (AT+GTOTA=1)".into());
            }
            let server = server.trim_end_matches('/');
            if server.is_empty() || server.contains('/') {
                return Err(format!("{}: an FTP URL names only the server: ftp://HOST[:PORT]", self.url));
            }
            Request::ftp(server, file, user, &password(pw)?)
        } else {
            if ftp.iter().any(|&given| given) {
                return Err("--ftp-file, --user and --password-file go with an ftp:// URL".into());
            }
            if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                return Err(format!("{}: expected an http://, https:// or ftp:// URL", self.url));
            }
            Request::http(self.profile, self.url.clone())
        };
        req.target = self.target;
        req.sec_tag = self.sec_tag;
        req.apn = self.apn.clone();
        req.retries = self.retries;
        req.activate = !self.no_activate;
        req.validate()?;
        Ok(req)
    }

    /// The host's timeouts, the defaults with these options applied.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            stall: Duration::from_secs_f64(self.stall_timeout),
            reboot: Duration::from_secs_f64(self.reboot_timeout),
            ..Timeouts::default()
        }
    }
}

/// A first Ctrl-C (or SIGTERM) sets the flag (updates cancel and clean up); a second one exits
/// at once with 130.
pub fn install_interrupt(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())?;
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(())
}

/// The password in `path`, without one trailing newline.
fn password(path: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--password-file {}: {e}", path.display()))?;
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if text.is_empty() {
        return Err(format!("--password-file {} is empty", path.display()));
    }
    Ok(text.to_string())
}
