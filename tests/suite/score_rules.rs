//! Every verdict rule of the evaluator on synthetic samples (no process is timed): significance
//! gating, the 5% threshold, the alpha and p defaults, medians for speedups and means for GSO,
//! a failed candidate's figures, the instruction-count noise floor and setup subtraction, hidden
//! workloads in verification, and the "too few reps" notice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use optagent_eval::machine::MachineState;
use optagent_eval::measure::{net_value, select_workloads, Series, Session, Stop};
use optagent_eval::prepare::{Prepared, Role};
use optagent_eval::score::{
    paired, score_all, significance, SessionFacts, INSTRUCTION_NOISE_FLOOR,
};
use optagent_eval::{EvalOptions, EvalReport, Verdict, WorkloadSet};
use optagent_sandbox::LocalSandbox;
use optagent_stats::bootstrap::ratio_of_medians_ci;
use optagent_stats::hypothesis::mann_whitney_u;
use optagent_task::{Metric, Task, Tree};

use super::common::*;

/// A task with one visible and one hidden workload (nothing of it is run here).
fn two_workload_task(dir: &Path) -> Task {
    write_task(
        dir,
        r#"id = "synthetic"
instruction = "x"
languages = ["python"]
[source]
path = "repo"
[expert]
patch = "expert.diff"
[[workloads]]
name = "synthetic.visible"
command = "true"
[[workloads]]
name = "synthetic.hidden"
command = "true"
visible = false
"#,
        &[("x.py", "x = 1\n")],
        "",
    );
    Task::load(dir).unwrap()
}

/// A prepared tree that is never run: only its label, role and failure matter to scoring.
fn prepared(dir: &Path, label: &str, role: Role, failure: Option<(Verdict, String)>) -> Prepared {
    let root = dir.join(label);
    std::fs::create_dir_all(&root).unwrap();
    Prepared {
        label: label.into(),
        role,
        tree: Tree::existing(root.clone(), "0".repeat(40)),
        sandbox: Arc::new(LocalSandbox::new(root)),
        failure,
        apply_method: None,
        patch: String::new(),
        guard_flags: vec![],
    }
}

/// One workload's samples on the baseline, the expert and the candidate.
struct Samples {
    b: Vec<f64>,
    e: Vec<f64>,
    a: Vec<f64>,
}

/// `n` distinct baseline times around 1 s (no ties: the rank test is exact here).
fn base(n: usize, spread: f64) -> Vec<f64> {
    (0..n).map(|i| 1.0 + spread * i as f64).collect()
}

fn scaled(xs: &[f64], f: f64) -> Vec<f64> {
    xs.iter().map(|x| x * f).collect()
}

/// Score the candidate (slot 2) of a session made of `workloads`' samples; `prep_failure` is a
/// failure found while preparing, `measure_failure` one found while measuring.
fn score(
    metric: Metric,
    workloads: &[Samples],
    opts: &EvalOptions,
    prep_failure: Option<(Verdict, String)>,
    measure_failure: Option<(Verdict, String)>,
) -> EvalReport {
    let d = tempfile::tempdir().unwrap();
    let task = two_workload_task(&d.path().join("task"));
    let all: Vec<_> = task.spec.workloads.iter().collect();
    let ws = &all[..workloads.len()];
    let trees = d.path().join("trees");
    let prepared = vec![
        prepared(&trees, "baseline", Role::Baseline, None),
        prepared(&trees, "expert", Role::Expert, None),
        prepared(&trees, "cand", Role::Candidate(0), prep_failure),
    ];
    let series = |f: &dyn Fn(&Samples) -> &Vec<f64>| -> Vec<Series> {
        workloads
            .iter()
            .map(|s| Series {
                values: f(s).clone(),
                walls: vec![Duration::from_millis(10); f(s).len()],
                cpus: vec![None; f(s).len()],
                switches: vec![None; f(s).len()],
                reported: vec![None; f(s).len()],
                state_changes: vec![],
                isolation: None,
                timer: None,
                harness_flags: vec![],
            })
            .collect()
    };
    let session = Session {
        series: vec![series(&|s| &s.b), series(&|s| &s.e), series(&|s| &s.a)],
        failures: vec![None, None, measure_failure],
        stops: workloads
            .iter()
            .map(|s| Stop {
                reps: s.b.len(),
                reason: "fixed".into(),
            })
            .collect(),
        setup_offsets: vec![vec![0.0; workloads.len()]; 3],
        runs_wall: Duration::from_secs(2),
        runs: 3 * workloads.len() * workloads[0].b.len(),
        session_wall: Duration::from_secs(3),
        pinned: vec![],
        seed: 7,
        clocks: vec![],
    };
    let machine = MachineState {
        cores: 2,
        load1: Some(0.5),
    };
    let facts = SessionFacts {
        machine_start: machine.clone(),
        machine_end: machine,
        total_wall: Duration::from_secs(4),
    };
    let mut reports = score_all(&task, ws, &prepared, &session, metric, opts, facts);
    assert_eq!(reports.len(), 1, "one report per candidate");
    reports.remove(0)
}

