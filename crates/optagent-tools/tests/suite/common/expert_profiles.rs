//! Profiles every CPU workload of a task on the base tree and on the expert's tree through the
//! `profile` and `flamegraph` tools, as an agent would call them, and returns the figures the
//! profiling issue asks for: samples (or instructions) inside the measured section, the time
//! the profile took, and the differential's largest changes against the functions the expert's
//! patch changed. Shared by `tests/suite/expert_profiles.rs` and `examples/profile_figures.rs`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use optagent_sandbox::{LocalSandbox, Sandbox};
use optagent_task::{ApplyOutcome, Task, Tree};
use optagent_tools::{Registry, ToolContext, WorkloadInfo};

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    pub workload: String,
    /// `Profile of workload ...` line of the workspace's profile.
    pub header: String,
    pub profiler: String,
    /// Samples (or instructions) inside the measured section, in the workspace's profile.
    pub in_section: u64,
    /// `samples` or `instructions`.
    pub unit: String,
    /// Seconds the `profile` call took (the unprofiled probe run included).
    pub profile_s: f64,
    /// The differential's largest changes, largest first: (function name, the change line).
    pub changes: Vec<(String, String)>,
    /// Functions the expert's patch changed (names as defined in the source).
    pub expert_functions: BTreeSet<String>,
    /// Whether any of them runs in the workload (a frame of the workspace's profile).
    pub expert_runs: bool,
    /// The workspace's flamegraph and the differential one (SVG text).
    pub svg: String,
    pub diff_svg: String,
}

impl Figures {
    /// Whether the largest change is a function the expert changed.
    pub fn largest_is_expert(&self) -> bool {
        self.changes
            .first()
            .is_some_and(|(name, _)| self.expert_functions.contains(short(name)))
    }

