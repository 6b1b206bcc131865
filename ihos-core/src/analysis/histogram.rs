//! [`Histogram`]: request times counted per millisecond.
//!
//! nginx logs `$request_time` and `$upstream_response_time` with a millisecond resolution,
//! so a count per millisecond loses nothing: quantiles and the rank test are exact, and the
//! memory depends on the spread of the times (at most a minute's worth of counters plus the
//! distinct slower ones), never on the number of requests.

use std::collections::BTreeMap;

/// The longest time counted as itself (about 31 years).
const MAX_MS: u64 = 1 << 40;

/// Times below this many milliseconds are counted in a flat array.
const DENSE_MS: u64 = 60_000;

/// Counts of request times in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    dense: Vec<u64>,
    sparse: BTreeMap<u64, u64>,
    total: u64,
}

impl Histogram {
    /// Counts one time.
    pub fn add(&mut self, ms: u64) {
        self.add_n(ms, 1);
    }

    /// Counts `n` requests of `ms` milliseconds.
    pub fn add_n(&mut self, ms: u64, n: u64) {
        if n == 0 {
            return;
        }
        // Longer than 30 years is a wrong time, counted as that (the tests' arithmetic
        // on differences stays far from overflowing).
        let ms = ms.min(MAX_MS);
        if ms < DENSE_MS {
            let i = ms as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, 0);
            }
            self.dense[i] += n;
        } else {
            *self.sparse.entry(ms).or_default() += n;
        }
        self.total += n;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (ms, n) in other.iter() {
            self.add_n(ms, n);
        }
    }

    /// How many times were counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// (time, count) for each time counted at least once, fastest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(ms, &n)| (ms as u64, n))
            .chain(self.sparse.iter().map(|(&ms, &n)| (ms, n)))
    }

    /// The `q` quantile (0 < q <= 1) by the nearest-rank method: the smallest time that at
    /// least `ceil(q * count)` requests did not exceed. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (ms, n) in self.iter() {
            seen += n;
            if seen >= rank {
                return Some(ms);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank_across_the_dense_and_sparse_parts() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.add(ms);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.95), Some(95));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        h.add_n(90_000, 100);
        assert_eq!(h.count(), 200);
        assert_eq!(h.quantile(0.5), Some(100));
        assert_eq!(h.quantile(0.51), Some(90_000));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merged_counts_add_up() {
        let mut a = Histogram::default();
        a.add(3);
        a.add(70_000);
        let mut b = Histogram::default();
        b.add(3);
        b.merge(&a);
        assert_eq!(b.iter().collect::<Vec<_>>(), [(3, 2), (70_000, 1)]);
    }
}
