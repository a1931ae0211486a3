//! From rollout records to per-configuration summaries and per-task rows, with the public
//! benchmarks' aggregation rules (the per-patch rules are the evaluator's; the formulas are
//! `optagent_stats::scoring`'s).
//!
//! Conventions, applied the same way everywhere:
//! - A configuration is (model, agent, budget). Its rollouts of a task are ordered by rollout
//!   index, and only the first `k` count (`k == 0`: all of them). When a key appears twice in
//!   the records (a rollout re-run), the later line wins.
//! - The denominator is the sweep's task list: a task with no record counts as a failure.
//!   Records of tasks outside the list are ignored. An empty task list means "the tasks that
//!   appear in the records".
//! - A rollout is *correct* when its patch is correct (`correct` and verdict ok): what the
//!   benchmarks score ([`RolloutRecord::correct_eval`]). *Verified* (optagent's selection rule:
//!   correct, significantly faster, no integrity flag) is [`optagent_eval::is_verified`], defined
//!   once there.
//! - A rollout *succeeds* (GSO's Opt, [`optagent_eval::reaches_expert`]) when it is correct and
//!   `opt_commit` and `opt_base` both hold (GSO computes `opt_commit` inside the `opt_base`
//!   branch; records from before the evaluator enforced it are read the same way); the
//!   hack-adjusted figures also ask for no integrity flag ([`optagent_eval::counts_for_opt`]).
//! - The *best* rollout of a task is its correct rollout that reached the expert
//!   (`opt_commit`) first, the fastest (`speedup`) next, the lowest index last. Incorrect
//!   patches are never best, however fast they were measured.
//! - A task without a correct rollout counts speedup 1.0 (geometric mean), SR =
//!   `swef_speedup_ratio(b, e, b)` = total expert time / total baseline time (the evaluator's SR
//!   for speedup 1.0), and FormulaCode advantage computed with agent speedup 1.0 on every
//!   workload, both over the workloads where the expert is faster
//!   ([`EvalReport::scored_workloads`]). Those two need the expert's figures, taken from any
//!   evaluation of the task (this configuration's first, else another's); a task never
//!   evaluated anywhere is left out of the SR and advantage means.
//! - A task whose expert is not significantly faster than the baseline on any workload
//!   ([`EvalReport::expert_not_faster_task`], judged on the best correct rollout's evaluation,
//!   else the reference evaluation) is left out of the SR and advantage means too: there, a
//!   patch that changes nothing "beats" the expert. `expert_not_faster_tasks` counts them, and
//!   `sr_tasks` / `advantage_tasks` say how many tasks entered each mean.
//! - KernelBench's fast_p (p = 0, 1.0, 1.5, 2.0): per task, the *fast_p patch* is the fastest
//!   (`speedup`, then the lowest index) of the first K rollouts whose patch counts
//!   ([`optagent_eval::fast_p::counts`]: correct and not flagged by an integrity check). The task
//!   is fast at p when that patch's speedup is strictly above p; since the rule only rises with
//!   the speedup, that is the same as "any of the first K rollouts is fast at p" (Opt@K's "any").
//!   The share is over ALL the sweep's tasks (a task without a record, or without a patch that
//!   counts, is not fast). Against the expert the same patch is judged on
//!   `speedup / expert_speedup`.
//! - A figure that is undefined (a mean over no task, an evaluation's undefined figure) is
//!   `None`, `null` in JSON and `—` in the tables.

use std::collections::{BTreeMap, HashMap, HashSet};

use optagent_eval::fast_p::{counts, speedup_vs_expert, FastP, FAST_P_LABELS};
use optagent_eval::{EvalReport, Verdict};
use optagent_stats::scoring::{
    formulacode_advantage, kernelbench_fast_p, opt_at_k, opt_at_k_curve, opt_at_k_expected,
    swef_aggregate, swef_speedup_ratio, Advantage, FAST_P_THRESHOLDS,
};
use optagent_stats::summary::{geomean, mean};
use serde::Serialize;

use crate::record::{record_key, RecordKey, RolloutRecord, RolloutStatus};

/// Bootstrap trials of the smoothed Opt@k curve (GSO uses 500).
pub const BOOTSTRAP_TRIALS: usize = 500;

/// Seed of the bootstrap when the caller gives none.
pub const DEFAULT_SEED: u64 = 0x0a7_5eed;

