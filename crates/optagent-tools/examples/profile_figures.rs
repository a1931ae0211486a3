//! Prints, for every CPU workload of the given tasks (default: the bundled pyroute, cvec and
//! textstats), the figures the profiling issue asks for: samples (or callgrind instructions)
//! inside the measured section, the seconds the `profile` tool took, and the differential
//! flamegraph's five largest changes after the expert's patch, with whether the largest is a
//! function the expert changed and whether an import frame is among them.
//!
//! `cargo run -p optagent-tools --example profile_figures -- [--profiler P] [--only SUBSTR]
//! [--keep DIR] [TASK_DIR...]`; `--keep` writes each workload's flamegraph and differential
//! flamegraph there.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/suite/common/expert_profiles.rs"]
mod expert_profiles;

use std::path::PathBuf;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let mut profiler = None;
    let mut only = None;
    let mut keep: Option<PathBuf> = None;
    let mut tasks = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--profiler" => profiler = Some(args.next().ok_or("--profiler needs a value")?),
            "--only" => only = Some(args.next().ok_or("--only needs a value")?),
            "--keep" => keep = Some(PathBuf::from(args.next().ok_or("--keep needs a folder")?)),
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => tasks.push(PathBuf::from(a)),
        }
    }
    if tasks.is_empty() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tasks");
        tasks = ["pyroute", "cvec", "textstats"]
            .iter()
            .map(|t| root.join(t))
            .collect();
    }
    let mut failed = 0;
    for t in &tasks {
        let figs = expert_profiles::expert_figures(t, only.as_deref(), profiler.as_deref()).await?;
        for f in figs {
            let ok_samples = f.in_section >= 1000 && f.profile_s <= 10.0;
            let ok_top = f.largest_is_expert() || !f.expert_runs;
            let imports = f.imports_in_top5();
            println!("{}", f.workload);
            println!("  {}", f.header.trim_end_matches(':'));
            println!(
                "  {}: {} {} in the section, profile took {:.1}s  [{}]",
                f.profiler,
                f.in_section,
                f.unit,
                f.profile_s,
                if ok_samples { "ok" } else { "SHORT" }
            );
            println!(
                "  expert changed: {}",
                f.expert_functions
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (i, (_, line)) in f.changes.iter().take(5).enumerate() {
                println!("  {}. {line}", i + 1);
            }
            println!(
                "  largest change is the expert's: {}; import frames in the top five: {}",
                if !f.expert_runs {
                    "n/a (the expert's patch changes no function this workload runs)"
                } else if ok_top {
                    "yes"
                } else {
                    "NO"
                },
                if imports.is_empty() {
                    "none".to_string()
                } else {
                    imports.join(", ")
                }
            );
            if let Some(dir) = &keep {
                let slug: String = f
                    .workload
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for (suffix, text) in [("svg", &f.svg), ("diff.svg", &f.diff_svg)] {
                    let p = dir.join(format!("{slug}.{suffix}"));
                    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            if !(ok_samples && ok_top && imports.is_empty()) {
                failed += 1;
            }
        }
    }
    println!("{failed} workload(s) short of a criterion");
    Ok(())
}
