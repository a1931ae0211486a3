//! Profiles: stacks collected by a profiler, as folded stacks (`a;b;c <count>`, the format of
//! inferno/flamegraph.pl), a table of the hottest functions, a pprof `profile.proto` file and
//! SVG flamegraphs.
//!
//! Frames are written `name (file:line)` when the profiler knows where the function is, else
//! `name` or `name [object]`. Collectors:
//! - [`pyspy`]: py-spy's raw output is folded stacks already (process frames are dropped).
//! - [`perf`]: `perf script` text folded by inferno's perf collapser.
//! - [`callgrind`] and [`cprofile`]: these give a call graph (per function: its own cost, and per
//!   caller→callee edge: the inclusive cost of those calls), not stacks. Stacks are rebuilt by
//!   [`callgraph::CallGraph::to_folded`], assuming a function costs the same per call whoever calls
//!   it (the usual gprof assumption); the self/total table for them is computed exactly from the
//!   graph instead.
//!
//! The measured section: a workload following the protocol (docs/task-format.md, "Profiling")
//! runs its timed code inside a function named [`SECTION_MARKER`] and repeats it
//! `$OPTAGENT_PROFILE_REPEAT` times. [`Folded::focus`] keeps the stacks below that frame (the
//! marker becomes the root) and counts the rest as outside the section; costs are then compared
//! per run of the section ([`Folded::per_run`]), so profiles with different repetition counts or
//! sampling rates compare like with like ([`changes`], [`differential_svg`]).

pub mod callgraph;
pub mod callgrind;
pub mod cprofile;
pub mod diff;
pub mod perf;
pub mod pprof_out;
pub mod pyspy;
pub(crate) mod run;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;

/// Which profiler to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Profiler {
    /// py-spy for Python workloads; perf for native ones where it works, else callgrind.
    #[default]
    Auto,
    #[serde(alias = "pyspy", alias = "py_spy")]
    PySpy,
    #[serde(alias = "cProfile", alias = "c-profile")]
    Cprofile,
    Perf,
    #[serde(alias = "valgrind")]
    Callgrind,
}

impl Profiler {
    pub fn name(self) -> &'static str {
        match self {
            Profiler::Auto => "auto",
            Profiler::PySpy => "py-spy",
            Profiler::Cprofile => "cprofile",
            Profiler::Perf => "perf",
            Profiler::Callgrind => "callgrind",
        }
    }
}

/// The name of the function that runs a workload's measured section (the workload protocol).
pub const SECTION_MARKER: &str = "optagent_measured";

/// What part of the profiled process a profile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Only the measured section (the stacks below [`SECTION_MARKER`]), when the workload marks it.
    #[default]
    Section,
    /// Everything the process did: interpreter start, imports, setup and the section.
    #[serde(alias = "whole", alias = "all")]
    Process,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Section => "section",
            Scope::Process => "process",
        }
    }
}

/// Whether a frame is the measured section's entry point: its function name (or the last part
/// of a qualified name) is [`SECTION_MARKER`].
pub fn is_section_frame(frame: &str) -> bool {
    let (name, _) = split_frame(frame);
    let name = name.split(" [").next().unwrap_or(&name);
    let last = name.rsplit(['.', ':']).next().unwrap_or(name);
    last == SECTION_MARKER
}

/// One function's share of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct HotFrame {
    /// The frame as written in the stacks.
    pub frame: String,
    pub name: String,
    /// `file:line` when known.
    pub location: Option<String>,
    /// Cost in the function itself.
    pub self_cost: u64,
    /// Cost in the function and what it calls.
    pub total_cost: u64,
}

