//! Campaigns: the same update run against many modems, at most K at once, with one outcome per
//! device and a tally of them.
//!
//! Owns the port list syntax (`tcp:HOST:BASE+N`, or one port per line), the tally and the
//! campaign's exit code. [`Campaign`] is the only part that starts threads: a fixed set of
//! workers, each running one [`Updater`] at a time; every decision about a single device stays
//! with the update machine. A campaign keeps no global state and never shows a password.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::driver::Updater;
use crate::outcome::{Event, Outcome};
use crate::port::{Connector, PortSpec};
use crate::request::Request;

/// The campaign's exit code when every device did what was asked.
pub const EXIT_ALL_UPDATED: u8 = 0;
/// The campaign's exit code when at least one device did not update (the report says which).
pub const EXIT_SOME_FAILED: u8 = 11;
/// The campaign's exit code when it was interrupted.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Parses the ports of a campaign given as a range, `tcp:HOST:BASE+N` (N modems on ports BASE
/// to BASE+N-1), or as a single `tcp:HOST:PORT`.
pub fn port_range(spec: &str) -> Result<Vec<PortSpec>, String> {
    let Some(addr) = spec.strip_prefix("tcp:") else {
        return Err(format!("{spec}: expected tcp:HOST:BASE+N"));
    };
    let bad = || format!("{spec}: expected tcp:HOST:BASE+N (N modems on ports BASE to BASE+N-1)");
    let (host, ports) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    let (base, count) = match ports.split_once('+') {
        Some((b, n)) => (b.parse::<u16>().map_err(|_| bad())?, n.parse::<u32>().map_err(|_| bad())?),
        None => (ports.parse::<u16>().map_err(|_| bad())?, 1),
    };
    if base == 0 || count == 0 {
        return Err(format!("{spec}: the base port and the count must be at least 1"));
    }
    let last = u32::from(base) + count - 1;
    if last > u32::from(u16::MAX) {
        return Err(format!("{spec}: the last port would be {last}, above 65535"));
    }
    Ok((u32::from(base)..=last).map(|p| PortSpec::Tcp(format!("{host}:{p}"))).collect())
}

/// Parses a port list: one port per line as `atfota update --port` takes it (`PATH[@BAUD]` or
/// `tcp:HOST:PORT`); blank lines and `#` comments are skipped. A port given twice is refused:
/// two updates on one modem at once would fail each other.
pub fn port_list(text: &str) -> Result<Vec<PortSpec>, String> {
    let mut ports = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let port: PortSpec = line.parse().map_err(|e| format!("line {}: {e}", n + 1))?;
        if !seen.insert(port.to_string()) {
            return Err(format!("line {}: {port} is listed twice", n + 1));
        }
        ports.push(port);
    }
    if ports.is_empty() {
        return Err("no port in the list (one PATH[@BAUD] or tcp:HOST:PORT per line)".into());
    }
    Ok(ports)
}

/// What happens during a campaign, reported as it happens (from the worker threads).
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// The update of device `index` starts.
    Started {
        /// Position of the device in the port list.
        index: usize,
    },
    /// Device `index`'s update reported an event.
    Event {
        /// Position of the device in the port list.
        index: usize,
        /// The event.
        event: &'a Event,
    },
    /// Device `index`'s update ended.
    Finished {
        /// The device's report.
        device: &'a DeviceReport,
    },
}

/// How the update of one device ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceReport {
    /// Position of the device in the port list.
    pub index: usize,
    /// The port it was reached through.
    pub port: PortSpec,
    /// How its update ended.
    pub outcome: Outcome,
    /// How long its update took (zero when it never started).
    pub duration: Duration,
}

/// Runs one update against many modems, at most `concurrency` at once.
#[derive(Clone, Debug)]
pub struct Campaign {
    updater: Updater,
    concurrency: usize,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Campaign {
    /// A campaign running `updater` on at most `concurrency` devices at once (at least 1).
    pub fn new(updater: Updater, concurrency: usize) -> Self {
        Self { updater, concurrency: concurrency.max(1), interrupt: None }
    }

    /// Once `flag` becomes true, running updates are interrupted (as `Updater::interrupt_on`
    /// does) and devices not started yet end as [`Outcome::Interrupted`] without being opened.
    pub fn interrupt_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.updater = self.updater.interrupt_on(flag.clone());
        self.interrupt = Some(flag);
        self
    }

