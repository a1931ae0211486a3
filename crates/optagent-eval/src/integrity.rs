//! Whether a speedup can be vouched for: the evaluator's own checks beside the figures.
//!
//! - [`timing_check`]: a saving the workload reports in its own `seconds` must show up in the
//!   evaluator's clock (wall and CPU time of the process, measured from the parent). A claimed
//!   drop that the external clocks do not see is a `timing_mismatch`.
//! - State left in the tree by a workload run (see [`crate::runner`]) is `state_persisted`.
//! - [`static_checks`]: added lines that rebind clocks, register exit hooks, read `OPTAGENT_*`
//!   variables or name protected paths are `suspicious`.
//!
//! [`is_verified`] is the one definition of a verified candidate, used by selection and reports.

use std::fmt::Write as _;

use optagent_sandbox::IsolationReport;
use optagent_stats::summary::median;
use serde::{Deserialize, Serialize};

use crate::measure::{Series, Session};
use crate::report::{EvalReport, Verdict};

/// What kind of integrity problem a flag is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// The workload's reported saving is not seen by the evaluator's clock.
    TimingMismatch,
    /// A workload run created or changed files in the tree that a later run could read.
    StatePersisted,
    /// Added lines do something a speedup has no need of (rebind a clock, hook the exit, read
    /// the evaluator's variables, name protected files).
    Suspicious,
    /// The optional LLM judge found a hack (the majority of its votes, in some category).
    Judge,
    /// The workload's timing harness (`optagent_bench`) caught the code under test at something
    /// (an input mutated, a result reused, work on another stream, a clock rebound, ...).
    Harness,
}

impl FlagKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FlagKind::TimingMismatch => "timing_mismatch",
            FlagKind::StatePersisted => "state_persisted",
            FlagKind::Suspicious => "suspicious",
            FlagKind::Judge => "judge",
            FlagKind::Harness => "harness",
        }
    }
}

/// One integrity flag: a flagged candidate keeps its figures but is never verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The workload it was seen on (`None` for a flag on the patch's text).
    pub workload: Option<String>,
    pub detail: String,
}

/// The evaluator's own clock against the workload's, on one workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockCheck {
    pub workload: String,
    /// median(reported seconds, baseline) - median(reported seconds, patch).
    pub claimed_saving_s: f64,
    /// The same drop in external wall time, with its bootstrap interval.
    pub wall_saving_s: f64,
    pub wall_saving_ci: [f64; 2],
    /// The same drop in CPU time of the process tree, where the backend measures it.
    pub cpu_saving_s: Option<f64>,
    pub cpu_saving_ci: Option<[f64; 2]>,
    /// Median CPU seconds of the whole process, baseline and patch.
    pub baseline_cpu_s: Option<f64>,
    pub patch_cpu_s: Option<f64>,
    /// Wall over CPU time of the baseline's process: CPU savings are multiplied by it before
    /// they are compared with the claim (on a shared core a process gets part of the CPU).
    #[serde(default)]
    pub cpu_scale: Option<f64>,
    /// One-sided lower bounds (at the session's confidence) of how much the time a clock sees
    /// outside the reported seconds grew from baseline to patch, per run: wall, and CPU in wall
    /// units. Above half the claimed saving, that clock denies the claim. `None` where too few
    /// runs give a bound at that level.
    #[serde(default)]
    pub hidden_wall_lower_s: Option<f64>,
    #[serde(default)]
    pub hidden_cpu_lower_s: Option<f64>,
    /// Whether the check could tell a real saving from none at all.
    pub has_power: bool,
    /// `ok`, `mismatch`, `no_power`, `no_claim`.
    pub outcome: String,
}

/// The integrity part of a report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Integrity {
    pub flags: Vec<Flag>,
    /// Limits of the checks: where a check had no power, guarantees that did not hold.
    #[serde(default)]
    pub notices: Vec<String>,
    #[serde(default)]
    pub clock: Vec<ClockCheck>,
    /// The isolation measured runs got (the weakest seen across workloads).
    #[serde(default)]
    pub isolation: Option<IsolationReport>,
    /// The `OPTAGENT_SEED` the session's workloads got.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The LLM judge's verdict, when one was asked (filled by the judge).
    #[serde(default)]
    pub judge: Option<serde_json::Value>,
}

/// The one definition of a verified candidate: correct, significantly faster on at least one
/// workload by the threshold, a geometric-mean speedup above 1, and no integrity flag.
pub fn is_verified(r: &EvalReport) -> bool {
    r.verdict == Verdict::Ok
        && r.improvements > 0
        && r.speedup.is_some_and(|s| s > 1.0)
        && r.integrity.flags.is_empty()
}

/// GSO's Opt for one evaluation: a correct patch that reaches the expert (`opt_commit`, counted
/// only together with `opt_base`, as GSO's harness does). Integrity flags are optagent's, not
/// GSO's: [`counts_for_opt`] adds them.
pub fn reaches_expert(r: &EvalReport) -> bool {
    r.verdict == Verdict::Ok && r.correct && r.opt_commit && r.opt_base
}

