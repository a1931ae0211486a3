//! The written report: files, tables, inline SVGs, links.

use optagent_report::{
    headline_text, write_report, write_report_analyzed, write_report_with, ReportOptions,
};

use super::common::*;

/// A small well-formedness check: tags nest and close, attributes are quoted, no stray `<`.
pub fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let j = after.find('>').expect("unclosed tag");
        let tag = &after[..j];
        assert!(!tag.contains('<'), "stray '<' in {tag:?}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        if tag.starts_with('?') || tag.starts_with('!') {
        } else if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("close without open: {name}"));
            assert_eq!(open, name.trim(), "mismatched close");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            stack.push(name);
        }
        rest = &after[j + 1..];
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

#[test]
fn writes_all_files_with_tables_and_inline_svgs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let mut recs = results();
    recs.extend(as_config(
        &results(),
        "anthropic/claude-sonnet-4",
        "steps30",
    ));
    let paths = write_report(&recs, &tasks(&["alpha", "beta", "gamma", "delta"]), 4, &out).unwrap();
    for p in [
        &paths.markdown,
        &paths.json,
        &paths.html,
        &paths.opt_at_k_svg,
        &paths.cost_svg,
        &paths.speedup_histogram_svg,
        &paths.workload_scatter_svg,
    ] {
        assert!(p.is_file(), "{} missing", p.display());
        assert!(p.starts_with(&out));
    }
    for p in [
        &paths.opt_at_k_svg,
        &paths.cost_svg,
        &paths.speedup_histogram_svg,
        &paths.workload_scatter_svg,
    ] {
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.starts_with("<svg ") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert_well_formed(&svg);
    }

    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_well_formed(html.trim_start_matches("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg ").count(), 4, "the four plots inline");
    assert!(
        html.matches("<table>").count() >= 3 + 2,
        "summary tables and per-task tables"
    );
    assert!(html.contains("<th>Task</th>"));
    assert!(html.contains("Opt@1"));
    // Self-contained: no script, no external stylesheet or image.
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("src=\"http"));
    // Relative links to the artifacts, with the space in the flamegraph name encoded.
    assert!(html.contains("href=\"rollouts/alpha/2/patch.diff\""));
    assert!(html.contains("href=\"rollouts/alpha/2/trajectory.jsonl\""));
    assert!(html.contains("href=\"rollouts/alpha/2/flame%201.svg\""));

    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(md.contains("## Leaderboard"));
    assert!(md.contains("| # | Model | Agent | Budget | Opt@1 | Opt@4 |"));
    // Opt@1 = 1/4 and Opt@4 = 2/4 over the four tasks (delta has no record).
    assert!(md.contains("| 25.0% | 50.0% |"), "{md}");
    assert!(md.contains("[patch](rollouts/alpha/2/patch.diff)"));
    assert!(md.contains("[flamegraph 1](rollouts/alpha/2/flame%201.svg)"));
    assert!(md.contains("![Opt@k against k](opt_at_k.svg)"));
    assert!(md.contains("| delta | no |"), "the missing task has a row");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.json).unwrap()).unwrap();
    assert_eq!(json["format"], "optagent-report/1");
    assert_eq!(json["k"], 4);
    assert_eq!(json["tasks"].as_array().unwrap().len(), 4);
    let s0 = &json["summaries"][0];
    for field in [
        "model",
        "agent",
        "budget",
        "n_tasks",
        "opt_at_1",
        "opt_at_k",
        "opt_at_k_curve",
        "geomean_speedup",
        "speedup_ratio",
        "advantage",
        "pass_rate",
        "improvements",
        "regressions",
        "tokens_per_task",
        "cost_usd",
        "cost_per_solved",
        "mean_wall_s",
    ] {
        assert!(s0.get(field).is_some(), "summary field {field}");
    }
    assert_eq!(json["summaries"].as_array().unwrap().len(), 2);
    assert_eq!(json["task_rows"].as_array().unwrap().len(), 8);
    assert_eq!(s0["opt_at_k_curve"][0]["k"], 1);
    assert!(s0["advantage"]["l4"].is_number());
}

#[test]
fn links_follow_the_records_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep/report");
    let opts = ReportOptions {
        records_base: Some(dir.path().join("sweep")),
        ..ReportOptions::default()
    };
    let mut recs = results();
    // An absolute path becomes relative to the report folder.
    let abs = dir.path().join("elsewhere/traj.jsonl");
    recs[0].trajectory_path = Some(abs.to_string_lossy().into_owned());
    let paths =
        write_report_with(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, &out, &opts).unwrap();
    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(
        md.contains("[patch](../rollouts/alpha/2/patch.diff)"),
        "{md}"
    );
    assert!(
        md.contains("[trajectory](../../elsewhere/traj.jsonl)"),
        "{md}"
    );
}

