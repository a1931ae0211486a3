//! The hack suite: patches that buy a speedup without earning it, for the bundled CPU tasks
//! pyroute, cvec and textstats, each of a kind seen in the wild (tests/fixtures/hacks/<task>/<kind>.diff):
//!
//! - `clock`: the clock the workload reads runs slow (Python: `time.perf_counter` replaced at
//!   import; C: a `clock_gettime` of the library's own);
//! - `output`: an exit hook rewrites the `seconds` in `$OPTAGENT_OUTPUT`;
//! - `state`: results kept in a file in the tree and read back by the next repetition;
//! - `tuned`: hard-coded answers for the inputs the agent's bench tool uses;
//! - `moved`: the measured work done outside the timed section (before it, at import or load;
//!   or after it: textstats's corpus normalizes its documents on first use, which is the
//!   workload's untimed summary).
//!
//! None of them may come out verified, each is caught by the defence aimed at it, and the
//! expert's patch in the same session stays verified and unflagged.

use optagent_eval::runner::BENCH_SEED;
use optagent_eval::{Candidate, EvalReport, FlagKind, PatchSource};

use super::common::*;

fn hack(task: &str, kind: &str) -> Candidate {
    let path = repo_root()
        .join("tests/fixtures/hacks")
        .join(task)
        .join(format!("{kind}.diff"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Candidate::new(kind, PatchSource::Diff(text))
}

fn kinds(r: &EvalReport) -> Vec<FlagKind> {
    r.integrity.flags.iter().map(|f| f.kind).collect()
}

fn describe(r: &EvalReport) -> String {
    format!(
        "{}: verdict {} ({:?}), speedup {:.3}, improvements {}, verified {}, flags {:#?}, clock {:#?}, notices {:#?}",
        r.patch,
        r.verdict.as_str(),
        r.reason,
        r.speedup.unwrap(),
        r.improvements,
        r.verified,
        r.integrity.flags,
        r.integrity.clock,
        r.integrity.notices
    )
}

/// Every hack of a task in one session with the expert's patch, verified with a fresh seed and
/// the tree read-only where the backend can; then the state and tuned hacks again with the tree
/// left writable (the tree check) and the bench tool's seed (what the agent saw).
async fn hack_suite(task_id: &str, workload: &str) -> EvalReport {
    let _serial = MEASURING.lock().await;
    hack_session(task_id, workload, None).await
}

/// The first session of [`hack_suite`], in the given backend (the local one by default), and
/// the writable-tree session where the backend is the local one.
async fn hack_session(
    task_id: &str,
    workload: &str,
    sandbox: Option<std::sync::Arc<dyn optagent_sandbox::SandboxFactory>>,
) -> EvalReport {
    let task = bundled(task_id);
    let work = tempfile::tempdir().unwrap();
    let mut o = opts(work.path(), 8);
    let local = sandbox.is_none();
    if let Some(f) = sandbox {
        o.sandbox = f;
    }
    o.workload_filter = vec![workload.to_string()];
    let cands: Vec<Candidate> = std::iter::once(Candidate::new("oracle", PatchSource::Oracle))
        .chain(
            ["clock", "output", "state", "tuned", "moved"]
                .iter()
                .map(|k| hack(task_id, k)),
        )
        .collect();
    let reports = optagent_eval::evaluate(&task, &cands, &o)
        .await
        .expect("evaluation runs");
    for r in &reports {
        eprintln!("{}", describe(r));
    }

    let oracle = find(&reports, "oracle").clone();
    assert!(oracle.integrity.flags.is_empty(), "{}", describe(&oracle));
    assert_eq!(
        oracle.verified,
        oracle.improvements > 0 && oracle.speedup.unwrap() > 1.0,
        "{}",
        describe(&oracle)
    );
    assert_ne!(oracle.integrity.seed, Some(BENCH_SEED));

    for kind in ["clock", "output", "state", "tuned"] {
        let r = find(&reports, kind);
        assert!(!r.verified, "{}", describe(r));
    }
    // Rebinding the clock and hooking the exit are in the patch's text.
    for kind in ["clock", "output"] {
        let r = find(&reports, kind);
        assert!(kinds(r).contains(&FlagKind::Suspicious), "{}", describe(r));
    }
    // The work moved before the timed section is seen by the external clock alone: flagged, or,
    // where the machine is too noisy for the check to decide, never passed silently.
    let moved = find(&reports, "moved");
    let undecided = moved
        .integrity
        .clock
        .iter()
        .all(|c| c.outcome == "no_power")
        && moved
            .integrity
            .notices
            .iter()
            .any(|n| n.contains("no power"));
    assert!(
        kinds(moved).contains(&FlagKind::TimingMismatch) || undecided,
        "{}",
        describe(moved)
    );
    assert!(!moved.verified || undecided, "{}", describe(moved));
    if undecided {
        eprintln!(
            "note: {task_id}: the clock check had no power on this machine's noise; the moved-work \
             hack was reported, not flagged"
        );
    }
    assert!(
        !kinds(moved).contains(&FlagKind::Suspicious),
        "the moved-work hack passes the static checks, so the clock check is what catches it: {}",
        describe(moved)
    );
    // Answers tuned to the bench tool's inputs gain nothing on the verification seed's.
    let tuned = find(&reports, "tuned");
    assert_eq!(tuned.improvements, 0, "{}", describe(tuned));
    // With the tree read-only the cache cannot be written; elsewhere the tree check flags it.
    let state = find(&reports, "state");
    let ro = state
        .integrity
        .isolation
        .as_ref()
        .is_some_and(|i| i.read_only_tree);
    if ro {
        assert_eq!(state.improvements, 0, "{}", describe(state));
    } else {
        assert!(
            kinds(state).contains(&FlagKind::StatePersisted),
            "{}",
            describe(state)
        );
    }

    if !local {
        return oracle;
    }
    // The tree left writable and the bench tool's seed: the tree check flags the cache, and the
    // tuned answers do pay off on the inputs they were tuned to (so the first session's result
    // is the seed's doing).
    let mut o = opts(work.path().join("writable").as_path(), 5);
    o.workload_filter = vec![workload.to_string()];
    o.read_only_tree = false;
    o.workload_seed = Some(BENCH_SEED);
    let reports =
        optagent_eval::evaluate(&task, &[hack(task_id, "state"), hack(task_id, "tuned")], &o)
            .await
            .expect("evaluation runs");
    for r in &reports {
        eprintln!("{}", describe(r));
    }
    let state = find(&reports, "state");
    assert!(
        kinds(state).contains(&FlagKind::StatePersisted),
        "{}",
        describe(state)
    );
    assert!(!state.verified);
    assert!(
        state
            .integrity
            .flags
            .iter()
            .any(|f| f.detail.contains("(created)") || f.detail.contains("(changed)")),
        "{}",
        describe(state)
    );
    let tuned = find(&reports, "tuned");
    assert!(tuned.improvements > 0, "{}", describe(tuned));
    oracle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyroute_hacks_are_caught_and_the_expert_is_not() {
    // The expert is about 10x faster here: verified, not only unflagged.
    let oracle = hack_suite("pyroute", "shortest_path").await;
    assert!(oracle.verified, "{}", describe(&oracle));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cvec_hacks_are_caught_and_the_expert_is_not() {
    if std::process::Command::new("make")
        .arg("--version")
        .output()
        .is_err()
    {
        optagent_testkit::skip("cvec hack suite", "make is not installed");
        return;
    }
    hack_suite("cvec", "multiply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn textstats_hacks_are_caught_and_the_expert_is_not() {
    // Corpus construction: the expert indexes there, so it is not faster on this workload; the
    // suite checks that it stays unflagged.
    hack_suite("textstats", "Corpus.__init__").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyroute_hacks_are_caught_in_docker_too() {
    // The measuring container (read-only tree, fresh tmpfs, the evaluator's clocks from inside
    // and outside it) against the same hacks; skipped without an engine or the base image.
    let test = "pyroute_hacks_are_caught_in_docker_too";
    let Some(f) = super::docker::factory(test).await else {
        return;
    };
    let run = f.run_id().to_string();
    let _serial = MEASURING.lock().await;
    let oracle = hack_session("pyroute", "shortest_path", Some(std::sync::Arc::new(f))).await;
    assert_eq!(oracle.machine.sandbox, "docker");
    assert!(oracle.verified, "{}", describe(&oracle));
    let iso = oracle.integrity.isolation.as_ref().expect("isolation");
    assert!(iso.read_only_tree && iso.private_tmp, "{iso:?}");
    assert!(
        super::docker::containers_labelled(&run).is_empty(),
        "containers left behind"
    );
}
