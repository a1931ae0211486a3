//! The measurement session. Every repetition of a workload is a fresh process; after warm-up, the
//! trees (baseline, expert, candidates) are run in an order that rotates every round, so drift on
//! the machine hits all of them alike. With [`crate::Adaptive`], a workload keeps being measured
//! until its speedup intervals are tight enough or its budget runs out.

use std::time::{Duration, Instant};

use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_stats::hypothesis::{min_two_sided_p, min_two_sided_p_given};
use optagent_stats::summary::median;
use optagent_task::{Metric, Protocol, Task, Workload};

use crate::prepare::Prepared;
use crate::report::Verdict;
use crate::runner::{run_once, RunFailure, RunOpts, RunSample};
use crate::value::ResultValue;
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
    /// CPU time of each timed run's process tree (`None` where the backend cannot say).
    pub cpus: Vec<Option<Duration>>,
    /// Context switches of each timed run's process tree (`None` where not measured).
    pub switches: Vec<Option<optagent_sandbox::ContextSwitches>>,
    /// The `seconds` each timed run reported, if it reported any.
    pub reported: Vec<Option<f64>>,
    /// Tree paths changed by any run of this workload (warm-up included).
    pub state_changes: Vec<String>,
    /// The isolation the backend granted (the last run's).
    pub isolation: Option<optagent_sandbox::IsolationReport>,
    /// The timer the workload's output named (the last run's; `optagent_bench` writes one).
    pub timer: Option<String>,
    /// The workload's own integrity findings over every run (warm-up included), `(kind,
    /// detail)`, one per kind.
    pub harness_flags: Vec<(String, String)>,
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
    /// The `OPTAGENT_SEED` every tree's workloads got in this session.
    pub seed: u64,
    /// Per workload: the clock that decided its `values` ([`crate::clock::choose`]).
    pub clocks: Vec<crate::clock::ClockDecision>,
}

struct Ctx<'a> {
    task: &'a Task,
    prepared: &'a [Prepared],
    opts: &'a EvalOptions,
    metric: Metric,
    cpus: Option<Vec<usize>>,
    reference: Vec<Option<ResultValue>>,
    session: Session,
    seed: u64,
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
            baseline_root: (slot != 0).then(|| self.prepared[0].tree.root.as_path()),
            seed: Some(self.seed),
            read_only_tree: self.opts.read_only_tree,
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
                let ser = &mut self.session.series[slot][wi];
                for c in &sample.state_changes {
                    if !ser.state_changes.contains(c) {
                        ser.state_changes.push(c.clone());
                    }
                }
                if sample.isolation.is_some() {
                    ser.isolation = sample.isolation.clone();
                }
                if sample.timer.is_some() {
                    ser.timer = sample.timer.clone();
                }
                for (k, d) in &sample.harness_flags {
                    if !ser.harness_flags.iter().any(|(seen, _)| seen == k) {
                        ser.harness_flags.push((k.clone(), d.clone()));
                    }
                }
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
        let got = sample.result.clone().unwrap_or(ResultValue::Null);
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
    let mut cx = Ctx::new(task, workloads.len(), prepared, metric, opts);
    let (warmup, reps) = rep_counts(task, workloads, metric, opts);
    if metric == Metric::Time && opts.adaptive.is_none() {
        warn_if_reps_cannot_be_significant(task, reps, opts);
    }
    warm_up(&mut cx, workloads, warmup).await?;
    if metric == Metric::Instructions {
        count_setup(&mut cx, workloads).await?;
    }
    cx.session.stops = measure_rounds(&mut cx, workloads, reps).await?;
    if metric == Metric::Time {
        settle_clock_checks(&mut cx, workloads).await?;
        note_tie_floors(&cx, workloads);
        for (wi, w) in workloads.iter().enumerate() {
            let d = decide_clock(&mut cx, wi, w).await?;
            cx.session.clocks.push(d);
        }
    }
    cx.session.session_wall = session_start.elapsed();
    cx.session.seed = cx.seed;
    Ok(cx.session)
}

