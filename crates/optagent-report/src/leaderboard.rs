//! The leaderboard file (`evals/leaderboard.toml`): optagent's own results next to the public
//! benchmarks' published figures, one `[[entry]]` per (system, model, benchmark) result. The
//! format is documented in `evals/README.md`.
//!
//! Metric units: `opt_at_1` and `opt_at_k` are fractions of the benchmark's tasks (0.4412, shown
//! as 44.12%); `speedup_ratio` is SWE-fficiency's harmonic-mean SR; `advantage` is FormulaCode's
//! headline advantage (L4); `fast_p` is KernelBench's fast_p, a fraction of the tasks per
//! threshold (`fast_p = { "0" = 0.9, "1.0" = 0.4 }`). `measured = false` marks a placeholder that
//! carries no numbers yet.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};
use crate::summary::ConfigSummary;
use crate::tomlsrc::{field_error, from_toml, Seg};
use optagent_eval::fast_p::FAST_P_LABELS;

/// Which benchmark an entry's figures are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Benchmark {
    /// The tasks bundled in this repository (`tasks/`).
    #[serde(rename = "optagent-bundled")]
    OptagentBundled,
    #[serde(rename = "gso")]
    Gso,
    #[serde(rename = "swe-fficiency")]
    SweFficiency,
    #[serde(rename = "formulacode")]
    FormulaCode,
    #[serde(rename = "kernelbench")]
    KernelBench,
}

impl Benchmark {
    pub fn as_str(&self) -> &'static str {
        match self {
            Benchmark::OptagentBundled => "optagent-bundled",
            Benchmark::Gso => "gso",
            Benchmark::SweFficiency => "swe-fficiency",
            Benchmark::FormulaCode => "formulacode",
            Benchmark::KernelBench => "kernelbench",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Benchmark::OptagentBundled => "optagent bundled tasks",
            Benchmark::Gso => "GSO",
            Benchmark::SweFficiency => "SWE-fficiency",
            Benchmark::FormulaCode => "FormulaCode",
            Benchmark::KernelBench => "KernelBench",
        }
    }

    const ALL: [Benchmark; 5] = [
        Benchmark::OptagentBundled,
        Benchmark::Gso,
        Benchmark::SweFficiency,
        Benchmark::FormulaCode,
        Benchmark::KernelBench,
    ];
}

/// Whether published figures are exact or bounds ("agents reach less than 0.15x").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// The true figure is below the number given.
    Upper,
    /// The true figure is above the number given.
    Lower,
}

/// KernelBench's fast_p at its thresholds, each a fraction of the benchmark's tasks (any may be
/// left out when the source does not give it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastPFigures {
    #[serde(rename = "0", default, skip_serializing_if = "Option::is_none")]
    pub p0: Option<f64>,
    #[serde(rename = "1.0", default, skip_serializing_if = "Option::is_none")]
    pub p1: Option<f64>,
    #[serde(rename = "1.5", default, skip_serializing_if = "Option::is_none")]
    pub p1_5: Option<f64>,
    #[serde(rename = "2.0", default, skip_serializing_if = "Option::is_none")]
    pub p2: Option<f64>,
}

impl FastPFigures {
    /// The figures in threshold order (`"0"`, `"1.0"`, `"1.5"`, `"2.0"`).
    pub fn values(&self) -> [Option<f64>; 4] {
        [self.p0, self.p1, self.p1_5, self.p2]
    }

    fn any(&self) -> bool {
        self.values().iter().any(Option::is_some)
    }
}

