//! When an embedded store's indexer commits: both the Tantivy store's and
//! the hybrid's indexer thread ask a [`RefreshClock`].
//!
//! - **Adaptive refresh** ([`adapt_interval`]): the short interval
//!   (`min_refresh_interval_ms`) while commits carry few records, the long
//!   one (`refresh_interval_ms`) once they would carry many.
//! - **The deadline** ([`RefreshClock::deadline`]): the interval after the
//!   last commit, or earlier, so that the oldest waiting record is
//!   searchable within the interval of its acknowledgement given what
//!   recent commits cost; never sooner than half an interval after the last
//!   commit ended.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::debug;

/// How many commit costs the deadline remembers.
const RECENT_COMMITS: usize = 8;
/// Adaptive refresh ([`adapt_interval`]): the load counts as heavy once a
/// commit at the short interval would carry this many records (20,000
/// records/s at 250 ms), and as light again at or below
/// [`LIGHT_COMMIT_RECORDS`]. Small segments are what made a fixed short
/// interval cost about a fifth more CPU at full rate (docs/storage.md);
/// below a few thousand records a commit is tens of ms and the rate is a
/// small share of what the store can take.
const HEAVY_COMMIT_RECORDS: f64 = 5_000.0;
/// See [`HEAVY_COMMIT_RECORDS`]; half of it, so that the interval does not
/// flap around one threshold.
const LIGHT_COMMIT_RECORDS: f64 = 2_500.0;

/// An indexer's commit schedule; see the module docs.
#[derive(Debug)]
pub(crate) struct RefreshClock {
    /// The interval while the load is light; zero, or at least `long`,
    /// turns adaptation off.
    short: Duration,
    /// The longest time between an add and its commit.
    long: Duration,
    /// The interval in force, between `short` and `long`.
    interval: Duration,
    /// When the last commit started.
    last_commit: Instant,
    /// When the oldest record not yet committed was acknowledged.
    oldest_waiting: Option<Instant>,
    /// How long the last few commits took, newest last.
    recent_costs: VecDeque<Duration>,
}

impl RefreshClock {
    /// A clock between intervals `short` and `long`, light until a commit
    /// says otherwise (no records yet): the first commit under full load
    /// comes a short interval in and switches to the long one.
    pub fn new(short: Duration, long: Duration) -> RefreshClock {
        RefreshClock {
            short,
            long,
            interval: adapt_interval(short, short, long, 0, Duration::ZERO),
            last_commit: Instant::now(),
            oldest_waiting: None,
            recent_costs: VecDeque::with_capacity(RECENT_COMMITS),
        }
    }

    /// Records acknowledged at `acked` wait for a commit.
    pub fn waiting(&mut self, acked: Instant) {
        self.oldest_waiting.get_or_insert(acked);
    }

    /// A commit starts now; the time since the previous one started.
    /// Nothing waits any more.
    pub fn start(&mut self) -> (Instant, Duration) {
        let started = Instant::now();
        let span = started.saturating_duration_since(self.last_commit);
        self.last_commit = started;
        self.oldest_waiting = None;
        (started, span)
    }

    /// The commit begun at `started`, `span` after the one before, carried
    /// `records` and is done: its cost is remembered and the interval
    /// adapted. Returns the cost.
    pub fn done(&mut self, started: Instant, span: Duration, records: usize) -> Duration {
        let cost = started.elapsed();
        if self.recent_costs.len() == RECENT_COMMITS {
            self.recent_costs.pop_front();
        }
        self.recent_costs.push_back(cost);
        let interval = adapt_interval(self.interval, self.short, self.long, records, span);
        if interval != self.interval {
            debug!(records, ?span, ?interval, "refresh interval adapted to the load");
            self.interval = interval;
        }
        cost
    }

