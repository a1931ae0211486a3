//! Descriptive statistics over samples of `f64` (typically benchmark timings).
//!
//! All functions take a slice and never mutate it; functions that need order
//! statistics sort a private copy using [`f64::total_cmp`]. Degenerate inputs
//! never panic. The means, the standard deviation and [`Summary::of`], whose
//! results reach reports, return `None` where they are undefined (empty slice,
//! too few values, values outside the domain). The order statistics
//! ([`median`], [`quantile`], [`mad`], [`iqr`]), which the evaluator uses
//! inside its own arithmetic on samples it knows to be non-empty, give `NaN`
//! for an empty slice instead.

use serde::{Deserialize, Serialize};

/// Returns a sorted copy of `xs` (ascending, by [`f64::total_cmp`]).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Quantile of an already ascending-sorted slice, R/NumPy "type 7" linear
/// interpolation. `NaN` if `sorted` is empty or `q` is not in `[0, 1]`.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor();
    let i = lo as usize;
    if i + 1 >= n {
        return sorted[n - 1];
    }
    let frac = h - lo;
    if frac == 0.0 {
        sorted[i]
    } else {
        sorted[i] + frac * (sorted[i + 1] - sorted[i])
    }
}

/// Median of `xs` (mean of the two middle values for even lengths).
/// `NaN` for an empty slice.
pub fn median(xs: &[f64]) -> f64 {
    quantile_sorted(&sorted(xs), 0.5)
}

/// Arithmetic mean. `None` for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The `q`-quantile of `xs` using linear interpolation between order
/// statistics (Hyndman & Fan type 7, the default of R and NumPy):
/// with `h = (n - 1) q`, the result is `x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])`.
/// `NaN` if `xs` is empty or `q` is not in `[0, 1]`.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    quantile_sorted(&sorted(xs), q)
}

/// Median absolute deviation from the median, unscaled
/// (no 1.4826 normal-consistency factor). `NaN` for an empty slice.
pub fn mad(xs: &[f64]) -> f64 {
    let m = median(xs);
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// Interquartile range: `quantile(xs, 0.75) - quantile(xs, 0.25)` (type 7).
/// `NaN` for an empty slice.
pub fn iqr(xs: &[f64]) -> f64 {
    let s = sorted(xs);
    quantile_sorted(&s, 0.75) - quantile_sorted(&s, 0.25)
}

/// Sample standard deviation (denominator `n - 1`). `None` if fewer than two
/// values.
pub fn stddev(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    let m = mean(xs).filter(|_| n >= 2)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (n - 1) as f64).sqrt())
}

/// Geometric mean, computed as `exp(mean(ln x))`. `None` if the slice is
/// empty or any value is `<= 0` (or `NaN`).
pub fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|&x| x.is_nan() || x <= 0.0) {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// Harmonic mean `n / sum(1 / x)`. `None` if the slice is empty or any value
/// is `<= 0` (or `NaN`).
pub fn harmonic_mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|&x| x.is_nan() || x <= 0.0) {
        return None;
    }
    Some(xs.len() as f64 / xs.iter().map(|x| 1.0 / x).sum::<f64>())
}

/// A compact description of one non-empty sample (e.g. repeated timings of a
/// workload). An empty sample has none ([`Summary::of`] gives `None`); for a
/// single value `stddev` is `None` (sample standard deviation is undefined).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Median (see [`median`]).
    pub median: f64,
    /// Arithmetic mean (see [`mean`]).
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Unscaled median absolute deviation (see [`mad`]).
    pub mad: f64,
    /// Interquartile range, type-7 quantiles (see [`iqr`]).
    pub iqr: f64,
    /// Sample standard deviation, `n - 1` denominator (see [`stddev`]); `None`
    /// for a single value.
    pub stddev: Option<f64>,
}

