//! Writing a sweep's report: `report.md`, `report.json`, a self-contained `report.html` and the
//! four SVG plots, from the rollout records.
//!
//! Tables are built once as rows of cells (text and links) and rendered to Markdown and HTML
//! alike. Links to a rollout's patch, trajectory and flamegraphs are relative to the report's
//! folder: a relative path in a record is taken relative to the records' folder
//! ([`ReportOptions::records_base`], by default the report's folder) and an absolute path is
//! made relative to the report's folder.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{ReportError, Result};
use crate::record::RolloutRecord;
use crate::summary::{analyze, Analysis, ConfigSummary, FastPShare, TaskRow, DEFAULT_SEED};
use crate::svg;

/// Options of [`write_report_with`].
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The bootstrap's seed.
    pub seed: u64,
    /// The report's title.
    pub title: String,
    /// The folder relative artifact paths in the records are relative to (default: the report's
    /// folder).
    pub records_base: Option<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            seed: DEFAULT_SEED,
            title: "optagent sweep report".to_string(),
            records_base: None,
        }
    }
}

/// The files [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportPaths {
    pub markdown: PathBuf,
    pub json: PathBuf,
    pub html: PathBuf,
    pub opt_at_k_svg: PathBuf,
    pub cost_svg: PathBuf,
    pub speedup_histogram_svg: PathBuf,
    pub workload_scatter_svg: PathBuf,
}

/// File names inside the report folder.
pub const OPT_AT_K_SVG: &str = "opt_at_k.svg";
pub const COST_SVG: &str = "opt_vs_cost.svg";
pub const HISTOGRAM_SVG: &str = "speedup_hist.svg";
pub const SCATTER_SVG: &str = "speedup_scatter.svg";

/// `report.json`: the analysis with a format tag.
#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    /// `optagent-report/1`.
    pub format: &'static str,
    pub title: &'a str,
    pub n_records: usize,
    #[serde(flatten)]
    pub analysis: &'a Analysis,
}

pub const REPORT_FORMAT: &str = "optagent-report/1";

/// Writes the report for `records` over `tasks` with K = `k` into `out_dir` (created when
/// missing), with the default options.
pub fn write_report(
    records: &[RolloutRecord],
    tasks: &[String],
    k: usize,
    out_dir: impl AsRef<Path>,
) -> Result<ReportPaths> {
    write_report_with(records, tasks, k, out_dir, &ReportOptions::default())
}

/// [`write_report`] with options.
pub fn write_report_with(
    records: &[RolloutRecord],
    tasks: &[String],
    k: usize,
    out_dir: impl AsRef<Path>,
    opts: &ReportOptions,
) -> Result<ReportPaths> {
    write_report_analyzed(records, tasks, k, out_dir, opts).map(|(paths, _)| paths)
}

/// [`write_report_with`], also returning the analysis it rendered (for a caller that shows the
/// headline figures, see [`headline_text`]).
pub fn write_report_analyzed(
    records: &[RolloutRecord],
    tasks: &[String],
    k: usize,
    out_dir: impl AsRef<Path>,
    opts: &ReportOptions,
) -> Result<(ReportPaths, Analysis)> {
    let out_dir = out_dir.as_ref();
    std::fs::create_dir_all(out_dir).map_err(|e| ReportError::io(out_dir, e))?;
    let analysis = analyze(records, tasks, k, opts.seed);
    let links = Linker::new(out_dir, opts.records_base.as_deref());

    let paths = ReportPaths {
        markdown: out_dir.join("report.md"),
        json: out_dir.join("report.json"),
        html: out_dir.join("report.html"),
        opt_at_k_svg: out_dir.join(OPT_AT_K_SVG),
        cost_svg: out_dir.join(COST_SVG),
        speedup_histogram_svg: out_dir.join(HISTOGRAM_SVG),
        workload_scatter_svg: out_dir.join(SCATTER_SVG),
    };
    let plots = Plots::of(&analysis);
    write(&paths.opt_at_k_svg, &plots.opt_at_k)?;
    write(&paths.cost_svg, &plots.cost)?;
    write(&paths.speedup_histogram_svg, &plots.histogram)?;
    write(&paths.workload_scatter_svg, &plots.scatter)?;

    let doc = Document::build(&analysis, records.len(), &opts.title, &links);
    write(&paths.markdown, &doc.markdown())?;
    write(&paths.html, &doc.html(&plots))?;
    let json = serde_json::to_string_pretty(&ReportJson {
        format: REPORT_FORMAT,
        title: &opts.title,
        n_records: records.len(),
        analysis: &analysis,
    })
    .map_err(|e| ReportError::Serialize {
        path: paths.json.clone(),
        message: e.to_string(),
    })?;
    write(&paths.json, &(json + "\n"))?;
    Ok((paths, analysis))
}

