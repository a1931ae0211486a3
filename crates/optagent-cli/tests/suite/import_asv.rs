//! `optagent import asv`: a small ASV-style suite written here (a `benchmarks/` package with a
//! parameterized class, a plain function, a module-level `setup` and a benchmark that is not a
//! `time_` one) becomes one workload per benchmark and parameter combination, named as asv names
//! them; the task then scores its expert on those workloads.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use super::common::*;
use serde_json::Value;

const SLOW: &str =
    "def total(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n";
const FAST: &str = "def total(n):\n    return (n - 1) * n * (2 * n - 1) // 6\n";

const BENCH_CORE: &str = r#"import tiny.core


class Total:
    params = ([2000, 4000], ["list", "gen"])
    param_names = ["n", "kind"]

    def setup(self, n, kind):
        self.sizes = [n + j % 3 for j in range(20)]

    def time_total(self, n, kind):
        for k in self.sizes:
            tiny.core.total(k)

    def track_value(self, n, kind):
        return tiny.core.total(n)


def time_small():
    for k in range(200, 260):
        tiny.core.total(k)
"#;

const BENCH_SUB: &str = r#"import tiny.core

data = None


def setup():
    global data
    data = list(range(1500, 1540))


def time_module_setup():
    for k in data:
        tiny.core.total(k)
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn an_asv_suite_becomes_named_workloads_and_scores_the_expert() {
    let test = "an_asv_suite_becomes_named_workloads_and_scores_the_expert";
    if Command::new("python3").arg("--version").output().is_err() {
        optagent_testkit::skip(test, "no python3 on PATH");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    for dir in ["tiny", "benchmarks/sub"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
    }
    std::fs::write(repo.join("tiny/__init__.py"), "").unwrap();
    std::fs::write(repo.join("tiny/core.py"), SLOW).unwrap();
    std::fs::write(repo.join("benchmarks/__init__.py"), "").unwrap();
    std::fs::write(repo.join("benchmarks/bench_core.py"), BENCH_CORE).unwrap();
    std::fs::write(repo.join("benchmarks/sub/__init__.py"), "").unwrap();
    std::fs::write(repo.join("benchmarks/sub/bench_sub.py"), BENCH_SUB).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "dev@example.com"]);
    git(&repo, &["config", "user.name", "dev"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "tiny with an asv suite"]);
    std::fs::write(repo.join("tiny/core.py"), FAST).unwrap();
    git(&repo, &["commit", "-qam", "closed form"]);
    let expert = git(&repo, &["rev-parse", "HEAD"]);
    let base = git(&repo, &["rev-parse", "HEAD^"]);
    git(&repo, &["checkout", "-q", &base]);

    let task = d.path().join("task");
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(
        task.join("task.toml"),
        format!(
            "id = \"tiny-asv\"\ninstruction = \"Make tiny faster.\"\nlanguages = [\"python\"]\n\
             protected = [\"benchmarks/**\"]\n\n[source]\ngit = {:?}\nrev = {base:?}\n\n\
             [expert]\nrev = {expert:?}\n",
            repo.display().to_string()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(["import", "asv"])
        .arg(repo.join("benchmarks"))
        .arg("--task")
        .arg(&task)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains("workload(s) added"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        listed,
        [
            "bench_core.Total.time_total(2000, 'list')",
            "bench_core.Total.time_total(2000, 'gen')",
            "bench_core.Total.time_total(4000, 'list')",
            "bench_core.Total.time_total(4000, 'gen')",
            "bench_core.time_small",
            "sub.bench_sub.time_module_setup",
        ],
        "{}",
        text(&o)
    );
    let spec = std::fs::read_to_string(task.join("task.toml")).unwrap();
    assert!(
        spec.contains(
            "command = 'python \"$OPTAGENT_TASK_DIR/asv_workload.py\" run benchmarks bench_core.Total.time_total 3'"
        ),
        "{spec}"
    );
    // Importing again would duplicate names: refused, naming one.
    let o = Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(["import", "asv"])
        .arg(repo.join("benchmarks"))
        .arg("--task")
        .arg(&task)
        .args(["--match", "time_small"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("bench_core.time_small"), "{}", text(&o));

    let o = Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(["eval"])
        .arg(&task)
        .args(["--patch", "oracle", "--json", "--reps", "5"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(r["verified"], true, "{r}");
    let ws = r["workloads"].as_array().unwrap();
    assert_eq!(ws.len(), 6, "{r}");
    assert!(r["speedup"].as_f64().unwrap() > 3.0, "{r}");
}
