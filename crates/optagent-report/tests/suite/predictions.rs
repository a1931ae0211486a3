//! The prediction export GSO and SWE-fficiency take.

use optagent_report::{export_predictions, predictions, Pick, Prediction};

use super::common::*;

fn read(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn best_pick_format_and_choice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preds/best.jsonl");
    let n = export_predictions(&results(), &out, Pick::Best).unwrap();
    assert_eq!(n, 3);
    let lines = read(&out);
    assert_eq!(lines.len(), 3);
    for l in &lines {
        let obj = l.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["instance_id", "model_name_or_path", "model_patch"]);
        assert_eq!(obj["model_name_or_path"], "openai/gpt-5-mini");
    }
    // alpha: best verified r2; beta: r3 (not the incorrect "5x" r1); gamma: nothing verified,
    // so the first rollout with a patch, r0.
    assert_eq!(lines[0]["instance_id"], "alpha");
    assert!(lines[0]["model_patch"]
        .as_str()
        .unwrap()
        .ends_with("+fast r2\n"));
    assert_eq!(lines[1]["instance_id"], "beta");
    assert!(lines[1]["model_patch"]
        .as_str()
        .unwrap()
        .ends_with("+fast r3\n"));
    assert_eq!(lines[2]["instance_id"], "gamma");
    assert!(lines[2]["model_patch"]
        .as_str()
        .unwrap()
        .ends_with("+fast r0\n"));
}

#[test]
fn first_and_all_picks() {
    let first = predictions(&results(), Pick::First);
    // Every task's rollout 0 has a patch here.
    let ids: Vec<&str> = first.iter().map(|p| p.instance_id.as_str()).collect();
    assert_eq!(ids, ["alpha", "beta", "gamma"]);
    assert!(first.iter().all(|p| p.model_patch.ends_with("+fast r0\n")));
    // A first rollout without a patch is left out, not replaced by a later one.
    let mut recs = results();
    for r in recs
        .iter_mut()
        .filter(|r| r.task == "beta" && r.rollout == 0)
    {
        r.patch = None;
    }
    let first = predictions(&recs, Pick::First);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|p| p.instance_id != "beta"));
    // All: the 8 rollouts with a patch, ordered by task then rollout.
    let all = predictions(&results(), Pick::All);
    assert_eq!(all.len(), 8);
    assert_eq!(
        all[0],
        Prediction {
            instance_id: "alpha".into(),
            model_patch: "--- a/alpha.py\n+++ b/alpha.py\n@@ -1 +1 @@\n-slow\n+fast r0\n".into(),
            model_name_or_path: "openai/gpt-5-mini".into(),
        }
    );
    // Two models: one prediction per (task, model).
    let mut two = results();
    two.extend(as_config(
        &results(),
        "anthropic/claude-sonnet-4",
        "steps50",
    ));
    assert_eq!(predictions(&two, Pick::Best).len(), 6);
}
