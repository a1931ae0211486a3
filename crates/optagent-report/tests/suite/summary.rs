//! Summaries on the hand-written results file, against numbers computed by hand.

use optagent_report::summary::best_rollout;
use optagent_report::{analyze, summarize, task_rows, BOOTSTRAP_TRIALS};
use optagent_stats::scoring::opt_at_k_curve;

use super::common::*;

const SEED: u64 = 7;

#[test]
fn opt_at_1_and_opt_at_k_as_gso() {
    let s = summarize(&results(), &tasks(&["alpha", "beta", "gamma"]), 4, SEED);
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!(
        (s.model.as_str(), s.agent.as_str(), s.budget.as_str()),
        ("openai/gpt-5-mini", "optagent-default", "steps50")
    );
    assert_eq!((s.n_tasks, s.k, s.n_rollouts), (3, 4, 12));
    // Only alpha's first rollout succeeded.
    assert_close(s.opt_at_1, 1.0 / 3.0);
    // alpha and beta within four rollouts; gamma never.
    assert_close(s.opt_at_k, 2.0 / 3.0);
    assert_eq!(s.tasks_solved, 2);
    // Fewer rollouts: beta's success is its fourth.
    let s3 = &summarize(&results(), &tasks(&["alpha", "beta", "gamma"]), 3, SEED)[0];
    assert_close(s3.opt_at_k, 1.0 / 3.0);
    assert_eq!(s3.n_rollouts, 9);
}

#[test]
fn smoothed_curve_and_exact_expectation() {
    let s = &summarize(&results(), &tasks(&["alpha", "beta", "gamma"]), 4, SEED)[0];
    // Unbiased estimator by hand, n = 4 runs per task:
    // alpha c=2: k=1 1/2, k=2 1-C(2,2)/C(4,2)=5/6, k=3 1, k=4 1
    // beta  c=1: k=1 1/4, k=2 1-C(3,2)/C(4,2)=1/2, k=3 1-C(3,3)/C(4,3)=3/4, k=4 1
    // gamma c=0: 0
    let exact = [0.75 / 3.0, (5.0 / 6.0 + 0.5) / 3.0, 1.75 / 3.0, 2.0 / 3.0];
    assert_eq!(s.opt_at_k_curve.len(), 4);
    for (p, e) in s.opt_at_k_curve.iter().zip(exact) {
        assert_close(p.expected, e);
        assert!(
            (p.mean - e).abs() < 0.04,
            "k={}: bootstrap {} vs exact {e}",
            p.k,
            p.mean
        );
        assert!(p.lo <= p.mean + 1e-12 && p.mean <= p.hi + 1e-12);
    }
    assert_close(exact[1], 4.0 / 9.0);
    assert_close(exact[2], 7.0 / 12.0);
    // k = 1 trial values are 0, 1/3 or 2/3 with probabilities 3/8, 1/2, 1/8: the band is
    // [0, 2/3].
    let k1 = s.opt_at_k_curve[0];
    assert_close(k1.lo, 0.0);
    assert_close(k1.hi, 2.0 / 3.0);
    // At k = K every order gives the same set: no spread.
    let k4 = s.opt_at_k_curve[3];
    assert_close(k4.mean, 2.0 / 3.0);
    assert_close(k4.lo, 2.0 / 3.0);
    assert_close(k4.hi, 2.0 / 3.0);
    // Exactly the stats crate's bootstrap with 500 trials on the success table in rollout order.
    let table = vec![
        vec![true, false, true, false],
        vec![false, false, false, true],
        vec![false, false, false, false],
    ];
    let direct = opt_at_k_curve(&table, 3, 4, BOOTSTRAP_TRIALS, SEED);
    assert_eq!(BOOTSTRAP_TRIALS, 500);
    for (p, d) in s.opt_at_k_curve.iter().zip(direct) {
        assert_eq!((p.k, p.mean, p.lo, p.hi), d);
    }
}

