//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use optagent_eval::{Candidate, EvalOptions, EvalReport, PatchSource};
use optagent_task::Task;

/// Held by every test that measures time, so two never share the 2 cores at once and skew each
/// other's verdicts (the evaluator's interleaving protects a session against drift, not against a
/// second session started beside it).
pub static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bundled(id: &str) -> Task {
    Task::load(&repo_root().join("tasks").join(id)).expect("bundled task loads")
}

pub fn opts(work: &Path, reps: usize) -> EvalOptions {
    let mut o = EvalOptions::new(work.to_path_buf());
    o.reps = Some(reps);
    o
}

pub fn diff_file(task: &Task, name: &str) -> Candidate {
    let text = std::fs::read_to_string(task.dir.join(name)).expect("diff file");
    Candidate::new(name, PatchSource::Diff(text))
}

pub fn find<'a>(reports: &'a [EvalReport], label: &str) -> &'a EvalReport {
    reports
        .iter()
        .find(|r| r.patch == label)
        .unwrap_or_else(|| panic!("no report for {label}"))
}

/// Write a small task into a folder: files of the bundled source, and the task.toml text.
pub fn write_task(dir: &Path, toml: &str, files: &[(&str, &str)], expert: &str) {
    for (p, c) in files {
        let f = dir.join("repo").join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    std::fs::write(dir.join("expert.diff"), expert).unwrap();
    std::fs::write(dir.join("task.toml"), toml).unwrap();
}