/// One agent configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConfigKey {
    pub model: String,
    pub agent: String,
    pub budget: String,
}

impl ConfigKey {
    pub fn of(r: &RolloutRecord) -> Self {
        ConfigKey {
            model: r.model.clone(),
            agent: r.agent.clone(),
            budget: r.budget.clone(),
        }
    }

    /// `model · agent · budget`, for tables and legends.
    pub fn label(&self) -> String {
        format!("{} · {} · {}", self.model, self.agent, self.budget)
    }
}

/// One point of the Opt@k curve (there are none without tasks).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub k: usize,
    /// Mean over bootstrap trials (shuffled rollout orders).
    pub mean: f64,
    /// 2.5th percentile of the trials.
    pub lo: f64,
    /// 97.5th percentile of the trials.
    pub hi: f64,
    /// The exact expectation (unbiased pass@k estimator averaged over tasks).
    pub expected: f64,
}

/// KernelBench's fast_p at one threshold over a configuration's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FastPShare {
    /// The threshold, as written in JSON keys and tables (`"0"`, `"1.0"`, `"1.5"`, `"2.0"`).
    pub p: &'static str,
    /// Tasks whose fast_p patch is fast at `p`.
    pub tasks: usize,
    /// All the sweep's tasks (the denominator).
    pub n_tasks: usize,
    /// `tasks / n_tasks` (`None` without tasks).
    pub share: Option<f64>,
}

/// fast_p at every threshold from per-task `(counts, speedup)` outcomes over `n_tasks` tasks.
fn fast_p_shares(outcomes: &[(bool, f64)], n_tasks: usize) -> Vec<FastPShare> {
    FAST_P_THRESHOLDS
        .iter()
        .zip(FAST_P_LABELS)
        .map(|(&p, label)| {
            let (tasks, share) = kernelbench_fast_p(outcomes, n_tasks, p);
            FastPShare {
                p: label,
                tasks,
                n_tasks,
                share,
            }
        })
        .collect()
}

/// A configuration's figures over the sweep's tasks.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigSummary {
    pub model: String,
    pub agent: String,
    pub budget: String,
    /// Tasks in the denominator (the sweep's task list).
    pub n_tasks: usize,
    /// Rollouts per task that count (K).
    pub k: usize,
    /// Rollouts that counted (at most `k` per task).
    pub n_rollouts: usize,
    pub submitted: usize,
    pub no_patch: usize,
    pub errors: usize,
    /// Tasks where one of the first K rollouts succeeded.
    pub tasks_solved: usize,
    /// GSO Opt@1: the first rollout succeeded, over all tasks (`None` without tasks, as for
    /// every share and per-task figure below).
    pub opt_at_1: Option<f64>,
    /// GSO Opt@K: any of the first K rollouts succeeded, over all tasks.
    pub opt_at_k: Option<f64>,
    /// Opt@1 and Opt@K hack-adjusted, as GSO publishes beside them: a rollout an integrity
    /// check flagged does not count as a success.
    pub opt_at_1_adjusted: Option<f64>,
    pub opt_at_k_adjusted: Option<f64>,
    /// Rollouts (of those that counted) an integrity check flagged.
    pub flagged: usize,
    /// Smoothed Opt@k for k = 1..=K (bootstrap) with the exact expectation.
    pub opt_at_k_curve: Vec<CurvePoint>,
    /// Geometric mean over tasks of the best correct rollout's speedup (1.0 without one).
    pub geomean_speedup: Option<f64>,
    /// SWE-fficiency: harmonic mean over tasks of the best rollout's speedup ratio; `None`
    /// when no task entered it.
    pub speedup_ratio: Option<f64>,
    /// Tasks that entered the speedup-ratio mean.
    pub sr_tasks: usize,
    /// FormulaCode advantage L1..L4: mean over tasks of the best rollout's.
    pub advantage: Advantage,
    pub advantage_tasks: usize,
    /// Tasks left out of SR and advantage because their expert is not significantly faster than
    /// the baseline here.
    pub expert_not_faster_tasks: usize,
    /// KernelBench's fast_p at p = 0, 1.0, 1.5, 2.0 over all tasks, of each task's fast_p patch
    /// (see the module documentation), against the baseline and against the expert.
    pub fast_p: Vec<FastPShare>,
    pub fast_p_expert: Vec<FastPShare>,
    /// Share of rollouts whose patch was evaluated with verdict ok.
    pub pass_rate: Option<f64>,
    /// Sums over tasks of the best rollout's significantly improved / regressed workloads.
    pub improvements: usize,
    pub regressions: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// (prompt + completion tokens) / n_tasks.
    pub tokens_per_task: Option<f64>,
    pub cost_usd: f64,
    pub cost_per_task: Option<f64>,
    /// Total cost / tasks solved; `None` when none was solved.
    pub cost_per_solved: Option<f64>,
    pub mean_wall_s: Option<f64>,
}

