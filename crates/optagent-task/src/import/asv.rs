//! A repository's ASV benchmarks as a task's workloads (`optagent import asv`), FormulaCode's
//! source of workloads.
//!
//! `asv_workload.py` (written into the task folder) discovers the suite as asv_runner does and
//! names each benchmark and parameter combination as asv does (`module.Class.time_x(1, 'a')`, the
//! form `asv compare` prints; FormulaCode's workloads carry these names, which give the L1-L4
//! levels of docs/task-format.md). Each becomes one `[[workloads]]` entry of the task, run in a
//! fresh process with optagent's protocol: setup, asv-style timing, teardown, the median seconds
//! per call written to `$OPTAGENT_OUTPUT`. The asv package is not needed, at import or at run time.

use std::path::{Path, PathBuf};

use super::{toml_str, write, ImportError};

/// The runner written into the task folder.
pub const RUNNER: &str = include_str!("asv_workload.py");

/// One benchmark at one parameter combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsvWorkload {
    /// asv's name, with the parameters: `module.Class.time_x(10, 'a')`.
    pub name: String,
    /// The benchmark without parameters.
    pub benchmark: String,
    /// The combination's index in asv's order (`itertools.product` of the params).
    pub index: usize,
}

/// What to import.
#[derive(Debug, Clone)]
pub struct AsvImport {
    /// The suite in a checkout of the task's repository (at its base revision).
    pub benchmarks: PathBuf,
    /// The task folder whose `task.toml` gains the workloads.
    pub task: PathBuf,
    /// Keep only benchmarks whose name (with parameters) contains one of these.
    pub filters: Vec<String>,
    /// The Python that imports the suite for discovery.
    pub python: String,
}

/// The folder holding `.git` above `p`, and `p` relative to it.
fn in_repository(p: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut cur = Some(p);
    while let Some(dir) = cur {
        if dir.join(".git").exists() {
            return Some((dir.to_path_buf(), p.strip_prefix(dir).ok()?.to_path_buf()));
        }
        cur = dir.parent();
    }
    None
}

/// Discover the suite's workloads with `python asv_workload.py list`.
pub fn discover(
    python: &str,
    benchmarks: &Path,
    repo: &Path,
) -> Result<Vec<AsvWorkload>, ImportError> {
    let tmp = std::env::temp_dir().join(format!("optagent-asv-{}.py", std::process::id()));
    write(&tmp, RUNNER)?;
    let out = std::process::Command::new(python)
        .arg(&tmp)
        .arg("list")
        .arg(benchmarks)
        .current_dir(repo)
        .env("PYTHONPATH", repo)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output();
    let _ = std::fs::remove_file(&tmp);
    let parse = |message: String| ImportError::Parse {
        path: benchmarks.to_path_buf(),
        message,
    };
    let out = out.map_err(|e| parse(format!("cannot run `{python}`: {e}")))?;
    if !out.status.success() {
        return Err(parse(format!(
            "discovering the suite with `{python}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| parse(format!("discovery printed {line:?}: {e}")))?;
        let (Some(name), Some(benchmark), Some(index)) = (
            v["name"].as_str(),
            v["benchmark"].as_str(),
            v["index"].as_u64(),
        ) else {
            return Err(parse(format!("discovery printed {line:?}")));
        };
        found.push(AsvWorkload {
            name: name.to_string(),
            benchmark: benchmark.to_string(),
            index: index as usize,
        });
    }
    Ok(found)
}

/// The workload command for one benchmark combination.
pub fn command(bench_rel: &str, w: &AsvWorkload) -> String {
    format!(
        "python \"$OPTAGENT_TASK_DIR/asv_workload.py\" run {} {} {}",
        shell_words::quote(bench_rel),
        shell_words::quote(&w.benchmark),
        w.index
    )
}

/// Add the suite's workloads to the task: discovered from `imp.benchmarks`, appended to its
/// `task.toml`, the runner written next to it. Returns the workloads added.
pub fn import(imp: &AsvImport) -> Result<Vec<AsvWorkload>, ImportError> {
    // The task may have no workload yet (Task::load would refuse it): read the names only.
    let toml_path = imp.task.join("task.toml");
    let mut text = std::fs::read_to_string(&toml_path).map_err(|source| ImportError::Read {
        path: toml_path.clone(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ImportError::Parse {
        path: toml_path.clone(),
        message: format!("not TOML: {e}"),
    })?;
    let existing: Vec<String> = table
        .get("workloads")
        .and_then(|w| w.as_array())
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let benchmarks = imp
        .benchmarks
        .canonicalize()
        .map_err(|source| ImportError::Read {
            path: imp.benchmarks.clone(),
            source,
        })?;
    let (repo, rel) = in_repository(&benchmarks).ok_or_else(|| ImportError::Parse {
        path: benchmarks.clone(),
        message: "not inside a git checkout (expected the suite in a clone of the task's \
                  repository)"
            .into(),
    })?;
    let rel = rel.to_string_lossy().into_owned();
    let mut found = discover(&imp.python, &benchmarks, &repo)?;
    if !imp.filters.is_empty() {
        found.retain(|w| imp.filters.iter().any(|f| w.name.contains(f.as_str())));
    }
    if found.is_empty() {
        return Err(ImportError::Parse {
            path: benchmarks,
            message: if imp.filters.is_empty() {
                "no time_ benchmarks found".into()
            } else {
                format!("no time_ benchmark matches {:?}", imp.filters)
            },
        });
    }
    for w in &found {
        if existing.contains(&w.name) {
            return Err(ImportError::Parse {
                path: toml_path.clone(),
                message: format!("already has a workload named {:?}", w.name),
            });
        }
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n# From the ASV suite {rel} by `optagent import asv` ({} workload(s)).\n",
        found.len()
    ));
    for w in &found {
        text.push_str("\n[[workloads]]\n");
        text.push_str(&format!("name = {}\n", toml_str(&w.name)));
        text.push_str(&format!("command = {}\n", toml_str(&command(&rel, w))));
    }
    write(&imp.task.join("asv_workload.py"), RUNNER)?;
    write(&toml_path, &text)?;
    crate::Task::load(&imp.task).map_err(|source| ImportError::Invalid {
        path: imp.task.clone(),
        source,
    })?;
    Ok(found)
}
