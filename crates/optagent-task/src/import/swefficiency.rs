//! SWE-fficiency's dataset rows as task folders (`optagent import swefficiency`).
//!
//! The schema is the one SWE-fficiency publishes on Hugging Face (`swefficiency/swefficiency`,
//! split `test`), built by its repository's `scripts/annotate/curate/upload_to_huggingface.py`
//! and `analysis/adhoc/old_hf_dataset/set_ground_truth.py` (`swefficiency/swefficiency` on
//! GitHub): SWE-bench's fields (`repo, instance_id, base_commit, patch, test_patch,
//! problem_statement, hints_text, created_at, version, PASS_TO_PASS, FAIL_TO_PASS,
//! environment_setup_commit`) plus `workload, speedup, covering_tests, test_cmd, rebuild_cmd,
//! image_name, single_thread_tests` (and `notes` in older uploads).
//!
//! Each row becomes `<out>/<instance_id>/`:
//! - `task.toml`: the source is `https://github.com/<repo>` at `base_commit`; the expert is the
//!   row's `patch` (`expert.diff`); the id is the instance id, so `optagent export` writes
//!   predictions SWE-fficiency's harness accepts (`instance_id, model_patch, model_name_or_path`).
//! - one workload, the row's `workload` script, run as SWE-fficiency runs it (`python
//!   workload.py`) with `protocol = "swefficiency"`: the time is the `Mean:` the script prints.
//!   The script is inlined in the command (a here-document), so the agent's workspace needs no
//!   view of the task folder, which holds the expert's patch.
//! - `swefficiency_tests.py` and `swefficiency_tests.json`: the task's test command, which runs
//!   `test_cmd` over the covering test files and requires every `PASS_TO_PASS` test to pass, as
//!   SWE-fficiency's report decides correctness.
//! - `rebuild.sh`: `rebuild_cmd`, run as the build after every patch (SWE-fficiency runs it before
//!   every evaluation, to rebuild compiled extensions).
//! - `setup.sh`: makes `.swefficiency/activate`, which puts the conda environment of
//!   SWE-fficiency's images (`/opt/miniconda3/envs/testbed`) first on `PATH` where it exists;
//!   `[sandbox] image` is the row's `image_name`. Elsewhere the machine's `python` must provide
//!   the repository's dependencies.
//! - `workload.py` (for reading) and `swefficiency.json`: the row's other fields, less
//!   `problem_statement`, `hints_text` and `patch`, which describe the expert's change.

use std::path::Path;

use serde_json::Value;

use super::{
    read_rows, task_folder, task_id, toml_list, toml_str, write, Fields, ImportError, Imported,
};

/// Every field of SWE-fficiency's published schema.
pub const FIELDS: &[&str] = &[
    "repo",
    "instance_id",
    "base_commit",
    "patch",
    "test_patch",
    "problem_statement",
    "hints_text",
    "created_at",
    "version",
    "PASS_TO_PASS",
    "FAIL_TO_PASS",
    "environment_setup_commit",
    "workload",
    "speedup",
    "covering_tests",
    "test_cmd",
    "rebuild_cmd",
    "image_name",
    "single_thread_tests",
    "notes",
];

/// The test checker written into every task folder.
pub const TESTS_SCRIPT: &str = include_str!("swefficiency_tests.py");

/// Seconds per workload run: SWE-fficiency recommends generous limits (its tasks run for up to
/// three hours in all).
pub const WORKLOAD_TIMEOUT: u64 = 1800;

const HEREDOC: &str = "SWEFFICIENCY_WORKLOAD_EOF";

/// One row, checked.
#[derive(Debug, Clone)]
pub struct SwefficiencyInstance {
    pub line: usize,
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    pub patch: String,
    pub workload: String,
    pub covering_tests: Vec<String>,
    pub pass_to_pass: Vec<String>,
    pub single_thread_tests: Vec<String>,
    pub test_cmd: String,
    pub rebuild_cmd: String,
    pub image_name: Option<String>,
    pub version: Option<String>,
    pub created_at: Option<String>,
    pub environment_setup_commit: Option<String>,
    pub speedup: Option<f64>,
}