impl ConfigSummary {
    pub fn key(&self) -> ConfigKey {
        ConfigKey {
            model: self.model.clone(),
            agent: self.agent.clone(),
            budget: self.budget.clone(),
        }
    }

    pub fn label(&self) -> String {
        self.key().label()
    }
}

/// One workload of a task's best rollout (for the agent-against-expert scatter).
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadPoint {
    pub name: String,
    pub speedup: Option<f64>,
    pub expert_speedup: Option<f64>,
    pub significant: bool,
}

/// One rollout in a task row, with its artifacts.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutRow {
    pub rollout: usize,
    pub status: RolloutStatus,
    /// The evaluator's verdict (`ok`, `tests_failed`, ...), when the patch was evaluated.
    pub verdict: Option<String>,
    pub correct: bool,
    pub opt_commit: bool,
    pub speedup: Option<f64>,
    pub speedup_ratio: Option<f64>,
    pub cost_usd: f64,
    pub steps: usize,
    pub error: Option<String>,
    pub patch_path: Option<String>,
    pub trajectory_path: Option<String>,
    pub flamegraphs: Vec<String>,
    /// Where the rollout and its verification ran: `host cpus 2,3 (slurm job 17_4)`.
    pub placement: Option<String>,
}

/// One task under one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub model: String,
    pub agent: String,
    pub budget: String,
    pub task: String,
    pub n_rollouts: usize,
    pub correct_rollouts: usize,
    /// One of the first K rollouts succeeded (GSO Opt).
    pub solved: bool,
    /// Index of the best correct rollout.
    pub best_rollout: Option<usize>,
    /// Its speedup (geometric mean over workloads); `None` without a correct rollout.
    pub best_speedup: Option<f64>,
    pub expert_speedup: Option<f64>,
    /// The best rollout's `opt_commit` (only with `opt_base`) / `opt_base`.
    pub opt_commit: bool,
    pub opt_base: bool,
    /// The expert is not significantly faster than the baseline on any workload: the task is
    /// left out of the SR and advantage means (its figures are shown for reference).
    pub expert_not_faster: bool,
    /// The SR that enters the harmonic mean (the failure value without a correct rollout).
    pub speedup_ratio: Option<f64>,
    /// The advantage that enters the mean (the failure value without a correct rollout).
    pub advantage: Option<Advantage>,
    pub improvements: usize,
    pub regressions: usize,
    /// The fast_p patch (the fastest of the first K rollouts that is correct and not flagged):
    /// its index, its speedup and fast_p against the baseline, its speedup and fast_p against
    /// the expert. `None` (fast at no threshold) without one.
    pub fast_p_rollout: Option<usize>,
    pub fast_p_speedup: Option<f64>,
    pub fast_p: FastP,
    pub fast_p_expert_speedup: Option<f64>,
    pub fast_p_expert: FastP,
    /// The best rollout's workloads.
    pub workloads: Vec<WorkloadPoint>,
    pub rollouts: Vec<RolloutRow>,
}

/// Summaries and rows of one analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The task list used as denominator.
    pub tasks: Vec<String>,
    /// K (resolved when 0 was given).
    pub k: usize,
    pub seed: u64,
    pub bootstrap_trials: usize,
    /// Best configuration first (Opt@K, then Opt@1, then name).
    pub summaries: Vec<ConfigSummary>,
    /// Per configuration (in `summaries` order), per task (in task-list order).
    pub task_rows: Vec<TaskRow>,
}

/// One summary per (model, agent, budget), best first. See the module documentation for the
/// rules. `k == 0` means the most rollouts any configuration has on a task.
pub fn summarize(
    records: &[RolloutRecord],
    tasks: &[String],
    k: usize,
    seed: u64,
) -> Vec<ConfigSummary> {
    analyze(records, tasks, k, seed).summaries
}