/// A profile as folded stacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// `root;...;leaf` → cost.
    pub stacks: BTreeMap<String, u64>,
    /// What a unit of cost is: `samples`, `instructions`, `microseconds`, `nanoseconds`.
    pub unit: &'static str,
    /// Nanoseconds per sample, for sampling profilers.
    pub period_ns: Option<i64>,
    /// Exact self/total costs, when the collector knows them better than the stacks do.
    pub exact: Option<Vec<HotFrame>>,
    /// How many runs of the measured section the profile holds (1 when the workload does not
    /// repeat it).
    pub repeat: u64,
    /// Cost left out of `stacks` because it was outside the measured section ([`Folded::focus`]).
    pub outside: u64,
    /// Whether `stacks` hold the measured section only (rooted at [`SECTION_MARKER`]).
    pub focused: bool,
    /// The most expensive source lines by own cost (`file:line`, cost), where the collector
    /// knows them (callgrind).
    pub lines: Vec<(String, u64)>,
}

impl Folded {
    pub fn new(unit: &'static str) -> Self {
        Folded {
            stacks: BTreeMap::new(),
            unit,
            period_ns: None,
            exact: None,
            repeat: 1,
            outside: 0,
            focused: false,
            lines: Vec::new(),
        }
    }

    /// The measured section only: each stack that passes through [`SECTION_MARKER`] is cut so
    /// that its outermost marker frame is the root; the others' cost is counted in `outside`.
    /// `None` when no stack passes through the marker (the workload does not mark its section).
    pub fn focus(&self) -> Option<Folded> {
        let mut f = Folded::new(self.unit);
        f.period_ns = self.period_ns;
        f.repeat = self.repeat;
        f.outside = self.outside;
        f.focused = true;
        for (stack, &n) in &self.stacks {
            let frames: Vec<&str> = stack.split(';').collect();
            match frames.iter().position(|fr| is_section_frame(fr)) {
                Some(i) => f.add(&frames[i..].join(";"), n),
                None => f.outside += n,
            }
        }
        if f.stacks.is_empty() {
            return None;
        }
        // Exact costs stay right when nothing was left out (callgrind collecting the section).
        if f.outside == 0 {
            f.exact = self.exact.clone();
            f.lines = self.lines.clone();
        }
        Some(f)
    }

    /// How many samples the profile holds, for sampling profilers (perf's costs are
    /// nanoseconds: samples × period).
    pub fn samples(&self) -> Option<u64> {
        match (self.unit, self.period_ns) {
            ("samples", _) => Some(self.total()),
            ("nanoseconds", Some(p)) if p > 0 => Some(self.total() / p as u64),
            _ => None,
        }
    }

    /// Whether costs are times (samples with a period, or durations) rather than counts.
    pub fn is_time(&self) -> bool {
        matches!(self.unit, "nanoseconds" | "microseconds")
            || (self.unit == "samples" && self.period_ns.is_some())
    }

    /// A cost per run of the measured section: nanoseconds for time profiles, else the unit
    /// itself (instructions).
    pub fn per_run(&self, cost: u64) -> f64 {
        let c = cost as f64 / self.repeat.max(1) as f64;
        match self.unit {
            "nanoseconds" => c,
            "microseconds" => c * 1e3,
            "samples" => c * self.period_ns.unwrap_or(1) as f64,
            _ => c,
        }
    }

