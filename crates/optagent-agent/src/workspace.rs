//! A rollout's trees: the workspace the model edits and a pristine base tree beside it (for
//! differential profiles), each materialized, set up and built, each with its own sandbox.

use std::path::Path;
use std::sync::Arc;

use optagent_sandbox::{Sandbox, SandboxError, SandboxFactory};
use optagent_task::{Task, Tree, TreeError};

/// Why a rollout's trees could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A tree could not be materialized (the task's source, git).
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("the starting patch does not apply to the work tree: {0}")]
    StartPatch(String),
    /// A tree's sandbox could not be opened.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Setting up or building `which` tree failed; `why` is the build's account.
    #[error("{which} does not build: {why}")]
    Build { which: &'static str, why: String },
}

/// The rollout's trees.
#[derive(Debug)]
pub struct RolloutTrees {
    pub work: Tree,
    pub work_sandbox: Arc<dyn Sandbox>,
    pub base: Tree,
    pub base_sandbox: Arc<dyn Sandbox>,
}

impl RolloutTrees {
    pub async fn close(&self) {
        let _ = self.work_sandbox.close().await;
        let _ = self.base_sandbox.close().await;
    }
}

/// Make the workspace and base trees under `dir`.
pub async fn prepare(
    task: &Task,
    dir: &Path,
    factory: &dyn SandboxFactory,
) -> Result<RolloutTrees, PrepareError> {
    prepare_with(task, dir, factory, None).await
}

/// [`prepare`], with `start` (a patch against the base) applied to the workspace before it is
/// set up and built.
pub async fn prepare_with(
    task: &Task,
    dir: &Path,
    factory: &dyn SandboxFactory,
    start: Option<&str>,
) -> Result<RolloutTrees, PrepareError> {
    let work = Tree::materialize(task, &dir.join("work"))?;
    if let Some(p) = start {
        let why = match work.apply(p) {
            Ok(optagent_task::ApplyOutcome::Applied { .. }) => None,
            Ok(optagent_task::ApplyOutcome::Failed { reason }) => Some(reason),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            return Err(PrepareError::StartPatch(why));
        }
    }
    let base = Tree::materialize(task, &dir.join("base"))?;
    let open = |root| optagent_eval::taskbox::open_agent_tree(factory, task, root);
    let work_sandbox = open(&work.root).await?;
    let base_sandbox = match open(&base.root).await {
        Ok(s) => s,
        Err(e) => {
            let _ = work_sandbox.close().await;
            return Err(e.into());
        }
    };
    let trees = RolloutTrees {
        work,
        work_sandbox,
        base,
        base_sandbox,
    };
    for (sb, which) in [
        (&trees.work_sandbox, "the work tree"),
        (&trees.base_sandbox, "the base tree"),
    ] {
        let failed = match optagent_eval::prepare::setup_and_build(sb.as_ref(), factory, task).await
        {
            Ok(None) => None,
            Ok(Some(why)) => Some(why),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            trees.close().await;
            let which = match (start.is_some(), which) {
                (true, "the work tree") => "the work tree (with the starting patch)",
                // Without a starting patch both trees are the base.
                _ => "the base tree",
            };
            return Err(PrepareError::Build { which, why: e });
        }
    }
    Ok(trees)
}
