//! The readable form of a report: a header of verdicts and metrics, and one row per workload.

use std::fmt::Write;

use optagent_task::Metric;

use crate::report::EvalReport;

/// A figure that may be undefined, formatted as the `f64` it holds (width, precision and sign
/// flags apply); an undefined one reads `NaN`, as the table has always shown it.
#[derive(Debug, Clone, Copy)]
pub struct Figure(pub Option<f64>);

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0.unwrap_or(f64::NAN), f)
    }
}

fn fmt_value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Time => {
            if !v.is_finite() {
                "-".into()
            } else if v >= 1.0 {
                format!("{v:.3}s")
            } else if v >= 1e-3 {
                format!("{:.2}ms", v * 1e3)
            } else {
                format!("{:.1}us", v * 1e6)
            }
        }
        Metric::Instructions => {
            if !v.is_finite() {
                "-".into()
            } else if v >= 1e9 {
                format!("{:.3}G", v / 1e9)
            } else if v >= 1e6 {
                format!("{:.2}M", v / 1e6)
            } else {
                format!("{v:.0}")
            }
        }
    }
}

/// A report as a table for a terminal.
pub fn table(r: &EvalReport) -> String {
    let mut s = String::new();
    header_lines(&mut s, r);
    let name_w = r
        .workloads
        .iter()
        .map(|w| w.name.len())
        .max()
        .unwrap_or(8)
        .clamp(8, 60);
    workload_rows(&mut s, r, name_w);
    if r.metric == Metric::Time && r.workloads.iter().any(|w| w.clock.is_some()) {
        clock_lines(&mut s, r, name_w);
    }
    if r.metric == Metric::Instructions {
        wall_lines(&mut s, r, name_w);
    }
    integrity_lines(&mut s, r, name_w);
    let _ = writeln!(
        s,
        "\n(* significant at alpha {}; ! expert not significantly faster; medians of {}; {} on {} core(s), \
         pinned {:?}, load {} -> {}; {:.1}s total, {:.1}s in {} workload runs)",
        r.alpha,
        match r.metric {
            Metric::Time => "seconds",
            Metric::Instructions => "instructions (callgrind)",
        },
        r.machine.sandbox,
        r.machine.cores,
        r.machine.pinned_cpus,
        r.machine.load1_start.map(|x| format!("{x:.2}")).unwrap_or("-".into()),
        r.machine.load1_end.map(|x| format!("{x:.2}")).unwrap_or("-".into()),
        r.timing.total_wall_s,
        r.timing.runs_wall_s,
        r.timing.runs
    );
    s
}

/// The verdict, the task's metrics, and whether the expert is faster than the baseline here.
fn header_lines(s: &mut String, r: &EvalReport) {
    let _ = writeln!(
        s,
        "task {}  patch {}  verdict {}{}",
        r.task,
        r.patch,
        r.verdict.as_str(),
        r.reason
            .as_ref()
            .map(|x| format!(
                "\n  reason: {}",
                x.lines().take(6).collect::<Vec<_>>().join("\n          ")
            ))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "speedup {:.3}x (expert {:.3}x)  opt_base: {}  opt_commit: {} (hmean e/a {:.3} > {})  \
         speedup_ratio {:.3}",
        Figure(r.speedup),
        Figure(r.expert_speedup),
        r.opt_base,
        r.opt_commit,
        Figure(r.hmean_expert_over_patch),
        r.opt_p,
        Figure(r.speedup_ratio)
    );
    let _ = writeln!(
        s,
        "advantage L1 {:+.4}  L2 {:+.4}  L3 {:+.4}  L4 {:+.4}   improvements {}  regressions {} (>= {:.0}%, significant)",
        Figure(r.advantage.l1),
        Figure(r.advantage.l2),
        Figure(r.advantage.l3),
        Figure(r.advantage.l4),
        r.improvements,
        r.regressions,
        r.threshold * 100.0
    );
    let _ = writeln!(
        s,
        "fast_p (KernelBench; correct, not flagged, speedup > p): {} on {:.3}x; against the \
         expert: {} on {:.3}x",
        r.fast_p.text(),
        Figure(r.fast_p_speedup),
        r.fast_p_expert.text(),
        Figure(r.fast_p_expert_speedup)
    );
    let not_faster = r.workloads.iter().filter(|w| w.expert_not_faster).count();
    if r.expert_not_faster {
        let _ = writeln!(
            s,
            "expert_not_faster: on no workload is the expert significantly faster than the baseline \
             here; speedup_ratio and advantage mean nothing and sweeps leave this task out of them"
        );
    } else if not_faster > 0 {
        let _ = writeln!(
            s,
            "{not_faster} workload(s) where the expert is not significantly faster than the baseline \
             (marked !) are left out of speedup_ratio and advantage"
        );
    }
}