/// Read and check every row of a SWE-fficiency dataset file.
pub fn read(path: &Path) -> Result<Vec<SwefficiencyInstance>, ImportError> {
    let rows = read_rows(path)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let f = Fields { path, row };
        f.only(FIELDS)?;
        let instance_id = f.string("instance_id", true)?;
        task_id(&instance_id).map_err(|e| f.error("instance_id", e.to_string()))?;
        let repo = f.string("repo", true)?;
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| task_id(p).is_err()) {
            return Err(f.error(
                "repo",
                format!("expected OWNER/NAME of a GitHub repository, found {repo:?}"),
            ));
        }
        let base_commit = f.string("base_commit", true)?;
        if base_commit.chars().any(char::is_whitespace) {
            return Err(f.error(
                "base_commit",
                format!("expected a revision, found {base_commit:?}"),
            ));
        }
        let patch = f.string("patch", true)?;
        if !patch.contains("\n+++ ") && !patch.starts_with("+++ ") {
            return Err(f.error("patch", "not a unified diff (no `+++ ` line)"));
        }
        let workload = f.string("workload", true)?;
        // SWE-fficiency's harness treats "nan" (an empty spreadsheet cell) as no workload.
        if workload.trim() == "nan" {
            return Err(f.error("workload", "\"nan\": the row has no workload script"));
        }
        if workload.lines().any(|l| l.trim() == HEREDOC) {
            return Err(f.error(
                "workload",
                format!("contains the line {HEREDOC}, which optagent uses to inline the script"),
            ));
        }
        let covering_tests = f.strings("covering_tests", true)?;
        if covering_tests.is_empty() {
            return Err(f.error(
                "covering_tests",
                "empty (SWE-fficiency keeps only instances with covering tests)",
            ));
        }
        let pass_to_pass = f.strings("PASS_TO_PASS", true)?;
        let test_cmd = f.string("test_cmd", true)?;
        if shell_words::split(&test_cmd).is_err() {
            return Err(f.error("test_cmd", format!("not a command line: {test_cmd:?}")));
        }
        let speedup = match row.fields.get("speedup") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| f.error("speedup", format!("{s:?} is not a number")))?,
            ),
            Some(_) => return Err(f.error("speedup", "expected a number")),
        };
        let inst = SwefficiencyInstance {
            line: row.line,
            instance_id,
            repo,
            base_commit,
            patch,
            workload,
            covering_tests,
            pass_to_pass,
            single_thread_tests: f.strings("single_thread_tests", false)?,
            test_cmd,
            rebuild_cmd: f.opt_string("rebuild_cmd")?.unwrap_or_default(),
            image_name: f.opt_string("image_name")?.filter(|s| !s.trim().is_empty()),
            version: f.opt_string("version")?,
            created_at: f.opt_string("created_at")?,
            environment_setup_commit: f.opt_string("environment_setup_commit")?,
            speedup,
        };
        // Checked for type only; not written (they describe the expert's change or the PR).
        for field in ["test_patch", "problem_statement", "hints_text", "notes"] {
            f.opt_string(field)?;
        }
        f.strings("FAIL_TO_PASS", false)?;
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

/// The workload's name: the repository's package, then `workload` (SWE-fficiency has one
/// workload per instance, named by no API).
pub fn workload_name(inst: &SwefficiencyInstance) -> String {
    let name = inst.repo.split('/').next_back().unwrap_or("repo");
    let pkg: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    format!("{pkg}.workload")
}

/// The workload command: the script inlined, run with `python` as SWE-fficiency runs it.
pub fn workload_command(inst: &SwefficiencyInstance) -> String {
    let mut s = inst.workload.clone();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    format!("python - <<'{HEREDOC}'\n{s}{HEREDOC}")
}

fn instruction(inst: &SwefficiencyInstance) -> String {
    format!(
        "Make the workload below faster in {} without changing the library's behaviour: the \
         repository's own tests that cover the code must still pass. The workload is timed as \
         written (the mean of its `timeit.repeat` runs):\n\n```python\n{}\n```\n",
        inst.repo,
        inst.workload.trim_end()
    )
}

const SETUP: &str = r#"#!/bin/sh
# Written by `optagent import swefficiency`: SWE-fficiency's images keep the repository's
# environment in conda's `testbed`; put it first on PATH wherever it exists.
set -eu
mkdir -p .swefficiency
cat > .swefficiency/activate <<'ACTIVATE'
if [ -d /opt/miniconda3/envs/testbed/bin ]; then
  PATH="/opt/miniconda3/envs/testbed/bin:$PATH"
  export PATH
fi
ACTIVATE
"#;

fn rebuild_script(inst: &SwefficiencyInstance) -> String {
    format!(
        "#!/bin/bash\n# SWE-fficiency's rebuild command of {}, run after every patch.\nset -euo pipefail\n{}\n",
        inst.instance_id,
        inst.rebuild_cmd.trim_end()
    )
}

