//! A rollout's trees: the workspace the model edits and a pristine base tree beside it (for
//! differential profiles), each materialized, set up and built, each with its own sandbox.

use std::path::Path;
use std::sync::Arc;

use optagent_sandbox::{Sandbox, SandboxFactory};
use optagent_task::{Task, Tree};

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
) -> Result<RolloutTrees, String> {
    let work = Tree::materialize(task, &dir.join("work")).map_err(|e| e.to_string())?;
    let base = Tree::materialize(task, &dir.join("base")).map_err(|e| e.to_string())?;
    let open = |root| optagent_eval::taskbox::open_agent_tree(factory, task, root);
    let work_sandbox = open(&work.root).await.map_err(|e| e.to_string())?;
    let base_sandbox = match open(&base.root).await {
        Ok(s) => s,
        Err(e) => {
            let _ = work_sandbox.close().await;
            return Err(e.to_string());
        }
    };
    let trees = RolloutTrees {
        work,
        work_sandbox,
        base,
        base_sandbox,
    };
    for sb in [&trees.work_sandbox, &trees.base_sandbox] {
        let failed = match optagent_eval::prepare::setup_and_build(sb.as_ref(), factory, task).await
        {
            Ok(None) => None,
            Ok(Some(why)) => Some(why),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            trees.close().await;
            return Err(format!("the base tree does not build: {e}"));
        }
    }
    Ok(trees)
}
