//! GSO's dataset rows as task folders (`optagent import gso`).
//!
//! The schema is GSO's `GSOInstance` (`gso-bench/gso`, `src/gso/data/dataset.py`; the fields are
//! listed in `src/gso/harness/README.md`): `instance_id, repo, base_commit, opt_commit, api,
//! prob_script, tests, hints_text, setup_commands, install_commands, created_at, arch,
//! instance_image_tag`, plus `gt_commit_message` and `gt_diff` in the published dataset.
//!
//! Each row becomes `<out>/<instance_id>/`:
//! - `task.toml`: the source is `https://github.com/<repo>` at `base_commit` (cloned from a mirror
//!   when one is found, see [`crate::source`]); the expert is the revision `opt_commit`; the id is
//!   the instance id, so `optagent export` writes predictions GSO's harness accepts.
//! - `install.sh`: the install commands, run as setup in the tree's root as GSO's
//!   `install_repo_script` runs them (bash, `set -euo pipefail`, uv's build constraint
//!   `setuptools<82`), less `git clean` (GSO's eval script drops it too, and here it would remove
//!   optagent's state). `build.activate = ".venv/bin/activate"` keeps the virtual environment they
//!   make active for every later command.
//! - `tests/gso_test_<i>.py`: the test scripts, each a workload with `protocol = "gso"` (see
//!   `optagent_eval::gso`), the first visible (the problem script GSO shows is derived from it), the
//!   others hidden; 300 s per run, GSO's limit.
//! - `prob_script.py`, quoted in the instruction, and `gso.json`: the row's other fields, less
//!   `hints_text`, `gt_commit_message` and `gt_diff`, which describe the expert's change.
//!
//! `setup_commands` are system packages GSO installs in its images (`sudo apt-get ...`); they are
//! kept in `gso.json`, not run: the machine or the image must provide them.

use std::path::Path;

use super::{
    read_rows, task_folder, task_id, toml_list, toml_str, write, Fields, ImportError, Imported,
};

/// Every field of GSO's schema.
pub const FIELDS: &[&str] = &[
    "instance_id",
    "repo",
    "base_commit",
    "opt_commit",
    "api",
    "prob_script",
    "tests",
    "hints_text",
    "setup_commands",
    "install_commands",
    "created_at",
    "arch",
    "instance_image_tag",
    "gt_commit_message",
    "gt_diff",
];

/// GSO's per-run limit on a test script (`MAX_TIME` in `evalscript.py`).
pub const TEST_TIMEOUT: u64 = 300;

/// One row, checked.
#[derive(Debug, Clone)]
pub struct GsoInstance {
    pub line: usize,
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    pub opt_commit: String,
    pub api: String,
    pub prob_script: String,
    pub tests: Vec<String>,
    pub setup_commands: Vec<String>,
    pub install_commands: Vec<String>,
    pub created_at: Option<String>,
    pub arch: String,
    pub instance_image_tag: String,
}

