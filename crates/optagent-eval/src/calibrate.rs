//! Calibration: the evaluator measuring itself.
//!
//! A synthetic task whose candidates have known true speedups (a spin loop whose iteration count
//! the patch divides by 1.10, 1.25, 2.0, ...) and a no-op candidate (A/A) is measured in many
//! independent trials, idle and with another process loading a core. For each trial, optagent's
//! rule (Mann-Whitney U and bootstrap interval on all samples) and GSO's rule (the mean of the first
//! 5 fresh runs, `opt_base`'s thresholds) are applied to the same samples, so their false-positive
//! and detection rates, and the error of their estimates, can be put side by side.

use std::process::Stdio;
use std::time::Instant;

use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_stats::scoring::gso_opt_base;
use optagent_stats::summary::{mean, median, quantile};
use optagent_task::{Metric, Task};
use serde::{Deserialize, Serialize};

use crate::measure::{run_session, Session};
use crate::prepare::{close_all, prepare_all};
use crate::score::significance;
use crate::{Candidate, EvalError, EvalOptions, PatchSource};

/// Machine load during a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    Idle,
    /// One busy-looping process, unpinned (the scheduler places it), for the whole condition.
    OneCoreBusy,
    /// One busy-looping process pinned to the CPU the measured runs are pinned to: the worst
    /// case, every measured run time-shares its core.
    SameCoreBusy,
}

#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub trials: usize,
    pub speedups: Vec<f64>,
    pub loads: Vec<Load>,
    /// Iterations of the baseline's spin loop (about 1 ns each).
    pub iterations: u64,
    /// Runs GSO's rule averages.
    pub gso_runs: usize,
    /// How each trial measures: reps, adaptive, pinning, alpha, work dir.
    pub eval: EvalOptions,
}

/// One method's figures for one true speedup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detection {
    pub true_speedup: f64,
    /// Share of trials in which a significant speedup was claimed.
    pub detection_rate: f64,
    pub median_estimate: f64,
    /// |estimate / true - 1|: median and 95th percentile over trials.
    pub median_rel_error: f64,
    pub p95_rel_error: f64,
    /// Share of trials whose estimate is within 5% of the truth.
    pub within_5pct: f64,
}