    /// Import machinery among the five largest changes.
    pub fn imports_in_top5(&self) -> Vec<String> {
        self.changes
            .iter()
            .take(5)
            .filter(|(_, line)| is_import_frame(line))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// The function a frame belongs to, by the last part of its qualified name:
/// `Graph.shortest_path` → `shortest_path`, `Corpus.count.<locals>.<genexpr>` → `count`.
pub fn short(name: &str) -> &str {
    let name = name.split(".<locals>").next().unwrap_or(name);
    name.rsplit('.').next().unwrap_or(name)
}

/// Frames of Python's import system (or module bodies run by imports).
pub fn is_import_frame(s: &str) -> bool {
    [
        "importlib",
        "_find_and_load",
        "<frozen",
        "<module>",
        "_compile_bytecode",
    ]
    .iter()
    .any(|k| s.contains(k))
}

/// Functions enclosing the lines a unified diff adds (in `after`) or removes (in `before`).
pub fn changed_functions(patch: &str, before: &Path, after: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut file: Option<String> = None;
    let (mut old_no, mut new_no) = (0usize, 0usize);
    let mut touched: Vec<(String, bool, usize)> = Vec::new();
    for line in patch.lines() {
        if let Some(f) = line.strip_prefix("+++ b/") {
            file = Some(f.to_string());
        } else if line.starts_with("--- ") || line.starts_with("diff ") {
        } else if let Some(h) = line.strip_prefix("@@ -") {
            let mut parts = h.split(' ');
            let num = |p: Option<&str>| -> usize {
                p.and_then(|x| x.trim_start_matches('+').split(',').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            old_no = num(parts.next());
            new_no = num(parts.next());
        } else if let Some(f) = &file {
            if line.starts_with('+') {
                touched.push((f.clone(), true, new_no));
                new_no += 1;
            } else if line.starts_with('-') {
                touched.push((f.clone(), false, old_no));
                old_no += 1;
            } else {
                old_no += 1;
                new_no += 1;
            }
        }
    }
    for (f, added, no) in touched {
        let root = if added { after } else { before };
        let Ok(text) = std::fs::read_to_string(root.join(&f)) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        if let Some(name) = enclosing_function(&lines, no, f.ends_with(".py")) {
            out.insert(name);
        }
    }
    out
}

fn enclosing_function(lines: &[&str], no: usize, python: bool) -> Option<String> {
    let idx = no.checked_sub(1)?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let here = lines.get(idx)?;
    let mut limit = if here.trim().is_empty() {
        usize::MAX
    } else {
        indent(here)
    };
    for i in (0..=idx).rev() {
        let l = lines[i];
        if python {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix("def ") {
                if indent(l) < limit || i == idx {
                    return rest.split('(').next().map(|s| s.trim().to_string());
                }
            }
            if !t.is_empty() && indent(l) < limit {
                limit = indent(l);
                if limit == 0 && !t.starts_with("def ") && !t.starts_with('@') {
                    // A top-level statement (import, class line): no function.
                    if !t.starts_with("class ") {
                        return None;
                    }
                }
            }
        } else if !l.starts_with([' ', '\t', '}', '#', '/', '*'])
            && l.contains('(')
            && !l.trim_end().ends_with(';')
        {
            let head = &l[..l.find('(')?];
            return head
                .split_whitespace()
                .last()
                .map(|s| s.trim_start_matches('*').to_string());
        }
    }
    None
}

/// Runs a shell command in `root` with the task's environment, failing with its output.
fn sh(
    root: &Path,
    cmd: &str,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(root)
        .envs(env)
        .output()
        .map_err(|e| format!("cannot run `{cmd}` in {}: {e}", root.display()))?;
    if !o.status.success() {
        return Err(format!(
            "`{cmd}` failed in {}: {}{}",
            root.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// The number before `word` in `text` (`2431 samples` → 2431).
fn number_before(text: &str, word: &str) -> Option<u64> {
    let i = text.find(word)?;
    text[..i]
        .split_whitespace()
        .last()?
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// Profiles `task_dir`'s workloads (those whose name contains `only`, all when `None`) on the
/// base and the expert's trees, in a temporary folder, with `profiler` (default auto). A task for
/// a GPU (`device = "cuda"`) gives no figures.
pub async fn expert_figures(
    task_dir: &Path,
    only: Option<&str>,
    profiler: Option<&str>,
) -> Result<Vec<Figures>, String> {
    let task = Task::load(task_dir).map_err(|e| e.to_string())?;
    if task.spec.device != optagent_task::Device::Cpu {
        return Ok(Vec::new());
    }
    let profiler = profiler.unwrap_or("auto");
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let base = Tree::materialize(&task, &tmp.path().join("base")).map_err(|e| e.to_string())?;
    let ws = Tree::materialize(&task, &tmp.path().join("ws")).map_err(|e| e.to_string())?;
    let patch = ws.expert_patch(&task).map_err(|e| e.to_string())?;
    if let ApplyOutcome::Failed { reason } = ws.apply(&patch).map_err(|e| e.to_string())? {
        return Err(format!("the expert's patch does not apply: {reason}"));
    }
    let env = task.spec.env.clone();
    for tree in [&base, &ws] {
        for cmd in &task.spec.build.commands {
            sh(&tree.root, cmd, &env)?;
        }
    }
    let expert_functions = changed_functions(&patch, &base.root, &ws.root);
    let sandbox: Arc<dyn Sandbox> = Arc::new(LocalSandbox::new(ws.root.clone()));
    let mut ctx = ToolContext::new(sandbox, tmp.path().join("run"));
    ctx.base_sandbox = Some(Arc::new(LocalSandbox::new(base.root.clone())));
    ctx.env = env;
    ctx.languages = task.spec.languages.clone();
    ctx.workloads = task
        .spec
        .workloads
        .iter()
        .map(|w| WorkloadInfo {
            name: w.name.clone(),
            command: w.command.clone(),
            timeout: std::time::Duration::from_secs(w.timeout.unwrap_or(task.spec.measure.timeout)),
        })
        .collect();
    let reg = Registry::standard();
    let mut out = Vec::new();
    for w in ctx.workloads.clone() {
        if only.is_some_and(|o| !w.name.contains(o)) {
            continue;
        }
        let args = serde_json::json!({"workload": w.name, "profiler": profiler}).to_string();
        let t0 = Instant::now();
        let prof = reg
            .dispatch(&ctx, "profile", &args)
            .await
            .map_err(|e| format!("profile {}: {e:?}", w.name))?;
        let profile_s = t0.elapsed().as_secs_f64();
        let header = prof.text.lines().next().unwrap_or("").to_string();
        let profiler = header
            .split(" with ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or("")
            .to_string();
        let (in_section, unit) = match number_before(&header, " samples") {
            Some(n) => (n, "samples"),
            None => (
                number_before(&header, " instructions").unwrap_or(0),
                "instructions",
            ),
        };
        let folded = prof
            .text
            .lines()
            .find_map(|l| l.trim().strip_prefix("folded stacks: "))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default();
        let expert_runs = folded.lines().any(|l| {
            l.rsplit_once(' ').is_some_and(|(stack, _)| {
                stack.split(';').any(|fr| {
                    let name = fr.split(" (").next().unwrap_or(fr);
                    expert_functions.contains(short(name))
                })
            })
        });
        let svg_of = |text: &str| {
            text.lines()
                .next()
                .and_then(|l| l.rsplit(": ").next())
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let args = serde_json::json!({"workload": w.name, "profiler": profiler}).to_string();
        let plain = reg
            .dispatch(&ctx, "flamegraph", &args)
            .await
            .map_err(|e| format!("flamegraph {}: {e:?}", w.name))?;
        let svg = svg_of(&plain.text);
        let args =
            serde_json::json!({"workload": w.name, "diff": true, "profiler": profiler}).to_string();
        let fg = reg
            .dispatch(&ctx, "flamegraph", &args)
            .await
            .map_err(|e| format!("flamegraph {}: {e:?}", w.name))?;
        let changes = fg
            .text
            .lines()
            .skip_while(|l| !l.starts_with("Largest changes"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let name = l
                    .split(")  ")
                    .nth(1)
                    .unwrap_or("")
                    .split("  (")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                (name, l.trim().to_string())
            })
            .collect();
        out.push(Figures {
            workload: w.name.clone(),
            header,
            profiler,
            in_section,
            unit: unit.to_string(),
            profile_s,
            changes,
            expert_functions: expert_functions.clone(),
            expert_runs,
            svg,
            diff_svg: svg_of(&fg.text),
        });
    }
    Ok(out)
}
