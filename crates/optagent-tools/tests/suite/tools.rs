//! The tools through the registry, on real files in temporary trees with the local sandbox.

// Skipped tests say why with `optagent_testkit::skip`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use optagent_sandbox::{ExecRequest, LocalSandbox, Sandbox};
use optagent_tools::{BenchRunner, Registry, ToolContext, ToolError, ToolOutput, WorkloadInfo};

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    run_dir: PathBuf,
    ctx: ToolContext,
    reg: Registry,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&root).unwrap();
    let sandbox: Arc<dyn Sandbox> = Arc::new(LocalSandbox::new(root.clone()));
    let ctx = ToolContext::new(sandbox, &run_dir);
    Env {
        _dir: dir,
        root,
        run_dir,
        ctx,
        reg: Registry::standard(),
    }
}

impl Env {
    async fn call(&self, tool: &str, args: serde_json::Value) -> Result<ToolOutput, ToolError> {
        self.reg.dispatch(&self.ctx, tool, &args.to_string()).await
    }
    async fn ok(&self, tool: &str, args: serde_json::Value) -> String {
        match self.call(tool, args.clone()).await {
            Ok(o) => o.text,
            Err(e) => panic!("{tool} {args}: {e:?}"),
        }
    }
    async fn retry(&self, tool: &str, args: serde_json::Value) -> String {
        match self.call(tool, args.clone()).await {
            Err(ToolError::Retry(m)) => m,
            other => panic!("{tool} {args}: expected Retry, got {other:?}"),
        }
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }
}

use serde_json::json;

// ---------------------------------------------------------------- edit

#[tokio::test]
async fn edit_replace_insert_create_undo() {
    let e = env();
    e.write("a.py", "def f():\n    return 1\n\ndef g():\n    return 1\n");

    // Not unique: refused, with the count and lines.
    let m = e
        .retry("edit", json!({"command": "replace", "path": "a.py", "old_str": "return 1", "new_str": "return 2"}))
        .await;
    assert!(
        m.contains("occurs 2 times") && m.contains("lines 2, 5"),
        "{m}"
    );
    // Not there: refused, with a hint.
    let m = e
        .retry("edit", json!({"command": "replace", "path": "a.py", "old_str": "def f():\n  return 1", "new_str": "x"}))
        .await;
    assert!(m.contains("not found") && m.contains("whitespace"), "{m}");

    let out = e
        .ok("edit", json!({"command": "replace", "path": "a.py", "old_str": "def g():\n    return 1", "new_str": "def g():\n    return 42"}))
        .await;
    assert_eq!(
        e.read("a.py"),
        "def f():\n    return 1\n\ndef g():\n    return 42\n"
    );
    assert!(out.contains("     5\t    return 42"), "{out}");

    let out = e
        .ok(
            "edit",
            json!({"command": "insert", "path": "a.py", "insert_line": 2, "new_str": "\nX = 3"}),
        )
        .await;
    assert_eq!(
        e.read("a.py"),
        "def f():\n    return 1\n\nX = 3\n\ndef g():\n    return 42\n"
    );
    assert!(out.contains("     4\tX = 3"), "{out}");
    let m = e
        .retry(
            "edit",
            json!({"command": "insert", "path": "a.py", "insert_line": 99, "new_str": "x"}),
        )
        .await;
    assert!(m.contains("past the end") && m.contains("7 lines"), "{m}");

    // create refuses an existing file unless overwrite.
    let m = e
        .retry(
            "edit",
            json!({"command": "create", "path": "a.py", "file_text": "x"}),
        )
        .await;
    assert!(
        m.contains("already exists") && m.contains("overwrite"),
        "{m}"
    );
    let out = e
        .ok(
            "edit",
            json!({"command": "create", "path": "pkg/new.py", "file_text": "A = 1\nB = 2\n"}),
        )
        .await;
    assert!(
        out.contains("Created `pkg/new.py` (2 lines)") && out.contains("     2\tB = 2"),
        "{out}"
    );
    e.ok("edit", json!({"command": "create", "path": "pkg/new.py", "file_text": "C = 3\n", "overwrite": true}))
        .await;
    assert_eq!(e.read("pkg/new.py"), "C = 3\n");

    // undo: one step at a time, per file; undoing a creation removes the file.
    e.ok("edit", json!({"command": "undo", "path": "pkg/new.py"}))
        .await;
    assert_eq!(e.read("pkg/new.py"), "A = 1\nB = 2\n");
    e.ok("edit", json!({"command": "undo", "path": "pkg/new.py"}))
        .await;
    assert!(!e.root.join("pkg/new.py").exists());
    let m = e
        .retry("edit", json!({"command": "undo", "path": "pkg/new.py"}))
        .await;
    assert!(m.contains("no edit"), "{m}");
    let out = e
        .ok("edit", json!({"command": "undo", "path": "a.py"}))
        .await;
    assert_eq!(
        e.read("a.py"),
        "def f():\n    return 1\n\ndef g():\n    return 42\n"
    );
    assert!(out.contains("1 earlier edit(s)"), "{out}");
    e.ok("edit", json!({"command": "undo", "path": "a.py"}))
        .await;
    assert_eq!(
        e.read("a.py"),
        "def f():\n    return 1\n\ndef g():\n    return 1\n"
    );

    // Missing arguments for a command are explained.
    let m = e
        .retry("edit", json!({"command": "replace", "path": "a.py"}))
        .await;
    assert!(m.contains("needs `old_str`"), "{m}");
    let m = e
        .retry(
            "edit",
            json!({"command": "replace", "path": "nope.py", "old_str": "a", "new_str": "b"}),
        )
        .await;
    assert!(m.contains("does not exist"), "{m}");
}

