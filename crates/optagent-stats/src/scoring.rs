//! Scoring rules of public code-optimization benchmarks, and Opt@k estimators.
//!
//! Notation used throughout (one entry per workload `i` of a task):
//! - `b_i`: baseline (pre-patch) time,
//! - `e_i`: expert (reference/human patch) time,
//! - `a_i`: agent patch time,
//! - `s_i = b_i / a_i`: agent speedup, `o_i = b_i / e_i`: expert speedup.
//!
//! Covered benchmarks:
//! - GSO: [`gso_opt_base`], [`gso_opt_commit`], [`gso_hmean_e_over_a`], and
//!   Opt@k ([`opt_at_k`], [`opt_at_k_curve`], [`opt_at_k_expected`]).
//! - SWE-fficiency: [`swef_speedup_ratio`], [`swef_aggregate`].
//! - FormulaCode: [`split_workload_name`], [`formulacode_advantage`],
//!   [`improvements_regressions`].
//! - KernelBench: [`kernelbench_fast`], [`kernelbench_fast_p`] at the thresholds
//!   [`FAST_P_THRESHOLDS`].
//!
//! Functions taking several per-workload time slices require equal, non-zero
//! lengths and times that are finite and `> 0`; otherwise they return `None`
//! (for numbers: the figure is undefined) or `false` (for pass/fail
//! predicates).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::summary::{geomean, harmonic_mean, mean, quantile_sorted};

/// Default relative threshold for [`improvements_regressions`] (5%).
pub const DEFAULT_IMPROVEMENT_THRESHOLD: f64 = 0.05;

/// True if all slices have the same, non-zero length.
fn same_nonempty_len(xs: &[&[f64]]) -> bool {
    match xs.first() {
        Some(first) => !first.is_empty() && xs.iter().all(|x| x.len() == first.len()),
        None => false,
    }
}

/// True if all slices have the same, non-zero length and every value is a
/// finite, strictly positive time.
fn valid_times(xs: &[&[f64]]) -> bool {
    same_nonempty_len(xs)
        && xs
            .iter()
            .all(|x| x.iter().all(|&t| t.is_finite() && t > 0.0))
}

/// Element-wise `num_i / den_i`.
fn ratios(num: &[f64], den: &[f64]) -> Vec<f64> {
    num.iter().zip(den).map(|(n, d)| n / d).collect()
}

/// Rounds to one decimal place, halves away from zero:
/// `(x * 10).round() / 10`.
///
/// This is the choice used for GSO's `round(geomean, 1)`. GSO's harness
/// rounds a numpy `float64` (its geometric mean is `np.exp(np.mean(...))`),
/// so the rounding is numpy's: scale by 10, round half to even, scale back.
/// That differs from this only where `10 x` is exactly `k + 0.5` with `k`
/// even (numpy gives `round(1.25, 1) == 1.2`, this gives `1.3`), and never
/// on which side of GSO's 1.2 threshold a value falls: both send the double
/// nearest 1.15 (`11.5` once scaled) up to 1.2. Python's own `round` on a
/// plain float (`round(1.15, 1) == 1.1`, the exact binary value being just
/// below 1.15) differs from both at that one point.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// GSO "Opt@1 against the base commit" success rule for one task:
/// `mean(b) > mean(a) && round1(geomean(b_i / a_i)) >= 1.2`.
///
/// `false` if the slices are empty, differ in length, or contain a time that
/// is not finite and positive. See [`round1`] for the rounding rule.
pub fn gso_opt_base(b: &[f64], a: &[f64]) -> bool {
    if !valid_times(&[b, a]) {
        return false;
    }
    mean(b) > mean(a) && geomean(&ratios(b, a)).is_some_and(|g| round1(g) >= 1.2)
}

/// Harmonic mean over workloads of `e_i / a_i` (the agent's speedup relative
/// to the expert commit). `None` for empty or mismatched slices or any time
/// that is not finite and positive.
pub fn gso_hmean_e_over_a(e: &[f64], a: &[f64]) -> Option<f64> {
    if !valid_times(&[e, a]) {
        return None;
    }
    harmonic_mean(&ratios(e, a))
}

/// GSO "Opt@1 against the expert commit" success rule for one task:
/// [`gso_opt_base`]`(b, a)` holds AND `harmonic_mean(e_i / a_i) > p`,
/// strictly (GSO uses `p = 0.95`, i.e. the agent must reach at least 95% of
/// the expert's performance).
///
/// GSO's harness (`grading/metrics.py`) computes `opt_commit` only inside the
/// branch where `opt_base` holds, so a patch that is not 1.2x faster than the
/// baseline never matches the expert, however slow the expert is: with the
/// expert at 1.15x and a patch at 1.10x the patch reaches 95% of the expert
/// but is not `opt_commit`. `opt_commit` therefore implies `opt_base`.
/// `false` when [`gso_opt_base`] is false or [`gso_hmean_e_over_a`] is undefined.
pub fn gso_opt_commit(b: &[f64], e: &[f64], a: &[f64], p: f64) -> bool {
    gso_opt_base(b, a) && gso_hmean_e_over_a(e, a).is_some_and(|h| h > p)
}

