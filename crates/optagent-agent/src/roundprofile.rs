//! The differential profile of the best patch so far against the base, for the next round's
//! prompt (`optagent solve --rounds`): the same profiling code as the `profile` and `flamegraph`
//! tools (measured section, per run, the tree's own code), run on the workloads where the patched
//! tree still spends the most time, bounded in size.

use std::path::Path;
use std::time::Duration;

use optagent_eval::EvalReport;
use optagent_sandbox::SandboxFactory;
use optagent_task::Task;
use optagent_tools::profiling::diff::differential;
use optagent_tools::{ToolContext, WorkloadInfo};

/// Workloads profiled for a round's prompt.
pub const PROFILED_WORKLOADS: usize = 2;
/// Changes listed per workload.
pub const CHANGES_PER_WORKLOAD: usize = 8;
/// Characters of the whole section at most.
pub const MAX_CHARS: usize = 3000;

/// The visible workloads of `eval` where the patch still takes the longest (its median per
/// run), longest first, at most `n`.
pub fn slowest_workloads(task: &Task, eval: &EvalReport, n: usize) -> Vec<String> {
    let mut v: Vec<(&str, f64)> = eval
        .workloads
        .iter()
        .filter(|w| w.visible && task.spec.workloads.iter().any(|t| t.name == w.name))
        .map(|w| {
            let t = w
                .patch
                .as_ref()
                .map(|p| p.median)
                .unwrap_or(w.baseline.median);
            (w.name.as_str(), if t.is_finite() { t } else { 0.0 })
        })
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().take(n).map(|(n, _)| n.to_string()).collect()
}

/// The differential profile (base → `patch`) of `workloads`, as text for a prompt: one block
/// per workload, each with its largest changes per run; a workload that cannot be profiled says
/// why (no profiler available, a failed run). `Err` when the trees cannot be prepared. The trees
/// are made under `dir` and removed afterwards; profiles are kept under `dir/profiles`.
pub async fn differential_text(
    task: &Task,
    patch: &str,
    workloads: &[String],
    dir: &Path,
    factory: &dyn SandboxFactory,
) -> Result<String, ProfileTreesError> {
    let trees =
        crate::workspace::prepare_with(task, &dir.join("trees"), factory, Some(patch)).await?;
    let mut ctx = ToolContext::new(trees.work_sandbox.clone(), dir.to_path_buf());
    ctx.base_sandbox = Some(trees.base_sandbox.clone());
    ctx.languages = task.spec.languages.clone();
    ctx.env = task.spec.env.clone();
    let mut text = String::new();
    for name in workloads {
        let Some(w) = task.visible_workloads().find(|w| &w.name == name) else {
            continue;
        };
        let info = WorkloadInfo {
            name: w.name.clone(),
            command: w.command.clone(),
            timeout: Duration::from_secs(task.workload_timeout(w)),
        };
        match differential(&ctx, &info, CHANGES_PER_WORKLOAD).await {
            Ok(d) => {
                let mut d = d;
                d.notes.truncate(3);
                text.push_str(&d.text());
            }
            Err(e) => text.push_str(&format!(
                "`{name}`: no differential profile ({})\n",
                first_line(&e.to_string())
            )),
        }
    }
    trees.close().await;
    let _ = std::fs::remove_dir_all(dir.join("trees"));
    Ok(bounded(text, MAX_CHARS))
}

/// The trees to profile the best patch in could not be made.
#[derive(Debug, thiserror::Error)]
#[error("preparing the trees to profile: {0}")]
pub struct ProfileTreesError(#[from] pub crate::workspace::PrepareError);

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// `text` cut to at most `max` characters at a line end, saying so.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let head = head.rfind('\n').map_or(head, |i| &head[..=i]);
    format!("{head}  (cut to {max} characters)\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_line_end() {
        let text = "aaaa\nbbbb\ncccc\n".to_string();
        assert_eq!(bounded(text.clone(), 100), text);
        assert_eq!(bounded(text, 12), "aaaa\nbbbb\n  (cut to 12 characters)\n");
    }
}
