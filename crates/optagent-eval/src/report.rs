//! The evaluation's result, with stable field names: what `optagent eval --json` prints and what
//! rollouts, sweeps and reports read back. Fields added after the first release carry
//! `#[serde(default)]`, so results files written by earlier versions still read.
//!
//! A figure that can be undefined (a ratio over a zero median, a mean over no workload, a
//! figure the evaluator has not settled yet) is an `Option<f64>`: `None`, written `null`. Earlier
//! versions wrote the `NaN` that stood for it as `null` too, so their records read back as
//! `None`. The plain `f64` figures are always defined: every workload has at least one sample on
//! the baseline and on the expert (either failing stops the evaluation), and samples are never
//! `NaN`.

use optagent_stats::scoring::Advantage;
use optagent_task::Metric;
use serde::{Deserialize, Serialize};

/// How a patch fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    PatchFailed,
    BuildFailed,
    TestsFailed,
    WrongResult,
    Timeout,
    /// Added lines use a construct SWE-fficiency forbids (frame inspection, tracing, gc walks).
    GuardViolation,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::PatchFailed => "patch_failed",
            Verdict::BuildFailed => "build_failed",
            Verdict::TestsFailed => "tests_failed",
            Verdict::WrongResult => "wrong_result",
            Verdict::Timeout => "timeout",
            Verdict::GuardViolation => "guard_violation",
        }
    }
}

/// Summary of one non-empty series of samples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stat {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    /// The summary of `xs`; `None` for an empty series.
    pub fn of(xs: &[f64]) -> Option<Stat> {
        let s = optagent_stats::summary::Summary::of(xs)?;
        Some(Stat {
            n: s.n,
            median: s.median,
            mean: s.mean,
            mad: s.mad,
            min: s.min,
            max: s.max,
        })
    }
}

