//! Hypothesis tests for comparing two samples of measurements.
//!
//! The Mann-Whitney U (Wilcoxon rank-sum) test, used to decide whether patched
//! timings are stochastically different from baseline timings without
//! assuming normality, and the Wilcoxon signed-rank test for paired rounds.
//! Mann-Whitney results follow the conventions of `scipy.stats.mannwhitneyu`:
//! `u` is the statistic of the first sample, and without ties the p-values
//! for `method="exact"` / `method="asymptotic"` (with continuity correction)
//! agree with SciPy's. With ties at up to 50 values per sample the exact
//! permutation distribution is used where SciPy would use the normal
//! approximation, which is too liberal at small n.

use serde::{Deserialize, Serialize};

/// Largest per-sample size for which the exact null distribution is used.
pub const EXACT_MAX_N: usize = 50;

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// The U statistic of sample `a`: the number of pairs `(x in a, y in b)`
    /// with `x > y`, ties counting one half (equivalently `R_a - n_a(n_a+1)/2`
    /// with average ranks).
    pub u: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// One-sided p-value for the alternative "`a` is stochastically greater
    /// than `b`" (large `u`).
    pub p_a_greater: f64,
    /// One-sided p-value for the alternative "`a` is stochastically less than
    /// `b`" (small `u`).
    pub p_a_less: f64,
}

/// Mann-Whitney U test of `a` against `b`.
///
/// Method:
/// - if both `a.len()` and `b.len()` are at most [`EXACT_MAX_N`] (50), the
///   exact permutation distribution of U is used (exact integer counts in
///   `u128` over the `C(n_a + n_b, n_a)` equally likely assignments of the
///   pooled values to the two samples):
///   - without ties, by the classic recurrence over arrangement counts
///     ([`u_distribution_counts`]), as SciPy's `method="exact"`;
///   - with ties, by counting the subsets of the pooled mid-ranks (doubled so
///     they are integers) by their sum ([`tied_rank_sum_counts`]). SciPy
///     falls back to the normal approximation here, which is too liberal at
///     small n: 3 against 3 fully separated with ties in each sample gives
///     p = 0.047 that way, and exactly 2 / C(6, 3) = 0.1 here.
///
///   One-sided p-values are `P(U >= u)` and `P(U <= u)`; the two-sided
///   p-value is twice the smaller tail, capped at 1. Either way the two-sided
///   p-value is at least `2 / C(n_a + n_b, n_a)` ([`min_two_sided_p`]); ties
///   can only raise that floor ([`min_two_sided_p_given`]).
/// - otherwise the normal approximation is used, with the tie-corrected
///   variance `n_a n_b / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))` and a
///   continuity correction of 0.5 (as SciPy's `method="asymptotic"`).
///   If the variance is zero (every value tied) all p-values are 1.
///
/// If either sample is empty, or any value is `NaN`, every field is `NaN`.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> MannWhitney {
    let na = a.len();
    let nb = b.len();
    let nan = MannWhitney {
        u: f64::NAN,
        p_two_sided: f64::NAN,
        p_a_greater: f64::NAN,
        p_a_less: f64::NAN,
    };
    if na == 0 || nb == 0 || a.iter().chain(b).any(|x| x.is_nan()) {
        return nan;
    }

    // Pool, sort, and assign average ranks (kept doubled, so they are integers).
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|p, q| p.0.total_cmp(&q.0));
    let n = pooled.len();
    let mut ranks2 = vec![0usize; n];
    let mut rank2_sum_a = 0usize;
    let mut tie_term = 0.0; // sum over tie groups of t^3 - t
    let mut has_ties = false;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        // Values compare equal with `==` (so -0.0 and 0.0 tie).
        while j < n && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i) as f64;
        if j - i > 1 {
            has_ties = true;
            tie_term += t * t * t - t;
        }
        // Ranks i+1 ..= j, average (i + 1 + j) / 2, doubled: i + 1 + j.
        let r2 = i + 1 + j;
        for (slot, p) in ranks2[i..j].iter_mut().zip(&pooled[i..j]) {
            *slot = r2;
            if p.1 {
                rank2_sum_a += r2;
            }
        }
        i = j;
    }
    let (naf, nbf) = (na as f64, nb as f64);
    let u = rank2_sum_a as f64 / 2.0 - naf * (naf + 1.0) / 2.0;

    if na <= EXACT_MAX_N && nb <= EXACT_MAX_N {
        let (le, ge, total) = if has_ties {
            // Count subsets of the smaller sample's size by doubled rank sum; U of `a` grows
            // with `a`'s rank sum and falls with `b`'s.
            let total2: usize = ranks2.iter().sum();
            let (m, observed, a_side) = if na <= nb {
                (na, rank2_sum_a, true)
            } else {
                (nb, total2 - rank2_sum_a, false)
            };
            let counts = tied_rank_sum_counts(&ranks2, m);
            let total: u128 = counts.iter().sum();
            let below: u128 = counts[..=observed].iter().sum();
            let above: u128 = counts[observed..].iter().sum();
            if a_side {
                (below, above, total)
            } else {
                (above, below, total)
            }
        } else {
            let counts = u_distribution_counts(na, nb);
            let total: u128 = counts.iter().sum();
            // With no ties, u is an integer.
            let ui = u.round() as usize;
            let le: u128 = counts[..=ui].iter().sum();
            let ge: u128 = counts[ui..].iter().sum();
            (le, ge, total)
        };
        let p_less = le as f64 / total as f64;
        let p_greater = ge as f64 / total as f64;
        return MannWhitney {
            u,
            p_two_sided: (2.0 * p_less.min(p_greater)).min(1.0),
            p_a_greater: p_greater,
            p_a_less: p_less,
        };
    }

    let nf = naf + nbf;
    let mu = naf * nbf / 2.0;
    let var = naf * nbf / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return MannWhitney {
            u,
            p_two_sided: 1.0,
            p_a_greater: 1.0,
            p_a_less: 1.0,
        };
    }
    let sd = var.sqrt();
    let u_other = naf * nbf - u;
    let p_greater = normal_sf((u - mu - 0.5) / sd);
    let p_less = normal_sf((u_other - mu - 0.5) / sd);
    let p_two = (2.0 * normal_sf((u.max(u_other) - mu - 0.5) / sd)).min(1.0);
    MannWhitney {
        u,
        p_two_sided: p_two,
        p_a_greater: p_greater,
        p_a_less: p_less,
    }
}