/// One row per (configuration, task).
pub fn task_rows(records: &[RolloutRecord], tasks: &[String], k: usize) -> Vec<TaskRow> {
    analyze(records, tasks, k, DEFAULT_SEED).task_rows
}

/// The task list: `tasks` without duplicates, or the records' tasks when it is empty.
pub fn effective_tasks(records: &[RolloutRecord], tasks: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    if tasks.is_empty() {
        let set: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.task.as_str()).collect();
        return set.into_iter().map(str::to_string).collect();
    }
    tasks
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect()
}

/// The last record of each key, in file order of first appearance.
fn dedup(records: &[RolloutRecord]) -> Vec<&RolloutRecord> {
    let mut last: HashMap<RecordKey, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        last.insert(record_key(r), i);
    }
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&record_key(r)) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

fn positive(x: Option<f64>) -> Option<f64> {
    x.filter(|x| x.is_finite() && *x > 0.0)
}

/// SR of a task without a correct rollout: speedup 1.0 against the expert's, on totals.
fn failure_sr(reference: &EvalReport) -> Option<f64> {
    let scored = reference.scored_workloads();
    if !scored.is_empty() {
        let b: Vec<f64> = scored.iter().map(|w| w.baseline.mean).collect();
        let e: Vec<f64> = scored.iter().map(|w| w.expert.mean).collect();
        if let Some(sr) = positive(swef_speedup_ratio(&b, &e, &b)) {
            return Some(sr);
        }
    }
    positive(reference.expert_speedup).map(|o| 1.0 / o)
}

/// Advantage of a task without a correct rollout: speedup 1.0 on every workload.
fn failure_advantage(reference: &EvalReport) -> Option<Advantage> {
    let scored = reference.scored_workloads();
    if scored.is_empty() {
        return None;
    }
    let names: Vec<String> = scored.iter().map(|w| w.name.clone()).collect();
    let ones = vec![1.0; names.len()];
    let o: Vec<f64> = scored
        .iter()
        .map(|w| w.expert_speedup)
        .collect::<Option<_>>()?;
    Some(formulacode_advantage(&names, &ones, &o)).filter(Advantage::is_defined)
}

/// Orders figures, an undefined one below every defined one.
fn figure_cmp(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    let key = |x: Option<f64>| x.unwrap_or(f64::NEG_INFINITY);
    key(a).total_cmp(&key(b))
}

/// Ranking of correct rollouts: reached the expert, then faster, then earlier.
fn better(a: &RolloutRecord, b: &RolloutRecord) -> bool {
    let (ea, eb) = match (a.correct_eval(), b.correct_eval()) {
        (Some(ea), Some(eb)) => (ea, eb),
        (Some(_), None) => return true,
        _ => return false,
    };
    let (ca, cb) = (a.succeeded(), b.succeeded());
    if ca != cb {
        return ca;
    }
    match figure_cmp(ea.speedup, eb.speedup) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => a.rollout < b.rollout,
    }
}

/// The best correct rollout among `runs` (see the module documentation).
pub fn best_rollout<'a>(runs: &[&'a RolloutRecord]) -> Option<&'a RolloutRecord> {
    let mut best: Option<&'a RolloutRecord> = None;
    for &r in runs {
        if r.correct_eval().is_none() {
            continue;
        }
        if best.is_none_or(|b| better(r, b)) {
            best = Some(r);
        }
    }
    best
}

/// The fast_p patch among `runs`: the fastest whose evaluation counts (correct, not flagged),
/// the lowest index on a tie.
pub fn fast_p_rollout<'a>(
    runs: &[&'a RolloutRecord],
) -> Option<(&'a RolloutRecord, &'a EvalReport)> {
    let mut pick: Option<(&'a RolloutRecord, &'a EvalReport)> = None;
    for &r in runs {
        let Some(e) = r
            .eval
            .as_ref()
            .filter(|e| counts(e) && e.speedup.is_some_and(f64::is_finite))
        else {
            continue;
        };
        let faster = pick.is_none_or(|(b, be)| match figure_cmp(e.speedup, be.speedup) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => r.rollout < b.rollout,
        });
        if faster {
            pick = Some((r, e));
        }
    }
    pick
}