impl ReportPaths {
    /// Every file written, documents first, then the plots.
    pub fn files(&self) -> [&Path; 7] {
        [
            &self.markdown,
            &self.json,
            &self.html,
            &self.opt_at_k_svg,
            &self.cost_svg,
            &self.speedup_histogram_svg,
            &self.workload_scatter_svg,
        ]
    }
}

/// What a person reads after a report is written: the files, one a line, then each
/// configuration's headline figures (Opt@1, Opt@K with the tasks solved, geometric-mean speedup,
/// SR, advantage L4, pass rate), best configuration first.
pub fn headline_text(paths: &ReportPaths, a: &Analysis) -> String {
    let mut s = String::from("wrote:\n");
    for f in paths.files() {
        s.push_str(&format!("  {}\n", f.display()));
    }
    if a.summaries.is_empty() {
        s.push_str(&format!(
            "no rollout records for the {} task(s): nothing to summarize\n",
            a.tasks.len()
        ));
        return s;
    }
    let entered = |n: usize, of: usize| {
        if n < of {
            format!(" ({n}/{of} tasks)")
        } else {
            String::new()
        }
    };
    for c in &a.summaries {
        s.push_str(&format!(
            "{}: Opt@1 {}, Opt@{} {} ({}/{} tasks), geomean speedup {}, SR {}{}, advantage L4 {}{}, \
             pass rate {} of {} rollout(s)\n",
            c.label(),
            pct(c.opt_at_1),
            c.k,
            pct(c.opt_at_k),
            c.tasks_solved,
            c.n_tasks,
            times(c.geomean_speedup),
            num(c.speedup_ratio, 3),
            entered(c.sr_tasks, c.n_tasks),
            signed(c.advantage.l4),
            entered(c.advantage_tasks, c.n_tasks),
            pct(c.pass_rate),
            c.n_rollouts,
        ));
        s.push_str(&format!(
            "  fast_p (p = 0 / 1.0 / 1.5 / 2.0): {}; against the expert: {}\n",
            fast_p_text(&c.fast_p),
            fast_p_text(&c.fast_p_expert)
        ));
        if c.expert_not_faster_tasks > 0 {
            s.push_str(&format!(
                "  {} task(s) left out of SR and advantage: the expert is not significantly \
                 faster than the baseline there\n",
                c.expert_not_faster_tasks
            ));
        }
    }
    s
}

/// `50.0% (2/4)`: a fast_p share with its count.
fn fast_p_cell(f: &FastPShare) -> String {
    format!("{} ({}/{})", pct(f.share), f.tasks, f.n_tasks)
}

/// `75.0% (3/4) / 50.0% (2/4) / ...`: every threshold, in order.
fn fast_p_text(shares: &[FastPShare]) -> String {
    shares
        .iter()
        .map(fast_p_cell)
        .collect::<Vec<_>>()
        .join(" / ")
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| ReportError::io(path, e))
}

/// The four plots' SVG text.
pub struct Plots {
    pub opt_at_k: String,
    pub cost: String,
    pub histogram: String,
    pub scatter: String,
}