/// Exact null distribution of the Mann-Whitney U statistic for sample sizes
/// `m` and `n` with no ties: element `u` of the result is the number of the
/// `C(m + n, m)` equally likely arrangements whose U (for the first sample)
/// equals `u`, for `u` in `0..=m*n`.
///
/// Uses the recurrence `f(i, j, u) = f(i - 1, j, u - j) + f(i, j - 1, u)`
/// (the largest pooled value belongs to the first or the second sample),
/// rolling over `j`. Counts are exact in `u128` for `m + n <= 128`
/// (`C(128, 64) < 2^128`); larger inputs may overflow and panic in debug
/// builds.
pub fn u_distribution_counts(m: usize, n: usize) -> Vec<u128> {
    let width = m * n + 1;
    // prev[i][u] = f(i, j-1, u); start with j = 0: f(i, 0, u) = [u == 0].
    let mut prev = vec![vec![0u128; width]; m + 1];
    for row in prev.iter_mut() {
        row[0] = 1;
    }
    for j in 1..=n {
        let mut cur = vec![vec![0u128; width]; m + 1];
        cur[0][0] = 1; // f(0, j, u) = [u == 0]
        for i in 1..=m {
            let max_u = i * j;
            for u in 0..=max_u {
                let from_a = if u >= j { cur[i - 1][u - j] } else { 0 };
                cur[i][u] = from_a + prev[i][u];
            }
        }
        prev = cur;
    }
    prev.swap_remove(m)
}