    /// When the next commit is due once something waits: the interval in
    /// force after the last one (so right away after a quiet spell), or
    /// early enough that the oldest waiting record is searchable within
    /// that interval of being acknowledged, given what recent commits took.
    /// `None`: never (an interval too long for `Instant` turns background
    /// commits off).
    pub fn deadline(&self) -> Option<Instant> {
        let by_interval = self.last_commit.checked_add(self.interval)?;
        // Commit cost varies a lot from one commit to the next (100-700 ms
        // for 20-40k records in issue 6's benchmark): plan for the slowest
        // recent one, with room to spare.
        let slowest = self.recent_costs.iter().max().copied().unwrap_or_default();
        let margin = (slowest * 5 / 4 + Duration::from_millis(100)).min(self.interval / 2);
        let by_age = self.oldest_waiting.and_then(|t| t.checked_add(self.interval - margin));
        let due = by_age.map_or(by_interval, |a| a.min(by_interval));
        // But never sooner than half an interval after the last commit
        // ended: records acknowledged during a slow commit are already late
        // when it ends, and committing each small group at once then made
        // a storm of tiny commits and segments that halved the indexing
        // rate (issue 6's benchmark: 40 commits of mostly 4,000 records in
        // 21 s). A third of an interval instead cost about a third of the
        // ingest rate at full load.
        let last_cost = self.recent_costs.back().copied().unwrap_or_default();
        let earliest = (self.last_commit + last_cost).checked_add(self.interval / 2)?;
        Some(due.max(earliest))
    }
}