    /// The unit of [`Folded::per_run`].
    pub fn per_run_unit(&self) -> &'static str {
        if self.is_time() {
            "ns"
        } else {
            self.unit
        }
    }

    /// A per-run cost for people: `12.3 ms`, `45 µs`, `1.2 M instructions`.
    pub fn format_per_run(&self, cost: f64) -> String {
        format_amount(cost, self.per_run_unit())
    }

    /// Parse folded text (`a;b;c 12` per line; bad lines are skipped).
    pub fn parse(text: &str, unit: &'static str) -> Self {
        let mut f = Folded::new(unit);
        for line in text.lines() {
            if let Some((stack, n)) = split_folded_line(line) {
                f.add(stack, n);
            }
        }
        f
    }

    pub fn add(&mut self, stack: &str, n: u64) {
        if n > 0 && !stack.is_empty() {
            *self.stacks.entry(stack.to_string()).or_insert(0) += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// Adds another profile of the same workload, taken the same way (same unit and sampling
    /// period), to this one: stacks and what was left out add up, and `repeat` counts the runs
    /// of both. Exact costs and lines, which only one run knew, are dropped.
    pub fn merge(&mut self, other: &Folded) {
        for (stack, &n) in &other.stacks {
            self.add(stack, n);
        }
        self.outside += other.outside;
        self.repeat = self.repeat.max(1) + other.repeat.max(1);
        self.exact = None;
        self.lines.clear();
    }

    /// The folded text, one stack per line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.stacks {
            let _ = writeln!(s, "{k} {v}");
        }
        s
    }

    /// Functions by self cost (then total), with their self and total costs.
    pub fn hot_frames(&self) -> Vec<HotFrame> {
        let mut frames = match &self.exact {
            Some(e) => e.clone(),
            None => {
                let mut self_c: HashMap<&str, u64> = HashMap::new();
                let mut total_c: HashMap<&str, u64> = HashMap::new();
                for (stack, &n) in &self.stacks {
                    let frames: Vec<&str> = stack.split(';').collect();
                    if let Some(leaf) = frames.last() {
                        *self_c.entry(leaf).or_insert(0) += n;
                    }
                    let unique: HashSet<&str> = frames.into_iter().collect();
                    for f in unique {
                        *total_c.entry(f).or_insert(0) += n;
                    }
                }
                total_c
                    .into_iter()
                    .map(|(f, total)| {
                        let (name, location) = split_frame(f);
                        HotFrame {
                            frame: f.to_string(),
                            name,
                            location,
                            self_cost: self_c.get(f).copied().unwrap_or(0),
                            total_cost: total,
                        }
                    })
                    .collect()
            }
        };
        frames.sort_by(|a, b| {
            b.self_cost
                .cmp(&a.self_cost)
                .then(b.total_cost.cmp(&a.total_cost))
                .then(a.frame.cmp(&b.frame))
        });
        frames
    }

    /// A text table of the `top` hottest functions.
    pub fn table(&self, top: usize) -> String {
        let total = self.total().max(1) as f64;
        let frames = self.hot_frames();
        let mut s = String::new();
        let _ = writeln!(s, "  self%  total%   self/run  function  (file:line)");
        for f in frames.iter().take(top) {
            let _ = writeln!(
                s,
                "{:>6.1}% {:>6.1}% {:>10}  {}{}",
                100.0 * f.self_cost as f64 / total,
                100.0 * (f.total_cost as f64 / total).min(1.0),
                self.format_per_run(self.per_run(f.self_cost)),
                f.name,
                f.location
                    .as_ref()
                    .map(|l| format!("  ({l})"))
                    .unwrap_or_default()
            );
        }
        if frames.len() > top {
            let _ = writeln!(s, "  ... {} more functions", frames.len() - top);
        }
        s
    }

    /// The `top` functions ranked by total (inclusive) cost, excluding those already among the
    /// `skip` hottest by self cost.
    pub fn top_inclusive(&self, top: usize, skip: usize) -> Vec<HotFrame> {
        let frames = self.hot_frames();
        let shown: HashSet<String> = frames.iter().take(skip).map(|f| f.frame.clone()).collect();
        let mut by_total: Vec<HotFrame> = frames
            .into_iter()
            .filter(|f| !shown.contains(&f.frame))
            .collect();
        by_total.sort_by(|a, b| b.total_cost.cmp(&a.total_cost).then(a.frame.cmp(&b.frame)));
        by_total.truncate(top);
        by_total
    }
}

/// `12.3 ms` for nanoseconds, `1.20 M instructions` for counts.
pub fn format_amount(v: f64, unit: &str) -> String {
    let a = v.abs();
    if unit == "ns" {
        if a >= 1e9 {
            format!("{:.2} s", v / 1e9)
        } else if a >= 1e6 {
            format!("{:.2} ms", v / 1e6)
        } else if a >= 1e3 {
            format!("{:.1} µs", v / 1e3)
        } else {
            format!("{v:.0} ns")
        }
    } else if a >= 1e9 {
        format!("{:.2} G {unit}", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2} M {unit}", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} k {unit}", v / 1e3)
    } else {
        format!("{v:.0} {unit}")
    }
}