#[tokio::test]
async fn edit_refuses_paths_outside_the_workspace() {
    let e = env();
    let outside = e.root.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("x"), "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, e.root.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("x"), e.root.join("filelink")).unwrap();

    for (path, why) in [
        ("../x", "outside the workspace"),
        ("../outside/x", "outside the workspace"),
        ("/etc/passwd", "outside the workspace"),
        ("link/x", "symbolic link"),
        ("link/new.txt", "symbolic link"),
        ("filelink", "symbolic link"),
    ] {
        for args in [
            json!({"command": "create", "path": path, "file_text": "pwned\n", "overwrite": true}),
            json!({"command": "replace", "path": path, "old_str": "secret", "new_str": "pwned"}),
        ] {
            let m = e.retry("edit", args).await;
            assert!(m.contains(why), "{path}: {m}");
        }
        let m = e.retry("view", json!({"path": path})).await;
        assert!(m.contains(why), "{path}: {m}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("x")).unwrap(),
        "secret\n"
    );
    assert!(!outside.join("new.txt").exists());
    assert!(!e.root.parent().unwrap().join("x").exists());
}

// ---------------------------------------------------------------- view

#[tokio::test]
async fn view_files_ranges_and_directories() {
    let e = env();
    let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    e.write("src/f.txt", &text);
    e.write("src/deep/er/x.txt", "x");
    e.write(".gitignore", "build/\n*.log\n");
    e.write("build/out.o", "o");
    e.write("run.log", "l");
    e.write(".git/HEAD", "ref");

    let out = e
        .ok(
            "view",
            json!({"path": "src/f.txt", "start_line": 10, "end_line": 12}),
        )
        .await;
    assert!(out.starts_with("src/f.txt (lines 10-12 of 30)\n"), "{out}");
    assert!(
        out.contains("    10\tline 10\n    11\tline 11\n    12\tline 12\n"),
        "{out}"
    );
    assert!(
        !out.contains("line 13") && !out.contains("line 9\n"),
        "{out}"
    );
    let out = e
        .ok("view", json!({"path": "src/f.txt", "start_line": 29}))
        .await;
    assert!(
        out.contains("    30\tline 30") && !out.contains("line 28"),
        "{out}"
    );
    let out = e
        .ok("view", json!({"path": "src/f.txt", "end_line": -1}))
        .await;
    assert!(
        out.contains("(30 lines)") && out.contains("     1\tline 1\n"),
        "{out}"
    );
    let m = e
        .retry("view", json!({"path": "src/f.txt", "start_line": 31}))
        .await;
    assert!(m.contains("30 lines"), "{m}");
    let m = e
        .retry(
            "view",
            json!({"path": "src/f.txt", "start_line": 5, "end_line": 3}),
        )
        .await;
    assert!(m.contains("before start_line"), "{m}");
    let m = e.retry("view", json!({"path": "missing.txt"})).await;
    assert!(m.contains("does not exist"), "{m}");

    let out = e.ok("view", json!({"path": "."})).await;
    assert!(
        out.contains("src/") && out.contains("  deep/") && out.contains(".gitignore"),
        "{out}"
    );
    assert!(!out.contains("er/"), "depth 2 only: {out}");
    assert!(
        !out.contains("build") && !out.contains("run.log") && !out.contains(".git/"),
        "{out}"
    );
}

// ---------------------------------------------------------------- search

#[tokio::test]
async fn text_search_respects_gitignore_and_globs() {
    let e = env();
    e.write(".gitignore", "generated/\n");
    e.write("src/a.py", "import os\nNEEDLE = 1\n");
    e.write("src/b.c", "int needle_c = 2; /* NEEDLE */\n");
    e.write("generated/c.py", "NEEDLE = 3\n");
    e.write(".git/config", "NEEDLE\n");

    let out = e
        .ok("search", json!({"mode": "text", "pattern": "NEEDLE"}))
        .await;
    assert!(out.contains("src/a.py:2: NEEDLE = 1"), "{out}");
    assert!(out.contains("src/b.c:1:"), "{out}");
    assert!(!out.contains("generated") && !out.contains(".git"), "{out}");
    let out = e
        .ok(
            "search",
            json!({"mode": "text", "pattern": "needle", "glob": "*.py", "case_insensitive": true}),
        )
        .await;
    assert!(out.contains("src/a.py:2") && !out.contains("b.c"), "{out}");
    let out = e
        .ok(
            "search",
            json!({"mode": "text", "pattern": "NEEDLE", "max_results": 1}),
        )
        .await;
    assert!(out.contains("[1 of 2 matches shown"), "{out}");
    let m = e
        .retry("search", json!({"mode": "text", "pattern": "foo("}))
        .await;
    assert!(m.contains("invalid regex"), "{m}");
    let m = e.retry("search", json!({"mode": "text"})).await;
    assert!(m.contains("needs `pattern`"), "{m}");
}

const PY: &str = r#"import math

class Graph:
    """Graph. shortest_path is documented here."""

    def __init__(self, n):
        self.n = n

    def shortest_path(self, a, b):
        # shortest_path in a comment
        return helper(a) + b


def helper(x):
    return "shortest_path"


def main():
    g = Graph(3)
    return g.shortest_path(1, 2)
"#;

const C: &str = r#"#include <stdlib.h>
#define MAX_N 1024

typedef struct vec {
    double *data;
    size_t len;
} vec_t;

/* dot is slow */
static double dot(const vec_t *a, const vec_t *b) {
    double s = 0;
    for (size_t i = 0; i < a->len; i++) s += a->data[i] * b->data[i];
    return s;
}

int main(void) {
    vec_t v = {0};
    const char *msg = "dot";
    return (int)dot(&v, &v);
}
"#;

#[tokio::test]
async fn definitions_references_and_outline() {
    let e = env();
    e.write("pkg/graph.py", PY);
    e.write("csrc/vec.c", C);

    let out = e
        .ok(
            "search",
            json!({"mode": "definitions", "pattern": "shortest_path"}),
        )
        .await;
    assert!(
        out.contains("pkg/graph.py:9-11  method Graph.shortest_path"),
        "{out}"
    );
    assert!(out.contains("def shortest_path(self, a, b):"), "{out}");
    let out = e
        .ok(
            "search",
            json!({"mode": "definitions", "pattern": "Graph\\..*"}),
        )
        .await;
    assert!(
        out.contains("Graph.__init__") && out.contains("Graph.shortest_path"),
        "{out}"
    );
    assert!(out.contains("[2 definitions]"), "{out}");
    let out = e
        .ok("search", json!({"mode": "definitions", "pattern": "dot"}))
        .await;
    assert!(out.contains("csrc/vec.c:10-14  function dot"), "{out}");
    assert!(
        out.contains("static double dot(const vec_t *a, const vec_t *b)"),
        "{out}"
    );
    let out = e
        .ok(
            "search",
            json!({"mode": "definitions", "pattern": "vec_t|vec"}),
        )
        .await;
    assert!(
        out.contains("typedef vec_t") && out.contains("struct vec"),
        "{out}"
    );

    let out = e
        .ok(
            "search",
            json!({"mode": "references", "pattern": "shortest_path"}),
        )
        .await;
    assert!(
        out.contains("pkg/graph.py:9:9: def shortest_path(self, a, b):  [definition]"),
        "{out}"
    );
    assert!(
        out.contains("pkg/graph.py:20:14: return g.shortest_path(1, 2)"),
        "{out}"
    );
    assert!(
        out.contains("[2 references]"),
        "comments, docstrings and strings excluded: {out}"
    );
    let out = e
        .ok("search", json!({"mode": "references", "pattern": "dot"}))
        .await;
    assert!(
        out.contains("csrc/vec.c:10:15:") && out.contains("csrc/vec.c:19:17:"),
        "{out}"
    );
    assert!(out.contains("[2 references]"), "{out}");

    let out = e
        .ok("search", json!({"mode": "outline", "path": "pkg/graph.py"}))
        .await;
    let expected = [
        "pkg/graph.py (20 lines)",
        "  L3-11       class Graph:",
        "  L6-7          def __init__(self, n):",
        "  L9-11         def shortest_path(self, a, b):",
        "  L14-15      def helper(x):",
        "  L18-20      def main():",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    let out = e
        .ok("search", json!({"mode": "outline", "path": "csrc/vec.c"}))
        .await;
    assert!(out.contains("macro #define MAX_N 1024"), "{out}");
    assert!(
        out.contains("L10-14") && out.contains("function static double dot"),
        "{out}"
    );
    assert!(
        out.contains("L16-20") && out.contains("function int main(void)"),
        "{out}"
    );
    let m = e.retry("search", json!({"mode": "outline"})).await;
    assert!(m.contains("needs `path`"), "{m}");
}

// ---------------------------------------------------------------- dispatch

#[tokio::test]
async fn dispatch_turns_model_mistakes_into_retries() {
    let e = env();
    let m = match e.reg.dispatch(&e.ctx, "open_file", "{}").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(
        m.contains("no tool named `open_file`") && m.contains("view, edit, search"),
        "{m}"
    );
    let m = match e.reg.dispatch(&e.ctx, "View", "{}").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(m.contains("Did you mean `view`?"), "{m}");

    let m = match e
        .reg
        .dispatch(&e.ctx, "view", "{\"path\": \"a.py\",}")
        .await
    {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(
        m.contains("not valid JSON") && m.contains("line 1 column"),
        "{m}"
    );
    assert!(m.contains("path (string, required)"), "{m}");

    let m = match e.reg.dispatch(&e.ctx, "view", "{\"start_line\": 3}").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(m.contains("missing field `path`"), "{m}");
    assert!(
        m.contains("path (string, required), end_line (integer), start_line (integer)"),
        "{m}"
    );

    let m = match e.reg.dispatch(&e.ctx, "view", "{\"path\": 3}").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(
        m.contains("invalid type") && m.contains("expected a string"),
        "{m}"
    );
    let m = match e.reg.dispatch(&e.ctx, "view", "{\"file\": \"a\"}").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(m.contains("unknown field `file`"), "{m}");
    let m = match e
        .reg
        .dispatch(&e.ctx, "edit", "{\"command\": \"delete\", \"path\": \"a\"}")
        .await
    {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(
        m.contains("unknown variant `delete`") && m.contains("\"replace\"|\"insert\""),
        "{m}"
    );
    let m = match e.reg.dispatch(&e.ctx, "view", "[1]").await {
        Err(ToolError::Retry(m)) => m,
        o => panic!("{o:?}"),
    };
    assert!(m.contains("must be a JSON object"), "{m}");
    // Empty arguments mean {}.
    let out = e.reg.dispatch(&e.ctx, "submit", "").await.unwrap();
    assert!(out.submit);
}

#[tokio::test]
async fn large_output_is_truncated_once_with_head_tail_and_a_saved_copy() {
    let mut e = env();
    e.ctx.output_budget = 2000;
    let out = e.ok("shell", json!({"command": "seq 1 20000"})).await;
    assert!(out.chars().count() <= 2000, "{} chars", out.chars().count());
    assert!(out.contains("--- stdout ---\n1\n2\n3\n"), "{out}");
    assert!(out.contains("19999\n20000\n"), "{out}");
    let marker = out
        .lines()
        .find(|l| l.starts_with("[... "))
        .expect("marker");
    let omitted: usize = marker[5..].split(' ').next().unwrap().parse().unwrap();
    let kept = out.lines().filter(|l| l.parse::<u32>().is_ok()).count();
    assert_eq!(kept + omitted, 20000, "{marker}");
    let saved = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("[The full output (")
                .and_then(|r| r.split(" is saved at ").nth(1))
        })
        .and_then(|r| r.strip_suffix("; view it with a line range.]"))
        .expect("saved path");
    assert!(Path::new(saved).starts_with(&e.run_dir));
    let full = std::fs::read_to_string(saved).unwrap();
    assert!(full.contains("\n12345\n"));
    // The saved copy can be viewed in parts.
    let part = e
        .ok(
            "view",
            json!({"path": saved, "start_line": 3, "end_line": 4}),
        )
        .await;
    assert!(part.contains("     3\t1\n     4\t2\n"), "{part}");
}

// ---------------------------------------------------------------- shell, bench, submit

#[tokio::test]
async fn shell_runs_in_the_workspace_and_times_out() {
    let mut e = env();
    e.ctx.env.insert("TASK_VAR".into(), "hello".into());
    e.write("f.txt", "content");
    let out = e
        .ok(
            "shell",
            json!({"command": "cat f.txt; echo \" $TASK_VAR\"; echo err >&2; exit 3"}),
        )
        .await;
    assert!(out.starts_with("exit code 3"), "{out}");
    assert!(
        out.contains("--- stdout ---\ncontent hello\n--- stderr ---\nerr"),
        "{out}"
    );

    e.ctx.shell_timeout = Duration::from_secs(2);
    let t = Instant::now();
    let out = e
        .ok(
            "shell",
            json!({"command": "echo started; sleep 30", "timeout_s": 60}),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(
        out.starts_with("TIMED OUT after 2.0s (timeout_s is capped at 2s"),
        "{out}"
    );
    assert!(out.contains("started"), "{out}");
    let out = e
        .ok("shell", json!({"command": "sleep 5", "timeout_s": 1}))
        .await;
    assert!(out.starts_with("TIMED OUT after 1.0s"), "{out}");
}

struct FakeBench;

#[async_trait]
impl BenchRunner for FakeBench {
    async fn bench(&self, tree: &Path) -> Result<String, optagent_tools::BenchError> {
        Ok(format!(
            "w1: speedup 1.50x [1.4, 1.6] p=0.001 significant, correct ({})",
            tree.display()
        ))
    }
}

#[tokio::test]
async fn bench_and_submit() {
    let mut e = env();
    let m = e.retry("bench", json!({})).await;
    assert_eq!(m, "bench is not available in this run");
    e.ctx.bench = Some(Arc::new(FakeBench));
    let out = e.ok("bench", json!({})).await;
    assert!(
        out.contains("speedup 1.50x") && out.contains(&e.root.display().to_string()),
        "{out}"
    );
    let out = e
        .call("submit", json!({"summary": "memoized helper"}))
        .await
        .unwrap();
    assert!(out.submit && out.text.contains("memoized helper"));
    assert_eq!(out.summary.as_deref(), Some("memoized helper"));
    let out = e.call("view", json!({"path": "."})).await.unwrap();
    assert!(!out.submit && out.summary.is_none());
}

// ---------------------------------------------------------------- profile, flamegraph

const HOT_PY: &str = r#"import json, os

def hot_function(n):
    s = 0
    for i in range(n):
        s += (i * i) % 7
    return s

def cold_function(n):
    return n * 3

def main():
    t = 0
    for k in range(SCALE):
        t += hot_function(200000)
        t += cold_function(k)
    out = os.environ.get("OPTAGENT_OUTPUT")
    if out:
        with open(out, "w") as f:
            json.dump({"result": t}, f)

main()
"#;

async fn have(ctx: &ToolContext, cmd: &str) -> bool {
    let o = ctx
        .sandbox
        .exec(
            &ExecRequest::new(cmd)
                .envs(&ctx.env)
                .timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    o.success()
}

fn py_env(scale: u32) -> Env {
    let mut e = env();
    e.write("bench/run.py", &HOT_PY.replace("SCALE", &scale.to_string()));
    e.ctx.languages = vec!["python".into()];
    e.ctx.workloads = vec![WorkloadInfo {
        name: "pkg.Hot.run(n=200000)".into(),
        command: "python3 bench/run.py".into(),
        timeout: Duration::from_secs(60),
    }];
    e
}

/// The first row of the profile table.
fn top_row(out: &str) -> &str {
    let mut lines = out.lines().skip_while(|l| !l.contains("self%  total%"));
    lines.next();
    lines.next().unwrap_or("")
}

fn path_after<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|r| r.split(' ').next().unwrap())
        .unwrap_or_else(|| panic!("no `{label}` in {out}"))
}

fn no_scratch_left(root: &Path) {
    let left: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".optagent-profile")
        })
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