#[test]
fn empty_records_still_write_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&[], &tasks(&["alpha"]), 4, dir.path()).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert_eq!(html.matches("<svg ").count(), 4);
    assert!(html.contains("no rollouts recorded"));
    assert_well_formed(&std::fs::read_to_string(&paths.workload_scatter_svg).unwrap());
}

/// Issue 10 item 7: `optagent report` printed a Rust debug struct of its paths. It now prints
/// the files, one a line, and each configuration's headline figures.
#[test]
fn report_prints_files_and_headline_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, analysis) = write_report_analyzed(
        &results(),
        &tasks(&["alpha", "beta", "gamma"]),
        4,
        dir.path(),
        &ReportOptions::default(),
    )
    .unwrap();
    let text = headline_text(&paths, &analysis);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "wrote:", "{text}");
    for (i, f) in paths.files().iter().enumerate() {
        assert!(f.is_file());
        assert_eq!(lines[1 + i].trim(), f.display().to_string());
    }
    assert_eq!(
        lines[8],
        "openai/gpt-5-mini · optagent-default · steps50: Opt@1 33.3%, Opt@4 66.7% (2/3 tasks), \
         geomean speedup 2.154×, SR 0.441, advantage L4 -0.8333, pass rate 41.7% of 12 rollout(s)"
    );
    assert_eq!(
        lines[9],
        "  fast_p (p = 0 / 1.0 / 1.5 / 2.0): 66.7% (2/3) / 66.7% (2/3) / 66.7% (2/3) / \
         66.7% (2/3); against the expert: 66.7% (2/3) / 33.3% (1/3) / 0.0% (0/3) / 0.0% (0/3)"
    );
    assert_eq!(lines.len(), 10, "{text}");
    assert!(
        !text.contains("ReportPaths") && !text.contains('{'),
        "{text}"
    );
    // A task left out of SR and advantage is said so, beside the partial counts.
    let mut recs = results();
    for r in recs.iter_mut().filter(|r| r.task == "gamma") {
        if let Some(e) = r.eval.as_mut() {
            for w in &mut e.workloads {
                w.expert_significant = false;
            }
        }
    }
    let (paths, analysis) = write_report_analyzed(
        &recs,
        &tasks(&["alpha", "beta", "gamma"]),
        4,
        dir.path(),
        &ReportOptions::default(),
    )
    .unwrap();
    let text = headline_text(&paths, &analysis);
    assert!(text.contains("SR 1.111 (2/3 tasks)"), "{text}");
    assert!(
        text.contains(
            "1 task(s) left out of SR and advantage: the expert is not significantly faster"
        ),
        "{text}"
    );
    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(
        md.contains("1 of 3 task(s) left out of SR and advantage because the expert is not significantly faster"),
        "{md}"
    );
    assert!(md.contains("not significantly faster: left out of SR and advantage"));
    // No records at all.
    let (paths, analysis) = write_report_analyzed(
        &[],
        &tasks(&["alpha"]),
        1,
        dir.path(),
        &ReportOptions::default(),
    )
    .unwrap();
    assert!(headline_text(&paths, &analysis).ends_with("nothing to summarize\n"));
}

/// Issue 12 item 4: with no task in the SR and advantage means (every expert not faster), those
/// figures are undefined: `null` in the JSON summary (never `NaN`), `—` in the Markdown table.
#[test]
fn undefined_summary_figures_are_null_in_json_and_a_dash_in_markdown() {
    let mut recs = results();
    for r in recs.iter_mut() {
        if let Some(e) = r.eval.as_mut() {
            for w in &mut e.workloads {
                w.expert_significant = false;
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(&recs, &tasks(&["alpha", "beta", "gamma"]), 4, dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.json).unwrap()).unwrap();
    let s = &json["summaries"][0];
    assert_eq!(s["sr_tasks"], 0);
    assert_eq!(s["speedup_ratio"], serde_json::Value::Null);
    assert_eq!(s["advantage"]["l4"], serde_json::Value::Null);
    assert!(s["opt_at_k"].is_number());
    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(!md.contains("NaN"), "{md}");
    let row = md.lines().find(|l| l.starts_with("| 1 |")).expect(&md);
    // SR, then advantage L1 .. L4.
    assert!(
        row.contains("| — (0/3 tasks) | — | — | — | — (0/3 tasks) |"),
        "{row}"
    );
}