#[test]
fn a_task_without_records_is_a_failure() {
    let all = tasks(&["alpha", "beta", "gamma", "delta"]);
    let s = &summarize(&results(), &all, 4, SEED)[0];
    assert_eq!(s.n_tasks, 4);
    assert_close(s.opt_at_1, 1.0 / 4.0);
    assert_close(s.opt_at_k, 2.0 / 4.0);
    assert_close(s.opt_at_k_curve[0].expected, 0.75 / 4.0);
    assert_close(s.opt_at_k_curve[3].mean, 0.5);
    // delta counts 1.0x in the geometric mean...
    assert_close(s.geomean_speedup, 10f64.powf(0.25));
    // ...and, never evaluated anywhere, cannot enter SR or advantage.
    assert_eq!(s.sr_tasks, 3);
    assert_eq!(s.advantage_tasks, 3);
    assert_close(s.cost_per_task, 6.0 / 4.0);
    let rows = task_rows(&results(), &all, 4);
    let delta = rows
        .iter()
        .find(|r| r.task == "delta")
        .expect("row for delta");
    assert!(!delta.solved && delta.n_rollouts == 0 && delta.best_rollout.is_none());
}

#[test]
fn records_outside_the_task_list_are_ignored() {
    let s = &summarize(&results(), &tasks(&["alpha"]), 4, SEED)[0];
    assert_eq!((s.n_tasks, s.n_rollouts), (1, 4));
    assert_close(s.opt_at_1, 1.0);
    // An empty list means the records' tasks.
    let s = &summarize(&results(), &[], 4, SEED)[0];
    assert_eq!(s.n_tasks, 3);
}

#[test]
fn best_rollout_ignores_incorrect_faster_patches() {
    let rows = task_rows(&results(), &tasks(&["alpha", "beta", "gamma"]), 4);
    let beta = rows.iter().find(|r| r.task == "beta").unwrap();
    // r1 claims 5x and opt_commit, but its verdict is wrong_result.
    assert_eq!(beta.best_rollout, Some(3));
    assert_close(beta.best_speedup.unwrap(), 4.0);
    assert!(beta.opt_commit && beta.solved);
    assert_eq!(beta.improvements, 1);
    let gamma = rows.iter().find(|r| r.task == "gamma").unwrap();
    // r1 claims 3.5x, incorrect: no best at all.
    assert_eq!(gamma.best_rollout, None);
    assert_eq!(gamma.best_speedup, None);
    assert!(!gamma.solved);
    let alpha = rows.iter().find(|r| r.task == "alpha").unwrap();
    assert_eq!(alpha.best_rollout, Some(2));

    // Reaching the expert beats raw speed: make alpha's r1 the fastest but not opt_commit.
    let mut recs = results();
    for r in recs
        .iter_mut()
        .filter(|r| r.task == "alpha" && r.rollout == 1)
    {
        r.eval.as_mut().unwrap().speedup = Some(9.0);
    }
    let alpha_runs: Vec<_> = recs.iter().filter(|r| r.task == "alpha").collect();
    assert_eq!(best_rollout(&alpha_runs).map(|r| r.rollout), Some(2));
    // Among equals, the faster wins; among equal speed, the lower index.
    for r in recs
        .iter_mut()
        .filter(|r| r.task == "alpha" && r.rollout == 0)
    {
        r.eval.as_mut().unwrap().speedup = Some(2.5);
    }
    let alpha_runs: Vec<_> = recs.iter().filter(|r| r.task == "alpha").collect();
    assert_eq!(best_rollout(&alpha_runs).map(|r| r.rollout), Some(0));
}

