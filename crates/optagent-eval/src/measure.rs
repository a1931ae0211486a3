//! The measurement session. Every repetition of a workload is a fresh process; after warm-up, the
//! trees (baseline, expert, candidates) are run in an order that rotates every round, so drift on
//! the machine hits all of them alike. With [`crate::Adaptive`], a workload keeps being measured
//! until its speedup intervals are tight enough or its budget runs out.

use std::time::{Duration, Instant};

use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_task::{Metric, Task, Workload};
use serde_json::Value;

use crate::prepare::Prepared;
use crate::report::Verdict;
use crate::runner::{run_once, RunFailure, RunOpts, RunSample};
use crate::{EvalError, EvalOptions, WorkloadSet};

/// The workloads an evaluation measures, in task order.
pub fn select_workloads<'t>(task: &'t Task, opts: &EvalOptions) -> Vec<&'t Workload> {
    task.spec
        .workloads
        .iter()
        .filter(|w| opts.workloads == WorkloadSet::All || w.visible)
        .filter(|w| {
            opts.workload_filter.is_empty()
                || opts
                    .workload_filter
                    .iter()
                    .any(|f| w.name.contains(f.as_str()))
        })
        .collect()
}

/// Samples of one workload on one tree.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub values: Vec<f64>,
    pub walls: Vec<Duration>,
}

/// How many timed repetitions a workload got and why measuring stopped.
#[derive(Debug, Clone)]
pub struct Stop {
    pub reps: usize,
    pub reason: String,
}

/// Everything measured in a session.
#[derive(Debug)]
pub struct Session {
    /// `series[slot][workload]`, slots indexing the prepared trees.
    pub series: Vec<Vec<Series>>,
    /// Failures found while measuring, per slot.
    pub failures: Vec<Option<(Verdict, String)>>,
    pub stops: Vec<Stop>,
    /// Instruction mode: the setup-only count subtracted, per slot and workload.
    pub setup_offsets: Vec<Vec<f64>>,
    /// Sum of the wall times of every workload process run (warm-up included): the floor.
    pub runs_wall: Duration,
    pub runs: usize,
    /// Wall time of the whole measurement session (warm-up included).
    pub session_wall: Duration,
    pub pinned: Vec<usize>,
}

struct Ctx<'a> {
    task: &'a Task,
    prepared: &'a [Prepared],
    opts: &'a EvalOptions,
    metric: Metric,
    cpus: Option<Vec<usize>>,
    reference: Vec<Option<Value>>,
    session: Session,
}

impl Ctx<'_> {
    fn alive(&self, slot: usize) -> bool {
        self.prepared[slot].ready() && self.session.failures[slot].is_none()
    }

    async fn run(
        &mut self,
        slot: usize,
        wi: usize,
        w: &Workload,
        setup_only: bool,
    ) -> Result<Option<RunSample>, EvalError> {
        let opts = RunOpts {
            metric: self.metric,
            cpus: self.cpus.clone(),
            setup_only,
            extra_env: &[],
        };
        let guard = match &self.opts.measure_lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let r = run_once(self.prepared[slot].sandbox.as_ref(), self.task, w, &opts).await?;
        drop(guard);
        match r {
            Ok(sample) => {
                self.session.runs += 1;
                self.session.runs_wall += sample.wall;
                if setup_only {
                    return Ok(Some(sample));
                }
                self.check_result(slot, wi, w, &sample)?;
                Ok(if self.alive(slot) { Some(sample) } else { None })
            }
            Err(f) => {
                let reason = f.reason(&w.name);
                let verdict = match f {
                    RunFailure::Timeout { .. } => Verdict::Timeout,
                    RunFailure::Failed { .. } => Verdict::WrongResult,
                };
                self.fail(slot, verdict, reason)?;
                Ok(None)
            }
        }
    }

    fn fail(&mut self, slot: usize, verdict: Verdict, reason: String) -> Result<(), EvalError> {
        let p = &self.prepared[slot];
        match p.role {
            crate::prepare::Role::Candidate(_) => {
                self.opts.say(&format!(
                    "[{}] {}: {} ({})",
                    self.task.id(),
                    p.label,
                    verdict.as_str(),
                    reason.lines().next().unwrap_or("")
                ));
                self.session.failures[slot] = Some((verdict, reason));
                Ok(())
            }
            _ => Err(EvalError::TaskBroken {
                task: self.task.id().into(),
                message: format!("the {} tree fails: {reason}", p.label),
            }),
        }
    }

    fn check_result(
        &mut self,
        slot: usize,
        wi: usize,
        w: &Workload,
        sample: &RunSample,
    ) -> Result<(), EvalError> {
        let got = sample.result.clone().unwrap_or(Value::Null);
        match &self.reference[wi] {
            None if slot == 0 => {
                self.reference[wi] = Some(got);
                Ok(())
            }
            None => Ok(()),
            Some(expected) => {
                let m = &self.task.spec.measure;
                if let Err(diff) = crate::equiv::equivalent(expected, &got, m.rtol, m.atol) {
                    let why = if slot == 0 {
                        format!("workload {} is not deterministic: {diff}", w.name)
                    } else {
                        format!(
                            "workload {}: result differs from the baseline's: {diff}",
                            w.name
                        )
                    };
                    return self.fail(slot, Verdict::WrongResult, why);
                }
                Ok(())
            }
        }
    }
}