/// Exact permutation distribution of a rank sum with ties: element `s` of the
/// result is the number of `m`-element subsets of the pooled values whose
/// doubled mid-ranks (`ranks2`, one per pooled value) sum to `s`.
///
/// Tied values are distinct items carrying the same rank, so the counts sum
/// to `C(ranks2.len(), m)` and each subset is one equally likely assignment
/// under the null hypothesis. A knapsack-style count over the items, `m`
/// rows of at most `2 n m + 1` sums; exact in `u128` for `n <= 128`.
pub fn tied_rank_sum_counts(ranks2: &[usize], m: usize) -> Vec<u128> {
    let mut sorted = ranks2.to_vec();
    sorted.sort_unstable();
    let max_sum: usize = sorted.iter().rev().take(m).sum();
    // dp[k][s]: subsets of size k of the items seen so far with sum s.
    let mut dp = vec![vec![0u128; max_sum + 1]; m + 1];
    dp[0][0] = 1;
    let mut reach = 0usize; // the largest sum reachable so far
    for (idx, &r) in sorted.iter().enumerate() {
        let top_k = m.min(idx + 1);
        reach = (reach + r).min(max_sum);
        for k in (1..=top_k).rev() {
            let (lower, upper) = dp.split_at_mut(k);
            let (prev, cur) = (&lower[k - 1], &mut upper[0]);
            for s in (r..=reach).rev() {
                let add = prev[s - r];
                if add != 0 {
                    cur[s] += add;
                }
            }
        }
    }
    dp.swap_remove(m)
}

/// The smallest two-sided p-value the exact Mann-Whitney test of `n_a`
/// against `n_b` values can give, reached when the samples are fully
/// separated without ties: `2 / C(n_a + n_b, n_a)` (capped at 1). Ties can
/// only make the smallest reachable p-value larger
/// ([`min_two_sided_p_given`]).
pub fn min_two_sided_p(na: usize, nb: usize) -> f64 {
    let (k, n) = (na.min(nb), na + nb);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    (2.0 / c).min(1.0)
}

/// The smallest two-sided p-value [`mann_whitney_u`] can give for these
/// pooled values split into a first sample of `n_a` values and a second of
/// the rest, whatever the split: that of the most extreme split, the `n_a`
/// smallest (or largest) values against the others. With ties this is above
/// [`min_two_sided_p`]: with 3 against 3 and the third and fourth smallest
/// values equal, no split reaches 0.1. `NaN` when either sample would be
/// empty.
pub fn min_two_sided_p_given(pooled: &[f64], na: usize) -> f64 {
    if na == 0 || na >= pooled.len() {
        return f64::NAN;
    }
    let mut v = pooled.to_vec();
    v.sort_by(f64::total_cmp);
    let (low, high) = v.split_at(na);
    let lowest = mann_whitney_u(low, high).p_two_sided;
    let (low, high) = v.split_at(v.len() - na);
    let highest = mann_whitney_u(high, low).p_two_sided;
    lowest.min(highest)
}

/// Complementary error function `erfc(x) = 1 - erf(x)`, accurate to about
/// `1e-15` relative error.
///
/// Uses the everywhere-positive series
/// `erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_k 2^k x^(2k+1) / (1*3*...*(2k+1))`
/// for `|x| < 2` and a continued fraction (modified Lentz) for `x >= 2`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    if x < 2.0 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut k = 0.0;
        loop {
            k += 1.0;
            term *= 2.0 * x2 / (2.0 * k + 1.0);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        return 1.0 - FRAC_2_SQRT_PI * (-x2).exp() * sum;
    }
    if x > 27.3 {
        // erfc underflows to (sub)normal zero region.
        return 0.0;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
    // Written as K(a_k / b_k) with b_k = x, a_1 = 1, a_k = (k-1)/2 for k >= 2.
    let tiny = 1e-300;
    let mut f = x; // b_0 = x (after the leading 1/(...) handled below)
    let mut c = f;
    let mut d = 0.0;
    let mut k = 1.0;
    loop {
        let a = k / 2.0;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 || k > 500.0 {
            break;
        }
        k += 1.0;
    }
    (FRAC_2_SQRT_PI / 2.0) * (-x * x).exp() / f
}

