//! Choosing the best verified candidate from an evaluation of several, and saying why each other
//! one lost.

use optagent_eval::render::Figure;
use optagent_eval::{EvalReport, Verdict};
use serde::{Deserialize, Serialize};

/// What selection decided for one rollout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", content = "why", rename_all = "snake_case")]
pub enum Choice {
    Selected,
    NoPatch,
    Incorrect(String),
    NotSignificant,
    Slower(String),
    /// Correct and faster by its figures, but an integrity check flagged it.
    Flagged(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    /// Index (into the reports) of the selected candidate.
    pub best: Option<usize>,
    pub choices: Vec<Choice>,
}

/// A candidate is verified ([`optagent_eval::is_verified`]) when it is correct, at least one
/// workload is significantly faster by the threshold, its geometric-mean speedup is above 1 and no
/// integrity check flagged it; the best verified one has the highest geometric-mean speedup. A
/// significant regression on some workload does not disqualify a candidate (trade-offs are real,
/// as in the multi-objective tasks); the report counts them. A flagged candidate keeps its
/// figures but is never selected.
pub fn select_best(reports: &[EvalReport]) -> Selection {
    let verified = optagent_eval::is_verified;
    let best = reports
        .iter()
        .enumerate()
        .filter(|(_, r)| verified(r))
        // Verified implies a defined speedup above 1.
        .max_by(|a, b| {
            let key = |r: &EvalReport| r.speedup.unwrap_or(f64::NEG_INFINITY);
            key(a.1).total_cmp(&key(b.1))
        })
        .map(|(i, _)| i);
    let choices = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if Some(i) == best {
                Choice::Selected
            } else if r.verdict != Verdict::Ok {
                Choice::Incorrect(format!(
                    "{}: {}",
                    r.verdict.as_str(),
                    r.reason
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                ))
            } else if !r.integrity.flags.is_empty() {
                let f = &r.integrity.flags[0];
                Choice::Flagged(format!(
                    "{}{}: {}",
                    f.kind.as_str(),
                    f.workload
                        .as_deref()
                        .map(|w| format!(" on {w}"))
                        .unwrap_or_default(),
                    f.detail
                ))
            } else if !verified(r) {
                Choice::NotSignificant
            } else {
                let b = &reports[best.expect("a verified candidate exists")];
                Choice::Slower(format!(
                    "{:.3}x against the selected {:.3}x",
                    Figure(r.speedup),
                    Figure(b.speedup)
                ))
            }
        })
        .collect();
    Selection { best, choices }
}
