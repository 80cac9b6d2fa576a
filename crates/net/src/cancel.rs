//! [`CancelToken`]: stops a running download from another thread, at once, even while it is
//! blocked waiting for a silent server or sleeping between retries or for the rate limit.
//!
//! The callback's `Break` only works when an event is delivered; a stalled read delivers none
//! for up to `recv_timeout` (30 s). So the token holds the download's ureq `Agent` (HTTP) or
//! clones of its FTP control and data sockets, and cancelling shuts them down, which wakes the
//! blocked read. A TCP connect in progress is not interrupted (neither ureq nor std can), so
//! that case waits at most `connect_timeout`. It must never be shared between two downloads at
//! once: one token, one download.

use std::fmt;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A handle that cancels one download; clone it to the thread that decides.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    cancelled: bool,
    agent: Option<ureq::Agent>,
    /// Clones of the open FTP sockets; shutting a clone down wakes a read on the original.
    sockets: Vec<TcpStream>,
}

impl CancelToken {
    /// A token that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the download: it returns `Ok(Outcome::Cancelled)` as soon as it notices.
    pub fn cancel(&self) {
        let (agent, sockets) = {
            let mut state = self.lock();
            state.cancelled = true;
            (state.agent.take(), std::mem::take(&mut state.sockets))
        };
        self.inner.wake.notify_all();
        if let Some(agent) = agent {
            agent.shutdown();
        }
        for socket in sockets {
            // Fails only if the peer already closed it, which wakes the reader just as well.
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Attaches the download's agent; false if the token already fired.
    pub(crate) fn attach(&self, agent: &ureq::Agent) -> bool {
        let mut state = self.lock();
        if state.cancelled {
            return false;
        }
        state.agent = Some(agent.clone());
        true
    }

    /// Watches an FTP socket of the download; `Ok(false)` if the token already fired.
    pub(crate) fn attach_socket(&self, socket: &TcpStream) -> io::Result<bool> {
        let clone = socket.try_clone()?;
        let mut state = self.lock();
        if state.cancelled {
            return Ok(false);
        }
        state.sockets.push(clone);
        Ok(true)
    }

    /// Forgets the FTP sockets of a finished attempt, so their descriptors close with it.
    pub(crate) fn release_sockets(&self) {
        self.lock().sockets.clear();
    }

    /// Forgets the agent and sockets so their connections close with the download.
    pub(crate) fn detach(&self) {
        let mut state = self.lock();
        state.agent = None;
        state.sockets.clear();
    }

    /// Sleeps for `duration`; returns false (early) if the token fires meanwhile.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut state = self.lock();
        while !state.cancelled {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state =
                self.inner.wake.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        false
    }

    /// Locks ignoring poison: a flag and an optional handle cannot be left inconsistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn cancel_wakes_a_sleep() {
        let token = CancelToken::new();
        let other = token.clone();
        let sleeper = thread::spawn(move || {
            let started = Instant::now();
            let finished = other.sleep(Duration::from_secs(30));
            (finished, started.elapsed())
        });
        thread::sleep(Duration::from_millis(50));
        token.cancel();
        let (finished, took) = sleeper.join().unwrap();
        assert!(!finished);
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn sleep_runs_out_when_not_cancelled() {
        let token = CancelToken::new();
        assert!(token.sleep(Duration::from_millis(10)));
        assert!(!token.is_cancelled());
    }

    #[test]
    fn cancel_shuts_an_attached_socket_down() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let token = CancelToken::new();
        assert!(token.attach_socket(&client).unwrap());
        let reader = thread::spawn(move || {
            use std::io::Read;
            client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let started = Instant::now();
            let read = (&client).read(&mut [0; 16]);
            (read.ok(), started.elapsed())
        });
        thread::sleep(Duration::from_millis(50));
        token.cancel();
        let (read, took) = reader.join().unwrap();
        assert_eq!(read, Some(0), "a shut-down socket reads as closed");
        assert!(took < Duration::from_secs(10), "{took:?}");
        let listener_addr = listener.local_addr().unwrap();
        let late = TcpStream::connect(listener_addr).unwrap();
        assert!(!token.attach_socket(&late).unwrap());
    }

    #[test]
    fn a_fired_token_refuses_an_agent() {
        let token = CancelToken::new();
        let agent = ureq::Agent::new_with_defaults();
        assert!(token.attach(&agent));
        token.cancel();
        assert!(token.is_cancelled());
        assert!(!token.attach(&agent));
        assert!(!token.sleep(Duration::from_secs(30)));
    }
}
