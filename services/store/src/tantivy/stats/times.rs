//! Response times counted per DDSketch key (bin) instead of added to a
//! sketch one by one: the key of a value kept to 0.1 ms comes from a table,
//! so a stats request takes no logarithm per record. Both stores' stats
//! collectors count through [`Times`].

use sketches_ddsketch::{Config, DDSketch};

use super::partial;

/// Slots of [`Keys`], log2.
const KEY_SLOTS_LOG2: u32 = 12;
/// Values `n / 10` for `n` below this have their key in [`TENTHS`].
const TENTHS_LEN: usize = 1 << 16;

/// `n as f64 / 10.0` and its `Config::key` for every `n` below
/// [`TENTHS_LEN`] (key 0 for `n` = 0, which is not binned): response times
/// are kept to 0.1 ms, so most come out as exactly such a value, and the
/// table's value tells without a division whether one does. Built once per
/// process (a few ms).
static TENTHS: std::sync::LazyLock<Box<[(f64, i32)]>> = std::sync::LazyLock::new(|| {
    let config = Config::defaults();
    (0..TENTHS_LEN)
        .map(|n| {
            let v = n as f64 / 10.0;
            (v, if v > config.min_possible() { config.key(v) } else { 0 })
        })
        .collect()
});

/// The sketch's key (bin) of a value: from [`TENTHS`] when the value is a
/// tenth there, else remembered for recent values in a direct-mapped table
/// (the key is a logarithm).
pub(crate) struct Keys {
    pub(crate) config: Config,
    tenths: &'static [(f64, i32)],
    /// Value bits and key; bits 0 (the value 0.0, never binned) is empty.
    /// Allocated at the first value that is not a tenth in [`TENTHS`]: a
    /// block's values rarely need it.
    slots: Vec<(u64, i32)>,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        Keys { config: Config::defaults(), tenths: &TENTHS, slots: Vec::new() }
    }

    /// Whether the sketch bins `v` by key (else it counts it apart: zero,
    /// negative, NaN).
    #[inline]
    pub(crate) fn binned(&self, v: f64) -> bool {
        v > self.config.min_possible()
    }

    /// `Config::key(v)`, for a binned `v`.
    #[inline]
    fn key(&mut self, v: f64) -> i32 {
        let tenths = v * 10.0;
        if tenths < TENTHS_LEN as f64 {
            // Rounded to the nearest; the key is only taken when `v` is
            // exactly the value the table's entry was computed for.
            let n = (tenths + 0.5) as usize;
            if let Some(&(value, key)) = self.tenths.get(n)
                && value == v
            {
                return key;
            }
        }
        if self.slots.is_empty() {
            self.slots = vec![(0, 0); 1 << KEY_SLOTS_LOG2];
        }
        let bits = v.to_bits();
        let slot = (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - KEY_SLOTS_LOG2)) as usize;
        let entry = &mut self.slots[slot];
        if entry.0 != bits {
            *entry = (bits, self.config.key(v));
        }
        entry.1
    }
}

/// One service's response times in one segment, counted per sketch key:
/// the sketch [`Times::into_sketch`] builds has the bins, count, minimum
/// and maximum of one fed every value, so the same percentiles, without a
/// logarithm per record.
#[derive(Clone)]
pub(crate) struct Times {
    pub(crate) count: u64,
    /// The key of `bins[0]`.
    base: i32,
    bins: Vec<u64>,
    min: f64,
    max: f64,
    /// The values the sketch does not bin by key, added as they came.
    unbinned: Option<DDSketch>,
}

