//! The differential profile of a workload, base tree against workspace, as text: what the
//! `flamegraph` tool lists under a differential SVG, and what a round of `optagent solve
//! --rounds` is told about the best patch so far ([`differential`]).

use std::fmt::Write as _;

use super::run::{is_pyspy_no_samples, profile_workload};
use super::{changes, frame_in_tree, split_frame, Folded, Profiler, Scope, SECTION_MARKER};
use crate::{ToolContext, ToolError, WorkloadInfo};

/// A workload's differential profile: base tree against workspace, per run of the measured
/// section (or of the whole process where a tree does not mark its section).
#[derive(Debug, Clone)]
pub struct Differential {
    pub workload: String,
    pub profiler: Profiler,
    /// Whether the figures are of the measured section (else of whole processes).
    pub section: bool,
    /// Total cost per run, base and workspace, formatted (`12.3 ms`).
    pub base_per_run: String,
    pub work_per_run: String,
    /// The change of the total in percent of the base's (None when the base's is 0).
    pub change_pct: Option<f64>,
    /// The largest changes, one formatted line each (see `change_lines`).
    pub lines: Vec<String>,
    /// What the profiler runs said (fallbacks, protocol notes), base notes marked `(base tree)`.
    pub notes: Vec<String>,
}

impl Differential {
    /// The differential as a few lines of text: a heading, the changes and the notes.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "`{}` ({}, per run of the {}): base {} → patched {}{}",
            self.workload,
            self.profiler.name(),
            if self.section {
                "measured section"
            } else {
                "whole process"
            },
            self.base_per_run,
            self.work_per_run,
            self.change_pct
                .map(|p| format!(" ({p:+.1}%)"))
                .unwrap_or_default()
        );
        if self.lines.is_empty() {
            let _ = writeln!(s, "  no function's cost per run changed noticeably");
        }
        for l in &self.lines {
            let _ = writeln!(s, "  {l}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        s
    }
}

/// Both profiles over the same span: where only one tree marks its measured section, both become
/// whole-process profiles (the cost outside the section is put back as one block).
pub(crate) fn aligned(before: &Folded, after: &Folded) -> (Folded, Folded) {
    let whole = |f: &Folded| -> Folded {
        if before.focused == after.focused {
            return f.clone();
        }
        let mut g = f.clone();
        if f.outside > 0 {
            g.add("[outside the measured section]", f.outside);
        }
        g.outside = 0;
        g.focused = false;
        g
    };
    (whole(before), whole(after))
}

/// `+1.2 ms` / `-3.4 ms`.
pub(crate) fn signed(v: &str) -> String {
    if v.starts_with('-') {
        v.to_string()
    } else {
        format!("+{v}")
    }
}

/// The largest changes per run (base → workspace) of the tree's own code, one line each:
/// `  1.20 ms →  0.10 ms  (  -1.10 ms)  name  (file:line)  +callees`.
pub(crate) fn change_lines(
    ctx: &ToolContext,
    before: &Folded,
    after: &Folded,
    top: usize,
) -> Vec<String> {
    let mut roots = vec![ctx.sandbox.root()];
    if let Some(b) = &ctx.base_sandbox {
        roots.push(b.root());
    }
    let own = |f: &str| frame_in_tree(f, &roots);
    changes(before, after, top, &own)
        .into_iter()
        .map(|c| {
            let (name, loc) = split_frame(&c.frame);
            format!(
                "{:>10} → {:>10}  ({:>11})  {name}{}{}",
                after.format_per_run(c.before),
                after.format_per_run(c.after),
                signed(&after.format_per_run(c.delta())),
                loc.map(|l| format!("  ({l})")).unwrap_or_default(),
                if c.inclusive { "  +callees" } else { "" }
            )
        })
        .collect()
}

/// Profile `w` on the workspace (the profiler chosen as `profile` chooses it, measured section)
/// and on the base tree with the same profiler, and list the `top` largest changes per run.
/// `Err` when there is no base tree or no profiler works (the error says why).
pub async fn differential(
    ctx: &ToolContext,
    w: &WorkloadInfo,
    top: usize,
) -> Result<Differential, ToolError> {
    let Some(base) = ctx.base_sandbox.clone() else {
        return Err(ToolError::retry("no base tree to compare with"));
    };
    let mut work =
        profile_workload(ctx, &ctx.sandbox, w, Profiler::Auto, "ws", Scope::Section).await?;
    let base_run =
        match profile_workload(ctx, &base, w, work.profiler, "base", Scope::Section).await {
            // A sampler that caught the workspace's run may miss the base's (a run that ends before
            // it attaches): compare both trees under cProfile, which sees every run. Any other
            // failure (a broken or hanging base run) is reported as it is, not run again.
            Err(e) if work.profiler == Profiler::PySpy && is_pyspy_no_samples(&e) => {
                work = profile_workload(
                    ctx,
                    &ctx.sandbox,
                    w,
                    Profiler::Cprofile,
                    "ws",
                    Scope::Section,
                )
                .await?;
                work.notes.push(format!(
                "py-spy gave no profile of the base tree ({e}): both trees profiled with cProfile."
            ));
                profile_workload(ctx, &base, w, Profiler::Cprofile, "base", Scope::Section).await?
            }
            r => r?,
        };
    let mut notes = work.notes.clone();
    notes.extend(base_run.notes.iter().map(|n| format!("(base tree) {n}")));
    if base_run.folded.focused != work.folded.focused {
        notes.push(format!(
            "only one of the trees marks its measured section ({SECTION_MARKER}): whole processes compared"
        ));
    }
    let (before, after) = aligned(&base_run.folded, &work.folded);
    let bt = before.per_run(before.total());
    let wt = after.per_run(after.total());
    Ok(Differential {
        workload: w.name.clone(),
        profiler: work.profiler,
        section: after.focused,
        base_per_run: after.format_per_run(bt),
        work_per_run: after.format_per_run(wt),
        change_pct: (bt > 0.0).then(|| 100.0 * (wt - bt) / bt),
        lines: change_lines(ctx, &before, &after, top),
        notes,
    })
}
