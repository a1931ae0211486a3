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
        eprintln!("skipping: valgrind is not installed");
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
        (w.speedup - 2.0).abs() < 0.05,
        "instruction speedup {}",
        w.speedup
    );
    // Counts repeat: the spread across runs of one tree is tiny.
    let b = &w.baseline;
    assert!((b.max - b.min) / b.median < 0.001, "{b:?}");
    let n = &nop.workloads[0];
    assert!(!n.significant, "A/A under instruction counts: {n:#?}");
    assert!((n.speedup - 1.0).abs() < 0.001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_repetitions_say_how_many_and_why_they_stopped() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let task = write_task(&d.path().join("task"), 3_000_000).unwrap();
    let mut o = opts(&d.path().join("work"), 10);
    o.adaptive = Some(Adaptive {
        min_reps: 4,
        max_reps: 12,
        target_rel_halfwidth: 0.02,
        budget: std::time::Duration::from_secs(30),
    });
    o.pin_cpus = Some(vec![]);
    let r = optagent_eval::evaluate(&task, &[Candidate::new("oracle", PatchSource::Oracle)], &o)
        .await
        .unwrap();
    let w = &r[0].workloads[0];
    assert!((4..=12).contains(&w.reps), "{w:#?}");
    assert!(
        ["converged", "budget", "max_reps"].contains(&w.stop.as_str()),
        "{}",
        w.stop
    );
    assert_eq!(w.baseline.n, w.reps);
    assert!(
        r[0].machine.pinned_cpus.is_empty(),
        "--pin none is honoured"
    );
    assert!(r[0].machine.cores >= 1 && r[0].machine.load1_start.is_some());
    assert!(r[0].timing.runs > 0 && r[0].timing.session_wall_s >= r[0].timing.runs_wall_s);
}
