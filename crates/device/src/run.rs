//! The process's shell: one event loop for one modem or a fleet, a thread per transfer, and
//! the transports' and control channels' threads.
//!
//! Owns threads, channels, the devices' power and emulated links, and nothing that decides
//! what a modem does: every device is driven through [`drive`], the same loop the tests and
//! the fuzzer use. All devices share one thread and one bounded channel of [`Input`]s; their
//! timers sit in one heap, so an idle fleet costs no CPU. The channel's bound is the
//! backpressure that keeps memory flat: transfers can be at most `CHANNEL_DEPTH` chunks ahead
//! of the flash, whichever device they feed.
//!
//! Threads: this loop, one per running transfer (the download clients block), and per device
//! its transport's reader and writer and its control listener, all with small stacks and all
//! asleep in the kernel while nothing happens (docs/PERFORMANCE.md has the fleet's figures).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::thread;
use std::time::{Duration, Instant};

use atfota_download::{Resume, Source};
use atfota_fota::{CellularStatus, Conditions, EngineConfig, ProfileKind, Stimulus};
use atfota_net::{CancelToken, DownloadError, Event as NetEvent, Link, Outcome, StartInfo};
use atfota_storage::{FileFlash, Layout};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::{Value, json};

use crate::control::{self, ControlAddr, Request};
use crate::datadir::{DataDir, DirGuard};
use crate::driver::{Shell, drive};
use crate::modem::{Modem, ModemError};
use crate::power::{Powered, Supply};
use crate::transport::{self, Listen, Transport};

/// Messages in flight towards the loop; bounded in number.
const CHANNEL_DEPTH: usize = 32;
/// Chunk buffers a transfer keeps for reuse: the main loop hands each one
/// back after the engine has written it, so a download allocates a few
/// buffers once instead of one per chunk (and their pages stay warm).
const POOL_DEPTH: usize = 4;
/// Stack of a transfer thread (the download clients and TLS need more than the transports).
const TRANSFER_STACK: usize = 512 * 1024;

/// Everything the loop can be woken by; the first field is the device's index.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// Bytes from the host.
    Host(usize, Vec<u8>),
    /// The host side closed (stdin EOF): the process stops.
    HostClosed(usize),
    /// The device's output up to this offset has been written to the host.
    Written(usize, u64),
    /// Transfer `id` got its response.
    Started(usize, u64, StartInfo),
    /// Bytes of transfer `id`.
    Data(usize, u64, Vec<u8>),
    /// Transfer `id` ended.
    Finished(usize, u64, Result<Outcome, DownloadError>),
    /// A control-channel request and where its reply goes.
    Control(usize, Request, Sender<Value>),
}

/// How to run the modems.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where AT comes from (device `i` of a fleet: the TCP port plus `i`).
    pub listen: Listen,
    /// The control channel, if any (device `i` of a fleet: the port plus `i`).
    pub control: Option<ControlAddr>,
    /// Download client options (timeouts, retries).
    pub net: atfota_net::Options,
    /// Emulated application behaviour.
    pub engine: EngineConfig,
    /// Emulated network conditions the profile reacts to.
    pub conditions: Conditions,
    /// Control requests every device carries out at power-on, before the host sees it: how
    /// start-time options such as `--network 2g` take effect.
    pub at_start: Vec<Request>,
}

/// Why the modem stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The transport could not be opened.
    #[error("cannot listen on {listen}: {reason}")]
    Listen {
        /// What was asked.
        listen: String,
        /// Why it failed.
        reason: String,
    },
    /// The device failed to boot.
    #[error(transparent)]
    Modem(#[from] ModemError),
}

/// Powers the device in `dir` on and serves AT until the host closes stdin
/// (stdio) or the process is stopped.
pub fn run(dir: DataDir, opts: RunOptions) -> Result<(), RunError> {
    run_fleet(vec![dir], false, opts)
}