/// Adaptive refresh: the interval after a commit that carried `records`
/// added over `span` (from the previous commit's start to this one's).
/// `short` while a commit at `short` would carry at most
/// [`LIGHT_COMMIT_RECORDS`] at that rate, `long` once it would carry
/// [`HEAVY_COMMIT_RECORDS`] or more, and `current` in between, so it does
/// not flap (hysteresis). Few records waiting means a commit is cheap and
/// the short interval buys time-to-search; many means small segments would
/// cost ingest CPU, and the long interval still keeps records searchable
/// within it. A zero `short`, or `short >= long`, turns adaptation off:
/// always `long`.
pub(crate) fn adapt_interval(
    current: Duration,
    short: Duration,
    long: Duration,
    records: usize,
    span: Duration,
) -> Duration {
    if short.is_zero() || short >= long {
        return long;
    }
    // A commit right after another (a flush, a replay checkpoint) has a
    // span near zero: count it as at least a millisecond, i.e. heavy.
    let per_short = records as f64 * short.as_secs_f64() / span.as_secs_f64().max(1e-3);
    if per_short >= HEAVY_COMMIT_RECORDS {
        long
    } else if per_short <= LIGHT_COMMIT_RECORDS {
        short
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(250);
    const LONG: Duration = Duration::from_millis(1000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn light_load_takes_the_short_interval() {
        // 5,000 records/s: 750 records over 150 ms, 1,250 per short commit.
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 750, ms(150)), SHORT);
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 750, ms(150)), SHORT);
        // After a quiet spell, and a commit with nothing in it.
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 10, ms(60_000)), SHORT);
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 0, ms(1)), SHORT);
    }

    #[test]
    fn heavy_load_takes_the_long_interval() {
        // 100,000 records/s, whichever interval was in force.
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 25_000, ms(250)), LONG);
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 100_000, ms(1000)), LONG);
        // Exactly the threshold: 20,000 records/s at 250 ms.
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 20_000, ms(1000)), LONG);
        // A flush right after a commit: no span to speak of.
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 4_000, Duration::ZERO), LONG);
    }

    #[test]
    fn between_the_thresholds_the_interval_stays() {
        // 15,000 records/s: 3,750 per short commit, inside the band.
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 15_000, ms(1000)), SHORT);
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 15_000, ms(1000)), LONG);
        // Just past either edge it moves.
        assert_eq!(adapt_interval(LONG, SHORT, LONG, 9_999, ms(1000)), SHORT);
        assert_eq!(adapt_interval(SHORT, SHORT, LONG, 20_001, ms(1000)), LONG);
    }

    #[test]
    fn a_short_interval_at_or_above_the_long_one_turns_adaptation_off() {
        assert_eq!(adapt_interval(LONG, LONG, LONG, 0, ms(60_000)), LONG);
        assert_eq!(adapt_interval(LONG, ms(5000), LONG, 0, ms(60_000)), LONG);
        assert_eq!(adapt_interval(SHORT, ms(5000), LONG, 0, ms(60_000)), LONG);
        assert_eq!(adapt_interval(SHORT, Duration::ZERO, LONG, 0, ms(60_000)), LONG);
    }

    #[test]
    fn the_thresholds_scale_with_the_short_interval() {
        // 15,000 records/s is heavy for a 500 ms short interval (7,500
        // per commit) and light for 100 ms (1,500).
        assert_eq!(adapt_interval(ms(100), ms(500), ms(2000), 15_000, ms(1000)), ms(2000));
        assert_eq!(adapt_interval(ms(2000), ms(100), ms(2000), 15_000, ms(1000)), ms(100));
    }

    /// A clock whose last commit started at `t0` and cost `cost`, with
    /// adaptation off (always `long`).
    fn clock_at(t0: Instant, long: Duration, cost: Duration) -> RefreshClock {
        let mut clock = RefreshClock::new(Duration::ZERO, long);
        clock.last_commit = t0;
        clock.recent_costs.push_back(cost);
        clock
    }

    #[test]
    fn with_nothing_old_waiting_the_commit_is_an_interval_after_the_last() {
        let clock = RefreshClock::new(ms(400), LONG);
        assert_eq!(clock.deadline(), Some(clock.last_commit + ms(400)));
        let t0 = Instant::now();
        let mut clock = clock_at(t0, LONG, ms(200));
        assert_eq!(clock.deadline(), Some(t0 + LONG));
        // A record acknowledged late in the interval does not move it.
        clock.waiting(t0 + ms(600));
        assert_eq!(clock.deadline(), Some(t0 + LONG));
    }

    #[test]
    fn an_older_waiting_record_brings_the_commit_forward() {
        let t0 = Instant::now();
        let mut clock = clock_at(t0, LONG, ms(200));
        // The margin is 200 * 5/4 + 100 = 350 ms: searchable within the
        // interval of its acknowledgement, at t0 + 100 + 1000.
        clock.waiting(t0 + ms(100));
        // A later record does not replace the oldest.
        clock.waiting(t0 + ms(300));
        assert_eq!(clock.deadline(), Some(t0 + ms(750)));
    }

    #[test]
    fn never_sooner_than_half_an_interval_after_the_last_commit_ended() {
        let t0 = Instant::now();
        let mut clock = clock_at(t0, LONG, ms(200));
        // Acknowledged before the commit started (it waited through it).
        clock.waiting(t0.checked_sub(ms(500)).unwrap());
        assert_eq!(clock.deadline(), Some(t0 + ms(200) + ms(500)));
    }

    #[test]
    fn a_commit_forgets_the_waiting_records_and_adapts_the_interval() {
        let mut clock = RefreshClock::new(SHORT, LONG);
        assert_eq!(clock.interval, SHORT);
        clock.waiting(Instant::now());
        let (started, _) = clock.start();
        assert_eq!(clock.oldest_waiting, None);
        // 25,000 records over a 250 ms span: heavy.
        clock.done(started, ms(250), 25_000);
        assert_eq!(clock.interval, LONG);
        assert_eq!(clock.recent_costs.len(), 1);
        for _ in 0..20 {
            let (started, _) = clock.start();
            clock.done(started, ms(60_000), 10);
        }
        assert_eq!(clock.interval, SHORT);
        assert_eq!(clock.recent_costs.len(), RECENT_COMMITS);
    }
}