#[tokio::test]
async fn profile_python_with_py_spy_then_flamegraph() {
    let e = py_env(40);
    if !have(&e.ctx, "command -v py-spy").await {
        optagent_testkit::skip(
            "profile_python_with_py_spy_then_flamegraph",
            "py-spy is not installed (pip install py-spy)",
        );
        return;
    }
    let out = e
        .ok(
            "profile",
            json!({"workload": "Hot.run", "profiler": "py-spy", "top": 10}),
        )
        .await;
    assert!(out.contains("with py-spy ("), "{out}");
    let row = top_row(&out);
    assert!(
        row.contains("hot_function") && row.contains("bench/run.py:3"),
        "{out}"
    );
    let self_pct: f64 = row.split('%').next().unwrap().trim().parse().unwrap();
    assert!(self_pct > 50.0, "{out}");
    no_scratch_left(&e.root);

    let folded = path_after(&out, "folded stacks: ");
    let text = std::fs::read_to_string(folded).unwrap();
    assert!(
        text.contains(
            "<module> (bench/run.py:1);main (bench/run.py:12);hot_function (bench/run.py:3) "
        ),
        "{text}"
    );
    assert!(!text.contains("process "), "process frames are dropped");

    let pprof = path_after(&out, "pprof: ");
    let p = optagent_tools::profiling::pprof_out::decode(&std::fs::read(pprof).unwrap()).unwrap();
    // Decoded with prost directly, too.
    let raw = {
        use std::io::Read;
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(pprof).unwrap())
            .read_to_end(&mut v)
            .unwrap();
        v
    };
    let p2 = <pprof::protos::Profile as prost::Message>::decode(raw.as_slice()).unwrap();
    assert_eq!(p, p2);
    assert!(!p.sample.is_empty());
    assert!(p.sample.iter().map(|s| s.value[0]).sum::<i64>() > 100);
    assert!(p.string_table.iter().any(|s| s == "hot_function"));

    let fg = e.ok("flamegraph", json!({})).await;
    let svg_path = fg
        .lines()
        .next()
        .and_then(|l| l.rsplit(": ").next())
        .unwrap();
    let svg = std::fs::read_to_string(svg_path).unwrap();
    assert!(svg.contains("<svg") && svg.contains("hot_function"), "{fg}");
    assert!(fg.contains("hot_function"), "{fg}");
}