impl Times {
    pub(crate) fn new() -> Times {
        Times {
            count: 0,
            base: 0,
            bins: Vec::new(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            unbinned: None,
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, keys: &mut Keys, v: f64) {
        self.count += 1;
        if !keys.binned(v) {
            self.unbinned.get_or_insert_with(partial::sketch).add(v);
            return;
        }
        let key = keys.key(v);
        if self.bins.is_empty() {
            self.base = key;
        } else if key < self.base {
            let grow = (self.base - key) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.base = key;
        }
        let i = (key - self.base) as usize;
        if i >= self.bins.len() {
            self.bins.resize(i + 1, 0);
        }
        self.bins[i] += 1;
        // `v` is binned, so not NaN: plain comparisons suffice.
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
    }

    /// The binned values: the key of the first bin, the counts from there
    /// on, the least and the greatest value; `None` when none is binned.
    pub(crate) fn binned(&self) -> Option<(i32, &[u64], f64, f64)> {
        (!self.bins.is_empty()).then_some((self.base, &self.bins[..], self.min, self.max))
    }

    /// Times of binned values only, from what [`Times::binned`] gave
    /// (`bins` not empty, its counts from the key `base` on).
    pub(crate) fn from_bins(base: i32, bins: Vec<u64>, min: f64, max: f64) -> Times {
        Times { count: bins.iter().sum(), base, bins, min, max, unbinned: None }
    }

    /// Adds `other`'s values to these.
    pub(crate) fn merge(&mut self, other: &Times) {
        self.count += other.count;
        match (&mut self.unbinned, &other.unbinned) {
            (Some(mine), Some(theirs)) => {
                mine.merge(theirs).expect("every sketch has the default config");
            }
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            (_, None) => {}
        }
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() {
            self.base = other.base;
        } else if other.base < self.base {
            let grow = (self.base - other.base) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.base = other.base;
        }
        let at = (other.base - self.base) as usize;
        if self.bins.len() < at + other.bins.len() {
            self.bins.resize(at + other.bins.len(), 0);
        }
        for (mine, theirs) in self.bins[at..].iter_mut().zip(&other.bins) {
            *mine += theirs;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Estimated heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        let unbinned = self.unbinned.as_ref().map_or(0, |s| 256 + 8 * s.length());
        64 + 8 * self.bins.len() + unbinned
    }

    /// The sketch of the values: each bin's count at the bin's own value
    /// (whose key is the bin's), except in the lowest and highest bins,
    /// whose values are counted at the minimum and maximum (same keys), so
    /// the sketch's minimum and maximum are the values' own. (Counting
    /// those bins at their own value could put the sketch's maximum above
    /// the largest value; the percentiles asked for read only the bins.)
    pub(crate) fn into_sketch(self, config: &Config) -> DDSketch {
        let mut s = self.unbinned.unwrap_or_else(partial::sketch);
        if self.bins.is_empty() {
            return s;
        }
        let (lo, hi) = (config.key(self.min), config.key(self.max));
        for (i, n) in self.bins.iter().enumerate().filter(|(_, n)| **n > 0) {
            let key = self.base + i as i32;
            let mut n = *n;
            if key == lo && key != hi {
                s.add_with_count(self.min, n);
                continue;
            }
            if key == lo {
                s.add(self.min);
                n -= 1;
            }
            let v = if key == hi { self.max } else { config.value(key) };
            s.add_with_count(v, n);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bins_own_value_has_the_bins_key() {
        let config = Config::defaults();
        // From the smallest binned value (1e-9) to the largest f64.
        for key in -1_100..36_000 {
            let v = config.value(key);
            if v.is_finite() && v > config.min_possible() {
                assert_eq!(config.key(v), key, "{v}");
            }
        }
    }

    #[test]
    fn keys_from_the_table_are_the_sketchs_keys() {
        let mut keys = Keys::new();
        let config = Config::defaults();
        let near = |v: f64| [v, f64::from_bits(v.to_bits() - 1), f64::from_bits(v.to_bits() + 1)];
        for n in 1..TENTHS_LEN as u64 + 50 {
            let tenth = n as f64 / 10.0;
            for v in near(tenth).into_iter().chain([tenth + 0.05, n as f64 * 0.1]) {
                assert_eq!(keys.key(v), config.key(v), "{v}");
            }
        }
        for v in [1e-9 * 1.5, 1e-6, 0.05, 0.049_999, 1e15, 1e300] {
            assert_eq!(keys.key(v), config.key(v), "{v}");
        }
    }

    #[test]
    fn binned_times_make_the_sketch_of_their_values() {
        let values: Vec<f64> = (0..5_000)
            .map(|i| match i % 50 {
                0 => 0.0,
                1 => 1e-12,
                _ => f64::from((i * 7_919) % 40_000) / 10.0 + 0.05,
            })
            .chain([1e-6, 123_456.7, 3.0])
            .collect();
        let mut keys = Keys::new();
        let mut times = Times::new();
        let mut direct = partial::sketch();
        for v in &values {
            times.add(&mut keys, *v);
            direct.add(*v);
        }
        assert_eq!(times.count, values.len() as u64);
        let binned = times.into_sketch(&keys.config);
        assert_eq!(binned.count(), direct.count());
        assert_eq!((binned.min(), binned.max()), (direct.min(), direct.max()));
        for q in [0.0, 0.01, 0.02, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(binned.quantile(q).unwrap(), direct.quantile(q).unwrap(), "{q}");
        }
    }

    #[test]
    fn merged_times_make_the_sketch_of_all_their_values() {
        // Parts with bins below, above and across each other's, one empty,
        // one with only values the sketch does not bin.
        let parts: Vec<Vec<f64>> = vec![
            (1..400).map(|i| f64::from(i) / 10.0 + 1_000.0).collect(),
            (1..400).map(|i| f64::from(i) * 0.7).collect(),
            Vec::new(),
            vec![0.0, -3.0],
            (1..4_000).map(|i| f64::from(i * 37 % 20_000) / 10.0).collect(),
        ];
        let mut keys = Keys::new();
        let mut merged = Times::new();
        let mut direct = partial::sketch();
        for part in &parts {
            let mut times = Times::new();
            for v in part {
                times.add(&mut keys, *v);
                direct.add(*v);
            }
            merged.merge(&times);
        }
        assert_eq!(merged.count, direct.count() as u64);
        let sketch = merged.into_sketch(&keys.config);
        assert_eq!((sketch.min(), sketch.max()), (direct.min(), direct.max()));
        for q in [0.0, 0.01, 0.3, 0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(sketch.quantile(q).unwrap(), direct.quantile(q).unwrap(), "{q}");
        }
    }
}
