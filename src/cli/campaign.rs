//! `atfota campaign`: `atfota update` against many modems at once, with
//! [`atfota_host::Campaign`].
//!
//! A thin shell: it reads the port list, shows the running devices (bars on a terminal, one
//! line per finished device otherwise), prints the summary table and, with `--json`, the
//! report, and exits with the campaign's code. It never prints or logs the FTP password.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atfota_host::campaign::{self, DeviceReport, Progress};
use atfota_host::{Campaign, Connector, Event, PortConnector, PortSpec, Report, Updater};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::request_args::{RequestArgs, install_interrupt};

/// Options of `atfota campaign` (a stable contract: only ever extended).
#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// The modems: tcp:HOST:BASE+N (N modems on ports BASE to BASE+N-1), or a FILE with one
    /// port per line as `atfota update --port` takes it (blank lines and # comments skipped).
    #[arg(long, value_name = "tcp:HOST:BASE+N|FILE")]
    ports: String,
    /// What to update and how patiently (the options of `atfota update`).
    #[command(flatten)]
    request: RequestArgs,
    /// Devices updated at once. Each running update holds one connection and two threads.
    #[arg(long, value_name = "K", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=MAX_CONCURRENCY))]
    concurrency: u16,
    /// Print the report as one JSON object on stdout (the summary table goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Highest --concurrency: 2,048 threads and 1,024 connections is already far more than one
/// host needs to keep a download server busy.
const MAX_CONCURRENCY: i64 = 1024;
/// Device bars drawn at once on a terminal; the overall bar counts the rest.
const MAX_BARS: usize = 12;
/// Failed devices named under the summary table (all of them are in the JSON report).
const MAX_LISTED: usize = 20;

const AFTER_HELP: &str = "\
Exit codes: 0 every device updated (or downloaded with --no-activate); 2 usage (bad options,
an unreadable or empty port list, a request the profile cannot carry out); 11 at least one
device did not update (the table and the report say which and why); 130 interrupted (Ctrl-C:
running updates are cancelled where the profile can, devices not started are not touched).

