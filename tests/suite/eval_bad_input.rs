//! Bad inputs end in a verdict with its reason, or a clear error, never a crash or a hang.

use std::time::{Duration, Instant};

use optagent_eval::{Candidate, EvalError, PatchSource, Verdict};
use optagent_task::Task;

use super::common::*;

const SRC: &str =
    "def work(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n";

const BENCH: &str = r#"import json, os, sys, time
sys.path.insert(0, '.')
import lib
t = time.perf_counter()
r = lib.work(20000)
s = time.perf_counter() - t
with open(os.environ['OPTAGENT_OUTPUT'], 'w') as f:
    json.dump({'seconds': s, 'result': r}, f)
"#;

const EXPERT: &str = "--- a/lib.py\n+++ b/lib.py\n@@ -1,5 +1,2 @@\n def work(n):\n-    total = 0\n-    for i in range(n):\n-        total += i\n-    return total\n+    return n * (n - 1) // 2\n";

fn toml(extra_top: &str, tests: &str, build: &str, timeout: u64) -> String {
    format!(
        r#"id = "mini"
instruction = "make work() faster"
languages = ["python"]
protected = ["bench/**", "tests/**"]
{extra_top}
[source]
path = "repo"
[expert]
patch = "expert.diff"
[build]
commands = [{build}]
[tests]
commands = [{tests}]
[measure]
reps = 3
timeout = {timeout}
[[workloads]]
name = "mini.lib.work(n=20000)"
command = "python3 bench/run.py"
"#
    )
}

fn mini(dir: &std::path::Path, extra_top: &str, tests: &str, build: &str, timeout: u64) -> Task {
    write_task(
        dir,
        &toml(extra_top, tests, build, timeout),
        &[
            ("lib.py", SRC),
            ("bench/run.py", BENCH),
            (
                "tests/test_lib.py",
                "import sys\nsys.path.insert(0, '.')\nimport lib\nassert lib.work(4) == 6\n",
            ),
        ],
        EXPERT,
    );
    Task::load(dir).unwrap()
}

/// A candidate whose lib.py body is `new_body` (a diff made the way `git diff` makes one).
fn lib_patch(label: &str, new_body: &str) -> Candidate {
    let new = format!("def work(n):\n{new_body}");
    let d = similar::TextDiff::from_lines(SRC, &new)
        .unified_diff()
        .header("a/lib.py", "b/lib.py")
        .to_string();
    Candidate::new(label, PatchSource::Diff(d))
}

fn diff(body: &str) -> Candidate {
    Candidate::new("agent", PatchSource::Diff(body.to_string()))
}