fn task_toml(inst: &SwefficiencyInstance) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# Imported from SWE-fficiency's dataset (instance {}) by `optagent import swefficiency`.\n",
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
    t.push_str("[expert]\npatch = \"expert.diff\"\n\n");
    t.push_str("[build]\n");
    t.push_str(&format!(
        "setup = {}\n",
        toml_list(&["sh \"$OPTAGENT_TASK_DIR/setup.sh\"".to_string()])
    ));
    t.push_str("activate = \".swefficiency/activate\"\n");
    if !inst.rebuild_cmd.trim().is_empty() {
        t.push_str(&format!(
            "commands = {}\n",
            toml_list(&["bash \"$OPTAGENT_TASK_DIR/rebuild.sh\"".to_string()])
        ));
    }
    t.push_str("timeout = 3600\n\n");
    t.push_str("[tests]\n");
    t.push_str(&format!(
        "commands = {}\n",
        toml_list(&[
            "python \"$OPTAGENT_TASK_DIR/swefficiency_tests.py\" \"$OPTAGENT_TASK_DIR\""
                .to_string()
        ])
    ));
    t.push_str("timeout = 3600\n\n");
    t.push_str("[measure]\n");
    t.push_str(&format!("timeout = {WORKLOAD_TIMEOUT}\n"));
    if let Some(image) = &inst.image_name {
        t.push_str("\n[sandbox]\n");
        t.push_str(&format!("image = {}\n", toml_str(image)));
    }
    t.push_str("\n[[workloads]]\n");
    t.push_str(&format!("name = {}\n", toml_str(&workload_name(inst))));
    t.push_str(&format!(
        "command = {}\n",
        toml_str(&workload_command(inst))
    ));
    t.push_str("protocol = \"swefficiency\"\n");
    t
}

fn metadata(inst: &SwefficiencyInstance) -> String {
    let v = serde_json::json!({
        "instance_id": inst.instance_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "version": inst.version,
        "created_at": inst.created_at,
        "environment_setup_commit": inst.environment_setup_commit,
        "speedup": inst.speedup,
        "image_name": inst.image_name,
        "test_cmd": inst.test_cmd,
        "rebuild_cmd": inst.rebuild_cmd,
        "covering_tests": inst.covering_tests.len(),
        "PASS_TO_PASS": inst.pass_to_pass.len(),
        "single_thread_tests": inst.single_thread_tests,
    });
    serde_json::to_string_pretty(&v).expect("plain JSON") + "\n"
}

fn tests_spec(inst: &SwefficiencyInstance) -> String {
    let v = serde_json::json!({
        "test_cmd": inst.test_cmd,
        "covering_tests": inst.covering_tests,
        "PASS_TO_PASS": inst.pass_to_pass,
    });
    serde_json::to_string_pretty(&v).expect("plain JSON") + "\n"
}

