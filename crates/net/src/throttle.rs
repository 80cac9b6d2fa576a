//! Token-bucket pacing for emulated slow links (a 2G modem moves a few KB/s). Sans-IO: the
//! caller passes the current time and does the sleeping, so the arithmetic is tested with a
//! simulated clock.
//!
//! It must never let the average rate exceed the limit by more than one bucket, and never ask
//! for a sleep longer than one bucket's worth of time, so a cancel is noticed promptly.

use std::time::{Duration, Instant};

/// The bucket holds a quarter second of traffic: smooth pacing, short sleeps.
const BUCKET_DIVISOR: u64 = 4;

/// Paces reads to `rate` bytes per second.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    rate: u64,
    capacity: u64,
    /// Tokens available; negative when the last read overdrew the bucket.
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// A full bucket at `now`; `rate` must be at least 1 (checked by `Options::check`).
    pub(crate) fn new(rate: u64, now: Instant) -> Self {
        let rate = rate.max(1);
        let capacity = (rate / BUCKET_DIVISOR).max(1);
        Self { rate, capacity, tokens: capacity as f64, last: now }
    }

    /// The pace, in bytes per second.
    pub(crate) fn rate(&self) -> u64 {
        self.rate
    }

    /// The largest read that keeps the pace smooth.
    pub(crate) fn max_read(&self) -> usize {
        usize::try_from(self.capacity).unwrap_or(usize::MAX)
    }

    /// Accounts `bytes` received at `now`; returns how long to sleep before the next read.
    pub(crate) fn consume(&mut self, bytes: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.capacity as f64);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / self.rate as f64)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Drives a throttle with a simulated clock; returns the simulated time taken.
    fn simulate(rate: u64, reads: &[usize]) -> Duration {
        let start = Instant::now();
        let mut now = start;
        let mut t = Throttle::new(rate, now);
        for &n in reads {
            now += t.consume(n, now);
        }
        now - start
    }

    #[test]
    fn small_rates_get_small_buckets() {
        let t = Throttle::new(4000, Instant::now());
        assert_eq!(t.max_read(), 1000);
        assert_eq!(Throttle::new(1, Instant::now()).max_read(), 1);
    }

    #[test]
    fn ten_kilobytes_at_two_kilobytes_per_second_take_about_five_seconds() {
        let reads = vec![500; 20];
        let took = simulate(2000, &reads);
        // The first bucket (500 bytes) is free: 9500 bytes at 2000 B/s.
        assert!((took.as_secs_f64() - 4.75).abs() < 0.01, "{took:?}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_bucket() {
        let start = Instant::now();
        let mut t = Throttle::new(1000, start);
        let later = start + Duration::from_secs(60);
        assert_eq!(t.consume(250, later), Duration::ZERO);
        let wait = t.consume(250, later);
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-6, "{wait:?}");
    }

    proptest! {
        #[test]
        fn average_rate_stays_under_the_limit(rate in 1u64..1_000_000, reads in proptest::collection::vec(1usize..10_000, 1..50)) {
            let capacity = (rate / BUCKET_DIVISOR).max(1) as f64;
            let total: usize = reads.iter().sum();
            let took = simulate(rate, &reads).as_secs_f64();
            // Everything beyond the first bucket is paid for in time.
            prop_assert!(took + 1e-6 >= (total as f64 - capacity) / rate as f64);
        }
    }
}