/// Measure every workload on every ready tree.
pub async fn run_session(
    task: &Task,
    workloads: &[&Workload],
    prepared: &[Prepared],
    metric: Metric,
    opts: &EvalOptions,
) -> Result<Session, EvalError> {
    let session_start = Instant::now();
    let nslots = prepared.len();
    let pinned = opts
        .pin_cpus
        .clone()
        .unwrap_or_else(crate::machine::default_pin);
    let mut cx = Ctx {
        task,
        prepared,
        opts,
        metric,
        cpus: if pinned.is_empty() {
            None
        } else {
            Some(pinned.clone())
        },
        reference: vec![None; workloads.len()],
        session: Session {
            series: vec![vec![Series::default(); workloads.len()]; nslots],
            failures: vec![None; nslots],
            stops: vec![],
            setup_offsets: vec![vec![0.0; workloads.len()]; nslots],
            runs_wall: Duration::ZERO,
            runs: 0,
            session_wall: Duration::ZERO,
            pinned,
        },
    };
    let (warmup, reps) = match metric {
        Metric::Time => (
            opts.warmup.unwrap_or(task.spec.measure.warmup),
            opts.reps.unwrap_or(task.spec.measure.reps),
        ),
        // Counts repeat exactly: a few runs show that they do; warm-up buys nothing.
        Metric::Instructions => (0, opts.reps.unwrap_or(3)),
    };
    let slots: Vec<usize> = (0..nslots).collect();
    if metric == Metric::Time && opts.adaptive.is_none() {
        let floor = min_two_sided_p(reps);
        if floor >= opts.alpha {
            opts.say(&format!(
                "[{}] note: with {reps} reps per tree the Mann-Whitney test cannot go below p = {floor:.3}, \
                 so nothing can be significant at alpha {}; use --reps {} or more",
                task.id(),
                opts.alpha,
                (1..100).find(|&n| min_two_sided_p(n) < opts.alpha).unwrap_or(100)
            ));
        }
    }

    // Warm-up, which also stores the baseline's results and checks everyone else's against them.
    if warmup > 0 {
        opts.say(&format!(
            "[{}] warm-up ({warmup} run(s) per workload and tree)",
            task.id()
        ));
    }
    for (wi, w) in workloads.iter().enumerate() {
        for _ in 0..warmup {
            for &s in &slots {
                if cx.alive(s) {
                    cx.run(s, wi, w, false).await?;
                }
            }
        }
    }
    if metric == Metric::Instructions {
        for (wi, w) in workloads.iter().enumerate() {
            for &s in &slots {
                if cx.alive(s) {
                    if let Some(smp) = cx.run(s, wi, w, true).await? {
                        cx.session.setup_offsets[s][wi] = smp.value;
                    }
                }
            }
        }
    }

    let adaptive = opts.adaptive.clone();
    let (min_reps, max_reps) = match &adaptive {
        Some(a) => (a.min_reps.max(2), a.max_reps.max(a.min_reps.max(2))),
        None => (reps, reps),
    };
    let mut active = vec![true; workloads.len()];
    let mut spent = vec![Duration::ZERO; workloads.len()];
    let mut stops: Vec<Option<Stop>> = vec![None; workloads.len()];
    opts.say(&format!(
        "[{}] measuring {} workload(s) on {} tree(s), {}",
        task.id(),
        workloads.len(),
        slots.iter().filter(|&&s| cx.alive(s)).count(),
        match &adaptive {
            Some(a) => format!(
                "adaptive: {}..{} reps, target ±{:.1}%",
                min_reps,
                max_reps,
                a.target_rel_halfwidth * 100.0
            ),
            None => format!("{reps} reps"),
        }
    ));
    let mut round = 0usize;
    while active.iter().any(|&a| a) {
        for (wi, w) in workloads.iter().enumerate() {
            if !active[wi] {
                continue;
            }
            let t0 = Instant::now();
            for k in 0..nslots {
                let s = slots[(k + round) % nslots];
                if !cx.alive(s) {
                    continue;
                }
                if let Some(smp) = cx.run(s, wi, w, false).await? {
                    let off = cx.session.setup_offsets[s][wi];
                    let v = net_value(metric, smp.value, off);
                    let ser = &mut cx.session.series[s][wi];
                    ser.values.push(v);
                    ser.walls.push(smp.wall);
                }
            }
            spent[wi] += t0.elapsed();
        }
        round += 1;
        for wi in 0..workloads.len() {
            if !active[wi] {
                continue;
            }
            let stop = if round >= max_reps {
                Some(if adaptive.is_some() {
                    "max_reps"
                } else {
                    "fixed"
                })
            } else if round < min_reps {
                None
            } else if let Some(a) = &adaptive {
                if converged(&cx, wi, a.target_rel_halfwidth, opts) {
                    Some("converged")
                } else if spent[wi] >= a.budget {
                    Some("budget")
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(reason) = stop {
                active[wi] = false;
                stops[wi] = Some(Stop {
                    reps: round,
                    reason: reason.to_string(),
                });
            }
        }
    }
    cx.session.stops = stops
        .into_iter()
        .map(|s| {
            s.unwrap_or(Stop {
                reps: 0,
                reason: "not measured".into(),
            })
        })
        .collect();
    cx.session.session_wall = session_start.elapsed();
    Ok(cx.session)
}

/// Instruction counts net of the workload's setup; falls back to the full count when the
/// workload ignores `OPTAGENT_SETUP_ONLY` (its setup-only run costs about as much as a full one).
pub fn net_value(metric: Metric, full: f64, setup: f64) -> f64 {
    match metric {
        Metric::Time => full,
        Metric::Instructions => {
            if setup > 0.0 && full - setup > 0.02 * full {
                full - setup
            } else {
                full
            }
        }
    }
}

fn converged(cx: &Ctx<'_>, wi: usize, target: f64, opts: &EvalOptions) -> bool {
    let base = &cx.session.series[0][wi].values;
    (1..cx.prepared.len()).filter(|&s| cx.alive(s)).all(|s| {
        let other = &cx.session.series[s][wi].values;
        let (est, lo, hi) = ratio_of_medians_ci(base, other, opts.confidence, 400, opts.seed);
        est.is_finite() && (hi - lo) / 2.0 <= target * est
    })
}

/// The smallest two-sided p-value an exact Mann-Whitney test of n against n samples can give:
/// 2 / C(2n, n).
pub fn min_two_sided_p(n: usize) -> f64 {
    let mut c = 1.0f64;
    for i in 0..n {
        c = c * (2 * n - i) as f64 / (i + 1) as f64;
    }
    (2.0 / c).min(1.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn smallest_p_of_exact_test() {
        assert!((super::min_two_sided_p(3) - 0.1).abs() < 1e-12);
        assert!((super::min_two_sided_p(5) - 2.0 / 252.0).abs() < 1e-12);
    }
}
