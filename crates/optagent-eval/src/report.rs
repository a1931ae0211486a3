//! The evaluation's result, with stable field names: what `optagent eval --json` prints and what
//! rollouts, sweeps and reports read back. Fields added after the first release carry
//! `#[serde(default)]`, so results files written by earlier versions still read.

use optagent_stats::metrics::Advantage;
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

/// Summary of one series of samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub fn of(xs: &[f64]) -> Stat {
        let s = optagent_stats::summary::Summary::of(xs);
        Stat {
            n: s.n,
            median: s.median,
            mean: s.mean,
            mad: s.mad,
            min: s.min,
            max: s.max,
        }
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
    /// median(baseline) / median(patch); 1.0 for an incorrect patch.
    pub speedup: f64,
    /// Bootstrap interval of the speedup (`confidence` of the report).
    pub speedup_ci: [f64; 2],
    /// median(baseline) / median(expert).
    pub expert_speedup: f64,
    pub expert_speedup_ci: [f64; 2],
    /// FormulaCode's per-workload advantage: speedup - expert_speedup.
    pub advantage: f64,
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
    pub expert_p_value: f64,
    pub expert_significant: bool,
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
    /// overhead in measuring.
    #[serde(default)]
    pub overhead_ratio: f64,
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
    /// Geometric mean over workloads of the per-workload speedups (1.0 when incorrect).
    pub speedup: f64,
    pub expert_speedup: f64,
    /// GSO: mean(b) > mean(a) and round(geomean(b/a), 1) >= 1.2, from per-workload means.
    pub opt_base: bool,
    /// GSO: harmonic_mean(e/a) > p, from per-workload means.
    pub opt_commit: bool,
    pub opt_p: f64,
    pub hmean_expert_over_patch: f64,
    /// SWE-fficiency: (b/a)/(b/e) on the task's totals of means.
    pub speedup_ratio: f64,
    /// FormulaCode's advantage at L1..L4 (medians).
    pub advantage: Advantage,
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
    /// What the integrity defences found, and the LLM judge's verdict when one was asked.
    #[serde(default)]
    pub integrity: Integrity,
}

/// The integrity section of a report: flags, and the optional LLM judge's verdict (kept as JSON:
/// the evaluator does not call models; `optagent_agent::judge::JudgeVerdict` is its shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integrity {
    #[serde(default)]
    pub flags: Vec<IntegrityFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<serde_json::Value>,
}

/// One thing an integrity check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityFlag {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    pub detail: String,
}