impl<'a> Ctx<'a> {
    /// A session of `n` workloads on the prepared trees, nothing measured yet.
    fn new(
        task: &'a Task,
        n: usize,
        prepared: &'a [Prepared],
        metric: Metric,
        opts: &'a EvalOptions,
    ) -> Self {
        let nslots = prepared.len();
        let pinned = opts
            .pin_cpus
            .clone()
            .unwrap_or_else(crate::machine::default_pin);
        Ctx {
            task,
            prepared,
            opts,
            metric,
            cpus: if pinned.is_empty() {
                None
            } else {
                Some(pinned.clone())
            },
            reference: vec![None; n],
            seed: opts
                .workload_seed
                .unwrap_or_else(crate::runner::verification_seed),
            session: Session {
                series: vec![vec![Series::default(); n]; nslots],
                failures: vec![None; nslots],
                stops: vec![],
                setup_offsets: vec![vec![0.0; n]; nslots],
                runs_wall: Duration::ZERO,
                runs: 0,
                session_wall: Duration::ZERO,
                pinned,
                seed: 0,
                clocks: vec![],
            },
        }
    }
}

/// Warm-up runs and timed repetitions per workload and tree (the fixed count; adaptive
/// measuring has its own bounds).
fn rep_counts(
    task: &Task,
    workloads: &[&Workload],
    metric: Metric,
    opts: &EvalOptions,
) -> (usize, usize) {
    let (warmup, reps) = match metric {
        Metric::Time => (
            opts.warmup.unwrap_or(task.spec.measure.warmup),
            opts.reps.unwrap_or(task.spec.measure.reps),
        ),
        // Counts repeat exactly: a few runs show that they do; warm-up buys nothing.
        Metric::Instructions => (0, opts.reps.unwrap_or(3)),
    };
    // GSO's scripts compare against the reference the baseline writes: the warm-up, baseline
    // first, makes sure it exists before any other tree runs.
    if workloads.iter().any(|w| w.protocol == Protocol::Gso) {
        (warmup.max(1), reps)
    } else {
        (warmup, reps)
    }
}

/// Says so when `reps` per tree are too few for the Mann-Whitney test to reach `alpha`.
fn warn_if_reps_cannot_be_significant(task: &Task, reps: usize, opts: &EvalOptions) {
    let floor = min_two_sided_p(reps, reps);
    if floor >= opts.alpha {
        opts.say(&format!(
            "[{}] note: with {reps} reps per tree the Mann-Whitney test cannot go below p = {floor:.3} \
             (higher still where timings tie), so nothing can be significant at alpha {}; use --reps {} or more",
            task.id(),
            opts.alpha,
            (1..100).find(|&n| min_two_sided_p(n, n) < opts.alpha).unwrap_or(100)
        ));
    }
}

/// Warm-up, which also stores the baseline's results and checks everyone else's against them.
async fn warm_up(
    cx: &mut Ctx<'_>,
    workloads: &[&Workload],
    warmup: usize,
) -> Result<(), EvalError> {
    if warmup > 0 {
        cx.opts.say(&format!(
            "[{}] warm-up ({warmup} run(s) per workload and tree)",
            cx.task.id()
        ));
    }
    for (wi, w) in workloads.iter().enumerate() {
        for _ in 0..warmup {
            for s in 0..cx.prepared.len() {
                if cx.alive(s) {
                    cx.run(s, wi, w, false).await?;
                }
            }
        }
    }
    Ok(())
}

/// Instruction mode: the count of a setup-only run of each workload on each tree, subtracted
/// from its measured counts.
async fn count_setup(cx: &mut Ctx<'_>, workloads: &[&Workload]) -> Result<(), EvalError> {
    for (wi, w) in workloads.iter().enumerate() {
        for s in 0..cx.prepared.len() {
            if cx.alive(s) {
                if let Some(smp) = cx.run(s, wi, w, true).await? {
                    cx.session.setup_offsets[s][wi] = smp.value;
                }
            }
        }
    }
    Ok(())
}

