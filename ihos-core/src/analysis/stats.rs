//! The two tests behind a verdict, one-sided (is the canary worse?):
//!
//! - error rates: Fisher's exact test on the 2x2 table (canary errors, canary others; fleet
//!   errors, fleet others), `alternative="greater"` in scipy's terms: the hypergeometric
//!   probability of at least this many canary errors given the totals;
//! - times: the Mann-Whitney U test (Kayenta's choice), canary against fleet,
//!   `alternative="greater"`, the normal approximation with the tie correction and the
//!   continuity correction (scipy's `method="asymptotic"`, `use_continuity=True`); exact
//!   over [`Histogram`]s, whatever the number of requests. Its effect size is the
//!   Hodges-Lehmann shift: the median of the differences between a canary time and a fleet
//!   time over all pairs.
//!
//! Reference values in the tests were computed with scipy (`scripts/lib/
//! analysis-reference.py` prints them); nothing here needs Python.

use super::histogram::Histogram;

/// Fisher's exact test, one-sided: the probability of `canary_errors` or more errors among
/// the canary's `canary_total` requests if errors were spread over all requests at random.
pub fn fisher_greater(
    canary_errors: u64,
    canary_total: u64,
    fleet_errors: u64,
    fleet_total: u64,
) -> f64 {
    let a = canary_errors.min(canary_total);
    let n1 = canary_total;
    let all = canary_total + fleet_total;
    let errors = a + fleet_errors.min(fleet_total);
    // Support of the number of canary errors given the margins.
    let lo = n1.saturating_sub(all - errors);
    let hi = n1.min(errors);
    if a <= lo {
        return 1.0;
    }
    let ln_pmf =
        |k: u64| ln_choose(errors, k) + ln_choose(all - errors, n1 - k) - ln_choose(all, n1);
    // Ratio pmf(k+1)/pmf(k); summing from the far side of the mode keeps every term
    // smaller than the one before, so the sum stops as soon as a term no longer counts.
    // (all - errors + k >= n1 for every k of the support: no underflow.)
    let up = |k: u64| {
        ((errors - k) as f64 * (n1 - k) as f64)
            / ((k + 1) as f64 * (all - errors + k + 1 - n1) as f64)
    };
    let mode = ((n1 + 1) as f64 * (errors + 1) as f64 / (all + 2) as f64).floor() as u64;
    if a > mode {
        let mut term = ln_pmf(a).exp();
        let mut sum = term;
        let mut k = a;
        while k < hi && term > sum * 1e-17 {
            term *= up(k);
            k += 1;
            sum += term;
        }
        sum.min(1.0)
    } else {
        // 1 - P(X <= a - 1), summed downwards from a - 1.
        let mut k = a - 1;
        let mut term = ln_pmf(k).exp();
        let mut sum = term;
        while k > lo && term > sum * 1e-17 {
            term /= up(k - 1);
            k -= 1;
            sum += term;
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// ln(n choose k).
fn ln_choose(n: u64, k: u64) -> f64 {
    let ln_fact = |x: u64| libm::lgamma(x as f64 + 1.0);
    ln_fact(n) - ln_fact(k) - ln_fact(n - k)
}

/// The Mann-Whitney U test, one-sided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// The canary's U statistic.
    pub u: f64,
    /// The probability of a U this large or larger if the canary's times came from the same
    /// distribution as the fleet's.
    pub p_value: f64,
}

/// Whether `canary`'s times tend to be larger than `fleet`'s.
pub fn mann_whitney_greater(canary: &Histogram, fleet: &Histogram) -> Option<MannWhitney> {
    let (n1, n2) = (canary.count(), fleet.count());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    // Ranks doubled, so that a tie's average rank stays an integer.
    let mut twice_r1: u128 = 0;
    let mut ties: f64 = 0.0;
    let mut next_rank: u128 = 1;
    for (c, f) in merged(canary, fleet) {
        let t = u128::from(c + f);
        twice_r1 += u128::from(c) * (2 * next_rank + t - 1);
        let tf = t as f64;
        ties += tf * tf * tf - tf;
        next_rank += t;
    }
    let (n1w, n2w) = (u128::from(n1), u128::from(n2));
    let twice_u = twice_r1 as i128 - (n1w * (n1w + 1)) as i128;
    let u = twice_u as f64 / 2.0;
    let n = (n1 + n2) as f64;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let var = n1f * n2f / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        // Every time the same: nothing tells the two apart.
        return Some(MannWhitney { u, p_value: 1.0 });
    }
    // (U - mu - 1/2) in halves, exact, then as a float.
    let numerator = (twice_u - (n1w * n2w) as i128 - 1) as f64 / 2.0;
    let z = numerator / var.sqrt();
    Some(MannWhitney {
        u,
        p_value: 0.5 * libm::erfc(z / std::f64::consts::SQRT_2),
    })
}

/// (canary count, fleet count) at each time either side has, fastest first.
fn merged<'a>(a: &'a Histogram, b: &'a Histogram) -> impl Iterator<Item = (u64, u64)> + 'a {
    let mut ia = a.iter().peekable();
    let mut ib = b.iter().peekable();
    std::iter::from_fn(move || match (ia.peek().copied(), ib.peek().copied()) {
        (Some((ta, ca)), Some((tb, cb))) => Some(if ta == tb {
            ia.next();
            ib.next();
            (ca, cb)
        } else if ta < tb {
            ia.next();
            (ca, 0)
        } else {
            ib.next();
            (0, cb)
        }),
        (Some((_, ca)), None) => {
            ia.next();
            Some((ca, 0))
        }
        (None, Some((_, cb))) => {
            ib.next();
            Some((0, cb))
        }
        (None, None) => None,
    })
}

/// The Hodges-Lehmann shift in milliseconds: the (lower) median of `c - f` over every pair
/// of a canary time `c` and a fleet time `f`; positive when the canary is slower. Found by
/// bisection on the shift, each step counting pairs in one pass over both histograms.
pub fn hodges_lehmann(canary: &Histogram, fleet: &Histogram) -> Option<i64> {
    let c: Vec<(i64, u64)> = canary.iter().map(|(t, n)| (t as i64, n)).collect();
    let f: Vec<(i64, u64)> = fleet.iter().map(|(t, n)| (t as i64, n)).collect();
    let (&(c_min, _), &(c_max, _)) = (c.first()?, c.last()?);
    let (&(f_min, _), &(f_max, _)) = (f.first()?, f.last()?);
    let pairs = u128::from(canary.count()) * u128::from(fleet.count());
    let rank = pairs.div_ceil(2);
    // Pairs with c - f <= d: for each canary time, the fleet times >= c - d.
    let at_most = |d: i64| -> u128 {
        let mut j = 0;
        let mut below: u64 = 0;
        let mut total: u128 = 0;
        for &(ct, cn) in &c {
            while j < f.len() && f[j].0 < ct - d {
                below += f[j].1;
                j += 1;
            }
            total += u128::from(cn) * u128::from(fleet.count() - below);
        }
        total
    };
    let (mut lo, mut hi) = (c_min - f_max, c_max - f_min);
    while lo < hi {
        let mid = lo + (hi - lo).div_euclid(2);
        if at_most(mid) >= rank {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(times: &[u64]) -> Histogram {
        let mut h = Histogram::default();
        for &t in times {
            h.add(t);
        }
        h
    }

    fn close(got: f64, want: f64) {
        let tol = 1e-9_f64.max(want.abs() * 1e-6);
        assert!((got - want).abs() <= tol, "got {got:e}, want {want:e}");
    }

    // scipy.stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
    // (printed by scripts/lib/analysis-reference.py).
    #[test]
    fn fisher_matches_scipy() {
        for &(a, n1, c, n2, want) in FISHER_REFERENCE {
            close(fisher_greater(a, n1, c, n2), want);
        }
    }

    // scipy.stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    #[test]
    fn mann_whitney_matches_scipy() {
        for (x, y, u, p) in mann_whitney_reference() {
            let got = mann_whitney_greater(&hist(&x), &hist(&y)).unwrap();
            close(got.u, u);
            close(got.p_value, p);
        }
    }

    #[test]
    fn hodges_lehmann_is_the_median_pairwise_difference() {
        // Brute force on small samples.
        let samples: [(&[u64], &[u64]); 4] = [
            (&[5, 6, 7], &[1, 2, 3]),
            (&[300, 301, 305, 310], &[1, 2, 2, 9, 200]),
            (&[1, 1, 1], &[1, 1]),
            (&[0, 10], &[5]),
        ];
        for (x, y) in samples {
            let mut diffs: Vec<i64> = x
                .iter()
                .flat_map(|&a| y.iter().map(move |&b| a as i64 - b as i64))
                .collect();
            diffs.sort_unstable();
            let want = diffs[diffs.len().div_ceil(2) - 1];
            assert_eq!(
                hodges_lehmann(&hist(x), &hist(y)),
                Some(want),
                "{x:?} {y:?}"
            );
        }
        assert_eq!(hodges_lehmann(&hist(&[]), &hist(&[1])), None);
    }

    #[test]
    fn degenerate_inputs_give_no_evidence() {
        assert_eq!(fisher_greater(0, 100, 0, 100), 1.0);
        assert_eq!(fisher_greater(0, 0, 5, 100), 1.0);
        let same = mann_whitney_greater(&hist(&[3, 3]), &hist(&[3, 3, 3])).unwrap();
        assert_eq!(same.p_value, 1.0);
        assert!(mann_whitney_greater(&hist(&[]), &hist(&[1])).is_none());
        // Millions of requests: no overflow, a tiny p-value.
        let p = fisher_greater(50_000, 1_000_000, 10_000, 9_000_000);
        assert!((0.0..1e-300).contains(&p) || p == 0.0, "{p}");
    }

    include!("stats_reference.rs");
}