#[test]
fn speedup_ratio_advantage_and_speedup_by_hand() {
    let s = &summarize(&results(), &tasks(&["alpha", "beta", "gamma"]), 4, SEED)[0];
    // Best speedups 2.5 (alpha r2), 4 (beta r3), and gamma counts 1.0.
    assert_close(s.geomean_speedup, 10f64.powf(1.0 / 3.0));
    // SR: alpha 1/0.8 = 1.25, beta 1, gamma fails: sum(e)/sum(b) = 2/10 = 0.2.
    // Harmonic mean: 3 / (0.8 + 1 + 5).
    assert_close(s.speedup_ratio, 3.0 / 6.8);
    assert_eq!(s.sr_tasks, 3);
    // Advantage: alpha 2.5-2 = 0.5, beta 4-4 = 0 at every level; gamma with speedup 1 on
    // gmod.f (o=2) and gmod.g (o=8): L1 = L2 = L4 = 1 - gmean(2, 8) = -3, L3 = ((1-2)+(1-8))/2 = -4.
    assert_close(s.advantage.l1, (0.5 + 0.0 - 3.0) / 3.0);
    assert_close(s.advantage.l2, (0.5 + 0.0 - 3.0) / 3.0);
    assert_close(s.advantage.l3, (0.5 + 0.0 - 4.0) / 3.0);
    assert_close(s.advantage.l4, (0.5 + 0.0 - 3.0) / 3.0);
    // Verdict ok: alpha r0 r1 r2, beta r0 r3.
    assert_close(s.pass_rate, 5.0 / 12.0);
    // Best rollouts' improvements (beta r1's 3 do not count).
    assert_eq!((s.improvements, s.regressions), (2, 0));
    assert_eq!((s.submitted, s.no_patch, s.errors), (8, 2, 2));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (12_000, 1_200));
    assert_close(s.tokens_per_task, 13_200.0 / 3.0);
    assert_close(s.cost_usd, 6.0);
    assert_close(s.cost_per_task, 2.0);
    assert_close(s.cost_per_solved.unwrap(), 3.0);
    assert_close(s.mean_wall_s, (10.0 * 100.0 + 130.0 + 40.0) / 12.0);
}

#[test]
fn failure_values_come_from_another_configuration_when_needed() {
    // A second configuration that only has no-patch rollouts of gamma: its SR and advantage for
    // gamma use the expert's figures from the first configuration's evaluations.
    let mut recs = results();
    let mut other: Vec<_> = as_config(&recs, "anthropic/claude-sonnet-4", "steps50")
        .into_iter()
        .filter(|r| r.task == "gamma")
        .collect();
    for r in &mut other {
        r.eval = None;
        r.patch = None;
        r.status = optagent_report::RolloutStatus::NoPatch;
    }
    recs.extend(other);
    let a = analyze(&recs, &tasks(&["gamma"]), 4, SEED);
    let s = a
        .summaries
        .iter()
        .find(|s| s.model == "anthropic/claude-sonnet-4")
        .unwrap();
    assert_close(s.speedup_ratio, 0.2);
    assert_close(s.advantage.l3, -4.0);
    assert_close(s.geomean_speedup, 1.0);
    assert_close(s.pass_rate, 0.0);
    assert_eq!(s.cost_per_solved, None);
}

#[test]
fn summaries_are_ranked_and_later_lines_win() {
    let mut recs = results();
    // A weaker configuration: nothing succeeds.
    let mut weak = as_config(&recs, "openai/gpt-4o-mini", "steps50");
    for r in &mut weak {
        if let Some(e) = r.eval.as_mut() {
            e.opt_commit = false;
        }
    }
    recs.extend(weak);
    let s = summarize(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, SEED);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].model, "openai/gpt-5-mini");
    assert_close(s[1].opt_at_k, 0.0);
    // A re-run of alpha's rollout 0 recorded later (now failing) replaces the first line.
    let mut recs = results();
    let mut rerun = recs
        .iter()
        .find(|r| r.task == "alpha" && r.rollout == 0)
        .unwrap()
        .clone();
    rerun.eval.as_mut().unwrap().opt_commit = false;
    recs.push(rerun);
    let s = &summarize(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, SEED)[0];
    assert_close(s.opt_at_1, 0.0);
    assert_eq!(s.n_rollouts, 12);
}