fn yes() -> bool {
    true
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardEntry {
    /// The agent system (`optagent`, `OpenHands`, ...).
    pub system: String,
    /// The model, `provider/model` where known.
    pub model: String,
    pub benchmark: Benchmark,
    /// False for a placeholder that a sweep will fill (and then no metric may be given).
    #[serde(default = "yes")]
    pub measured: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_at_1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_at_k: Option<f64>,
    /// The K of `opt_at_k` (required with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advantage: Option<f64>,
    /// KernelBench's fast_p (against the baseline), per threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_p: Option<FastPFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_tasks: Option<usize>,
    /// The figures are bounds rather than exact values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
    /// A URL, or `this repository, evals/<file>` for results measured here.
    pub source: String,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; `unknown` when the source gives none; `pending` for a
    /// placeholder.
    pub date: String,
    #[serde(default)]
    pub notes: String,
}

impl LeaderboardEntry {
    fn has_metric(&self) -> bool {
        self.opt_at_1.is_some()
            || self.opt_at_k.is_some()
            || self.speedup_ratio.is_some()
            || self.advantage.is_some()
            || self.fast_p.is_some_and(|f| f.any())
    }

    /// An entry measured by a sweep of the bundled tasks, from its summary.
    pub fn from_summary(
        s: &ConfigSummary,
        system: &str,
        source: &str,
        date: &str,
    ) -> LeaderboardEntry {
        let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
        LeaderboardEntry {
            system: system.to_string(),
            model: s.model.clone(),
            benchmark: Benchmark::OptagentBundled,
            measured: true,
            opt_at_1: finite(s.opt_at_1),
            opt_at_k: finite(s.opt_at_k),
            k: Some(s.k),
            speedup_ratio: finite(s.speedup_ratio),
            advantage: finite(s.advantage.l4),
            fast_p: fast_p_figures(&s.fast_p),
            n_tasks: Some(s.n_tasks),
            bound: None,
            source: source.to_string(),
            date: date.to_string(),
            notes: format!("agent {}, budget {}", s.agent, s.budget),
        }
    }

    /// The first invalid field (relative to the entry) and what is wrong.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        for (name, v) in [
            ("system", &self.system),
            ("model", &self.model),
            ("source", &self.source),
        ] {
            if v.trim().is_empty() {
                return Err((name, "must not be empty".into()));
            }
        }
        for (name, v) in [("opt_at_1", self.opt_at_1), ("opt_at_k", self.opt_at_k)] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err((
                        name,
                        format!("{v} is not a fraction in 0..=1 (write 44.12% as 0.4412)"),
                    ));
                }
            }
        }
        if let Some(f) = &self.fast_p {
            for (label, v) in FAST_P_LABELS.iter().zip(f.values()) {
                if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
                    return Err((
                        "fast_p",
                        format!("\"{label}\" = {v} is not a fraction in 0..=1 (write 12% as 0.12)"),
                    ));
                }
            }
            if !f.any() {
                return Err((
                    "fast_p",
                    "gives no threshold: use the keys \"0\", \"1.0\", \"1.5\", \"2.0\"".into(),
                ));
            }
        }
        if self.opt_at_k.is_some() && self.k.is_none() {
            return Err(("k", "opt_at_k is given without its k".into()));
        }
        if self.k == Some(0) {
            return Err(("k", "must be at least 1".into()));
        }
        for (name, v) in [
            ("speedup_ratio", self.speedup_ratio),
            ("advantage", self.advantage),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err((name, "must be a finite number".into()));
            }
        }
        if self.speedup_ratio.is_some_and(|v| v <= 0.0) {
            return Err(("speedup_ratio", "must be positive".into()));
        }
        if self.n_tasks == Some(0) {
            return Err(("n_tasks", "must be at least 1".into()));
        }
        if !self.measured && self.has_metric() {
            return Err((
                "measured",
                "a placeholder (measured = false) must not carry metric values".into(),
            ));
        }
        if self.measured && !self.has_metric() {
            return Err((
                "measured",
                "a measured entry needs at least one of opt_at_1, opt_at_k, speedup_ratio, \
                 advantage, fast_p"
                    .into(),
            ));
        }
        if !valid_date(&self.date, self.measured) {
            return Err((
                "date",
                format!(
                    "{:?} is not YYYY, YYYY-MM, YYYY-MM-DD or \"unknown\" (\"pending\" only with measured = false)",
                    self.date
                ),
            ));
        }
        Ok(())
    }
}

/// A summary's fast_p shares as leaderboard figures (`None` when none is a number).
fn fast_p_figures(shares: &[crate::summary::FastPShare]) -> Option<FastPFigures> {
    let at = |label: &str| {
        shares
            .iter()
            .find(|f| f.p == label)
            .and_then(|f| f.share)
            .filter(|v| v.is_finite())
    };
    let f = FastPFigures {
        p0: at("0"),
        p1: at("1.0"),
        p1_5: at("1.5"),
        p2: at("2.0"),
    };
    f.any().then_some(f)
}