#[tokio::test]
async fn patch_build_test_result_and_hang_each_get_their_verdict() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    // The build step fails when the tree has a file named BROKEN; the tests run a real check.
    let task = mini(
        d.path(),
        "",
        "\"python3 tests/test_lib.py\"",
        "\"test ! -e BROKEN || (echo 'build error: BROKEN present' >&2; exit 2)\"",
        5,
    );
    let not_applying = diff("--- a/nothere.py\n+++ b/nothere.py\n@@ -1 +1 @@\n-a\n+b\n");
    let build_break = Candidate::new(
        "build",
        PatchSource::Diff("--- /dev/null\n+++ b/BROKEN\n@@ -0,0 +1 @@\n+x\n".into()),
    );
    let tests_break = lib_patch("tests", "    return 7\n");
    // Passes the unit test (work(4) == 6) but differs on the workload's input.
    let wrong = lib_patch("wrong", "    return 6 if n == 4 else n * n // 2\n");
    let hang = lib_patch(
        "hang",
        "    import time\n    if n > 100:\n        time.sleep(600)\n    return n * (n - 1) // 2\n",
    );
    let guard = lib_patch(
        "guard",
        "    import sys\n    sys._getframe(0)\n    return n * (n - 1) // 2\n",
    );
    let work = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let reports = optagent_eval::evaluate(
        &task,
        &[not_applying, build_break, tests_break, wrong, hang, guard],
        &opts(work.path(), 3),
    )
    .await
    .expect("evaluation completes");
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "a hang must be cut off"
    );
    let v = |l: &str| {
        let r = find(&reports, l);
        (r.verdict, r.reason.clone().unwrap_or_default())
    };
    let (verdict, why) = v("agent");
    assert_eq!(verdict, Verdict::PatchFailed);
    assert!(why.contains("nothere.py"), "{why}");
    let (verdict, why) = v("build");
    assert_eq!(verdict, Verdict::BuildFailed);
    assert!(why.contains("build error: BROKEN present"), "{why}");
    assert_eq!(v("tests").0, Verdict::TestsFailed);
    let (verdict, why) = v("wrong");
    assert_eq!(verdict, Verdict::WrongResult);
    assert!(why.contains("expected 199990000"), "{why}");
    let (verdict, why) = v("hang");
    assert_eq!(verdict, Verdict::Timeout);
    assert!(why.contains("did not finish within 5s"), "{why}");
    let (verdict, why) = v("guard");
    assert_eq!(verdict, Verdict::GuardViolation);
    assert!(why.contains("sys._getframe"), "{why}");
    for r in &reports {
        assert!(!r.correct && !r.opt_base && !r.opt_commit);
        assert_eq!(r.speedup.unwrap(), 1.0);
    }
}

#[tokio::test]
async fn edits_to_protected_workload_files_do_not_count() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let task = mini(d.path(), "", "\"python3 tests/test_lib.py\"", "", 30);
    // A "patch" that rewrites the benchmark to report a tiny time is reset before measuring.
    let cheat = Candidate::new(
        "cheat",
        PatchSource::Diff(
            "--- a/bench/run.py\n+++ b/bench/run.py\n@@ -5 +5 @@\n-s = time.perf_counter() - t\n+s = 1e-9\n".into(),
        ),
    );
    let work = tempfile::tempdir().unwrap();
    let r = optagent_eval::evaluate(&task, &[cheat], &opts(work.path(), 3))
        .await
        .unwrap();
    assert_eq!(r[0].verdict, Verdict::Ok);
    // Had the edit counted, the patch would report 1e-9 s: a speedup near a million. Reset, it
    // measures the unchanged library (a 1-ms section, so a loaded machine can move its ratio
    // by tens of percent either way; what matters is the orders of magnitude).
    assert!(
        r[0].speedup.unwrap() < 10.0,
        "protected edit counted: speedup {} ({:?})",
        r[0].speedup.unwrap(),
        r[0].workloads[0].patch
    );
    // (Not `!opt_base`: GSO's rule is a 1.2x ratio of means with no significance test, which
    // a 1-ms section under load reaches by chance.)
}

