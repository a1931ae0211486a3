//! The sandbox a task's tree runs in: the run's backend, with the task folder visible to every
//! command (read-only in Docker) at `$OPTAGENT_TASK_DIR`, and the task's `build.activate` script
//! (a virtual environment made by setup) sourced before every command once it exists.
//!
//! The evaluator opens every tree through [`open_tree`] (and setup's networked sandbox through
//! [`open_setup`]); the agent's workspace through [`open_agent_tree`], which mounts the task folder
//! in Docker only when a visible workload needs it (its command names `$OPTAGENT_TASK_DIR`), so
//! that the expert's patch and hidden workloads kept there stay out of the agent's reach.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use optagent_sandbox::{ExecOutput, ExecRequest, Sandbox, SandboxError, SandboxFactory};
use optagent_task::spec::TASK_DIR_VAR;
use optagent_task::Task;

/// A sandbox for one of `task`'s trees at `root`.
pub async fn open_tree(
    factory: &dyn SandboxFactory,
    task: &Task,
    root: &Path,
) -> Result<Arc<dyn Sandbox>, SandboxError> {
    let f = factory.with_ro_mounts(std::slice::from_ref(&task.dir));
    Ok(wrap(f.open(root).await?, task))
}

/// A sandbox for the agent's workspace (or its base tree) at `root`: as [`open_tree`], but the
/// task folder is mounted only when a visible workload's command names `$OPTAGENT_TASK_DIR`.
pub async fn open_agent_tree(
    factory: &dyn SandboxFactory,
    task: &Task,
    root: &Path,
) -> Result<Arc<dyn Sandbox>, SandboxError> {
    let needed = task
        .visible_workloads()
        .any(|w| w.command.contains(TASK_DIR_VAR));
    if needed {
        open_tree(factory, task, root).await
    } else {
        Ok(wrap(factory.open(root).await?, task))
    }
}

/// A sandbox for `task`'s setup step at `root`, with the network when `network` (see
/// [`SandboxFactory::open_for_setup`]).
pub async fn open_setup(
    factory: &dyn SandboxFactory,
    task: &Task,
    root: &Path,
    network: bool,
) -> Result<Arc<dyn Sandbox>, SandboxError> {
    let f = factory.with_ro_mounts(std::slice::from_ref(&task.dir));
    Ok(wrap(f.open_for_setup(root, network).await?, task))
}

fn wrap(inner: Arc<dyn Sandbox>, task: &Task) -> Arc<dyn Sandbox> {
    let activate = task
        .spec
        .build
        .activate
        .as_ref()
        .map(|a| inner.root().join(a));
    Arc::new(TaskSandbox {
        inner,
        task_dir: task.dir.clone(),
        activate,
    })
}

/// A sandbox that gives every command the task folder's variable and, when the task names one,
/// sources its activation script first.
#[derive(Debug)]
pub struct TaskSandbox {
    inner: Arc<dyn Sandbox>,
    task_dir: PathBuf,
    activate: Option<PathBuf>,
}

impl TaskSandbox {
    /// The command line actually run: the activation prelude, then the command.
    pub fn command_line(&self, command: &str) -> String {
        match &self.activate {
            None => command.to_string(),
            Some(script) => {
                let q = shell_words::quote(&script.to_string_lossy()).into_owned();
                format!("if [ -f {q} ]; then . {q} || exit 1; fi\n{command}")
            }
        }
    }
}

#[async_trait]
impl Sandbox for TaskSandbox {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn root(&self) -> &Path {
        self.inner.root()
    }
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        let mut r = req.clone();
        r.command = self.command_line(&req.command);
        r.env
            .entry(TASK_DIR_VAR.to_string())
            .or_insert_with(|| self.task_dir.to_string_lossy().into_owned());
        self.inner.exec(&r).await
    }
    async fn close(&self) -> Result<(), SandboxError> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optagent_sandbox::LocalFactory;

    fn task(dir: &Path, build: &str) -> Task {
        std::fs::create_dir_all(dir.join("repo")).unwrap();
        std::fs::write(dir.join("e.diff"), "").unwrap();
        std::fs::write(
            dir.join("task.toml"),
            format!("id = \"t\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"e.diff\"\n[build]\n{build}\n[[workloads]]\nname = \"a.b\"\ncommand = \"true\"\n"),
        )
        .unwrap();
        Task::load(dir).unwrap()
    }

    #[tokio::test]
    async fn every_command_sees_the_task_folder() {
        let d = tempfile::tempdir().unwrap();
        let t = task(&d.path().join("task"), "");
        std::fs::write(t.dir.join("data.txt"), "kept outside the repo\n").unwrap();
        let tree = d.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        let sb = open_tree(&LocalFactory, &t, &tree).await.unwrap();
        let o = sb
            .exec(&ExecRequest::new("cat \"$OPTAGENT_TASK_DIR/data.txt\""))
            .await
            .unwrap();
        assert!(o.success(), "{o:?}");
        assert_eq!(o.stdout, "kept outside the repo\n");
    }

    #[tokio::test]
    async fn the_activation_script_is_sourced_once_it_exists() {
        let d = tempfile::tempdir().unwrap();
        let t = task(&d.path().join("task"), "activate = \"env/bin/activate\"");
        let tree = d.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        let sb = open_tree(&LocalFactory, &t, &tree).await.unwrap();
        // Before setup made it, commands run as they are.
        let o = sb
            .exec(&ExecRequest::new("echo \"[$ACTIVE]\""))
            .await
            .unwrap();
        assert_eq!(o.stdout, "[]\n", "{o:?}");
        std::fs::create_dir_all(tree.join("env/bin")).unwrap();
        std::fs::write(tree.join("env/bin/activate"), "ACTIVE=yes; export ACTIVE\n").unwrap();
        // A command in a subfolder, and one with several statements, both see it.
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        let o = sb
            .exec(&ExecRequest::new("true; echo \"[$ACTIVE]\"").cwd("sub"))
            .await
            .unwrap();
        assert_eq!(o.stdout, "[yes]\n", "{o:?}");
        // A broken activation script stops the command rather than running it unactivated.
        std::fs::write(tree.join("env/bin/activate"), "return 3\n").unwrap();
        let o = sb.exec(&ExecRequest::new("echo ran")).await.unwrap();
        assert!(!o.success() && !o.stdout.contains("ran"), "{o:?}");
    }

    #[test]
    fn an_activation_path_outside_the_tree_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("task");
        std::fs::create_dir_all(dir.join("repo")).unwrap();
        std::fs::write(dir.join("e.diff"), "").unwrap();
        for bad in ["../x/activate", "/etc/profile", ""] {
            std::fs::write(
                dir.join("task.toml"),
                format!("id = \"t\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"e.diff\"\n[build]\nactivate = \"{bad}\"\n[[workloads]]\nname = \"a.b\"\ncommand = \"true\"\n"),
            )
            .unwrap();
            let e = Task::load(&dir).unwrap_err().to_string();
            assert!(e.contains("build.activate"), "{e}");
        }
    }
}
