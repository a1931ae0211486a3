//! Helpers shared by the command-line test modules: paths, running the binary with a hermetic
//! environment, turning a diff into the edit tool calls a model would make, and [`MEASURING`],
//! the one lock that keeps any two timing tests of the binary from running at once.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};

/// Held for writing by every test that measures time, so two never run on the 2 cores at once
/// (one lock for all modules, since they share one test binary); held for reading by a heavy
/// test that measures nothing (torch.compile's minutes), so such tests overlap each other but
/// never a measurement.
pub static MEASURING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub const FAKE_KEY: &str = "sk-test-0123456789abcdefghijklmnop";

/// The built-in providers' key variables: cleared for every command a test runs, so a developer
/// who has one set (to use a real provider) runs the same tests as CI.
pub const PROVIDER_KEY_VARS: [&str; 7] = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "VLLM_API_KEY",
    "LLAMACPP_API_KEY",
    "OLLAMA_API_KEY",
];

/// A command of the `optagent` binary with a hermetic environment: the fake key in MOCK_API_KEY,
/// no user config, no provider key of the developer's.
pub fn optagent_cmd() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"));
    c.env("MOCK_API_KEY", FAKE_KEY)
        .env_remove("OPTAGENT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-optagent-config-home");
    for v in PROVIDER_KEY_VARS {
        c.env_remove(v);
    }
    c
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn task(id: &str) -> PathBuf {
    repo_root().join("tasks").join(id)
}

/// Run `optagent` with args, the fake key in MOCK_API_KEY.
pub async fn optagent(args: &[&str]) -> Output {
    optagent_cmd()
        .args(args)
        .current_dir(repo_root())
        .output()
        .await
        .expect("optagent runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `edit` calls (as JSON argument objects) that turn the base into the diff's result: one
/// `replace` per hunk, old text = context and removed lines, new = context and added lines.
pub fn diff_to_edits(diff: &str) -> Vec<Value> {
    let mut edits = vec![];
    let mut file = String::new();
    let (mut old, mut new) = (String::new(), String::new());
    let mut in_hunk = false;
    let flush = |file: &str, old: &mut String, new: &mut String, edits: &mut Vec<Value>| {
        if !old.is_empty() || !new.is_empty() {
            edits.push(json!({"command": "replace", "path": file, "old_str": old.clone(), "new_str": new.clone()}));
        }
        old.clear();
        new.clear();
    };
    for line in diff.lines() {
        if let Some(f) = line.strip_prefix("+++ b/") {
            flush(&file, &mut old, &mut new, &mut edits);
            file = f.to_string();
            in_hunk = false;
        } else if line.starts_with("@@") {
            flush(&file, &mut old, &mut new, &mut edits);
            in_hunk = true;
        } else if line.starts_with("diff --git")
            || line.starts_with("--- ")
            || line.starts_with("index ")
        {
            flush(&file, &mut old, &mut new, &mut edits);
            in_hunk = false;
        } else if in_hunk {
            if let Some(c) = line.strip_prefix('-') {
                old.push_str(c);
                old.push('\n');
            } else if let Some(c) = line.strip_prefix('+') {
                new.push_str(c);
                new.push('\n');
            } else if let Some(c) = line.strip_prefix(' ') {
                old.push_str(c);
                old.push('\n');
                new.push_str(c);
                new.push('\n');
            } else if line.is_empty() {
                old.push('\n');
                new.push('\n');
            }
        }
    }
    flush(&file, &mut old, &mut new, &mut edits);
    edits
}

/// The tool messages the agent sent back to the model, over all requests.
pub fn tool_results(requests: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    if let Some(last) = requests.last() {
        for m in last["messages"].as_array().into_iter().flatten() {
            if m["role"] == "tool" {
                out.push(m["content"].as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

pub fn user_messages(requests: &[Value]) -> Vec<String> {
    let mut out = vec![];
    if let Some(last) = requests.last() {
        for m in last["messages"].as_array().into_iter().flatten() {
            if m["role"] == "user" {
                out.push(m["content"].as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

/// `lib.work(n)`: a slow sum in a loop, the base of the small sweep tasks.
pub const SLOW_WORK_SRC: &str =
    "def work(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n";
/// The sweep tasks' workload: times `lib.work(300000)` and writes seconds and result.
pub const WORK_BENCH: &str = "import json, os, sys, time\nsys.path.insert(0, '.')\nimport lib\nt = time.perf_counter()\nr = lib.work(300000)\ns = time.perf_counter() - t\nwith open(os.environ['OPTAGENT_OUTPUT'], 'w') as f:\n    json.dump({'seconds': s, 'result': r}, f)\n";

/// A task `id` in `dir` whose source is [`SLOW_WORK_SRC`] and whose expert turns it into
/// `expert_src`, with one workload ([`WORK_BENCH`]) at 5 repetitions.
pub fn write_work_task(dir: &Path, id: &str, expert_src: &str) {
    std::fs::create_dir_all(dir.join("repo/bench")).unwrap();
    std::fs::write(dir.join("repo/lib.py"), SLOW_WORK_SRC).unwrap();
    std::fs::write(dir.join("repo/bench/run.py"), WORK_BENCH).unwrap();
    let diff = similar::TextDiff::from_lines(SLOW_WORK_SRC, expert_src)
        .unified_diff()
        .header("a/lib.py", "b/lib.py")
        .to_string();
    std::fs::write(dir.join("expert.diff"), diff).unwrap();
    std::fs::write(
        dir.join("task.toml"),
        format!("id = \"{id}\"\ninstruction = \"make work() faster\"\nlanguages = [\"python\"]\nprotected = [\"bench/**\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"expert.diff\"\n[measure]\nreps = 5\n[[workloads]]\nname = \"{id}.lib.work(n=300000)\"\ncommand = \"python3 bench/run.py\"\n"),
    )
    .unwrap();
}

/// `optagent solve` against a mock server: `task` with `model` (through `--base-url url`, the key
/// in `MOCK_API_KEY`), output in `out`, 3 bench repetitions and `reps` verification repetitions,
/// then `extra`.
pub fn mock_solve_args<'a>(
    task: &'a str,
    model: &'a str,
    url: &'a str,
    out: &'a str,
    reps: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![
        "solve",
        task,
        "--model",
        model,
        "--base-url",
        url,
        "--api-key-env",
        "MOCK_API_KEY",
        "--out",
        out,
        "--bench-reps",
        "3",
        "--reps",
        reps,
    ];
    v.extend_from_slice(extra);
    v
}