/// SWE-fficiency speedup ratio for one task:
/// `SR = (agent speedup) / (expert speedup)`.
///
/// SWE-fficiency measures a single workload script per task; when a task has
/// several workloads we use the task's total times, i.e.
/// `SR = (sum(b) / sum(a)) / (sum(b) / sum(e))` (which equals
/// `sum(e) / sum(a)`). `None` for empty or mismatched slices or any time
/// that is not finite and positive.
pub fn swef_speedup_ratio(b: &[f64], e: &[f64], a: &[f64]) -> Option<f64> {
    if !valid_times(&[b, e, a]) {
        return None;
    }
    let (sb, se, sa): (f64, f64, f64) = (b.iter().sum(), e.iter().sum(), a.iter().sum());
    Some((sb / sa) / (sb / se))
}

/// SWE-fficiency aggregate score: the harmonic mean of per-task speedup
/// ratios. `None` if `srs` is empty or any ratio is `<= 0`; callers decide how
/// failed tasks are represented before aggregating.
pub fn swef_aggregate(srs: &[f64]) -> Option<f64> {
    harmonic_mean(srs)
}

/// A FormulaCode workload name split into its parts
/// (see [`split_workload_name`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadName {
    /// Dotted module path (may be empty).
    pub module: String,
    /// Class name, when the second-to-last component looks like a class.
    pub class: Option<String>,
    /// Function (or method / benchmark) name.
    pub function: String,
}

