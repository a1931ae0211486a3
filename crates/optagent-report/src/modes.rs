//! Modes of a sweep (`modes = ["best-of-k", "merge", "rounds:2", "diversify"]` in the sweep
//! config): how one `optagent solve` turns K rollouts into one patch, compared on the same tasks.
//!
//! A mode's run of one task is one solve; its outcome is a [`ModeRecord`], one line of
//! `modes.jsonl` in the sweep's folder. [`mode_summaries`] puts them side by side per (model,
//! budget, mode) and [`modes_markdown`] renders the table: Opt@K, mean speedup, total cost and
//! cost per verified patch.
//!
//! Rules, per task:
//! - *Opt@K* (GSO's oracle any-of-K): any candidate the solve verified (every rollout of every
//!   round, and every merged patch) is verified, not flagged, and reaches the expert (`opt_commit`
//!   with `opt_base`). The share is over all the sweep's tasks; a task without a record fails.
//! - *Speedup*: the speedup of the patch the solve ended with (`best.diff`), 1.0 without one;
//!   the mean is geometric over all the sweep's tasks.
//! - *Cost*: every token and dollar the solve's rollouts spent (all rounds). *Cost per verified
//!   patch*: total cost over the tasks that ended with a verified patch.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use optagent_eval::render::Figure;
use optagent_eval::{is_verified, EvalReport};
use optagent_stats::summary::geomean;
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// The file of mode records in a sweep's folder.
pub const MODES_FILE: &str = "modes.jsonl";

/// How a solve turns K rollouts into one patch: plain best-of-K, or any mix of merging,
/// rounds and strategies. Written `best-of-k`, `merge`, `rounds:R`, `diversify`, or several
/// joined by `+` (`diversify+merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mode {
    pub merge: bool,
    /// Rounds (1: one round).
    pub rounds: usize,
    pub diversify: bool,
}

/// A mode name [`Mode::parse`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("{mode:?}: {rounds:?} is not a number of rounds of at least 2")]
    Rounds { mode: String, rounds: String },
    #[error("{0:?}: expected \"best-of-k\", \"merge\", \"diversify\", \"rounds:R\" (R at least 2), or several joined by \"+\"")]
    Unknown(String),
}

impl Mode {
    /// Parses a mode's name; the error says what is wrong with it.
    pub fn parse(s: &str) -> std::result::Result<Mode, ModeError> {
        let mut m = Mode {
            merge: false,
            rounds: 1,
            diversify: false,
        };
        let s = s.trim();
        if s == "best-of-k" {
            return Ok(m);
        }
        for part in s.split('+').map(str::trim) {
            match part {
                "merge" if !m.merge => m.merge = true,
                "diversify" if !m.diversify => m.diversify = true,
                p if p.starts_with("rounds:") && m.rounds == 1 => {
                    let n = &p["rounds:".len()..];
                    m.rounds = match n.parse::<usize>() {
                        Ok(r) if r >= 2 => r,
                        _ => {
                            return Err(ModeError::Rounds {
                                mode: s.to_string(),
                                rounds: n.to_string(),
                            })
                        }
                    };
                }
                _ => return Err(ModeError::Unknown(s.to_string())),
            }
        }
        Ok(m)
    }

    /// The canonical name (`best-of-k`, `diversify+merge+rounds:2`).
    pub fn label(&self) -> String {
        let mut parts = vec![];
        if self.diversify {
            parts.push("diversify".to_string());
        }
        if self.merge {
            parts.push("merge".to_string());
        }
        if self.rounds > 1 {
            parts.push(format!("rounds:{}", self.rounds));
        }
        if parts.is_empty() {
            "best-of-k".into()
        } else {
            parts.join("+")
        }
    }
}