/// `stack count` → (stack, count).
pub(crate) fn split_folded_line(line: &str) -> Option<(&str, u64)> {
    let line = line.trim_end();
    let (stack, n) = line.rsplit_once(' ')?;
    let n: u64 = n.parse().ok()?;
    Some((stack.trim(), n))
}

/// `name (file:line)` → (`name`, `file:line`); other frames are all name.
pub fn split_frame(frame: &str) -> (String, Option<String>) {
    if let Some(inner) = frame.strip_suffix(')') {
        if let Some(i) = inner.rfind(" (") {
            let loc = &inner[i + 2..];
            if loc
                .rsplit_once(':')
                .is_some_and(|(f, l)| !f.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            {
                return (inner[..i].to_string(), Some(loc.to_string()));
            }
        }
    }
    (frame.to_string(), None)
}

/// A frame name made safe for folded stacks (no `;`, no newlines).
pub(crate) fn clean_frame(s: &str) -> String {
    s.replace(';', ":").replace(['\n', '\r'], " ")
}

/// A Python source path for display: relative to the tree's `root` when under it, else from
/// the package on (after `site-packages/` or `lib/pythonX.Y/`), else as is.
pub(crate) fn short_python_path(path: &str, root: Option<&str>) -> String {
    let rel = callgrind::relativize(path, root);
    if rel != path.strip_prefix("./").unwrap_or(path) || !rel.starts_with('/') {
        return rel;
    }
    if let Some(i) = rel.rfind("/site-packages/") {
        return rel[i + "/site-packages/".len()..].to_string();
    }
    if let Some(i) = rel.find("/lib/python") {
        let rest = &rel[i + "/lib/python".len()..];
        if let Some(j) = rest.find('/') {
            return rest[j + 1..].to_string();
        }
    }
    rel
}

/// A profile taken, kept for `flamegraph`.
#[derive(Debug, Clone)]
pub struct ProfileRecord {
    pub workload: String,
    pub profiler: Profiler,
    /// The scope asked for (the profile may show the whole process when the workload does not
    /// mark its section: see `folded.focused`).
    pub scope: Scope,
    pub folded: Folded,
    pub folded_path: PathBuf,
    pub pprof_path: PathBuf,
}

/// What an SVG says about itself: a title line and a subtitle line of details.
#[derive(Debug, Clone, Default)]
pub struct SvgLabels {
    pub title: String,
    pub subtitle: Option<String>,
}

fn svg_options(labels: &SvgLabels, count_name: &str) -> inferno::flamegraph::Options<'static> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = labels.title.clone();
    opts.subtitle = labels.subtitle.clone();
    opts.count_name = count_name.to_string();
    opts.name_type = "Function:".to_string();
    opts.deterministic = true;
    opts
}