/// One method under one load condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodFigures {
    /// `optagent` (Mann-Whitney U on all samples of the workload's reported seconds), `paired`
    /// (Wilcoxon signed-rank on per-round ratios), `gso` (GSO's rule on the mean of the first
    /// runs), `cpu` (optagent's rule on the CPU time of the whole process, from rusage) or
    /// `auto` (optagent's rule on the clock the evaluator chose per workload, as `eval` uses it:
    /// [`crate::clock::choose`]; the CPU time there is net of the setup).
    pub method: String,
    pub load: Load,
    pub trials: usize,
    /// Share of A/A trials in which a significant speedup or slowdown was claimed.
    pub aa_false_positive_rate: f64,
    pub aa_claims: usize,
    pub detection: Vec<Detection>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConditionFigures {
    pub load: Load,
    /// Median baseline time of one run, seconds.
    pub baseline_median_s: f64,
    /// Mean timed repetitions per tree and trial (adaptive mode varies it).
    pub mean_reps: f64,
    /// Sum over trials of session wall time and of workload process wall time.
    pub session_wall_s: f64,
    pub runs_wall_s: f64,
    /// session / runs - 1: the evaluator's own overhead while measuring.
    pub overhead_ratio: f64,
    /// The same for a whole `evaluate` call (tree preparation and builds included).
    pub full_eval_overhead_ratio: f64,
    pub load1_start: Option<f64>,
    pub load1_end: Option<f64>,
    /// The clock check ([`crate::integrity::timing_check`]) on every honest candidate of every
    /// trial: how often it ran, flagged `timing_mismatch` (a false flag: these candidates are
    /// honest), and had no power.
    #[serde(default)]
    pub clock_checks: usize,
    #[serde(default)]
    pub clock_false_flags: usize,
    #[serde(default)]
    pub clock_no_power: usize,
    /// How often the evaluator's clock rule chose each clock (`cpu`, `reported`, `wall`), one
    /// choice per trial, and the last choice's reason.
    #[serde(default)]
    pub clock_choices: std::collections::BTreeMap<String, usize>,
    #[serde(default)]
    pub clock_reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationReport {
    pub trials: usize,
    pub reps: Option<usize>,
    pub adaptive: bool,
    pub alpha: f64,
    pub gso_runs: usize,
    pub cores: usize,
    pub pinned_cpus: Vec<usize>,
    pub methods: Vec<MethodFigures>,
    pub conditions: Vec<ConditionFigures>,
}

const SPIN_C: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "work.h"

int main(void) {
    const char *out = getenv("OPTAGENT_OUTPUT");
    if (getenv("OPTAGENT_SETUP_ONLY")) {
        FILE *f = fopen(out, "w");
        fprintf(f, "{\"result\": 0}");
        fclose(f);
        return 0;
    }
    struct timespec t0, t1;
    volatile unsigned long x = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < WORK_ITERS; i++) x += (unsigned long)i ^ (x >> 3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    FILE *f = out ? fopen(out, "w") : stdout;
    fprintf(f, "{\"seconds\": %.9f, \"result\": 0}", s);
    if (out) fclose(f);
    return 0;
}
"#;

fn work_h(iters: u64) -> String {
    format!("#define WORK_ITERS {iters}L\n")
}

fn patch_for(iters: u64, speedup: f64) -> String {
    let new = (iters as f64 / speedup).round() as u64;
    format!(
        "--- a/work.h\n+++ b/work.h\n@@ -1 +1 @@\n-{}+{}",
        work_h(iters),
        work_h(new)
    )
}

/// Write the synthetic task into `dir`.
pub fn write_task(dir: &std::path::Path, iters: u64) -> Result<Task, EvalError> {
    let io = |e: std::io::Error| EvalError::Other(format!("writing the calibration task: {e}"));
    std::fs::create_dir_all(dir.join("repo")).map_err(io)?;
    std::fs::write(dir.join("repo/spin.c"), SPIN_C).map_err(io)?;
    std::fs::write(dir.join("repo/work.h"), work_h(iters)).map_err(io)?;
    std::fs::write(dir.join("repo/.gitignore"), "spin\n").map_err(io)?;
    std::fs::write(dir.join("expert.diff"), patch_for(iters, 2.0)).map_err(io)?;
    std::fs::write(
        dir.join("task.toml"),
        r#"id = "calibration"
instruction = "A synthetic spin loop with known speedups, for calibrating the evaluator."
languages = ["c"]
[source]
path = "repo"
[expert]
patch = "expert.diff"
[build]
commands = ["cc -O1 -o spin spin.c"]
[measure]
warmup = 1
[[workloads]]
name = "calibration.spin.loop(iters)"
command = "./spin"
"#,
    )
    .map_err(io)?;
    Task::load(dir).map_err(|e| EvalError::Other(e.to_string()))
}

struct Loader(Option<std::process::Child>);

impl Loader {
    fn start(load: Load, pinned: &[usize]) -> Result<Loader, EvalError> {
        let spin = "while :; do :; done";
        let cmd = match load {
            Load::Idle => return Ok(Loader(None)),
            Load::OneCoreBusy => spin.to_string(),
            Load::SameCoreBusy => match pinned.first() {
                Some(cpu) => format!("exec taskset -c {cpu} sh -c '{spin}'"),
                None => spin.to_string(),
            },
        };
        let child = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| EvalError::Other(format!("starting the load process: {e}")))?;
        Ok(Loader(Some(child)))
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Default)]
struct Tally {
    aa_claims: usize,
    aa_trials: usize,
    /// Per true speedup: (claimed, estimate) per trial.
    ab: Vec<Vec<(bool, f64)>>,
}

impl Tally {
    /// Candidate `ci`'s verdict: on the A/A candidate (0) any significant difference is a
    /// claim; on the others, a significant speedup.
    fn add(&mut self, ci: usize, significant: bool, estimate: f64) {
        if ci == 0 {
            self.aa_trials += 1;
            self.aa_claims += significant as usize;
        } else {
            self.ab[ci - 1].push((significant && estimate > 1.0, estimate));
        }
    }
}