/// One solve of one task in one mode: a line of `modes.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeRecord {
    pub sweep: String,
    pub task: String,
    pub model: String,
    pub agent: String,
    pub budget: String,
    /// The mode's canonical name ([`Mode::label`]).
    pub mode: String,
    /// Rollouts per round.
    pub k: usize,
    pub rounds: usize,
    /// Rollouts run in all (every round).
    pub rollouts: usize,
    /// Candidates the solve verified (rollouts with a patch, and merged patches).
    pub candidates: usize,
    /// Of those, verified (`optagent_eval::is_verified`).
    pub verified_candidates: usize,
    /// Any verified candidate reached the expert (GSO's Opt over everything the mode tried).
    pub any_succeeded: bool,
    /// Where the patch the solve ended with came from (`rollout 3`, `the merged patch of
    /// rollouts 0+1`); None without one.
    pub selected: Option<String>,
    /// That patch's evaluation.
    pub eval: Option<EvalReport>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub wall_s: f64,
    /// The solve's report, relative to the sweep's folder.
    pub report_path: String,
    pub finished_at: String,
}

impl ModeRecord {
    /// (task, model, agent, budget, mode): what identifies it within a sweep.
    pub fn key(&self) -> (String, String, String, String, String) {
        (
            self.task.clone(),
            self.model.clone(),
            self.agent.clone(),
            self.budget.clone(),
            self.mode.clone(),
        )
    }

    /// The solve ended with a verified patch.
    pub fn verified(&self) -> bool {
        self.eval.as_ref().is_some_and(is_verified)
    }
}

/// `<dir>/modes.jsonl`.
pub fn modes_path(dir: &Path) -> PathBuf {
    dir.join(MODES_FILE)
}

/// Appends one record (one line, synced).
pub fn append_mode_record(path: &Path, r: &ModeRecord) -> Result<()> {
    use std::io::Write;
    let mut line = serde_json::to_vec(r).map_err(|e| ReportError::Serialize {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ReportError::io(path, e))?;
    f.write_all(&line).map_err(|e| ReportError::io(path, e))?;
    f.sync_all().map_err(|e| ReportError::io(path, e))
}

/// Every record of `modes.jsonl` (none when the file is absent); a later record of the same key
/// replaces an earlier one. A line that does not parse is an error naming the file and line,
/// except an unterminated last line (a write cut short), which is skipped.
pub fn read_mode_records(path: &Path) -> Result<Vec<ModeRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(ReportError::io(path, e)),
    };
    let terminated = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut by_key: BTreeMap<_, (usize, ModeRecord)> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ModeRecord>(l) {
            Ok(r) => {
                by_key.insert(r.key(), (i, r));
            }
            Err(_) if i + 1 == lines.len() && !terminated => {
                tracing::warn!(path = %path.display(), line = i + 1, "skipped a truncated last line");
            }
            Err(e) => {
                return Err(ReportError::Serialize {
                    path: path.to_path_buf(),
                    message: format!("line {}: {e}", i + 1),
                })
            }
        }
    }
    let mut v: Vec<(usize, ModeRecord)> = by_key.into_values().collect();
    v.sort_by_key(|(i, _)| *i);
    Ok(v.into_iter().map(|(_, r)| r).collect())
}

/// One mode of one (model, budget) over the sweep's tasks.
#[derive(Debug, Clone, Serialize)]
pub struct ModeSummary {
    pub model: String,
    pub budget: String,
    pub mode: String,
    /// The sweep's tasks (the denominator).
    pub n_tasks: usize,
    /// Tasks with a record.
    pub tasks_run: usize,
    pub rollouts: usize,
    pub candidates: usize,
    pub verified_candidates: usize,
    /// Tasks where any candidate succeeded.
    pub tasks_solved: usize,
    /// `tasks_solved / n_tasks`; `None` without tasks.
    pub opt_at_k: Option<f64>,
    /// Tasks that ended with a verified patch.
    pub verified_tasks: usize,
    /// Geometric mean over all tasks of the final patch's speedup (1.0 without one); `None`
    /// without tasks or where a final patch's speedup is undefined.
    pub mean_speedup: Option<f64>,
    pub tokens: u64,
    pub cost_usd: f64,
    /// `cost_usd / verified_tasks`; None without a verified patch.
    pub cost_per_verified: Option<f64>,
}

