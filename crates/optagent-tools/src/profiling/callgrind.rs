//! The callgrind output format (valgrind's `callgrind.out.<pid>` files), read into a
//! [`CallGraph`]: cost lines under `fn=` are the function's own cost; the cost line after a
//! `calls=` line is the inclusive cost of calls to the `cfn=` function. Only the first event
//! (`Ir`, instructions executed) is used. Name compression (`fn=(12) name`, later `fn=(12)`) and
//! relative positions (`+3`, `-2`, `*`) are understood, so files written with or without
//! `--compress-strings`/`--compress-pos` both work.
//!
//! Own costs are also kept per source line (`file:line`, the inlined file where `fi=`/`fe=` says
//! so), for a table of the hottest lines.
//!
//! Functions are told apart by object and name; a frame is `name (file:line)` where the file is
//! known (the line is the smallest line with cost in the function: near its start), else
//! `name [object]`.

use std::collections::HashMap;

use super::callgraph::CallGraph;
use super::clean_frame;

/// Per function (object, name): file, first line with cost.
#[derive(Debug, Default, Clone)]
struct FnInfo {
    file: Option<String>,
    min_line: Option<u64>,
}

/// A function: (object, name).
type FnKey = (String, String);

/// Callgrind files parsed into one graph (several processes are merged).
#[derive(Debug, Default)]
pub struct CallgrindData {
    fns: HashMap<FnKey, FnInfo>,
    self_cost: HashMap<FnKey, f64>,
    calls: HashMap<(FnKey, FnKey), f64>,
    /// Own cost per (file, line).
    lines: HashMap<(String, i64), f64>,
    /// Sum of `summary:`/`totals:` lines (for checks).
    pub summary: f64,
    /// The event counted (e.g. `Ir`).
    pub event: Option<String>,
}

#[derive(Default)]
struct Names {
    obj: HashMap<String, String>,
    file: HashMap<String, String>,
    func: HashMap<String, String>,
}

/// `(id) name` / `(id)` / `name`, with `map` remembering ids.
fn name(value: &str, map: &mut HashMap<String, String>) -> String {
    let v = value.trim();
    if let Some(rest) = v.strip_prefix('(') {
        if let Some(close) = rest.find(')') {
            let id = &rest[..close];
            let n = rest[close + 1..].trim();
            if n.is_empty() {
                return map.get(id).cloned().unwrap_or_else(|| format!("({id})"));
            }
            map.insert(id.to_string(), n.to_string());
            return n.to_string();
        }
    }
    v.to_string()
}

