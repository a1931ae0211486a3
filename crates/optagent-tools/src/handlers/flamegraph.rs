//! `flamegraph`: an SVG flamegraph of the last profile (profiling the named workload first when
//! it is not the last one profiled), or with `diff` a differential flamegraph of the base tree
//! against the workspace for the same workload and profiler.

use std::fmt::Write as _;

use async_trait::async_trait;
use serde::Deserialize;

use super::profile::{find_workload, take_profile};
use crate::profiling::run::{artifact_stem, profile_workload, save_profile};
use crate::profiling::{differential_svg, flamegraph_svg, share_changes, split_frame, Profiler};
use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Flamegraph;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlamegraphArgs {
    workload: Option<String>,
    diff: Option<bool>,
    profiler: Option<Profiler>,
}

#[async_trait]
impl TypedTool for Flamegraph {
    const NAME: &'static str = "flamegraph";
    type Args = FlamegraphArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"workload": "w", "diff": false, "profiler": "auto"})
    }

    async fn run(&self, ctx: &ToolContext, a: FlamegraphArgs) -> Result<ToolOutput, ToolError> {
        let last = ctx.state().last_profile.clone();
        let wanted_profiler = a.profiler.filter(|p| *p != Profiler::Auto);
        let w = match (a.workload.as_deref(), &last) {
            (Some(name), _) => find_workload(ctx, Some(name))?.clone(),
            (None, Some(rec)) => match ctx.workloads.iter().find(|w| w.name == rec.workload) {
                Some(w) => w.clone(),
                None => find_workload(ctx, None)?.clone(),
            },
            (None, None) => find_workload(ctx, None).map_err(|_| {
                ToolError::retry("There is no profile yet: run the profile tool first, or name a `workload`.")
            })?.clone(),
        };
        let mut notes = Vec::new();
        let reuse = last
            .filter(|r| r.workload == w.name && wanted_profiler.is_none_or(|p| p == r.profiler));
        let record = match reuse {
            Some(r) => r,
            None => {
                let choice = a.profiler.unwrap_or_default();
                let (rec, run) = take_profile(ctx, &w, choice).await?;
                notes.extend(run.notes);
                notes.push(format!(
                    "Profiled `{}` with {} for this flamegraph (folded stacks: {}).",
                    w.name,
                    rec.profiler.name(),
                    rec.folded_path.display()
                ));
                rec
            }
        };
        let dir = ctx.artifact_dir("flamegraphs")?;
        let mut text = String::new();
        let mut artifacts = Vec::new();
        if !a.diff.unwrap_or(false) {
            let title = format!("{} ({})", w.name, record.profiler.name());
            let svg = flamegraph_svg(&record.folded, &title).map_err(ToolError::fatal)?;
            let stem = artifact_stem(ctx.next_seq(), &w.name, record.profiler, "ws");
            let path = dir.join(format!("{stem}.svg"));
            std::fs::write(&path, svg)
                .map_err(|e| ToolError::fatal(format!("cannot write {}: {e}", path.display())))?;
            let _ = writeln!(
                text,
                "Flamegraph of `{}` ({}): {}",
                w.name,
                record.profiler.name(),
                path.display()
            );
            let total = record.folded.total().max(1) as f64;
            let _ = writeln!(text, "Widest frames by own cost:");
            for f in record.folded.hot_frames().into_iter().take(5) {
                let _ = writeln!(
                    text,
                    "  {:>5.1}%  {}",
                    100.0 * f.self_cost as f64 / total,
                    f.frame
                );
            }
            artifacts.push(path);
        } else {
            let Some(base) = ctx.base_sandbox.clone() else {
                return Err(ToolError::retry(
                    "diff needs the pristine base tree, which this run does not provide; use diff: false.",
                ));
            };
            let base_run = profile_workload(ctx, &base, &w, record.profiler, "base").await?;
            notes.extend(base_run.notes.iter().map(|n| format!("(base tree) {n}")));
            let (base_folded_path, _) = save_profile(ctx, &base_run.folded, &base_run.stem)?;
            let title = format!("{}: base → workspace ({})", w.name, record.profiler.name());
            let svg = differential_svg(&base_run.folded, &record.folded, &title)
                .map_err(ToolError::fatal)?;
            let stem = artifact_stem(ctx.next_seq(), &w.name, record.profiler, "diff");
            let path = dir.join(format!("{stem}.svg"));
            std::fs::write(&path, svg)
                .map_err(|e| ToolError::fatal(format!("cannot write {}: {e}", path.display())))?;
            let _ = writeln!(
                text,
                "Differential flamegraph of `{}` ({}; widths: the workspace; red: more than in the base, blue: less): {}",
                w.name,
                record.profiler.name(),
                path.display()
            );
            let _ = writeln!(text, "Base profile: {}", base_folded_path.display());
            let changes = share_changes(&base_run.folded, &record.folded, 12);
            if changes.is_empty() {
                let _ = writeln!(
                    text,
                    "No function's share of the profile changed by 0.05 points or more."
                );
            } else {
                let _ = writeln!(
                    text,
                    "Largest changes in share of own cost (base → workspace):"
                );
                for (frame, b, now) in changes {
                    let (name, loc) = split_frame(&frame);
                    let _ = writeln!(
                        text,
                        "  {b:>5.1}% → {now:>5.1}%  ({:+.1})  {name}{}",
                        now - b,
                        loc.map(|l| format!("  ({l})")).unwrap_or_default()
                    );
                }
            }
            let bt = base_run.folded.total() as f64;
            let wt = record.folded.total() as f64;
            if bt > 0.0 {
                let _ = writeln!(
                    text,
                    "Total {}: base {} → workspace {} ({:+.1}%; profiler counts, not a benchmark: use bench to measure).",
                    record.folded.unit,
                    bt as u64,
                    wt as u64,
                    100.0 * (wt - bt) / bt
                );
            }
            artifacts.push(path);
            artifacts.push(base_folded_path);
        }
        for n in notes {
            let _ = writeln!(text, "Note: {n}");
        }
        Ok(ToolOutput {
            text,
            submit: false,
            artifacts,
        })
    }
}
