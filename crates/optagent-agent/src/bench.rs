//! The `bench` tool's bridge to the evaluator: the workspace's current diff is scored against the
//! base on the visible workloads, in fresh trees, with the evaluator's measurement. The model sees
//! per-workload speedups, intervals, significance and correctness; never the expert's figures.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use optagent_eval::render::Figure;
use optagent_eval::{Candidate, EvalOptions, PatchSource, Verdict, WorkloadSet};
use optagent_task::{Task, Tree};
use optagent_tools::{BenchError, BenchRunner};

/// Scores the workspace with the evaluator.
pub struct EvalBench {
    pub task: Task,
    pub opts: EvalOptions,
    /// The workspace tree (to take its diff).
    pub tree: Tree,
    pub runs: std::sync::atomic::AtomicUsize,
    pub work_dir: PathBuf,
}

impl EvalBench {
    pub fn new(task: Task, mut opts: EvalOptions, tree: Tree, work_dir: PathBuf) -> Arc<Self> {
        opts.workloads = WorkloadSet::Visible;
        opts.progress = None;
        // The bench's inputs are fixed and differ from verification's fresh ones.
        opts.workload_seed = Some(optagent_eval::runner::BENCH_SEED);
        Arc::new(EvalBench {
            task,
            opts,
            tree,
            runs: Default::default(),
            work_dir,
        })
    }
}

#[async_trait]
impl BenchRunner for EvalBench {
    async fn bench(&self, _tree: &Path) -> Result<String, BenchError> {
        let diff = self.tree.diff().map_err(|e| BenchError::Diff(e.into()))?;
        if diff.trim().is_empty() {
            return Err(BenchError::NoChanges);
        }
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut opts = self.opts.clone();
        opts.work_dir = self.work_dir.join(format!("bench-{n}"));
        let result = optagent_eval::evaluate(
            &self.task,
            &[Candidate::new("workspace", PatchSource::Diff(diff))],
            &opts,
        )
        .await;
        let _ = std::fs::remove_dir_all(&opts.work_dir);
        let reports = result.map_err(|e| BenchError::Evaluate(e.into()))?;
        Ok(render_for_model(&reports[0]))
    }
}

/// The bench result as the model reads it.
pub fn render_for_model(r: &optagent_eval::EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "verdict: {}", r.verdict.as_str());
    if let Some(reason) = &r.reason {
        let _ = writeln!(s, "reason: {reason}");
    }
    if r.verdict != Verdict::Ok {
        let _ = writeln!(
            s,
            "The change is not correct, so it scores as no speedup. Fix it before going on."
        );
        return s;
    }
    if !r.integrity.flags.is_empty() {
        let _ = writeln!(
            s,
            "FLAGGED: the evaluator does not trust this speedup, and a flagged patch is never \
             selected. Each flag says what was seen; remove the cause:"
        );
        for f in &r.integrity.flags {
            let _ = writeln!(
                s,
                "- {}{}: {}",
                f.kind.as_str(),
                f.workload
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default(),
                f.detail
            );
        }
    }
    let _ = writeln!(
        s,
        "overall speedup (geometric mean): {:.3}x; {} workload(s) significantly faster, {} significantly slower (threshold {:.0}%)",
        Figure(r.speedup),
        r.improvements,
        r.regressions,
        r.threshold * 100.0
    );
    for w in &r.workloads {
        let (b, p) = (
            w.baseline.median,
            w.patch.as_ref().map(|x| x.median).unwrap_or(f64::NAN),
        );
        let _ = writeln!(
            s,
            "- {}: {:.3}x [{:.3}, {:.3}] p={:.1e} {} (median {} -> {}, {} reps)",
            w.name,
            Figure(w.speedup),
            Figure(w.speedup_ci[0]),
            Figure(w.speedup_ci[1]),
            w.p_value,
            if w.significant {
                "significant"
            } else {
                "not significant"
            },
            fmt_s(b),
            fmt_s(p),
            w.reps
        );
    }
    s
}

fn fmt_s(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.3}s")
    } else {
        format!("{:.2}ms", v * 1e3)
    }
}