/// Survival function of the standard normal distribution, `P(Z > z)`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs().max(1e-300),
            "got {got}, want {want}"
        );
    }

    fn check(r: MannWhitney, u: f64, two: f64, greater: f64, less: f64) {
        assert_eq!(r.u, u);
        assert_close(r.p_two_sided, two, 1e-9);
        assert_close(r.p_a_greater, greater, 1e-9);
        assert_close(r.p_a_less, less, 1e-9);
    }

    #[test]
    fn erfc_matches_python_math_erfc() {
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715_2),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.5, 0.033_894_853_524_689_274),
            (2.0, 0.004_677_734_981_047_265),
            (2.5, 0.000_406_952_017_444_958_9),
            (3.0, 2.209_049_699_858_543_8e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (6.0, 2.151_973_671_249_891_6e-17),
            (10.0, 2.088_487_583_762_545e-45),
        ];
        for (x, want) in cases {
            assert_close(erfc(x), want, 1e-13);
        }
        assert_close(erfc(-1.0), 1.842_700_792_949_715, 1e-14);
        assert_close(erfc(-0.5), 1.520_499_877_813_046_5, 1e-14);
        assert_eq!(erfc(40.0), 0.0);
        assert_close(normal_sf(0.0), 0.5, 1e-15);
        // P(Z > 1.959963984540054) = 0.025
        assert_close(normal_sf(1.959_963_984_540_054), 0.025, 1e-12);
    }

    #[test]
    fn u_distribution_small_by_hand() {
        // m = n = 2: arrangements of AABB: U in {0,1,2,2,3,4} -> [1,1,2,1,1].
        assert_eq!(u_distribution_counts(2, 2), vec![1, 1, 2, 1, 1]);
        // m = 1, n = 3: U uniform on 0..=3.
        assert_eq!(u_distribution_counts(1, 3), vec![1, 1, 1, 1]);
        assert_eq!(u_distribution_counts(3, 0), vec![1]);
    }

    #[test]
    fn u_distribution_totals_are_binomials() {
        // C(100, 50) = 100891344545564193334812497256
        let c = u_distribution_counts(50, 50);
        assert_eq!(c.len(), 2501);
        assert_eq!(
            c.iter().sum::<u128>(),
            100_891_344_545_564_193_334_812_497_256u128
        );
        // Symmetry of the null distribution.
        for u in 0..c.len() {
            assert_eq!(c[u], c[c.len() - 1 - u]);
        }
        // C(7, 3) = 35
        assert_eq!(u_distribution_counts(3, 4).iter().sum::<u128>(), 35);
    }

    #[test]
    fn exact_fully_separated() {
        // U = 0; exact P(U <= 0) = 1 / C(6, 3) = 0.05.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        check(r, 0.0, 0.1, 1.0, 0.05);
        let r = mann_whitney_u(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
        check(r, 9.0, 0.1, 0.05, 1.0);
    }

    #[test]
    fn exact_matches_scipy_small() {
        // scipy.stats.mannwhitneyu(a, b, method="exact")
        let a = [1.1, 3.4, 2.2, 5.0, 4.1];
        let b = [0.5, 2.8, 1.9, 0.7];
        check(
            mann_whitney_u(&a, &b),
            17.0,
            0.111_111_111_111_111_1,
            0.055_555_555_555_555_55,
            0.968_253_968_253_968_3,
        );
        let a: Vec<f64> = (0..12).map(|i| i as f64 + 0.5 * (i % 2) as f64).collect();
        let b: Vec<f64> = (1..10).map(|i| i as f64 * 1.3).collect();
        check(
            mann_whitney_u(&a, &b),
            48.0,
            0.702_085_530_568_502_8,
            0.674_473_514_101_997_1,
            0.351_042_765_284_251_4,
        );
    }

    #[test]
    fn exact_matches_scipy_fifty_each() {
        let a: Vec<f64> = (0..50).map(|i| ((i * 7) % 50) as f64 * 2.0 + 9.3).collect();
        let b: Vec<f64> = (0..50)
            .map(|i| ((i * 11) % 50) as f64 * 2.0 + 1.0)
            .collect();
        check(
            mann_whitney_u(&a, &b),
            1465.0,
            0.139_705_808_254_351_25,
            0.069_852_904_127_175_62,
            0.931_071_505_114_347_7,
        );
    }

    #[test]
    fn fifty_one_switches_to_normal_approximation() {
        // Same as above plus one distinct value: n_a = 51 > 50, so the
        // asymptotic p-values apply (SciPy exact two-sided would be
        // 0.10397172289946517, which this tolerance rejects).
        let mut a: Vec<f64> = (0..50).map(|i| ((i * 7) % 50) as f64 * 2.0 + 9.3).collect();
        a.push(200.5);
        let b: Vec<f64> = (0..50)
            .map(|i| ((i * 11) % 50) as f64 * 2.0 + 1.0)
            .collect();
        check(
            mann_whitney_u(&a, &b),
            1515.0,
            0.103_786_106_717_773_3,
            0.051_893_053_358_886_65,
            0.948_824_536_434_153_9,
        );
    }

    /// Issue 10 item 4: with ties at small n the exact permutation distribution is used. The
    /// normal approximation said p = 0.047 for 3 against 3 fully separated with ties; the exact
    /// value is 2 / C(6, 3) = 0.1.
    #[test]
    fn mann_whitney_ties_small_n_exact() {
        let r = mann_whitney_u(&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]);
        check(r, 0.0, 0.1, 1.0, 0.05);
        let r = mann_whitney_u(&[1.0, 1.0, 2.0], &[3.0, 4.0, 4.0]);
        check(r, 0.0, 0.1, 1.0, 0.05);
        let r = mann_whitney_u(&[3.0, 4.0, 4.0], &[1.0, 1.0, 2.0]);
        check(r, 9.0, 0.1, 0.05, 1.0);
        // Ties across the samples (values by brute-force enumeration of all C(9, 4) splits).
        check(
            mann_whitney_u(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 4.0, 5.0]),
            2.5,
            0.111_111_111_111_111_1,
            0.992_063_492_063_492_1,
            0.055_555_555_555_555_55,
        );
        // The larger sample first (the count runs over the smaller one).
        check(
            mann_whitney_u(&[4.0, 4.0, 5.0, 7.0, 7.0, 7.0], &[1.0, 2.0, 2.0, 4.0, 5.0]),
            26.5,
            0.047_619_047_619_047_616,
            0.023_809_523_809_523_808,
            0.993_506_493_506_493_6,
        );
        // Ties never let the exact test below its floor 2 / C(n_a + n_b, n_a).
        assert!(r.p_two_sided >= min_two_sided_p(3, 3) - 1e-15);
    }

    /// Brute force over every split of the pooled values, for cross-checking the count.
    fn brute_force(a: &[f64], b: &[f64]) -> (f64, f64) {
        let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
        let n = pooled.len();
        let u_of = |mask: u32| {
            let (x, y): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| mask & (1 << i) != 0);
            let mut u = 0.0;
            for &i in &x {
                for &j in &y {
                    u += if pooled[i] > pooled[j] {
                        1.0
                    } else if pooled[i] == pooled[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            u
        };
        let observed = u_of((1u32 << a.len()) - 1);
        let (mut le, mut ge, mut total) = (0u32, 0u32, 0u32);
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != a.len() {
                continue;
            }
            let u = u_of(mask);
            total += 1;
            le += u32::from(u <= observed);
            ge += u32::from(u >= observed);
        }
        (le as f64 / total as f64, ge as f64 / total as f64)
    }

    #[test]
    fn mann_whitney_ties_matches_brute_force() {
        for seed in 0..40u32 {
            let na = 1 + (seed % 5) as usize;
            let nb = 1 + ((seed / 5) % 6) as usize;
            // Few distinct values, so ties are common.
            let v = |i: u32| f64::from((i * 7 + seed * 13) % 5);
            let a: Vec<f64> = (0..na as u32).map(v).collect();
            let b: Vec<f64> = (0..nb as u32).map(|i| v(i + 11)).collect();
            let r = mann_whitney_u(&a, &b);
            let (le, ge) = brute_force(&a, &b);
            assert!(
                (r.p_a_less - le).abs() < 1e-12,
                "{a:?} {b:?}: {r:?} vs {le}"
            );
            assert!(
                (r.p_a_greater - ge).abs() < 1e-12,
                "{a:?} {b:?}: {r:?} vs {ge}"
            );
        }
    }

    #[test]
    fn tied_counts_total_is_binomial() {
        // Pooled 1, 1, 2, 3, 3, 3 -> doubled mid-ranks 3, 3, 6, 10, 10, 10.
        let c = tied_rank_sum_counts(&[3, 3, 6, 10, 10, 10], 2);
        assert_eq!(c.iter().sum::<u128>(), 15);
        assert_eq!(c[6], 1); // {1, 1}
        assert_eq!(c[9], 2); // one 1 and the 2
        assert_eq!(c[20], 3); // two of the three 3s
                              // 50 against 50, all in pairs of ties: exact in u128.
        let r2: Vec<usize> = (0..100).map(|i| 2 * (i / 2) * 2 + 3).collect();
        let c = tied_rank_sum_counts(&r2, 50);
        assert_eq!(
            c.iter().sum::<u128>(),
            100_891_344_545_564_193_334_812_497_256u128
        );
    }

    #[test]
    fn normal_approximation_with_ties_above_fifty() {
        // 60 and 55 values with 24 distinct: ties and sizes above 50, so the tie-corrected
        // normal approximation (the formula SciPy's method="asymptotic" uses, evaluated in
        // Python with math.erfc).
        let a: Vec<f64> = (0..60).map(|i| ((i * 37) % 20) as f64 / 2.0).collect();
        let b: Vec<f64> = (0..55)
            .map(|i| ((i * 53) % 23) as f64 / 2.0 + 0.5)
            .collect();
        check(
            mann_whitney_u(&a, &b),
            1318.5,
            0.063_586_059_976_978_79,
            0.968_605_002_292_794_6,
            0.031_793_029_988_489_395,
        );
    }

    #[test]
    fn smallest_reachable_p_with_ties() {
        assert!((min_two_sided_p(3, 3) - 0.1).abs() < 1e-12);
        assert!((min_two_sided_p(5, 5) - 2.0 / 252.0).abs() < 1e-12);
        assert!((min_two_sided_p(2, 4) - 2.0 / 15.0).abs() < 1e-12);
        // Distinct values: the floor itself.
        let distinct = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert!((min_two_sided_p_given(&distinct, 3) - 0.1).abs() < 1e-12);
        // The 3rd and 4th smallest tie: the best split is no longer fully separated.
        let tied = [1.0, 2.0, 3.0, 3.0, 5.0, 6.0];
        let floor = min_two_sided_p_given(&tied, 3);
        assert!(floor > 0.1 + 1e-9, "{floor}");
        assert!(min_two_sided_p_given(&tied, 0).is_nan());
        // Everything tied: nothing can be significant.
        assert_eq!(min_two_sided_p_given(&[2.0; 6], 3), 1.0);
    }

    #[test]
    fn normal_approximation_large_samples_matches_scipy() {
        // 60 and 70 distinct values: sizes above 50 force the normal approximation.
        let a: Vec<f64> = (0..60).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
        let b: Vec<f64> = (0..70)
            .map(|i| ((i * 53) % 103) as f64 / 10.0 + 0.55)
            .collect();
        check(
            mann_whitney_u(&a, &b),
            1824.0,
            0.198_225_079_976_132_37,
            0.901_699_296_177_966_5,
            0.099_112_539_988_066_18,
        );
    }

    #[test]
    fn all_tied_and_degenerate() {
        let r = mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0, 1.0]);
        check(r, 3.0, 1.0, 1.0, 1.0);
        let r = mann_whitney_u(&[], &[1.0]);
        assert!(r.u.is_nan() && r.p_two_sided.is_nan());
        let r = mann_whitney_u(&[f64::NAN], &[1.0]);
        assert!(r.p_a_less.is_nan());
    }

    /// The most extreme split can be the highest values: here the lowest two values share a
    /// tie with the third (no split of them is clean), the highest two are clean: 2 / C(7, 2).
    #[test]
    fn smallest_reachable_p_takes_the_highest_split_when_it_is_lower() {
        let pooled = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let lowest = mann_whitney_u(&[1.0, 2.0], &[2.0, 3.0, 4.0, 5.0, 6.0]).p_two_sided;
        assert!(lowest > 2.0 / 21.0, "{lowest}");
        assert_close(min_two_sided_p_given(&pooled, 2), 2.0 / 21.0, 1e-12);
        // A first sample of all the values, or more, leaves the second empty.
        assert!(min_two_sided_p_given(&pooled, 7).is_nan());
        assert!(min_two_sided_p_given(&pooled, 9).is_nan());
        assert!(min_two_sided_p_given(&pooled, 0).is_nan());
    }
}