The summary table counts updated, reverted, timed out, and the other failures by kind
(port-error, refused, download-failed, rejected, mismatch, activation-failed, interrupted).
With --json, stdout is one object: {\"devices\":[{\"port\",\"outcome\",\"reason\",\"exit_code\",
\"version\",\"seconds\"}...],\"summary\":{...},\"exit_code\":N,\"seconds\":S}; a device's
exit_code is the one `atfota update` would have given. See docs/HOST.md.

Example against 100 emulated modems on ports 5000 to 5099:
  atfota campaign --ports tcp:127.0.0.1:5000+100 --profile nrf9160-slm \\
      --url http://127.0.0.1:8080/app.bin --concurrency 32";

/// Runs the campaign; returns the process exit code.
pub fn run(a: Args) -> u8 {
    let ports = match ports(&a.ports) {
        Ok(p) => p,
        Err(why) => return usage(&why),
    };
    let request = match a.request.request() {
        Ok(r) => r,
        Err(why) => return usage(&format!("invalid request: {why}")),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    if let Err(e) = install_interrupt(&interrupt) {
        log::warn!("Ctrl-C will not cancel cleanly: {e}");
    }
    let updater = Updater::new().timeouts(a.request.timeouts());
    let concurrency = usize::from(a.concurrency);
    let campaign = Campaign::new(updater, concurrency).interrupt_on(interrupt);
    let view = View::new(&ports);
    let connect = |p: &PortSpec| Box::new(PortConnector::new(p.clone())) as Box<dyn Connector>;
    let report = campaign.run(&ports, &request, connect, |p| view.show(p));
    view.finish();
    let table = table(&report, concurrency);
    if a.json {
        eprint!("{table}");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", json(&report));
        let _ = stdout.flush();
    } else {
        print!("{table}");
    }
    report.exit_code()
}

fn usage(why: &str) -> u8 {
    eprintln!("atfota campaign: {why}");
    2
}

/// The port list of `--ports`: a range, or the lines of a file.
fn ports(spec: &str) -> Result<Vec<PortSpec>, String> {
    if spec.starts_with("tcp:") {
        return campaign::port_range(spec).map_err(|e| format!("--ports {e}"));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| format!("--ports {spec}: {e}"))?;
    campaign::port_list(&text).map_err(|e| format!("--ports {spec}: {e}"))
}

/// The summary table: counts by ending, then the failed devices (at most [`MAX_LISTED`]).
fn table(report: &Report, concurrency: usize) -> String {
    let t = report.tally();
    let secs = report.duration.as_secs_f64();
    let mut s = format!("campaign: {} devices in {secs:.1} s, at most {concurrency} at once\n", t.total);
    let mut row = |what: &str, n: usize| s.push_str(&format!("  {what:<28} {n:>6}\n"));
    row("updated", t.updated);
    row("reverted", t.reverted);
    row("timed out", t.timed_out);
    for (kind, n) in &t.failed {
        row(&format!("failed: {kind}"), *n);
    }
    row("total", t.total);
    let failed: Vec<&DeviceReport> = report.devices.iter().filter(|d| !d.outcome.is_success()).collect();
    if !failed.is_empty() {
        s.push_str("not updated:\n");
        for d in failed.iter().take(MAX_LISTED) {
            s.push_str(&format!("  {}: {}\n", d.port, d.outcome));
        }
        if failed.len() > MAX_LISTED {
            s.push_str(&format!(
                "  ... and {} more (--json lists every device)\n",
                failed.len() - MAX_LISTED
            ));
        }
    }
    s
}

/// The JSON report: every device, the tally, the exit code, the wall time.
fn json(report: &Report) -> serde_json::Value {
    let secs = |d: Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
    let devices: Vec<serde_json::Value> = report
        .devices
        .iter()
        .map(|d| {
            serde_json::json!({
                "port": d.port.to_string(),
                "outcome": d.outcome.kind(),
                "reason": d.outcome.to_string(),
                "exit_code": d.outcome.exit_code(),
                "version": d.outcome.version(),
                "seconds": secs(d.duration),
            })
        })
        .collect();
    let t = report.tally();
    serde_json::json!({
        "devices": devices,
        "summary": {
            "total": t.total,
            "updated": t.updated,
            "reverted": t.reverted,
            "timed_out": t.timed_out,
            "failed": t.failed,
        },
        "exit_code": report.exit_code(),
        "seconds": secs(report.duration),
    })
}

/// What the user sees while the campaign runs: on a terminal an overall bar and one bar per
/// running device (at most [`MAX_BARS`]); otherwise one line per finished device on stderr.
/// Called from the campaign's worker threads.
struct View<'a> {
    ports: &'a [PortSpec],
    t0: Instant,
    done: AtomicUsize,
    failed: AtomicUsize,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    devices: Mutex<HashMap<usize, ProgressBar>>,
    style: ProgressStyle,
}

impl<'a> View<'a> {
    fn new(ports: &'a [PortSpec]) -> Self {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall_style =
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} done  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            let overall = multi.add(ProgressBar::new(ports.len() as u64).with_style(overall_style));
            overall.enable_steady_tick(Duration::from_millis(200));
            let style = ProgressStyle::with_template("  {prefix:24} {msg:12} [{bar:30}] {pos:>3}%")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            Bars { multi, overall, devices: Mutex::new(HashMap::new()), style }
        });
        Self { ports, t0: Instant::now(), done: AtomicUsize::new(0), failed: AtomicUsize::new(0), bars }
    }

    fn show(&self, p: Progress<'_>) {
        match p {
            Progress::Started { index } => self.started(index),
            Progress::Event { index, event } => self.event(index, event),
            Progress::Finished { device } => self.finished(device),
            _ => {}
        }
    }

    fn started(&self, index: usize) {
        let Some(b) = &self.bars else { return };
        let mut devices = b.devices.lock().unwrap_or_else(|p| p.into_inner());
        if devices.len() < MAX_BARS {
            let bar = b.multi.add(ProgressBar::new(100).with_style(b.style.clone()));
            bar.set_prefix(self.ports[index].to_string());
            bar.set_message("connecting");
            devices.insert(index, bar);
        }
    }

    fn event(&self, index: usize, e: &Event) {
        let Some(b) = &self.bars else { return };
        let devices = b.devices.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bar) = devices.get(&index) else { return };
        match e {
            Event::DownloadStarted => bar.set_message("downloading"),
            Event::Erasing => bar.set_message("erasing"),
            Event::Progress { percent } => bar.set_position(u64::from(*percent)),
            Event::Retrying { .. } => bar.set_message("resuming"),
            Event::Downloaded => bar.set_message("verified"),
            Event::Rebooting => bar.set_message("rebooting"),
            Event::Booted => bar.set_message("booted"),
            _ => {}
        }
    }

    fn finished(&self, d: &DeviceReport) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let failed = if d.outcome.is_success() {
            self.failed.load(Ordering::Relaxed)
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed) + 1
        };
        let line = format!("{}: {} ({:.1} s)", d.port, d.outcome, d.duration.as_secs_f64());
        let Some(b) = &self.bars else {
            let total = self.ports.len();
            let t = self.t0.elapsed().as_secs_f64();
            eprintln!("[{done}/{total} {t:.1} s] {line}");
            return;
        };
        if let Some(bar) = b.devices.lock().unwrap_or_else(|p| p.into_inner()).remove(&d.index) {
            bar.finish_and_clear();
            b.multi.remove(&bar);
        }
        if !d.outcome.is_success() {
            let _ = b.multi.println(line);
        }
        b.overall.inc(1);
        b.overall.set_message(format!("{} updated, {failed} not", done - failed));
    }

    fn finish(&self) {
        if let Some(b) = &self.bars {
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
    }
}
