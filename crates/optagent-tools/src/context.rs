//! What a tool call sees: the rollout's sandbox and limits ([`ToolContext`]), and the state kept
//! between calls (edit history for `undo`, the last profile for `flamegraph`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use optagent_sandbox::Sandbox;

use crate::profiling::ProfileRecord;

/// One visible workload: a shell command run in the tree's root (see docs/task-format.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadInfo {
    pub name: String,
    pub command: String,
    pub timeout: Duration,
}

/// The evaluator's measurement of a tree against the base, provided by the agent crate.
#[async_trait]
pub trait BenchRunner: Send + Sync {
    /// Measure the tree at `tree` (the workspace's host root) and return a readable per-workload
    /// table (speedup, CI, p, significant, correctness); `Err` with a reason the model can read.
    async fn bench(&self, tree: &Path) -> Result<String, BenchError>;
}

/// Why `bench` gave no table; shown to the model, which may retry.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the tree has no changes yet: nothing to bench")]
    NoChanges,
    /// The workspace's diff against the base could not be taken.
    #[error("cannot take the diff: {0}")]
    Diff(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The evaluator failed (a build, a sandbox, a workload).
    #[error("{0}")]
    Evaluate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Everything a tool call may use. Build with [`ToolContext::new`] and set the public fields.
pub struct ToolContext {
    /// The rollout's tree: its root is the workspace the tools read and edit.
    pub sandbox: Arc<dyn Sandbox>,
    /// A pristine, built base tree, for differential profiles (`flamegraph` with `diff`).
    pub base_sandbox: Option<Arc<dyn Sandbox>>,
    /// Where artifacts go: profiles, flamegraphs, full texts of truncated outputs.
    pub run_dir: PathBuf,
    /// The workloads the model may profile.
    pub workloads: Vec<WorkloadInfo>,
    /// The task's languages (`python`, `c`, ...), used to choose a profiler.
    pub languages: Vec<String>,
    /// The task's environment for every command.
    pub env: BTreeMap<String, String>,
    /// The evaluator's measurement; `None` where the run offers no `bench` tool.
    pub bench: Option<Arc<dyn BenchRunner>>,
    /// The longest a `shell` command may run.
    pub shell_timeout: Duration,
    /// Characters of tool output given to the model.
    pub output_budget: usize,
    state: Mutex<ToolState>,
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("root", &self.sandbox.root())
            .field(
                "base",
                &self.base_sandbox.as_ref().map(|s| s.root().to_path_buf()),
            )
            .field("run_dir", &self.run_dir)
            .field("workloads", &self.workloads)
            .field("languages", &self.languages)
            .field("bench", &self.bench.is_some())
            .field("shell_timeout", &self.shell_timeout)
            .field("output_budget", &self.output_budget)
            .finish_non_exhaustive()
    }
}

/// State kept between calls of one rollout.
#[derive(Default)]
pub(crate) struct ToolState {
    /// Per file (relative path), the contents before each edit; `None`: the file did not exist.
    pub edits: HashMap<String, Vec<Option<String>>>,
    /// The last profile taken on the workspace.
    pub last_profile: Option<ProfileRecord>,
    /// A counter for artifact names.
    pub seq: u64,
}

impl ToolContext {
    /// A context with no base tree, no workloads, no bench, a 120 s shell limit and a
    /// 16,000-character output budget.
    pub fn new(sandbox: Arc<dyn Sandbox>, run_dir: impl Into<PathBuf>) -> Self {
        ToolContext {
            sandbox,
            base_sandbox: None,
            run_dir: run_dir.into(),
            workloads: Vec::new(),
            languages: Vec::new(),
            env: BTreeMap::new(),
            bench: None,
            shell_timeout: Duration::from_secs(120),
            output_budget: 16_000,
            state: Mutex::new(ToolState::default()),
        }
    }

    /// The workspace's root on the host.
    pub fn root(&self) -> &Path {
        self.sandbox.root()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, ToolState> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next number for an artifact's name.
    pub(crate) fn next_seq(&self) -> u64 {
        let mut st = self.state();
        st.seq += 1;
        st.seq
    }

    /// A folder under the run folder, created.
    pub(crate) fn artifact_dir(&self, sub: &str) -> Result<PathBuf, crate::ToolError> {
        let d = self.run_dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| {
            crate::ToolError::fatal(format!("cannot create the run folder {}: {e}", d.display()))
        })?;
        Ok(d)
    }

    /// The last profile taken, if any.
    pub fn last_profile_paths(&self) -> Option<(PathBuf, PathBuf)> {
        self.state()
            .last_profile
            .as_ref()
            .map(|p| (p.folded_path.clone(), p.pprof_path.clone()))
    }
}