/// A short workload that does not repeat its section (as imported tasks do) was profiled from
/// one process: on a busy machine a single sampled run of a few milliseconds is mostly noise, and
/// a differential profile once showed a 25x faster function as slower (CI, 2026-11-30).
#[tokio::test]
async fn regression_a_short_unmarked_workload_is_profiled_over_several_processes_per_run() {
    let e = py_env(3);
    if !have(&e.ctx, "command -v py-spy").await {
        optagent_testkit::skip(
            "regression_a_short_unmarked_workload_is_profiled_over_several_processes_per_run",
            "py-spy is not installed (pip install py-spy)",
        );
        return;
    }
    let out = e.ok("profile", json!({"profiler": "py-spy"})).await;
    let runs: u64 = out
        .split(" runs of the whole process")
        .next()
        .and_then(|head| head.rsplit(", ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count of processes: {out}"));
    assert!((3..=10).contains(&runs), "{out}");
    assert!(
        out.contains(&format!(
            "{runs} runs of the whole process were profiled and figures are per run"
        )),
        "the note says so: {out}"
    );
    // Per run: the samples of all processes, divided by their number.
    let re =
        regex::Regex::new(r"(\d+) samples at (\d+) Hz.*? ([\d.]+) (s|ms|µs) per run;").unwrap();
    let c = re
        .captures(&out)
        .unwrap_or_else(|| panic!("no amounts: {out}"));
    let samples: f64 = c[1].parse().unwrap();
    let hz: f64 = c[2].parse().unwrap();
    let scale = match &c[4] {
        "s" => 1.0,
        "ms" => 1e-3,
        _ => 1e-6,
    };
    let per_run_s = c[3].parse::<f64>().unwrap() * scale;
    let expected = samples / hz / runs as f64;
    assert!(
        (per_run_s - expected).abs() <= 0.01 * expected + 1e-4,
        "{per_run_s} s per run, expected {expected}: {out}"
    );
    assert!(top_row(&out).contains("hot_function"), "{out}");
    no_scratch_left(&e.root);
}

