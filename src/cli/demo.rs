//! `atfota demo`: a whole application FOTA on a fresh emulated modem, end to end, driven by
//! the same [`atfota_host::Updater`] as `atfota update`.
//!
//! Everything is real: the modem is this binary started as `atfota modem
//! --listen stdio` on a temporary data directory, the image is signed here,
//! the server is an in-process HTTP server, and every claim printed at the
//! end was checked on the wire. Exits non-zero if any step did not happen.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use atfota_host::{Event, Link, Outcome, Profile, Request, Updater};
use atfota_image::ImageVersion;
use atfota_peers::HttpPeer;
use atfota_vocab::slm::Xfota;
use indicatif::{ProgressBar, ProgressStyle};

/// Size of the demo application's body.
const BODY_LEN: usize = 384 * 1024;

/// Options of `atfota demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep the temporary directory (device, image, modem log) and print its path.
    #[arg(long)]
    keep: bool,
}

/// Runs the demo.
pub fn run(a: Args) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("atfota-demo-").tempdir()?;
    let device = tmp.path().join("device");
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www)?;
    let new_version = ImageVersion { major: 2, minor: 0, revision: 0, build: 0 };

    println!(
        "atfota demo: an emulated Nordic nRF9160 (Serial LTE Modem) updates its application over HTTP\n"
    );
    let image = atfota_device::application_image("atfota demo application 2.0.0", new_version, BODY_LEN)?;
    std::fs::write(www.join("app.bin"), &image)?;
    let server = HttpPeer::serve_dir(&www)?;
    let url = server.url("app.bin");
    println!(
        "  image   application {new_version}, {} bytes, MCUboot format, Ed25519 (development key)",
        image.len()
    );
    println!("  server  {url}");
    println!("  device  {} (factory-fresh, application 1.0.0)\n", device.display());

    let log_path = tmp.path().join("modem.log");
    let mut child = spawn_modem(&device, &log_path)?;
    let outcome = converse(&mut child, &url, new_version);
    // Dropping the pipes (with the updater) closes the modem's stdin: it stops.
    let _ = child.wait_timeout(Duration::from_secs(5));
    if a.keep {
        let kept = tmp.keep();
        println!("\nkept {}", kept.display());
    }
    match outcome {
        Ok(summary) => {
            println!("\ndemo passed: {summary}");
            Ok(())
        }
        Err(e) => {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            eprintln!("\n--- modem log ---\n{log}");
            Err(e.context("demo failed"))
        }
    }
}

fn spawn_modem(device: &std::path::Path, log_path: &std::path::Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating the atfota binary")?;
    Command::new(exe)
        .arg("modem")
        .arg("--data")
        .arg(device)
        .args(["--listen", "stdio"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(File::create(log_path)?)
        .spawn()
        .context("starting atfota modem")
}

fn converse(child: &mut Child, url: &str, want: ImageVersion) -> anyhow::Result<String> {
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        bail!("modem has no stdio");
    };
    // The modem runs on this process's pipes: they open once and cannot be reopened.
    let mut link = Some(Link { reader: Box::new(stdout), writer: Box::new(stdin) });
    let mut connector =
        move || link.take().ok_or_else(|| std::io::Error::other("the modem's stdio cannot be reopened"));
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("  download [{bar:40}] {pos:>3}%")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let t0 = Instant::now();
    let mut t_downloaded = None;
    let request = Request::http(Profile::Nrf9160Slm, url);
    let outcome = Updater::new().run(&mut connector, &request, |e| {
        let say = |text: String| bar.suspend(|| println!("  {text}"));
        match e {
            Event::Sent { line } => say(format!("-> {line}")),
            Event::Response { line } => say(format!("<- {line}")),
            // Progress shows on the bar; the transcript keeps the last one.
            Event::Urc { line }
                if Xfota::parse(line).ok().and_then(|x| x.percent()).is_none_or(|p| p == 100) =>
            {
                say(format!("<~ {line}"))
            }
            Event::Progress { percent } => bar.set_position(u64::from(*percent)),
            Event::Downloaded => t_downloaded = Some(t0.elapsed()),
            Event::Retrying { attempt, reason } => say(format!("retry {attempt}: {reason}")),
            _ => {}
        }
    });
    bar.finish_and_clear();
    let Outcome::Updated { version: Some(version) } = &outcome else {
        bail!("the update ended with: {outcome}");
    };
    ensure!(*version == want.to_string(), "after the update AT#XSLMVER says {version}, expected {want}");
    Ok(format!(
        "application 1.0.0 -> {version} (#XFOTA: 4,0 after download and signature check, #XFOTA: 5,0 after swap and reboot); \
         download {:.0} ms, whole update {:.0} ms",
        t_downloaded.unwrap_or_default().as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64() * 1e3
    ))
}

/// `Child::wait` with a bound, killing the child when it does not stop.
trait WaitTimeout {
    fn wait_timeout(&mut self, t: Duration) -> std::io::Result<()>;
}

impl WaitTimeout for Child {
    fn wait_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        let end = Instant::now() + t;
        while Instant::now() < end {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()?;
        self.wait().map(|_| ())
    }
}