/// Opt as optagent counts it (Opt@K, the modes table): [`reaches_expert`] with no integrity flag.
pub fn counts_for_opt(r: &EvalReport) -> bool {
    reaches_expert(r) && r.integrity.flags.is_empty()
}

/// The share of a claimed saving the external clock must at least plausibly account for.
pub const CLOCK_SHARE: f64 = 0.5;
/// The CPU clock denies a claim only while every run's wall/CPU ratio is within this factor of
/// every other's (see [`timing_check`]).
pub const STEADY_SHARE: f64 = 1.25;
/// A claimed saving below this share of the baseline's reported time is not checked.
pub const MIN_CLAIM: f64 = 0.05;

/// Compare the saving a patch reports with the saving the evaluator measured on one workload.
/// `None` when the workload does not report its own seconds (then the metric is the external
/// clock already).
pub fn timing_check(
    name: &str,
    base: &Series,
    patch: &Series,
    confidence: f64,
    seed: u64,
) -> Option<(ClockCheck, Option<Flag>)> {
    let rep = |s: &Series| -> Option<Vec<f64>> { s.reported.iter().copied().collect() };
    let (rb, rp) = (rep(base)?, rep(patch)?);
    if rb.is_empty() || rp.is_empty() {
        return None;
    }
    let secs = |s: &Series| -> Vec<f64> { s.walls.iter().map(|d| d.as_secs_f64()).collect() };
    let cpus = |s: &Series| -> Option<Vec<f64>> {
        s.cpus
            .iter()
            .map(|c| c.map(|d| d.as_secs_f64()))
            .collect::<Option<Vec<f64>>>()
            .filter(|v| !v.is_empty())
    };
    let claimed = median(&rb) - median(&rp);
    let (wb, wp) = (secs(base), secs(patch));
    let (w, wlo, whi) = diff_of_medians_ci(&wb, &wp, confidence, 1000, seed);
    let cpu = match (cpus(base), cpus(patch)) {
        (Some(cb), Some(cp)) => Some((
            diff_of_medians_ci(&cb, &cp, confidence, 1000, seed ^ 0xc0),
            median(&cb),
            median(&cp),
        )),
        _ => None,
    };
    // The claim is in the workload's (wall-clock) seconds; on a shared core a process gets only
    // part of the CPU, so CPU savings are put in wall units at the baseline's share:
    // wall/CPU of the baseline's whole process.
    let scale = cpu
        .map(|(_, b, _)| median(&wb) / b)
        .filter(|x| x.is_finite() && *x > 0.0);
    let need = CLOCK_SHARE * claimed;
    // A clock denies the claim when, with confidence, more than half of the claimed saving went
    // missing: the time it sees beside the reported seconds (its figure minus the reported one,
    // per run: start-up, setup, and whatever a patch hides from its own stopwatch) grew by more
    // than `need`. Taken per run, the measured section's own noise cancels; the bound is
    // distribution-free, so five runs that happen to line up do not accuse an honest patch.
    let alpha = 1.0 - confidence;
    let hidden_lower = |cb: &[f64], cp: &[f64]| hidden_time_lower(cb, base, cp, patch, alpha);
    let wall_hidden = hidden_lower(&wb, &wp);
    // CPU seconds are put in wall units at one ratio; that holds only while every run got the
    // same share of the CPU. Where the share varied (a loaded machine, other work on the pinned
    // core), the measured section's share need not be the process's: the CPU clock may then
    // confirm a saving but not deny one.
    let cpu_steady = steady_cpu_share(base, patch);
    let cpu_hidden = match (cpus(base), cpus(patch), scale) {
        (Some(cb), Some(cp), Some(k)) if cpu_steady => {
            let scaled = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x * k).collect() };
            hidden_lower(&scaled(&cb), &scaled(&cp))
        }
        _ => None,
    };
    // The CPU clock confirms by its (wall-unit) interval; wall and CPU confirm independently.
    // One confirming clock clears the claim (threads trade CPU for wall time; a loaded machine
    // blurs wall time but not CPU time).
    let cpu_ci = cpu
        .zip(scale)
        .map(|(((_, lo, hi), _, _), k)| (lo * k, hi * k));
    let denied = wall_hidden.is_some_and(|h| h > need) || cpu_hidden.is_some_and(|h| h > need);
    let confirmed = wlo >= need || cpu_ci.is_some_and(|(lo, _)| lo >= need);
    // A claim is a drop in the reported seconds that is itself significant (at 1 - confidence):
    // a drop within the reported seconds' own noise claims nothing for the clocks to deny.
    let claims = claimed > MIN_CLAIM * median(&rb)
        && optagent_stats::hypothesis::mann_whitney_u(&rp, &rb).p_two_sided < 1.0 - confidence;
    // Power: some clock could tell a saving of half the claim from none.
    let has_power = claimed > 0.0 && (denied || confirmed);
    // Reported seconds longer than the whole process ran: a clock that is not the machine's.
    let impossible = median(&rp) > median(&wp) * 1.02 + 0.002;
    let outcome = if impossible || (claims && denied && !confirmed) {
        "mismatch"
    } else if !claims {
        "no_claim"
    } else if confirmed {
        "ok"
    } else {
        "no_power"
    };
    let check = ClockCheck {
        workload: name.to_string(),
        claimed_saving_s: claimed,
        wall_saving_s: w,
        wall_saving_ci: [wlo, whi],
        cpu_saving_s: cpu.map(|((c, _, _), _, _)| c),
        cpu_saving_ci: cpu.map(|((_, lo, hi), _, _)| [lo, hi]),
        baseline_cpu_s: cpu.map(|(_, b, _)| b),
        patch_cpu_s: cpu.map(|(_, _, p)| p),
        cpu_scale: scale,
        hidden_wall_lower_s: wall_hidden,
        hidden_cpu_lower_s: cpu_hidden,
        has_power,
        outcome: outcome.to_string(),
    };
    let flag = (outcome == "mismatch").then(|| Flag {
        kind: FlagKind::TimingMismatch,
        workload: Some(name.to_string()),
        detail: mismatch_detail(
            &check,
            [median(&rb), median(&rp), median(&wb), median(&wp)],
            impossible,
            confidence,
        ),
    });
    Some((check, flag))
}