/// Profiler data that cannot be read or drawn.
#[derive(Debug, thiserror::Error)]
pub enum ProfileDataError {
    #[error("cannot fold perf script output: {0}")]
    PerfFold(#[source] std::io::Error),
    #[error("gunzip: {0}")]
    Gunzip(#[source] std::io::Error),
    #[error("not a pprof profile: {0}")]
    NotPprof(#[from] prost::DecodeError),
    #[error("unreadable cProfile stats: {0}")]
    CprofileStats(#[from] serde_json::Error),
    #[error("flamegraph: {0}")]
    Svg(#[source] std::io::Error),
    #[error("cannot compare a profile in {before} with one in {after}")]
    UnitMismatch { before: String, after: String },
}

/// An SVG flamegraph of folded stacks.
pub fn flamegraph_svg(folded: &Folded, labels: &SvgLabels) -> Result<Vec<u8>, ProfileDataError> {
    let text = folded.to_text();
    let mut opts = svg_options(labels, folded.unit);
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, text.lines(), &mut svg)
        .map_err(ProfileDataError::Svg)?;
    Ok(svg)
}

/// The frame with its line number dropped (`name (file)`), so that a function keeps its identity
/// when an edit above it moves it.
fn frame_key(frame: &str) -> String {
    match split_frame(frame) {
        (name, Some(loc)) => match loc.rsplit_once(':') {
            Some((file, _)) => format!("{name} ({file})"),
            None => frame.to_string(),
        },
        _ => frame.to_string(),
    }
}

/// Both profiles' stacks per run of the section, in a common unit (nanoseconds for time,
/// else the unit), with frames matched by function and file (named as in `after` where both have
/// them): (before, after) per stack.
fn aligned_per_run(before: &Folded, after: &Folded) -> BTreeMap<String, (f64, f64)> {
    let mut label: HashMap<String, String> = HashMap::new();
    for f in [before, after] {
        for stack in f.stacks.keys() {
            for fr in stack.split(';') {
                label.insert(frame_key(fr), fr.to_string());
            }
        }
    }
    let rename = |stack: &str| -> String {
        stack
            .split(';')
            .map(|fr| label[&frame_key(fr)].as_str())
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (stack, &n) in &before.stacks {
        out.entry(rename(stack)).or_default().0 += before.per_run(n);
    }
    for (stack, &n) in &after.stacks {
        out.entry(rename(stack)).or_default().1 += after.per_run(n);
    }
    out
}

/// A differential flamegraph: widths from `after`, colors by the change from `before` (red:
/// grew, blue: shrank). Both are taken per run of the measured section first (see
/// [`Folded::per_run`]), so a run with more repetitions or a higher sampling rate is not "more".
pub fn differential_svg(
    before: &Folded,
    after: &Folded,
    labels: &SvgLabels,
) -> Result<Vec<u8>, ProfileDataError> {
    if before.per_run_unit() != after.per_run_unit() {
        return Err(ProfileDataError::UnitMismatch {
            before: before.per_run_unit().to_string(),
            after: after.per_run_unit().to_string(),
        });
    }
    let mut lines = Vec::new();
    for (stack, (b, a)) in aligned_per_run(before, after) {
        let (b, a) = (b.round() as u64, a.round() as u64);
        if a > 0 || b > 0 {
            lines.push(format!("{stack} {b} {a}"));
        }
    }
    let unit = match after.per_run_unit() {
        "ns" => "ns per run".to_string(),
        u => format!("{u} per run"),
    };
    let mut opts = svg_options(labels, &unit);
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut svg)
        .map_err(ProfileDataError::Svg)?;
    Ok(svg)
}

/// One function's change per run of the measured section, before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The frame (as named in `after` where both have it).
    pub frame: String,
    pub before: f64,
    pub after: f64,
    /// Whether the figures include what the function calls (else: its own cost, with the
    /// library code it calls directly).
    pub inclusive: bool,
}

impl Change {
    pub fn delta(&self) -> f64 {
        self.after - self.before
    }
}

/// A child explains its parent's change when it carries this share of it (same sign).
const EXPLAINED: f64 = 0.9;

/// Functions whose cost per run changed most between `before` and `after`, largest absolute
/// change (time saved or added) first. Frames are matched by function and file, so a function
/// that only moved keeps its identity.
///
/// Changes are attributed to the tree's own code (`own(frame)`; all frames when none is own):
/// library frames (the standard library, libc, the kernel) count as part of the nearest own
/// caller, so a call to `sorted` or `realloc` that went away is the caller's change. Each
/// function is then ranked by the larger of its own change and its change including callees,
/// the latter only when its callees do not explain it (carry 90% of it): a function that changed
/// itself and stopped calling a callee is named with the whole saving, and a frame that merely
/// passes its callees' changes through (the section's entry point, a loop in the runner) is not.
pub fn changes(
    before: &Folded,
    after: &Folded,
    top: usize,
    own: &dyn Fn(&str) -> bool,
) -> Vec<Change> {
    let aligned = aligned_per_run(before, after);
    let any_own = aligned
        .keys()
        .any(|st| st.split(';').any(|f| own(f) && !is_section_frame(f)));
    let keep = |f: &str| !any_own || own(f) || is_section_frame(f);
    let mut own_self: HashMap<String, (f64, f64)> = HashMap::new();
    let mut incl: HashMap<String, (f64, f64)> = HashMap::new();
    for (stack, (b, a)) in aligned {
        let frames: Vec<&str> = stack.split(';').filter(|f| keep(f)).collect();
        let frames = if frames.is_empty() {
            vec!["[other code]"]
        } else {
            frames
        };
        if let Some(leaf) = frames.last() {
            let e = own_self.entry(leaf.to_string()).or_default();
            e.0 += b;
            e.1 += a;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for f in &frames {
            if !seen.insert(f) {
                continue;
            }
            let e = incl.entry(f.to_string()).or_default();
            e.0 += b;
            e.1 += a;
        }
    }
    // A frame whose callees carry 90% of its change (same sign) only passes it through.
    let explained = |f: &str| -> bool {
        let (ib, ia) = incl[f];
        let (sb, sa) = own_self.get(f).copied().unwrap_or_default();
        let (d, callees) = (ia - ib, (ia - ib) - (sa - sb));
        d != 0.0 && callees * d > 0.0 && callees.abs() >= EXPLAINED * d.abs()
    };
    let total = incl
        .iter()
        .filter(|(f, _)| is_section_frame(f))
        .map(|(_, (b, a))| b.max(*a))
        .fold(0.0, f64::max)
        .max(own_self.values().map(|(b, a)| b.max(*a)).sum::<f64>())
        .max(1e-9);
    let mut v: Vec<Change> = incl
        .iter()
        .filter_map(|(f, &(ib, ia))| {
            let (sb, sa) = own_self.get(f).copied().unwrap_or_default();
            let use_incl = !explained(f) && (ia - ib).abs() > (sa - sb).abs();
            let (b, a) = if use_incl { (ib, ia) } else { (sb, sa) };
            ((a - b).abs() > 0.0).then(|| Change {
                frame: f.clone(),
                before: b,
                after: a,
                inclusive: use_incl,
            })
        })
        // Changes below 0.05% of the larger profile are noise.
        .filter(|c| c.delta().abs() >= total * 5e-4)
        .collect();
    v.sort_by(|x, y| {
        y.delta()
            .abs()
            .partial_cmp(&x.delta().abs())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(x.frame.cmp(&y.frame))
    });
    v.truncate(top);
    v
}

/// Whether a frame is code of the tree at `roots` (its file is there).
pub fn frame_in_tree(frame: &str, roots: &[&std::path::Path]) -> bool {
    let Some(loc) = split_frame(frame).1 else {
        return false;
    };
    let file = loc.rsplit_once(':').map_or(loc.as_str(), |(f, _)| f);
    !file.starts_with('/') && !file.starts_with('<') && roots.iter().any(|r| r.join(file).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ranks_by_self_and_counts_total_once_per_stack() {
        let f = Folded::parse(
            "main (a.py:1);hot (a.py:5) 70\nmain (a.py:1);cold (a.py:9) 10\nmain (a.py:1);rec (a.py:20);rec (a.py:20) 20\n",
            "samples",
        );
        let hot = f.hot_frames();
        assert_eq!(hot[0].name, "hot");
        assert_eq!(hot[0].location.as_deref(), Some("a.py:5"));
        assert_eq!((hot[0].self_cost, hot[0].total_cost), (70, 70));
        let main = hot.iter().find(|h| h.name == "main").unwrap();
        assert_eq!((main.self_cost, main.total_cost), (0, 100));
        let rec = hot.iter().find(|h| h.name == "rec").unwrap();
        assert_eq!(rec.total_cost, 20);
        let t = f.table(2);
        assert!(t.lines().nth(1).unwrap().contains("70.0%"), "{t}");
        assert!(
            t.contains("1 more functions") || t.contains("2 more functions"),
            "{t}"
        );
    }

    #[test]
    fn frames_split_into_name_and_location() {
        assert_eq!(
            split_frame("Graph.path (pkg/g.py:12)"),
            ("Graph.path".into(), Some("pkg/g.py:12".into()))
        );
        assert_eq!(
            split_frame("<module> (<frozen site>:616)").1.as_deref(),
            Some("<frozen site>:616")
        );
        assert_eq!(
            split_frame("memcpy [libc.so.6]"),
            ("memcpy [libc.so.6]".into(), None)
        );
        assert_eq!(split_frame("f (x)"), ("f (x)".into(), None));
    }

    #[test]
    fn python_paths_are_shortened() {
        let root = Some("/work/ws");
        assert_eq!(
            short_python_path("/work/ws/bench/run.py", root),
            "bench/run.py"
        );
        assert_eq!(
            short_python_path(
                "/root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py",
                root
            ),
            "json/__init__.py"
        );
        assert_eq!(
            short_python_path("/venv/lib/python3.11/site-packages/np/core.py", root),
            "np/core.py"
        );
        assert_eq!(short_python_path("<frozen abc>", root), "<frozen abc>");
        assert_eq!(short_python_path("/opt/x.py", root), "/opt/x.py");
    }

    #[test]
    fn flamegraphs_render() {
        let before = Folded::parse("main;hot 50\nmain;cold 50\nmain;other 100\n", "samples");
        let after = Folded::parse("main;hot 10\nmain;cold 50\nmain;other 100\n", "samples");
        let labels = SvgLabels {
            title: "t".into(),
            subtitle: Some("sub".into()),
        };
        let svg = String::from_utf8(flamegraph_svg(&after, &labels).unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("cold") && svg.contains("sub"));
        let d = String::from_utf8(differential_svg(&before, &after, &labels).unwrap()).unwrap();
        assert!(d.contains("hot"));
        let ch = changes(&before, &after, 5, &|_| true);
        assert_eq!(ch[0].frame, "hot");
        assert_eq!((ch[0].before, ch[0].after), (50.0, 10.0));
    }

    #[test]
    fn focus_roots_stacks_at_the_section_and_counts_the_rest() {
        let mut f = Folded::parse(
            "<module> (b/run.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 30\n\
             <module> (b/run.py:1);main (b/run.py:9);optagent_measured (b/run.py:5);run (b/run.py:7);hot (p/s.py:3) 60\n\
             <module> (b/run.py:1);main (b/run.py:9);optagent_measured (b/run.py:5) 10\n",
            "samples",
        );
        f.repeat = 10;
        f.period_ns = Some(1_000_000);
        let s = f.focus().unwrap();
        assert_eq!(s.outside, 30);
        assert_eq!(s.total(), 70);
        assert!(s
            .stacks
            .keys()
            .all(|k| k.starts_with("optagent_measured (b/run.py:5)")));
        // 60 samples of 1 ms over 10 runs: 6 ms per run.
        assert_eq!(s.per_run(60), 6e6);
        assert_eq!(s.format_per_run(s.per_run(60)), "6.00 ms");
        assert!(Folded::parse("main;hot 5\n", "samples").focus().is_none());
        assert!(is_section_frame("optagent_measured"));
        assert!(is_section_frame("optagent_measured (bench/harness.c:50)"));
        assert!(is_section_frame("Runner.optagent_measured (r.py:2)"));
        assert!(!is_section_frame("not_optagent_measured (r.py:2)"));
    }

    #[test]
    fn changes_name_the_caller_that_stopped_calling_and_fold_library_code() {
        // The base's `count` calls `words` (own code) for every query; the workspace's does not.
        // `grow` spent its time in libc's realloc, which went away.
        let own = |f: &str| f.contains("(p.py") || f.contains("(r.py");
        let before = Folded::parse(
            "optagent_measured (r.py:1);run (r.py:2);count (p.py:10);words (p.py:30) 60\n\
             optagent_measured (r.py:1);run (r.py:2);count (p.py:10) 30\n\
             optagent_measured (r.py:1);run (r.py:2);grow (p.py:40);realloc [libc.so.6] 25\n\
             optagent_measured (r.py:1);run (r.py:2);grow (p.py:40) 5\n\
             optagent_measured (r.py:1);run (r.py:2);other (p.py:50) 20\n",
            "instructions",
        );
        let after = Folded::parse(
            "optagent_measured (r.py:1);run (r.py:2);count (p.py:10) 2\n\
             optagent_measured (r.py:1);run (r.py:2);grow (p.py:40) 6\n\
             optagent_measured (r.py:1);run (r.py:2);other (p.py:50) 21\n",
            "instructions",
        );
        let ch = changes(&before, &after, 5, &own);
        let names: Vec<&str> = ch.iter().map(|c| c.frame.as_str()).collect();
        assert_eq!(
            names[..3],
            ["count (p.py:10)", "words (p.py:30)", "grow (p.py:40)"],
            "{ch:?}"
        );
        assert!(ch[0].inclusive && (ch[0].before, ch[0].after) == (90.0, 2.0));
        assert!(!ch[2].inclusive && (ch[2].before, ch[2].after) == (30.0, 6.0));
        // The entry point and the runner only pass the change through.
        assert!(!names
            .iter()
            .any(|n| n.starts_with("run ") || n.starts_with("optagent")));
    }

    #[test]
    fn changes_compare_per_run_and_ignore_moved_lines() {
        // The base ran the section 4 times at 1 ms per sample, the workspace 20 times at 0.5 ms:
        // per run, hot goes from 10 ms to 1 ms; other stays at 5 ms although its line moved.
        let mut before = Folded::parse(
            "optagent_measured (r.py:1);hot (p.py:3) 40\noptagent_measured (r.py:1);other (p.py:20) 20\n",
            "samples",
        );
        before.repeat = 4;
        before.period_ns = Some(1_000_000);
        let mut after = Folded::parse(
            "optagent_measured (r.py:1);hot (p.py:3) 40\noptagent_measured (r.py:1);other (p.py:24) 200\n",
            "samples",
        );
        after.repeat = 20;
        after.period_ns = Some(500_000);
        let ch = changes(&before, &after, 5, &|_| true);
        assert_eq!(ch.len(), 1, "{ch:?}");
        assert_eq!(ch[0].frame, "hot (p.py:3)");
        assert!((ch[0].before - 10e6).abs() < 1.0 && (ch[0].after - 1e6).abs() < 1.0);
        let labels = SvgLabels::default();
        let d = String::from_utf8(differential_svg(&before, &after, &labels).unwrap()).unwrap();
        assert!(d.contains("other (p.py:24)") && !d.contains("other (p.py:20)"));
    }

    #[test]
    fn merged_processes_add_their_stacks_and_count_per_run() {
        // Three processes of one unmarked workload, 1 ms per sample: 30, 36 and 24 samples of
        // `hot` are 30 ms per run, not 90.
        let one = |n: u64| {
            let mut f = Folded::parse(&format!("<module> (r.py:1);hot (p.py:3) {n}\n"), "samples");
            f.period_ns = Some(1_000_000);
            f.outside = 1;
            f
        };
        let mut f = one(30);
        f.merge(&one(36));
        f.merge(&one(24));
        assert_eq!(f.repeat, 3);
        assert_eq!(f.total(), 90);
        assert_eq!(f.outside, 3);
        assert!((f.per_run(f.total()) - 30e6).abs() < 1.0);
        assert_eq!(f.hot_frames()[0].self_cost, 90);
        // A fourth process too short to be sampled still ran: 90 samples over 4 runs.
        f.merge(&Folded::new("samples"));
        assert_eq!((f.repeat, f.total()), (4, 90));
        assert!((f.per_run(f.total()) - 22.5e6).abs() < 1.0);
    }
}
