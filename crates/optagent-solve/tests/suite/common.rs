//! Synthetic evaluation reports: every field a real report has, built from JSON so that fields
//! added later with `#[serde(default)]` need no change here.

use optagent_eval::EvalReport;
use serde_json::{json, Value};

/// A report of candidate `label` with `verdict`, geometric-mean `speedup` and `improvements`
/// significant faster workloads (`reason` for a failed one).
pub fn report(
    label: &str,
    verdict: &str,
    reason: Option<&str>,
    speedup: f64,
    improvements: usize,
) -> EvalReport {
    let correct = verdict == "ok";
    let v: Value = json!({
        "task": "t",
        "patch": label,
        "verdict": verdict,
        "reason": reason,
        "correct": correct,
        "metric": "time",
        "speedup": speedup,
        "expert_speedup": 2.0,
        "opt_base": correct && speedup >= 1.2,
        "opt_commit": false,
        "opt_p": 0.95,
        "hmean_expert_over_patch": 2.0 / speedup,
        "speedup_ratio": speedup / 2.0,
        "advantage": {"l1": 0.0, "l2": 0.0, "l3": 0.0, "l4": 0.0},
        "improvements": improvements,
        "regressions": 0,
        "threshold": 0.05,
        "confidence": 0.95,
        "alpha": 0.01,
        "apply_method": null,
        "guard_flags": [],
        "workloads": [],
        "machine": {"cores": 2, "load1_start": null, "load1_end": null, "pinned_cpus": [], "sandbox": "local"},
        "timing": {"total_wall_s": 1.0, "runs_wall_s": 1.0, "runs": 1, "session_wall_s": 1.0, "overhead_ratio": 0.0}
    });
    serde_json::from_value(v).expect("a complete EvalReport")
}