fn default_opts() -> EvalOptions {
    EvalOptions::new(std::env::temp_dir())
}

/// A candidate `f` times faster than a 10-sample baseline (spread `spread`), the expert 2x.
fn one(spread: f64, f: f64) -> Vec<Samples> {
    let b = base(10, spread);
    vec![Samples {
        e: scaled(&b, 0.5),
        a: scaled(&b, 1.0 / f),
        b,
    }]
}

#[test]
fn defaults_are_the_benchmarks_alpha_p_threshold_and_confidence() {
    let o = default_opts();
    assert_eq!(o.alpha, 0.01);
    assert_eq!(o.p, 0.95);
    assert_eq!(o.threshold, 0.05);
    assert_eq!(o.confidence, 0.95);
    let r = score(Metric::Time, &one(0.001, 1.5), &o, None, None);
    assert_eq!(
        (r.alpha, r.opt_p, r.threshold, r.confidence),
        (0.01, 0.95, 0.05, 0.95)
    );
}

#[test]
fn a_speedup_that_is_not_significant_is_not_an_improvement() {
    // Baseline 1.0..1.9 s, candidate 10% faster: the samples overlap almost entirely.
    let r = score(Metric::Time, &one(0.1, 1.1), &default_opts(), None, None);
    let w = &r.workloads[0];
    assert!(
        (w.speedup.unwrap() - 1.1).abs() < 1e-9,
        "{}",
        w.speedup.unwrap()
    );
    assert!(w.p_value > 0.05, "{}", w.p_value);
    assert!(!w.significant);
    assert_eq!((r.improvements, r.regressions), (0, 0));
    // The same samples under a lax alpha above their p-value: now it counts.
    let mut lax = default_opts();
    lax.alpha = 0.99;
    let r = score(Metric::Time, &one(0.1, 1.1), &lax, None, None);
    assert!(r.workloads[0].significant);
    assert_eq!(r.improvements, 1);
}

#[test]
fn alpha_decides_a_p_value_between_one_and_five_percent() {
    // 5 against 5 with one crossing: exact two-sided p = 4/252 = 0.0159.
    let b = vec![1.00, 1.01, 1.02, 1.03, 1.04];
    let a = vec![0.80, 0.81, 0.82, 0.83, 1.005];
    let s = || {
        vec![Samples {
            e: scaled(&b, 0.5),
            a: a.clone(),
            b: b.clone(),
        }]
    };
    let r = score(Metric::Time, &s(), &default_opts(), None, None);
    let w = &r.workloads[0];
    assert!(w.p_value > 0.01 && w.p_value < 0.05, "{}", w.p_value);
    assert!(!w.significant, "not significant at the default alpha 0.01");
    assert_eq!(r.improvements, 0);
    let mut o = default_opts();
    o.alpha = 0.05;
    let r = score(Metric::Time, &s(), &o, None, None);
    assert!(r.workloads[0].significant);
    assert_eq!(r.improvements, 1);
}

