//! The measurement modes of issue 3: instruction counts (repeatable whatever the machine does),
//! adaptive repetitions (with how many each workload got and why it stopped), pinning and the
//! machine's state in the report.

use optagent_eval::calibrate::write_task;
use optagent_eval::{Adaptive, Candidate, PatchSource, Verdict};
use optagent_task::Metric;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruction_counts_see_the_expert_and_repeat_exactly() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        optagent_testkit::skip(
            "instruction_counts_see_the_expert_and_repeat_exactly",
            "valgrind is not installed",
        );
        return;
    }
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    // 2M iterations; the expert halves them.
    let task = write_task(&d.path().join("task"), 2_000_000).unwrap();
    let mut o = opts(&d.path().join("work"), 3);
    o.metric = Some(Metric::Instructions);
    let r = optagent_eval::evaluate(
        &task,
        &[
            Candidate::new("oracle", PatchSource::Oracle),
            Candidate::new("nop", PatchSource::Nop),
        ],
        &o,
    )
    .await
    .unwrap();
    let (oracle, nop) = (find(&r, "oracle"), find(&r, "nop"));
    assert_eq!(oracle.metric, Metric::Instructions);
    assert_eq!(oracle.verdict, Verdict::Ok);
    let w = &oracle.workloads[0];
    assert!(w.significant, "{w:#?}");
    // The setup-only count is subtracted: the loop's halving shows as ~2x, not diluted.
    assert!(
        (w.speedup.unwrap() - 2.0).abs() < 0.05,
        "instruction speedup {}",
        w.speedup.unwrap()
    );
    // Counts repeat: the spread across runs of one tree is tiny.
    let b = &w.baseline;
    assert!((b.max - b.min) / b.median < 0.001, "{b:?}");
    let n = &nop.workloads[0];
    assert!(!n.significant, "A/A under instruction counts: {n:#?}");
    assert!((n.speedup.unwrap() - 1.0).abs() < 0.001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_repetitions_say_how_many_and_why_they_stopped() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let task = write_task(&d.path().join("task"), 1_000_000).unwrap();
    // Each stopping rule forced by its settings, so the outcome does not depend on the noise:
    // (target half-width, budget) -> (reps, stop).
    let cases = [
        // Any interval is tight enough: stop at min_reps.
        (10.0, std::time::Duration::from_secs(600), 3, "converged"),
        // No interval is (a zero half-width), and no time is allowed: stop at min_reps.
        (0.0, std::time::Duration::ZERO, 3, "budget"),
        // No interval is, time enough: run to max_reps.
        (0.0, std::time::Duration::from_secs(600), 5, "max_reps"),
    ];
    for (i, (target, budget, reps, stop)) in cases.into_iter().enumerate() {
        let mut o = opts(&d.path().join(format!("work{i}")), 10);
        o.adaptive = Some(Adaptive {
            min_reps: 3,
            max_reps: 5,
            target_rel_halfwidth: target,
            budget,
        });
        o.pin_cpus = Some(vec![]);
        // Exact counts: no extra rounds for an undecided clock check.
        o.clock_rounds = false;
        let r =
            optagent_eval::evaluate(&task, &[Candidate::new("oracle", PatchSource::Oracle)], &o)
                .await
                .unwrap();
        let w = &r[0].workloads[0];
        assert_eq!((w.reps, w.stop.as_str()), (reps, stop), "case {i}: {w:#?}");
        assert_eq!(w.baseline.n, reps);
        assert_eq!(w.expert.n, reps);
        assert_eq!(w.patch.as_ref().unwrap().n, reps);
        assert!(
            r[0].machine.pinned_cpus.is_empty(),
            "--pin none is honoured"
        );
        assert!(r[0].machine.cores >= 1 && r[0].machine.load1_start.is_some());
        assert!(r[0].timing.runs > 0 && r[0].timing.session_wall_s >= r[0].timing.runs_wall_s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_reps_for_alpha_are_announced() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let task = write_task(&d.path().join("task"), 100_000).unwrap();
    let lines = |reps: usize, alpha: f64| {
        let (task, work) = (task.clone(), d.path().join(format!("work-{reps}-{alpha}")));
        async move {
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let mut o = opts(&work, reps);
            o.alpha = alpha;
            o.warmup = Some(0);
            o.pin_cpus = Some(vec![]);
            let s = seen.clone();
            o.progress = Some(std::sync::Arc::new(move |l: &str| {
                s.lock().unwrap().push(l.to_string())
            }));
            optagent_eval::evaluate(&task, &[Candidate::new("nop", PatchSource::Nop)], &o)
                .await
                .unwrap();
            let v = seen.lock().unwrap().clone();
            v.into_iter()
                .filter(|l| l.contains("note: with"))
                .collect::<Vec<_>>()
        }
    };
    // 3 against 3 cannot go below p = 0.1; 5 against 5 reaches 2/252 < 0.01.
    let few = lines(3, 0.01).await;
    assert_eq!(few.len(), 1, "{few:?}");
    assert!(
        few[0].contains("with 3 reps")
            && few[0].contains("p = 0.100")
            && few[0].contains("--reps 5"),
        "{}",
        few[0]
    );
    assert!(lines(5, 0.01).await.is_empty());
    // A laxer alpha needs fewer: 4 against 4 reach 2/70 = 0.029 < 0.05.
    assert!(lines(4, 0.05).await.is_empty());
    assert_eq!(lines(4, 0.01).await.len(), 1);
}