/// The timed repetitions: round after round, each workload once on every live tree in an order
/// that rotates every round, until each workload stops (fixed count, converged, budget or
/// max_reps). Returns why each stopped.
async fn measure_rounds(
    cx: &mut Ctx<'_>,
    workloads: &[&Workload],
    reps: usize,
) -> Result<Vec<Stop>, EvalError> {
    let opts = cx.opts;
    let nslots = cx.prepared.len();
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
        cx.task.id(),
        workloads.len(),
        (0..nslots).filter(|&s| cx.alive(s)).count(),
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
                let s = (k + round) % nslots;
                if cx.alive(s) {
                    cx.measure_once(s, wi, w).await?;
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
                if converged(cx, wi, a.target_rel_halfwidth, opts) {
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
    Ok(stops
        .into_iter()
        .map(|s| {
            s.unwrap_or(Stop {
                reps: 0,
                reason: "not measured".into(),
            })
        })
        .collect())
}

impl Ctx<'_> {
    /// One timed repetition of workload `wi` on tree `slot`, added to its series.
    async fn measure_once(
        &mut self,
        slot: usize,
        wi: usize,
        w: &Workload,
    ) -> Result<(), EvalError> {
        if let Some(smp) = self.run(slot, wi, w, false).await? {
            let off = self.session.setup_offsets[slot][wi];
            let v = net_value(self.metric, smp.value, off);
            let ser = &mut self.session.series[slot][wi];
            ser.values.push(v);
            ser.walls.push(smp.wall);
            ser.cpus.push(smp.cpu);
            ser.switches.push(smp.switches);
            ser.reported.push(smp.reported);
        }
        Ok(())
    }
}

/// Extra rounds (up to this many times the rounds already run) for a workload whose clock check
/// cannot yet decide a candidate's claim.
pub const CLOCK_ROUNDS_FACTOR: usize = 2;

/// The evaluator does not leave a claimed saving undecided when more runs can decide it: while
/// some tree's claim on a workload is `no_power` (its clocks neither confirm nor deny it, see
/// [`crate::integrity::timing_check`]), that workload gets more rounds on every tree, up to
/// [`CLOCK_ROUNDS_FACTOR`] times the rounds it had, and within twice the time already spent on
/// it (within the adaptive `max_reps` and budget instead, where those are set). A cheat that hides its work from its own stopwatch cannot count on the machine's noise
/// to pass unflagged; an honest saving gets the runs its confirmation needs. What is still
/// undecided at the end is reported as `no_power` by the integrity checks.
async fn settle_clock_checks(cx: &mut Ctx<'_>, workloads: &[&Workload]) -> Result<(), EvalError> {
    if !cx.opts.clock_rounds {
        return Ok(());
    }
    let nslots = cx.prepared.len();
    for (wi, w) in workloads.iter().enumerate() {
        let undecided = |cx: &Ctx<'_>| -> Vec<usize> {
            let base = &cx.session.series[0][wi];
            (1..nslots)
                .filter(|&s| cx.alive(s))
                .filter(|&s| {
                    crate::integrity::workload_clock_check(
                        &w.name,
                        wi,
                        base,
                        &cx.session.series[s][wi],
                        cx.opts.confidence,
                        cx.opts.seed,
                    )
                    .is_some_and(|(c, _)| c.outcome == "no_power")
                })
                .collect()
        };
        if !cx.alive(0) || undecided(cx).is_empty() {
            continue;
        }
        let done = cx.session.series[0][wi].values.len();
        let spent_so_far: Duration = (0..nslots)
            .map(|s| cx.session.series[s][wi].walls.iter().sum::<Duration>())
            .sum();
        // The user's adaptive bounds, where set, bound these rounds too.
        let (max_extra, budget) = match &cx.opts.adaptive {
            Some(a) => (
                a.max_reps.saturating_sub(done),
                a.budget.saturating_sub(spent_so_far),
            ),
            None => (done * CLOCK_ROUNDS_FACTOR, spent_so_far * 2),
        };
        if max_extra == 0 {
            continue;
        }
        let t0 = Instant::now();
        let mut extra = 0;
        let mut left = undecided(cx);
        cx.opts.say(&format!(
            "[{}] {}: the clock check cannot yet decide the claim of {} tree(s); up to {max_extra} \
             more round(s)",
            cx.task.id(),
            w.name,
            left.len()
        ));
        while !left.is_empty() && extra < max_extra && t0.elapsed() < budget {
            for k in 0..nslots {
                let s = (k + done + extra) % nslots;
                if cx.alive(s) {
                    cx.measure_once(s, wi, w).await?;
                }
            }
            extra += 1;
            left = undecided(cx);
        }
        if let Some(stop) = cx.session.stops.get_mut(wi) {
            stop.reps += extra;
            stop.reason = format!(
                "{}, then {extra} round(s) for the clock check ({})",
                stop.reason,
                if left.is_empty() {
                    "decided"
                } else {
                    "still undecided"
                }
            );
        }
    }
    Ok(())
}