/// One workload's figures for one patch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub name: String,
    pub visible: bool,
    pub baseline: Stat,
    pub expert: Stat,
    /// `None` when the patch failed before this workload was measured.
    pub patch: Option<Stat>,
    /// median(baseline) / median(patch); 1.0 for an incorrect patch; `None` where the ratio is
    /// not a number (a zero median).
    pub speedup: Option<f64>,
    /// Bootstrap interval of the speedup (`confidence` of the report); a bound is `None` where
    /// it is undefined.
    pub speedup_ci: [Option<f64>; 2],
    /// median(baseline) / median(expert).
    pub expert_speedup: Option<f64>,
    pub expert_speedup_ci: [Option<f64>; 2],
    /// FormulaCode's per-workload advantage: speedup - expert_speedup.
    pub advantage: Option<f64>,
    /// Two-sided Mann-Whitney U p-value, patch against baseline.
    pub p_value: f64,
    /// The test (or, for instruction counts, exact separation beyond the noise floor) says the
    /// patch's cost differs from the baseline's.
    pub significant: bool,
    /// Median wall time of the whole workload process on each tree, seconds: reported beside
    /// the metric (instruction counts, or the workload's own timing of its measured section).
    #[serde(default)]
    pub baseline_wall_s: f64,
    #[serde(default)]
    pub expert_wall_s: f64,
    #[serde(default)]
    pub patch_wall_s: Option<f64>,
    /// Median CPU time (user + system) of the whole workload process tree on each tree, seconds,
    /// measured by the evaluator (`wait4`); `None` where the backend does not measure it.
    #[serde(default)]
    pub baseline_cpu_s: Option<f64>,
    #[serde(default)]
    pub expert_cpu_s: Option<f64>,
    #[serde(default)]
    pub patch_cpu_s: Option<f64>,
    /// The clock that decided this workload's figures (`reported`, `wall` or `cpu`) and why
    /// ([`crate::clock::choose`]); `None` for instruction counts.
    #[serde(default)]
    pub clock: Option<crate::clock::ClockDecision>,
    pub expert_p_value: f64,
    pub expert_significant: bool,
    /// The expert is not significantly faster than the baseline here (not `expert_significant`,
    /// or its speedup is at most 1): this workload is left out of the task's `speedup_ratio` and
    /// `advantage`.
    #[serde(default)]
    pub expert_not_faster: bool,
    /// Timed repetitions per tree, and why measuring stopped (fixed, converged, budget, max_reps).
    pub reps: usize,
    pub stop: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineReport {
    pub cores: usize,
    pub load1_start: Option<f64>,
    pub load1_end: Option<f64>,
    pub pinned_cpus: Vec<usize>,
    pub sandbox: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimingReport {
    /// The whole evaluation, tree preparation included.
    pub total_wall_s: f64,
    /// Sum of the wall times of every workload process run in the session (the physical floor
    /// of measurement).
    pub runs_wall_s: f64,
    pub runs: usize,
    /// The measurement session's wall time (warm-up and all timed runs).
    #[serde(default)]
    pub session_wall_s: f64,
    /// The session's time beyond its workload processes, relative to them: the evaluator's own
    /// overhead in measuring. `None` when no workload process ran.
    #[serde(default)]
    pub overhead_ratio: Option<f64>,
}

/// The score of one patch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub task: String,
    /// The candidate's label (`oracle`, `nop`, a file name, a rollout id).
    pub patch: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub correct: bool,
    pub metric: Metric,
    /// Geometric mean over workloads of the per-workload speedups (1.0 when incorrect); `None`
    /// when a workload's is undefined.
    pub speedup: Option<f64>,
    pub expert_speedup: Option<f64>,
    /// GSO: mean(b) > mean(a) and round(geomean(b/a), 1) >= 1.2, from per-workload means.
    pub opt_base: bool,
    /// GSO: opt_base and harmonic_mean(e/a) > p, from per-workload means (so it implies
    /// opt_base).
    pub opt_commit: bool,
    pub opt_p: f64,
    pub hmean_expert_over_patch: Option<f64>,
    /// SWE-fficiency: (b/a)/(b/e) on the task's totals of means, over the workloads where the
    /// expert is faster (all of them when there is none).
    pub speedup_ratio: Option<f64>,
    /// FormulaCode's advantage at L1..L4 (medians), over the same workloads.
    pub advantage: Advantage,
    /// On no workload is the expert significantly faster than the baseline: `speedup_ratio`
    /// and `advantage` (then over all workloads) mean nothing, and sweeps leave the task out of
    /// their SR and advantage means.
    #[serde(default)]
    pub expert_not_faster: bool,
    /// Workloads significantly faster / slower by at least `threshold`.
    pub improvements: usize,
    pub regressions: usize,
    pub threshold: f64,
    pub confidence: f64,
    pub alpha: f64,
    pub apply_method: Option<String>,
    pub guard_flags: Vec<String>,
    pub workloads: Vec<WorkloadReport>,
    pub machine: MachineReport,
    pub timing: TimingReport,
    /// Correct, significantly faster and without an integrity flag
    /// ([`crate::integrity::is_verified`]).
    #[serde(default)]
    pub verified: bool,
    /// The evaluator's own checks: flags, the clock comparison, the isolation that held.
    #[serde(default)]
    pub integrity: crate::integrity::Integrity,
    /// KernelBench's fast_p against the baseline at p = 0, 1.0, 1.5, 2.0
    /// (`{"0": true, "1.0": true, "1.5": false, "2.0": false}`): correct, not flagged, and
    /// `fast_p_speedup` strictly above p ([`crate::fast_p`]).
    #[serde(default)]
    pub fast_p: crate::fast_p::FastP,
    /// The speedup fast_p uses: `speedup` (the geometric mean over workloads).
    #[serde(default)]
    pub fast_p_speedup: Option<f64>,
    /// fast_p against the expert (`torch.compile` for KernelBench tasks), on
    /// `fast_p_expert_speedup`.
    #[serde(default)]
    pub fast_p_expert: crate::fast_p::FastP,
    /// `speedup / expert_speedup`: the geometric mean over workloads of expert / patch time.
    #[serde(default)]
    pub fast_p_expert_speedup: Option<f64>,
}

/// The expert is significantly faster than the baseline on a workload: its test says the costs
/// differ (`significant`) and its speedup is above 1.
pub fn expert_faster(significant: bool, expert_speedup: Option<f64>) -> bool {
    significant && expert_speedup.is_some_and(|o| o > 1.0)
}

/// Indices of the workloads that enter SR and advantage: those where the expert is faster, or
/// all of them when there is none.
pub fn scored_indices(workloads: &[WorkloadReport]) -> Vec<usize> {
    let kept: Vec<usize> = (0..workloads.len())
        .filter(|&i| workloads[i].expert_is_faster())
        .collect();
    if kept.is_empty() {
        (0..workloads.len()).collect()
    } else {
        kept
    }
}

impl WorkloadReport {
    /// [`expert_faster`] from the stored figures (so records written before the
    /// `expert_not_faster` field existed are judged alike).
    pub fn expert_is_faster(&self) -> bool {
        expert_faster(self.expert_significant, self.expert_speedup)
    }
}

impl EvalReport {
    /// No workload where the expert is significantly faster than the baseline (computed from the
    /// stored figures, as [`WorkloadReport::expert_is_faster`]). `false` without workloads.
    pub fn expert_not_faster_task(&self) -> bool {
        !self.workloads.is_empty() && !self.workloads.iter().any(|w| w.expert_is_faster())
    }

    /// The workloads that enter SR and advantage (see [`scored_indices`]).
    pub fn scored_workloads(&self) -> Vec<&WorkloadReport> {
        scored_indices(&self.workloads)
            .into_iter()
            .map(|i| &self.workloads[i])
            .collect()
    }
}