    /// Updates every device in `ports` with `request`, opening each through the connector
    /// `connect` makes for it; `on_progress` is called from the worker threads. Returns one
    /// report per device, in the order of `ports`.
    pub fn run<'c, C, F>(&self, ports: &[PortSpec], request: &Request, connect: F, on_progress: C) -> Report
    where
        F: Fn(&PortSpec) -> Box<dyn Connector + 'c> + Sync,
        C: Fn(Progress<'_>) + Sync,
    {
        let started = Instant::now();
        let queue = Mutex::new(Queue::new(ports.len()));
        let workers = self.concurrency.min(ports.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        // A statement of its own: the guard must drop before the update runs.
                        let next = lock(&queue).next();
                        let Some(index) = next else { break };
                        let device = self.one(index, &ports[index], request, &connect, &on_progress);
                        on_progress(Progress::Finished { device: &device });
                        lock(&queue).finish(device);
                    }
                });
            }
        });
        let queue = queue.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        Report { devices: queue.into_reports(ports), duration: started.elapsed() }
    }

    fn one<'c, C, F>(
        &self,
        index: usize,
        port: &PortSpec,
        request: &Request,
        connect: &F,
        on: &C,
    ) -> DeviceReport
    where
        F: Fn(&PortSpec) -> Box<dyn Connector + 'c> + Sync,
        C: Fn(Progress<'_>) + Sync,
    {
        let report = |outcome, duration| DeviceReport { index, port: port.clone(), outcome, duration };
        if self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            return report(Outcome::Interrupted, Duration::ZERO);
        }
        on(Progress::Started { index });
        let t0 = Instant::now();
        let mut connector = connect(port);
        let outcome =
            self.updater.run(connector.as_mut(), request, |event| on(Progress::Event { index, event }));
        report(outcome, t0.elapsed())
    }
}

/// A worker that panicked leaves the queue consistent (it only holds the lock to take an index
/// or store a report), so a poisoned lock is still usable.
fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The devices not started yet and the reports of those done.
struct Queue {
    next: usize,
    len: usize,
    done: Vec<Option<DeviceReport>>,
}

impl Queue {
    fn new(len: usize) -> Self {
        Self { next: 0, len, done: vec![None; len] }
    }

    fn next(&mut self) -> Option<usize> {
        (self.next < self.len).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn finish(&mut self, device: DeviceReport) {
        let i = device.index;
        self.done[i] = Some(device);
    }

    /// Every device's report. The workers report every device they take and take them all
    /// (a panic in a callback ends `run` with that panic), so none is missing; one that were
    /// would count as interrupted rather than vanish from the report.
    fn into_reports(self, ports: &[PortSpec]) -> Vec<DeviceReport> {
        let missing = |index: usize| DeviceReport {
            index,
            port: ports[index].clone(),
            outcome: Outcome::Interrupted,
            duration: Duration::ZERO,
        };
        self.done.into_iter().enumerate().map(|(i, d)| d.unwrap_or_else(|| missing(i))).collect()
    }
}

/// Every device's outcome, in port-list order, and the campaign's duration.
#[derive(Clone, Debug)]
pub struct Report {
    /// One report per device.
    pub devices: Vec<DeviceReport>,
    /// Wall time of the whole campaign.
    pub duration: Duration,
}

impl Report {
    /// Builds a report from device reports (for hosts that run the updates themselves).
    pub fn new(devices: Vec<DeviceReport>, duration: Duration) -> Self {
        Self { devices, duration }
    }

    /// The counts of each kind of ending.
    pub fn tally(&self) -> Tally {
        Tally::of(self.devices.iter().map(|d| &d.outcome))
    }

    /// The campaign's exit code: 0 when every device updated, 130 when interrupted, 11 when any
    /// other device did not update.
    pub fn exit_code(&self) -> u8 {
        let tally = self.tally();
        if tally.updated == tally.total {
            EXIT_ALL_UPDATED
        } else if tally.failed.contains_key(Outcome::Interrupted.kind()) {
            EXIT_INTERRUPTED
        } else {
            EXIT_SOME_FAILED
        }
    }
}

/// How many devices ended which way: updated, reverted, timed out, and the other failures by
/// kind ([`Outcome::kind`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Devices in the campaign.
    pub total: usize,
    /// Devices that did what was asked (updated, or downloaded with no activation asked).
    pub updated: usize,
    /// Devices whose new image did not confirm itself and was reverted.
    pub reverted: usize,
    /// Devices where something expected did not come in time.
    pub timed_out: usize,
    /// The other failures, by kind.
    pub failed: BTreeMap<&'static str, usize>,
}