/// Read and check every row of a GSO dataset file.
pub fn read(path: &Path) -> Result<Vec<GsoInstance>, ImportError> {
    let rows = read_rows(path)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let f = Fields { path, row };
        f.only(FIELDS)?;
        let instance_id = f.string("instance_id", true)?;
        task_id(&instance_id).map_err(|e| f.error("instance_id", e.to_string()))?;
        let repo = f.string("repo", true)?;
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| super::task_id(p).is_err()) {
            return Err(f.error(
                "repo",
                format!("expected OWNER/NAME of a GitHub repository, found {repo:?}"),
            ));
        }
        let commit = |name: &str| -> Result<String, ImportError> {
            let c = f.string(name, true)?;
            if c.chars().any(char::is_whitespace) {
                return Err(f.error(name, format!("expected a revision, found {c:?}")));
            }
            Ok(c)
        };
        let base_commit = commit("base_commit")?;
        let opt_commit = commit("opt_commit")?;
        let prob_script = f.string("prob_script", false)?;
        let tests = f.strings("tests", true)?;
        if tests.is_empty() {
            return Err(f.error("tests", "empty (expected at least one test script)"));
        }
        let install_commands = f.strings("install_commands", true)?;
        let inst = GsoInstance {
            line: row.line,
            instance_id,
            repo,
            base_commit,
            opt_commit,
            api: f.opt_string("api")?.unwrap_or_default(),
            prob_script,
            tests,
            setup_commands: f.strings("setup_commands", false)?,
            install_commands,
            created_at: f.opt_string("created_at")?,
            arch: f.opt_string("arch")?.unwrap_or_else(|| "x86_64".into()),
            instance_image_tag: f
                .opt_string("instance_image_tag")?
                .unwrap_or_else(|| "latest".into()),
        };
        // Checked for type only; not written (they describe the expert's change).
        f.opt_string("hints_text")?;
        f.opt_string("gt_commit_message")?;
        f.opt_string("gt_diff")?;
        out.push(inst);
    }
    let mut seen = std::collections::BTreeMap::new();
    for i in &out {
        if let Some(first) = seen.insert(i.instance_id.clone(), i.line) {
            return Err(ImportError::Field {
                path: path.to_path_buf(),
                line: i.line,
                field: "instance_id".into(),
                message: format!("{:?} already appears at line {first}", i.instance_id),
            });
        }
    }
    Ok(out)
}

/// The workload name of test `i`: the API, hierarchical as FormulaCode splits names, with the
/// test's index as its parameters.
pub fn workload_name(inst: &GsoInstance, i: usize) -> String {
    let api: String = inst
        .api
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let api = api.trim_matches('.');
    let base = if api.is_empty() {
        inst.repo
            .split('/')
            .next_back()
            .unwrap_or("gso")
            .to_string()
    } else {
        api.to_string()
    };
    format!("{base}(test_{i})")
}

fn install_script(inst: &GsoInstance) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    s.push_str(&format!(
        "# GSO install commands of {}, run by optagent's setup in the tree's root.\n",
        inst.instance_id
    ));
    s.push_str("set -euo pipefail\n");
    s.push_str("# As GSO's harness: keep pkg_resources for legacy setup.py builds.\n");
    s.push_str("mkdir -p .optagent\n");
    s.push_str("echo 'setuptools<82' > .optagent/uv_build_constraints.txt\n");
    s.push_str("export UV_BUILD_CONSTRAINT=\"$PWD/.optagent/uv_build_constraints.txt\"\n");
    for c in &inst.install_commands {
        if c.trim_start().starts_with("git clean") {
            s.push_str(&format!("# dropped (as GSO's eval script does): {c}\n"));
            continue;
        }
        s.push_str(c);
        s.push('\n');
    }
    s
}

fn instruction(inst: &GsoInstance) -> String {
    let target = if inst.api.trim().is_empty() {
        format!("the code exercised by the script below in {}", inst.repo)
    } else {
        format!("`{}` in {}", inst.api.trim(), inst.repo)
    };
    format!(
        "Make {target} faster without changing its results. The repository is checked out at \
         its base revision and installed in a virtual environment (.venv). This script shows how \
         the code is used and timed; the evaluation runs it and further hidden tests of the same \
         API, and compares every result with the unmodified code's:\n\n```python\n{}\n```\n",
        inst.prob_script.trim_end()
    )
}

