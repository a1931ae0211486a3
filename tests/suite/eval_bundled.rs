//! The evaluator on the bundled CPU tasks: the expert's patch is recognised as a real,
//! significant speedup that matches itself; no change is not an optimization; a patch that
//! changes a result is caught.

use optagent_eval::{Candidate, PatchSource, Verdict};

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyroute_oracle_nop_and_wrong_patch() {
    let _serial = MEASURING.lock().await;
    let task = bundled("pyroute");
    let work = tempfile::tempdir().unwrap();
    let cands = [
        Candidate::new("oracle", PatchSource::Oracle),
        Candidate::new("nop", PatchSource::Nop),
        diff_file(&task, "wrong.diff"),
    ];
    let reports = optagent_eval::evaluate(&task, &cands, &opts(work.path(), 5))
        .await
        .expect("evaluation runs");

    let oracle = find(&reports, "oracle");
    assert_eq!(oracle.verdict, Verdict::Ok, "{:?}", oracle.reason);
    assert!(
        oracle.opt_commit,
        "oracle must match the expert: {oracle:#?}"
    );
    assert!(oracle.opt_base);
    let sig = oracle
        .workloads
        .iter()
        .filter(|w| w.significant && w.speedup > 1.5)
        .count();
    assert!(
        sig >= 5,
        "expected most workloads significantly faster, got {sig}"
    );

    let nop = find(&reports, "nop");
    assert_eq!(nop.verdict, Verdict::Ok);
    assert!(!nop.opt_base, "no change is not an optimization: {nop:#?}");
    assert!(!nop.opt_commit);
    assert!(
        (nop.speedup - 1.0).abs() < 0.25,
        "nop speedup {}",
        nop.speedup
    );

    let wrong = find(&reports, "wrong.diff");
    assert_eq!(wrong.verdict, Verdict::WrongResult, "{:?}", wrong.reason);
    assert!(!wrong.correct && !wrong.opt_base && !wrong.opt_commit);
    assert!(wrong
        .reason
        .as_deref()
        .unwrap()
        .contains("differs from the baseline"));
    // A failed patch scores speedup 1.0 everywhere, the expert's figures unchanged.
    assert!(wrong.workloads.iter().all(|w| w.speedup == 1.0));
    assert!((wrong.speedup_ratio - 1.0 / oracle.expert_speedup).abs() < 1.0);
    assert!(wrong.advantage.l4 < 0.0);

    // The JSON has the stable field names users script against.
    let v = serde_json::to_value(oracle).unwrap();
    for k in [
        "task",
        "verdict",
        "correct",
        "speedup",
        "opt_base",
        "opt_commit",
        "speedup_ratio",
        "advantage",
        "workloads",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in ["l1", "l2", "l3", "l4"] {
        assert!(v["advantage"].get(k).is_some());
    }
    let w = &v["workloads"][0];
    for k in [
        "name",
        "baseline",
        "expert",
        "patch",
        "speedup",
        "speedup_ci",
        "p_value",
        "significant",
    ] {
        assert!(w.get(k).is_some(), "workload field {k} missing");
    }
    assert_eq!(v["verdict"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cvec_oracle_and_wrong_patch() {
    let _serial = MEASURING.lock().await;
    let task = bundled("cvec");
    let work = tempfile::tempdir().unwrap();
    let cands = [
        Candidate::new("oracle", PatchSource::Oracle),
        diff_file(&task, "wrong.diff"),
    ];
    let reports = optagent_eval::evaluate(&task, &cands, &opts(work.path(), 5))
        .await
        .expect("evaluation runs");
    let oracle = find(&reports, "oracle");
    assert_eq!(oracle.verdict, Verdict::Ok, "{:?}", oracle.reason);
    assert!(oracle.opt_commit && oracle.opt_base, "{oracle:#?}");
    assert!(oracle.improvements >= 2);
    let wrong = find(&reports, "wrong.diff");
    assert_eq!(wrong.verdict, Verdict::WrongResult, "{:?}", wrong.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn textstats_expert_trades_one_workload_for_the_rest() {
    let _serial = MEASURING.lock().await;
    let task = bundled("textstats");
    let work = tempfile::tempdir().unwrap();
    let cands = [Candidate::new("oracle", PatchSource::Oracle)];
    let reports = optagent_eval::evaluate(&task, &cands, &opts(work.path(), 10))
        .await
        .expect("evaluation runs");
    let r = &reports[0];
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.reason);
    assert!(
        r.regressions >= 1,
        "expected the slowed workload to count: {r:#?}"
    );
    assert!(r.improvements >= 3, "{r:#?}");
    let slowed = r
        .workloads
        .iter()
        .filter(|w| w.expert_speedup < 0.95)
        .count();
    assert_eq!(slowed, 1);
}
