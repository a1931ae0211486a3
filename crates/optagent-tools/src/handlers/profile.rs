//! `profile`: run a visible workload under a profiler (see `profiling::run`), answer with the
//! hottest functions (self% and total%, and own time per run of the measured section), and keep
//! the folded stacks and a pprof file in the run folder. By default only the measured section is
//! shown (`scope: "section"`, see `profiling::run`); `scope: "process"` shows everything. The
//! profile is remembered for `flamegraph`.

use std::fmt::Write as _;

use async_trait::async_trait;
use serde::Deserialize;

use crate::profiling::run::{profile_workload, save_profile, ProfileRun};
use crate::profiling::{Folded, ProfileRecord, Profiler, Scope, SECTION_MARKER};
use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput, WorkloadInfo};

pub(crate) struct Profile;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileArgs {
    workload: Option<String>,
    profiler: Option<Profiler>,
    top: Option<usize>,
    scope: Option<Scope>,
}

const DEFAULT_TOP: usize = 25;

#[async_trait]
impl TypedTool for Profile {
    const NAME: &'static str = "profile";
    const SPEC: &'static str = include_str!("../../../../tools/profile.json");
    type Args = ProfileArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"workload": "w", "profiler": "auto", "top": 10, "scope": "section"})
    }

    async fn run(&self, ctx: &ToolContext, a: ProfileArgs) -> Result<ToolOutput, ToolError> {
        let w = find_workload(ctx, a.workload.as_deref())?.clone();
        let choice = a.profiler.unwrap_or_default();
        let (record, run) = take_profile(ctx, &w, choice, a.scope.unwrap_or_default()).await?;
        let top = a.top.unwrap_or(DEFAULT_TOP).max(1);
        let mut text = describe(&w, &run);
        text.push_str(&record.folded.table(top));
        let shown = top.min(record.folded.hot_frames().len());
        let total = record.folded.total().max(1) as f64;
        let inclusive: Vec<_> = record
            .folded
            .top_inclusive(8, shown)
            .into_iter()
            // Entry points (main, <module>) hold everything and say nothing.
            .filter(|f| {
                let share = f.total_cost as f64 / total;
                (0.05..0.99).contains(&share)
            })
            .collect();
        if !inclusive.is_empty() {
            text.push_str("Also expensive including what they call:\n");
            for f in inclusive {
                let _ = writeln!(
                    text,
                    "{:>6.1}% {:>6.1}%  {}{}",
                    100.0 * f.self_cost as f64 / total,
                    100.0 * (f.total_cost as f64 / total).min(1.0),
                    f.name,
                    f.location.map(|l| format!("  ({l})")).unwrap_or_default()
                );
            }
        }
        if !record.folded.lines.is_empty() {
            text.push_str("Hottest source lines (own cost):\n");
            for (line, cost) in record.folded.lines.iter().take(10) {
                let _ = writeln!(
                    text,
                    "{:>6.1}% {:>10}  {line}",
                    100.0 * *cost as f64 / total,
                    record.folded.format_per_run(record.folded.per_run(*cost)),
                );
            }
        }
        for n in &run.notes {
            let _ = writeln!(text, "Note: {n}");
        }
        let _ = writeln!(text, "Files:");
        let _ = writeln!(text, "  folded stacks: {}", record.folded_path.display());
        let _ = writeln!(
            text,
            "  pprof: {} (`go tool pprof -top {}`, or open it in speedscope)",
            record.pprof_path.display(),
            record.pprof_path.display()
        );
        for r in &run.raw_files {
            let _ = writeln!(
                text,
                "  raw {} output: {}",
                run.profiler.name(),
                r.display()
            );
        }
        text.push_str("Use the flamegraph tool for an SVG of this profile (diff: true compares with the base tree).\n");
        let mut artifacts = vec![record.folded_path.clone(), record.pprof_path.clone()];
        artifacts.extend(run.raw_files.iter().cloned());
        Ok(ToolOutput {
            text,
            submit: false,
            summary: None,
            artifacts,
        })
    }
}