/// Issue 10 item 1: GSO counts `opt_commit` only where `opt_base` holds. A record claiming
/// `opt_commit` without `opt_base` (written before the evaluator enforced it) is no success.
#[test]
fn opt_commit_without_opt_base_is_not_a_success() {
    let mut recs = results();
    for r in recs
        .iter_mut()
        .filter(|r| r.task == "alpha" && (r.rollout == 0 || r.rollout == 2))
    {
        let e = r.eval.as_mut().unwrap();
        assert!(e.opt_commit);
        e.opt_base = false;
    }
    let s = &summarize(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, SEED)[0];
    assert_close(s.opt_at_1, 0.0);
    // Only beta is solved now.
    assert_close(s.opt_at_k, 1.0 / 3.0);
    let rows = task_rows(&recs, &tasks(&["alpha"]), 4);
    assert!(!rows[0].solved && !rows[0].opt_commit);
    // The best correct rollout is then simply the fastest.
    assert_eq!(rows[0].best_rollout, Some(2));
    assert!(rows[0].rollouts.iter().all(|r| !r.opt_commit));
}

/// Issue 10 item 6: a task whose expert is not significantly faster than the baseline leaves
/// SR and advantage, and is counted and marked; Opt@K and the speedup still count it.
#[test]
fn expert_not_faster_task_left_out_of_sr_and_advantage() {
    let mut recs = results();
    for r in recs.iter_mut().filter(|r| r.task == "gamma") {
        if let Some(e) = r.eval.as_mut() {
            for w in &mut e.workloads {
                w.expert_significant = false;
            }
        }
    }
    let a = analyze(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, SEED);
    let s = &a.summaries[0];
    assert_eq!(s.expert_not_faster_tasks, 1);
    assert_eq!((s.sr_tasks, s.advantage_tasks), (2, 2));
    // SR: harmonic mean of alpha's 1.25 and beta's 1; advantage: mean of 0.5 and 0.
    assert_close(s.speedup_ratio, 2.0 / 1.8);
    assert_close(s.advantage.l4, 0.25);
    assert_close(s.opt_at_k, 2.0 / 3.0);
    assert_close(s.geomean_speedup, 10f64.powf(1.0 / 3.0));
    let gamma = a.task_rows.iter().find(|r| r.task == "gamma").unwrap();
    assert!(gamma.expert_not_faster);
    let alpha = a.task_rows.iter().find(|r| r.task == "alpha").unwrap();
    assert!(!alpha.expert_not_faster);
    // An expert measured significantly slower is not faster either.
    let mut recs = results();
    for r in recs.iter_mut().filter(|r| r.task == "gamma") {
        if let Some(e) = r.eval.as_mut() {
            for w in &mut e.workloads {
                w.expert_speedup = Some(0.8);
            }
        }
    }
    let s = &summarize(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, SEED)[0];
    assert_eq!((s.expert_not_faster_tasks, s.sr_tasks), (1, 2));
}

/// Issue 10 item 6, per workload: a workload where the expert is not faster leaves the failure
/// values (speedup 1.0 against the expert) of its task.
#[test]
fn expert_not_faster_workload_left_out_of_failure_values() {
    let mut recs = results();
    for r in recs.iter_mut().filter(|r| r.task == "gamma") {
        if let Some(e) = r.eval.as_mut() {
            e.workloads[1].expert_significant = false; // gmod.g, b = 8, e = 1
        }
    }
    let s = &summarize(&recs, &tasks(&["gamma"]), 4, SEED)[0];
    assert_eq!(s.expert_not_faster_tasks, 0);
    // Only gmod.f (b = 2, e = 1): SR = e / b = 0.5; advantage 1 - 2 = -1 at every level.
    assert_close(s.speedup_ratio, 0.5);
    for l in [
        s.advantage.l1,
        s.advantage.l2,
        s.advantage.l3,
        s.advantage.l4,
    ] {
        assert_close(l, -1.0);
    }
}