/// Powers every device on and serves them all until the process is stopped (or, for one
/// device on stdio, the host closes stdin). With `fleet`, device `i` listens on the
/// addresses of `opts` moved up by `i`. One device's failure stops only that device.
pub fn run_fleet(dirs: Vec<DataDir>, fleet: bool, opts: RunOptions) -> Result<(), RunError> {
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_DEPTH);
    let mut devices = Vec::with_capacity(dirs.len());
    for (i, dir) in dirs.into_iter().enumerate() {
        devices.push(Device::open(i, dir, fleet, &opts, &tx)?);
    }
    let mut shell = Loop { devices, tx, rx, timers: BinaryHeap::new(), fleet };
    let now = Instant::now();
    for i in 0..shell.devices.len() {
        for req in &opts.at_start {
            let reply = shell.devices[i].control(req.clone());
            if reply["ok"] != true {
                log::warn!("device {i}: start option not applied: {}", reply["error"]);
            }
        }
        shell.step(i, now)?;
    }
    let result = shell.serve();
    for d in &mut shell.devices {
        d.stop_transfers();
    }
    // Output still queued gets a bounded chance.
    for d in &shell.devices {
        d.transport.output.flush(Duration::from_secs(2));
    }
    result
}

/// The loop's state: every device, the channel, the timers.
struct Loop {
    devices: Vec<Device>,
    tx: Sender<Input>,
    rx: Receiver<Input>,
    /// (deadline, device): a device's next timer; stale entries are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    fleet: bool,
}

