//! The cProfile fallback for Python when py-spy cannot run (not installed, or no ptrace in the
//! sandbox). A `sitecustomize.py` put first on `PYTHONPATH` starts `cProfile` in every Python
//! process the workload starts and, at exit, writes its stats as JSON (per function: own time
//! `tt`, inclusive time `ct`, and per caller the inclusive time of its calls). The stats form a
//! call graph, turned into stacks by [`super::callgraph`]. Only the main thread is profiled, and
//! a process ending with `os._exit` or a signal writes nothing.

use serde::Deserialize;

use super::callgraph::CallGraph;
use super::{clean_frame, short_python_path, Folded};

/// The file name the script must have.
pub const SITECUSTOMIZE_NAME: &str = "sitecustomize.py";

/// Writes `cprofile.<pid>.json` into `$OPTAGENT_CPROFILE_DIR` at exit.
pub const SITECUSTOMIZE: &str = r#"# Written by optagent's profile tool; removed after the run.
import os as _oa_os
_oa_dir = _oa_os.environ.get("OPTAGENT_CPROFILE_DIR")
if _oa_dir:
    try:
        import atexit as _oa_atexit, cProfile as _oa_cprofile, json as _oa_json
        _oa_prof = _oa_cprofile.Profile()

        def _oa_dump():
            try:
                _oa_prof.disable()
                _oa_prof.create_stats()
                out = []
                for (fl, ln, fn), (cc, nc, tt, ct, callers) in _oa_prof.stats.items():
                    out.append({"file": fl, "line": ln, "func": fn, "tt": tt, "ct": ct,
                                "callers": [[c[0], c[1], c[2], v[3]] for c, v in callers.items()]})
                path = _oa_os.path.join(_oa_dir, "cprofile.%d.json" % _oa_os.getpid())
                with open(path, "w") as f:
                    _oa_json.dump(out, f)
            except Exception:
                pass

        _oa_atexit.register(_oa_dump)
        _oa_prof.enable()
    except Exception:
        pass
"#;

#[derive(Deserialize)]
struct Entry {
    file: String,
    line: i64,
    func: String,
    tt: f64,
    #[allow(dead_code)]
    ct: f64,
    callers: Vec<(String, i64, String, f64)>,
}

fn frame(file: &str, line: i64, func: &str, root: Option<&str>) -> String {
    if file == "~" || file.is_empty() {
        clean_frame(func)
    } else {
        format!(
            "{} ({}:{line})",
            clean_frame(func),
            clean_frame(&short_python_path(file, root))
        )
    }
}

/// Add one process's JSON stats to a graph (costs in microseconds).
pub fn add_stats(
    g: &mut CallGraph,
    json: &str,
    root: Option<&str>,
) -> Result<(), super::ProfileDataError> {
    let entries: Vec<Entry> = serde_json::from_str(json)?;
    for e in entries {
        let me = g.node(&frame(&e.file, e.line, &e.func, root));
        g.add_self(me, e.tt * 1e6);
        for (f, l, func, ct) in e.callers {
            let caller = g.node(&frame(&f, l, &func, root));
            g.add_call(caller, me, ct * 1e6);
        }
    }
    Ok(())
}

/// The profile of a graph built from cProfile stats.
pub fn folded(g: &CallGraph) -> Folded {
    let mut f = Folded::new("microseconds");
    f.stacks = g.to_folded();
    f.exact = Some(g.hot_frames());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_become_a_graph() {
        let json = r#"[
          {"file": "/w/a.py", "line": 1, "func": "<module>", "tt": 0.001, "ct": 0.1, "callers": []},
          {"file": "/w/a.py", "line": 5, "func": "hot", "tt": 0.08, "ct": 0.09,
           "callers": [["/w/a.py", 1, "<module>", 0.09]]},
          {"file": "~", "line": 0, "func": "<built-in method builtins.sum>", "tt": 0.01, "ct": 0.01,
           "callers": [["/w/a.py", 5, "hot", 0.01]]}
        ]"#;
        let mut g = CallGraph::new();
        add_stats(&mut g, json, Some("/w")).unwrap();
        let f = folded(&g);
        assert_eq!(f.hot_frames()[0].frame, "hot (a.py:5)");
        assert_eq!(
            f.stacks
                .get("<module> (a.py:1);hot (a.py:5);<built-in method builtins.sum>"),
            Some(&10_000)
        );
    }
}