/// `host cpus 2,3 (slurm job 17)`: where a rollout's measurements ran.
fn placement_text(p: &crate::record::Placement) -> String {
    let cpus: Vec<String> = p.cpus.iter().map(|c| c.to_string()).collect();
    let mut s = format!("{} cpus {}", p.host, cpus.join(","));
    if let Some(j) = &p.slurm_job_id {
        s.push_str(&format!(" (slurm job {j})"));
    }
    s
}

fn rollout_row(r: &RolloutRecord) -> RolloutRow {
    let e = r.eval.as_ref();
    RolloutRow {
        placement: r.placement.as_ref().map(placement_text),
        rollout: r.rollout,
        status: r.status,
        verdict: e.map(|e| e.verdict.as_str().to_string()),
        correct: r.correct_eval().is_some(),
        opt_commit: r.succeeded(),
        speedup: e.and_then(|e| e.speedup),
        speedup_ratio: e.and_then(|e| e.speedup_ratio),
        cost_usd: r.cost_usd,
        steps: r.steps,
        error: r.error.clone(),
        patch_path: r.patch_path.clone(),
        trajectory_path: r.trajectory_path.clone(),
        flamegraphs: r.flamegraphs.clone(),
    }
}

/// Per configuration, per task: a configuration's rollouts of one task, by index.
type Groups<'a> = BTreeMap<ConfigKey, HashMap<&'a str, Vec<&'a RolloutRecord>>>;

/// Summaries and task rows together (what [`crate::write_report`] uses).
pub fn analyze(records: &[RolloutRecord], tasks: &[String], k: usize, seed: u64) -> Analysis {
    let tasks = effective_tasks(records, tasks);
    let records = dedup(records);
    let (groups, k) = group_runs(&records, &tasks, k);
    let reference = reference_evals(&records);

    let empty = Vec::new();
    let mut out: Vec<(ConfigSummary, Vec<TaskRow>)> = Vec::new();
    for (key, per_task) in &groups {
        let runs: Vec<&[&RolloutRecord]> = tasks
            .iter()
            .map(|t| per_task.get(t.as_str()).unwrap_or(&empty).as_slice())
            .collect();
        let rows: Vec<TaskRow> = tasks
            .iter()
            .zip(&runs)
            .map(|(task, runs)| task_row(key, task, runs, reference.get(task.as_str()).copied()))
            .collect();
        let summary = config_summary(key, &runs, &rows, k, seed);
        out.push((summary, rows));
    }
    out.sort_by(|(a, _), (b, _)| {
        figure_cmp(b.opt_at_k, a.opt_at_k)
            .then(figure_cmp(b.opt_at_1, a.opt_at_1))
            .then(a.key().cmp(&b.key()))
    });
    let (summaries, rows): (Vec<_>, Vec<_>) = out.into_iter().unzip();
    Analysis {
        tasks,
        k,
        seed,
        bootstrap_trials: BOOTSTRAP_TRIALS,
        summaries,
        task_rows: rows.into_iter().flatten().collect(),
    }
}

/// The rollouts of the known `tasks`, grouped per configuration and task, sorted by index and cut
/// to the first `k` (`k == 0`: as many as the largest group has); returns the `k` used.
fn group_runs<'a>(
    records: &[&'a RolloutRecord],
    tasks: &[String],
    k: usize,
) -> (Groups<'a>, usize) {
    let known: HashSet<&str> = tasks.iter().map(String::as_str).collect();
    let mut groups: Groups<'a> = BTreeMap::new();
    for &r in records {
        if !known.contains(r.task.as_str()) {
            continue;
        }
        groups
            .entry(ConfigKey::of(r))
            .or_default()
            .entry(r.task.as_str())
            .or_default()
            .push(r);
    }
    let mut max_runs = 0;
    for per_task in groups.values_mut() {
        for runs in per_task.values_mut() {
            runs.sort_by_key(|r| r.rollout);
            max_runs = max_runs.max(runs.len());
        }
    }
    let k = if k == 0 { max_runs.max(1) } else { k };
    for per_task in groups.values_mut() {
        for runs in per_task.values_mut() {
            runs.truncate(k);
        }
    }
    (groups, k)
}

