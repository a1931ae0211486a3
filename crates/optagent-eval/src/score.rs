//! Turning a session's samples into each candidate's report, with the public benchmarks' rules
//! (`optagent_stats::metrics`). A candidate that failed correctness scores speedup 1.0 on every
//! workload, as the benchmarks say; the expert's figures stay as measured.

use std::time::Duration;

use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_stats::hypothesis::mann_whitney_u;
use optagent_stats::metrics::{self, Advantage};
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
    let (mut s_all, mut o_all, mut names) = (vec![], vec![], vec![]);
    for (wi, w) in workloads.iter().enumerate() {
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
            (1.0, 1.0, 1.0, 1.0, false)
        };
        b_means.push(mean(b));
        e_means.push(mean(e));
        a_means.push(if correct && !a.is_empty() {
            mean(a)
        } else {
            mean(b)
        });
        s_all.push(s);
        o_all.push(o);
        names.push(w.name.clone());
        let stop = &session.stops[wi];
        let wall = |slot: usize| {
            let w: Vec<f64> = session.series[slot][wi]
                .walls
                .iter()
                .map(|d| d.as_secs_f64())
                .collect();
            median(&w)
        };
        rows.push(WorkloadReport {
            name: w.name.clone(),
            visible: w.visible,
            baseline: Stat::of(b),
            expert: Stat::of(e),
            patch: (!a.is_empty()).then(|| Stat::of(a)),
            speedup: s,
            speedup_ci: [slo, shi],
            expert_speedup: o,
            expert_speedup_ci: [olo, ohi],
            advantage: s - o,
            p_value: pval,
            significant: sig,
            baseline_wall_s: wall(0),
            expert_wall_s: wall(1),
            patch_wall_s: (!a.is_empty()).then(|| wall(slot)),
            expert_p_value: ep,
            expert_significant: esig,
            reps: stop.reps,
            stop: stop.reason.clone(),
        });
    }
    let significant_speedups: Vec<f64> = rows
        .iter()
        .map(|r| if r.significant { r.speedup } else { 1.0 })
        .collect();
    let (improvements, regressions) =
        metrics::improvements_regressions(&significant_speedups, opts.threshold);
    let (opt_base, opt_commit) = if correct {
        (
            metrics::gso_opt_base(&b_means, &a_means),
            metrics::gso_opt_commit(&e_means, &a_means, opts.p),
        )
    } else {
        (false, false)
    };
    let hmean = metrics::gso_hmean_e_over_a(&e_means, &a_means);
    let advantage = if names.is_empty() {
        Advantage {
            l1: 0.0,
            l2: 0.0,
            l3: 0.0,
            l4: 0.0,
        }
    } else {
        metrics::formulacode_advantage(&names, &s_all, &o_all)
    };
    EvalReport {
        task: task.id().to_string(),
        patch: p.label.clone(),
        verdict: failure.as_ref().map(|f| f.0).unwrap_or(Verdict::Ok),
        reason: failure.map(|f| f.1),
        correct,
        metric,
        speedup: geomean(&s_all),
        expert_speedup: geomean(&o_all),
        opt_base,
        opt_commit,
        opt_p: opts.p,
        hmean_expert_over_patch: hmean,
        speedup_ratio: metrics::swef_speedup_ratio(&b_means, &e_means, &a_means),
        advantage,
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
            overhead_ratio: session.session_wall.as_secs_f64() / session.runs_wall.as_secs_f64()
                - 1.0,
        },
        integrity: Default::default(),
    }
}