/// Strips a trailing parameter list: finds the first `'('` whose matching
/// `')'` is the last character, and cuts from there. Unbalanced or
/// non-trailing parentheses are left alone.
fn strip_params(name: &str) -> &str {
    if !name.ends_with(')') {
        return name;
    }
    let bytes = name.as_bytes();
    let last = bytes.len() - 1;
    for (start, &c) in bytes.iter().enumerate() {
        if c != b'(' {
            continue;
        }
        let mut depth = 0usize;
        for (j, &d) in bytes.iter().enumerate().skip(start) {
            match d {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        if j == last {
                            return &name[..start];
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    name
}

/// Splits a FormulaCode (airspeed-velocity style) workload name such as
/// `"pandas.core.frame.DataFrame.sum(axis=1)"` into module, class and
/// function.
///
/// 1. A trailing `(...)` parameter list is removed (from the first `'('`
///    whose matching `')'` ends the string).
/// 2. The rest is split on `'.'`. If there are at least 3 parts and the
///    second-to-last starts with an uppercase letter, then
///    `module = parts[..len-2].join(".")`, `class = parts[len-2]`,
///    `function = parts[len-1]`.
/// 3. Otherwise `module = parts[..len-1].join(".")` (empty for a single
///    part), no class, `function = parts[len-1]`.
pub fn split_workload_name(name: &str) -> WorkloadName {
    let base = strip_params(name);
    let parts: Vec<&str> = base.split('.').collect();
    let len = parts.len();
    let function = parts[len - 1].to_string();
    let class_like = len >= 3
        && parts[len - 2]
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase());
    if class_like {
        WorkloadName {
            module: parts[..len - 2].join("."),
            class: Some(parts[len - 2].to_string()),
            function,
        }
    } else {
        WorkloadName {
            module: parts[..len - 1].join("."),
            class: None,
            function,
        }
    }
}

/// FormulaCode advantage at four aggregation levels; `None` (`null` in JSON) where a level is
/// undefined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Advantage {
    /// Level 1: groups by module.
    pub l1: Option<f64>,
    /// Level 2: groups by (module, class).
    pub l2: Option<f64>,
    /// Level 3: groups by (module, class, function).
    pub l3: Option<f64>,
    /// Level 4: one group holding every workload.
    pub l4: Option<f64>,
}

impl Advantage {
    /// The same value at every level.
    pub fn uniform(x: f64) -> Advantage {
        Advantage {
            l1: Some(x),
            l2: Some(x),
            l3: Some(x),
            l4: Some(x),
        }
    }

    /// Every level is defined.
    pub fn is_defined(&self) -> bool {
        self.levels().iter().all(Option::is_some)
    }

    /// `[l1, l2, l3, l4]`.
    pub fn levels(&self) -> [Option<f64>; 4] {
        [self.l1, self.l2, self.l3, self.l4]
    }
}

/// Mean over groups of `gmean(s over group) - gmean(o over group)`; `None` when a group's is
/// undefined.
fn grouped_advantage<K: Ord>(keys: &[K], s: &[f64], o: &[f64]) -> Option<f64> {
    let mut groups: BTreeMap<&K, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((k, &si), &oi) in keys.iter().zip(s).zip(o) {
        let g = groups.entry(k).or_default();
        g.0.push(si);
        g.1.push(oi);
    }
    let per_group: Option<Vec<f64>> = groups
        .values()
        .map(|(gs, go)| Some(geomean(gs)? - geomean(go)?))
        .collect();
    mean(&per_group?)
}

/// FormulaCode advantage of the agent over the expert.
///
/// `names[i]` is workload `i`'s name (parsed with [`split_workload_name`]),
/// `s[i] = b_i / a_i` the agent speedup and `o[i] = b_i / e_i` the expert
/// speedup. For each level the workloads are grouped by a key, each group
/// scores `geomean(s in group) - geomean(o in group)`, and the level's value
/// is the arithmetic mean over groups:
/// - L1 key: `module`;
/// - L2 key: `(module, class)`;
/// - L3 key: `(module, class, function)`;
/// - L4: a single group, i.e. `geomean(s) - geomean(o)`.
///
/// Workloads without a class use `class = None` as their key component: at
/// L2 all class-less workloads of a module form one group of their own,
/// distinct from every class of that module, and likewise at L3.
///
/// All levels are `None` if the slices are empty or differ in length; a
/// group containing a non-positive (or `NaN`) speedup makes its level `None`.
pub fn formulacode_advantage(names: &[String], s: &[f64], o: &[f64]) -> Advantage {
    if names.len() != s.len() || !same_nonempty_len(&[s, o]) {
        return Advantage::default();
    }
    let parsed: Vec<WorkloadName> = names.iter().map(|n| split_workload_name(n)).collect();
    let k1: Vec<&str> = parsed.iter().map(|w| w.module.as_str()).collect();
    let k2: Vec<(&str, Option<&str>)> = parsed
        .iter()
        .map(|w| (w.module.as_str(), w.class.as_deref()))
        .collect();
    let k3: Vec<&WorkloadName> = parsed.iter().collect();
    Advantage {
        l1: grouped_advantage(&k1, s, o),
        l2: grouped_advantage(&k2, s, o),
        l3: grouped_advantage(&k3, s, o),
        l4: geomean(s).zip(geomean(o)).map(|(gs, go)| gs - go),
    }
}

/// Counts improved and regressed workloads: returns
/// `(#{s >= 1 + threshold}, #{s <= 1 / (1 + threshold)})`.
///
/// The regression bound is the reciprocal of the improvement bound, so a
/// slowdown by the same factor counts symmetrically. `NaN` speedups count as
/// neither. The conventional threshold is
/// [`DEFAULT_IMPROVEMENT_THRESHOLD`] (0.05).
pub fn improvements_regressions(speedups: &[f64], threshold: f64) -> (usize, usize) {
    let up = 1.0 + threshold;
    let down = 1.0 / up;
    let improved = speedups.iter().filter(|&&s| s >= up).count();
    let regressed = speedups.iter().filter(|&&s| s <= down).count();
    (improved, regressed)
}

/// Opt@k (GSO's pass@k analogue) from recorded runs, in run order.
///
/// `success[t]` holds the outcomes of task `t`'s runs. A task counts as
/// solved if any of its first `k` runs succeeded (all of its runs if it has
/// fewer than `k`). The result is `solved / n_tasks`; tasks missing from
/// `success` (when `n_tasks > success.len()`) count as failures, and entries
/// beyond the first `n_tasks` are ignored. `None` if `n_tasks == 0`; `0` for
/// `k == 0`.
pub fn opt_at_k(success: &[Vec<bool>], n_tasks: usize, k: usize) -> Option<f64> {
    if n_tasks == 0 {
        return None;
    }
    let solved = success
        .iter()
        .take(n_tasks)
        .filter(|runs| runs.iter().take(k).any(|&r| r))
        .count();
    Some(solved as f64 / n_tasks as f64)
}

/// Smoothed Opt@k curve by bootstrap, as GSO reports it.
///
/// For each of `trials` trials, every task's runs are shuffled (one
/// [`SeededRng`] seeded with `seed`, tasks in order) and Opt@k is computed on
/// the shuffled runs for every `k` in `1..=max_k` (one shuffle per trial is
/// shared by all `k`, so each trial's curve is non-decreasing; each `k` still
/// sees a uniformly random subset of `k` runs per task). Returns one tuple
/// per `k`: `(k, mean, 2.5th percentile, 97.5th percentile)` of the trial
/// values (type-7 percentiles). The mean converges to
/// [`opt_at_k_expected`]. Missing tasks count as failures, as in
/// [`opt_at_k`]. With `trials == 0` or `n_tasks == 0` there is no curve: the
/// result is empty.
pub fn opt_at_k_curve(
    success: &[Vec<bool>],
    n_tasks: usize,
    max_k: usize,
    trials: usize,
    seed: u64,
) -> Vec<(usize, f64, f64, f64)> {
    if trials == 0 || n_tasks == 0 {
        return vec![];
    }
    let mut rng = SeededRng::new(seed);
    let tasks: Vec<Vec<bool>> = success.iter().take(n_tasks).cloned().collect();
    let mut per_k: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); max_k];
    let mut shuffled = tasks.clone();
    for _ in 0..trials {
        for (dst, src) in shuffled.iter_mut().zip(&tasks) {
            dst.copy_from_slice(src);
            rng.shuffle(dst);
        }
        for (ki, vals) in per_k.iter_mut().enumerate() {
            // n_tasks > 0: Opt@k is defined.
            vals.push(opt_at_k(&shuffled, n_tasks, ki + 1).unwrap_or_default());
        }
    }
    per_k
        .into_iter()
        .enumerate()
        .map(|(ki, mut vals)| {
            vals.sort_by(f64::total_cmp);
            (
                ki + 1,
                vals.iter().sum::<f64>() / trials as f64,
                quantile_sorted(&vals, 0.025),
                quantile_sorted(&vals, 0.975),
            )
        })
        .collect()
}

