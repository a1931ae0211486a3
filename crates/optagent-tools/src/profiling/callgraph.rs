//! A call graph (per function: its own cost; per caller→callee edge: the inclusive cost of those
//! calls), as callgrind and cProfile give, turned into folded stacks and an exact self/total table.
//!
//! Stacks are rebuilt top-down from the roots: a function reached with a share `b` of its
//! inclusive cost emits `b/inclusive` of its own cost at that stack and passes the same fraction
//! of each outgoing edge to its callees. This assumes each call of a function costs the same
//! whoever the caller is. Calls back into a function already on the stack (recursion) are
//! counted as the caller's own cost (functions reached only through such cycles appear as roots
//! with their own cost); branches below 0.01% of the total are not split further
//! (their whole cost is shown at the branch's top frame).

use std::collections::{BTreeMap, HashMap};

use super::{split_frame, HotFrame};

/// Frames (display names), own costs and call edges.
#[derive(Debug, Clone, Default)]
pub struct CallGraph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    self_cost: Vec<f64>,
    edges: HashMap<(usize, usize), f64>,
}

const MAX_DEPTH: usize = 200;
const MIN_SHARE: f64 = 1e-4;
const MAX_EXPANSIONS: usize = 2_000_000;

impl CallGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The node for a frame, created if new.
    pub fn node(&mut self, frame: &str) -> usize {
        if let Some(&i) = self.index.get(frame) {
            return i;
        }
        let i = self.names.len();
        self.names.push(frame.to_string());
        self.index.insert(frame.to_string(), i);
        self.self_cost.push(0.0);
        i
    }

    pub fn add_self(&mut self, node: usize, cost: f64) {
        self.self_cost[node] += cost;
    }

    /// Calls from `caller` to `callee` that cost `inclusive` in all.
    pub fn add_call(&mut self, caller: usize, callee: usize, inclusive: f64) {
        *self.edges.entry((caller, callee)).or_insert(0.0) += inclusive;
    }

    pub fn total(&self) -> f64 {
        self.self_cost.iter().sum()
    }

    fn outgoing(&self) -> Vec<Vec<(usize, f64)>> {
        let mut out = vec![Vec::new(); self.names.len()];
        for (&(a, b), &c) in &self.edges {
            if a != b && c > 0.0 {
                out[a].push((b, c));
            }
        }
        for o in &mut out {
            o.sort_by_key(|x| x.0);
        }
        out
    }

    fn inclusive(&self, out: &[Vec<(usize, f64)>]) -> Vec<f64> {
        (0..self.names.len())
            .map(|i| self.self_cost[i] + out[i].iter().map(|(_, c)| c).sum::<f64>())
            .collect()
    }

    /// Exact per-function costs: own cost, and inclusive cost (at most the total).
    pub fn hot_frames(&self) -> Vec<HotFrame> {
        let out = self.outgoing();
        let incl = self.inclusive(&out);
        let total = self.total();
        (0..self.names.len())
            .filter(|&i| incl[i] > 0.0)
            .map(|i| {
                let (name, location) = split_frame(&self.names[i]);
                HotFrame {
                    frame: self.names[i].clone(),
                    name,
                    location,
                    self_cost: self.self_cost[i].round() as u64,
                    total_cost: incl[i].min(total).round() as u64,
                }
            })
            .collect()
    }

    /// Folded stacks rebuilt from the graph (see the module's doc for how).
    pub fn to_folded(&self) -> BTreeMap<String, u64> {
        let out = self.outgoing();
        let incl = self.inclusive(&out);
        let total = self.total();
        let mut acc: HashMap<Vec<usize>, f64> = HashMap::new();
        if total <= 0.0 {
            return BTreeMap::new();
        }
        let mut incoming = vec![0.0; self.names.len()];
        for (i, o) in out.iter().enumerate() {
            for &(c, cost) in o {
                if c != i {
                    incoming[c] += cost;
                }
            }
        }
        // Roots: functions nobody calls. Functions reached only through cycles with no outside
        // caller are shown at the end with their own cost.
        let roots: Vec<(usize, f64)> = (0..self.names.len())
            .filter(|&i| incoming[i] <= 0.0 && incl[i] > 0.0)
            .map(|i| (i, incl[i]))
            .collect();
        let mut walker = Walker {
            out: &out,
            incl: &incl,
            self_cost: &self.self_cost,
            min: total * MIN_SHARE,
            acc: &mut acc,
            path: Vec::new(),
            expansions: 0,
            visited: vec![false; self.names.len()],
        };
        for (r, b) in roots {
            walker.expand(r, b);
        }
        let visited = walker.visited;
        for (i, seen) in visited.iter().enumerate() {
            if !seen && self.self_cost[i] > 0.0 {
                *acc.entry(vec![i]).or_insert(0.0) += self.self_cost[i];
            }
        }
        let mut folded = BTreeMap::new();
        for (path, cost) in acc {
            let n = cost.round() as u64;
            if n == 0 {
                continue;
            }
            let stack = path
                .iter()
                .map(|&i| self.names[i].as_str())
                .collect::<Vec<_>>()
                .join(";");
            *folded.entry(stack).or_insert(0) += n;
        }
        folded
    }
}