fn task_toml(inst: &GsoInstance) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# Imported from GSO's dataset (instance {}) by `optagent import gso`.\n",
        inst.instance_id
    ));
    t.push_str(&format!("id = {}\n", toml_str(&inst.instance_id)));
    t.push_str(&format!("instruction = {}\n", toml_str(&instruction(inst))));
    t.push_str("languages = [\"python\"]\n\n");
    t.push_str("[source]\n");
    t.push_str(&format!(
        "git = {}\n",
        toml_str(&format!("https://github.com/{}", inst.repo))
    ));
    t.push_str(&format!("rev = {}\n\n", toml_str(&inst.base_commit)));
    t.push_str("[expert]\n");
    t.push_str(&format!("rev = {}\n\n", toml_str(&inst.opt_commit)));
    t.push_str("[build]\n");
    t.push_str(&format!(
        "setup = {}\n",
        toml_list(&["bash \"$OPTAGENT_TASK_DIR/install.sh\"".to_string()])
    ));
    t.push_str("setup_timeout = 3600\n");
    t.push_str("activate = \".venv/bin/activate\"\n\n");
    t.push_str("[measure]\n");
    t.push_str(&format!("timeout = {TEST_TIMEOUT}\n\n"));
    t.push_str("[sandbox]\n");
    t.push_str("setup_network = true\n");
    for i in 0..inst.tests.len() {
        t.push_str("\n[[workloads]]\n");
        t.push_str(&format!("name = {}\n", toml_str(&workload_name(inst, i))));
        t.push_str(&format!(
            "command = {}\n",
            toml_str(&format!(
                "python \"$OPTAGENT_TASK_DIR/tests/gso_test_{i}.py\""
            ))
        ));
        t.push_str("protocol = \"gso\"\n");
        if i > 0 {
            t.push_str("visible = false\n");
        }
    }
    t
}

fn metadata(inst: &GsoInstance) -> String {
    let v = serde_json::json!({
        "instance_id": inst.instance_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "opt_commit": inst.opt_commit,
        "api": inst.api,
        "created_at": inst.created_at,
        "arch": inst.arch,
        "instance_image_tag": inst.instance_image_tag,
        "setup_commands": inst.setup_commands,
        "install_commands": inst.install_commands,
        "tests": inst.tests.len(),
    });
    serde_json::to_string_pretty(&v).expect("plain JSON") + "\n"
}

/// Write one instance's task folder under `out`.
pub fn write_task(inst: &GsoInstance, out: &Path, force: bool) -> Result<Imported, ImportError> {
    let dir = task_folder(out, &inst.instance_id, force)?;
    write(&dir.join("install.sh"), &install_script(inst))?;
    for (i, test) in inst.tests.iter().enumerate() {
        write(&dir.join(format!("tests/gso_test_{i}.py")), test)?;
    }
    write(&dir.join("prob_script.py"), &inst.prob_script)?;
    write(&dir.join("gso.json"), &metadata(inst))?;
    write(&dir.join("task.toml"), &task_toml(inst))?;
    crate::Task::load(&dir).map_err(|source| ImportError::Invalid {
        path: dir.clone(),
        source,
    })?;
    Ok(Imported {
        id: inst.instance_id.clone(),
        dir,
        workloads: inst.tests.len(),
    })
}