#[test]
fn improvements_and_regressions_need_five_percent() {
    // Tight, fully separated samples: every difference is significant; only size decides.
    let o = default_opts();
    let r = score(Metric::Time, &one(0.001, 1.04), &o, None, None);
    assert!(r.workloads[0].significant);
    assert_eq!(
        (r.improvements, r.regressions),
        (0, 0),
        "4% is under the threshold"
    );
    let r = score(Metric::Time, &one(0.001, 1.06), &o, None, None);
    assert_eq!((r.improvements, r.regressions), (1, 0));
    let r = score(Metric::Time, &one(0.001, 1.0 / 1.04), &o, None, None);
    assert_eq!(
        (r.improvements, r.regressions),
        (0, 0),
        "4% slower is under it"
    );
    let r = score(Metric::Time, &one(0.001, 1.0 / 1.10), &o, None, None);
    assert!(r.workloads[0].significant);
    assert_eq!((r.improvements, r.regressions), (0, 1));
    // The threshold is an option.
    let mut t3 = default_opts();
    t3.threshold = 0.03;
    let r = score(Metric::Time, &one(0.001, 1.04), &t3, None, None);
    assert_eq!(r.improvements, 1);
}

#[test]
fn opt_commit_needs_95_percent_of_the_experts_speed() {
    // Expert 2x; a candidate at 97% of the expert's speed passes, one at 93% does not.
    let o = default_opts();
    let r = score(Metric::Time, &one(0.001, 2.0 * 0.97), &o, None, None);
    assert!(r.opt_base && r.opt_commit, "{r:?}");
    assert!((r.hmean_expert_over_patch.unwrap() - 0.97).abs() < 1e-9);
    let r = score(Metric::Time, &one(0.001, 2.0 * 0.93), &o, None, None);
    assert!(r.opt_base, "1.86x is past GSO's 1.2x");
    assert!(!r.opt_commit, "93% of the expert is under p = 0.95");
    let mut p90 = default_opts();
    p90.p = 0.90;
    let r = score(Metric::Time, &one(0.001, 2.0 * 0.93), &p90, None, None);
    assert!(r.opt_commit, "p is an option");
    assert_eq!(r.opt_p, 0.90);
    // Below GSO's 1.2x over the baseline: no opt_base.
    let r = score(Metric::Time, &one(0.001, 1.1), &o, None, None);
    assert!(!r.opt_base);
    assert!(!r.opt_commit);
}

#[test]
fn speedups_are_ratios_of_medians_and_gso_uses_means() {
    // The candidate is 2x faster in 9 runs of 10 and once 100x slower: the median sees a 2x
    // speedup, the mean (GSO's) a slowdown.
    let b = base(10, 0.001);
    let mut a = scaled(&b, 0.5);
    a[9] = 100.0;
    let s = vec![Samples {
        e: scaled(&b, 0.5),
        a,
        b: b.clone(),
    }];
    let r = score(Metric::Time, &s, &default_opts(), None, None);
    let w = &r.workloads[0];
    assert!(
        (w.speedup.unwrap() - 2.0).abs() < 0.01,
        "median ratio: {}",
        w.speedup.unwrap()
    );
    assert!((r.speedup.unwrap() - 2.0).abs() < 0.01);
    assert!(!r.opt_base, "mean(b) < mean(a): no opt_base");
    assert!(!r.opt_commit);
    let mean_b: f64 = b.iter().sum::<f64>() / 10.0;
    assert!(
        r.speedup_ratio.unwrap() < 0.2,
        "SR from means: {}",
        r.speedup_ratio.unwrap()
    );
    assert_eq!(w.baseline.mean, mean_b);
    assert_eq!(w.patch.as_ref().unwrap().max, 100.0);
    assert!((w.expert_speedup.unwrap() - 2.0).abs() < 1e-9);
}