/// Profile `w` on the workspace, save the artifacts and remember the profile.
pub(crate) async fn take_profile(
    ctx: &ToolContext,
    w: &WorkloadInfo,
    choice: Profiler,
    scope: Scope,
) -> Result<(ProfileRecord, ProfileRun), ToolError> {
    let run = profile_workload(ctx, &ctx.sandbox, w, choice, "ws", scope).await?;
    let (folded_path, pprof_path) = save_profile(ctx, &run.folded, &run.stem)?;
    let record = ProfileRecord {
        workload: w.name.clone(),
        profiler: run.profiler,
        scope,
        folded: run.folded.clone(),
        folded_path,
        pprof_path,
    };
    ctx.state().last_profile = Some(record.clone());
    Ok((record, run))
}

/// How much the profile holds, in its unit: `2431 samples at 1000 Hz`.
pub(crate) fn amount(f: &Folded, n: u64, rate_hz: u32) -> String {
    match f.unit {
        "samples" => format!("{n} samples at {rate_hz} Hz"),
        "instructions" => format!("{n} instructions"),
        "microseconds" => format!("{:.3} s of profiled time", n as f64 / 1e6),
        "nanoseconds" => match f.period_ns.filter(|&p| p > 0) {
            Some(p) => format!(
                "{} samples at {rate_hz} Hz ({:.3} s of CPU time)",
                n / p as u64,
                n as f64 / 1e9
            ),
            None => format!("{:.3} s of CPU time", n as f64 / 1e9),
        },
        u => format!("{n} {u}"),
    }
}

/// What was measured: how much of the section, how many runs of it, what was left out.
pub(crate) fn describe(w: &WorkloadInfo, run: &ProfileRun) -> String {
    let f: &Folded = &run.folded;
    let rate = run.plan.rate_hz;
    let processes = run.plan.processes;
    let what = if f.focused {
        let runs = if f.repeat > 1 {
            let how = if processes > 1 {
                format!("one per process, {processes} processes")
            } else {
                "OPTAGENT_PROFILE_REPEAT".to_string()
            };
            format!(
                "{} runs of it ({how}), {} per run",
                f.repeat,
                f.format_per_run(f.per_run(f.total()))
            )
        } else {
            format!("one run of it, {}", f.format_per_run(f.per_run(f.total())))
        };
        let outside = if f.outside > 0 {
            format!(
                "; {} outside it (start-up, imports, setup) left out: scope \"process\" shows them",
                amount(f, f.outside, rate)
            )
        } else {
            String::new()
        };
        format!(
            "{} in the measured section ({SECTION_MARKER}), {runs}{outside}",
            amount(f, f.total(), rate)
        )
    } else if processes > 1 {
        format!(
            "{}, {processes} runs of the whole process, {} per run",
            amount(f, f.total(), rate),
            f.format_per_run(f.per_run(f.total()))
        )
    } else {
        format!("{}, whole process", amount(f, f.total(), rate))
    };
    format!(
        "Profile of workload `{}` with {} ({what}; the profiled run took {:.2}s):\n",
        w.name,
        run.profiler.name(),
        run.wall.as_secs_f64()
    )
}

/// The workload the model named (exactly, ignoring case, or by a unique part of its name).
pub(crate) fn find_workload<'a>(
    ctx: &'a ToolContext,
    name: Option<&str>,
) -> Result<&'a WorkloadInfo, ToolError> {
    let list = || {
        ctx.workloads
            .iter()
            .map(|w| format!("  {}", w.name))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if ctx.workloads.is_empty() {
        return Err(ToolError::retry(
            "This run has no visible workloads to profile. Run a program under a profiler yourself with the shell tool.",
        ));
    }
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        if ctx.workloads.len() == 1 {
            return Ok(&ctx.workloads[0]);
        }
        return Err(ToolError::retry(format!(
            "Name the workload to profile (`workload`); the visible workloads are:\n{}",
            list()
        )));
    };
    if let Some(w) = ctx.workloads.iter().find(|w| w.name == name) {
        return Ok(w);
    }
    if let Some(w) = ctx
        .workloads
        .iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))
    {
        return Ok(w);
    }
    let lower = name.to_lowercase();
    let partial: Vec<&WorkloadInfo> = ctx
        .workloads
        .iter()
        .filter(|w| w.name.to_lowercase().contains(&lower))
        .collect();
    if partial.len() == 1 {
        return Ok(partial[0]);
    }
    Err(ToolError::retry(format!(
        "{} workload named `{name}`; the visible workloads are:\n{}",
        if partial.is_empty() {
            "There is no"
        } else {
            "More than one"
        },
        list()
    )))
}