#[tokio::test]
async fn profile_python_with_cprofile() {
    let e = py_env(3);
    let out = e.ok("profile", json!({"profiler": "cprofile"})).await;
    assert!(out.contains("with cprofile ("), "{out}");
    let row = top_row(&out);
    assert!(
        row.contains("hot_function") && row.contains("bench/run.py:3"),
        "{out}"
    );
    no_scratch_left(&e.root);
    let folded = std::fs::read_to_string(path_after(&out, "folded stacks: ")).unwrap();
    assert!(
        folded.contains(";main (bench/run.py:12);hot_function (bench/run.py:3) "),
        "{folded}"
    );
}

#[tokio::test]
async fn profile_names_a_missing_workload() {
    let mut e = py_env(1);
    e.ctx.workloads.push(WorkloadInfo {
        name: "other".into(),
        command: "true".into(),
        timeout: Duration::from_secs(5),
    });
    let m = e.retry("profile", json!({"workload": "nope"})).await;
    assert!(
        m.contains("no workload named `nope`") && m.contains("pkg.Hot.run(n=200000)"),
        "{m}"
    );
    let m = e.retry("profile", json!({})).await;
    assert!(m.contains("Name the workload"), "{m}");
    let m = e.retry("flamegraph", json!({"workload": "nope"})).await;
    assert!(m.contains("no workload named"), "{m}");
}