fn detections(speedups: &[f64], ab: &[Vec<(bool, f64)>]) -> Vec<Detection> {
    speedups
        .iter()
        .zip(ab)
        .map(|(&s, trials)| {
            let n = trials.len().max(1) as f64;
            let est: Vec<f64> = trials.iter().map(|t| t.1).collect();
            let err: Vec<f64> = est.iter().map(|e| (e / s - 1.0).abs()).collect();
            Detection {
                true_speedup: s,
                detection_rate: trials.iter().filter(|t| t.0).count() as f64 / n,
                median_estimate: median(&est),
                median_rel_error: median(&err),
                p95_rel_error: quantile(&err, 0.95),
                within_5pct: err.iter().filter(|&&e| e <= 0.05).count() as f64 / n,
            }
        })
        .collect()
}

/// Run the calibration.
pub async fn calibrate(opts: &CalibrateOptions) -> Result<CalibrationReport, EvalError> {
    let task_dir = opts.eval.work_dir.join("calibration-task");
    let task = write_task(&task_dir, opts.iterations)?;
    let mut cands = vec![Candidate::new("aa", PatchSource::Nop)];
    for s in &opts.speedups {
        cands.push(Candidate::new(
            format!("x{s}"),
            PatchSource::Diff(patch_for(opts.iterations, *s)),
        ));
    }
    let pinned = opts
        .eval
        .pin_cpus
        .clone()
        .unwrap_or_else(crate::machine::default_pin);
    let mut methods = vec![];
    let mut conditions = vec![];
    for &load in &opts.loads {
        let (m, c) = run_condition(opts, &task, &cands, &pinned, load).await?;
        methods.extend(m);
        conditions.push(c);
    }
    Ok(CalibrationReport {
        trials: opts.trials,
        reps: opts.eval.reps,
        adaptive: opts.eval.adaptive.is_some(),
        alpha: opts.eval.alpha,
        gso_runs: opts.gso_runs,
        cores: crate::machine::MachineState::now().cores,
        pinned_cpus: pinned,
        methods,
        conditions,
    })
}

/// Every trial of one load condition: the trees are prepared once, then measured in
/// `opts.trials` independent sessions, each scored by every method.
async fn run_condition(
    opts: &CalibrateOptions,
    task: &Task,
    cands: &[Candidate],
    pinned: &[usize],
    load: Load,
) -> Result<(Vec<MethodFigures>, ConditionFigures), EvalError> {
    let _loader = Loader::start(load, pinned)?;
    let m0 = crate::machine::MachineState::now();
    // One whole evaluation, to see the overhead of preparing trees too.
    let full = crate::evaluate(task, &cands[..1], &opts.eval).await?;
    let full_overhead = full[0].timing.total_wall_s / full[0].timing.runs_wall_s - 1.0;
    let workloads: Vec<_> = task.spec.workloads.iter().collect();
    let prepared = prepare_all(task, cands, &opts.eval).await?;
    let mut tally = ConditionTally::new(opts.speedups.len());
    let started = Instant::now();
    for trial in 0..opts.trials {
        let mut eopts = opts.eval.clone();
        eopts.progress = None;
        eopts.seed = opts.eval.seed.wrapping_add(trial as u64);
        let session = match run_session(task, &workloads, &prepared, Metric::Time, &eopts).await {
            Ok(s) => s,
            Err(e) => {
                close_all(&prepared).await;
                return Err(e);
            }
        };
        tally.add_session(&session, cands.len(), &eopts, opts.gso_runs);
        if let Some(p) = &opts.eval.progress {
            if (trial + 1) % 10 == 0 || trial + 1 == opts.trials {
                p(&format!(
                    "[calibrate {load:?}] trial {}/{} ({:.0}s)",
                    trial + 1,
                    opts.trials,
                    started.elapsed().as_secs_f64()
                ));
            }
        }
    }
    close_all(&prepared).await;
    let m1 = crate::machine::MachineState::now();
    let methods = tally.methods(load, &opts.speedups);
    let condition = ConditionFigures {
        load,
        baseline_median_s: median(&tally.base_medians),
        mean_reps: tally.reps_sum as f64 / opts.trials.max(1) as f64,
        session_wall_s: tally.session_wall,
        runs_wall_s: tally.runs_wall,
        overhead_ratio: tally.session_wall / tally.runs_wall - 1.0,
        full_eval_overhead_ratio: full_overhead,
        load1_start: m0.load1,
        load1_end: m1.load1,
        clock_checks: tally.clock_checks,
        clock_false_flags: tally.clock_false_flags,
        clock_no_power: tally.clock_no_power,
        clock_choices: tally.clock_choices,
        clock_reason: tally.clock_reason,
    };
    Ok((methods, condition))
}