/// The thresholds `p` at which KernelBench's fast_p is reported: 0 (plain correctness), 1.0,
/// 1.5 and 2.0.
pub const FAST_P_THRESHOLDS: [f64; 4] = [0.0, 1.0, 1.5, 2.0];

/// KernelBench's per-problem rule: the problem counts at threshold `p` when its solution
/// `counts` (correct on every correctness trial; the caller also says no here for a solution
/// an integrity check flagged) AND its `speedup` (reference time / solution time) is strictly
/// greater than `p`. A speedup exactly `p` is not fast_p; a speedup that is not a finite number
/// never counts.
pub fn kernelbench_fast(counts: bool, speedup: f64, p: f64) -> bool {
    counts && speedup.is_finite() && speedup > p
}

/// KernelBench's fast_p over a set of problems: the share of ALL `n_tasks` problems whose
/// `(counts, speedup)` passes [`kernelbench_fast`] at `p`. `outcomes` holds one entry per
/// problem with a solution; problems without one (fewer entries than `n_tasks`) count as not
/// fast, and entries beyond `n_tasks` are ignored. Returns `(fast problems, share)`; the share is
/// `None` when `n_tasks == 0`.
pub fn kernelbench_fast_p(
    outcomes: &[(bool, f64)],
    n_tasks: usize,
    p: f64,
) -> (usize, Option<f64>) {
    let fast = outcomes
        .iter()
        .take(n_tasks)
        .filter(|&&(counts, s)| kernelbench_fast(counts, s, p))
        .count();
    let share = (n_tasks > 0).then(|| fast as f64 / n_tasks as f64);
    (fast, share)
}

/// Unbiased pass@k estimator for one task with `n` runs of which `c`
/// succeeded: `1 - C(n - c, k) / C(n, k)`, the probability that a uniformly
/// random `k`-subset of the runs contains a success.
///
/// Computed as `1 - prod_{i=0}^{k-1} (n - c - i) / (n - i)` (each factor in
/// `[0, 1]`, no large binomials). Conventions: `k == 0` gives 0; if
/// `n - c < k` every `k`-subset contains a success and the result is 1; if
/// `k > n` all runs are used (as in [`opt_at_k`]), giving 1 if `c > 0` else
/// 0. `c` is clamped to `n`.
pub fn pass_at_k_unbiased(n: usize, c: usize, k: usize) -> f64 {
    let c = c.min(n);
    if k == 0 {
        return 0.0;
    }
    if k > n {
        return if c > 0 { 1.0 } else { 0.0 };
    }
    let fails = n - c;
    if fails < k {
        return 1.0;
    }
    let prod: f64 = (0..k)
        .map(|i| (fails - i) as f64 / (n - i) as f64)
        .product();
    1.0 - prod
}