const HOT_C: &str = r#"#include <stdio.h>
static volatile unsigned long sink;
__attribute__((noinline)) unsigned long hot_function(unsigned long n, unsigned long seed) {
    unsigned long s = seed;
    for (unsigned long i = 0; i < n; i++) { s += (i * i) ^ (s >> 3); }
    return s;
}
__attribute__((noinline)) unsigned long cold_function(unsigned long n) { return n * 3 + 1; }
int main(void) {
    unsigned long t = 0;
    for (int k = 0; k < ROUNDS; k++) { t += hot_function(1000000, t); t += cold_function(k); }
    sink = t;
    printf("%lu\n", t);
    return 0;
}
"#;

/// The C workload, or `None` (and a `SKIP:` line naming `test`) without a C compiler.
async fn c_env(test: &str, rounds: u32) -> Option<Env> {
    let mut e = env();
    e.write("hot.c", &HOT_C.replace("ROUNDS", &rounds.to_string()));
    if !have(&e.ctx, "cc -O1 -g -fno-omit-frame-pointer -o hot hot.c").await {
        optagent_testkit::skip(test, "no C compiler (cc)");
        return None;
    }
    e.ctx.languages = vec!["c".into()];
    e.ctx.workloads = vec![WorkloadInfo {
        name: "hot".into(),
        command: "./hot".into(),
        timeout: Duration::from_secs(60),
    }];
    Some(e)
}

#[tokio::test]
async fn profile_c_with_callgrind() {
    let Some(e) = c_env("profile_c_with_callgrind", 20).await else {
        return;
    };
    if !have(&e.ctx, "command -v valgrind").await {
        optagent_testkit::skip("profile_c_with_callgrind", "valgrind is not installed");
        return;
    }
    let out = e.ok("profile", json!({"profiler": "callgrind"})).await;
    assert!(
        out.contains("with callgrind (") && out.contains("instructions"),
        "{out}"
    );
    let row = top_row(&out);
    assert!(
        row.contains("hot_function") && row.contains("hot.c:"),
        "{out}"
    );
    let self_pct: f64 = row.split('%').next().unwrap().trim().parse().unwrap();
    assert!(self_pct > 80.0, "{out}");
    assert!(out.contains("raw callgrind output: "), "{out}");
    // Source lines, the hot loop's first.
    let hot_line = out
        .lines()
        .skip_while(|l| !l.starts_with("Hottest source lines"))
        .nth(1)
        .unwrap_or_else(|| panic!("no source lines: {out}"));
    assert!(hot_line.contains("hot.c:5"), "{out}");
    no_scratch_left(&e.root);
    let folded = std::fs::read_to_string(path_after(&out, "folded stacks: ")).unwrap();
    assert!(
        folded
            .lines()
            .any(|l| l.contains(";main (hot.c:") && l.contains(";hot_function (hot.c:")),
        "{folded}"
    );
    let fg = e.ok("flamegraph", json!({})).await;
    let svg =
        std::fs::read_to_string(fg.lines().next().unwrap().rsplit(": ").next().unwrap()).unwrap();
    assert!(svg.contains("hot_function"));
}

#[tokio::test]
async fn profile_c_with_perf_where_it_works() {
    let Some(e) = c_env("profile_c_with_perf_where_it_works", 300).await else {
        return;
    };
    if !have(&e.ctx, "perf record -q -e cpu-clock -g -o /tmp/optagent-perf-probe.data -- true && rm -f /tmp/optagent-perf-probe.data").await {
        optagent_testkit::skip(
            "profile_c_with_perf_where_it_works",
            "perf record does not work here (perf missing or perf_event_paranoid too high)",
        );
        return;
    }
    // auto picks perf for a native workload when perf works.
    let out = e.ok("profile", json!({})).await;
    assert!(out.contains("with perf ("), "{out}");
    let row = top_row(&out);
    assert!(row.contains("hot_function"), "{out}");
    no_scratch_left(&e.root);
}