/// One row per workload: medians, speedup with its interval and p-value, the expert's speedup,
/// repetitions and why measuring stopped.
fn workload_rows(s: &mut String, r: &EvalReport, name_w: usize) {
    let _ = writeln!(
        s,
        "\n{:<name_w$}  {:>10} {:>10} {:>10}  {:>8} {:>17}  {:>8}  {:>9}  {:>4} stop",
        "workload", "baseline", "expert", "patch", "speedup", "95% CI", "p", "expert", "reps",
    );
    for w in &r.workloads {
        let name: String = w.name.chars().take(name_w).collect();
        let _ = writeln!(
            s,
            "{:<name_w$}  {:>10} {:>10} {:>10}  {:>7.3}x [{:>6.3}, {:>6.3}]  {:>8.1e}{} {:>8.3}x{} {:>4} {}",
            name,
            fmt_value(r.metric, w.baseline.median),
            fmt_value(r.metric, w.expert.median),
            w.patch
                .as_ref()
                .map(|p| fmt_value(r.metric, p.median))
                .unwrap_or_else(|| "-".into()),
            Figure(w.speedup),
            Figure(w.speedup_ci[0]),
            Figure(w.speedup_ci[1]),
            w.p_value,
            if w.significant { "*" } else { " " },
            Figure(w.expert_speedup),
            if w.expert_not_faster { "!" } else { " " },
            w.reps,
            w.stop,
        );
    }
}

/// Time metric: the clock that decided each workload, beside the evaluator's wall and CPU
/// medians of the whole process.
fn clock_lines(s: &mut String, r: &EvalReport, name_w: usize) {
    let _ = writeln!(
        s,
        "\nthe clock that decides each workload, and the evaluator's own clocks (medians of \
         the whole process: wall / CPU, baseline  expert  patch):"
    );
    let cpu = |v: Option<f64>| v.map(|x| fmt_value(Metric::Time, x)).unwrap_or("-".into());
    for w in &r.workloads {
        let Some(c) = &w.clock else { continue };
        let _ = writeln!(
            s,
            "  {:<name_w$}  {:<8}  wall {} {} {}  cpu {} {} {}\n  {:<name_w$}    {}",
            w.name.chars().take(name_w).collect::<String>(),
            c.clock.as_str(),
            fmt_value(Metric::Time, w.baseline_wall_s),
            fmt_value(Metric::Time, w.expert_wall_s),
            w.patch_wall_s
                .map(|v| fmt_value(Metric::Time, v))
                .unwrap_or_else(|| "-".into()),
            cpu(w.baseline_cpu_s),
            cpu(w.expert_cpu_s),
            cpu(w.patch_cpu_s),
            "",
            c.reason
        );
    }
}

/// Instruction metric: the wall time of the whole process beside the counts.
fn wall_lines(s: &mut String, r: &EvalReport, name_w: usize) {
    let _ = writeln!(
        s,
        "\nwall time of the whole process (median; beside the counts):"
    );
    for w in &r.workloads {
        let _ = writeln!(
            s,
            "  {:<name_w$}  baseline {}  expert {}  patch {}",
            w.name.chars().take(name_w).collect::<String>(),
            fmt_value(Metric::Time, w.baseline_wall_s),
            fmt_value(Metric::Time, w.expert_wall_s),
            w.patch_wall_s
                .map(|v| fmt_value(Metric::Time, v))
                .unwrap_or_else(|| "-".into())
        );
    }
}

/// The evaluator's own clock beside the reported one, the flags and the notices.
fn integrity_lines(s: &mut String, r: &EvalReport, name_w: usize) {
    let ig = &r.integrity;
    if !ig.clock.is_empty() {
        let _ = writeln!(
            s,
            "\nthe evaluator's clock (saving = baseline - patch, medians; CPU of the whole process):"
        );
        for c in &ig.clock {
            let _ = writeln!(
                s,
                "  {:<name_w$}  reported {}  wall {} [{}, {}]  cpu {}  {}",
                c.workload.chars().take(name_w).collect::<String>(),
                signed(c.claimed_saving_s),
                signed(c.wall_saving_s),
                signed(c.wall_saving_ci[0]),
                signed(c.wall_saving_ci[1]),
                c.cpu_saving_s.map(signed).unwrap_or_else(|| "-".into()),
                c.outcome
            );
        }
    }
    let _ = writeln!(
        s,
        "\nverified: {}{}",
        r.verified,
        if ig.flags.is_empty() {
            String::new()
        } else {
            format!("  ({} integrity flag(s))", ig.flags.len())
        }
    );
    for f in &ig.flags {
        let _ = writeln!(
            s,
            "  FLAG {}{}: {}",
            f.kind.as_str(),
            f.workload
                .as_deref()
                .map(|w| format!(" [{w}]"))
                .unwrap_or_default(),
            f.detail
        );
    }
    for n in &ig.notices {
        let _ = writeln!(s, "  note: {n}");
    }
}

