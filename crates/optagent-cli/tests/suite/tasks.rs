//! `optagent tasks list|check` and `optagent eval`'s errors for bad input, from the command line.

use super::common::*;

#[tokio::test]
async fn tasks_list_shows_the_bundled_tasks() {
    let o = optagent(&["tasks", "list", "tasks"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for id in ["pyroute", "cvec", "textstats", "torchops"] {
        assert!(out.contains(id), "{out}");
    }
    assert!(out.contains("cuda"));
}

#[tokio::test]
async fn a_malformed_task_is_named_with_its_field() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("task.toml"),
        "id = \"x\"\ninstruction = \"y\"\nlanguages = \"python\"\n",
    )
    .unwrap();
    let o = optagent(&["eval", d.path().to_str().unwrap(), "--patch", "nop"]).await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("task.toml") && err.contains("line 3"), "{err}");
    let o = optagent(&["eval", "tasks/pyroute", "--patch", "/nonexistent.diff"]).await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent.diff"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_check_rejects_a_task_whose_expert_is_not_faster() {
    let _serial = MEASURING.write().await;
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("bench")).unwrap();
    std::fs::write(
        repo.join("lib.py"),
        "def f():\n    return sum(range(200000))\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("bench/run.py"),
        "import json, os, sys, time\nsys.path.insert(0, '.')\nimport lib\nt = time.perf_counter()\nr = lib.f()\nwith open(os.environ['OPTAGENT_OUTPUT'], 'w') as f:\n    json.dump({'seconds': time.perf_counter() - t, 'result': r}, f)\n",
    )
    .unwrap();
    // The "expert" only respells a literal: no speedup.
    std::fs::write(
        d.path().join("expert.diff"),
        "--- a/lib.py\n+++ b/lib.py\n@@ -1,2 +1,2 @@\n def f():\n-    return sum(range(200000))\n+    return sum(range(200_000))\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("task.toml"),
        "id = \"flat\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"expert.diff\"\n[[workloads]]\nname = \"flat.lib.f()\"\ncommand = \"python3 bench/run.py\"\n",
    )
    .unwrap();
    let o = optagent(&["tasks", "check", d.path().to_str().unwrap(), "--reps", "6"]).await;
    assert!(!o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("REJECTED") && out.contains("not significantly faster"),
        "{out}"
    );
}