#[tokio::test]
async fn differential_flamegraph_against_the_base_tree() {
    let e = py_env(2);
    // The base tree runs the hot function more often.
    let base_root = e.root.parent().unwrap().join("base");
    std::fs::create_dir_all(base_root.join("bench")).unwrap();
    std::fs::write(base_root.join("bench/run.py"), HOT_PY.replace("SCALE", "6")).unwrap();
    let mut e = e;
    let m = e
        .retry("flamegraph", json!({"diff": true, "profiler": "cprofile"}))
        .await;
    assert!(m.contains("base tree"), "{m}");
    e.ctx.base_sandbox = Some(Arc::new(LocalSandbox::new(base_root.clone())));
    let out = e
        .ok("flamegraph", json!({"diff": true, "profiler": "cprofile"}))
        .await;
    assert!(out.starts_with("Differential flamegraph"), "{out}");
    let svg_path = out.lines().next().unwrap().rsplit(": ").next().unwrap();
    let svg = std::fs::read_to_string(svg_path).unwrap();
    assert!(svg.contains("hot_function"));
    assert!(
        svg.contains("base → workspace, cprofile"),
        "the differential's title"
    );
    // The base runs the hot function 6 times, the workspace 2: per run of the workload the
    // workspace does about a third of the work (any load slows both; a third is far from -30%).
    let total = out
        .lines()
        .find(|l| l.starts_with("Total per run: base "))
        .unwrap_or_else(|| panic!("no total line: {out}"));
    let change: f64 = total
        .split_once(" (")
        .and_then(|(_, r)| r.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no change in {total}"));
    assert!(change <= -30.0, "{total}");
    // The base's own profile is written beside, and the largest change is the hot function,
    // with its time per run before and after.
    assert!(out.contains("Base profile: "), "{out}");
    let first = out
        .lines()
        .skip_while(|l| !l.starts_with("Largest changes per run"))
        .nth(1)
        .unwrap_or_else(|| panic!("no changes listed: {out}"));
    assert!(
        first.contains("hot_function")
            && first.contains(" → ")
            && first
                .split_once('(')
                .is_some_and(|(_, d)| d.trim_start().starts_with('-')),
        "{out}"
    );
    no_scratch_left(&e.root);
    no_scratch_left(&base_root);
}

#[tokio::test]
async fn auto_falls_back_to_cprofile_when_py_spy_cannot_run() {
    let mut e = py_env(2);
    let host_path = std::env::var("PATH").unwrap_or_default();
    // A py-spy that fails the way it does without ptrace rights.
    let fake = e.root.parent().unwrap().join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(
        fake.join("py-spy"),
        "#!/bin/sh\necho 'Error: Operation not permitted (os error 1)' >&2\nexit 1\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(fake.join("py-spy"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(fake.join("py-spy"), perms).unwrap();
    e.ctx
        .env
        .insert("PATH".into(), format!("{}:{host_path}", fake.display()));
    let out = e.ok("profile", json!({})).await;
    assert!(out.contains("with cprofile ("), "{out}");
    assert!(
        out.contains("py-spy cannot sample in this sandbox"),
        "{out}"
    );
    assert!(top_row(&out).contains("hot_function"), "{out}");
    // Asked for explicitly, py-spy's failure is reported instead.
    let m = e.retry("profile", json!({"profiler": "py-spy"})).await;
    assert!(
        m.contains("py-spy cannot profile in this sandbox") && m.contains("cprofile"),
        "{m}"
    );

    // Without py-spy at all.
    let python = e
        .ctx
        .sandbox
        .exec(&ExecRequest::new(
            "python3 -c 'import sys; print(sys.executable)'",
        ))
        .await
        .unwrap()
        .stdout
        .trim()
        .to_string();
    let bare = e.root.parent().unwrap().join("barebin");
    std::fs::create_dir_all(&bare).unwrap();
    std::os::unix::fs::symlink(&python, bare.join("python3")).unwrap();
    e.ctx
        .env
        .insert("PATH".into(), format!("{}:/usr/bin:/bin", bare.display()));
    if have(&e.ctx, "command -v py-spy").await {
        optagent_testkit::skip(
            "auto_falls_back_to_cprofile_when_py_spy_cannot_run (the missing-py-spy half)",
            "py-spy is in /usr/bin or /bin",
        );
        return;
    }
    let out = e.ok("profile", json!({})).await;
    assert!(
        out.contains("py-spy is not installed") && out.contains("with cprofile ("),
        "{out}"
    );
    let m = e.retry("profile", json!({"profiler": "py-spy"})).await;
    assert!(m.contains("pip install py-spy"), "{m}");
}

// ---------------------------------------------------------------- the measured section

/// A runner that follows the profiling protocol: setup (an import and a slow build of its
/// input) outside `optagent_measured`, the measured call inside it, repeated
/// `$OPTAGENT_PROFILE_REPEAT` times.
const MARKED_PY: &str = r#"import json, os, time

def build(n):
    return [(i * 7919) % 1000 for i in range(n)]

def hot_function(xs):
    s = 0
    for x in xs:
        s += (x * x) % 7
    return s

def optagent_measured(run, repeat):
    out = None
    for _ in range(repeat):
        out = run()
    return out

def main():
    xs = build(300000)
    for _ in range(4):
        build(300000)  # setup that must not show
    raw = os.environ.get("OPTAGENT_PROFILE_REPEAT")
    repeat = int(raw) if raw else 1
    start = time.perf_counter()
    out = optagent_measured(lambda: hot_function(xs), repeat)
    payload = {"seconds": (time.perf_counter() - start) / repeat, "result": out}
    if raw:
        payload["repeat"] = repeat
    with open(os.environ["OPTAGENT_OUTPUT"], "w") as f:
        json.dump(payload, f)

main()
"#;

fn marked_env() -> Env {
    let mut e = env();
    e.write("bench/run.py", MARKED_PY);
    e.ctx.languages = vec!["python".into()];
    e.ctx.workloads = vec![WorkloadInfo {
        name: "pkg.hot_function(n=300000)".into(),
        command: "python3 bench/run.py".into(),
        timeout: Duration::from_secs(60),
    }];
    e
}

/// An SVG frame: its tooltip, row (y) and position and width in samples.
#[derive(Debug)]
struct SvgFrame {
    title: String,
    y: u64,
    x: u64,
    w: u64,
}

fn svg_frames(svg: &str) -> Vec<SvgFrame> {
    let re = regex::Regex::new(
        r#"<title>([^<]*)</title><rect x="[^"]*" y="(\d+)" width="[^"]*" height="\d+" fill="[^"]*" fg:x="(\d+)" fg:w="(\d+)""#,
    )
    .unwrap();
    re.captures_iter(svg)
        .map(|c| SvgFrame {
            title: c[1].to_string(),
            y: c[2].parse().unwrap(),
            x: c[3].parse().unwrap(),
            w: c[4].parse().unwrap(),
        })
        .collect()
}

fn svg_text(svg: &str, id: &str) -> String {
    let re = regex::Regex::new(&format!(r#"<text id="{id}"[^>]*>([^<]*)</text>"#)).unwrap();
    re.captures(svg)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no {id} in the SVG"))
}

#[tokio::test]
async fn profile_focuses_on_the_measured_section_and_the_svg_says_what_it_shows() {
    let e = marked_env();
    // cProfile runs everywhere; the section logic is the same for every profiler.
    let out = e.ok("profile", json!({"profiler": "cprofile"})).await;
    assert!(
        out.contains("in the measured section (optagent_measured)"),
        "{out}"
    );
    assert!(out.contains("outside it"), "{out}");
    let row = top_row(&out);
    assert!(row.contains("hot_function"), "{out}");
    // Setup is left out.
    assert!(!out.contains("build"), "{out}");
    let folded = std::fs::read_to_string(path_after(&out, "folded stacks: ")).unwrap();
    assert!(
        folded
            .lines()
            .all(|l| l.starts_with("optagent_measured (bench/run.py:12)")),
        "{folded}"
    );
    // The whole process on request.
    let all = e
        .ok(
            "profile",
            json!({"profiler": "cprofile", "scope": "process"}),
        )
        .await;
    assert!(
        all.contains("whole process") && all.contains("build"),
        "{all}"
    );

    // The SVG: a title naming workload, tree and profiler; a subtitle with the amount; the
    // entry point alone above inferno's `all`, as wide; frames `function (file:line)`.
    let fg = e.ok("flamegraph", json!({"profiler": "cprofile"})).await;
    let svg_path = fg.lines().next().unwrap().rsplit(": ").next().unwrap();
    let svg = std::fs::read_to_string(svg_path).unwrap();
    let title = svg_text(&svg, "title");
    assert!(
        title.contains("pkg.hot_function(n=300000)")
            && title.contains("workspace")
            && title.contains("cprofile"),
        "{title}"
    );
    let subtitle = svg_text(&svg, "subtitle");
    assert!(
        subtitle.contains("measured section") && subtitle.contains("per run"),
        "{subtitle}"
    );
    let frames = svg_frames(&svg);
    let all_frame = frames
        .iter()
        .find(|f| f.title.starts_with("all "))
        .unwrap_or_else(|| panic!("no `all` frame: {frames:?}"));
    let bottom = frames.iter().map(|f| f.y).max().unwrap();
    assert_eq!(all_frame.y, bottom);
    let row2 = frames
        .iter()
        .map(|f| f.y)
        .filter(|&y| y < bottom)
        .max()
        .unwrap();
    let second_row: Vec<&SvgFrame> = frames.iter().filter(|f| f.y == row2).collect();
    assert_eq!(second_row.len(), 1, "{second_row:?}");
    let root = second_row[0];
    assert!(
        root.title
            .starts_with("optagent_measured (bench/run.py:12) ("),
        "{root:?}"
    );
    assert_eq!((root.x, root.w), (all_frame.x, all_frame.w));
    let named = regex::Regex::new(r"^\S.* \([^()]+:\d+\) \(").unwrap();
    for f in frames.iter().filter(|f| f.y < bottom) {
        assert!(
            named.is_match(&f.title) || f.title.starts_with("<"),
            "frame not `function (file:line)`: {f:?}"
        );
    }
    no_scratch_left(&e.root);
}