struct Walker<'a> {
    out: &'a [Vec<(usize, f64)>],
    incl: &'a [f64],
    self_cost: &'a [f64],
    min: f64,
    acc: &'a mut HashMap<Vec<usize>, f64>,
    path: Vec<usize>,
    expansions: usize,
    visited: Vec<bool>,
}

impl Walker<'_> {
    fn expand(&mut self, node: usize, budget: f64) {
        self.path.push(node);
        self.expansions += 1;
        self.visited[node] = true;
        let whole = budget < self.min
            || self.path.len() >= MAX_DEPTH
            || self.expansions > MAX_EXPANSIONS
            || self.incl[node] <= 0.0;
        if whole {
            *self.acc.entry(self.path.clone()).or_insert(0.0) += budget;
            self.path.pop();
            return;
        }
        let frac = (budget / self.incl[node]).min(1.0);
        let mut own = self.self_cost[node] * frac;
        let out = self.out;
        for &(callee, cost) in &out[node] {
            let b = cost * frac;
            if self.path.contains(&callee) {
                own += b;
            } else {
                self.expand(callee, b);
            }
        }
        if own > 0.0 {
            *self.acc.entry(self.path.clone()).or_insert(0.0) += own;
        }
        self.path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_split_a_shared_callee_by_its_callers() {
        // main calls a (cost 60) and b (cost 30); both call leaf: a→leaf 40, b→leaf 20.
        let mut g = CallGraph::new();
        let main = g.node("main");
        let a = g.node("a");
        let b = g.node("b");
        let leaf = g.node("leaf");
        g.add_self(main, 10.0);
        g.add_self(a, 20.0);
        g.add_self(b, 10.0);
        g.add_self(leaf, 60.0);
        g.add_call(main, a, 60.0);
        g.add_call(main, b, 30.0);
        g.add_call(a, leaf, 40.0);
        g.add_call(b, leaf, 20.0);
        let f = g.to_folded();
        assert_eq!(f.get("main"), Some(&10));
        assert_eq!(f.get("main;a"), Some(&20));
        assert_eq!(f.get("main;a;leaf"), Some(&40));
        assert_eq!(f.get("main;b;leaf"), Some(&20));
        assert_eq!(f.values().sum::<u64>(), 100);
        let hot = g.hot_frames();
        let l = hot.iter().find(|h| h.name == "leaf").unwrap();
        assert_eq!((l.self_cost, l.total_cost), (60, 60));
        let m = hot.iter().find(|h| h.name == "main").unwrap();
        assert_eq!(m.total_cost, 100);
    }

    #[test]
    fn recursion_terminates_and_keeps_the_total() {
        let mut g = CallGraph::new();
        let main = g.node("main");
        let f = g.node("f");
        let h = g.node("h");
        g.add_self(main, 1.0);
        g.add_self(f, 50.0);
        g.add_self(h, 49.0);
        g.add_call(main, f, 99.0);
        g.add_call(f, h, 49.0);
        g.add_call(h, f, 30.0); // mutual recursion
        g.add_call(f, f, 20.0); // self recursion
        let folded = g.to_folded();
        let sum: u64 = folded.values().sum();
        assert!((95..=105).contains(&sum), "{folded:?}");
    }
}