impl Tally {
    /// Counts `outcomes`.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Self {
        let mut t = Self::default();
        for o in outcomes {
            t.total += 1;
            match o {
                o if o.is_success() => t.updated += 1,
                Outcome::Reverted { .. } => t.reverted += 1,
                Outcome::TimedOut(_) => t.timed_out += 1,
                other => *t.failed.entry(other.kind()).or_default() += 1,
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::request::Profile;

    fn tcp(a: &str) -> PortSpec {
        PortSpec::Tcp(a.into())
    }

    #[test]
    fn ranges() {
        assert_eq!(
            port_range("tcp:127.0.0.1:5000+3"),
            Ok(vec![tcp("127.0.0.1:5000"), tcp("127.0.0.1:5001"), tcp("127.0.0.1:5002")])
        );
        assert_eq!(port_range("tcp:[::1]:65535+1"), Ok(vec![tcp("[::1]:65535")]));
        assert_eq!(port_range("tcp:h:7"), Ok(vec![tcp("h:7")]));
        assert_eq!(port_range("tcp:h:1000+1000").map(|p| p.len()), Ok(1000));
        for bad in
            ["tcp:h:65535+2", "tcp:h:5000+0", "tcp:h:0+3", "tcp::5000+2", "tcp:h:x+2", "tcp:h:5+", "h:5+2"]
        {
            assert!(port_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let text = "# the lab\n/dev/ttyACM0@9600\n\n  tcp:10.0.0.2:5000   # rack 2\ntcp:10.0.0.2:5001\n";
        let ports = port_list(text).unwrap();
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[0].to_string(), "/dev/ttyACM0@9600");
        assert_eq!(ports[1], tcp("10.0.0.2:5000"));
        let twice = port_list("tcp:h:1\n/dev/x\ntcp:h:1\n").unwrap_err();
        assert!(twice.contains("line 3") && twice.contains("twice"), "{twice}");
        let bad = port_list("tcp:h:1\ntcp:nope\n").unwrap_err();
        assert!(bad.starts_with("line 2:"), "{bad}");
        assert!(port_list("# nothing\n\n").is_err());
    }

    #[test]
    fn tally_and_exit_codes() {
        let report = |outcomes: Vec<Outcome>| {
            let devices = outcomes
                .into_iter()
                .enumerate()
                .map(|(index, outcome)| DeviceReport {
                    index,
                    port: tcp("h:1"),
                    outcome,
                    duration: Duration::ZERO,
                })
                .collect();
            Report::new(devices, Duration::ZERO)
        };
        let ok = || Outcome::Updated { version: Some("2.0.0".into()) };
        assert_eq!(report(vec![ok(), Outcome::Downloaded]).exit_code(), 0);
        let mixed = report(vec![
            ok(),
            Outcome::Reverted { version: None },
            Outcome::TimedOut("x".into()),
            Outcome::Port("a".into()),
            Outcome::Port("b".into()),
            Outcome::Rejected("c".into()),
        ]);
        let t = mixed.tally();
        assert_eq!((t.total, t.updated, t.reverted, t.timed_out), (6, 1, 1, 1));
        assert_eq!(t.failed, BTreeMap::from([("port-error", 2), ("rejected", 1)]));
        assert_eq!(mixed.exit_code(), EXIT_SOME_FAILED);
        assert_eq!(report(vec![ok(), Outcome::Interrupted]).exit_code(), EXIT_INTERRUPTED);
        assert_eq!(report(vec![Outcome::Reverted { version: None }]).exit_code(), EXIT_SOME_FAILED);
    }

    /// Interrupted before it starts: no device is opened, each counts as interrupted, and the
    /// campaign exits 130.
    #[test]
    fn interrupted_devices_are_not_opened() {
        let opened = AtomicUsize::new(0);
        let flag = Arc::new(AtomicBool::new(true));
        let ports: Vec<PortSpec> = (0..5).map(|i| tcp(&format!("h:{}", 100 + i))).collect();
        let request = Request::http(Profile::Nrf9160Slm, "http://192.0.2.1/a.bin");
        let report = Campaign::new(Updater::new(), 2).interrupt_on(flag).run(
            &ports,
            &request,
            |_| {
                let opened = &opened;
                Box::new(move || -> io::Result<crate::port::Link> {
                    opened.fetch_add(1, Ordering::SeqCst);
                    Err(io::Error::other("must not be opened"))
                }) as Box<dyn Connector + '_>
            },
            |_| {},
        );
        assert_eq!(opened.load(Ordering::SeqCst), 0);
        assert!(report.devices.iter().all(|d| d.outcome == Outcome::Interrupted));
        assert_eq!(report.tally().failed, BTreeMap::from([("interrupted", 5)]));
        assert_eq!(report.exit_code(), EXIT_INTERRUPTED);
    }

    /// Connectors that take a while to fail: the campaign never has more than `concurrency`
    /// open at once, uses all of them, and reports every device in list order.
    #[test]
    fn at_most_k_at_once_and_every_device_reported() {
        let open = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let events = AtomicUsize::new(0);
        let ports: Vec<PortSpec> = (0..20).map(|i| tcp(&format!("h:{}", 100 + i))).collect();
        let request = Request::http(Profile::Nrf9160Slm, "http://192.0.2.1/a.bin");
        let report = Campaign::new(Updater::new(), 4).run(
            &ports,
            &request,
            |port| {
                let name = port.to_string();
                let (open, peak) = (&open, &peak);
                let connector = move || -> io::Result<crate::port::Link> {
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    open.fetch_sub(1, Ordering::SeqCst);
                    Err(io::Error::other(format!("{name}: refused")))
                };
                Box::new(connector) as Box<dyn Connector + '_>
            },
            |p| {
                if matches!(p, Progress::Started { .. } | Progress::Finished { .. }) {
                    events.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        assert_eq!(events.load(Ordering::SeqCst), 40);
        assert_eq!(report.devices.len(), 20);
        for (i, d) in report.devices.iter().enumerate() {
            assert_eq!(d.index, i);
            assert_eq!(d.port, ports[i]);
            assert_eq!(d.outcome.kind(), "port-error", "{}", d.outcome);
            assert!(d.outcome.to_string().contains(&format!("h:{}: refused", 100 + i)));
        }
        assert_eq!(report.exit_code(), EXIT_SOME_FAILED);
    }
}
