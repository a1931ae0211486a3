//! Turning a session's samples into each candidate's report, with the public benchmarks' rules
//! (`optagent_stats::scoring`). A candidate that failed correctness scores speedup 1.0 on every
//! workload, as the benchmarks say; the expert's figures stay as measured.
//!
//! Where the expert is not significantly faster than the baseline on this machine
//! ([`WorkloadReport::expert_is_faster`]), SR and advantage stop meaning anything (a patch
//! that changes nothing "beats" the expert). Such workloads are marked `expert_not_faster` and
//! left out of the task's `speedup_ratio` and `advantage`; a task with no workload where the
//! expert is faster is marked `expert_not_faster` itself, keeps those two figures over all its
//! workloads for reference, and sweeps leave it out of their SR and advantage means.

use std::time::Duration;

use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_stats::hypothesis::mann_whitney_u;
use optagent_stats::scoring::{self, Advantage};
use optagent_stats::summary::{geomean, mean, median};
use optagent_task::{Metric, Task, Workload};

use crate::machine::MachineState;
use crate::measure::Session;
use crate::prepare::{Prepared, Role};
use crate::report::*;

use crate::EvalOptions;

/// Relative difference below which instruction counts are taken as equal (counts jitter by a
/// few hundred instructions between runs: environment, addresses).
pub const INSTRUCTION_NOISE_FLOOR: f64 = 0.005;

pub struct SessionFacts {
    pub machine_start: MachineState,
    pub machine_end: MachineState,
    pub total_wall: Duration,
}

/// Is `a` different from `b`? Returns (two-sided p, significant).
pub fn significance(metric: Metric, b: &[f64], a: &[f64], alpha: f64) -> (f64, bool) {
    if a.is_empty() || b.is_empty() {
        return (1.0, false);
    }
    let mw = mann_whitney_u(a, b);
    let sig = match metric {
        Metric::Time => mw.p_two_sided < alpha,
        Metric::Instructions => {
            let (ma, mb) = (median(a), median(b));
            let separated = a.iter().cloned().fold(f64::MIN, f64::max)
                < b.iter().cloned().fold(f64::MAX, f64::min)
                || a.iter().cloned().fold(f64::MAX, f64::min)
                    > b.iter().cloned().fold(f64::MIN, f64::max);
            separated && ((ma - mb).abs() / mb) > INSTRUCTION_NOISE_FLOOR
        }
    };
    (mw.p_two_sided, sig)
}

/// The paired view of two series measured in the same rounds: per-round log ratios b_r/a_r
/// (adjacent in time, so load that comes and goes cancels), their median as the speedup
/// estimate, and the Wilcoxon signed-rank p-value against no change.
pub fn paired(b: &[f64], a: &[f64]) -> (f64, f64) {
    let n = b.len().min(a.len());
    let logs: Vec<f64> = (0..n).map(|i| (b[i] / a[i]).ln()).collect();
    if logs.is_empty() {
        return (1.0, 1.0);
    }
    let est = median(&logs).exp();
    let p = optagent_stats::hypothesis::wilcoxon_signed_rank(&logs).p_two_sided;
    (est, p)
}

/// Per-workload means of the baseline, expert and patch series (the patch's are the baseline's
/// for an incorrect patch), in workload order: GSO's and SWE-fficiency's inputs.
pub struct Means {
    pub b: Vec<f64>,
    pub e: Vec<f64>,
    pub a: Vec<f64>,
}

/// GSO's `(opt_base, opt_commit)`: both false for an incorrect patch, and `opt_commit` only
/// where `opt_base` holds ([`scoring::gso_opt_commit`] checks both).
pub fn gso_flags(correct: bool, m: &Means, p: f64) -> (bool, bool) {
    if !correct {
        return (false, false);
    }
    (
        scoring::gso_opt_base(&m.b, &m.a),
        scoring::gso_opt_commit(&m.b, &m.e, &m.a, p),
    )
}