/// One summary per (model, budget, mode), in the order the records first name them. `tasks` is
/// the denominator (empty: the tasks the records name).
pub fn mode_summaries(records: &[ModeRecord], tasks: &[String]) -> Vec<ModeSummary> {
    let mut task_list: Vec<String> = tasks.to_vec();
    if task_list.is_empty() {
        for r in records {
            if !task_list.contains(&r.task) {
                task_list.push(r.task.clone());
            }
        }
    }
    let mut order: Vec<(String, String, String)> = vec![];
    for r in records {
        let k = (r.model.clone(), r.budget.clone(), r.mode.clone());
        if !order.contains(&k) {
            order.push(k);
        }
    }
    order
        .into_iter()
        .map(|(model, budget, mode)| {
            let rs: Vec<&ModeRecord> = records
                .iter()
                .filter(|r| {
                    r.model == model
                        && r.budget == budget
                        && r.mode == mode
                        && task_list.contains(&r.task)
                })
                .collect();
            let n_tasks = task_list.len();
            let tasks_solved = rs.iter().filter(|r| r.any_succeeded).count();
            let verified_tasks = rs.iter().filter(|r| r.verified()).count();
            let speedups: Option<Vec<f64>> = task_list
                .iter()
                .map(|t| {
                    rs.iter()
                        .find(|r| &r.task == t)
                        .filter(|r| r.verified())
                        .and_then(|r| r.eval.as_ref())
                        .map_or(Some(1.0), |e| e.speedup)
                })
                .collect();
            let cost_usd: f64 = rs.iter().map(|r| r.cost_usd).sum();
            ModeSummary {
                model,
                budget,
                mode,
                n_tasks,
                tasks_run: rs.len(),
                rollouts: rs.iter().map(|r| r.rollouts).sum(),
                candidates: rs.iter().map(|r| r.candidates).sum(),
                verified_candidates: rs.iter().map(|r| r.verified_candidates).sum(),
                tasks_solved,
                opt_at_k: (n_tasks > 0).then(|| tasks_solved as f64 / n_tasks as f64),
                verified_tasks,
                mean_speedup: speedups.as_deref().and_then(geomean),
                tokens: rs
                    .iter()
                    .map(|r| r.prompt_tokens + r.completion_tokens)
                    .sum(),
                cost_usd,
                cost_per_verified: (verified_tasks > 0).then(|| cost_usd / verified_tasks as f64),
            }
        })
        .collect()
}

/// The modes table as Markdown: one row per (model, budget, mode).
pub fn modes_markdown(summaries: &[ModeSummary]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Modes: Opt@K and speedup against cost\n");
    let _ = writeln!(
        s,
        "Each mode ran one solve per task on the same tasks. Opt@K: any candidate the mode \
         verified (every rollout of every round, and merged patches) reaches the expert, over all \
         tasks. Speedup: of the patch each solve ended with (1.0 without one), geometric mean over \
         all tasks. Cost: every rollout of every round. Cost per verified patch: total cost over \
         the tasks that ended with a verified patch.\n"
    );
    let _ = writeln!(
        s,
        "| model | budget | mode | tasks | rollouts | verified candidates | Opt@K | mean speedup | tokens | total cost | cost per verified patch |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for m in summaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}/{} | {} | {}/{} | {:.1}% ({}/{}) | {:.3}× | {} | ${:.4} | {} |",
            m.model,
            m.budget,
            m.mode,
            m.tasks_run,
            m.n_tasks,
            m.rollouts,
            m.verified_candidates,
            m.candidates,
            Figure(m.opt_at_k.map(|x| 100.0 * x)),
            m.tasks_solved,
            m.n_tasks,
            Figure(m.mean_speedup),
            m.tokens,
            m.cost_usd,
            m.cost_per_verified
                .map(|c| format!("${c:.4} ({} verified)", m.verified_tasks))
                .unwrap_or_else(|| "- (none verified)".into())
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_to_canonical_labels_and_bad_ones_say_why() {
        assert_eq!(Mode::parse("best-of-k").unwrap().label(), "best-of-k");
        assert_eq!(Mode::parse("merge").unwrap().label(), "merge");
        let m = Mode::parse("rounds:3+merge").unwrap();
        assert_eq!((m.rounds, m.merge, m.diversify), (3, true, false));
        assert_eq!(m.label(), "merge+rounds:3");
        assert_eq!(
            Mode::parse("merge+diversify").unwrap().label(),
            "diversify+merge"
        );
        for (bad, why) in [
            ("rounds:1", "at least 2"),
            ("rounds:x", "at least 2"),
            ("best-of-4", "expected"),
            ("merge+merge", "expected"),
            ("", "expected"),
        ] {
            let e = Mode::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