#[test]
fn a_failed_candidate_scores_one_everywhere_and_the_expert_as_measured() {
    // Failed while measuring, with samples 3x faster: none of them counts.
    let fail = Some((
        Verdict::WrongResult,
        "result differs\nsecond line".to_string(),
    ));
    let r = score(Metric::Time, &one(0.001, 3.0), &default_opts(), None, fail);
    assert_eq!(r.verdict, Verdict::WrongResult);
    assert_eq!(r.reason.as_deref(), Some("result differs\nsecond line"));
    assert!(!r.correct);
    assert_eq!(r.speedup.unwrap(), 1.0);
    let w = &r.workloads[0];
    assert_eq!(
        (w.speedup.unwrap(), w.speedup_ci, w.p_value),
        (1.0, [Some(1.0); 2], 1.0)
    );
    assert!(!w.significant);
    assert_eq!((r.improvements, r.regressions), (0, 0));
    assert!(!r.opt_base && !r.opt_commit);
    // SR = (b/b) / (b/e) = e/b = 0.5: the patch counts as the baseline.
    assert!(
        (r.speedup_ratio.unwrap() - 0.5).abs() < 1e-9,
        "{}",
        r.speedup_ratio.unwrap()
    );
    assert!((r.expert_speedup.unwrap() - 2.0).abs() < 1e-9);
    assert!(w.expert_significant);
    assert!((w.advantage.unwrap() - (1.0 - 2.0)).abs() < 1e-9);

    // Failed before measuring (no samples): the same figures, and no patch statistics.
    let s = vec![Samples {
        a: vec![],
        ..one(0.001, 3.0).remove(0)
    }];
    let fail = Some((Verdict::BuildFailed, "cc failed".to_string()));
    let r = score(Metric::Time, &s, &default_opts(), fail, None);
    assert_eq!(r.verdict, Verdict::BuildFailed);
    assert_eq!(r.speedup.unwrap(), 1.0);
    assert!(r.workloads[0].patch.is_none());
    assert!((r.speedup_ratio.unwrap() - 0.5).abs() < 1e-9);
    assert!(!r.opt_base && !r.opt_commit);
}

#[test]
fn hidden_workloads_are_verified_and_their_regressions_count() {
    let d = tempfile::tempdir().unwrap();
    let task = two_workload_task(&d.path().join("task"));
    let mut o = default_opts();
    let names = |ws: Vec<&optagent_task::Workload>| -> Vec<String> {
        ws.iter().map(|w| w.name.clone()).collect()
    };
    assert_eq!(
        names(select_workloads(&task, &o)),
        ["synthetic.visible", "synthetic.hidden"]
    );
    o.workloads = WorkloadSet::Visible;
    assert_eq!(names(select_workloads(&task, &o)), ["synthetic.visible"]);
    o.workloads = WorkloadSet::All;
    o.workload_filter = vec!["hidden".into()];
    assert_eq!(names(select_workloads(&task, &o)), ["synthetic.hidden"]);

    // Faster on the visible workload, 20% slower on the hidden one.
    let mut s = one(0.001, 1.5);
    s.extend(one(0.001, 1.0 / 1.2));
    let r = score(Metric::Time, &s, &default_opts(), None, None);
    assert!(!r.workloads[1].visible);
    assert_eq!((r.improvements, r.regressions), (1, 1));
    let geo = (1.5f64 * (1.0 / 1.2)).sqrt();
    assert!(
        (r.speedup.unwrap() - geo).abs() < 1e-6,
        "{} vs {geo}",
        r.speedup.unwrap()
    );
}

#[test]
fn instruction_counts_differ_only_when_separated_beyond_the_noise_floor() {
    assert_eq!(INSTRUCTION_NOISE_FLOOR, 0.005);
    let b: Vec<f64> = (0..5).map(|i| 1_000_000.0 + i as f64).collect();
    // Separated, 0.3% apart: jitter, not a change.
    let (_, sig) = significance(Metric::Instructions, &b, &scaled(&b, 0.997), 0.01);
    assert!(!sig);
    // Separated, 1% apart, either way: a change.
    assert!(significance(Metric::Instructions, &b, &scaled(&b, 0.99), 0.01).1);
    assert!(significance(Metric::Instructions, &b, &scaled(&b, 1.01), 0.01).1);
    // 10% apart in the median, but one count crosses the baseline's range: not separated.
    let mut a = scaled(&b, 0.9);
    a[0] = 1_000_002.5;
    assert!(!significance(Metric::Instructions, &b, &a, 0.01).1);
    // The time test on the same counts says nothing about separation: 3 of 3 separated is
    // p = 0.1 there, while counts that repeat exactly decide.
    let b3 = &b[..3];
    let (p, sig) = significance(Metric::Instructions, b3, &scaled(b3, 0.9), 0.01);
    assert!(sig && p > 0.01, "p {p}");
    assert!(!significance(Metric::Time, b3, &scaled(b3, 0.9), 0.01).1);
    // No samples: nothing is significant.
    assert_eq!(significance(Metric::Time, &[], &b, 0.01), (1.0, false));
    assert_eq!(significance(Metric::Time, &b, &[], 0.01), (1.0, false));
}