impl Summary {
    /// Summarizes `xs`; `None` for an empty slice.
    pub fn of(xs: &[f64]) -> Option<Summary> {
        let s = sorted(xs);
        let (&min, &max) = (s.first()?, s.last()?);
        Some(Summary {
            n: xs.len(),
            median: quantile_sorted(&s, 0.5),
            mean: mean(xs)?,
            min,
            max,
            mad: mad(xs),
            iqr: quantile_sorted(&s, 0.75) - quantile_sorted(&s, 0.25),
            stddev: stddev(xs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn mean_basic() {
        assert_eq!(mean(&[1.0, 2.0, 3.0, 6.0]), Some(3.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn quantile_type7_matches_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], q) (default linear = type 7)
        let xs = [10.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&xs, 0.0), 1.0);
        assert_eq!(quantile(&xs, 1.0), 10.0);
        assert_eq!(quantile(&xs, 0.25), 2.0);
        assert_eq!(quantile(&xs, 0.75), 4.0);
        assert!(close(quantile(&xs, 0.9), 7.6, 1e-12));
        assert!(close(quantile(&xs, 0.1), 1.4, 1e-12));
        // numpy.quantile([1, 2, 3, 4], 0.3) = 1.9
        assert!(close(quantile(&[4.0, 3.0, 2.0, 1.0], 0.3), 1.9, 1e-12));
        assert!(quantile(&xs, 1.5).is_nan());
        assert!(quantile(&xs, -0.1).is_nan());
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn mad_and_iqr() {
        // median 3; |x - 3| = [2, 1, 0, 1, 97] -> median 1
        let xs = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(mad(&xs), 1.0);
        // type 7: q25 = 2, q75 = 4
        assert_eq!(iqr(&xs), 2.0);
        // [1, 2, 3, 4]: q25 = 1.75, q75 = 3.25
        assert!(close(iqr(&[1.0, 2.0, 3.0, 4.0]), 1.5, 1e-12));
        assert!(mad(&[]).is_nan());
        assert!(iqr(&[]).is_nan());
    }

    #[test]
    fn stddev_sample() {
        // numpy.std([2,4,4,4,5,5,7,9], ddof=1) = 2.138089935299395
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(stddev(&xs).unwrap(), 2.138_089_935_299_395, 1e-12));
        assert_eq!(stddev(&[1.0]), None);
        assert_eq!(stddev(&[]), None);
    }

    #[test]
    fn geomean_and_harmonic() {
        assert!(close(geomean(&[1.0, 4.0]).unwrap(), 2.0, 1e-12));
        assert!(close(geomean(&[2.0, 8.0, 4.0]).unwrap(), 4.0, 1e-12));
        assert_eq!(geomean(&[1.0, 0.0]), None);
        assert_eq!(geomean(&[1.0, -2.0]), None);
        assert_eq!(geomean(&[1.0, f64::NAN]), None);
        assert_eq!(geomean(&[]), None);
        // 2 / (1/1 + 1/3) = 1.5
        assert!(close(harmonic_mean(&[1.0, 3.0]).unwrap(), 1.5, 1e-12));
        assert!(close(harmonic_mean(&[2.0, 2.0, 2.0]).unwrap(), 2.0, 1e-12));
        assert_eq!(harmonic_mean(&[1.0, 0.0]), None);
        assert_eq!(harmonic_mean(&[]), None);
    }

    #[test]
    fn summary_of() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.mean, 3.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 5.0);
        assert_eq!(s.mad, 1.0);
        assert_eq!(s.iqr, 2.0);
        assert!(close(s.stddev.unwrap(), 2.5f64.sqrt(), 1e-12));

        assert_eq!(Summary::of(&[]), None);
        let one = Summary::of(&[7.0]).unwrap();
        assert_eq!((one.n, one.median, one.stddev), (1, 7.0, None));
    }

    #[test]
    fn summary_serde_roundtrip() {
        // Dyadic values so the JSON text round-trips bit-exactly.
        let s = Summary {
            n: 3,
            median: 2.0,
            mean: 2.25,
            min: 1.0,
            max: 4.5,
            mad: 0.5,
            iqr: 1.75,
            stddev: Some(1.125),
        };
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(s, back);
    }

    /// The deviation is taken from the median (a ratio to it would give 1 here, not 2).
    #[test]
    fn mad_is_the_median_distance_from_the_median() {
        // median 6; |x - 6| = [4, 2, 0, 2, 94] -> 2 (|x / 6| would give 1).
        assert_eq!(mad(&[2.0, 4.0, 6.0, 8.0, 100.0]), 2.0);
    }

    /// Two values are enough for a sample standard deviation.
    #[test]
    fn stddev_of_two_values_is_defined() {
        // numpy.std([1, 3], ddof=1) = sqrt(2)
        assert!(close(stddev(&[1.0, 3.0]).unwrap(), 2f64.sqrt(), 1e-12));
        assert!(close(stddev(&[3.0, 1.0]).unwrap(), 2f64.sqrt(), 1e-12));
    }

    /// Instruction counts sit near 1e9 and differ by units: the deviations are squared after the
    /// mean is taken away, never as `x^2 - m^2` (which loses every digit there).
    #[test]
    fn stddev_keeps_its_precision_on_large_counts() {
        let xs = [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0];
        assert_eq!(stddev(&xs), Some(1.0));
        let xs = [3e15 + 2.0, 3e15, 3e15 + 4.0];
        assert_eq!(stddev(&xs), Some(2.0));
    }

    /// The summary's IQR is the difference of the quartiles (here q25 = 2, q75 = 8; their ratio
    /// would be 4).
    #[test]
    fn summary_iqr_is_q75_minus_q25() {
        let s = Summary::of(&[0.0, 2.0, 5.0, 8.0, 10.0]).unwrap();
        assert_eq!(s.iqr, 6.0);
        assert_eq!(s.iqr, iqr(&[0.0, 2.0, 5.0, 8.0, 10.0]));
    }

    /// A mean that is not exactly representable (1e9 + 2/3): the deviations are squared as
    /// they are, so the rounding of the mean does not come back multiplied by 1e9.
    #[test]
    fn stddev_squares_deviations_from_an_inexact_mean() {
        let xs = [1e9, 1e9 + 1.0, 1e9 + 1.0];
        assert!(
            close(stddev(&xs).unwrap(), (1.0f64 / 3.0).sqrt(), 1e-9),
            "{:?}",
            stddev(&xs)
        );
    }
}