/// Result of a Wilcoxon signed-rank test of paired differences against zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignedRank {
    /// Sum of the ranks of the positive differences.
    pub w_plus: f64,
    /// Pairs with a non-zero difference (zeros are dropped, as Wilcoxon did).
    pub n: usize,
    pub p_two_sided: f64,
}

/// Wilcoxon signed-rank test of `d` (paired differences) against a zero median. Exact for up to
/// 50 non-zero differences without ties (by counting rank subsets), otherwise the normal
/// approximation with tie and continuity corrections.
pub fn wilcoxon_signed_rank(d: &[f64]) -> SignedRank {
    let mut v: Vec<f64> = d
        .iter()
        .cloned()
        .filter(|x| *x != 0.0 && x.is_finite())
        .collect();
    let n = v.len();
    if n == 0 {
        return SignedRank {
            w_plus: 0.0,
            n: 0,
            p_two_sided: 1.0,
        };
    }
    v.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    // Mid-ranks of |d|.
    let mut ranks = vec![0.0; n];
    let mut ties = false;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && v[j + 1].abs() == v[i].abs() {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for rank in ranks.iter_mut().take(j + 1).skip(i) {
            *rank = r;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            ties = true;
            tie_term += t * t * t - t;
        }
        i = j + 1;
    }
    let w_plus: f64 = v
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    let p = if !ties && n <= 50 {
        // counts[s] = number of subsets of {1..n} with rank sum s.
        let max = n * (n + 1) / 2;
        let mut counts = vec![0u128; max + 1];
        counts[0] = 1;
        for k in 1..=n {
            for s in (k..=max).rev() {
                counts[s] += counts[s - k];
            }
        }
        let all: f64 = 2f64.powi(n as i32);
        let w = w_plus.min(total - w_plus).round() as usize;
        let tail: u128 = counts[..=w].iter().sum();
        (2.0 * tail as f64 / all).min(1.0)
    } else {
        let mean = total / 2.0;
        let var = (n * (n + 1) * (2 * n + 1)) as f64 / 24.0 - tie_term / 48.0;
        if var <= 0.0 {
            1.0
        } else {
            let z = ((w_plus - mean).abs() - 0.5).max(0.0) / var.sqrt();
            (2.0 * normal_sf(z)).min(1.0)
        }
    };
    SignedRank {
        w_plus,
        n,
        p_two_sided: p,
    }
}

