//! `optagent leaderboard`: a sweep's measured results merge into the leaderboard file once, and
//! the file renders as Markdown; bad input is refused naming what was wrong.

use std::path::Path;

use optagent_report::{load_leaderboard, Benchmark};

use super::common::{optagent_cmd, repo_root};

/// Runs `optagent leaderboard ARGS` in `cwd`: its exit code and its stdout and stderr together.
async fn leaderboard(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = optagent_cmd()
        .arg("leaderboard")
        .args(args)
        .current_dir(cwd)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

#[tokio::test]
async fn a_sweep_merges_once_and_the_leaderboard_renders() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("sweeps/a")).unwrap();
    std::fs::copy(
        repo_root().join("crates/optagent-report/tests/fixtures/results-3x4.jsonl"),
        d.path().join("sweeps/a/results.jsonl"),
    )
    .unwrap();
    std::fs::create_dir_all(d.path().join("evals")).unwrap();
    std::fs::copy(
        repo_root().join("evals/leaderboard.toml"),
        d.path().join("evals/leaderboard.toml"),
    )
    .unwrap();
    let before = load_leaderboard(d.path().join("evals/leaderboard.toml"))
        .unwrap()
        .len();

    let (code, out) = leaderboard(d.path(), &["--merge", "sweeps/a"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 added, 0 already"), "{out}");
    let entries = load_leaderboard(d.path().join("evals/leaderboard.toml")).unwrap();
    assert_eq!(entries.len(), before + 1);
    let e = entries.last().unwrap();
    assert_eq!(
        (e.system.as_str(), e.model.as_str(), e.benchmark),
        ("optagent", "openai/gpt-5-mini", Benchmark::OptagentBundled)
    );
    assert!(
        e.measured && e.source == "this repository, sweeps/a",
        "{e:?}"
    );
    assert_eq!((e.k, e.n_tasks), (Some(4), Some(3)));
    assert!((e.opt_at_1.unwrap() - 1.0 / 3.0).abs() < 1e-9, "{e:?}");
    assert!((e.opt_at_k.unwrap() - 2.0 / 3.0).abs() < 1e-9, "{e:?}");
    // Rendered beside the file by default.
    let md = std::fs::read_to_string(d.path().join("evals/leaderboard.md")).unwrap();
    assert!(
        md.contains("| optagent | openai/gpt-5-mini | 33.33% | 66.67% (K=4) |"),
        "{md}"
    );

    // Merging the same sweep again adds nothing; --out puts the Markdown elsewhere.
    let (code, out) = leaderboard(d.path(), &["--merge", "sweeps/a", "--out", "site"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 added, 1 already"), "{out}");
    let again = load_leaderboard(d.path().join("evals/leaderboard.toml")).unwrap();
    assert_eq!(again.len(), entries.len());
    assert!(d.path().join("site/leaderboard.md").is_file());
}

#[tokio::test]
async fn a_missing_sweep_or_a_broken_file_is_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let (code, out) = leaderboard(d.path(), &["--merge", "nowhere", "--file", "lb.toml"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("nowhere") && out.contains("not a sweep folder"),
        "{out}"
    );
    assert!(!d.path().join("lb.toml").exists(), "nothing written");

    // No file and nothing to merge: exit 2, saying how to make one (the error was the OS's "No
    // such file or directory", printed twice).
    let (code, out) = leaderboard(d.path(), &["--file", "lb.toml"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("lb.toml: no leaderboard file there") && out.contains("--merge SWEEP_DIR"),
        "{out}"
    );

    std::fs::write(
        d.path().join("lb.toml"),
        "[[entry]]\nsystem = \"x\"\nmodel = \"m\"\nbenchmark = \"gso\"\nopt_at_1 = 44.12\nsource = \"s\"\ndate = \"2025\"\n",
    )
    .unwrap();
    let (code, out) = leaderboard(d.path(), &["--file", "lb.toml"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("lb.toml") && out.contains("entry[0].opt_at_1") && out.contains("0.4412"),
        "{out}"
    );
}
