//! `atfota update`: drive a modem through a whole FOTA with [`atfota_host::Updater`].
//!
//! A thin shell: it turns options into an [`atfota_host::Request`], shows events as a progress bar or JSON
//! lines, prints one summary line and exits with the outcome's code. It never prints or logs
//! the FTP password.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use atfota_host::{Event, Outcome, PortConnector, PortSpec, Updater};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::request_args::{RequestArgs, install_interrupt};

/// Options of `atfota update` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// The modem's port: a serial device or PTY path with an optional @BAUD (default 115200),
    /// or tcp:HOST:PORT.
    #[arg(long, value_name = "PORT")]
    port: PortSpec,
    /// What to update and how patiently (shared with `atfota campaign`).
    #[command(flatten)]
    request: RequestArgs,
    /// One JSON object per line on stdout instead of the progress bar and summary.
    #[arg(long)]
    json: bool,
}

const AFTER_HELP: &str = "\
Exit codes: 0 updated (or downloaded with --no-activate); 2 usage; 3 port or I/O error;
4 the modem refused a command (ERROR, +CME ERROR); 5 download failed after the retries;
6 image rejected; 7 image mismatch; 8 activation failed; 9 reverted (the new image did not
confirm itself); 10 timed out (stall or reboot); 130 interrupted (Ctrl-C: the download is
cancelled where the profile can, and the nl668 settings are restored).

With --json, every line on stdout is an object with \"event\" and \"t\" (seconds since start):
sent, urc, progress (\"percent\"), downloaded, rebooting, booted, result, and last
{\"event\":\"done\",\"exit_code\":N,\"result\":\"...\"}. See docs/HOST.md.

Example against the emulator:
  atfota modem --data /tmp/dev --listen pty:/tmp/modem &
  atfota update --port /tmp/modem --profile nrf9160-slm --url http://127.0.0.1:8080/app.bin";

/// Runs the update; returns the process exit code.
pub fn run(a: Args) -> u8 {
    let t0 = Instant::now();
    let mut out = Output::new(a.json, t0);
    let request = match a.request.request() {
        Ok(r) => r,
        Err(why) => return out.done(&Outcome::Invalid(why)),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    if let Err(e) = install_interrupt(&interrupt) {
        log::warn!("Ctrl-C will not cancel cleanly: {e}");
    }
    let updater = Updater::new().timeouts(a.request.timeouts()).interrupt_on(interrupt);
    let outcome = updater.run(&mut PortConnector::new(a.port.clone()), &request, |e| out.event(e));
    out.done(&outcome)
}

/// Where events go: a progress bar and a summary on a terminal, or JSON lines.
struct Output {
    json: bool,
    t0: Instant,
    bar: Option<ProgressBar>,
}

impl Output {
    fn new(json: bool, t0: Instant) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template(
                "{spinner} {prefix:12} [{bar:30}] {pos:>3}%  {rate:>8}  {elapsed_precise}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} %/s", s.per_sec());
            })
            .progress_chars("=> ");
            let bar =
                ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr()).with_style(style);
            bar.set_prefix("connecting");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { json, t0, bar }
    }

    fn event(&mut self, e: &Event) {
        if self.json {
            let mut obj = match e {
                Event::Sent { line } => serde_json::json!({"event": "sent", "line": line}),
                Event::Urc { line } => serde_json::json!({"event": "urc", "line": line}),
                Event::Progress { percent } => serde_json::json!({"event": "progress", "percent": percent}),
                Event::Downloaded => serde_json::json!({"event": "downloaded"}),
                Event::Rebooting => serde_json::json!({"event": "rebooting"}),
                Event::Booted => serde_json::json!({"event": "booted"}),
                Event::Result { line, summary } => {
                    serde_json::json!({"event": "result", "line": line, "result": summary})
                }
                _ => return,
            };
            self.emit(&mut obj);
            return;
        }
        let Some(bar) = &self.bar else { return };
        match e {
            Event::DownloadStarted => bar.set_prefix("downloading"),
            Event::Erasing => bar.set_prefix("erasing"),
            Event::Progress { percent } => bar.set_position(u64::from(*percent)),
            Event::Retrying { attempt, reason } => {
                bar.println(format!("retry {attempt}: {reason}"));
                bar.set_prefix("resuming");
            }
            Event::Downloaded => bar.set_prefix("verified"),
            Event::Rebooting => bar.set_prefix("rebooting"),
            Event::Booted => bar.set_prefix("booted"),
            _ => {}
        }
    }

    fn done(&mut self, outcome: &Outcome) -> u8 {
        let code = outcome.exit_code();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.json {
            let mut obj =
                serde_json::json!({"event": "done", "exit_code": code, "result": outcome.to_string()});
            self.emit(&mut obj);
        } else {
            println!("{outcome}");
        }
        code
    }

    fn emit(&self, obj: &mut serde_json::Value) {
        let t = (self.t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        if let Some(map) = obj.as_object_mut() {
            map.insert("t".into(), serde_json::json!(t));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{obj}");
        let _ = stdout.flush();
    }
}