/// SWE-fficiency's speedup ratio and FormulaCode's advantage of a task, over the workloads
/// where the expert is significantly faster ([`crate::report::scored_indices`]: all of them when
/// there is none), and whether there is none (`expert_not_faster`). `rows` carry each
/// workload's name, speedup `s` and expert speedup `o`; `m` the means in the same order.
/// SR is `None` where a mean is not a positive number, and an advantage level where a kept
/// workload's speedup is undefined.
pub fn sr_and_advantage(rows: &[WorkloadReport], m: &Means) -> (Option<f64>, Advantage, bool) {
    if rows.is_empty() {
        let zero = Advantage::uniform(0.0);
        return (scoring::swef_speedup_ratio(&m.b, &m.e, &m.a), zero, false);
    }
    let kept = crate::report::scored_indices(rows);
    let pick = |xs: &[f64]| -> Vec<f64> { kept.iter().map(|&i| xs[i]).collect() };
    let names: Vec<String> = kept.iter().map(|&i| rows[i].name.clone()).collect();
    let s: Option<Vec<f64>> = kept.iter().map(|&i| rows[i].speedup).collect();
    let o: Option<Vec<f64>> = kept.iter().map(|&i| rows[i].expert_speedup).collect();
    let advantage = match (s, o) {
        (Some(s), Some(o)) => scoring::formulacode_advantage(&names, &s, &o),
        _ => Advantage::default(),
    };
    let sr = scoring::swef_speedup_ratio(&pick(&m.b), &pick(&m.e), &pick(&m.a));
    let expert_not_faster = !rows.iter().any(WorkloadReport::expert_is_faster);
    (sr, advantage, expert_not_faster)
}

pub fn score_all(
    task: &Task,
    workloads: &[&Workload],
    prepared: &[Prepared],
    session: &Session,
    metric: Metric,
    opts: &EvalOptions,
    facts: SessionFacts,
) -> Vec<EvalReport> {
    prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.role, Role::Candidate(_)))
        .map(|(slot, p)| score_one(task, workloads, p, slot, session, metric, opts, &facts))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn score_one(
    task: &Task,
    workloads: &[&Workload],
    p: &Prepared,
    slot: usize,
    session: &Session,
    metric: Metric,
    opts: &EvalOptions,
    facts: &SessionFacts,
) -> EvalReport {
    let failure = p.failure.clone().or_else(|| session.failures[slot].clone());
    let correct = failure.is_none();
    let mut rows = Vec::new();
    let (mut b_means, mut e_means, mut a_means) = (vec![], vec![], vec![]);
    // A series without samples has no mean: NaN here leaves the metrics' figures undefined
    // (`None`: they take only finite, positive times).
    let mean_of = |xs: &[f64]| mean(xs).unwrap_or(f64::NAN);
    for (wi, w) in workloads.iter().enumerate() {
        let b = &session.series[0][wi].values;
        let a = &session.series[slot][wi].values;
        b_means.push(mean_of(b));
        e_means.push(mean_of(&session.series[1][wi].values));
        a_means.push(if correct && !a.is_empty() {
            mean_of(a)
        } else {
            mean_of(b)
        });
        rows.push(score_workload(w, wi, slot, session, correct, metric, opts));
    }
    let s_all: Option<Vec<f64>> = rows.iter().map(|r| r.speedup).collect();
    let o_all: Option<Vec<f64>> = rows.iter().map(|r| r.expert_speedup).collect();
    let significant_speedups: Vec<f64> = rows
        .iter()
        .map(|r| match (r.significant, r.speedup) {
            (true, Some(s)) => s,
            _ => 1.0,
        })
        .collect();
    let (improvements, regressions) =
        scoring::improvements_regressions(&significant_speedups, opts.threshold);
    let means = Means {
        b: b_means,
        e: e_means,
        a: a_means,
    };
    let (opt_base, opt_commit) = gso_flags(correct, &means, opts.p);
    let hmean = scoring::gso_hmean_e_over_a(&means.e, &means.a);
    let (speedup_ratio, advantage, expert_not_faster) = sr_and_advantage(&rows, &means);
    EvalReport {
        task: task.id().to_string(),
        patch: p.label.clone(),
        verdict: failure.as_ref().map(|f| f.0).unwrap_or(Verdict::Ok),
        reason: failure.map(|f| f.1),
        correct,
        metric,
        speedup: s_all.as_deref().and_then(geomean),
        expert_speedup: o_all.as_deref().and_then(geomean),
        opt_base,
        opt_commit,
        opt_p: opts.p,
        hmean_expert_over_patch: hmean,
        speedup_ratio,
        advantage,
        expert_not_faster,
        improvements,
        regressions,
        threshold: opts.threshold,
        confidence: opts.confidence,
        alpha: opts.alpha,
        apply_method: p.apply_method.clone(),
        guard_flags: p.guard_flags.clone(),
        workloads: rows,
        machine: MachineReport {
            cores: facts.machine_start.cores,
            load1_start: facts.machine_start.load1,
            load1_end: facts.machine_end.load1,
            pinned_cpus: session.pinned.clone(),
            sandbox: p.sandbox.kind().to_string(),
        },
        timing: TimingReport {
            total_wall_s: facts.total_wall.as_secs_f64(),
            runs_wall_s: session.runs_wall.as_secs_f64(),
            runs: session.runs,
            session_wall_s: session.session_wall.as_secs_f64(),
            overhead_ratio: (!session.runs_wall.is_zero()).then(|| {
                session.session_wall.as_secs_f64() / session.runs_wall.as_secs_f64() - 1.0
            }),
        },
        // Filled by `crate::integrity::apply` (`crate::fast_p::settle`).
        verified: false,
        integrity: Default::default(),
        fast_p: Default::default(),
        fast_p_speedup: None,
        fast_p_expert: Default::default(),
        fast_p_expert_speedup: None,
    }
}