/// What the trials of one condition add up to: each method's claims, the clock check's and
/// the clock rule's choices, and the session figures.
struct ConditionTally {
    /// optagent's rule on the reported seconds.
    ours: Tally,
    gso: Tally,
    pairs: Tally,
    cpu: Tally,
    /// optagent's rule on the clock the evaluator chose.
    auto: Tally,
    clock_choices: std::collections::BTreeMap<String, usize>,
    clock_reason: String,
    clock_checks: usize,
    clock_false_flags: usize,
    clock_no_power: usize,
    session_wall: f64,
    runs_wall: f64,
    reps_sum: usize,
    base_medians: Vec<f64>,
}

impl ConditionTally {
    fn new(speedups: usize) -> Self {
        let tally = || Tally {
            ab: vec![vec![]; speedups],
            ..Default::default()
        };
        ConditionTally {
            ours: tally(),
            gso: tally(),
            pairs: tally(),
            cpu: tally(),
            auto: tally(),
            clock_choices: Default::default(),
            clock_reason: String::new(),
            clock_checks: 0,
            clock_false_flags: 0,
            clock_no_power: 0,
            session_wall: 0.0,
            runs_wall: 0.0,
            reps_sum: 0,
            base_medians: vec![],
        }
    }

    /// One trial's session: the baseline is slot 0, the expert slot 1, candidate `ci` (0 the
    /// A/A one) slot `ci + 2`.
    fn add_session(
        &mut self,
        session: &Session,
        ncands: usize,
        eopts: &EvalOptions,
        gso_runs: usize,
    ) {
        self.session_wall += session.session_wall.as_secs_f64();
        self.runs_wall += session.runs_wall.as_secs_f64();
        self.reps_sum += session.stops[0].reps;
        self.base_medians.push(median(&reported_of(session, 0)));
        if let Some(d) = session.clocks.first() {
            *self
                .clock_choices
                .entry(d.clock.as_str().to_string())
                .or_default() += 1;
            self.clock_reason = d.reason.clone();
        }
        for ci in 0..ncands {
            self.add_candidate(session, ci, eopts, gso_runs);
        }
    }

    /// Candidate `ci` of one session, scored by every method against the baseline.
    fn add_candidate(
        &mut self,
        session: &Session,
        ci: usize,
        eopts: &EvalOptions,
        gso_runs: usize,
    ) {
        let b = &reported_of(session, 0);
        let a = &reported_of(session, ci + 2);
        if a.is_empty() || a.len() != b.len() {
            return;
        }
        // Calibration's own tallies keep an undefined estimate as NaN (it counts as no
        // detection and falls outside every error bound).
        let rule = |b: &[f64], a: &[f64]| {
            let (est, _, _) = ratio_of_medians_ci(b, a, eopts.confidence, 1000, eopts.seed);
            let (_, sig) = significance(Metric::Time, b, a, eopts.alpha);
            (sig, est.unwrap_or(f64::NAN))
        };
        // The evaluator's verdict with the clock it chose.
        let (vsig, vest) = rule(
            &session.series[0][0].values,
            &session.series[ci + 2][0].values,
        );
        self.auto.add(ci, vsig, vest);
        if let Some((check, _)) = crate::integrity::timing_check(
            "calibration",
            &session.series[0][0],
            &session.series[ci + 2][0],
            eopts.confidence,
            eopts.seed,
        ) {
            self.clock_checks += 1;
            self.clock_false_flags += (check.outcome == "mismatch") as usize;
            self.clock_no_power += (check.outcome == "no_power") as usize;
        }
        // The same rule on the CPU time of the whole process (rusage), where measured.
        let (bc, ac) = (cpu_of(session, 0), cpu_of(session, ci + 2));
        if bc.len() == b.len() && ac.len() == a.len() {
            let (csig, cest) = rule(&bc, &ac);
            self.cpu.add(ci, csig, cest);
        }
        let (sig, est) = rule(b, a);
        self.ours.add(ci, sig, est);
        let (pest, pp) = crate::score::paired(b, a);
        self.pairs.add(ci, pp < eopts.alpha, pest);
        let k = gso_runs.min(b.len()).min(a.len());
        let mean_of = |xs: &[f64]| mean(xs).unwrap_or(f64::NAN);
        let (gb, ga) = (mean_of(&b[..k]), mean_of(&a[..k]));
        let gso_claim = gso_opt_base(&[gb], &[ga]);
        if ci == 0 {
            self.gso.aa_trials += 1;
            self.gso.aa_claims += gso_claim as usize;
        } else {
            self.gso.ab[ci - 1].push((gso_claim, gb / ga));
        }
    }