/// Write one instance's task folder under `out`.
pub fn write_task(
    inst: &SwefficiencyInstance,
    out: &Path,
    force: bool,
) -> Result<Imported, ImportError> {
    let dir = task_folder(out, &inst.instance_id, force)?;
    let mut patch = inst.patch.clone();
    if !patch.ends_with('\n') {
        patch.push('\n');
    }
    write(&dir.join("expert.diff"), &patch)?;
    write(&dir.join("workload.py"), &inst.workload)?;
    write(&dir.join("setup.sh"), SETUP)?;
    if !inst.rebuild_cmd.trim().is_empty() {
        write(&dir.join("rebuild.sh"), &rebuild_script(inst))?;
    }
    write(&dir.join("swefficiency_tests.py"), TESTS_SCRIPT)?;
    write(&dir.join("swefficiency_tests.json"), &tests_spec(inst))?;
    write(&dir.join("swefficiency.json"), &metadata(inst))?;
    write(&dir.join("task.toml"), &task_toml(inst))?;
    crate::Task::load(&dir).map_err(|source| ImportError::Invalid {
        path: dir.clone(),
        source,
    })?;
    Ok(Imported {
        id: inst.instance_id.clone(),
        dir,
        workloads: 1,
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

    /// A row in SWE-fficiency's published schema (values shaped like the dataset's).
    fn row() -> Value {
        serde_json::json!({
            "repo": "example/tiny",
            "instance_id": "example__tiny-101",
            "base_commit": "abc1234",
            "patch": "diff --git a/tiny/core.py b/tiny/core.py\n--- a/tiny/core.py\n+++ b/tiny/core.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
            "test_patch": "",
            "problem_statement": "PERF: make total faster",
            "hints_text": "",
            "created_at": "2023-04-05T06:07:08Z",
            "version": "1.0",
            "PASS_TO_PASS": ["tests/test_core.py::test_total", "tests/test_core.py::test_big[3]"],
            "FAIL_TO_PASS": [],
            "environment_setup_commit": "abc1234",
            "workload": "import timeit\nimport statistics\n\ndef workload():\n    pass\n\nruntimes = timeit.repeat(workload, number=1, repeat=5)\nprint(\"Mean:\", statistics.mean(runtimes))\nprint(\"Std Dev:\", statistics.stdev(runtimes))\n",
            "speedup": 1.8,
            "covering_tests": ["/testbed/tests/test_core.py"],
            "test_cmd": "pytest --no-header -rA --tb=no -p no:cacheprovider",
            "rebuild_cmd": "python -m pip install -e . --no-build-isolation",
            "image_name": "ghcr.io/swefficiency/swefficiency-images:example__tiny-101",
            "single_thread_tests": []
        })
    }

    fn dataset(d: &Path, rows: &[Value]) -> std::path::PathBuf {
        let p = d.join("swefficiency.jsonl");
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
        let t = Task::load(&done[0].dir).unwrap();
        assert_eq!(t.id(), "example__tiny-101");
        assert_eq!(
            t.spec.source.git.as_deref(),
            Some("https://github.com/example/tiny")
        );
        assert_eq!(t.spec.source.rev.as_deref(), Some("abc1234"));
        assert_eq!(t.spec.expert.patch.as_deref(), Some("expert.diff"));
        assert_eq!(
            std::fs::read_to_string(t.dir.join("expert.diff")).unwrap(),
            row()["patch"].as_str().unwrap()
        );
        assert_eq!(t.spec.workloads.len(), 1);
        let w = &t.spec.workloads[0];
        assert_eq!(w.name, "tiny.workload");
        assert_eq!(w.protocol, Protocol::Swefficiency);
        assert!(w
            .command
            .starts_with("python - <<'SWEFFICIENCY_WORKLOAD_EOF'\nimport timeit\n"));
        assert!(w.command.ends_with("\nSWEFFICIENCY_WORKLOAD_EOF"));
        assert!(!w.command.contains("OPTAGENT_TASK_DIR"), "{}", w.command);
        assert!(t.spec.instruction.contains("timeit.repeat(workload"));
        assert!(!t.spec.instruction.contains("PERF: make total faster"));
        assert_eq!(
            t.spec.sandbox.image.as_deref(),
            Some("ghcr.io/swefficiency/swefficiency-images:example__tiny-101")
        );
        assert_eq!(t.spec.build.commands.len(), 1);
        let rebuild = std::fs::read_to_string(t.dir.join("rebuild.sh")).unwrap();
        assert!(rebuild.contains("\npython -m pip install -e . --no-build-isolation\n"));
        let spec: Value = serde_json::from_str(
            &std::fs::read_to_string(t.dir.join("swefficiency_tests.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(spec["PASS_TO_PASS"].as_array().unwrap().len(), 2);
        let meta = std::fs::read_to_string(t.dir.join("swefficiency.json")).unwrap();
        assert!(!meta.contains("PERF: make total faster") && !meta.contains("+x = 2"));
        // Again without --force: refused, naming the folder.
        let e = import(&p, &out, false).unwrap_err().to_string();
        assert!(
            e.contains("example__tiny-101") && e.contains("--force"),
            "{e}"
        );
        assert!(import(&p, &out, true).is_ok());
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_name_the_row_and_the_field() {
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
        for field in [
            "workload",
            "covering_tests",
            "PASS_TO_PASS",
            "patch",
            "test_cmd",
        ] {
            let mut missing = row();
            missing.as_object_mut().unwrap().remove(field);
            let p = dataset(d.path(), &[missing]);
            let e = read(&p).unwrap_err().to_string();
            assert!(
                e.contains("line 1") && e.contains(&format!("`{field}`")) && e.contains("missing"),
                "{e}"
            );
        }
        let mut wrong = row();
        wrong["PASS_TO_PASS"] = serde_json::json!(["ok", 3]);
        let p = dataset(d.path(), &[wrong]);
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("`PASS_TO_PASS[1]`") && e.contains("a number"),
            "{e}"
        );
        let mut nan = row();
        nan["workload"] = "nan".into();
        let p = dataset(d.path(), &[nan]);
        assert!(read(&p).unwrap_err().to_string().contains("no workload"));
        let mut speed = row();
        speed["speedup"] = serde_json::json!([1]);
        let p = dataset(d.path(), &[speed]);
        assert!(read(&p).unwrap_err().to_string().contains("`speedup`"));
        let mut not_diff = row();
        not_diff["patch"] = "just words".into();
        let p = dataset(d.path(), &[not_diff]);
        assert!(read(&p).unwrap_err().to_string().contains("unified diff"));
    }

    #[test]
    fn lists_stored_as_json_strings_are_accepted() {
        // SWE-bench-style exports keep list fields as JSON text.
        let d = tempfile::tempdir().unwrap();
        let mut r = row();
        r["PASS_TO_PASS"] = Value::String("[\"a::b\", \"a::c\"]".into());
        r["FAIL_TO_PASS"] = Value::String("[]".into());
        let p = dataset(d.path(), &[r]);
        assert_eq!(read(&p).unwrap()[0].pass_to_pass, ["a::b", "a::c"]);
    }
}