/// Says where timings tie so often that the test cannot reach `alpha` for a tree.
fn note_tie_floors(cx: &Ctx<'_>, workloads: &[&Workload]) {
    for (wi, w) in workloads.iter().enumerate() {
        let base = &cx.session.series[0][wi].values;
        for (p, series) in cx.prepared.iter().zip(&cx.session.series).skip(1) {
            let other = &series[wi].values;
            if let Some(note) = tie_floor_note(&w.name, base, other, cx.opts.alpha) {
                cx.opts
                    .say(&format!("[{}] {}: {note}", cx.task.id(), p.label));
            }
        }
    }
}

/// Choose the clock of one workload ([`crate::clock::choose`]) and put its figures in the
/// series' `values`: the CPU time net of the setup (setup-only runs, rotating over the trees, are
/// made here), or the process's wall time; the reported seconds are there already.
async fn decide_clock(
    cx: &mut Ctx<'_>,
    wi: usize,
    w: &Workload,
) -> Result<crate::clock::ClockDecision, EvalError> {
    use crate::clock::{choose, cpu_secs, net_cpu, MAX_SETUP_SHARE, SETUP_REPS};
    use optagent_task::Clock;
    use std::fmt::Write as _;
    let requested = cx.opts.clock.unwrap_or(cx.task.spec.measure.clock);
    let alive: Vec<usize> = (0..cx.prepared.len()).filter(|&s| cx.alive(s)).collect();
    let trees: Vec<(&str, &Series)> = alive
        .iter()
        .map(|&s| (cx.prepared[s].label.as_str(), &cx.session.series[s][wi]))
        .collect();
    let mut d = choose(requested, cx.task.spec.device, &trees);
    match d.clock {
        Clock::Cpu => {
            let nslots = cx.prepared.len();
            let auto = requested == Clock::Auto;
            if auto && w.protocol != Protocol::Optagent {
                return Ok(crate::clock::ClockDecision {
                    clock: Clock::Reported,
                    reason: format!(
                        "{}, but a GSO script has no setup-only mode, so the CPU time of its \
                         measured section cannot be told from its set-up's",
                        d.reason
                    ),
                    setup_cpu_s: None,
                });
            }
            // The setup's CPU time, from setup-only runs of the baseline: one value subtracted
            // from every tree's runs, so the trees' differences stay those of the whole
            // process (work a patch moves into its setup is still counted, and the setup's
            // noise cannot tell two trees apart).
            let mut setup: Vec<f64> = vec![];
            if w.protocol == Protocol::Optagent && cx.alive(0) {
                for _ in 0..SETUP_REPS {
                    if let Some(smp) = cx.run(0, wi, w, true).await? {
                        if let Some(c) = smp.cpu {
                            setup.push(c.as_secs_f64());
                        }
                    }
                }
            }
            let setup = (!setup.is_empty()).then(|| median(&setup));
            // Decided on the baseline: the share of its process's CPU time that is set-up (a
            // runner that ignores setup-only mode does everything in it: a share near 1).
            let base_cpu = cpu_secs(&cx.session.series[0][wi]).unwrap_or_default();
            let share = setup.map(|x| x / median(&base_cpu));
            if auto && share.is_none_or(|sh| sh > MAX_SETUP_SHARE) {
                // Against a small measured section the setup would be most of the CPU time:
                // the section's share of it, and so the estimate, would be mostly noise.
                return Ok(crate::clock::ClockDecision {
                    clock: Clock::Reported,
                    reason: match share {
                        Some(sh) => format!(
                            "{}, but the setup takes {:.0}% of the process's CPU time (more than \
                             {:.0}%): the measured section would be a small difference of two \
                             large figures",
                            d.reason,
                            sh * 100.0,
                            MAX_SETUP_SHARE * 100.0
                        ),
                        None => format!("{}, but the setup-only runs gave no CPU time", d.reason),
                    },
                    setup_cpu_s: None,
                });
            }
            let subtract = net_cpu(&base_cpu, setup).1;
            d.setup_cpu_s = subtract;
            for s in 0..nslots {
                let ser = &mut cx.session.series[s][wi];
                let Some(cpu) = cpu_secs(ser) else { continue };
                ser.values = net_cpu(&cpu, subtract).0;
            }
            match (share, subtract) {
                (Some(sh), Some(_)) => {
                    let _ = write!(
                        d.reason,
                        "; net of the baseline's setup ({:.0}% of its process's CPU time)",
                        sh * 100.0
                    );
                }
                _ => d.reason.push_str(
                    "; the whole process's CPU time (the setup was not subtracted: no setup-only \
                     run clearly below the timed runs)",
                ),
            }
        }
        Clock::Wall => {
            for s in 0..cx.prepared.len() {
                let ser = &mut cx.session.series[s][wi];
                ser.values = ser.walls.iter().map(|d| d.as_secs_f64()).collect();
            }
        }
        Clock::Reported | Clock::Auto => {}
    }
    Ok(d)
}

