//! The modem's IO shell: one loop, a thread per transfer, a thread per
//! transport direction.
//!
//! Owns threads and channels only. Everything that decides anything is in
//! [`Modem`](crate::Modem): this loop receives host bytes and downloader
//! output on one bounded channel, feeds them in, starts or aborts transfers
//! the modem asks for, and queues the modem's output. The channel's bound is
//! the backpressure that keeps memory flat: a transfer can be at most
//! `CHANNEL_DEPTH` chunks ahead of the flash.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::thread;
use std::time::Duration;

use atfota_fota::{Action, Conditions, EngineConfig};
use atfota_net::{CancelToken, DownloadError, Event as NetEvent, Outcome, StartInfo};
use crossbeam_channel::{Receiver, Sender};

use crate::datadir::DataDir;
use crate::modem::{Modem, ModemError};
use crate::transport::{self, Listen};

/// Messages in flight between threads; bounded in number.
const CHANNEL_DEPTH: usize = 16;
/// Chunk buffers a transfer keeps for reuse: the main loop hands each one
/// back after the engine has written it, so a download allocates a few
/// buffers once instead of one per chunk (and their pages stay warm).
const POOL_DEPTH: usize = CHANNEL_DEPTH + 2;

/// Everything the main loop can be woken by.
#[derive(Debug)]
pub enum Input {
    /// Bytes from the host.
    Host(Vec<u8>),
    /// The host side closed (stdin EOF): the modem stops.
    HostClosed,
    /// Transfer `id` got its response.
    Started(u64, StartInfo),
    /// Bytes of transfer `id`.
    Data(u64, Vec<u8>),
    /// Transfer `id` ended.
    Finished(u64, Result<Outcome, DownloadError>),
    /// Timer `id` ran out.
    Timer(u64),
}

/// How to run the modem.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where AT comes from.
    pub listen: Listen,
    /// Download client options (timeouts, retries, rate limit).
    pub net: atfota_net::Options,
    /// Emulated application behaviour.
    pub engine: EngineConfig,
    /// Emulated network conditions the profile reacts to.
    pub conditions: Conditions,
}

/// Why the modem stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The transport could not be opened.
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        /// What was asked.
        listen: Listen,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The device failed to boot.
    #[error(transparent)]
    Modem(#[from] ModemError),
}

/// Powers the device in `dir` on and serves AT until the host closes stdin
/// (stdio) or the process is stopped.
pub fn run(dir: DataDir, opts: RunOptions) -> Result<(), RunError> {
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_DEPTH);
    let transport = transport::open(&opts.listen, tx.clone())
        .map_err(|source| RunError::Listen { listen: opts.listen.clone(), source })?;
    let mut modem = Modem::power_on_with(dir.flash, dir.layout, dir.profile, opts.engine, opts.conditions)?;
    let mut transfers: HashMap<u64, Transfer> = HashMap::new();
    deliver(&mut modem, &transport.output)?;
    let result = serve(&mut modem, &rx, &tx, &transport.output, &opts.net, &mut transfers);
    for t in transfers.values() {
        t.cancel.cancel();
    }
    // The flash (and file) close when the modem drops; output still queued gets a bounded chance.
    drop(modem);
    transport.output.flush(Duration::from_secs(2));
    result
}

