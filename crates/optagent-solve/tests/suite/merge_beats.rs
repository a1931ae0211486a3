//! When a merged patch beats a single one: a higher geometric mean, and a workload on which the
//! merged patch is significantly faster than the single one.

use optagent_eval::{EvalReport, WorkloadReport};
use optagent_solve::merge::{beats, NotBetter};
use serde_json::json;

use super::common::report;

/// A workload whose patch ran `runs` (seconds), with speedup interval `ci`.
fn workload(name: &str, runs: &[f64], ci: [f64; 2]) -> WorkloadReport {
    let stat = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        json!({"n": s.len(), "median": s[s.len() / 2], "mean": s.iter().sum::<f64>() / s.len() as f64,
               "mad": 0.0, "min": s[0], "max": s[s.len() - 1]})
    };
    serde_json::from_value(json!({
        "name": name, "visible": true,
        "baseline": stat(&[1.0; 5]), "expert": stat(&[0.5; 5]), "patch": stat(runs),
        "speedup": (ci[0] + ci[1]) / 2.0, "speedup_ci": ci,
        "expert_speedup": 2.0, "expert_speedup_ci": [1.9, 2.1], "advantage": 0.0,
        "p_value": 0.001, "significant": true, "expert_p_value": 0.001,
        "expert_significant": true, "reps": runs.len(), "stop": "fixed"
    }))
    .expect("a complete WorkloadReport")
}

fn with(speedup: f64, w: Vec<WorkloadReport>) -> EvalReport {
    let mut r = report("p", "ok", None, speedup, 1);
    r.workloads = w;
    r
}

#[test]
fn runs_that_all_beat_the_single_patchs_count_where_the_intervals_overlap() {
    // Regression (CI, load 2): merged 4.0x against the single patch's 2.1x, intervals overlapping
    // through the baseline's noise, although every merged run was faster than every single run.
    let merged = with(
        4.0,
        vec![workload("w", &[0.20, 0.21, 0.22, 0.23, 0.24], [2.0, 6.0])],
    );
    let single = with(
        2.1,
        vec![workload("w", &[0.40, 0.42, 0.45, 0.5, 0.6], [1.5, 3.0])],
    );
    assert!(beats(&merged, &single).is_ok());
    // One single run as fast as a merged one: no longer the extreme outcome, and the intervals
    // still overlap.
    let single = with(
        2.1,
        vec![workload("w", &[0.21, 0.42, 0.45, 0.5, 0.6], [1.5, 3.0])],
    );
    assert!(matches!(
        beats(&merged, &single),
        Err(NotBetter::NotSignificant { .. })
    ));
    // Three runs each are too few for the extreme outcome to be significant at 0.01 (p = 0.1).
    let merged = with(4.0, vec![workload("w", &[0.20, 0.21, 0.22], [2.0, 6.0])]);
    let single = with(2.1, vec![workload("w", &[0.40, 0.42, 0.45], [1.5, 3.0])]);
    assert!(beats(&merged, &single).is_err());
}

#[test]
fn disjoint_intervals_are_enough_and_a_lower_mean_never_is() {
    let merged = with(4.0, vec![workload("w", &[0.2, 0.5, 0.2], [3.5, 5.0])]);
    let single = with(2.0, vec![workload("w", &[0.3, 0.4, 0.5], [1.5, 3.0])]);
    assert!(beats(&merged, &single).is_ok());
    assert!(matches!(
        beats(&single, &merged),
        Err(NotBetter::NotFaster { .. })
    ));
}
