//! Running independent compression attempts on several cores.
//!
//! This module owns the one threading rule of `create`: a search over settings runs its
//! attempts on up to `available_parallelism` scoped threads and returns their results in the
//! order of the settings, so the choice made from them (the first smallest) is the one a
//! sequential search makes: the patch does not depend on the machine. It must never run more
//! attempts at once than there are cores (each holds its own encoder state).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` applied to every item, in the items' order, on up to as many threads as cores.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    // A poisoned lock means another attempt panicked: scope re-raises that panic.
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(r);
                    }
                }
            });
        }
    });
    // Every index below items.len() was taken by exactly one thread and filled.
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_of_the_items() {
        let items: Vec<u64> = (0..37).collect();
        let out = super::map(&items, |&x| {
            // Uneven work, so threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((37 - x) * 50));
            x * x
        });
        assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u8], |_| 0).is_empty());
    }
}