#[test]
fn instruction_counts_subtract_the_setup_when_it_is_a_real_part() {
    // Setup is half of the count: the workload's own part is what is compared.
    assert_eq!(net_value(Metric::Instructions, 1000.0, 500.0), 500.0);
    // A setup-only run costing about as much as the full run (the workload ignores
    // OPTAGENT_SETUP_ONLY): the full count stays.
    assert_eq!(net_value(Metric::Instructions, 1000.0, 990.0), 1000.0);
    assert_eq!(net_value(Metric::Instructions, 1000.0, 0.0), 1000.0);
    // Just past 2% left: subtracted; at 2% exactly: kept.
    assert_eq!(net_value(Metric::Instructions, 1000.0, 979.0), 21.0);
    assert_eq!(net_value(Metric::Instructions, 1000.0, 980.0), 1000.0);
    // Times are never adjusted.
    assert_eq!(net_value(Metric::Time, 1000.0, 500.0), 1000.0);

    // Through scoring: counts 1% apart in total are a significant 2x once a setup of about half
    // the count is taken away (what the session stores is already net).
    let full: Vec<f64> = (0..5).map(|i| 2_000_000.0 + i as f64).collect();
    let setup = 1_000_000.0;
    let net_b: Vec<f64> = full
        .iter()
        .map(|&x| net_value(Metric::Instructions, x, setup))
        .collect();
    let net_a: Vec<f64> = full
        .iter()
        .map(|&x| net_value(Metric::Instructions, x - 500_000.0, setup))
        .collect();
    let s = vec![Samples {
        e: net_a.clone(),
        a: net_a,
        b: net_b,
    }];
    let r = score(Metric::Instructions, &s, &default_opts(), None, None);
    assert!(
        (r.speedup.unwrap() - 2.0).abs() < 1e-3,
        "{}",
        r.speedup.unwrap()
    );
    assert!(r.workloads[0].significant);
    assert_eq!(r.improvements, 1);
}

/// The significance test's boundaries, each on a sample that sits exactly on it: a p-value
/// equal to alpha is not below it, ranges that touch are not separated, and a difference of
/// exactly the noise floor is not beyond it.
#[test]
fn significance_boundaries_are_strict() {
    // Time: p exactly alpha is not significant; a hair above p it is.
    let b = base(5, 0.01);
    let a = scaled(&b, 0.5);
    let p = mann_whitney_u(&a, &b).p_two_sided;
    assert!((p - 2.0 / 252.0).abs() < 1e-12, "exact 5 against 5: {p}");
    assert_eq!(significance(Metric::Time, &b, &a, p), (p, false));
    assert_eq!(significance(Metric::Time, &b, &a, p * 1.000_001), (p, true));

    // Instructions: the candidate's slowest count equals the baseline's fastest, 1% apart in
    // the median: the ranges touch, so not separated; one count lower and they are.
    let b = vec![1000.0, 1001.0, 1002.0, 1003.0, 1004.0];
    let touching_below = vec![990.0, 991.0, 992.0, 993.0, 1000.0];
    assert!(!significance(Metric::Instructions, &b, &touching_below, 0.01).1);
    let below = vec![990.0, 991.0, 992.0, 993.0, 999.0];
    assert!(significance(Metric::Instructions, &b, &below, 0.01).1);
    // The same above: the candidate's fastest equals the baseline's slowest.
    let touching_above = vec![1004.0, 1010.0, 1011.0, 1012.0, 1013.0];
    assert!(!significance(Metric::Instructions, &b, &touching_above, 0.01).1);
    let above = vec![1005.0, 1010.0, 1011.0, 1012.0, 1013.0];
    assert!(significance(Metric::Instructions, &b, &above, 0.01).1);

    // Separated medians exactly 0.5% apart (5 / 1000, relative to the baseline): not beyond
    // the floor, either way; 0.6% is.
    let b = vec![999.0, 1000.0, 1001.0];
    assert_eq!((1000.0f64 - 995.0).abs() / 1000.0, INSTRUCTION_NOISE_FLOOR);
    assert!(!significance(Metric::Instructions, &b, &[994.0, 995.0, 996.0], 0.01).1);
    assert!(!significance(Metric::Instructions, &b, &[1004.0, 1005.0, 1006.0], 0.01).1);
    assert!(significance(Metric::Instructions, &b, &[993.0, 994.0, 995.0], 0.01).1);
    assert!(significance(Metric::Instructions, &b, &[1005.0, 1006.0, 1007.0], 0.01).1);
}

