//! Merging verified patches (`optagent solve --merge`): one rollout may speed up one workload and
//! another a different one, and neither alone reaches what both together do.
//!
//! After the first verification, the verified candidates are taken in order of their speedup; each
//! one whose significant improvements include a workload the patches taken so far do not improve
//! is merged in with git's three-way merge (each patch is committed on the task's base in a fresh
//! tree and merged into the branch of the patches taken so far); one that conflicts is skipped and
//! the report says with which patches and in which files. The merged patch is then verified in a
//! second interleaved session together with the single patches it came from, so that it is
//! compared within one session, and it wins when selection verifies it and it beats every single
//! one: a higher geometric-mean speedup, and on at least one workload a speedup interval wholly
//! above that single patch's.

use std::path::{Path, PathBuf};
use std::process::Command;

use optagent_eval::render::Figure;
use optagent_eval::{Candidate, EvalError, EvalOptions, EvalReport, PatchSource, Verdict};
use optagent_task::{ApplyOutcome, Task, Tree, TreeError};
use serde::{Deserialize, Serialize};

use crate::select::{select_best, Choice};

/// The branch of a merge tree that collects the patches taken so far.
const BRANCH: &str = "optagent-merge";

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merging patches: {0}")]
    Tree(#[from] TreeError),
    #[error("merging patches in {dir}: `git {command}` failed: {detail}")]
    Git {
        dir: PathBuf,
        command: String,
        detail: String,
    },
    #[error("the merge panicked: {0}")]
    Panicked(#[from] tokio::task::JoinError),
}

/// A verified rollout left out of the merge, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeSkip {
    pub rollout: usize,
    pub why: String,
}

/// What became of a merged candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "why", rename_all = "snake_case")]
pub enum MergeOutcome {
    Selected,
    Lost(String),
}

/// One single patch as the second session measured it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recheck {
    pub rollout: usize,
    pub eval: EvalReport,
}

/// A patch made by merging the patches of several rollouts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedCandidate {
    /// The rollouts whose patches it combines, in the order they were merged.
    pub from: Vec<usize>,
    pub patch_path: PathBuf,
    pub patch: String,
    /// Its verification in the second session (None when the session could not run).
    pub eval: Option<EvalReport>,
    pub outcome: MergeOutcome,
}

/// What `--merge` did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MergeReport {
    /// The round (0-based) whose candidates were merged.
    #[serde(default)]
    pub round: usize,
    /// Set when nothing was merged, saying why (fewer than two verified candidates, ...).
    pub note: Option<String>,
    pub skipped: Vec<MergeSkip>,
    pub merged: Vec<MergedCandidate>,
    /// The single patches as measured in the second session, beside the merged ones.
    pub rechecked: Vec<Recheck>,
    /// Set when the second session could not run.
    pub verification_error: Option<String>,
    /// Index (into `merged`) of the merged candidate that beat every single patch.
    pub selected: Option<usize>,
}

/// A verified single candidate offered to the merge.
#[derive(Debug, Clone)]
pub struct Verified {
    pub rollout: usize,
    pub patch: String,
    pub eval: EvalReport,
}

/// Workloads on which a report shows a significant improvement by its threshold.
pub fn improved_workloads(e: &EvalReport) -> Vec<String> {
    e.workloads
        .iter()
        .filter(|w| w.significant && w.speedup.is_some_and(|s| s >= 1.0 + e.threshold))
        .map(|w| w.name.clone())
        .collect()
}