/// A note when ties among a workload's timings keep the exact Mann-Whitney test from reaching
/// `alpha` although the sample sizes alone would allow it (the sizes-only case is noted before
/// measuring). `None` when there is nothing to add.
fn tie_floor_note(workload: &str, base: &[f64], other: &[f64], alpha: f64) -> Option<String> {
    if base.is_empty() || other.is_empty() {
        return None;
    }
    if min_two_sided_p(base.len(), other.len()) >= alpha {
        return None;
    }
    let pooled: Vec<f64> = base.iter().chain(other).copied().collect();
    let floor = min_two_sided_p_given(&pooled, base.len());
    (floor >= alpha).then(|| {
        format!(
            "note: ties among the timings of workload {workload} keep the Mann-Whitney test \
             from going below p = {floor:.3}, so it cannot be significant at alpha {alpha}"
        )
    })
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
        match ratio_of_medians_ci(base, other, opts.confidence, 400, opts.seed) {
            (Some(est), Some(lo), Some(hi)) => (hi - lo) / 2.0 <= target * est,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_p_of_exact_test() {
        assert!((min_two_sided_p(3, 3) - 0.1).abs() < 1e-12);
        assert!((min_two_sided_p(5, 5) - 2.0 / 252.0).abs() < 1e-12);
    }

    /// Issue 10 item 4: the "cannot go below p" notice must hold with ties too. Tied timings
    /// (instruction-like counts, coarse clocks) raise the floor; the notice names the workload.
    #[test]
    fn mann_whitney_ties_floor_notice() {
        // 5 against 5 could reach 2/252 < 0.01, but with these ties no split gets there.
        let b = [2.0, 2.0, 2.0, 2.0, 2.0];
        let a = [1.0, 1.0, 1.0, 1.0, 2.0];
        let note = tie_floor_note("w", &b, &a, 0.01).expect("a note");
        assert!(
            note.contains("workload w") && note.contains("ties"),
            "{note}"
        );
        // Distinct timings: the pre-measurement notice covers it, nothing more to say.
        let b = [2.0, 2.1, 2.2, 2.3, 2.4];
        let a = [1.0, 1.1, 1.2, 1.3, 1.4];
        assert!(tie_floor_note("w", &b, &a, 0.01).is_none());
    }
}