fn valid_date(d: &str, measured: bool) -> bool {
    if d == "unknown" || (d == "pending" && !measured) {
        return true;
    }
    let parts: Vec<&str> = d.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let in_range =
        |s: &str, lo: u32, hi: u32| s.parse::<u32>().is_ok_and(|v| (lo..=hi).contains(&v));
    match parts.as_slice() {
        [y] => digits(y, 4),
        [y, m] => digits(y, 4) && digits(m, 2) && in_range(m, 1, 12),
        [y, m, day] => {
            digits(y, 4)
                && digits(m, 2)
                && in_range(m, 1, 12)
                && digits(day, 2)
                && in_range(day, 1, 31)
        }
        _ => false,
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaderboardFile {
    #[serde(default, rename = "entry")]
    entries: Vec<LeaderboardEntry>,
}

/// Reads and validates a leaderboard file. Errors name the file, the line and the field
/// (`entry[3].opt_at_1`).
pub fn load_leaderboard(path: impl AsRef<Path>) -> Result<Vec<LeaderboardEntry>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    parse_leaderboard(&text, path)
}

/// Parses leaderboard text (`path` names it in errors).
pub fn parse_leaderboard(text: &str, path: &Path) -> Result<Vec<LeaderboardEntry>> {
    let file: LeaderboardFile = from_toml(path, text)?;
    for (i, e) in file.entries.iter().enumerate() {
        if let Err((field, message)) = e.check() {
            let segs = [
                Seg::Key("entry".into()),
                Seg::Index(i),
                Seg::Key(field.into()),
            ];
            return Err(field_error(path, text, &segs, message));
        }
    }
    Ok(file.entries)
}

const HEADER: &str = "# optagent leaderboard: see evals/README.md for the format.\n";

/// Appends one entry to a leaderboard file (created when missing), keeping the file's comments.
/// The entry is validated first, and so is the file. A placeholder (`measured = false`) of the
/// same system, model and benchmark is not removed: rendering hides it once a measured entry
/// exists.
pub fn leaderboard_add(path: impl AsRef<Path>, entry: &LeaderboardEntry) -> Result<()> {
    let path = path.as_ref();
    if let Err((field, message)) = entry.check() {
        return Err(ReportError::Config {
            path: path.to_path_buf(),
            line: crate::error::Line(None),
            field: format!("(new entry).{field}"),
            message,
        });
    }
    let exists = path.exists();
    let existing = if exists {
        std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?
    } else {
        String::new()
    };
    if exists {
        parse_leaderboard(&existing, path)?;
    }
    let block = toml::to_string(&LeaderboardFile {
        entries: vec![entry.clone()],
    })
    .map_err(|e| ReportError::Serialize {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut text = String::new();
    if !exists {
        text.push_str(HEADER);
    } else if !existing.is_empty() && !existing.ends_with('\n') {
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&block);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ReportError::io(path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ReportError::io(path, e))
}

/// What [`leaderboard_merge`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Entries appended to the file.
    pub added: usize,
    /// Entries left out because the file already holds one with the same system, model,
    /// benchmark, source and notes (a sweep merged before).
    pub already: usize,
    /// Configurations left out because no figure of theirs is a number (no task ended).
    pub without_figures: usize,
}

/// The measured entries of one sweep folder: one per configuration (model, agent, budget) of its
/// records, over the tasks those records name, with K the most rollouts of a task. `source` names
/// the sweep (`this repository, evals/sweeps/x`); `date` is the day of the merge.
pub fn sweep_entries(dir: &Path, source: &str, date: &str) -> Result<Vec<LeaderboardEntry>> {
    let records = crate::record::read_sweep_records(dir)?;
    let mut tasks: Vec<String> = records.iter().map(|r| r.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    Ok(
        crate::summary::summarize(&records, &tasks, 0, crate::summary::DEFAULT_SEED)
            .iter()
            .map(|s| LeaderboardEntry::from_summary(s, "optagent", source, date))
            .collect(),
    )
}

/// Merges measured entries into a leaderboard file (created when missing, comments kept):
/// each is appended with [`leaderboard_add`] unless the file already holds an entry of the same
/// system, model, benchmark, source and notes, so merging a sweep twice adds nothing. An entry
/// without a single figure is left out and counted.
pub fn leaderboard_merge(path: impl AsRef<Path>, entries: &[LeaderboardEntry]) -> Result<Merged> {
    let path = path.as_ref();
    let mut have = if path.exists() {
        load_leaderboard(path)?
    } else {
        vec![]
    };
    let same = |a: &LeaderboardEntry, b: &LeaderboardEntry| {
        a.measured
            && (&a.system, &a.model, a.benchmark, &a.source, &a.notes)
                == (&b.system, &b.model, b.benchmark, &b.source, &b.notes)
    };
    let mut merged = Merged::default();
    for e in entries {
        if !e.has_metric() {
            merged.without_figures += 1;
        } else if have.iter().any(|h| same(h, e)) {
            merged.already += 1;
        } else {
            leaderboard_add(path, e)?;
            have.push(e.clone());
            merged.added += 1;
        }
    }
    Ok(merged)
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn bound_prefix(b: Option<Bound>) -> &'static str {
    match b {
        Some(Bound::Upper) => "< ",
        Some(Bound::Lower) => "> ",
        None => "",
    }
}

/// A source as Markdown: a link when it is a URL.
fn md_source(s: &str) -> String {
    if s.starts_with("http://") || s.starts_with("https://") {
        format!("<{s}>")
    } else {
        md_cell(s)
    }
}

/// The leaderboard as Markdown: one table per benchmark, measured entries best first, then
/// placeholders not yet superseded by a measured entry of the same system, model and benchmark.
pub fn render_leaderboard_md(entries: &[LeaderboardEntry]) -> String {
    let mut out = String::from("# Leaderboard\n\n");
    out.push_str(
        "Opt@k: share of all the benchmark's tasks where a correct patch reached the expert \
         (GSO's rule); SR: harmonic mean of speedup ratios (SWE-fficiency); advantage: \
         FormulaCode's L4 advantage; fast_p: share of all tasks with a correct patch faster than \
         p times the baseline, at p = 0 / 1.0 / 1.5 / 2.0 (KernelBench's rule). Published \
         figures are quoted from their source.\n",
    );
    for bench in Benchmark::ALL {
        let mut rows: Vec<&LeaderboardEntry> = entries
            .iter()
            .filter(|e| e.benchmark == bench)
            .filter(|e| {
                e.measured
                    || !entries.iter().any(|m| {
                        m.measured
                            && m.benchmark == e.benchmark
                            && m.system == e.system
                            && m.model == e.model
                    })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let primary = |e: &LeaderboardEntry| match bench {
            Benchmark::OptagentBundled | Benchmark::Gso => e.opt_at_1.or(e.opt_at_k),
            Benchmark::SweFficiency => e.speedup_ratio,
            Benchmark::FormulaCode => e.advantage,
            Benchmark::KernelBench => e.fast_p.and_then(|f| f.p1.or(f.p0)),
        };
        rows.sort_by(|a, b| {
            b.measured.cmp(&a.measured).then(
                primary(b)
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&primary(a).unwrap_or(f64::NEG_INFINITY)),
            )
        });
        out.push_str(&format!(
            "\n## {} (`{}`)\n\n",
            bench.title(),
            bench.as_str()
        ));
        out.push_str(
            "| System | Model | Opt@1 | Opt@K | SR | Advantage | fast_p 0 / 1.0 / 1.5 / 2.0 | Tasks \
             | Date | Source | Notes |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|\n");
        for e in rows {
            let b = bound_prefix(e.bound);
            let dash = || "—".to_string();
            let (o1, ok, sr, adv, fast) = if e.measured {
                (
                    e.opt_at_1
                        .map_or_else(dash, |v| format!("{b}{:.2}%", v * 100.0)),
                    e.opt_at_k.map_or_else(dash, |v| {
                        format!("{b}{:.2}% (K={})", v * 100.0, e.k.unwrap_or(0))
                    }),
                    e.speedup_ratio.map_or_else(dash, |v| format!("{b}{v:.3}×")),
                    e.advantage.map_or_else(dash, |v| format!("{b}{v:+.4}")),
                    e.fast_p.map_or_else(dash, |f| {
                        f.values()
                            .iter()
                            .map(|v| v.map_or_else(dash, |v| format!("{b}{:.1}%", v * 100.0)))
                            .collect::<Vec<_>>()
                            .join(" / ")
                    }),
                )
            } else {
                let p = "not yet measured".to_string();
                (p, dash(), dash(), dash(), dash())
            };
            out.push_str(&format!(
                "| {} | {} | {o1} | {ok} | {sr} | {adv} | {fast} | {} | {} | {} | {} |\n",
                md_cell(&e.system),
                md_cell(&e.model),
                e.n_tasks.map_or_else(dash, |n| n.to_string()),
                md_cell(&e.date),
                md_source(&e.source),
                md_cell(&e.notes),
            ));
        }
    }
    out
}