/// Exact expectation of Opt@k over random run orders: the mean over all
/// `n_tasks` tasks of [`pass_at_k_unbiased`]`(runs, successes, k)`, with
/// missing tasks contributing 0 (and entries beyond `n_tasks` ignored).
/// This is the value [`opt_at_k_curve`]'s mean approximates. `None` if
/// `n_tasks == 0`.
pub fn opt_at_k_expected(success: &[Vec<bool>], n_tasks: usize, k: usize) -> Option<f64> {
    if n_tasks == 0 {
        return None;
    }
    let total: f64 = success
        .iter()
        .take(n_tasks)
        .map(|runs| pass_at_k_unbiased(runs.len(), runs.iter().filter(|&&r| r).count(), k))
        .sum();
    Some(total / n_tasks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a` (a number, or a defined one) is within 1e-12 of `b`.
    fn close(a: impl Into<Option<f64>>, b: f64) -> bool {
        a.into().is_some_and(|a| (a - b).abs() <= 1e-12)
    }

    /// KernelBench's fast_p: strictly greater than p, only for a solution that counts.
    #[test]
    fn kernelbench_fast_boundaries() {
        // A speedup exactly p is not faster than p.
        for p in FAST_P_THRESHOLDS {
            assert!(!kernelbench_fast(true, p, p), "{p}");
            assert!(kernelbench_fast(true, p + 1e-9, p), "{p}");
        }
        // p = 0 is plain correctness (any positive speedup).
        assert!(kernelbench_fast(true, 0.01, 0.0));
        // An incorrect (or flagged) solution never counts, however fast.
        for p in FAST_P_THRESHOLDS {
            assert!(!kernelbench_fast(false, 100.0, p));
        }
        assert!(!kernelbench_fast(true, f64::NAN, 0.0));
        assert!(!kernelbench_fast(true, f64::INFINITY, 0.0));
    }

    #[test]
    fn kernelbench_fast_p_counts_all_problems() {
        // Four problems, one missing: 2.0 (exactly), 1.6, an incorrect 5.0.
        let outcomes = [(true, 2.0), (true, 1.6), (false, 5.0)];
        assert_eq!(kernelbench_fast_p(&outcomes, 4, 0.0), (2, Some(0.5)));
        assert_eq!(kernelbench_fast_p(&outcomes, 4, 1.0), (2, Some(0.5)));
        assert_eq!(kernelbench_fast_p(&outcomes, 4, 1.5), (2, Some(0.5)));
        assert_eq!(kernelbench_fast_p(&outcomes, 4, 2.0), (0, Some(0.0)));
        // Entries beyond n_tasks are ignored.
        assert_eq!(kernelbench_fast_p(&outcomes, 1, 1.0), (1, Some(1.0)));
        assert_eq!(kernelbench_fast_p(&outcomes, 0, 1.0), (0, None));
    }

    #[test]
    fn round1_half_away_from_zero() {
        assert_eq!(round1(1.25), 1.3);
        assert_eq!(round1(1.24), 1.2);
        assert_eq!(round1(1.149), 1.1);
        assert_eq!(round1(1.15), 1.2);
        assert_eq!(round1(-1.25), -1.3);
        assert_eq!(round1(2.0), 2.0);
    }

    #[test]
    fn gso_opt_base_rules() {
        // geomean 1.25 -> 1.3 >= 1.2
        assert!(gso_opt_base(&[1.0, 1.0], &[0.8, 0.8]));
        // geomean 1.111 -> 1.1 < 1.2
        assert!(!gso_opt_base(&[1.0, 1.0], &[0.9, 0.9]));
        // geomean 1.16 -> rounds to 1.2, passes only thanks to rounding
        assert!(gso_opt_base(&[1.16], &[1.0]));
        assert!(!gso_opt_base(&[1.14], &[1.0]));
        // High geomean but mean(b) <= mean(a): one huge regression on a long
        // workload. ratios 10 and 0.5 -> geomean ~2.24, means 10.5 vs 20.1
        assert!(!gso_opt_base(&[1.0, 20.0], &[0.1, 40.0]));
        // mismatched / empty / non-positive
        assert!(!gso_opt_base(&[1.0], &[0.5, 0.5]));
        assert!(!gso_opt_base(&[], &[]));
        assert!(!gso_opt_base(&[1.0, 1.0], &[0.0, 0.5]));
        assert!(!gso_opt_base(&[1.0, f64::INFINITY], &[0.5, 0.5]));
    }

    #[test]
    fn gso_opt_commit_is_strict() {
        // A baseline ten times slower, so opt_base holds and only the expert rule decides.
        let b = [20.0, 30.0];
        // e/a = [1, 1] -> hmean exactly 1
        assert!(close(gso_hmean_e_over_a(&[2.0, 3.0], &[2.0, 3.0]), 1.0));
        assert!(!gso_opt_commit(&b, &[2.0, 3.0], &[2.0, 3.0], 1.0));
        assert!(gso_opt_commit(&b, &[2.0, 3.0], &[2.0, 3.0], 0.95));
        // e/a = [0.5, 2] -> hmean = 2 / (2 + 0.5) = 0.8
        let b = [20.0, 20.0];
        assert!(close(gso_hmean_e_over_a(&[1.0, 4.0], &[2.0, 2.0]), 0.8));
        assert!(!gso_opt_commit(&b, &[1.0, 4.0], &[2.0, 2.0], 0.8));
        assert!(gso_opt_commit(&b, &[1.0, 4.0], &[2.0, 2.0], 0.79));
        assert!(!gso_opt_commit(&[], &[], &[], 0.0));
        assert_eq!(gso_hmean_e_over_a(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(gso_hmean_e_over_a(&[1.0, 1.0], &[0.0, 2.0]), None);
        assert!(!gso_opt_commit(&b, &[1.0, 1.0], &[0.0, 2.0], 0.5));
    }

    /// Issue 10 item 1: GSO sets `opt_commit` only where `opt_base` holds.
    #[test]
    fn opt_commit_implies_opt_base() {
        // Expert 1.15x, patch 1.10x: e/a = 1.10 / 1.15 = 0.957 > 0.95, but the patch is not
        // 1.2x faster than the baseline (round(1.1, 1) < 1.2).
        let b = [1.0, 2.0];
        let e = [1.0 / 1.15, 2.0 / 1.15];
        let a = [1.0 / 1.10, 2.0 / 1.10];
        assert!(gso_hmean_e_over_a(&e, &a).unwrap() > 0.95);
        assert!(!gso_opt_base(&b, &a));
        assert!(!gso_opt_commit(&b, &e, &a, 0.95));
        // An expert at 1.05x and a no-op patch (a == b): e/a = 1 / 1.05 = 0.952 > 0.95, yet
        // a patch that changes nothing never matches the expert.
        let e = [1.0 / 1.05, 2.0 / 1.05];
        assert!(gso_hmean_e_over_a(&e, &b).unwrap() > 0.95);
        assert!(!gso_opt_commit(&b, &e, &b, 0.95));
        // With the patch at 1.25x both hold.
        let a = [1.0 / 1.25, 2.0 / 1.25];
        assert!(gso_opt_base(&b, &a) && gso_opt_commit(&b, &e, &a, 0.95));
    }

    /// METRICS.md: "Opt_p@K ... p = 0 means correct and opt_base". Before opt_commit implied
    /// opt_base, p = 0 accepted every correct patch.
    #[test]
    fn opt_p_zero_is_opt_base() {
        let b = [1.0, 2.0];
        let e = [0.5, 1.0];
        for f in [0.5, 0.9, 1.0, 1.1, 1.2, 2.0, 4.0] {
            let a = [1.0 / f, 2.0 / f];
            assert_eq!(
                gso_opt_commit(&b, &e, &a, 0.0),
                gso_opt_base(&b, &a),
                "{f}x"
            );
        }
    }

    #[test]
    fn swef_ratio_uses_totals() {
        // totals b = 10, e = 4, a = 5: agent 2x, expert 2.5x -> SR 0.8
        let sr = swef_speedup_ratio(&[6.0, 4.0], &[1.0, 3.0], &[4.0, 1.0]);
        assert!(close(sr, 0.8));
        // Per-workload averaging would give something else:
        // mean((6/4)/(6/1), (4/1)/(4/3)) = mean(0.25, 3) = 1.625.
        assert_eq!(swef_speedup_ratio(&[1.0], &[1.0, 2.0], &[1.0]), None);
        assert_eq!(swef_speedup_ratio(&[1.0], &[1.0], &[-1.0]), None);
        // harmonic mean of [0.8, 2.0] = 2 / (1.25 + 0.5)
        assert!(close(swef_aggregate(&[0.8, 2.0]), 2.0 / 1.75));
        assert_eq!(swef_aggregate(&[]), None);
    }

    fn wn(module: &str, class: Option<&str>, function: &str) -> WorkloadName {
        WorkloadName {
            module: module.to_string(),
            class: class.map(str::to_string),
            function: function.to_string(),
        }
    }

    #[test]
    fn split_names() {
        assert_eq!(
            split_workload_name("pandas.core.frame.DataFrame.sum(axis=1)"),
            wn("pandas.core.frame", Some("DataFrame"), "sum")
        );
        assert_eq!(
            split_workload_name("numpy.linalg.norm"),
            wn("numpy.linalg", None, "norm")
        );
        assert_eq!(split_workload_name("a.B.c"), wn("a", Some("B"), "c"));
        // Only two parts: never a class, even if capitalized.
        assert_eq!(split_workload_name("B.c"), wn("B", None, "c"));
        assert_eq!(split_workload_name("solo"), wn("", None, "solo"));
        assert_eq!(split_workload_name("solo(1, 2)"), wn("", None, "solo"));
        // Dots inside the parameter list do not split.
        assert_eq!(
            split_workload_name("bench.Suite.time_op(0.5, 'a.b')"),
            wn("bench", Some("Suite"), "time_op")
        );
        // Nested parentheses in the parameter list.
        assert_eq!(split_workload_name("m.f((1, 2), [3])"), wn("m", None, "f"));
        // The first '(' whose match ends the string is the cut point.
        assert_eq!(split_workload_name("m.f(a)(b)"), wn("m", None, "f(a)"));
        // Not trailing: left alone.
        assert_eq!(split_workload_name("m.f(x).g"), wn("m.f(x)", None, "g"));
    }

    #[test]
    fn advantage_two_modules_by_hand() {
        let names: Vec<String> = ["m1.f", "m1.g", "m2.C.h", "m2.C.k"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = [2.0, 8.0, 1.0, 4.0];
        let o = [1.0, 1.0, 2.0, 2.0];
        let adv = formulacode_advantage(&names, &s, &o);
        // L1: m1: gmean(2,8) - gmean(1,1) = 3; m2: gmean(1,4) - gmean(2,2) = 0
        assert!(close(adv.l1, 1.5), "{adv:?}");
        // L2: same groups as L1 here
        assert!(close(adv.l2, 1.5));
        // L3: one workload per group: (1 + 7 - 1 + 2) / 4
        assert!(close(adv.l3, 2.25));
        // L4: 64^(1/4) - 4^(1/4) = 2 sqrt 2 - sqrt 2
        assert!(close(adv.l4, 2f64.sqrt()));
    }

    #[test]
    fn advantage_classless_key_is_its_own_group() {
        let names: Vec<String> = ["m.f", "m.C.g", "m.C.h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = [4.0, 1.0, 9.0];
        let o = [1.0, 1.0, 1.0];
        let adv = formulacode_advantage(&names, &s, &o);
        let g = 36f64.powf(1.0 / 3.0);
        assert!(close(adv.l1, g - 1.0));
        // L2: (m, None) -> 4 - 1 = 3; (m, C) -> 3 - 1 = 2
        assert!(close(adv.l2, 2.5));
        // L3: 3, 0, 8
        assert!(close(adv.l3, 11.0 / 3.0));
        assert!(close(adv.l4, g - 1.0));
        // Repeated names fall into one L3 group.
        let dup: Vec<String> = vec!["m.f(1)".into(), "m.f(2)".into()];
        let adv = formulacode_advantage(&dup, &[1.0, 4.0], &[1.0, 1.0]);
        assert!(close(adv.l3, 1.0));
        let bad = formulacode_advantage(&dup, &[1.0], &[1.0]);
        assert_eq!(bad, Advantage::default());
        assert!(!bad.is_defined());
        // A non-positive speedup leaves every level undefined (each level covers every workload).
        let zero = formulacode_advantage(&dup, &[0.0, 4.0], &[1.0, 1.0]);
        assert_eq!(zero.levels(), [None; 4]);
    }

    #[test]
    fn improvements_and_regressions() {
        let s = [1.05, 1.049, 1.0, 1.0 / 1.05, 0.96, 2.0, 0.5, f64::NAN];
        assert_eq!(
            improvements_regressions(&s, DEFAULT_IMPROVEMENT_THRESHOLD),
            (2, 2)
        );
        assert_eq!(improvements_regressions(&s, 0.0), (4, 4));
        assert_eq!(improvements_regressions(&[], 0.05), (0, 0));
    }

    fn table() -> Vec<Vec<bool>> {
        vec![
            vec![false, true, false],
            vec![true],
            vec![false, false, false],
            vec![false, false, true],
        ]
    }

    #[test]
    fn opt_at_k_fixed_table() {
        let t = table();
        assert_eq!(opt_at_k(&t, 5, 0), Some(0.0));
        assert!(close(opt_at_k(&t, 5, 1), 0.2));
        assert!(close(opt_at_k(&t, 5, 2), 0.4));
        assert!(close(opt_at_k(&t, 5, 3), 0.6));
        assert!(close(opt_at_k(&t, 5, 10), 0.6));
        assert!(close(opt_at_k(&t, 4, 3), 0.75));
        // Entries beyond n_tasks are ignored.
        assert!(close(opt_at_k(&t, 2, 3), 1.0));
        assert_eq!(opt_at_k(&t, 0, 1), None);
    }

    #[test]
    fn pass_at_k_values() {
        assert!(close(pass_at_k_unbiased(5, 2, 2), 0.7));
        assert!(close(pass_at_k_unbiased(10, 3, 1), 0.3));
        // 1 - C(7,3)/C(10,3) = 1 - 35/120
        assert!(close(pass_at_k_unbiased(10, 3, 3), 1.0 - 35.0 / 120.0));
        assert_eq!(pass_at_k_unbiased(4, 0, 2), 0.0);
        assert_eq!(pass_at_k_unbiased(4, 3, 2), 1.0);
        assert_eq!(pass_at_k_unbiased(4, 1, 0), 0.0);
        assert_eq!(pass_at_k_unbiased(2, 1, 5), 1.0);
        assert_eq!(pass_at_k_unbiased(2, 0, 5), 0.0);
        // Large n stays finite and accurate: 1 - (900/1000) for k = 1
        assert!(close(pass_at_k_unbiased(1000, 100, 1), 0.1));
        assert!(pass_at_k_unbiased(1000, 1, 500) > 0.0);
    }

    #[test]
    fn opt_at_k_expected_fixed_table() {
        let t = table();
        assert!(close(opt_at_k_expected(&t, 5, 1), 1.0 / 3.0));
        assert!(close(opt_at_k_expected(&t, 5, 2), 7.0 / 15.0));
        assert!(close(opt_at_k_expected(&t, 5, 3), 0.6));
        assert_eq!(opt_at_k_expected(&t, 0, 1), None);
    }

    fn random_table() -> Vec<Vec<bool>> {
        // Deterministic mix of run counts (1..=8) and success counts.
        (0..40)
            .map(|t| {
                let n = 1 + (t * 5) % 8;
                let c = (t * 3) % (n + 1);
                (0..n).map(|i| (i * 7 + t) % n < c).collect()
            })
            .collect()
    }

    #[test]
    fn curve_converges_to_expected() {
        let t = random_table();
        let n_tasks = 45; // five missing tasks
        let curve = opt_at_k_curve(&t, n_tasks, 6, 2000, 12345);
        assert_eq!(curve.len(), 6);
        let mut prev_mean = 0.0;
        for &(k, m, lo, hi) in &curve {
            let exact = opt_at_k_expected(&t, n_tasks, k).unwrap();
            assert!((m - exact).abs() < 0.02, "k={k}: {m} vs {exact}");
            // (Summation can put the mean a few ulps outside when lo == hi.)
            assert!(lo <= m + 1e-12 && m <= hi + 1e-12, "k={k}: {lo} {m} {hi}");
            assert!(m >= prev_mean - 1e-12);
            prev_mean = m;
        }
        assert_eq!(curve[0].0, 1);
        assert_eq!(curve[5].0, 6);
        // Deterministic for a seed.
        assert_eq!(curve, opt_at_k_curve(&t, n_tasks, 6, 2000, 12345));
        // At k >= max runs the shuffle cannot matter: the curve is exact.
        let full = opt_at_k_curve(&t, n_tasks, 8, 50, 1);
        let last = full[7];
        assert!(close(last.1, opt_at_k(&t, n_tasks, 8).unwrap()));
        assert!(close(last.2, last.1) && close(last.3, last.1));
    }

    /// Issue 10 item 5: the smoothed curve for a fixed seed is pinned (the generator, the
    /// shuffle and the task order), so a dependency bump that changes it is noticed.
    #[test]
    fn seeds_that_stay_seeds_opt_at_k_curve_is_pinned() {
        let t = random_table();
        let curve = opt_at_k_curve(&t, 45, 3, 100, 2026);
        let got: Vec<(f64, f64, f64)> = curve.iter().map(|&(_, m, lo, hi)| (m, lo, hi)).collect();
        assert_eq!(got, PINNED_CURVE.to_vec());
    }

    const PINNED_CURVE: [(f64, f64, f64); 3] = [
        (
            0.284_444_444_444_444_2,
            0.210_555_555_555_555_55,
            0.355_555_555_555_555_57,
        ),
        (
            0.371_333_333_333_332_85,
            0.311_111_111_111_111_1,
            0.422_222_222_222_222_2,
        ),
        (
            0.397_111_111_111_111_1,
            0.355_555_555_555_555_57,
            0.422_222_222_222_222_2,
        ),
    ];

    #[test]
    fn curve_has_spread_when_runs_disagree() {
        let t = table();
        let curve = opt_at_k_curve(&t, 5, 1, 2000, 9);
        let (_, m, lo, hi) = curve[0];
        assert!((m - 1.0 / 3.0).abs() < 0.02);
        // k = 1 trial values lie in {0.2, 0.4, 0.6}.
        assert!(close(lo, 0.2) && close(hi, 0.6), "{lo} {hi}");
        assert!(opt_at_k_curve(&t, 5, 2, 0, 9).is_empty());
        assert!(opt_at_k_curve(&t, 0, 2, 10, 9).is_empty());
    }

    #[test]
    fn advantage_serde_roundtrip() {
        let a = Advantage {
            l1: Some(1.0),
            l2: Some(2.0),
            l3: None,
            l4: Some(4.0),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"l1":1.0,"l2":2.0,"l3":null,"l4":4.0}"#);
        let back: Advantage = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
    }

    /// GSO's opt_base needs the patch's mean strictly below the baseline's: equal means fail
    /// even when the geometric mean of the ratios is past 1.2 (here 1.38).
    #[test]
    fn gso_opt_base_needs_a_strictly_lower_mean() {
        assert!(!gso_opt_base(&[1.0, 10.0], &[0.5, 10.5]));
        assert!(gso_opt_base(&[1.0, 10.0], &[0.5, 10.4]));
    }
}
