//! `flamegraph`: an SVG flamegraph of the last profile (profiling the named workload first when
//! it is not the last one profiled), or with `diff` a differential flamegraph of the base tree
//! against the workspace for the same workload, profiler and scope. Like `profile`, it shows the
//! measured section by default, rooted at its entry point; the differential compares costs per
//! run of the section and lists the functions whose own time changed most in absolute terms.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;

use super::profile::{find_workload, take_profile};
use crate::profiling::diff::{aligned, change_lines};
use crate::profiling::run::{artifact_stem, profile_workload, save_profile};
use crate::profiling::ProfileRecord;
use crate::profiling::{
    differential_svg, flamegraph_svg, Folded, Profiler, Scope, SvgLabels, SECTION_MARKER,
};
use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput, WorkloadInfo};

pub(crate) struct Flamegraph;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlamegraphArgs {
    workload: Option<String>,
    diff: Option<bool>,
    profiler: Option<Profiler>,
    scope: Option<Scope>,
}

#[async_trait]
impl TypedTool for Flamegraph {
    const NAME: &'static str = "flamegraph";
    const SPEC: &'static str = include_str!("../../../../tools/flamegraph.json");
    type Args = FlamegraphArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"workload": "w", "diff": false, "profiler": "auto", "scope": "section"})
    }

    async fn run(&self, ctx: &ToolContext, a: FlamegraphArgs) -> Result<ToolOutput, ToolError> {
        let last = ctx.state().last_profile.clone();
        let w = pick_workload(ctx, a.workload.as_deref(), last.as_ref())?;
        let mut notes = Vec::new();
        let scope = a.scope.unwrap_or_default();
        let wanted_profiler = a.profiler.filter(|p| *p != Profiler::Auto);
        let reuse = last.filter(|r| {
            r.workload == w.name
                && r.scope == scope
                && wanted_profiler.is_none_or(|p| p == r.profiler)
        });
        let record = match reuse {
            Some(r) => r,
            None => {
                let choice = a.profiler.unwrap_or_default();
                let (rec, run) = take_profile(ctx, &w, choice, scope).await?;
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
        let artifacts = if a.diff.unwrap_or(false) {
            differential(ctx, &w, &record, &dir, &mut text, &mut notes).await?
        } else {
            vec![workspace_only(ctx, &w, &record, &dir, &mut text)?]
        };
        for n in notes {
            let _ = writeln!(text, "Note: {n}");
        }
        Ok(ToolOutput {
            text,
            submit: false,
            summary: None,
            artifacts,
        })
    }
}

/// The named workload, else the last one profiled, else the only one.
fn pick_workload(
    ctx: &ToolContext,
    name: Option<&str>,
    last: Option<&ProfileRecord>,
) -> Result<WorkloadInfo, ToolError> {
    Ok(match (name, last) {
        (Some(name), _) => find_workload(ctx, Some(name))?.clone(),
        (None, Some(rec)) => match ctx.workloads.iter().find(|w| w.name == rec.workload) {
            Some(w) => w.clone(),
            None => find_workload(ctx, None)?.clone(),
        },
        (None, None) => find_workload(ctx, None)
            .map_err(|_| {
                ToolError::retry(
                    "There is no profile yet: run the profile tool first, or name a `workload`.",
                )
            })?
            .clone(),
    })
}

/// The workspace's flamegraph of `record`, written under `dir`; its path and widest frames go
/// into `text`.
fn workspace_only(
    ctx: &ToolContext,
    w: &WorkloadInfo,
    record: &ProfileRecord,
    dir: &Path,
    text: &mut String,
) -> Result<PathBuf, ToolError> {
    let labels = SvgLabels {
        title: format!("{}: workspace, {}", w.name, record.profiler.name()),
        subtitle: Some(subtitle(&record.folded)),
    };
    let svg =
        flamegraph_svg(&record.folded, &labels).map_err(|e| ToolError::fatal(e.to_string()))?;
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
    Ok(path)
}

/// Profiles the base tree like `record` and writes the differential flamegraph base →
/// workspace under `dir`; `text` gets its path and the largest changes per run. Returns the SVG
/// and the base profile.
async fn differential(
    ctx: &ToolContext,
    w: &WorkloadInfo,
    record: &ProfileRecord,
    dir: &Path,
    text: &mut String,
    notes: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ToolError> {
    let Some(base) = ctx.base_sandbox.clone() else {
        return Err(ToolError::retry(
            "diff needs the pristine base tree, which this run does not provide; use diff: false.",
        ));
    };
    let base_run = profile_workload(ctx, &base, w, record.profiler, "base", record.scope).await?;
    notes.extend(base_run.notes.iter().map(|n| format!("(base tree) {n}")));
    let (base_folded_path, _) = save_profile(ctx, &base_run.folded, &base_run.stem)?;
    if base_run.folded.focused != record.folded.focused {
        notes.push(format!(
            "Only one of the trees marks its measured section ({SECTION_MARKER}): the comparison is of whole processes."
        ));
    }
    let (before, after) = aligned(&base_run.folded, &record.folded);
    let labels = SvgLabels {
        title: format!("{}: base → workspace, {}", w.name, record.profiler.name()),
        subtitle: Some(format!(
            "{}, per run: base {} → workspace {} ({} and {}); widths: workspace; red: more than base, blue: less",
            if after.focused {
                "measured section"
            } else {
                "whole process"
            },
            after.format_per_run(before.per_run(before.total())),
            after.format_per_run(after.per_run(after.total())),
            count(&before),
            count(&after),
        )),
    };
    let svg =
        differential_svg(&before, &after, &labels).map_err(|e| ToolError::fatal(e.to_string()))?;
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
    let list = change_lines(ctx, &before, &after, 12);
    if list.is_empty() {
        let _ = writeln!(text, "No function's own cost per run changed noticeably.");
    } else {
        let _ = writeln!(
            text,
            "Largest changes per run of the {} (base → workspace), by absolute change; `+callees` includes what the function calls, else its own code and the library code it calls:",
            if after.focused {
                "measured section"
            } else {
                "workload"
            }
        );
        for l in list {
            let _ = writeln!(text, "  {l}");
        }
    }
    let bt = before.per_run(before.total());
    let wt = after.per_run(after.total());
    if bt > 0.0 {
        let _ = writeln!(
            text,
            "Total per run: base {} → workspace {} ({:+.1}%; profiler counts, not a benchmark: use bench to measure).",
            after.format_per_run(bt),
            after.format_per_run(wt),
            100.0 * (wt - bt) / bt
        );
    }
    Ok(vec![path, base_folded_path])
}

/// The SVG's second line: how much it holds and of what.
fn subtitle(f: &Folded) -> String {
    let what = if f.focused {
        format!(
            "measured section ({SECTION_MARKER} at the root), {} run{}",
            f.repeat,
            if f.repeat == 1 { "" } else { "s" }
        )
    } else {
        "whole process".to_string()
    };
    format!(
        "{what}, {}, {} per run; frames: function (file:line)",
        count(f),
        f.format_per_run(f.per_run(f.total()))
    )
}

/// `2431 samples`, `1234 instructions`.
fn count(f: &Folded) -> String {
    format!("{} {}", f.total(), f.unit)
}