impl CallgrindData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one callgrind file's content. `root` (the tree's root as the profiled command saw
    /// it) is stripped from file paths.
    pub fn add_file(&mut self, text: &str, root: Option<&str>) {
        let mut names = Names::default();
        let mut positions = 1usize;
        let mut ob = String::new();
        let mut fl: Option<String> = None;
        let mut inline = false;
        let mut cur_file: Option<String> = None;
        let mut cur: Option<(String, String)> = None;
        let mut cob: Option<String> = None;
        let mut cfn: Option<String> = None;
        let mut in_call = false;
        let mut last_pos = [0i64; 4];

        for raw in text.lines() {
            let line = raw.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.as_bytes()[0];
            if first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'*' {
                let mut fields = line.split_whitespace();
                let mut line_no = None;
                for (i, slot) in last_pos.iter_mut().enumerate().take(positions) {
                    let Some(p) = fields.next() else { break };
                    let v = if p == "*" {
                        *slot
                    } else if let Some(d) = p.strip_prefix('+') {
                        *slot + parse_num(d)
                    } else if p.starts_with('-') {
                        *slot + parse_num(p)
                    } else {
                        parse_num(p)
                    };
                    *slot = v;
                    if i == positions - 1 {
                        line_no = Some(v);
                    }
                }
                let cost = fields.next().map(parse_num).unwrap_or(0) as f64;
                let Some(f) = cur.clone() else {
                    in_call = false;
                    continue;
                };
                if in_call {
                    let callee = (
                        cob.clone().unwrap_or_else(|| ob.clone()),
                        cfn.clone().unwrap_or_default(),
                    );
                    *self.calls.entry((f, callee)).or_insert(0.0) += cost;
                    in_call = false;
                    cob = None;
                } else {
                    *self.self_cost.entry(f.clone()).or_insert(0.0) += cost;
                    if let (Some(file), Some(l)) = (cur_file.as_ref(), line_no) {
                        if l > 0 && cost > 0.0 && file != "???" {
                            *self.lines.entry((file.clone(), l)).or_insert(0.0) += cost;
                        }
                    }
                    if !inline && cost > 0.0 {
                        if let Some(l) = line_no.filter(|&l| l > 0) {
                            let info = self.fns.entry(f).or_default();
                            info.min_line =
                                Some(info.min_line.map_or(l as u64, |m| m.min(l as u64)));
                        }
                    }
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
                continue;
            };
            match key {
                "positions" => {
                    positions = value.split_whitespace().count().clamp(1, 4);
                }
                "events" if self.event.is_none() => {
                    self.event = value.split_whitespace().next().map(String::from);
                }
                "summary" => {
                    self.summary +=
                        value.split_whitespace().next().map(parse_num).unwrap_or(0) as f64;
                }
                "ob" => ob = name(value, &mut names.obj),
                "fl" => {
                    fl = Some(relativize(&name(value, &mut names.file), root));
                    cur_file = fl.clone();
                    inline = false;
                }
                "fi" | "fe" => {
                    let f = relativize(&name(value, &mut names.file), root);
                    inline = Some(&f) != fl.as_ref();
                    cur_file = Some(f);
                }
                "fn" => {
                    let n = name(value, &mut names.func);
                    let k = (ob.clone(), n);
                    let info = self.fns.entry(k.clone()).or_default();
                    if info.file.is_none() {
                        info.file = fl.clone();
                    }
                    cur = Some(k);
                    cur_file = fl.clone();
                    inline = false;
                    cob = None;
                    cfn = None;
                }
                "cob" => cob = Some(name(value, &mut names.obj)),
                "cfi" | "cfl" => {
                    let _ = name(value, &mut names.file);
                }
                "cfn" => cfn = Some(name(value, &mut names.func)),
                "calls" => in_call = true,
                _ => {}
            }
        }
    }

    /// The `top` source lines by own cost, as (`file:line`, cost).
    pub fn hot_lines(&self, top: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .lines
            .iter()
            .map(|((f, l), &c)| (format!("{}:{l}", clean_frame(f)), c.round() as u64))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(top);
        v
    }

    /// The graph, with frames named for display.
    pub fn graph(&self) -> CallGraph {
        let keys: Vec<&(String, String)> = {
            let mut k: Vec<&(String, String)> = self
                .fns
                .keys()
                .chain(self.self_cost.keys())
                .chain(self.calls.keys().flat_map(|(a, b)| [a, b]))
                .collect();
            k.sort();
            k.dedup();
            k
        };
        // Display names; made unique with the object where two differ only by it.
        let mut display: HashMap<&(String, String), String> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for k in &keys {
            let d = self.display(k);
            *seen.entry(d.clone()).or_insert(0) += 1;
            display.insert(k, d);
        }
        for k in &keys {
            let d = display.get(k).cloned().unwrap_or_default();
            if seen.get(&d).copied().unwrap_or(0) > 1 {
                display.insert(k, format!("{d} [{}]", basename(&k.0)));
            }
        }
        let mut g = CallGraph::new();
        for (k, &c) in &self.self_cost {
            let n = g.node(&display[k]);
            g.add_self(n, c);
        }
        for ((a, b), &c) in &self.calls {
            let na = g.node(&display[a]);
            let nb = g.node(&display[b]);
            g.add_call(na, nb, c);
        }
        g
    }

    fn display(&self, k: &(String, String)) -> String {
        let (ob, func) = k;
        let func = clean_frame(func);
        let info = self.fns.get(k);
        match info
            .and_then(|i| i.file.as_ref())
            .filter(|f| !f.is_empty() && *f != "???")
        {
            Some(file) => match info.and_then(|i| i.min_line) {
                Some(l) => format!("{func} ({}:{l})", clean_frame(file)),
                None => format!("{func} ({})", clean_frame(file)),
            },
            None if ob.is_empty() => func,
            None => format!("{func} [{}]", basename(ob)),
        }
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn parse_num(s: &str) -> i64 {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).unwrap_or(0);
    }
    s.parse().unwrap_or(0)
}

/// A path relative to `root` when under it.
pub(crate) fn relativize(path: &str, root: Option<&str>) -> String {
    if let Some(r) = root
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| !r.is_empty())
    {
        if let Some(rest) = path.strip_prefix(r).and_then(|x| x.strip_prefix('/')) {
            return rest.to_string();
        }
    }
    path.strip_prefix("./").unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPRESSED: &str = "# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

ob=(1) /work/prog
fl=(1) /work/hot.c
fn=(1) main
10 5
cfn=(2) hot
calls=3 2
+1 900
* 1
cfn=(3) cold
calls=1 20
+2 90

fn=(2)
2 880
+1 20

fn=(3)
20 90

ob=(2) /bin/sh
fl=(2) ???
fn=(4) main
0 4
";

    #[test]
    fn parses_costs_calls_and_compression() {
        let mut d = CallgrindData::new();
        d.add_file(COMPRESSED, Some("/work"));
        assert_eq!(d.event.as_deref(), Some("Ir"));
        assert_eq!(d.summary, 1000.0);
        let g = d.graph();
        let hot = g.hot_frames();
        let get = |n: &str| {
            hot.iter()
                .find(|h| h.frame == n)
                .unwrap_or_else(|| panic!("{n} in {hot:?}"))
                .clone()
        };
        assert_eq!(get("hot (hot.c:2)").self_cost, 900);
        assert_eq!(get("main (hot.c:10)").self_cost, 6);
        assert_eq!(get("main (hot.c:10)").total_cost, 996);
        assert_eq!(get("cold (hot.c:20)").total_cost, 90);
        assert_eq!(get("main [sh]").self_cost, 4);
        let folded = g.to_folded();
        assert_eq!(folded.get("main (hot.c:10);hot (hot.c:2)"), Some(&900));
        assert_eq!(folded.values().sum::<u64>(), 1000);
        let lines = d.hot_lines(2);
        assert_eq!(lines[0], ("hot.c:2".to_string(), 880));
        assert_eq!(lines[1], ("hot.c:20".to_string(), 90));
    }
}