/// The paired estimate `optagent calibrate` reports: the median of the per-round ratios
/// baseline / candidate, and the Wilcoxon signed-rank p of their logarithms.
#[test]
fn paired_estimate_is_the_median_round_ratio_with_a_signed_rank_p() {
    // Round ratios 2, 2.5, 1.5, 3, 1.8: median 2; all five faster, distinct: exact p = 2/32.
    let b = [2.0, 5.0, 3.0, 12.0, 9.0];
    let a = [1.0, 2.0, 2.0, 4.0, 5.0];
    let (est, p) = paired(&b, &a);
    assert!((est - 2.0).abs() < 1e-12, "{est}");
    assert!((p - 2.0 / 32.0).abs() < 1e-12, "{p}");
    // The other way round: half the speed, the same p.
    let (est, p) = paired(&a, &b);
    assert!((est - 0.5).abs() < 1e-12, "{est}");
    assert!((p - 2.0 / 32.0).abs() < 1e-12, "{p}");
    // Rounds beyond the shorter series are left out.
    let longer = [2.0, 5.0, 3.0, 12.0, 9.0, 1000.0];
    assert_eq!(paired(&longer, &a), paired(&b, &a));
    // One slower round among faster ones: ratios 0.8, 2, 1.25 -> median 1.25; the signed
    // ranks of |ln r| (0.223, 0.693, 0.223 tie) are not all positive, so p is large.
    let (est, p) = paired(&[0.8, 2.0, 1.25], &[1.0, 1.0, 1.0]);
    assert!((est - 1.25).abs() < 1e-12, "{est}");
    assert!(p > 0.2 && p <= 1.0, "{p}");
    // No rounds: no change, no evidence.
    assert_eq!(paired(&[], &[]), (1.0, 1.0));
}

/// Intervals are reproducible from the options' seed: workload `i` draws its 2000 bootstrap
/// resamples from `seed ^ i * 0x9e3779b9`, the same for the expert's interval and the
/// candidate's, so a report's intervals can be recomputed from its samples.
#[test]
fn bootstrap_intervals_use_one_seed_per_workload_derived_from_the_options() {
    let noisy = |k: usize, lo: f64, step: f64| -> Vec<f64> {
        (0..20)
            .map(|i| lo + step * ((i * k) % 20) as f64 + 0.0007 * i as f64)
            .collect()
    };
    let s = vec![
        Samples {
            b: noisy(7, 1.0, 0.01),
            e: noisy(3, 0.5, 0.009),
            a: noisy(11, 0.7, 0.013),
        },
        Samples {
            b: noisy(9, 2.0, 0.02),
            e: noisy(13, 1.1, 0.011),
            a: noisy(17, 1.5, 0.017),
        },
    ];
    let mut o = default_opts();
    o.seed = 0x5eed;
    let r = score(Metric::Time, &s, &o, None, None);
    for (wi, w) in r.workloads.iter().enumerate() {
        let seed = o.seed ^ (wi as u64).wrapping_mul(0x9e37_79b9);
        let (sp, lo, hi) = ratio_of_medians_ci(&s[wi].b, &s[wi].a, o.confidence, 2000, seed);
        assert_eq!((w.speedup, w.speedup_ci), (sp, [lo, hi]), "workload {wi}");
        let (ep, elo, ehi) = ratio_of_medians_ci(&s[wi].b, &s[wi].e, o.confidence, 2000, seed);
        assert_eq!(
            (w.expert_speedup, w.expert_speedup_ci),
            (ep, [elo, ehi]),
            "workload {wi}"
        );
        // The samples are spread enough that another seed gives another interval, so the
        // equalities above pin the seed.
        let other = ratio_of_medians_ci(&s[wi].b, &s[wi].a, o.confidence, 2000, seed ^ 1);
        assert_ne!([other.1, other.2], w.speedup_ci, "workload {wi}");
    }
    // The same options give the same report's intervals.
    let again = score(Metric::Time, &s, &o, None, None);
    assert_eq!(again.workloads[1].speedup_ci, r.workloads[1].speedup_ci);
}