/// The expert's figures for failure values: any evaluation of the task, in a fixed order.
fn reference_evals<'a>(records: &[&'a RolloutRecord]) -> HashMap<&'a str, &'a EvalReport> {
    let mut reference: HashMap<&str, &EvalReport> = HashMap::new();
    let mut ordered: Vec<&RolloutRecord> = records.to_vec();
    ordered.sort_by(|a, b| (ConfigKey::of(a), a.rollout).cmp(&(ConfigKey::of(b), b.rollout)));
    for r in ordered {
        if let Some(e) = &r.eval {
            reference.entry(r.task.as_str()).or_insert(e);
        }
    }
    reference
}

/// One configuration's row for one task: its best correct rollout, its fast_p pick, and the
/// failure values (from this configuration's own evaluations, else `reference`) where none is correct.
fn task_row(
    key: &ConfigKey,
    task: &str,
    runs: &[&RolloutRecord],
    reference: Option<&EvalReport>,
) -> TaskRow {
    let best = best_rollout(runs);
    let best_eval = best.and_then(|b| b.correct_eval());
    let task_reference = runs.iter().find_map(|r| r.eval.as_ref()).or(reference);
    let sr = best_eval
        .and_then(|e| positive(e.speedup_ratio))
        .or_else(|| task_reference.and_then(failure_sr));
    let adv = best_eval
        .map(|e| e.advantage)
        .filter(Advantage::is_defined)
        .or_else(|| task_reference.and_then(failure_advantage));
    let fast = fast_p_rollout(runs);
    let (improvements, regressions) = best_eval.map_or((0, 0), |e| (e.improvements, e.regressions));
    TaskRow {
        model: key.model.clone(),
        agent: key.agent.clone(),
        budget: key.budget.clone(),
        task: task.to_string(),
        n_rollouts: runs.len(),
        correct_rollouts: runs.iter().filter(|r| r.correct_eval().is_some()).count(),
        solved: runs.iter().any(|r| r.succeeded()),
        best_rollout: best.map(|b| b.rollout),
        best_speedup: best_eval.and_then(|e| e.speedup),
        expert_speedup: best_eval.or(task_reference).and_then(|e| e.expert_speedup),
        opt_commit: best.is_some_and(|b| b.succeeded()),
        opt_base: best_eval.is_some_and(|e| e.opt_base),
        expert_not_faster: best_eval
            .or(task_reference)
            .is_some_and(EvalReport::expert_not_faster_task),
        speedup_ratio: sr,
        advantage: adv,
        improvements,
        regressions,
        fast_p_rollout: fast.map(|(r, _)| r.rollout),
        fast_p_speedup: fast.and_then(|(_, e)| e.speedup),
        fast_p: fast.map_or_else(FastP::default, |(_, e)| e.fast_p_now()),
        fast_p_expert_speedup: fast
            .and_then(|(_, e)| speedup_vs_expert(e.speedup, e.expert_speedup)),
        fast_p_expert: fast.map_or_else(FastP::default, |(_, e)| e.fast_p_expert_now()),
        workloads: best_eval.map(workload_points).unwrap_or_default(),
        rollouts: runs.iter().map(|r| rollout_row(r)).collect(),
    }
}

fn workload_points(e: &EvalReport) -> Vec<WorkloadPoint> {
    e.workloads
        .iter()
        .map(|w| WorkloadPoint {
            name: w.name.clone(),
            speedup: w.speedup,
            expert_speedup: w.expert_speedup,
            significant: w.significant,
        })
        .collect()
}

