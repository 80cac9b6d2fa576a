//! [`Link`]: the emulated radio link a test bench changes while transfers run — up or down,
//! its speed, and "the server connection is cut now".
//!
//! Owns only the shared state and how a transfer obeys it; what makes the link go down
//! (registration lost, the SIM locked, a control-channel command) is the device's. A transfer
//! checks it between reads: down means no bytes flow (a connection that is opened waits; one
//! that stays down past the idle timeout fails as a silent server would), a new rate applies to
//! the next read, and a cut ends the connection with an error the retry logic treats as a
//! dropped connection (so the download resumes from the bytes it has).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// How often a transfer waiting for the link looks again.
const POLL: Duration = Duration::from_millis(20);

/// A handle on one device's emulated link; clones share it.
#[derive(Clone, Default)]
pub struct Link {
    inner: Arc<State>,
}

#[derive(Default)]
struct State {
    down: AtomicBool,
    /// Bytes per second; 0 = as fast as the network allows.
    rate: AtomicU64,
    /// Bumped by every cut: a transfer that saw another value has lost its connection.
    cuts: AtomicU64,
}

impl Link {
    /// An up link without a speed limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the link down (no bytes flow) or brings it back.
    pub fn set_up(&self, up: bool) {
        self.inner.down.store(!up, Ordering::SeqCst);
    }

    /// Whether bytes flow.
    pub fn is_up(&self) -> bool {
        !self.inner.down.load(Ordering::SeqCst)
    }

    /// Sets the speed in bytes per second (`None` or 0: unlimited).
    pub fn set_rate(&self, rate: Option<u64>) {
        self.inner.rate.store(rate.unwrap_or(0), Ordering::SeqCst);
    }

    /// The speed in bytes per second, if limited.
    pub fn rate(&self) -> Option<u64> {
        Some(self.inner.rate.load(Ordering::SeqCst)).filter(|&r| r > 0)
    }

    /// Cuts every open server connection now (the transfers retry and resume).
    pub fn cut_connections(&self) {
        self.inner.cuts.fetch_add(1, Ordering::SeqCst);
    }

    /// The cut counter, to compare with [`Link::cut_since`].
    pub(crate) fn cuts(&self) -> u64 {
        self.inner.cuts.load(Ordering::SeqCst)
    }

    /// Whether a cut happened since the counter read `seen`.
    pub(crate) fn cut_since(&self, seen: u64) -> bool {
        self.cuts() != seen
    }

    /// Waits while the link is down, at most `limit`; true when it is up (false: still down,
    /// or cancelled).
    pub(crate) fn wait_up(&self, limit: Duration, cancel: &CancelToken) -> bool {
        let start = Instant::now();
        while !self.is_up() {
            if start.elapsed() >= limit || !cancel.sleep(POLL) {
                return false;
            }
        }
        true
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").field("up", &self.is_up()).field("rate", &self.rate()).finish()
    }
}

/// Two options are equal when they share one link.
impl PartialEq for Link {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Link {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_starts_up_and_unlimited_and_remembers_changes() {
        let l = Link::new();
        assert!(l.is_up());
        assert_eq!(l.rate(), None);
        let clone = l.clone();
        clone.set_up(false);
        clone.set_rate(Some(4000));
        assert!(!l.is_up());
        assert_eq!(l.rate(), Some(4000));
        l.set_rate(Some(0));
        assert_eq!(clone.rate(), None);
        let seen = l.cuts();
        assert!(!l.cut_since(seen));
        clone.cut_connections();
        assert!(l.cut_since(seen));
    }

    #[test]
    fn waiting_for_a_down_link_ends_after_the_limit_and_at_once_when_up() {
        let l = Link::new();
        let cancel = CancelToken::new();
        assert!(l.wait_up(Duration::ZERO, &cancel));
        l.set_up(false);
        let t = Instant::now();
        assert!(!l.wait_up(Duration::from_millis(60), &cancel));
        assert!(t.elapsed() >= Duration::from_millis(60));
        let back = l.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            back.set_up(true);
        });
        assert!(l.wait_up(Duration::from_secs(10), &cancel));
        h.join().unwrap();
    }
}
