//! The real-task suite (`evals/real/`): upstream optimization commits that GSO and SWE-fficiency
//! list as instances, with workloads written here. Their sources are GitHub URLs, resolved
//! through local mirrors (`OPTAGENT_GIT_MIRRORS`, made by `evals/real/mirrors.sh`); the test
//! that measures a task skips, saying how to provide one, where no mirror is found.

use std::path::{Path, PathBuf};

use super::common::*;
use serde_json::Value;

const SUITE: [&str; 7] = [
    "tornadoweb__tornado-1b464c4",
    "tornadoweb__tornado-4d4c1e0",
    "tornadoweb__tornado-ac13ee5",
    "sympy__sympy-21006",
    "sympy__sympy-21954",
    "sympy__sympy-26710",
    "sympy__sympy-27051",
];

fn suite_dir() -> PathBuf {
    repo_root().join("evals/real")
}

/// Every task of the suite loads, names a GitHub source at a pinned revision and an expert
/// revision, and the sweep file lists exactly these tasks. Needs no mirror.
#[tokio::test]
async fn the_real_suite_specs_load_and_the_sweep_lists_them() {
    let o = optagent(&["tasks", "list", "evals/real"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for id in SUITE {
        assert!(out.contains(id), "{id} missing from:\n{out}");
        let spec = std::fs::read_to_string(suite_dir().join(id).join("task.toml")).unwrap();
        let (owner_name, num) = id.split_once('-').unwrap();
        let (owner, name) = owner_name.split_once("__").unwrap();
        assert_eq!(
            quoted(&spec, "git"),
            vec![format!("https://github.com/{owner}/{name}")],
            "{id}"
        );
        // [source] rev, then [expert] rev.
        let revs = quoted(&spec, "rev");
        assert_eq!(revs.len(), 2, "{id}: {revs:?}");
        let (rev, expert) = (&revs[0], &revs[1]);
        assert_eq!(expert.len(), 40, "{id}: the expert is a full hash");
        assert!(
            rev.starts_with(expert.as_str()),
            "{id}: the base is the expert's parent"
        );
        if owner == "tornadoweb" {
            // GSO ids carry the commit's short hash.
            assert!(expert.starts_with(num), "{id}: expert {expert}");
        }
    }
    let sweep = std::fs::read_to_string(suite_dir().join("sweep.toml")).unwrap();
    let list = sweep.split("\ntasks = [").nth(1).unwrap();
    let list = &list[..list.find(']').unwrap()];
    let listed: Vec<&str> = list
        .split(',')
        .map(|t| t.trim().trim_matches('"'))
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(listed, SUITE, "evals/real/sweep.toml");
}

/// The quoted values of `key = "..."` lines, in order.
fn quoted(spec: &str, key: &str) -> Vec<String> {
    spec.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key} = \"")))
        .map(|r| r.trim_end().trim_end_matches('"').to_string())
        .collect()
}

/// The mirror of `owner/name` in one of `$OPTAGENT_GIT_MIRRORS`' folders, as optagent looks for
/// it (`OWNER/NAME` or `OWNER/NAME.git`).
fn find_mirror(owner: &str, name: &str) -> Option<PathBuf> {
    let dirs = std::env::var("OPTAGENT_GIT_MIRRORS").unwrap_or_default();
    dirs.split(':').filter(|d| !d.is_empty()).find_map(|d| {
        [format!("{owner}/{name}"), format!("{owner}/{name}.git")]
            .into_iter()
            .map(|p| Path::new(d).join(p))
            .find(|p| p.exists())
    })
}

/// A Python 3 older than 3.10 (tornado of 2017 needs `collections.MutableMapping`), looked for
/// where the tornado tasks' setup looks.
fn old_python() -> Option<String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut cands: Vec<String> = ["python3", "python3.9", "python3.8", "python3.7"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for v in ["3.9", "3.8"] {
        if let Ok(rd) = std::fs::read_dir(format!("{home}/.pyenv/versions")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(v) {
                    cands.push(e.path().join("bin/python3").to_string_lossy().into_owned());
                }
            }
        }
    }
    cands.into_iter().find(|p| {
        std::process::Command::new(p)
            .args([
                "-c",
                "import collections, sys; sys.exit(not (sys.version_info[0] == 3 and hasattr(collections, 'MutableMapping')))",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `tasks check` on a real GSO instance (tornado 4d4c1e0: tornado's Future becomes asyncio's):
/// the tree is cloned from the mirror at the expert's parent, set up, tested, and the expert
/// (the upstream merge) is significantly faster on `Future.set_exception` (about 2.5x on the
/// loaded 2-core development machine, where a run takes about a second). It takes about a
/// minute on a quiet machine (four trees: setup, tests, 6 runs each) and 4 minutes at load 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_check_passes_a_real_gso_instance_from_a_mirror() {
    let test = "tasks_check_passes_a_real_gso_instance_from_a_mirror";
    if find_mirror("tornadoweb", "tornado").is_none() {
        optagent_testkit::skip(
            test,
            "no mirror of github.com/tornadoweb/tornado in $OPTAGENT_GIT_MIRRORS: run \
             `evals/real/mirrors.sh DIR` (or `git clone --mirror https://github.com/tornadoweb/tornado \
             DIR/tornadoweb/tornado.git`) and export OPTAGENT_GIT_MIRRORS=DIR",
        );
        return;
    }
    if old_python().is_none() {
        optagent_testkit::skip(
            test,
            "no Python 3.9 or older (python3.9, python3.8, python3.7 or ~/.pyenv/versions/3.9*): \
             tornado of 2017 needs collections.MutableMapping",
        );
        return;
    }
    let _serial = MEASURING.write().await;
    let task = suite_dir().join("tornadoweb__tornado-4d4c1e0");
    let o = optagent(&[
        "tasks",
        "check",
        task.to_str().unwrap(),
        "--json",
        "--reps",
        "5",
        "--workload",
        "set_exception",
    ])
    .await;
    let out = String::from_utf8_lossy(&o.stdout);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let c = &v[0];
    assert_eq!(c["task"], "tornadoweb__tornado-4d4c1e0", "{c}");
    assert_eq!(c["status"], "ok", "{}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
    // `workloads` counts the task's; --workload measured only set_exception.
    assert_eq!(c["workloads"], 2, "{c}");
    assert_eq!(c["significant_workloads"], 1, "{c}");
    let sp = c["expert_speedup"].as_f64().unwrap();
    assert!(sp > 1.3, "expert speedup {sp}: {c}");
}
