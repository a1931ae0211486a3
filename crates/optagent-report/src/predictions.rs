//! Exporting patches in the prediction format GSO and SWE-fficiency take: JSONL, one line per
//! prediction, `{"instance_id", "model_patch", "model_name_or_path"}`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};
use crate::record::{record_key, RecordKey, RolloutRecord};
use crate::summary::best_rollout;

/// Which rollouts become predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Per (task, model): the best correct rollout (reached the expert, then fastest), else the
    /// first rollout with a patch.
    Best,
    /// Every rollout with a patch.
    All,
    /// Per (task, model): the first rollout (lowest index), skipped when it has no patch (the
    /// benchmarks count a missing prediction as a failure). This is the Opt@1 submission.
    First,
}

/// One line of a predictions file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub instance_id: String,
    pub model_patch: String,
    pub model_name_or_path: String,
}

fn prediction(r: &RolloutRecord) -> Option<Prediction> {
    Some(Prediction {
        instance_id: r.task.clone(),
        model_patch: r.diff()?.to_string(),
        model_name_or_path: r.model.clone(),
    })
}

/// The predictions `pick` selects, ordered by task, then model (then agent, budget and rollout
/// for [`Pick::All`]). Rollouts of every agent and budget of a model compete; pass one
/// configuration's records to export that configuration alone. A repeated record key keeps its
/// last line.
pub fn predictions(records: &[RolloutRecord], pick: Pick) -> Vec<Prediction> {
    let mut latest: BTreeMap<RecordKey, &RolloutRecord> = BTreeMap::new();
    for r in records {
        latest.insert(record_key(r), r);
    }
    if pick == Pick::All {
        return latest.values().filter_map(|r| prediction(r)).collect();
    }
    let mut by_task_model: BTreeMap<(&str, &str), Vec<&RolloutRecord>> = BTreeMap::new();
    for r in latest.values() {
        by_task_model
            .entry((r.task.as_str(), r.model.as_str()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for runs in by_task_model.values_mut() {
        // First = lowest rollout index (then agent, budget, by key order).
        runs.sort_by(|a, b| {
            (a.rollout, &a.agent, &a.budget).cmp(&(b.rollout, &b.agent, &b.budget))
        });
        let chosen = match pick {
            Pick::First => runs.first().copied(),
            Pick::Best => {
                let with_patch: Vec<&RolloutRecord> = runs
                    .iter()
                    .copied()
                    .filter(|r| r.diff().is_some())
                    .collect();
                best_rollout(&with_patch).or_else(|| with_patch.first().copied())
            }
            Pick::All => unreachable!("handled above"),
        };
        out.extend(chosen.and_then(prediction));
    }
    out
}

/// Writes the predictions `pick` selects to `out_path` (JSONL) and returns how many.
pub fn export_predictions(
    records: &[RolloutRecord],
    out_path: impl AsRef<Path>,
    pick: Pick,
) -> Result<usize> {
    let out_path = out_path.as_ref();
    let preds = predictions(records, pick);
    let mut buf = Vec::new();
    for p in &preds {
        serde_json::to_writer(&mut buf, p).map_err(|e| ReportError::Serialize {
            path: out_path.to_path_buf(),
            message: e.to_string(),
        })?;
        buf.push(b'\n');
    }
    if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    }
    let mut f = std::fs::File::create(out_path).map_err(|e| ReportError::io(out_path, e))?;
    f.write_all(&buf)
        .and_then(|_| f.flush())
        .map_err(|e| ReportError::io(out_path, e))?;
    Ok(preds.len())
}