fn serve(
    modem: &mut Modem<atfota_storage::FileFlash>,
    rx: &Receiver<Input>,
    tx: &Sender<Input>,
    output: &transport::Output,
    net: &atfota_net::Options,
    transfers: &mut HashMap<u64, Transfer>,
) -> Result<(), RunError> {
    while let Ok(input) = rx.recv() {
        match input {
            Input::Host(bytes) => modem.handle_input(&bytes)?,
            Input::HostClosed => {
                log::info!("host closed the line: stopping");
                // A graceful stop keeps a running download resumable.
                if let Some(engine) = modem.engine_mut() {
                    engine.shutdown();
                }
                deliver(modem, output)?;
                return Ok(());
            }
            Input::Started(id, info) => modem.handle_started(id, info)?,
            Input::Data(id, data) => {
                modem.handle_data(id, &data)?;
                if let Some(t) = transfers.get(&id) {
                    // The pool is bounded; a full one just lets the buffer go.
                    let _ = t.recycle.try_send(data);
                }
            }
            Input::Finished(id, result) => {
                transfers.remove(&id);
                modem.handle_finished(id, result)?;
            }
            Input::Timer(id) => modem.handle_timer(id)?,
        }
        while let Some(action) = modem.poll_action() {
            match action {
                Action::Start { id, source, resume } => {
                    let cancel = CancelToken::new();
                    let (recycle, pool) = crossbeam_channel::bounded(POOL_DEPTH);
                    transfers.insert(id, Transfer { cancel: cancel.clone(), recycle });
                    spawn_transfer(id, source, resume, net.clone(), cancel, pool, tx.clone());
                }
                Action::Abort { id } => {
                    if let Some(t) = transfers.remove(&id) {
                        t.cancel.cancel();
                    }
                }
                Action::Timer { id, after } => spawn_timer(id, after, tx.clone()),
                other => log::warn!("unknown action {other:?}"),
            }
        }
        deliver(modem, output)?;
    }
    Ok(())
}

/// Queues the modem's output. When it carries an upgrade result, waits
/// (bounded) until it is written before the result counts as reported, so a
/// power cut in between makes the next boot report it again. When a reboot
/// has begun, the output before it (`OK`, `GTOTA DOWNLOAD COMPLETE`) is
/// written first, then the device boots, and its banner follows.
fn deliver<F: atfota_storage::NorFlash>(
    modem: &mut Modem<F>,
    output: &transport::Output,
) -> Result<(), RunError> {
    loop {
        let out = modem.take_output();
        if !out.is_empty() {
            output.send(&out);
        }
        let must_flush = modem.awaiting_delivery() || modem.reboot_pending();
        if must_flush && output.flush(Duration::from_secs(2)) {
            modem.output_written();
        }
        if !modem.reboot_pending() {
            return Ok(());
        }
        modem.finish_reboot()?;
    }
}

/// The main loop's handle on a running transfer.
struct Transfer {
    cancel: CancelToken,
    /// Where written chunk buffers go back to the transfer thread.
    recycle: Sender<Vec<u8>>,
}

/// Wakes the main loop with `Input::Timer(id)` once `after` has passed.
fn spawn_timer(id: u64, after: Duration, tx: Sender<Input>) {
    let spawned = thread::Builder::new().name(format!("timer-{id}")).spawn(move || {
        thread::sleep(after);
        let _ = tx.send(Input::Timer(id));
    });
    if let Err(e) = spawned {
        log::error!("cannot start a timer thread: {e}");
    }
}

/// Runs one transfer on its own thread, feeding the main loop.
fn spawn_transfer(
    id: u64,
    source: atfota_net::Source,
    resume: Option<atfota_net::Resume>,
    opts: atfota_net::Options,
    cancel: CancelToken,
    pool: Receiver<Vec<u8>>,
    tx: Sender<Input>,
) {
    let spawned = thread::Builder::new().name(format!("transfer-{id}")).spawn(move || {
        let mut on_event = |ev: NetEvent<'_>| {
            if cancel.is_cancelled() {
                return ControlFlow::Break(());
            }
            let msg = match ev {
                NetEvent::Started(info) => Input::Started(id, info),
                NetEvent::Data(d) => {
                    let mut buf = pool.try_recv().unwrap_or_default();
                    buf.clear();
                    buf.extend_from_slice(d);
                    Input::Data(id, buf)
                }
                NetEvent::Retrying { attempt, cause } => {
                    log::warn!("transfer {id}: {cause}; retry {attempt}");
                    return ControlFlow::Continue(());
                }
                _ => return ControlFlow::Continue(()),
            };
            if tx.send(msg).is_err() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        };
        let result =
            atfota_net::download_with_cancel(&source, resume.as_ref(), &opts, &cancel, &mut on_event);
        let _ = tx.send(Input::Finished(id, result));
    });
    if let Err(e) = spawned {
        log::error!("cannot start a transfer thread: {e}");
    }
}
