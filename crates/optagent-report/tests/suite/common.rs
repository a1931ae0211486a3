//! Shared fixtures: the hand-written 3 tasks x 4 rollouts results file and helpers.

use std::path::PathBuf;

use optagent_report::{read_records, RolloutRecord};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// alpha [T,F,T,F], beta [F,F,F,T], gamma [F,F,F,F] (see tests/fixtures/make_results.py).
pub fn results() -> Vec<RolloutRecord> {
    read_records(fixture("results-3x4.jsonl")).expect("fixture reads")
}

pub fn tasks(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `a` (a figure, or a figure that may be undefined) is defined and within 1e-12 of `b`.
pub fn close(a: impl Into<Option<f64>>, b: f64) -> bool {
    a.into().is_some_and(|a| (a - b).abs() <= 1e-12)
}

#[track_caller]
pub fn assert_close(a: impl Into<Option<f64>> + Copy + std::fmt::Debug, b: f64) {
    assert!(close(a, b), "{a:?} != {b}");
}

/// The workspace's `evals/` folder.
pub fn evals(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../evals")
        .join(name)
}

/// The same records under another configuration.
pub fn as_config(records: &[RolloutRecord], model: &str, budget: &str) -> Vec<RolloutRecord> {
    records
        .iter()
        .cloned()
        .map(|mut r| {
            r.model = model.to_string();
            r.budget = budget.to_string();
            r
        })
        .collect()
}