    /// Each method's figures (those that ran at least one A/A trial).
    fn methods(&self, load: Load, speedups: &[f64]) -> Vec<MethodFigures> {
        [
            ("optagent", &self.ours),
            ("paired", &self.pairs),
            ("gso", &self.gso),
            ("cpu", &self.cpu),
            ("auto", &self.auto),
        ]
        .into_iter()
        .filter(|(_, t)| t.aa_trials > 0)
        .map(|(name, t)| MethodFigures {
            method: name.to_string(),
            load,
            trials: t.aa_trials,
            aa_false_positive_rate: t.aa_claims as f64 / t.aa_trials.max(1) as f64,
            aa_claims: t.aa_claims,
            detection: detections(speedups, &t.ab),
        })
        .collect()
    }
}

/// The workload's reported seconds on tree `slot` (`values` holds what the chosen clock gave).
fn reported_of(session: &Session, slot: usize) -> Vec<f64> {
    session.series[slot][0]
        .reported
        .iter()
        .flatten()
        .copied()
        .collect()
}

/// The CPU time of each run of the workload on tree `slot`, where measured.
fn cpu_of(session: &Session, slot: usize) -> Vec<f64> {
    session.series[slot][0]
        .cpus
        .iter()
        .flatten()
        .map(|d| d.as_secs_f64())
        .collect()
}

/// The calibration as a table.
pub fn render(r: &CalibrationReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "calibration: {} trials per condition, {} reps per tree{}, alpha {}, GSO rule on the first {} runs; {} cores, pinned {:?}\n",
        r.trials,
        r.reps.map(|x| x.to_string()).unwrap_or("task default".into()),
        if r.adaptive { " (adaptive)" } else { "" },
        r.alpha,
        r.gso_runs,
        r.cores,
        r.pinned_cpus
    );
    let speedups: Vec<f64> = r
        .methods
        .first()
        .map(|m| m.detection.iter().map(|d| d.true_speedup).collect())
        .unwrap_or_default();
    let _ = write!(s, "{:<9} {:<14} {:>8}", "method", "load", "A/A FP");
    for sp in &speedups {
        let _ = write!(s, "  {:>22}", format!("{sp}x: detect / err50 / err95"));
    }
    let _ = writeln!(s);
    for m in &r.methods {
        let _ = write!(
            s,
            "{:<9} {:<14} {:>7.1}%",
            m.method,
            format!("{:?}", m.load),
            m.aa_false_positive_rate * 100.0
        );
        for d in &m.detection {
            let _ = write!(
                s,
                "  {:>22}",
                format!(
                    "{:.0}% / {:.1}% / {:.1}%",
                    d.detection_rate * 100.0,
                    d.median_rel_error * 100.0,
                    d.p95_rel_error * 100.0
                )
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
    for c in &r.conditions {
        let _ = writeln!(
            s,
            "{:<14} baseline {:.2}ms, {:.1} reps/tree, measuring overhead {:+.1}% of {:.1}s of workload runs (whole evaluation incl. builds {:+.1}%), load {} -> {}",
            format!("{:?}", c.load),
            c.baseline_median_s * 1e3,
            c.mean_reps,
            c.overhead_ratio * 100.0,
            c.runs_wall_s,
            c.full_eval_overhead_ratio * 100.0,
            c.load1_start.map(|x| format!("{x:.2}")).unwrap_or("-".into()),
            c.load1_end.map(|x| format!("{x:.2}")).unwrap_or("-".into()),
        );
        let _ = writeln!(
            s,
            "{:<14} clock check on honest candidates: {} false timing_mismatch flag(s) in {} checks, {} without power",
            "",
            c.clock_false_flags,
            c.clock_checks,
            c.clock_no_power
        );
        if !c.clock_choices.is_empty() {
            let choices: Vec<String> = c
                .clock_choices
                .iter()
                .map(|(k, v)| format!("{k} in {v}"))
                .collect();
            let _ = writeln!(
                s,
                "{:<14} deciding clock (auto rule): {} trial(s); last reason: {}",
                "",
                choices.join(", "),
                c.clock_reason
            );
        }
    }
    s
}