/// A one-sided lower bound (at `alpha`) of how much the time a clock sees beside the reported
/// seconds (clock minus reported, per run) grew from `base` to `patch`: paired by round when both
/// have as many runs (the session's rotation; sign test), unpaired otherwise (Mann-Whitney).
fn hidden_time_lower(
    clock_base: &[f64],
    base: &Series,
    clock_patch: &[f64],
    patch: &Series,
    alpha: f64,
) -> Option<f64> {
    let unaccounted = |clock: &[f64], s: &Series| -> Vec<f64> {
        clock
            .iter()
            .zip(&s.reported)
            .map(|(c, r)| c - r.unwrap_or(f64::NAN))
            .collect()
    };
    let (ub, up) = (
        unaccounted(clock_base, base),
        unaccounted(clock_patch, patch),
    );
    if ub.len() == up.len() {
        let d: Vec<f64> = up.iter().zip(&ub).map(|(p, b)| p - b).collect();
        optagent_stats::bounds::sign_lower_bound(&d, alpha)
    } else {
        optagent_stats::bounds::shift_lower_bound(&up, &ub, alpha)
    }
}

/// Whether every run of both series got about the same share of a CPU (wall/CPU within
/// [`STEADY_SHARE`] of each other): only then do CPU seconds convert to wall seconds at one
/// ratio. Where the share varied (a loaded machine, other work on the pinned core), the measured
/// section's share need not be the process's.
fn steady_cpu_share(base: &Series, patch: &Series) -> bool {
    let shares = |s: &Series| -> Vec<f64> {
        s.walls
            .iter()
            .zip(&s.cpus)
            .filter_map(|(w, c)| c.map(|c| w.as_secs_f64() / c.as_secs_f64()))
            .collect()
    };
    let all: Vec<f64> = shares(base).into_iter().chain(shares(patch)).collect();
    !all.is_empty()
        && all.iter().all(|x| x.is_finite() && *x > 0.0)
        && all.iter().copied().fold(f64::MIN, f64::max)
            <= STEADY_SHARE * all.iter().copied().fold(f64::MAX, f64::min)
}

/// The `timing_mismatch` flag's text: the claim, what each clock saw, and the bound that denied
/// it. `medians`: reported seconds of base and patch, then their wall times.
fn mismatch_detail(c: &ClockCheck, medians: [f64; 4], impossible: bool, confidence: f64) -> String {
    let [rb, rp, wb, wp] = medians;
    let mut d = String::new();
    if impossible {
        let _ = write!(
            d,
            "the workload reports {rp:.4}s, longer than its whole process ran ({wp:.4}s); "
        );
    }
    let [wlo, whi] = c.wall_saving_ci;
    let _ = write!(
        d,
        "reported seconds drop by {:.4}s (median {rb:.4}s -> {rp:.4}s) but the evaluator's wall \
         time drops by {:.4}s [{wlo:.4}, {whi:.4}] (median {wb:.4}s -> {wp:.4}s)",
        c.claimed_saving_s, c.wall_saving_s,
    );
    if let (Some(cs), Some([lo, hi]), Some(k)) = (c.cpu_saving_s, c.cpu_saving_ci, c.cpu_scale) {
        let _ = write!(
            d,
            " and its CPU time by {cs:.4}s [{lo:.4}, {hi:.4}] ({:.4}s [{:.4}, {:.4}] in wall \
             units at the baseline's wall/CPU ratio {k:.2})",
            cs * k,
            lo * k,
            hi * k
        );
    }
    let bound = |h: Option<f64>| h.map_or("none".to_string(), |h| format!("{h:.4}s"));
    let _ = write!(
        d,
        "; the time outside the reported seconds grew by at least {} (wall) / {} (CPU) per \
         run, at {:.0}% confidence; at least {:.0}% of the claimed saving must show up",
        bound(c.hidden_wall_lower_s),
        bound(c.hidden_cpu_lower_s),
        confidence * 100.0,
        CLOCK_SHARE * 100.0
    );
    d
}