#[cfg(test)]
mod signed_rank_tests {
    use super::*;

    #[test]
    #[allow(clippy::approx_constant)] // 3.14 is a measurement in SciPy's example, not pi
    fn exact_small_cases() {
        // All 5 positive: W+ = 15, two-sided p = 2/32.
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(r.w_plus, 15.0);
        assert!((r.p_two_sided - 2.0 / 32.0).abs() < 1e-12);
        // scipy.stats.wilcoxon([1.83,0.50,1.62,2.48,1.68,1.88,1.55,3.06,1.30] - [0.878,0.647,0.598,2.05,1.06,1.29,1.06,3.14,1.29]) -> p = 0.0390625
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
        let r = wilcoxon_signed_rank(&d);
        assert!((r.p_two_sided - 0.0390625).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn symmetric_noise_is_not_significant_and_zeros_are_dropped() {
        let r = wilcoxon_signed_rank(&[1.0, -1.5, 2.0, -2.5, 0.0, 3.0, -3.5]);
        assert_eq!(r.n, 6);
        assert!(r.p_two_sided > 0.5, "{r:?}");
    }

    /// Ties in |d| use the normal approximation with SciPy's tie correction
    /// (`var = n(n+1)(2n+1)/24 - sum(t^3 - t)/48`) and a continuity correction of 0.5; the
    /// reference p is that formula evaluated independently (Python's `math.erfc`).
    #[test]
    fn ties_use_the_tie_corrected_normal_approximation() {
        // |d| ties: 1 (x2), 2 (x2), 4 (x3): sum(t^3 - t) = 6 + 6 + 24 = 36; mid-ranks give
        // W+ = 48.5 of 55.
        let d = [1.0, -1.0, 2.0, 2.0, -3.0, 4.0, 4.0, 4.0, 5.0, 6.0];
        let r = wilcoxon_signed_rank(&d);
        assert_eq!((r.w_plus, r.n), (48.5, 10));
        assert!(
            (r.p_two_sided - 0.035_927_899_120_529_31).abs() < 1e-12,
            "{r:?}"
        );
        // Mirrored: the same p, W+ is the other side's sum.
        let m: Vec<f64> = d.iter().map(|x| -x).collect();
        let r = wilcoxon_signed_rank(&m);
        assert_eq!(r.w_plus, 55.0 - 48.5);
        assert!(
            (r.p_two_sided - 0.035_927_899_120_529_31).abs() < 1e-12,
            "{r:?}"
        );
    }

    /// Exact without ties up to 50 differences, whatever W+: here W+ = 32 of 55, the smaller
    /// side 23, and 356 of the 1024 sign patterns have a rank sum <= 23: p = 712 / 1024.
    #[test]
    fn exact_distribution_covers_the_middle_rank_sums() {
        let d = [1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, 8.0, 9.0, -10.0];
        let r = wilcoxon_signed_rank(&d);
        assert_eq!(r.w_plus, 32.0);
        assert_eq!(r.p_two_sided, 712.0 / 1024.0);
    }

    /// Beyond 50 differences the normal approximation is used (with the 0.5 continuity
    /// correction): 60 differences 1..=60, every third negative, W+ = 1240.
    #[test]
    fn more_than_fifty_differences_use_the_normal_approximation() {
        let d: Vec<f64> = (0..60)
            .map(|i| (i + 1) as f64 * if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let r = wilcoxon_signed_rank(&d);
        assert_eq!((r.w_plus, r.n), (1240.0, 60));
        assert!(
            (r.p_two_sided - 0.016_901_653_275_967_54).abs() < 1e-12,
            "{r:?}"
        );
    }
}
