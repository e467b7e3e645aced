//! Failed attempts per client address: a small bounded map of fixed
//! windows, so an attacker sending from many addresses cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Limits;

/// Counts failed attempts per address in fixed windows.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: Limits,
    // `None` is "address unknown"; such callers share one budget.
    windows: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl FailureLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> FailureLimiter {
        FailureLimiter { limits, windows: Mutex::new(HashMap::new()) }
    }

    /// How long `peer` must wait, when it used up its failed attempts.
    pub fn blocked(&self, peer: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let windows = self.windows.lock();
        let (start, count) = windows.get(&peer)?;
        let ends = *start + self.limits.window;
        (*count >= self.limits.max_failures && now < ends).then(|| ends - now)
    }

    /// Counts one failed attempt of `peer`.
    pub fn record_failure(&self, peer: Option<IpAddr>) {
        let now = Instant::now();
        let window = self.limits.window;
        let mut windows = self.windows.lock();
        if !windows.contains_key(&peer) && windows.len() >= self.limits.max_addresses {
            windows.retain(|_, (start, _)| now < *start + window);
            if windows.len() >= self.limits.max_addresses {
                // Still full of live windows: forget the oldest one rather
                // than grow; its address starts over.
                if let Some(oldest) = windows.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    windows.remove(&oldest);
                }
            }
        }
        let entry = windows.entry(peer).or_insert((now, 0));
        if now >= entry.0 + window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.windows.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_stays_bounded_whatever_addresses_fail() {
        let l = FailureLimiter::new(Limits {
            max_failures: 2,
            window: Duration::from_secs(60),
            max_addresses: 16,
        });
        for i in 0..10_000u32 {
            l.record_failure(Some(IpAddr::from(i.to_be_bytes())));
        }
        assert!(l.tracked() <= 16, "{}", l.tracked());
    }

    #[test]
    fn a_window_ends() {
        let l = FailureLimiter::new(Limits {
            max_failures: 1,
            window: Duration::from_millis(50),
            max_addresses: 16,
        });
        l.record_failure(None);
        assert!(l.blocked(None).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.blocked(None).is_none());
    }
}