fn signed(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", fmt_value(Metric::Time, -v))
    } else {
        fmt_value(Metric::Time, v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// gamma's first evaluation from the report crate's hand-written fixture (two workloads).
    pub(crate) fn fixture_report() -> EvalReport {
        let text = include_str!("../../optagent-report/tests/fixtures/results-3x4.jsonl");
        let line = text
            .lines()
            .find(|l| l.contains("\"task\": \"gamma\"") && l.contains("tests_failed"))
            .expect("gamma's tests_failed record");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        serde_json::from_value(v["eval"].clone()).unwrap()
    }

    /// Issue 10 item 6: the table marks workloads where the expert is not faster and says
    /// what that does to SR and advantage.
    #[test]
    fn expert_not_faster_marked_in_table() {
        let mut r = fixture_report();
        assert!(!table(&r).contains("expert_not_faster"));
        r.workloads[1].expert_not_faster = true;
        let t = table(&r);
        assert!(
            t.contains("1 workload(s) where the expert is not significantly faster"),
            "{t}"
        );
        let row = t.lines().find(|l| l.starts_with("gmod.g")).unwrap();
        assert!(row.contains("x!"), "{row}");
        r.workloads[0].expert_not_faster = true;
        r.expert_not_faster = true;
        assert!(table(&r).contains("expert_not_faster: on no workload"));
    }

    /// The table says where the patch stands at each of KernelBench's thresholds.
    #[test]
    fn fast_p_line_in_table() {
        let mut r = fixture_report();
        r.verdict = crate::report::Verdict::Ok;
        r.correct = true;
        r.speedup = Some(1.6);
        r.expert_speedup = Some(1.6);
        crate::fast_p::settle(&mut r);
        let t = table(&r);
        let line = t.lines().find(|l| l.starts_with("fast_p")).expect(&t);
        assert!(
            line.contains("0 yes, 1.0 yes, 1.5 yes, 2.0 no on 1.600x")
                && line.contains("expert: 0 yes, 1.0 no, 1.5 no, 2.0 no on 1.000x"),
            "{line}"
        );
    }

    /// Issue 12 item 4: an undefined figure shows as `NaN` in the table, as it did when NaN
    /// stood for it, with the same width; a defined one keeps its format.
    #[test]
    fn undefined_figures_read_nan_in_table() {
        assert_eq!(format!("[{:>7.3}]", Figure(None)), "[    NaN]");
        assert_eq!(format!("[{:+.4}]", Figure(Some(0.5))), "[+0.5000]");
        assert_eq!(format!("{:.3}", Figure(Some(2.0))), "2.000");
        let mut r = fixture_report();
        r.speedup = None;
        r.speedup_ratio = None;
        r.advantage.l3 = None;
        r.workloads[0].speedup = None;
        r.workloads[0].speedup_ci = [None, Some(1.25)];
        let t = table(&r);
        assert!(t.contains("speedup NaNx (expert "), "{t}");
        assert!(t.contains("speedup_ratio NaN"), "{t}");
        assert!(t.contains("L3 NaN  L4"), "{t}");
        let row = t.lines().find(|l| l.starts_with("gmod.f")).unwrap();
        assert!(row.contains("    NaNx [   NaN,  1.250]"), "{row}");
    }

    /// Issue 12 item 4: `eval --json` keeps its field names and writes an undefined figure as
    /// `null`; the JSON reads back to the same report.
    #[test]
    fn undefined_figures_are_null_in_json_and_read_back() {
        let mut r = fixture_report();
        r.hmean_expert_over_patch = None;
        r.fast_p_speedup = None;
        r.timing.overhead_ratio = None;
        r.workloads[1].expert_speedup_ci = [None, None];
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["hmean_expert_over_patch"], serde_json::Value::Null);
        assert_eq!(v["fast_p_speedup"], serde_json::Value::Null);
        assert_eq!(v["timing"]["overhead_ratio"], serde_json::Value::Null);
        assert_eq!(
            v["workloads"][1]["expert_speedup_ci"],
            serde_json::json!([null, null])
        );
        assert!(v["speedup"].is_number() && v["advantage"]["l1"].is_number());
        let back: EvalReport = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
    }
}
