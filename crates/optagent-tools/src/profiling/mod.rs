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

pub mod callgraph;
pub mod callgrind;
pub mod cprofile;
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
}

impl Folded {
    pub fn new(unit: &'static str) -> Self {
        Folded {
            stacks: BTreeMap::new(),
            unit,
            period_ns: None,
            exact: None,
        }
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
        let _ = writeln!(s, "  self%  total%  function  (file:line)");
        for f in frames.iter().take(top) {
            let _ = writeln!(
                s,
                "{:>6.1}% {:>6.1}%  {}{}",
                100.0 * f.self_cost as f64 / total,
                100.0 * (f.total_cost as f64 / total).min(1.0),
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
    pub folded: Folded,
    pub folded_path: PathBuf,
    pub pprof_path: PathBuf,
}

/// An SVG flamegraph of folded stacks.
pub fn flamegraph_svg(folded: &Folded, title: &str) -> Result<Vec<u8>, String> {
    let text = folded.to_text();
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = folded.unit.to_string();
    opts.deterministic = true;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, text.lines(), &mut svg)
        .map_err(|e| format!("flamegraph: {e}"))?;
    Ok(svg)
}

/// A differential flamegraph: widths from `after`, colors by the change from `before` (red:
/// grew, blue: shrank), both normalized to the same total first.
pub fn differential_svg(before: &Folded, after: &Folded, title: &str) -> Result<Vec<u8>, String> {
    let b = before.to_text();
    let a = after.to_text();
    let mut diff = Vec::new();
    let dopts = inferno::differential::Options {
        normalize: true,
        strip_hex: true,
    };
    inferno::differential::from_readers(dopts, b.as_bytes(), a.as_bytes(), &mut diff)
        .map_err(|e| format!("differential: {e}"))?;
    let diff = String::from_utf8_lossy(&diff).into_owned();
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = after.unit.to_string();
    opts.deterministic = true;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, diff.lines(), &mut svg)
        .map_err(|e| format!("flamegraph: {e}"))?;
    Ok(svg)
}

/// Functions whose share of the profile changed most between `before` and `after` (shares of
/// each profile's total, in percentage points of self cost), largest change first.
pub fn share_changes(before: &Folded, after: &Folded, top: usize) -> Vec<(String, f64, f64)> {
    let share = |f: &Folded| -> HashMap<String, f64> {
        let total = f.total().max(1) as f64;
        f.hot_frames()
            .into_iter()
            .map(|h| (h.frame, 100.0 * h.self_cost as f64 / total))
            .collect()
    };
    let b = share(before);
    let a = share(after);
    let keys: HashSet<&String> = b.keys().chain(a.keys()).collect();
    let mut v: Vec<(String, f64, f64)> = keys
        .into_iter()
        .map(|k| {
            (
                k.clone(),
                b.get(k).copied().unwrap_or(0.0),
                a.get(k).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, x, y)| (x - y).abs() >= 0.05)
        .collect();
    v.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .partial_cmp(&(x.2 - x.1).abs())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(x.0.cmp(&y.0))
    });
    v.truncate(top);
    v
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
        let svg = String::from_utf8(flamegraph_svg(&after, "t").unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("cold"));
        let d = String::from_utf8(differential_svg(&before, &after, "d").unwrap()).unwrap();
        assert!(d.contains("hot"));
        let ch = share_changes(&before, &after, 5);
        assert_eq!(ch[0].0, "hot");
    }
}