/// The reported timing figures: the wall time of a measured candidate (none for one that
/// failed before measuring) and the session's overhead beyond its runs.
#[test]
fn wall_times_and_overhead_are_reported_from_the_session() {
    let r = score(Metric::Time, &one(0.001, 1.5), &default_opts(), None, None);
    let w = &r.workloads[0];
    assert_eq!(w.patch_wall_s, Some(0.01));
    assert_eq!((w.baseline_wall_s, w.expert_wall_s), (0.01, 0.01));
    // Session 3 s around 2 s of runs: 50% overhead; the whole evaluation took 4 s.
    assert_eq!(r.timing.overhead_ratio.unwrap(), 0.5);
    assert_eq!(
        (
            r.timing.total_wall_s,
            r.timing.runs_wall_s,
            r.timing.session_wall_s
        ),
        (4.0, 2.0, 3.0)
    );
    assert_eq!(r.timing.runs, 30);

    let s = vec![Samples {
        a: vec![],
        ..one(0.001, 1.5).remove(0)
    }];
    let fail = Some((Verdict::BuildFailed, "cc failed".to_string()));
    let r = score(Metric::Time, &s, &default_opts(), fail, None);
    assert_eq!(r.workloads[0].patch_wall_s, None);
    assert_eq!(r.workloads[0].baseline_wall_s, 0.01);
}

/// A workload where the expert is not significantly faster than the baseline is marked and
/// left out of SR and advantage; a task with no workload where it is is marked itself.
#[test]
fn workloads_where_the_expert_is_not_faster_leave_sr_and_advantage() {
    // Workload 0: expert 2x (significant), candidate 1.5x. Workload 1: the expert's samples
    // are the baseline's (p = 1), candidate 1.5x.
    let mut s = one(0.001, 1.5);
    let b = base(10, 0.001);
    s.push(Samples {
        e: b.clone(),
        a: scaled(&b, 1.0 / 1.5),
        b,
    });
    let r = score(Metric::Time, &s, &default_opts(), None, None);
    assert!(!r.workloads[0].expert_not_faster);
    assert!(r.workloads[1].expert_not_faster);
    assert!(!r.expert_not_faster, "one workload has a faster expert");
    // Only workload 0: SR = mean(e) / mean(a) = 0.5 / (1 / 1.5) = 0.75; advantage 1.5 - 2.
    assert!(
        (r.speedup_ratio.unwrap() - 0.75).abs() < 1e-9,
        "{}",
        r.speedup_ratio.unwrap()
    );
    assert!(
        (r.advantage.l1.unwrap() + 0.5).abs() < 1e-9,
        "{:?}",
        r.advantage
    );

    // No workload with a faster expert: the task is marked.
    let b = base(10, 0.001);
    let same = Samples {
        e: b.clone(),
        a: scaled(&b, 1.0 / 1.5),
        b,
    };
    let r = score(Metric::Time, &[same], &default_opts(), None, None);
    assert!(r.workloads[0].expert_not_faster && r.expert_not_faster);
}
