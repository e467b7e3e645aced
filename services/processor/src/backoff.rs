//! The retry delays of dead-lettering and indexing.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};

/// First delay.
const MIN: Duration = Duration::from_millis(100);
/// Longest delay.
pub(crate) const MAX: Duration = Duration::from_secs(10);

/// Capped exponential backoff: 100 ms doubling to 10 s, no jitter, never
/// giving up (the iterator does not end).
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(MIN)
        .with_factor(2.0)
        .with_max_delay(MAX)
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let steps: Vec<u128> = backoff().take(9).map(|d| d.as_millis()).collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }

    #[test]
    fn backoff_never_gives_up() {
        assert_eq!(backoff().nth(10_000), Some(MAX));
    }
}