/// Import every row of `dataset` into task folders under `out`. Every row is checked before
/// anything is written.
pub fn import(dataset: &Path, out: &Path, force: bool) -> Result<Vec<Imported>, ImportError> {
    let rows = read(dataset)?;
    rows.iter().map(|r| write_task(r, out, force)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Protocol, Task};

    fn row() -> serde_json::Value {
        serde_json::json!({
            "instance_id": "example__tiny-abc1234",
            "repo": "example/tiny",
            "base_commit": "abc1234^",
            "opt_commit": "abc1234",
            "api": "tiny.core.total",
            "prob_script": "import tiny\nprint(tiny.core.total(10))\n",
            "tests": ["print('t0')\n", "print('t1')\n"],
            "hints_text": "made it fast",
            "setup_commands": ["sudo apt-get install -y gcc"],
            "install_commands": ["git clean -xfd", "uv venv --python 3.11", "source .venv/bin/activate", "uv pip install -e ."],
            "created_at": "2024-01-02 03:04:05",
            "arch": "x86_64",
            "instance_image_tag": "latest",
            "gt_commit_message": "Speed up total",
            "gt_diff": "diff --git a/x b/x\n"
        })
    }

    fn dataset(d: &Path, rows: &[serde_json::Value]) -> std::path::PathBuf {
        let p = d.join("gso.jsonl");
        let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        std::fs::write(&p, text.join("\n") + "\n").unwrap();
        p
    }

    #[test]
    fn a_row_becomes_a_task_that_loads() {
        let d = tempfile::tempdir().unwrap();
        let p = dataset(d.path(), &[row()]);
        let out = d.path().join("tasks");
        let done = import(&p, &out, false).unwrap();
        assert_eq!(done.len(), 1);
        let t = Task::load(&done[0].dir).unwrap();
        assert_eq!(t.id(), "example__tiny-abc1234");
        assert_eq!(
            t.spec.source.git.as_deref(),
            Some("https://github.com/example/tiny")
        );
        assert_eq!(t.spec.source.rev.as_deref(), Some("abc1234^"));
        assert_eq!(t.spec.expert.rev.as_deref(), Some("abc1234"));
        assert_eq!(t.spec.build.activate.as_deref(), Some(".venv/bin/activate"));
        assert_eq!(t.spec.workloads.len(), 2);
        assert!(t.spec.workloads.iter().all(|w| w.protocol == Protocol::Gso));
        assert_eq!(t.spec.workloads[0].name, "tiny.core.total(test_0)");
        assert!(t.spec.workloads[0].visible && !t.spec.workloads[1].visible);
        assert!(t.spec.instruction.contains("print(tiny.core.total(10))"));
        let install = std::fs::read_to_string(t.dir.join("install.sh")).unwrap();
        assert!(
            install.contains("\nsource .venv/bin/activate\n"),
            "{install}"
        );
        assert!(install.contains("# dropped (as GSO's eval script does): git clean -xfd"));
        assert_eq!(
            std::fs::read_to_string(t.dir.join("tests/gso_test_1.py")).unwrap(),
            "print('t1')\n"
        );
        let meta = std::fs::read_to_string(t.dir.join("gso.json")).unwrap();
        assert!(!meta.contains("Speed up total") && !meta.contains("made it fast"));
        // Again without --force: refused, naming the folder.
        let e = import(&p, &out, false).unwrap_err().to_string();
        assert!(
            e.contains("example__tiny-abc1234") && e.contains("--force"),
            "{e}"
        );
        assert!(import(&p, &out, true).is_ok());
    }

    #[test]
    fn unknown_and_missing_fields_name_the_row_and_the_field() {
        let d = tempfile::tempdir().unwrap();
        let mut extra = row();
        extra["instance_id"] = "second".into();
        extra["colour"] = "red".into();
        let p = dataset(d.path(), &[row(), extra]);
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("`colour`") && e.contains("unknown"),
            "{e}"
        );

        let mut missing = row();
        missing.as_object_mut().unwrap().remove("opt_commit");
        let p = dataset(d.path(), &[missing]);
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("`opt_commit`") && e.contains("missing"),
            "{e}"
        );

        let mut wrong = row();
        wrong["tests"] = serde_json::json!(["ok", 3]);
        let p = dataset(d.path(), &[wrong]);
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("`tests[1]`") && e.contains("a number"), "{e}");

        let mut bad_repo = row();
        bad_repo["repo"] = "not a repo".into();
        let p = dataset(d.path(), &[bad_repo]);
        assert!(read(&p).unwrap_err().to_string().contains("`repo`"));

        let p = dataset(d.path(), &[row(), row()]);
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("already appears at line 1"),
            "{e}"
        );
    }

    #[test]
    fn tests_stored_as_a_json_string_are_accepted() {
        let d = tempfile::tempdir().unwrap();
        let mut r = row();
        r["tests"] = serde_json::Value::String("[\"a\", \"b\", \"c\"]".into());
        let p = dataset(d.path(), &[r]);
        assert_eq!(read(&p).unwrap()[0].tests.len(), 3);
    }
}