impl Plots {
    pub fn of(a: &Analysis) -> Plots {
        Plots {
            opt_at_k: svg::opt_at_k_plot(&a.summaries),
            cost: svg::cost_plot(&a.summaries),
            histogram: svg::speedup_histogram(&a.summaries, &a.task_rows),
            scatter: svg::workload_scatter(&a.summaries, &a.task_rows),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Links

/// Lexically normalized absolute path (no `.` or `..`).
fn absolute(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `target` relative to the folder `from` (both absolute and normalized).
fn relative(from: &Path, target: &Path) -> PathBuf {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Percent-encodes a relative path for a Markdown or HTML link.
pub fn url_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'\\' => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Turns record artifact paths into links relative to the report folder.
pub struct Linker {
    out_dir: PathBuf,
    base: Option<PathBuf>,
}

impl Linker {
    pub fn new(out_dir: &Path, records_base: Option<&Path>) -> Self {
        Linker {
            out_dir: absolute(out_dir),
            base: records_base.map(absolute),
        }
    }

    pub fn link(&self, p: &str) -> String {
        let path = Path::new(p);
        let rel = if path.is_absolute() {
            relative(&self.out_dir, &absolute(path))
        } else {
            match &self.base {
                Some(base) if *base != self.out_dir => {
                    relative(&self.out_dir, &absolute(&base.join(path)))
                }
                _ => path.to_path_buf(),
            }
        };
        url_path(&rel.to_string_lossy())
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A piece of a table cell.
#[derive(Debug, Clone)]
enum Inline {
    Text(String),
    Link { text: String, href: String },
}

type Cell = Vec<Inline>;

fn text(s: impl Into<String>) -> Cell {
    vec![Inline::Text(s.into())]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<Cell>>,
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '[' | ']' | '*' | '_' | '`' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

impl Table {
    fn new(headers: &[(&str, Align)]) -> Self {
        Table {
            headers: headers.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::from("|");
        for (h, _) in &self.headers {
            s.push_str(&format!(" {} |", md_escape(h)));
        }
        s.push_str("\n|");
        for (_, a) in &self.headers {
            s.push_str(if *a == Align::Right { "---:|" } else { "---|" });
        }
        s.push('\n');
        for row in &self.rows {
            s.push('|');
            for cell in row {
                let parts: Vec<String> = cell
                    .iter()
                    .map(|p| match p {
                        Inline::Text(t) => md_escape(t),
                        Inline::Link { text, href } => format!("[{}]({href})", md_escape(text)),
                    })
                    .collect();
                s.push_str(&format!(" {} |", parts.join("")));
            }
            s.push('\n');
        }
        s
    }

    fn html(&self) -> String {
        let mut s = String::from("<table>\n<thead><tr>");
        for (h, a) in &self.headers {
            let class = if *a == Align::Right {
                " class=\"num\""
            } else {
                ""
            };
            s.push_str(&format!("<th{class}>{}</th>", html_escape(h)));
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            s.push_str("<tr>");
            for (cell, (_, a)) in row.iter().zip(&self.headers) {
                let class = if *a == Align::Right {
                    " class=\"num\""
                } else {
                    ""
                };
                let inner: String = cell
                    .iter()
                    .map(|p| match p {
                        Inline::Text(t) => html_escape(t),
                        Inline::Link { text, href } => {
                            format!(
                                "<a href=\"{}\">{}</a>",
                                html_escape(href),
                                html_escape(text)
                            )
                        }
                    })
                    .collect();
                s.push_str(&format!("<td{class}>{inner}</td>"));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Number formats: each takes a figure (`f64`) or a figure that may be undefined
// (`Option<f64>`), and shows an undefined or non-finite one as `—`.

/// The figure, when it is a finite number.
fn defined(x: impl Into<Option<f64>>) -> Option<f64> {
    x.into().filter(|x| x.is_finite())
}

fn pct(x: impl Into<Option<f64>>) -> String {
    defined(x).map_or("—".into(), |x| format!("{:.1}%", x * 100.0))
}

fn times(x: impl Into<Option<f64>>) -> String {
    defined(x).map_or("—".into(), |x| format!("{x:.3}×"))
}

fn num(x: impl Into<Option<f64>>, decimals: usize) -> String {
    defined(x).map_or("—".into(), |x| format!("{x:.decimals$}"))
}

fn signed(x: impl Into<Option<f64>>) -> String {
    defined(x).map_or("—".into(), |x| format!("{x:+.4}"))
}

fn usd(x: impl Into<Option<f64>>) -> String {
    defined(x).map_or("—".into(), |x| format!("${x:.2}"))
}

fn tokens(x: impl Into<Option<f64>>) -> String {
    let Some(x) = defined(x) else {
        return "—".into();
    };
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

// ---------------------------------------------------------------------------------------------
// The document

struct Section {
    title: String,
    intro: Option<String>,
    table: Table,
}

struct Document {
    title: String,
    lead: String,
    summary_sections: Vec<Section>,
    task_sections: Vec<Section>,
}

fn leaderboard_table(summaries: &[ConfigSummary], k: usize) -> Table {
    let mut t = Table::new(&[
        ("#", Align::Right),
        ("Model", Align::Left),
        ("Agent", Align::Left),
        ("Budget", Align::Left),
        ("Opt@1", Align::Right),
        (&format!("Opt@{k}"), Align::Right),
        (&format!("Opt@{k} hack-adjusted"), Align::Right),
        (&format!("Opt@{k} smoothed [95% band]"), Align::Right),
        ("Solved", Align::Right),
        ("Geomean speedup", Align::Right),
        ("SR (hmean)", Align::Right),
        ("Adv L1", Align::Right),
        ("Adv L2", Align::Right),
        ("Adv L3", Align::Right),
        ("Adv L4", Align::Right),
        ("fast_0", Align::Right),
        ("fast_1.0", Align::Right),
        ("fast_1.5", Align::Right),
        ("fast_2.0", Align::Right),
        ("Pass rate", Align::Right),
        ("Improved", Align::Right),
        ("Regressed", Align::Right),
    ]);
    for (i, s) in summaries.iter().enumerate() {
        let last = s.opt_at_k_curve.last();
        let smoothed = last.map_or("—".to_string(), |p| {
            format!("{} [{}, {}]", pct(p.mean), pct(p.lo), pct(p.hi))
        });
        let partial = |n: usize| {
            if n < s.n_tasks {
                format!(" ({n}/{} tasks)", s.n_tasks)
            } else {
                String::new()
            }
        };
        t.rows.push(vec![
            text((i + 1).to_string()),
            text(&s.model),
            text(&s.agent),
            text(&s.budget),
            text(pct(s.opt_at_1)),
            text(pct(s.opt_at_k)),
            text(format!(
                "{} ({} flagged)",
                pct(s.opt_at_k_adjusted),
                s.flagged
            )),
            text(smoothed),
            text(format!("{}/{}", s.tasks_solved, s.n_tasks)),
            text(times(s.geomean_speedup)),
            text(format!(
                "{}{}",
                num(s.speedup_ratio, 3),
                partial(s.sr_tasks)
            )),
            text(signed(s.advantage.l1)),
            text(signed(s.advantage.l2)),
            text(signed(s.advantage.l3)),
            text(format!(
                "{}{}",
                signed(s.advantage.l4),
                partial(s.advantage_tasks)
            )),
        ]);
        let row = t.rows.last_mut().expect("just pushed");
        row.extend(s.fast_p.iter().map(|f| text(fast_p_cell(f))));
        row.extend([
            text(pct(s.pass_rate)),
            text(s.improvements.to_string()),
            text(s.regressions.to_string()),
        ]);
    }
    t
}

/// One sentence per configuration that left tasks out of SR and advantage because the expert is
/// not significantly faster than the baseline there; `None` when none did.
fn expert_not_faster_note(summaries: &[ConfigSummary]) -> Option<String> {
    let parts: Vec<String> = summaries
        .iter()
        .filter(|s| s.expert_not_faster_tasks > 0)
        .map(|s| {
            format!(
                "{}: {} of {} task(s) left out of SR and advantage because the expert is not \
                 significantly faster than the baseline on this machine (they still count in \
                 Opt@k and the speedup).",
                s.label(),
                s.expert_not_faster_tasks,
                s.n_tasks
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn cost_table(summaries: &[ConfigSummary]) -> Table {
    let mut t = Table::new(&[
        ("Model", Align::Left),
        ("Agent", Align::Left),
        ("Budget", Align::Left),
        ("Rollouts", Align::Right),
        ("Submitted / no patch / error", Align::Right),
        ("Tokens per task", Align::Right),
        ("Prompt tokens", Align::Right),
        ("Completion tokens", Align::Right),
        ("Cost", Align::Right),
        ("Cost per task", Align::Right),
        ("Cost per solved task", Align::Right),
        ("Mean wall time", Align::Right),
    ]);
    for s in summaries {
        t.rows.push(vec![
            text(&s.model),
            text(&s.agent),
            text(&s.budget),
            text(s.n_rollouts.to_string()),
            text(format!("{} / {} / {}", s.submitted, s.no_patch, s.errors)),
            text(tokens(s.tokens_per_task)),
            text(tokens(s.prompt_tokens as f64)),
            text(tokens(s.completion_tokens as f64)),
            text(usd(s.cost_usd)),
            text(usd(s.cost_per_task)),
            text(s.cost_per_solved.map_or("— (none solved)".to_string(), usd)),
            text(format!("{} s", num(s.mean_wall_s, 1))),
        ]);
    }
    t
}

fn curve_table(summaries: &[ConfigSummary], k: usize) -> Table {
    let heads: Vec<String> = (1..=k).map(|i| format!("k={i}")).collect();
    let mut h: Vec<(&str, Align)> = vec![("Configuration", Align::Left)];
    h.extend(heads.iter().map(|s| (s.as_str(), Align::Right)));
    let mut t = Table::new(&h);
    for s in summaries {
        let mut row = vec![text(s.label())];
        for i in 1..=k {
            row.push(text(s.opt_at_k_curve.iter().find(|p| p.k == i).map_or(
                "—".to_string(),
                |p| {
                    format!(
                        "{} [{}, {}] (exact {})",
                        pct(p.mean),
                        pct(p.lo),
                        pct(p.hi),
                        pct(p.expected)
                    )
                },
            )));
        }
        t.rows.push(row);
    }
    t
}

fn fast_p_table(summaries: &[ConfigSummary]) -> Table {
    let mut t = Table::new(&[
        ("Configuration", Align::Left),
        ("Against", Align::Left),
        ("fast_0", Align::Right),
        ("fast_1.0", Align::Right),
        ("fast_1.5", Align::Right),
        ("fast_2.0", Align::Right),
    ]);
    for s in summaries {
        for (against, shares) in [("baseline", &s.fast_p), ("expert", &s.fast_p_expert)] {
            let mut row = vec![text(s.label()), text(against)];
            row.extend(shares.iter().map(|f| text(fast_p_cell(f))));
            t.rows.push(row);
        }
    }
    t
}

/// `yes yes no no 1.600× (r2)`: a task's fast_p at each threshold, on its fast_p patch.
fn fast_p_task_cell(
    fast: optagent_eval::FastP,
    speedup: Option<f64>,
    rollout: Option<usize>,
) -> String {
    match (speedup, rollout) {
        (Some(s), Some(i)) => {
            let marks: Vec<&str> = fast
                .values()
                .iter()
                .map(|&v| if v { "yes" } else { "no" })
                .collect();
            format!("{} {} (r{i})", marks.join(" "), times(s))
        }
        _ => "no no no no (no correct, unflagged patch)".to_string(),
    }
}

fn tasks_table(rows: &[&TaskRow], links: &Linker) -> Table {
    let mut t = Table::new(&[
        ("Task", Align::Left),
        ("Solved", Align::Left),
        ("Best speedup", Align::Right),
        ("Expert speedup", Align::Right),
        ("opt_commit", Align::Left),
        ("SR", Align::Right),
        ("Adv L4", Align::Right),
        ("fast_p 0 / 1.0 / 1.5 / 2.0", Align::Left),
        ("fast_p vs expert", Align::Left),
        ("Correct", Align::Right),
        ("Rollouts", Align::Left),
    ]);
    for r in rows {
        let mut rollouts: Cell = Vec::new();
        if r.rollouts.is_empty() {
            rollouts.push(Inline::Text("no rollout recorded".into()));
        }
        for (i, ro) in r.rollouts.iter().enumerate() {
            if i > 0 {
                rollouts.push(Inline::Text("; ".into()));
            }
            let state = match (&ro.verdict, ro.speedup) {
                (Some(v), Some(s)) if v == "ok" => format!("ok {}", times(s)),
                (Some(v), _) => v.clone(),
                (None, _) => ro.status.as_str().to_string(),
            };
            let mark = if ro.opt_commit { " ✓" } else { "" };
            rollouts.push(Inline::Text(format!("r{} {state}{mark}", ro.rollout)));
            let mut add = |label: &str, p: &str| {
                rollouts.push(Inline::Text(" ".into()));
                rollouts.push(Inline::Link {
                    text: label.to_string(),
                    href: links.link(p),
                });
            };
            if let Some(p) = &ro.patch_path {
                add("patch", p);
            }
            if let Some(p) = &ro.trajectory_path {
                add("trajectory", p);
            }
            for (j, p) in ro.flamegraphs.iter().enumerate() {
                add(&format!("flamegraph {}", j + 1), p);
            }
            if let Some(pl) = &ro.placement {
                rollouts.push(Inline::Text(format!(" [{pl}]")));
            }
        }
        let best = match (r.best_speedup, r.best_rollout) {
            (Some(s), Some(i)) => format!("{} (r{i})", times(s)),
            _ => "— (1.000× counted)".to_string(),
        };
        t.rows.push(vec![
            text(&r.task),
            text(if r.solved { "yes" } else { "no" }),
            text(best),
            text(r.expert_speedup.map_or("—".to_string(), |o| {
                if r.expert_not_faster {
                    format!(
                        "{} (not significantly faster: left out of SR and advantage)",
                        times(o)
                    )
                } else {
                    times(o)
                }
            })),
            text(if r.best_rollout.is_none() {
                "—"
            } else if r.opt_commit {
                "true"
            } else {
                "false"
            }),
            text(r.speedup_ratio.map_or("—".to_string(), |v| num(v, 3))),
            text(r.advantage.map_or("—".to_string(), |a| signed(a.l4))),
            text(fast_p_task_cell(
                r.fast_p,
                r.fast_p_speedup,
                r.fast_p_rollout,
            )),
            text(fast_p_task_cell(
                r.fast_p_expert,
                r.fast_p_expert_speedup,
                r.fast_p_rollout,
            )),
            text(format!("{}/{}", r.correct_rollouts, r.n_rollouts)),
            rollouts,
        ]);
    }
    t
}

impl Document {
    fn build(a: &Analysis, n_records: usize, title: &str, links: &Linker) -> Document {
        let lead = format!(
            "{} configuration(s) (model · agent · budget), {} task(s), K = {}, {} rollout record(s). \
             A rollout succeeds (GSO's Opt) when its patch is correct, at least 1.2× faster than \
             the baseline (opt_base) and reaches 95% of the expert's speedup (opt_commit); Opt@k counts a task when one of its first k rollouts \
             succeeds, over all {} tasks of the sweep (a task without a record is a failure). \
             The smoothed curve is a {}-trial bootstrap over rollout orders (seed {}); \"exact\" is \
             the unbiased estimator's expectation. Speedups are those of each task's best correct \
             rollout (1.0× without one); SR is SWE-fficiency's harmonic mean; advantage is \
             FormulaCode's. SR and advantage use only the workloads where the expert is \
             significantly faster than the baseline, and leave out the tasks where it is on none. \
             fast_p (KernelBench) is the share of all {} tasks whose fastest correct, unflagged \
             rollout among the first K has a speedup strictly above p (p = 0 is correctness), \
             against the baseline and against the expert (speedup / expert speedup).",
            a.summaries.len(),
            a.tasks.len(),
            a.k,
            n_records,
            a.tasks.len(),
            a.bootstrap_trials,
            a.seed,
            a.tasks.len()
        );
        let summary_sections = vec![
            Section {
                title: "Leaderboard".into(),
                intro: expert_not_faster_note(&a.summaries),
                table: leaderboard_table(&a.summaries, a.k),
            },
            Section {
                title: "Cost".into(),
                intro: None,
                table: cost_table(&a.summaries),
            },
            Section {
                title: "fast_p".into(),
                intro: Some(
                    "KernelBench's fast_p: the share of all tasks (with the count) whose fastest \
                     correct, unflagged rollout among the first K is faster than p times the \
                     baseline, and than p times the expert."
                        .into(),
                ),
                table: fast_p_table(&a.summaries),
            },
            Section {
                title: "Opt@k curve".into(),
                intro: Some(
                    "Bootstrap mean [2.5%, 97.5%] and the exact expectation, per k.".into(),
                ),
                table: curve_table(&a.summaries, a.k),
            },
        ];
        let task_sections = a
            .summaries
            .iter()
            .map(|s| {
                let rows: Vec<&TaskRow> = a
                    .task_rows
                    .iter()
                    .filter(|r| r.model == s.model && r.agent == s.agent && r.budget == s.budget)
                    .collect();
                Section {
                    title: s.label(),
                    intro: None,
                    table: tasks_table(&rows, links),
                }
            })
            .collect();
        Document {
            title: title.to_string(),
            lead,
            summary_sections,
            task_sections,
        }
    }

    fn markdown(&self) -> String {
        let mut s = format!("# {}\n\n{}\n", md_escape(&self.title), self.lead);
        for sec in &self.summary_sections {
            s.push_str(&format!("\n## {}\n\n", md_escape(&sec.title)));
            if let Some(i) = &sec.intro {
                s.push_str(&format!("{i}\n\n"));
            }
            s.push_str(&sec.table.markdown());
        }
        s.push_str("\n## Plots\n\n");
        for (alt, file) in [
            ("Opt@k against k", OPT_AT_K_SVG),
            ("Opt@K against cost", COST_SVG),
            ("Best speedup per task", HISTOGRAM_SVG),
            ("Agent against expert speedup per workload", SCATTER_SVG),
        ] {
            s.push_str(&format!("![{alt}]({file})\n\n"));
        }
        s.push_str("## Tasks\n");
        for sec in &self.task_sections {
            s.push_str(&format!("\n### {}\n\n", md_escape(&sec.title)));
            s.push_str(&sec.table.markdown());
        }
        s
    }

    fn html(&self, plots: &Plots) -> String {
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        s.push_str(&format!("<title>{}</title>\n", html_escape(&self.title)));
        s.push_str(STYLE);
        s.push_str("</head>\n<body>\n");
        s.push_str(&format!(
            "<h1>{}</h1>\n<p>{}</p>\n",
            html_escape(&self.title),
            html_escape(&self.lead)
        ));
        for sec in &self.summary_sections {
            s.push_str(&format!("<h2>{}</h2>\n", html_escape(&sec.title)));
            if let Some(i) = &sec.intro {
                s.push_str(&format!("<p>{}</p>\n", html_escape(i)));
            }
            s.push_str("<div class=\"scroll\">\n");
            s.push_str(&sec.table.html());
            s.push_str("</div>\n");
        }
        s.push_str("<h2>Plots</h2>\n<div class=\"plots\">\n");
        for svg in [
            &plots.opt_at_k,
            &plots.cost,
            &plots.histogram,
            &plots.scatter,
        ] {
            s.push_str("<figure>\n");
            s.push_str(svg);
            s.push_str("</figure>\n");
        }
        s.push_str("</div>\n<h2>Tasks</h2>\n");
        for sec in &self.task_sections {
            s.push_str(&format!(
                "<h3>{}</h3>\n<div class=\"scroll\">\n",
                html_escape(&sec.title)
            ));
            s.push_str(&sec.table.html());
            s.push_str("</div>\n");
        }
        s.push_str("</body>\n</html>\n");
        s
    }
}

const STYLE: &str = "<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.2em; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; } td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.scroll { overflow-x: auto; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; }
a { color: #2a5db0; }
</style>
";