/// The result of [`combine`].
#[derive(Debug, Clone)]
pub struct Combined {
    /// The merged patch against the base (None when fewer than two patches were taken).
    pub patch: Option<String>,
    pub from: Vec<usize>,
    pub skipped: Vec<MergeSkip>,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, MergeError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| MergeError::Git {
            dir: dir.to_path_buf(),
            command: args.join(" "),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(MergeError::Git {
            dir: dir.to_path_buf(),
            command: args.join(" "),
            detail: format!(
                "{} {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            )
            .trim()
            .to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn list(xs: &[usize]) -> String {
    xs.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Merge patches in the order given, each as `(rollout, patch, improved workloads)`: a patch that
/// improves no workload beyond those already taken, that no longer applies to the base, or that
/// conflicts with the patches taken so far is skipped. The tree is made under `dir`.
pub fn combine(
    task: &Task,
    patches: &[(usize, String, Vec<String>)],
    dir: &Path,
) -> Result<Combined, MergeError> {
    let tree = Tree::materialize(task, &dir.join("tree"))?;
    let root = tree.root.clone();
    let mut from: Vec<usize> = vec![];
    let mut covered: Vec<String> = vec![];
    let mut skipped = vec![];
    for (rollout, patch, improved) in patches {
        let new: Vec<&String> = improved.iter().filter(|w| !covered.contains(w)).collect();
        if !from.is_empty() && new.is_empty() {
            skipped.push(MergeSkip {
                rollout: *rollout,
                why: format!(
                    "improves no workload beyond those of rollout(s) {}",
                    list(&from)
                ),
            });
            continue;
        }
        if let ApplyOutcome::Failed { reason } = tree.apply(patch)? {
            skipped.push(MergeSkip {
                rollout: *rollout,
                why: format!(
                    "its patch does not apply to a fresh base: {}",
                    reason.lines().next().unwrap_or("")
                ),
            });
            continue;
        }
        git(&root, &["add", "-A", "."])?;
        git(
            &root,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("rollout {rollout}"),
            ],
        )?;
        let commit = git(&root, &["rev-parse", "HEAD"])?.trim().to_string();
        if from.is_empty() {
            git(&root, &["branch", "-f", BRANCH, &commit])?;
        } else {
            git(&root, &["checkout", "-q", BRANCH])?;
            let msg = format!("merge rollout {rollout}");
            if let Err(e) = git(
                &root,
                &["merge", "-q", "--no-ff", "--no-edit", "-m", &msg, &commit],
            ) {
                let files = git(&root, &["diff", "--name-only", "--diff-filter=U"])
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = git(&root, &["merge", "--abort"]);
                let detail = if files.is_empty() {
                    e.to_string()
                } else {
                    format!("in {files}")
                };
                skipped.push(MergeSkip {
                    rollout: *rollout,
                    why: format!(
                        "its patch conflicts with that of rollout(s) {} ({detail})",
                        list(&from)
                    ),
                });
                continue;
            }
        }
        from.push(*rollout);
        covered.extend(improved.iter().cloned());
    }
    if from.len() < 2 {
        return Ok(Combined {
            patch: None,
            from,
            skipped,
        });
    }
    git(&root, &["checkout", "-q", "-f", BRANCH])?;
    let patch = tree.diff()?;
    Ok(Combined {
        patch: Some(patch),
        from,
        skipped,
    })
}

/// Why a merged patch does not beat a single one it was measured with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotBetter {
    /// Also where either speedup is undefined (`None`, shown `NaN`).
    #[error("{:.3}x, not above the single patch's {:.3}x", Figure(*.merged), Figure(*.single))]
    NotFaster {
        merged: Option<f64>,
        single: Option<f64>,
    },
    #[error(
        "{merged:.3}x against {single:.3}x, but on no workload is its speedup interval above the \
         single patch's: not a significant difference"
    )]
    NotSignificant { merged: f64, single: f64 },
}

/// Whether `merged` beats `single` (both from one session): a higher geometric-mean speedup, and
/// a workload on which it is significantly faster than the single patch: its speedup interval
/// lies wholly above the single patch's, or every one of its runs beat every one of the single
/// patch's (the Mann-Whitney test's most extreme outcome, taken only where its two-sided p,
/// `2 / C(n + m, n)`, is below the session's alpha: 5 runs each give 0.008). The second compares
/// the two patches' runs directly; the intervals each carry the baseline's noise too, and on a
/// loaded machine miss differences of 2x. `Err` says why not.
pub fn beats(merged: &EvalReport, single: &EvalReport) -> Result<(), NotBetter> {
    let (m, s) = match (merged.speedup, single.speedup) {
        (Some(m), Some(s)) if m > s => (m, s),
        (merged, single) => return Err(NotBetter::NotFaster { merged, single }),
    };
    let clear = merged.workloads.iter().any(|m| {
        m.significant
            && single
                .workloads
                .iter()
                .find(|s| s.name == m.name)
                .is_some_and(|s| {
                    let above = matches!(
                        (m.speedup_ci[0], s.speedup_ci[1]),
                        (Some(lo), Some(hi)) if lo > hi
                    );
                    above || all_runs_faster(m, s, merged.alpha)
                })
    });
    if !clear {
        return Err(NotBetter::NotSignificant {
            merged: m,
            single: s,
        });
    }
    Ok(())
}

/// Every run of `m`'s patch took less than every run of `s`'s, and that outcome is significant
/// at `alpha` for these numbers of runs.
fn all_runs_faster(
    m: &optagent_eval::WorkloadReport,
    s: &optagent_eval::WorkloadReport,
    alpha: f64,
) -> bool {
    let (Some(mp), Some(sp)) = (&m.patch, &s.patch) else {
        return false;
    };
    if mp.n == 0 || sp.n == 0 || mp.max.partial_cmp(&sp.min) != Some(std::cmp::Ordering::Less) {
        return false;
    }
    // C(n + k, n) without overflow: a product of k ratios.
    let (n, k) = (mp.n.max(sp.n), mp.n.min(sp.n));
    let arrangements: f64 = (1..=k).map(|i| (n + i) as f64 / i as f64).product();
    2.0 / arrangements < alpha
}

fn say(opts: &EvalOptions, line: &str) {
    tracing::info!("{line}");
    if let Some(p) = &opts.progress {
        p(line);
    }
}

/// Merge the verified candidates and verify the merged patch against its parts in a second
/// session. `select` is how selection verifies (its work_dir is replaced by one under `dir`).
pub async fn merge_verified(
    task: &Task,
    verified: &[Verified],
    select: &EvalOptions,
    dir: &Path,
    keep_trees: bool,
) -> MergeReport {
    let mut report = MergeReport::default();
    if verified.len() < 2 {
        report.note = Some(format!(
            "{} verified candidate(s): nothing to merge",
            verified.len()
        ));
        return report;
    }
    let combined = match combine_fastest_first(task, verified, dir).await {
        Ok(c) => c,
        Err(e) => {
            report.note = Some(e.to_string());
            return report;
        }
    };
    if !keep_trees {
        let _ = std::fs::remove_dir_all(dir.join("tree"));
    }
    report.skipped = combined.skipped;
    let Some(patch) = combined.patch else {
        report.note = Some(format!(
            "only rollout(s) {} could be taken: nothing to merge",
            list(&combined.from)
        ));
        return report;
    };
    let from = combined.from;
    let patch_path = dir.join(format!("merged-{}.diff", list(&from)));
    if let Err(e) = std::fs::write(&patch_path, &patch) {
        report.note = Some(format!("writing {}: {e}", patch_path.display()));
        return report;
    }
    let mut merged = MergedCandidate {
        from,
        patch_path,
        patch,
        eval: None,
        outcome: MergeOutcome::Lost("not verified".into()),
    };
    let reports = match verify_merged(task, verified, &merged, select, dir, keep_trees).await {
        Ok(r) => r,
        Err(e) => {
            let why = match e {
                EvalError::Skipped(w) => format!("skipped: {w}"),
                e => e.to_string(),
            };
            merged.outcome = MergeOutcome::Lost(format!("the second session failed: {why}"));
            report.verification_error = Some(why);
            report.merged.push(merged);
            return report;
        }
    };
    merged.outcome = judge_merged(&merged.from, &reports);
    merged.eval = Some(reports[0].clone());
    for (j, &i) in merged.from.iter().enumerate() {
        report.rechecked.push(Recheck {
            rollout: i,
            eval: reports[j + 1].clone(),
        });
    }
    if merged.outcome == MergeOutcome::Selected {
        report.selected = Some(report.merged.len());
    }
    report.merged.push(merged);
    report
}

/// [`combine`] the verified patches, fastest first, off the async runtime.
async fn combine_fastest_first(
    task: &Task,
    verified: &[Verified],
    dir: &Path,
) -> Result<Combined, MergeError> {
    let mut order: Vec<&Verified> = verified.iter().collect();
    let key = |v: &Verified| v.eval.speedup.unwrap_or(f64::NEG_INFINITY);
    order.sort_by(|a, b| key(b).total_cmp(&key(a)));
    let inputs: Vec<(usize, String, Vec<String>)> = order
        .iter()
        .map(|v| (v.rollout, v.patch.clone(), improved_workloads(&v.eval)))
        .collect();
    let task = task.clone();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || combine(&task, &inputs, &dir)).await?
}

/// The second session: the merged patch first, then each single patch it came from.
async fn verify_merged(
    task: &Task,
    verified: &[Verified],
    merged: &MergedCandidate,
    select: &EvalOptions,
    dir: &Path,
    keep_trees: bool,
) -> Result<Vec<EvalReport>, EvalError> {
    let from = &merged.from;
    say(
        select,
        &format!(
            "verifying the merged patch of rollouts {} against its parts in one session",
            list(from)
        ),
    );
    let mut cands = vec![Candidate::new(
        format!("merged-{}", list(from)),
        PatchSource::Diff(merged.patch.clone()),
    )];
    for &i in from {
        let v = verified.iter().find(|v| v.rollout == i).expect("taken");
        cands.push(Candidate::new(
            format!("rollout-{i}"),
            PatchSource::Diff(v.patch.clone()),
        ));
    }
    let mut opts = select.clone();
    opts.work_dir = dir.join("verify");
    let result = optagent_eval::evaluate(task, &cands, &opts).await;
    if !keep_trees {
        let _ = std::fs::remove_dir_all(&opts.work_dir);
    }
    result
}

/// The merged patch's outcome from the second session's `reports` (the merged patch first, then
/// the single patches of rollouts `from`): selected only when selection picks it and it beats
/// every single patch ([`beats`]).
fn judge_merged(from: &[usize], reports: &[EvalReport]) -> MergeOutcome {
    let selection = select_best(reports);
    match &selection.choices[0] {
        Choice::Incorrect(w) => MergeOutcome::Lost(format!("incorrect ({w})")),
        Choice::NotSignificant | Choice::NoPatch => {
            MergeOutcome::Lost("no significant speedup".into())
        }
        Choice::Slower(w) => MergeOutcome::Lost(format!("slower than a single patch: {w}")),
        Choice::Flagged(w) => MergeOutcome::Lost(format!("flagged by an integrity check: {w}")),
        Choice::Selected => {
            let mut why = vec![];
            for (j, &i) in from.iter().enumerate() {
                if let Err(w) = beats(&reports[0], &reports[j + 1]) {
                    why.push(format!("against rollout {i}: {w}"));
                }
            }
            if why.is_empty() && reports[0].verdict == Verdict::Ok {
                MergeOutcome::Selected
            } else {
                MergeOutcome::Lost(format!(
                    "does not beat every single patch: {}",
                    why.join("; ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "def a(x):\n    return x + 1\n\n\ndef pad1():\n    return 1\n\n\ndef pad2():\n    return 2\n\n\ndef b(x):\n    return x + 2\n";

    /// A bundled task whose source is one file, and the patches of edits to it.
    fn task(dir: &Path) -> Task {
        std::fs::create_dir_all(dir.join("repo")).unwrap();
        std::fs::write(dir.join("repo/m.py"), BASE).unwrap();
        std::fs::write(dir.join("expert.diff"), "").unwrap();
        std::fs::write(
            dir.join("task.toml"),
            "id = \"m\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n\
             [expert]\npatch = \"expert.diff\"\n[[workloads]]\nname = \"w\"\ncommand = \"true\"\n",
        )
        .unwrap();
        Task::load(dir).unwrap()
    }

    fn patch_of(task: &Task, dir: &Path, from: &str, to: &str) -> String {
        let tree = Tree::materialize(task, dir).unwrap();
        let text = std::fs::read_to_string(tree.root.join("m.py")).unwrap();
        std::fs::write(tree.root.join("m.py"), text.replace(from, to)).unwrap();
        tree.diff().unwrap()
    }

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn patches_on_different_functions_merge_and_a_conflicting_one_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let t = task(&tmp.path().join("task"));
        let pa = patch_of(&t, &tmp.path().join("a"), "x + 1", "x + 10");
        let pb = patch_of(&t, &tmp.path().join("b"), "x + 2", "x + 20");
        let pc = patch_of(&t, &tmp.path().join("c"), "x + 1", "x + 100");
        let pd = patch_of(&t, &tmp.path().join("d"), "x + 2", "2 + x");
        let c = combine(
            &t,
            &[
                (3, pa, names(&["wa"])),
                (1, pc, names(&["wc"])),
                (0, pb, names(&["wb"])),
                (2, pd, names(&["wb"])),
            ],
            &tmp.path().join("merge"),
        )
        .unwrap();
        assert_eq!(c.from, vec![3, 0]);
        assert_eq!(c.skipped.len(), 2, "{:?}", c.skipped);
        assert_eq!(c.skipped[0].rollout, 1);
        assert!(
            c.skipped[0]
                .why
                .contains("conflicts with that of rollout(s) 3")
                && c.skipped[0].why.contains("m.py"),
            "{}",
            c.skipped[0].why
        );
        assert_eq!(c.skipped[1].rollout, 2);
        assert!(
            c.skipped[1].why.contains("improves no workload beyond"),
            "{}",
            c.skipped[1].why
        );
        // The merged patch, applied to a fresh base, has both changes and nothing else.
        let patch = c.patch.unwrap();
        let tree = Tree::materialize(&t, &tmp.path().join("check")).unwrap();
        assert!(matches!(
            tree.apply(&patch).unwrap(),
            ApplyOutcome::Applied { .. }
        ));
        let text = std::fs::read_to_string(tree.root.join("m.py")).unwrap();
        assert_eq!(
            text,
            BASE.replace("x + 1", "x + 10").replace("x + 2", "x + 20")
        );
    }

    #[test]
    fn a_single_patch_is_not_a_merge() {
        let tmp = tempfile::tempdir().unwrap();
        let t = task(&tmp.path().join("task"));
        let pa = patch_of(&t, &tmp.path().join("a"), "x + 1", "x + 10");
        let c = combine(&t, &[(0, pa, names(&["wa"]))], &tmp.path().join("merge")).unwrap();
        assert!(c.patch.is_none());
        assert_eq!(c.from, vec![0]);
    }
}