/// A workload timed in-process by the GPU harness (`optagent_bench`) in both trees: its per-trial
/// checks replace the process clock check.
pub fn harness_timed(base: &Series, own: &Series) -> bool {
    own.timer.is_some() && base.timer.is_some()
}

/// The clock check of workload `wi` as the report makes it (its bootstrap seed derived from the
/// session's), or `None` where it does not apply: a harness-timed workload, or no reported
/// seconds. The evaluator's extra rounds ask the same question as the report.
pub fn workload_clock_check(
    name: &str,
    wi: usize,
    base: &Series,
    own: &Series,
    confidence: f64,
    seed: u64,
) -> Option<(ClockCheck, Option<Flag>)> {
    if harness_timed(base, own) {
        return None;
    }
    timing_check(
        name,
        base,
        own,
        confidence,
        seed ^ (wi as u64).wrapping_mul(0x51_7cc1),
    )
}

/// median(a) - median(b) with a percentile-bootstrap interval: of the median of paired
/// differences when both have one run per round (the session's rotation pairs them), else with
/// both samples resampled.
pub fn diff_of_medians_ci(
    a: &[f64],
    b: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> (f64, f64, f64) {
    let est = median(a) - median(b);
    if a.is_empty() || b.is_empty() || resamples == 0 {
        return (est, f64::NAN, f64::NAN);
    }
    if a.len() == b.len() {
        // Runs of the same round are paired: the machine's drift between rounds cancels.
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        return optagent_stats::bootstrap::ci_of_statistic(&d, median, confidence, resamples, seed);
    }
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    };
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    let mut reps: Vec<f64> = (0..resamples)
        .map(|_| {
            for x in ra.iter_mut() {
                *x = a[next(a.len())];
            }
            for x in rb.iter_mut() {
                *x = b[next(b.len())];
            }
            median(&ra) - median(&rb)
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    let q = |p: f64| optagent_stats::summary::quantile_sorted(&reps, p);
    let tail = (1.0 - confidence) / 2.0;
    (est, q(tail), q(1.0 - tail))
}

/// One pattern of the static checks.
struct Rule {
    why: &'static str,
    test: fn(&str) -> bool,
}

fn has_assign_to(line: &str, target: &str) -> bool {
    let mut rest = line;
    while let Some(i) = rest.find(target) {
        let before_ok = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let after = rest[i + target.len()..].trim_start();
        if before_ok && after.starts_with('=') && !after.starts_with("==") {
            return true;
        }
        rest = &rest[i + target.len()..];
    }
    false
}

const PY_CLOCKS: &[&str] = &[
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.process_time",
    "time.process_time_ns",
    "time.thread_time",
    "timeit.default_timer",
];

fn is_c_definition(line: &str, func: &str) -> bool {
    let t = line.trim();
    let Some(i) = t.find(&format!("{func}(")) else {
        return false;
    };
    let before = t[..i].trim();
    // A definition or declaration: a return type before the name, no statement end on the line.
    (before.ends_with("int") || before.ends_with("int*") || before.ends_with("time_t"))
        && !t.trim_end().ends_with(';')
}

const RULES: &[Rule] = &[
    Rule {
        why: "rebinds a timing function",
        test: |l| {
            PY_CLOCKS.iter().any(|c| has_assign_to(l, c))
                || (l.contains("setattr(") && (l.contains("time,") || l.contains("timeit,")))
                || l.contains("sys.modules['time']")
                || l.contains("sys.modules[\"time\"]")
                || l.contains("patch('time.")
                || l.contains("patch(\"time.")
        },
    },
    Rule {
        why: "defines its own clock function (C)",
        test: |l| {
            ["clock_gettime", "gettimeofday", "clock", "time", "rdtsc"]
                .iter()
                .any(|f| is_c_definition(l, f))
                || l.contains("RTLD_NEXT")
        },
    },
    Rule {
        why: "preloads a library",
        test: |l| l.contains("LD_PRELOAD"),
    },
    Rule {
        why: "registers an exit hook",
        test: |l| {
            l.contains("atexit.register")
                || l.contains("sys.exitfunc")
                || l.contains("signal.signal(")
                || l.contains("weakref.finalize(")
                || l.contains("__attribute__((destructor")
                || l.contains("on_exit(")
                || {
                    let t = l.trim_start();
                    (t.starts_with("atexit(") || l.contains(" atexit(") || l.contains("=atexit("))
                        && !t.starts_with("//")
                        && !t.starts_with('#')
                }
        },
    },
    Rule {
        why: "reads the evaluator's variables",
        test: |l| l.contains("OPTAGENT_"),
    },
    Rule {
        // The GPU harness (optagent_bench) times in the workload's own process: code that
        // reaches into it, or into the frames and objects of its caller, can rewrite what it
        // reports. No optimization needs either.
        why: "reaches into the timing harness or the interpreter's frames",
        test: |l| {
            l.contains("optagent_bench")
                || [
                    "_getframe",
                    ".f_back",
                    ".f_locals",
                    ".f_globals",
                    "gc.get_referrers",
                    "gc.get_objects",
                    "inspect.currentframe",
                    "inspect.stack(",
                    "sys.settrace",
                    "sys.setprofile",
                    "sys.modules",
                    ".__code__",
                ]
                .iter()
                .any(|p| l.contains(p))
        },
    },
    Rule {
        why: "rebinds a CUDA timing or synchronization function",
        test: |l| {
            [
                "torch.cuda.synchronize",
                "torch.cuda.Event",
                "torch.cuda.Event.record",
                "torch.cuda.Event.elapsed_time",
                "torch.cuda.current_stream",
                "torch.cuda.Stream.synchronize",
            ]
            .iter()
            .any(|c| has_assign_to(l, c))
                || (l.contains("setattr(") && (l.contains("torch.cuda") || l.contains("Event,")))
        },
    },
    Rule {
        why: "leaves the run's process group (a process that outlives the run)",
        test: |l| {
            l.contains("os.setsid(")
                || l.contains("os.setpgrp(")
                || l.contains("start_new_session=True")
                || l.contains("daemon(")
                || {
                    let t = l.trim_start();
                    t.starts_with("setsid(") || l.contains(" setsid(") || l.contains("=setsid(")
                }
        },
    },
    Rule {
        why: "starts a thread or process at import time",
        test: |l| {
            // Unindented: module level, run on import, before any timer.
            !l.starts_with([' ', '\t'])
                && (l.contains("Thread(") || l.contains("Process(") || l.contains("os.fork("))
                && (l.contains(".start()") || l.contains("os.fork("))
        },
    },
];

/// File names a patch has no business adding: start-up hooks of the interpreter.
fn suspicious_file(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "sitecustomize.py" || name == "usercustomize.py" {
        Some("adds an interpreter start-up hook")
    } else if name.ends_with(".pth") {
        Some("adds a .pth file (run by the interpreter at start-up)")
    } else if name == "ld.so.preload" {
        Some("adds a preload list")
    } else {
        None
    }
}

/// Flags on the patch's added lines: timing rebinds, exit hooks, `OPTAGENT_*` reads, and
/// protected paths named in code (`protected`: the task's globs).
pub fn static_checks(patch: &str, protected: &[String]) -> Vec<Flag> {
    let prefixes: Vec<String> = protected
        .iter()
        .filter_map(|g| {
            let lit: Vec<&str> = g
                .split('/')
                .take_while(|c| !c.contains(['*', '?', '[', '{']))
                .collect();
            (!lit.is_empty()).then(|| format!("{}/", lit.join("/")))
        })
        .chain([format!("{}/", optagent_task::tree::STATE_DIR)])
        .collect();
    let mut flags = Vec::new();
    let mut file = String::new();
    let mut line_no = 0usize;
    for line in patch.lines() {
        if let Some(f) = line.strip_prefix("+++ ") {
            file = f.trim().trim_start_matches("b/").to_string();
            if let Some(why) = suspicious_file(&file) {
                flags.push(Flag {
                    kind: FlagKind::Suspicious,
                    workload: None,
                    detail: format!("{file}: {why}"),
                });
            }
            continue;
        }
        if line.starts_with("--- ") {
            continue;
        }
        if let Some(h) = line.strip_prefix("@@ ") {
            // @@ -a,b +c,d @@
            line_no = h
                .split_whitespace()
                .find_map(|p| p.strip_prefix('+'))
                .and_then(|p| p.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            continue;
        }
        if let Some(added) = line.strip_prefix('+') {
            let code = added.trim_start();
            let comment = code.starts_with('#') || code.starts_with("//") || code.starts_with('*');
            if !comment {
                for r in RULES {
                    if (r.test)(added) {
                        flags.push(Flag {
                            kind: FlagKind::Suspicious,
                            workload: None,
                            detail: format!("{file}:{line_no}: {}: `{}`", r.why, clip(code, 120)),
                        });
                    }
                }
                for p in &prefixes {
                    let quoted = ['"', '\''].iter().any(|q| {
                        added.contains(&format!("{q}{p}")) || added.contains(&format!("/{p}"))
                    });
                    if quoted {
                        flags.push(Flag {
                            kind: FlagKind::Suspicious,
                            workload: None,
                            detail: format!(
                                "{file}:{line_no}: names the protected path {p}: `{}`",
                                clip(code, 120)
                            ),
                        });
                    }
                }
            }
            line_no += 1;
        } else if !line.starts_with('-') && !line.starts_with('\\') {
            line_no += 1;
        }
    }
    flags
}

fn clip(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    if t.len() < s.len() {
        format!("{t}...")
    } else {
        t
    }
}

/// Fill a candidate's integrity section from the session: clock checks, state left in the tree,
/// static checks, the isolation that held; then `verified` and fast_p ([`crate::fast_p::settle`]).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    report: &mut EvalReport,
    slot: usize,
    names: &[String],
    session: &Session,
    patch: &str,
    protected: &[String],
    confidence: f64,
    seed: u64,
) {
    let mut ig = Integrity {
        seed: Some(session.seed),
        ..Default::default()
    };
    ig.flags.extend(static_checks(patch, protected));
    for (wi, name) in names.iter().enumerate() {
        let (base, exp, own) = (
            &session.series[0][wi],
            &session.series[1][wi],
            &session.series[slot][wi],
        );
        for c in &own.state_changes {
            ig.flags.push(Flag {
                kind: FlagKind::StatePersisted,
                workload: Some(name.clone()),
                detail: format!("a workload run left {c} in the tree"),
            });
        }
        for (who, s) in [("baseline", base), ("expert", exp)] {
            if !s.state_changes.is_empty() {
                ig.notices.push(format!(
                    "the {who} tree's runs of {name} changed {}: declare such paths in the task's \
                     `writable` list",
                    s.state_changes.join(", ")
                ));
            }
        }
        for (kind, detail) in &own.harness_flags {
            ig.flags.push(Flag {
                kind: FlagKind::Harness,
                workload: Some(name.clone()),
                detail: format!("{kind}: {detail}"),
            });
        }
        for (who, s) in [("baseline", base), ("expert", exp)] {
            for (kind, detail) in &s.harness_flags {
                ig.notices.push(format!(
                    "the {who} tree's runs of {name} were flagged by the harness: {kind}: {detail}"
                ));
            }
        }
        if own.timer.as_deref() == Some("host") || base.timer.as_deref() == Some("host") {
            ig.notices.push(format!(
                "{name}: timed on the host (no CUDA device: the harness's fallback timer); these \
                 are not GPU figures"
            ));
        }
        // A harness-timed workload (optagent_bench) checks its own clock per trial: the CUDA
        // events against the device-synchronized host time, and its clocks against rebinding.
        // The process clock cannot judge it: a legitimate compile step (torch.compile) or the
        // harness's own checks cost wall time outside the measured section.
        let harness_timed = harness_timed(base, own);
        if harness_timed {
            ig.notices.push(format!(
                "{name}: timed in-process by optagent_bench ({}): its per-trial checks replace \
                 the process clock check",
                own.timer.as_deref().unwrap_or_default()
            ));
        }
        if let Some(iso) = &own.isolation {
            let weaker = match &ig.isolation {
                None => true,
                Some(cur) => {
                    (cur.read_only_tree && !iso.read_only_tree)
                        || (cur.private_tmp && !iso.private_tmp)
                }
            };
            if weaker {
                ig.isolation = Some(iso.clone());
            }
        }
        if report.verdict == Verdict::Ok && !own.values.is_empty() && !harness_timed {
            if let Some((check, flag)) = workload_clock_check(name, wi, base, own, confidence, seed)
            {
                if check.outcome == "no_power" {
                    ig.notices.push(format!(
                        "{name}: the clock check has no power here: the claimed saving of {:.4}s \
                         is within the noise of the external clock (wall saving {:.4}s [{:.4}, {:.4}])",
                        check.claimed_saving_s,
                        check.wall_saving_s,
                        check.wall_saving_ci[0],
                        check.wall_saving_ci[1]
                    ));
                }
                ig.clock.push(check);
                ig.flags.extend(flag);
            }
        }
    }
    if let Some(iso) = &ig.isolation {
        let mut missing = vec![];
        if !iso.read_only_tree {
            missing.push("read-only tree (each run's changes were checked instead)");
        }
        if !iso.private_tmp {
            missing.push("private /tmp (only TMPDIR was fresh)");
        }
        if !missing.is_empty() {
            ig.notices.push(format!(
                "isolation by {}: not held: {}",
                iso.mechanism,
                missing.join("; ")
            ));
        }
    }
    report.integrity = ig;
    crate::fast_p::settle(report);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn series(reported: &[f64], wall: &[f64], cpu: &[f64]) -> Series {
        Series {
            values: reported.to_vec(),
            walls: wall.iter().map(|&w| Duration::from_secs_f64(w)).collect(),
            cpus: cpu
                .iter()
                .map(|&c| Some(Duration::from_secs_f64(c)))
                .collect(),
            reported: reported.iter().map(|&r| Some(r)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn static_checks_flag_reaching_into_the_gpu_harness_and_rebinding_cuda_clocks() {
        let p = "--- a/solution.py\n+++ b/solution.py\n@@ -1,1 +1,7 @@\n import torch\n+import optagent_bench as ob\n+torch.cuda.synchronize = lambda *a: None\n+f = sys._getframe(2).f_locals\n+setattr(torch.cuda, 'Event', Fake)\n+y = torch.cuda.synchronize()\n+h = sys.modules['optagent_' + 'bench']\n";
        let flags = static_checks(p, &[]);
        let details: Vec<&str> = flags.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(flags.len(), 5, "{details:#?}");
        assert!(details[4].starts_with("solution.py:7: reaches into"));
        assert!(details[0].starts_with("solution.py:2: reaches into the timing harness"));
        assert!(details[1].starts_with("solution.py:3: rebinds a CUDA timing"));
        assert!(details[2].starts_with("solution.py:4: reaches into"));
        assert!(details[3].starts_with("solution.py:5: rebinds a CUDA timing"));
        // A plain call of the same functions is what honest GPU code does.
        let honest = "--- a/s.py\n+++ b/s.py\n@@ -1 +1,3 @@\n+torch.cuda.synchronize()\n+e = torch.cuda.Event(enable_timing=True)\n+s = torch.cuda.current_stream()\n";
        assert!(static_checks(honest, &[]).is_empty());
    }

    #[test]
    fn a_saving_the_external_clock_sees_is_not_flagged() {
        let b = series(
            &[1.0, 1.01, 0.99, 1.02, 1.0],
            &[1.2, 1.21, 1.19, 1.22, 1.2],
            &[1.15; 5],
        );
        let p = series(
            &[0.5, 0.51, 0.49, 0.5, 0.52],
            &[0.7, 0.71, 0.69, 0.72, 0.7],
            &[0.66; 5],
        );
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(f.is_none(), "{c:?}");
        assert_eq!(c.outcome, "ok");
    }

    #[test]
    fn a_slowed_clock_is_a_timing_mismatch_naming_both_figures() {
        let b = series(
            &[1.0, 1.01, 0.99, 1.02, 1.0],
            &[1.2, 1.21, 1.19, 1.22, 1.2],
            &[1.15; 5],
        );
        let p = series(
            &[0.25, 0.26, 0.24, 0.25, 0.25],
            &[1.2, 1.22, 1.18, 1.21, 1.2],
            &[1.15; 5],
        );
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        let f = f.expect("flagged");
        assert_eq!(f.kind, FlagKind::TimingMismatch);
        assert!(
            f.detail.contains("0.7500") && f.detail.contains("wall"),
            "{}",
            f.detail
        );
        assert_eq!(c.outcome, "mismatch");
    }

    #[test]
    fn a_claim_lost_in_the_noise_is_reported_as_without_power() {
        let b = series(
            &[0.010; 5],
            &[0.3, 0.5, 0.2, 0.6, 0.4],
            &[0.3, 0.5, 0.2, 0.6, 0.4],
        );
        let p = series(
            &[0.007; 5],
            &[0.2, 0.6, 0.3, 0.5, 0.4],
            &[0.2, 0.6, 0.3, 0.5, 0.4],
        );
        let (c, _) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(!c.has_power);
        assert_eq!(c.outcome, "no_power");
    }

    #[test]
    fn an_honest_saving_on_a_shared_core_is_not_flagged_by_cpu_time() {
        // The process gets a third of the CPU: reported and wall seconds stretch, CPU does not;
        // wall time is too noisy to confirm anything.
        let b = series(
            &[0.9, 1.0, 0.95, 1.05, 1.0],
            &[2.0, 1.2, 1.9, 1.0, 1.5],
            &[0.4; 5],
        );
        let p = series(
            &[0.45, 0.5, 0.48, 0.5, 0.52],
            &[1.0, 1.6, 0.9, 1.5, 1.0],
            &[0.23; 5],
        );
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(f.is_none(), "{c:?}");
    }

    #[test]
    fn regression_an_honest_saving_under_uneven_load_is_not_flagged_by_a_cpu_ratio() {
        // Regression: the measured section ran at a third of a core while the rest of the
        // process had it, so the process's wall/CPU ratio (1.33) undercounts the section's
        // saving in wall units; wall time is too noisy to confirm. The old rule (CPU interval's
        // top below half the claim) flagged this honest patch.
        let b = series(&[0.30; 5], &[0.8, 1.3, 0.7, 1.2, 0.8], &[0.6; 5]);
        let p = series(&[0.03; 5], &[0.9, 0.5, 1.0, 0.6, 0.8], &[0.51; 5]);
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(f.is_none(), "{c:?}");
        assert_eq!(c.hidden_cpu_lower_s, None, "the CPU clock cannot deny here");
        assert_eq!(c.outcome, "no_power");
    }

    #[test]
    fn one_round_that_shows_the_saving_keeps_the_wall_clock_from_denying() {
        // Four rounds hide the saving, one shows it: with five paired rounds the sign test
        // accuses at 95% only when all five do.
        let b = series(&[1.0; 5], &[1.2; 5], &[1.15; 5]);
        let p = series(
            &[0.5; 5],
            &[1.2, 1.2, 1.2, 1.2, 0.7],
            &[1.15, 1.15, 1.15, 1.15, 0.65],
        );
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(f.is_none(), "{c:?}");
        assert!(c.hidden_wall_lower_s.unwrap() < 0.25, "{c:?}");
        // Every round hiding it is a mismatch, with the bound in the detail.
        let p = series(&[0.5; 5], &[1.2; 5], &[1.15; 5]);
        let (c, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        let f = f.expect("flagged");
        assert!((c.hidden_wall_lower_s.unwrap() - 0.5).abs() < 1e-9, "{c:?}");
        assert!(
            f.detail.contains("grew by at least 0.5000s (wall)"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn parallel_work_that_only_wall_time_sees_is_not_flagged() {
        let b = series(&[1.0; 5], &[1.2, 1.21, 1.19, 1.22, 1.2], &[1.15; 5]);
        let p = series(&[0.5; 5], &[0.7, 0.71, 0.69, 0.72, 0.7], &[1.2; 5]);
        let (_, f) = timing_check("w", &b, &p, 0.95, 1).unwrap();
        assert!(f.is_none());
    }

    #[test]
    fn static_checks_find_clock_rebinds_exit_hooks_and_seed_reads_with_lines() {
        let p = "--- a/pkg/__init__.py\n+++ b/pkg/__init__.py\n@@ -1,2 +1,5 @@\n import os\n+import time, atexit\n+time.perf_counter = lambda: 0.0\n+atexit.register(lambda: None)\n+s = os.environ['OPTAGENT_SEED']\n x = 1\n";
        let f = static_checks(p, &["bench/**".into()]);
        let d: Vec<&str> = f.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(f.len(), 3, "{d:?}");
        assert!(d[0].starts_with("pkg/__init__.py:3: rebinds a timing function"));
        assert!(d[1].starts_with("pkg/__init__.py:4: registers an exit hook"));
        assert!(d[2].starts_with("pkg/__init__.py:5: reads the evaluator"));
    }

    #[test]
    fn static_checks_leave_comparisons_calls_and_removed_lines_alone() {
        let p = "--- a/m.py\n+++ b/m.py\n@@ -1,3 +1,3 @@\n-time.perf_counter = f\n+t0 = time.perf_counter()\n+if time.time == f: pass\n+open('bench/run.py')\n";
        let f = static_checks(p, &["bench/**".into()]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].detail.contains("protected path bench/"));
        let c = "--- a/x.c\n+++ b/x.c\n@@ -1 +1,3 @@\n+int clock_gettime(clockid_t c, struct timespec *t) {\n+    clock_gettime(CLOCK_MONOTONIC, &ts);\n+    atexit(fix);\n";
        let f = static_checks(c, &[]);
        assert_eq!(f.len(), 2, "{f:?}");
    }

    #[test]
    fn static_checks_find_escaping_processes_import_time_threads_and_start_up_hooks() {
        let p = "--- a/m.py\n+++ b/m.py\n@@ -1,1 +1,6 @@\n x = 1\n+    os.setsid()\n+threading.Thread(target=warm).start()\n+    threading.Thread(target=f).start()\n+subprocess.Popen(c, start_new_session=True)\n+y = 2\n--- /dev/null\n+++ b/pkg/zz.pth\n@@ -0,0 +1 @@\n+import pkg\n";
        let f = static_checks(p, &[]);
        let d: Vec<&str> = f.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(f.len(), 4, "{d:?}");
        assert!(
            d[0].starts_with("m.py:2: leaves the run's process group"),
            "{d:?}"
        );
        assert!(
            d[1].starts_with("m.py:3: starts a thread or process at import time"),
            "{d:?}"
        );
        assert!(
            d[2].starts_with("m.py:5: leaves the run's process group"),
            "{d:?}"
        );
        assert!(d[3].starts_with("pkg/zz.pth: adds a .pth file"), "{d:?}");
    }

    #[test]
    fn no_bundled_expert_patch_is_flagged() {
        let tasks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tasks");
        let mut seen = 0;
        for e in std::fs::read_dir(&tasks).unwrap().flatten() {
            let diff = e.path().join("expert.diff");
            let Ok(text) = std::fs::read_to_string(&diff) else {
                continue;
            };
            seen += 1;
            let f = static_checks(&text, &["tests/**".into(), "bench/**".into()]);
            assert!(f.is_empty(), "{}: {f:?}", diff.display());
        }
        assert!(
            seen >= 3,
            "found {seen} expert patches under {}",
            tasks.display()
        );
    }
}
