// Written by scripts/lib/analysis-reference.py with scipy 1.17.1; do not edit.

/// (canary errors, canary requests, fleet errors, fleet requests, p-value)
const FISHER_REFERENCE: &[(u64, u64, u64, u64, f64)] = &[
    (0, 200, 0, 2000, 1.0),
    (1, 200, 0, 2000, 0.09090909090909091),
    (3, 200, 0, 2000, 0.0007410929196454175),
    (10, 200, 2, 2000, 1.7533319345947622e-09),
    (2, 200, 20, 2000, 0.6081893784055532),
    (5, 250, 40, 4000, 0.12217790348198584),
    (12, 240, 10, 9000, 3.6870411891044564e-14),
    (1, 1, 0, 1, 0.5),
    (7, 10, 3, 10, 0.0894477039987876),
    (500, 100000, 4000, 900000, 0.0074774787033967125),
    (600, 100000, 4000, 900000, 1.9824479282845657e-11),
    (30, 1000, 200, 10000, 0.02762610976241283),
];

/// (seed, canary n, offset, spread, fleet n, offset, spread, U, p-value)
type MannWhitneyCase = (u64, usize, u64, u64, usize, u64, u64, f64, f64);
const MANN_WHITNEY_REFERENCE: &[MannWhitneyCase] = &[
    (1, 20, 0, 50, 30, 0, 50, 310.5, 0.42142342259001747),
    (2, 200, 300, 200, 2000, 0, 200, 400000.0, 6.907389631931037e-121),
    (3, 200, 0, 3, 2000, 0, 3, 198280.0, 0.5843874524959444),
    (4, 250, 5, 100, 4000, 0, 100, 545065.5, 0.008322434493112341),
    (5, 300, 0, 1000, 3000, 0, 1000, 440520.5, 0.7265785345339675),
    (6, 8, 10, 5, 9, 12, 5, 14.0, 0.9866015256361463),
    (7, 500, 1, 2, 500, 0, 2, 219134.0, 1.2803596672688478e-111),
];

/// The same samples as the script's `lcg_sample`.
fn lcg_sample(seed: u64, n: usize, offset: u64, spread: u64) -> Vec<u64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            offset + (state >> 33) % spread
        })
        .collect()
}

fn mann_whitney_reference() -> Vec<(Vec<u64>, Vec<u64>, f64, f64)> {
    MANN_WHITNEY_REFERENCE
        .iter()
        .map(|&(seed, n1, o1, s1, n2, o2, s2, u, p)| {
            (lcg_sample(seed, n1, o1, s1), lcg_sample(seed + 1000, n2, o2, s2), u, p)
        })
        .collect()
}
