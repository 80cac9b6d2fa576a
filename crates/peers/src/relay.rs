//! The thread machinery shared by the TCP proxies: a loopback listener with an accept thread,
//! one handler thread per accepted connection, a registry of open sockets and a stop signal.
//!
//! It owns shutdown: dropping a [`Relay`] stops accepting, shuts every registered socket down
//! (which wakes any thread blocked on it), wakes every [`Shared::sleep`] and joins all threads,
//! so a stop is bounded by how long a handler takes to notice. It must never leave a thread
//! running or a socket open after the drop returns.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a proxy waits to connect to its upstream.
pub(crate) const UPSTREAM_CONNECT: Duration = Duration::from_secs(2);

/// A listener whose connections are each handled on their own thread.
pub(crate) struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// State every handler thread of a relay shares.
pub(crate) struct Shared {
    name: &'static str,
    stopped: Mutex<bool>,
    wake: Condvar,
    accepted: AtomicUsize,
    next_socket: AtomicU64,
    sockets: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Keeps a socket in the registry for as long as it lives; dropping it forgets the socket.
pub(crate) struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Relay {
    /// Binds 127.0.0.1:0 and calls `handler(index, stream, shared)` for each connection.
    pub(crate) fn start<H>(name: &'static str, handler: H) -> io::Result<Self>
    where
        H: Fn(usize, TcpStream, &Arc<Shared>) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name,
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            accepted: AtomicUsize::new(0),
            next_socket: AtomicU64::new(0),
            sockets: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
        });
        let handler = Arc::new(handler);
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || accept_loop(&listener, &accept_shared, &handler))?;
        Ok(Self { addr, shared, acceptor: Some(acceptor) })
    }

    /// The loopback address clients connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        *lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
        // The accept thread is blocked in accept(): one throwaway connection wakes it up.
        let _ = TcpStream::connect_timeout(&self.addr, UPSTREAM_CONNECT);
        if let Some(acceptor) = self.acceptor.take() {
            join(self.shared.name, acceptor);
        }
        for socket in lock(&self.shared.sockets).values() {
            // Already closed by its handler is fine: the aim is only to wake blocked reads.
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Handlers may spawn helpers while we join, so drain until nothing is left.
        loop {
            let workers = std::mem::take(&mut *lock(&self.shared.workers));
            if workers.is_empty() {
                break;
            }
            for worker in workers {
                join(self.shared.name, worker);
            }
        }
    }
}

impl Shared {
    /// Whether the relay is being dropped.
    pub(crate) fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps for `duration` unless the relay stops first; returns false if it stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            stopped =
                self.wake.wait_timeout(stopped, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        false
    }

    /// Blocks until the relay stops.
    pub(crate) fn wait_stopped(&self) {
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            stopped = self.wake.wait(stopped).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Registers `socket` so that a stop shuts it down; keep the guard while using it.
    pub(crate) fn register(self: &Arc<Self>, socket: &TcpStream) -> io::Result<Registered> {
        let id = self.next_socket.fetch_add(1, Ordering::SeqCst);
        lock(&self.sockets).insert(id, socket.try_clone()?);
        if self.is_stopped() {
            // The stop may have swept the registry before this insert.
            let _ = socket.shutdown(Shutdown::Both);
        }
        Ok(Registered { shared: Arc::clone(self), id })
    }

    /// Runs `work` on a new thread that the drop will join.
    pub(crate) fn spawn(&self, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let handle = thread::Builder::new().name(format!("{}-conn", self.name)).spawn(work)?;
        let mut workers = lock(&self.workers);
        // Finished threads need no join; dropping their handles keeps the list short.
        workers.retain(|w| !w.is_finished());
        workers.push(handle);
        Ok(())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.shared.sockets).remove(&self.id);
    }
}

/// Accepts until stopped, handing each connection to `handler` on a worker thread.
fn accept_loop<H>(listener: &TcpListener, shared: &Arc<Shared>, handler: &Arc<H>)
where
    H: Fn(usize, TcpStream, &Arc<Shared>) + Send + Sync + 'static,
{
    for stream in listener.incoming() {
        if shared.is_stopped() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("{}: accept failed: {e}", shared.name);
                continue;
            }
        };
        let index = shared.accepted.fetch_add(1, Ordering::SeqCst);
        let worker_shared = Arc::clone(shared);
        let handler = Arc::clone(handler);
        let spawned = shared.spawn(move || handler(index, stream, &worker_shared));
        if let Err(e) = spawned {
            log::warn!("{}: cannot start a connection thread: {e}", shared.name);
        }
    }
}

fn join(name: &str, handle: JoinHandle<()>) {
    if handle.join().is_err() {
        log::error!("{name}: a relay thread panicked");
    }
}

/// Locks ignoring poison: every value guarded here stays consistent across a panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