#[tokio::test]
async fn a_broken_baseline_is_a_task_error_not_a_verdict() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let task = mini(d.path(), "", "\"python3 -c 'raise SystemExit(3)'\"", "", 30);
    let work = tempfile::tempdir().unwrap();
    let err = optagent_eval::evaluate(
        &task,
        &[Candidate::new("nop", PatchSource::Nop)],
        &opts(work.path(), 2),
    )
    .await
    .unwrap_err();
    match err {
        EvalError::TaskBroken { message, .. } => {
            assert!(message.contains("baseline"), "{message}");
            assert!(message.contains("exit code 3"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn cuda_task_without_gpu_is_skipped_with_a_reason() {
    let _serial = MEASURING.lock().await;
    if optagent_eval::machine::cuda_available().is_ok() {
        optagent_testkit::skip(
            "cuda_task_without_gpu_is_skipped_with_a_reason",
            "a GPU is present, so the no-GPU path cannot be shown here",
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let task = mini(d.path(), "device = \"cuda\"", "", "", 30);
    let work = tempfile::tempdir().unwrap();
    let err = optagent_eval::evaluate(
        &task,
        &[Candidate::new("oracle", PatchSource::Oracle)],
        &opts(work.path(), 2),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EvalError::Skipped(_)), "{err}");
    assert!(err.to_string().contains("needs a CUDA GPU"), "{err}");
}

#[tokio::test]
async fn a_task_from_a_local_git_repository_at_a_revision_expression() {
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let up = d.path().join("upstream");
    std::fs::create_dir_all(up.join("bench")).unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&up)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    std::fs::write(up.join("lib.py"), SRC).unwrap();
    std::fs::write(up.join("bench/run.py"), BENCH).unwrap();
    git(&["init", "-q"]);
    git(&["-c", "user.name=a", "-c", "user.email=a@b", "add", "-A"]);
    git(&[
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit",
        "-qm",
        "base",
    ]);
    std::fs::write(
        up.join("lib.py"),
        "def work(n):\n    return n * (n - 1) // 2\n",
    )
    .unwrap();
    git(&[
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit",
        "-qam",
        "fast",
    ]);
    let fast = git(&["rev-parse", "HEAD"]);
    let td = d.path().join("task");
    std::fs::create_dir_all(&td).unwrap();
    std::fs::write(
        td.join("task.toml"),
        format!(
            "id = \"gitmini\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\ngit = \"../upstream\"\nrev = \"{fast}^\"\n[expert]\nrev = \"{fast}\"\n[[workloads]]\nname = \"mini.lib.work(n=20000)\"\ncommand = \"python3 bench/run.py\"\n"
        ),
    )
    .unwrap();
    let task = Task::load(&td).unwrap();
    let work = tempfile::tempdir().unwrap();
    let r = optagent_eval::evaluate(
        &task,
        &[Candidate::new("oracle", PatchSource::Oracle)],
        &opts(work.path(), 5),
    )
    .await
    .unwrap();
    assert_eq!(r[0].verdict, Verdict::Ok, "{:?}", r[0].reason);
    assert!(
        r[0].workloads[0].expert_speedup.unwrap() > 5.0,
        "{:#?}",
        r[0].workloads[0]
    );
    assert!(r[0].workloads[0].expert_significant);
}

/// Issue 10 items 2 and 3, end to end: a workload's result holding NaN, infinities and an
/// integer beyond u64 (as Python's `json.dump` writes them) no longer breaks the task; a
/// candidate whose big integer differs by 10**6 in 2**70 is `wrong_result`, though the two are
/// equal as floats within rtol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_infinity_and_big_integer_results_are_compared_exactly() {
    let _serial = MEASURING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let bench = r#"import json, os, sys, time
sys.path.insert(0, '.')
import lib
t = time.perf_counter()
r = lib.work(20000)
s = time.perf_counter() - t
big = 2**70 + 12345 + getattr(lib, 'OFFSET', 0)
with open(os.environ['OPTAGENT_OUTPUT'], 'w') as f:
    json.dump({'seconds': s, 'result': [r, float('nan'), float('inf'), -float('inf'), big]}, f)
"#;
    write_task(
        dir.path(),
        &toml("", "", "", 60),
        &[("lib.py", SRC), ("bench/run.py", bench)],
        EXPERT,
    );
    let task = Task::load(dir.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let cands = [
        Candidate::new("nop", PatchSource::Nop),
        lib_patch("offset", "    return n * (n - 1) // 2\nOFFSET = 10**6\n"),
    ];
    let reports = optagent_eval::evaluate(&task, &cands, &opts(work.path(), 3))
        .await
        .expect("NaN and big integers in a result do not break the task");
    let nop = find(&reports, "nop");
    assert_eq!(nop.verdict, Verdict::Ok, "{:?}", nop.reason);
    let off = find(&reports, "offset");
    assert_eq!(off.verdict, Verdict::WrongResult, "{:?}", off.reason);
    let reason = off.reason.as_deref().unwrap_or("");
    assert!(
        reason.contains("1180591620717411315769") && reason.contains("1180591620717412315769"),
        "{reason}"
    );
}