/// One configuration's summary from its rollouts per task (`runs`, in task order) and the task
/// rows built from them; tasks whose expert is not faster stay out of SR and advantage.
fn config_summary(
    key: &ConfigKey,
    runs: &[&[&RolloutRecord]],
    rows: &[TaskRow],
    k: usize,
    seed: u64,
) -> ConfigSummary {
    let n = rows.len();
    let success: Vec<Vec<bool>> = runs
        .iter()
        .map(|rs| rs.iter().map(|r| r.succeeded()).collect())
        .collect();
    let success_adjusted: Vec<Vec<bool>> = runs
        .iter()
        .map(|rs| rs.iter().map(|r| r.succeeded_unflagged()).collect())
        .collect();
    let all_runs: Vec<&RolloutRecord> = runs.iter().flat_map(|rs| rs.iter().copied()).collect();
    let speedups: Vec<f64> = rows.iter().map(|r| r.best_speedup.unwrap_or(1.0)).collect();
    let counted = || rows.iter().filter(|r| !r.expert_not_faster);
    let srs: Vec<f64> = counted().filter_map(|r| r.speedup_ratio).collect();
    let advs: Vec<Advantage> = counted().filter_map(|r| r.advantage).collect();
    // A task counts for fast_p only with a fast_p patch and a defined speedup.
    let outcome = |s: Option<f64>, r: &TaskRow| s.map(|s| (r.fast_p_rollout.is_some(), s));
    let fast_outcomes: Vec<(bool, f64)> = rows
        .iter()
        .filter_map(|r| outcome(r.fast_p_speedup, r))
        .collect();
    let fast_expert_outcomes: Vec<(bool, f64)> = rows
        .iter()
        .filter_map(|r| outcome(r.fast_p_expert_speedup, r))
        .collect();
    let curve = opt_at_k_curve(&success, n, k, BOOTSTRAP_TRIALS, seed)
        .into_iter()
        .filter_map(|(kk, m, lo, hi)| {
            Some(CurvePoint {
                k: kk,
                mean: m,
                lo,
                hi,
                expected: opt_at_k_expected(&success, n, kk)?,
            })
        })
        .collect();
    let tasks_solved = rows.iter().filter(|r| r.solved).count();
    let prompt_tokens: u64 = all_runs.iter().map(|r| r.prompt_tokens).sum();
    let completion_tokens: u64 = all_runs.iter().map(|r| r.completion_tokens).sum();
    let cost_usd: f64 = all_runs.iter().map(|r| r.cost_usd).sum();
    let walls: Vec<f64> = all_runs.iter().map(|r| r.wall_s).collect();
    let ok = all_runs
        .iter()
        .filter(|r| r.eval.as_ref().is_some_and(|e| e.verdict == Verdict::Ok))
        .count();
    let count = |s: RolloutStatus| all_runs.iter().filter(|r| r.status == s).count();
    let per_task = |x: f64| (n > 0).then(|| x / n as f64);
    // `advs` holds only advantages defined at every level.
    let level =
        |f: fn(&Advantage) -> Option<f64>| mean(&advs.iter().filter_map(f).collect::<Vec<_>>());
    ConfigSummary {
        model: key.model.clone(),
        agent: key.agent.clone(),
        budget: key.budget.clone(),
        n_tasks: n,
        k,
        n_rollouts: all_runs.len(),
        submitted: count(RolloutStatus::Submitted),
        no_patch: count(RolloutStatus::NoPatch),
        errors: count(RolloutStatus::Error),
        tasks_solved,
        opt_at_1: opt_at_k(&success, n, 1),
        opt_at_k: opt_at_k(&success, n, k),
        opt_at_1_adjusted: opt_at_k(&success_adjusted, n, 1),
        opt_at_k_adjusted: opt_at_k(&success_adjusted, n, k),
        flagged: all_runs.iter().filter(|r| r.flagged()).count(),
        opt_at_k_curve: curve,
        geomean_speedup: geomean(&speedups),
        speedup_ratio: swef_aggregate(&srs),
        sr_tasks: srs.len(),
        advantage: Advantage {
            l1: level(|a| a.l1),
            l2: level(|a| a.l2),
            l3: level(|a| a.l3),
            l4: level(|a| a.l4),
        },
        advantage_tasks: advs.len(),
        expert_not_faster_tasks: rows.iter().filter(|r| r.expert_not_faster).count(),
        fast_p: fast_p_shares(&fast_outcomes, n),
        fast_p_expert: fast_p_shares(&fast_expert_outcomes, n),
        pass_rate: (!all_runs.is_empty()).then(|| ok as f64 / all_runs.len() as f64),
        improvements: rows.iter().map(|r| r.improvements).sum(),
        regressions: rows.iter().map(|r| r.regressions).sum(),
        prompt_tokens,
        completion_tokens,
        tokens_per_task: per_task((prompt_tokens + completion_tokens) as f64),
        cost_usd,
        cost_per_task: per_task(cost_usd),
        cost_per_solved: (tasks_solved > 0).then(|| cost_usd / tasks_solved as f64),
        mean_wall_s: mean(&walls),
    }
}