impl Loop {
    fn serve(&mut self) -> Result<(), RunError> {
        loop {
            let input = match self.timers.peek() {
                Some(Reverse((at, _))) => match self.rx.recv_deadline(*at) {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match self.rx.recv() {
                    Ok(input) => Some(input),
                    Err(_) => return Ok(()),
                },
            };
            let now = Instant::now();
            if let Some(input) = input {
                if let Some(i) = self.handle(input, now)? {
                    self.step(i, now)?;
                } else {
                    return Ok(());
                }
            }
            while let Some(&Reverse((at, i))) = self.timers.peek() {
                if at > now {
                    break;
                }
                self.timers.pop();
                self.step(i, now)?;
            }
        }
    }

    /// Feeds one input to its device; returns the device to drive, or `None` to stop.
    fn handle(&mut self, input: Input, now: Instant) -> Result<Option<usize>, RunError> {
        let (i, result) = match input {
            Input::Host(i, bytes) => (i, self.devices[i].with_modem(|m| m.handle_input(&bytes))),
            Input::HostClosed(i) => {
                log::info!("host closed the line: stopping");
                // A graceful stop keeps a running download resumable.
                let d = &mut self.devices[i];
                let _ = d.with_modem(|m| {
                    if let Some(engine) = m.engine_mut() {
                        engine.shutdown();
                    }
                    Ok(())
                });
                self.step(i, now)?;
                return Ok(None);
            }
            Input::Written(i, end) => {
                if let Some(m) = self.devices[i].modem.as_mut() {
                    m.written(end);
                }
                (i, Ok(()))
            }
            Input::Started(i, id, info) => {
                self.devices[i].download = (info.offset, info.total);
                (i, self.devices[i].with_modem(|m| m.handle_started(id, info)))
            }
            Input::Data(i, id, data) => {
                let d = &mut self.devices[i];
                d.download.0 += data.len() as u64;
                let r = d.with_modem(|m| m.handle_data(id, &data));
                if let Some(t) = d.transfers.get(&id) {
                    // The pool is bounded; a full one just lets the buffer go.
                    let _ = t.recycle.try_send(data);
                }
                (i, r)
            }
            Input::Finished(i, id, result) => {
                let d = &mut self.devices[i];
                d.transfers.remove(&id);
                (i, d.with_modem(|m| m.handle_finished(id, result)))
            }
            Input::Control(i, req, reply) => {
                let answer = self.devices[i].control(req);
                let _ = reply.send(answer);
                (i, Ok(()))
            }
        };
        self.settle(i, result)?;
        Ok(Some(i))
    }

    /// Drives device `i` and files its next timer.
    fn step(&mut self, i: usize, now: Instant) -> Result<(), RunError> {
        let d = &mut self.devices[i];
        d.follow_link();
        let result = match d.modem.as_mut() {
            None => Ok(None),
            Some(modem) => {
                let mut shell = DeviceShell {
                    device: i,
                    output: &d.transport.output,
                    transfers: &mut d.transfers,
                    net: &d.net,
                    tx: &self.tx,
                };
                drive(modem, now, &mut shell)
            }
        };
        d.follow_link();
        match result {
            Ok(Some(at)) => {
                self.timers.push(Reverse((at, i)));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => self.settle(i, Err(e)),
        }
    }

    /// What a modem call's result means: a power cut turns the device off; any other
    /// failure ends a single device's process, or only that device in a fleet.
    fn settle(&mut self, i: usize, result: Result<(), ModemError>) -> Result<(), RunError> {
        let d = &mut self.devices[i];
        if d.supply.lost() {
            d.power_off();
            return Ok(());
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) if self.fleet => {
                log::error!("device {i} stopped: {e}");
                d.power_off();
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// One emulated device of the process.
struct Device {
    index: usize,
    /// `None` while the power is off.
    modem: Option<Modem<Powered<FileFlash>>>,
    /// The flash while the power is off (`None` also if a failed boot lost it).
    unpowered: Option<FileFlash>,
    supply: Supply,
    link: Link,
    /// The download options, with this device's link.
    net: atfota_net::Options,
    transport: Transport,
    transfers: HashMap<u64, Transfer>,
    layout: Layout,
    profile: ProfileKind,
    engine: EngineConfig,
    conditions: Conditions,
    /// Bytes of the current (or last) download: received so far, total.
    download: (u64, u64),
    /// A link speed set by the bench (`rate`), whatever the radio.
    rate_override: Option<u64>,
    /// Keeps the data directory locked for as long as the device runs.
    _dir: DirGuard,
}

impl Device {
    fn open(
        index: usize,
        dir: DataDir,
        fleet: bool,
        opts: &RunOptions,
        tx: &Sender<Input>,
    ) -> Result<Self, RunError> {
        let listen = opts
            .listen
            .instance(index, fleet)
            .map_err(|reason| RunError::Listen { listen: opts.listen.to_string(), reason })?;
        let transport = transport::open(&listen, index, tx.clone())
            .map_err(|e| RunError::Listen { listen: listen.to_string(), reason: e.to_string() })?;
        if let Some(addr) = &opts.control {
            let addr = addr
                .instance(index, fleet)
                .map_err(|reason| RunError::Listen { listen: addr.to_string(), reason })?;
            control::open(&addr, index, tx.clone())
                .map_err(|e| RunError::Listen { listen: addr.to_string(), reason: e.to_string() })?;
        }
        let link = Link::new();
        let net = atfota_net::Options { link: Some(link.clone()), ..opts.net.clone() };
        let (profile, layout) = (dir.profile, dir.layout);
        let conditions = Conditions { imei: Some(dir.imei()), ..opts.conditions };
        let (flash, guard) = dir.into_flash();
        let mut d = Self {
            index,
            modem: None,
            unpowered: Some(flash),
            supply: Supply::default(),
            link,
            net,
            transport,
            transfers: HashMap::new(),
            layout,
            profile,
            engine: opts.engine,
            conditions,
            download: (0, 0),
            rate_override: None,
            _dir: guard,
        };
        d.power_on()?;
        Ok(d)
    }

    /// Runs `f` on the modem if the power is on (input to a device that is off is lost).
    fn with_modem(
        &mut self,
        f: impl FnOnce(&mut Modem<Powered<FileFlash>>) -> Result<(), ModemError>,
    ) -> Result<(), ModemError> {
        match self.modem.as_mut() {
            Some(m) => f(m),
            None => Ok(()),
        }
    }

    /// Power on: bootloader, banner, result URC (written by the next drive).
    fn power_on(&mut self) -> Result<(), ModemError> {
        let Some(flash) = self.unpowered.take() else { return Ok(()) };
        self.supply.restore();
        let flash = Powered::new(flash, self.supply.clone());
        let modem = Modem::power_on_with(flash, self.layout, self.profile, self.engine, self.conditions)?;
        self.modem = Some(modem);
        Ok(())
    }

    /// The power goes: transfers stop, output not yet handed out is lost, the flash keeps
    /// what it holds.
    fn power_off(&mut self) {
        self.stop_transfers();
        if let Some(modem) = self.modem.take() {
            self.supply.restore();
            self.unpowered = modem.into_flash().map(Powered::into_inner);
            if self.unpowered.is_none() {
                log::error!("device {}: its flash was lost in a failed boot", self.index);
            }
        }
    }

    fn stop_transfers(&mut self) {
        for (_, t) in self.transfers.drain() {
            t.cancel.cancel();
        }
    }

    /// Carries out one control request; returns the reply.
    fn control(&mut self, req: Request) -> Value {
        match req {
            Request::Rate(rate) => {
                self.rate_override = rate;
                control::ok(json!({}))
            }
            Request::DropConnection => {
                self.link.cut_connections();
                control::ok(json!({ "transfers": self.transfers.len() }))
            }
            Request::PowerCut => {
                if self.modem.is_none() {
                    return control::refused("the power is already off");
                }
                log::warn!("device {}: power cut (control channel)", self.index);
                self.power_off();
                control::ok(json!({}))
            }
            Request::PowerOn => {
                if self.modem.is_some() {
                    return control::refused("the power is already on");
                }
                if self.unpowered.is_none() {
                    return control::refused(
                        "the device lost its flash in a failed boot; restart the process",
                    );
                }
                match self.power_on() {
                    Ok(()) => control::ok(json!({})),
                    Err(e) => control::refused(format!("boot failed: {e}")),
                }
            }
            Request::CutAt(n) => {
                if self.modem.is_none() {
                    return control::refused("the power is off");
                }
                self.supply.cut_before_op(n);
                control::ok(json!({}))
            }
            Request::FailSelfTest => match self.modem.as_mut() {
                Some(m) => {
                    m.fail_next_self_test();
                    control::ok(json!({}))
                }
                None => control::refused("the power is off"),
            },
            Request::Status => control::ok(self.status()),
            Request::Network(stimulus) => self.stimulate(stimulus),
        }
    }

    /// Changes the emulated network the profile shows (registration, signal, radio, calls).
    fn stimulate(&mut self, stimulus: Stimulus) -> Value {
        let Some(modem) = self.modem.as_mut() else { return control::refused("the power is off") };
        match modem.apply_stimulus(stimulus) {
            Ok(()) => control::ok(json!({})),
            Err(e) => control::refused(e),
        }
    }

    /// Makes the transfers obey the link the profile shows now (and a bench's rate, if set).
    fn follow_link(&self) {
        if let Some(modem) = &self.modem {
            let cell = modem.link();
            self.link.set_up(cell.up);
            self.link.set_rate(self.rate_override.or(cell.rate));
        }
    }

    /// The device's state as the `status` reply shows it.
    fn status(&mut self) -> Value {
        let powered = self.modem.is_some();
        let cellular = self.modem.as_ref().map(|m| cellular_json(&m.cellular_status()));
        let (app, modem_fw, downloading, boots) = match self.modem.as_mut() {
            Some(m) => {
                let boots = m.boots();
                match m.engine_mut() {
                    Some(e) => {
                        (e.app_version().map(|v| v.to_string()), e.modem_version(), e.is_downloading(), boots)
                    }
                    None => (None, None, false, boots),
                }
            }
            None => (None, None, false, 0),
        };
        json!({
            "device": self.index,
            "profile": self.profile.to_string(),
            "power": if powered { "on" } else { "off" },
            "boots": boots,
            "app_version": app,
            "modem_version": modem_fw,
            "download": { "running": downloading, "bytes": self.download.0, "total": self.download.1 },
            "link": { "up": self.link.is_up(), "rate": self.link.rate() },
            "cellular": cellular,
            "power_cut_armed": self.supply.armed(),
        })
    }
}

/// The cellular part of a `status` reply.
fn cellular_json(c: &CellularStatus) -> Value {
    json!({
        "registration": c.stat,
        "rat": c.rat.map(|r| r.to_string()),
        "network_rat": c.network_rat.to_string(),
        "network_up": c.network_up,
        "signal": c.signal,
        "cfun": c.cfun,
        "sim": c.sim.name(),
        "pdns": c.pdns.iter().map(|p| json!({ "cid": p.cid, "apn": p.apn, "active": p.active })).collect::<Vec<_>>(),
    })
}

/// A device's side of [`drive`]: its transport, its transfers.
struct DeviceShell<'a> {
    device: usize,
    output: &'a transport::Output,
    transfers: &'a mut HashMap<u64, Transfer>,
    net: &'a atfota_net::Options,
    tx: &'a Sender<Input>,
}

impl Shell for DeviceShell<'_> {
    fn write(&mut self, bytes: Vec<u8>, end: u64) -> bool {
        // Acknowledged by the writer thread (Input::Written) once the bytes have left.
        self.output.send(&bytes, end);
        false
    }

    fn start(&mut self, id: u64, source: Source, resume: Option<Resume>) {
        let cancel = CancelToken::new();
        let (recycle, pool) = crossbeam_channel::bounded(POOL_DEPTH);
        self.transfers.insert(id, Transfer { cancel: cancel.clone(), recycle });
        let job = TransferJob { device: self.device, id, source, resume, opts: self.net.clone() };
        job.spawn(cancel, pool, self.tx.clone());
    }

    fn abort(&mut self, id: u64) {
        if let Some(t) = self.transfers.remove(&id) {
            t.cancel.cancel();
        }
    }
}

/// The loop's handle on a running transfer.
struct Transfer {
    cancel: CancelToken,
    /// Where written chunk buffers go back to the transfer thread.
    recycle: Sender<Vec<u8>>,
}

/// One transfer to run on its own thread.
struct TransferJob {
    device: usize,
    id: u64,
    source: Source,
    resume: Option<Resume>,
    opts: atfota_net::Options,
}

impl TransferJob {
    /// Runs the transfer on its own thread, feeding the loop.
    fn spawn(self, cancel: CancelToken, pool: Receiver<Vec<u8>>, tx: Sender<Input>) {
        let TransferJob { device, id, source, resume, opts } = self;
        let spawned = thread::Builder::new()
            .name(format!("transfer-{device}-{id}"))
            .stack_size(TRANSFER_STACK)
            .spawn(move || {
                let mut on_event = |ev: NetEvent<'_>| {
                    if cancel.is_cancelled() {
                        return ControlFlow::Break(());
                    }
                    let msg = match ev {
                        NetEvent::Started(info) => Input::Started(device, id, info),
                        NetEvent::Data(d) => {
                            let mut buf = pool.try_recv().unwrap_or_default();
                            buf.clear();
                            buf.extend_from_slice(d);
                            Input::Data(device, id, buf)
                        }
                        NetEvent::Retrying { attempt, cause } => {
                            log::warn!("device {device} transfer {id}: {cause}; retry {attempt}");
                            return ControlFlow::Continue(());
                        }
                        _ => return ControlFlow::Continue(()),
                    };
                    if tx.send(msg).is_err() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                };
                let result =
                    atfota_net::download_with_cancel(&source, resume.as_ref(), &opts, &cancel, &mut on_event);
                let _ = tx.send(Input::Finished(device, id, result));
            });
        if let Err(e) = spawned {
            log::error!("cannot start a transfer thread: {e}");
        }
    }
}
