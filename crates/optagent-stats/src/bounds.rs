//! Distribution-free one-sided confidence bounds for a location shift.
//!
//! The evaluator's integrity checks must not accuse an honest patch because five noisy runs
//! happened to line up: a percentile bootstrap of a median of five values is anti-conservative
//! (its interval is about as wide as the middle three values). These bounds make no assumption
//! about the distribution and hold at their stated level for any sample size; when the samples
//! are too small for the level, they say so (`None`) instead of returning a bound that is not one.
//!
//! - [`sign_lower_bound`]: paired differences; a lower bound of their median (the sign test).
//! - [`shift_lower_bound`]: two independent samples; a lower bound of the shift `x - y` (the
//!   Mann-Whitney / Hodges-Lehmann interval from the ordered pairwise differences).

use crate::hypothesis::u_distribution_counts;

/// `P(Binomial(n, 1/2) <= k)`.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let mut term = 0.5f64.powi(n as i32); // C(n, 0) / 2^n
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        sum += term;
        term = term * (n - i) as f64 / (i + 1) as f64;
    }
    sum
}

/// A one-sided lower confidence bound, at level `1 - alpha`, of the median of the distribution
/// the paired differences `d` come from: the `j`-th smallest difference, for the largest `j`
/// with `P(Binomial(n, 1/2) <= j - 1) <= alpha`. `None` when even the smallest difference is not a
/// bound at that level (fewer than `log2(1/alpha)` differences) or a difference is not finite.
///
/// With 5 differences and `alpha = 0.05` the bound is the smallest (its level is 1 - 1/32); with
/// 10 it is the second smallest.
pub fn sign_lower_bound(d: &[f64], alpha: f64) -> Option<f64> {
    if d.is_empty() || d.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = d.len();
    let mut j = 0;
    while j < n && binomial_half_cdf(n, j) <= alpha {
        j += 1;
    }
    if j == 0 {
        return None;
    }
    let mut s = d.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[j - 1])
}

/// A one-sided lower confidence bound, at level `1 - alpha`, of the shift `delta` for which
/// `x` is distributed as `y + delta`: the `k`-th smallest of the `m * n` differences `x_i - y_j`,
/// for the largest `k` with `P(U <= k - 1) <= alpha` under the null distribution of the
/// Mann-Whitney U. Exact for `m + n <= 100`, the normal approximation beyond. `None` when the
/// samples are too small for the level, or a value is not finite.
pub fn shift_lower_bound(x: &[f64], y: &[f64], alpha: f64) -> Option<f64> {
    let (m, n) = (x.len(), y.len());
    if m == 0 || n == 0 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let k = if m + n <= 100 {
        let counts = u_distribution_counts(m, n);
        let total: f64 = counts.iter().map(|&c| c as f64).sum();
        let mut cum = 0.0;
        let mut k = 0;
        for &c in &counts {
            cum += c as f64 / total;
            if cum > alpha {
                break;
            }
            k += 1;
        }
        k
    } else {
        // U is about normal with mean mn/2 and variance mn(m+n+1)/12.
        let mean = (m * n) as f64 / 2.0;
        let sd = ((m * n * (m + n + 1)) as f64 / 12.0).sqrt();
        let z = inverse_normal_upper(alpha);
        (mean - z * sd - 0.5).floor().max(0.0) as usize
    };
    if k == 0 {
        return None;
    }
    let mut diffs: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    diffs.sort_by(f64::total_cmp);
    Some(diffs[k - 1])
}

/// The `z` with `P(Z > z) = p` for a standard normal `Z` (bisection on the survival function;
/// only used for large samples, where its precision is plenty).
fn inverse_normal_upper(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if crate::hypothesis::normal_sf(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_cdf_matches_hand_counts() {
        assert!((binomial_half_cdf(5, 0) - 1.0 / 32.0).abs() < 1e-12);
        assert!((binomial_half_cdf(5, 1) - 6.0 / 32.0).abs() < 1e-12);
        assert!((binomial_half_cdf(10, 2) - 56.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_half_cdf(4, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn sign_bound_is_the_smallest_of_five_and_the_second_of_ten_at_five_percent() {
        assert_eq!(
            sign_lower_bound(&[3.0, 1.0, 2.0, 5.0, 4.0], 0.05),
            Some(1.0)
        );
        let ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(sign_lower_bound(&ten, 0.05), Some(2.0));
        // Four differences cannot bound anything at 5% (1/16 > 0.05), nor can a NaN.
        assert_eq!(sign_lower_bound(&[1.0, 2.0, 3.0, 4.0], 0.05), None);
        assert_eq!(
            sign_lower_bound(&[1.0, f64::NAN, 2.0, 3.0, 4.0], 0.05),
            None
        );
    }

    #[test]
    fn sign_bound_holds_its_level_on_a_symmetric_null() {
        // Differences centred on 0: the bound exceeds 0 about 1/32 of the time, never much more.
        let mut rng = crate::rng::SeededRng::new(7);
        let trials = 20000;
        let mut above = 0;
        for _ in 0..trials {
            let d: Vec<f64> = (0..5)
                .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
                .collect();
            if sign_lower_bound(&d, 0.05).unwrap() > 0.0 {
                above += 1;
            }
        }
        let rate = above as f64 / trials as f64;
        assert!((rate - 1.0 / 32.0).abs() < 0.006, "rate {rate}");
    }

    #[test]
    fn shift_bound_uses_the_mann_whitney_critical_value() {
        // m = n = 5: P(U <= 4) = 12/252 < 0.05 < P(U <= 5) = 19/252, so k = 5.
        let x = [10.0, 11.0, 12.0, 13.0, 14.0];
        let y = [0.0, 1.0, 2.0, 3.0, 4.0];
        // Pairwise differences run from 6 to 14; the 5th smallest is 8 (6, 7, 7, 8, 8).
        assert_eq!(shift_lower_bound(&x, &y, 0.05), Some(8.0));
        // Two against two cannot bound anything at 5% (1/6 > 0.05).
        assert_eq!(shift_lower_bound(&[1.0, 2.0], &[0.0, 0.5], 0.05), None);
        // Large samples take the normal approximation and still land between the extremes.
        let big_x: Vec<f64> = (0..80).map(|i| 100.0 + i as f64).collect();
        let big_y: Vec<f64> = (0..80).map(f64::from).collect();
        let b = shift_lower_bound(&big_x, &big_y, 0.05).unwrap();
        assert!(b > 80.0 && b < 100.0, "{b}");
    }

    #[test]
    fn shift_bound_holds_its_level_on_a_null() {
        let mut rng = crate::rng::SeededRng::new(11);
        let trials = 4000;
        let mut above = 0;
        for _ in 0..trials {
            let x: Vec<f64> = (0..5)
                .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            let y: Vec<f64> = (0..6)
                .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            if shift_lower_bound(&x, &y, 0.05).unwrap() > 0.0 {
                above += 1;
            }
        }
        let rate = above as f64 / trials as f64;
        assert!(rate <= 0.06, "rate {rate}");
    }
}