/// One workload's row of a candidate's report (tree `slot`; the baseline is slot 0, the expert
/// slot 1): speedups with their intervals and significance, wall and CPU medians, and why its
/// measuring stopped. An incorrect candidate scores 1.0.
fn score_workload(
    w: &Workload,
    wi: usize,
    slot: usize,
    session: &Session,
    correct: bool,
    metric: Metric,
    opts: &EvalOptions,
) -> WorkloadReport {
    let b = &session.series[0][wi].values;
    let e = &session.series[1][wi].values;
    let a = &session.series[slot][wi].values;
    let seed = opts.seed ^ (wi as u64).wrapping_mul(0x9e37_79b9);
    let (o, olo, ohi) = ratio_of_medians_ci(b, e, opts.confidence, 2000, seed);
    let (ep, esig) = significance(metric, b, e, opts.alpha);
    let (s, slo, shi, pval, sig) = if correct && !a.is_empty() {
        let (s, lo, hi) = ratio_of_medians_ci(b, a, opts.confidence, 2000, seed);
        let (pv, sig) = significance(metric, b, a, opts.alpha);
        (s, lo, hi, pv, sig)
    } else {
        (Some(1.0), Some(1.0), Some(1.0), 1.0, false)
    };
    let stop = &session.stops[wi];
    let wall = |slot: usize| {
        let w: Vec<f64> = session.series[slot][wi]
            .walls
            .iter()
            .map(|d| d.as_secs_f64())
            .collect();
        median(&w)
    };
    let cpu = |slot: usize| crate::clock::cpu_secs(&session.series[slot][wi]).map(|c| median(&c));
    WorkloadReport {
        name: w.name.clone(),
        visible: w.visible,
        // A baseline or expert without samples stopped the evaluation before scoring (it failed,
        // `EvalError::TaskBroken`); `n == 0` would say so.
        baseline: Stat::of(b).unwrap_or_default(),
        expert: Stat::of(e).unwrap_or_default(),
        patch: Stat::of(a),
        speedup: s,
        speedup_ci: [slo, shi],
        expert_speedup: o,
        expert_speedup_ci: [olo, ohi],
        advantage: s.zip(o).map(|(s, o)| s - o),
        p_value: pval,
        significant: sig,
        baseline_wall_s: wall(0),
        expert_wall_s: wall(1),
        patch_wall_s: (!a.is_empty()).then(|| wall(slot)),
        baseline_cpu_s: cpu(0),
        expert_cpu_s: cpu(1),
        patch_cpu_s: if a.is_empty() { None } else { cpu(slot) },
        clock: session.clocks.get(wi).cloned(),
        expert_p_value: ep,
        expert_significant: esig,
        expert_not_faster: !crate::report::expert_faster(esig, o),
        reps: stop.reps,
        stop: stop.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(x: f64) -> Stat {
        Stat::of(&[x]).unwrap()
    }

    /// A workload row with baseline `b`, expert `e` and patch `a` (one timing each), the expert
    /// judged significant or not.
    fn row(name: &str, b: f64, e: f64, a: f64, expert_significant: bool) -> WorkloadReport {
        let (s, o) = (b / a, b / e);
        WorkloadReport {
            name: name.into(),
            visible: true,
            baseline: stat(b),
            expert: stat(e),
            patch: Some(stat(a)),
            speedup: Some(s),
            speedup_ci: [Some(s); 2],
            expert_speedup: Some(o),
            expert_speedup_ci: [Some(o); 2],
            advantage: Some(s - o),
            p_value: 0.001,
            significant: true,
            baseline_wall_s: b,
            expert_wall_s: e,
            patch_wall_s: Some(a),
            baseline_cpu_s: None,
            expert_cpu_s: None,
            patch_cpu_s: None,
            clock: None,
            expert_p_value: if expert_significant { 0.001 } else { 0.5 },
            expert_significant,
            expert_not_faster: !expert_faster(expert_significant, Some(o)),
            reps: 10,
            stop: "fixed".into(),
        }
    }

    fn means(rows: &[WorkloadReport]) -> Means {
        Means {
            b: rows.iter().map(|r| r.baseline.mean).collect(),
            e: rows.iter().map(|r| r.expert.mean).collect(),
            a: rows
                .iter()
                .map(|r| r.patch.as_ref().unwrap().mean)
                .collect(),
        }
    }

    /// Issue 10 item 1, in the evaluator: expert 1.15x, patch 1.10x is neither opt_base nor
    /// opt_commit; a no-op beside an expert at 1.05x is not opt_commit.
    #[test]
    fn opt_commit_implies_opt_base_in_eval() {
        let rows = [row("m.f", 1.15, 1.0, 1.15 / 1.10, true)];
        assert_eq!(gso_flags(true, &means(&rows), 0.95), (false, false));
        let rows = [row("m.f", 1.05, 1.0, 1.05, true)];
        assert_eq!(gso_flags(true, &means(&rows), 0.95), (false, false));
        let rows = [row("m.f", 1.5, 1.0, 1.2, true)];
        assert_eq!(gso_flags(true, &means(&rows), 0.95), (true, false));
        let rows = [row("m.f", 1.5, 1.0, 1.0, true)];
        assert_eq!(gso_flags(true, &means(&rows), 0.95), (true, true));
        assert_eq!(gso_flags(false, &means(&rows), 0.95), (false, false));
    }

    /// Issue 10 item 6, in the evaluator: a workload where the expert is not significantly
    /// faster leaves SR and advantage; a task with none where it is is marked.
    #[test]
    fn expert_not_faster_workloads_leave_sr_and_advantage() {
        // m.f: expert 2x (significant), patch 4x. m.g: expert 1.01x, not significant, patch 1x.
        let rows = [
            row("m.f", 2.0, 1.0, 0.5, true),
            row("m.g", 8.0, 8.0 / 1.01, 8.0, false),
        ];
        assert!(!rows[0].expert_not_faster && rows[1].expert_not_faster);
        let (sr, adv, flagged) = sr_and_advantage(&rows, &means(&rows));
        assert!(!flagged);
        // Only m.f: SR = e / a = 1 / 0.5 = 2; advantage 4 - 2 = 2 at every level.
        let sr = sr.unwrap();
        assert!((sr - 2.0).abs() < 1e-12, "{sr}");
        for l in adv.levels() {
            assert!(l.is_some_and(|l| (l - 2.0).abs() < 1e-12), "{adv:?}");
        }
        // An expert significantly slower is not faster either.
        let slower = row("m.h", 1.0, 1.25, 1.0, true);
        assert!(slower.expert_not_faster);
        // No workload where the expert is faster: the task is marked, its figures are over
        // every workload.
        let rows = [row("m.g", 8.0, 8.0 / 1.01, 8.0, false), slower];
        let (sr, adv, flagged) = sr_and_advantage(&rows, &means(&rows));
        assert!(flagged);
        let sr = sr.unwrap();
        assert!((sr - (8.0 / 1.01 + 1.25) / 9.0).abs() < 1e-12, "{sr}");
        assert!(adv.l4.is_some_and(f64::is_finite));
        assert!(!sr_and_advantage(&[], &means(&[])).2);
        // A kept workload without a speedup leaves the advantage undefined, not NaN.
        let mut rows = [row("m.f", 2.0, 1.0, 0.5, true)];
        rows[0].speedup = None;
        let (_, adv, _) = sr_and_advantage(&rows, &means(&rows));
        assert_eq!(adv, Advantage::default());
    }
}
