//! Making the trees of a session ready: the baseline, the expert and each candidate, each
//! materialized, patched, set up, built, its protected files restored and its tests run.

use std::sync::Arc;
use std::time::Duration;

use optagent_sandbox::{ExecRequest, Sandbox};
use optagent_task::{ApplyOutcome, Task, Tree};

use crate::report::Verdict;
use crate::{Candidate, EvalError, EvalOptions, PatchSource};

/// The role of a tree in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Baseline,
    Expert,
    Candidate(usize),
}

/// A prepared tree: ready to measure, or a verdict saying why not.
#[derive(Debug)]
pub struct Prepared {
    pub label: String,
    pub role: Role,
    pub tree: Tree,
    pub sandbox: Arc<dyn Sandbox>,
    /// `None` when ready; otherwise the verdict and its reason.
    pub failure: Option<(Verdict, String)>,
    pub apply_method: Option<String>,
    pub patch: String,
    pub guard_flags: Vec<String>,
}

impl Prepared {
    pub fn ready(&self) -> bool {
        self.failure.is_none()
    }
}

/// Run a list of commands in a tree; the first failure: whether it timed out, and its
/// description (`what` names the step: setup, build, test).
pub async fn run_steps(
    sb: &dyn Sandbox,
    task: &Task,
    commands: &[String],
    timeout: u64,
    what: &str,
) -> Result<Option<(bool, String)>, EvalError> {
    for c in commands {
        let req = ExecRequest::new(c.clone())
            .timeout(Duration::from_secs(timeout))
            .envs(&task.spec.env)
            .max_output(256 * 1024);
        let out = sb.exec(&req).await?;
        if !out.success() {
            return Ok(Some((
                out.timed_out,
                format!(
                    "{what} `{c}` failed ({}): {}",
                    out.describe_exit(),
                    out.tail(3000)
                ),
            )));
        }
    }
    Ok(None)
}

async fn prepare_one(
    task: &Task,
    label: &str,
    role: Role,
    patch: Option<&PatchSource>,
    opts: &EvalOptions,
) -> Result<Prepared, EvalError> {
    let dest = opts
        .work_dir
        .join(optagent_task::tree::path_component(task.id()))
        .join(optagent_task::tree::path_component(label));
    let tree = Tree::materialize(task, &dest)?;
    let sandbox = crate::taskbox::open_tree(opts.sandbox.as_ref(), task, &tree.root).await?;
    let p = Prepared {
        label: label.to_string(),
        role,
        tree,
        sandbox,
        failure: None,
        apply_method: None,
        patch: String::new(),
        guard_flags: vec![],
    };
    // An error past this point must not leave the sandbox (a container) behind.
    let sb = p.sandbox.clone();
    match fill(p, task, patch, opts).await {
        Ok(p) => Ok(p),
        Err(e) => {
            let _ = sb.close().await;
            Err(e)
        }
    }
}

/// Patch, set up, build, restore protected files and test a fresh tree.
async fn fill(
    mut p: Prepared,
    task: &Task,
    patch: Option<&PatchSource>,
    opts: &EvalOptions,
) -> Result<Prepared, EvalError> {
    let b = &task.spec.build;
    let text = match patch {
        None | Some(PatchSource::Nop) => String::new(),
        Some(PatchSource::Oracle) => p.tree.expert_patch(task)?,
        Some(PatchSource::Diff(d)) => d.clone(),
    };
    match p.tree.apply(&text)? {
        ApplyOutcome::Applied { method } => p.apply_method = Some(method),
        ApplyOutcome::Failed { reason } => {
            p.failure = Some((
                Verdict::PatchFailed,
                format!("the patch does not apply: {reason}"),
            ));
            p.patch = text;
            return Ok(p);
        }
    }
    p.guard_flags = crate::guard::scan(&text);
    p.patch = text;
    // Setup after the patch (a reset before applying would remove what setup made), before the
    // build: a patch that changes packaging is set up as it will be used.
    if let Some(why) = run_setup(
        task,
        &p.tree.root,
        p.sandbox.as_ref(),
        opts.sandbox.as_ref(),
    )
    .await?
    {
        p.failure = Some((Verdict::BuildFailed, why));
        return Ok(p);
    }
    if let Some((timed_out, why)) =
        run_steps(p.sandbox.as_ref(), task, &b.commands, b.timeout, "build").await?
    {
        let v = if timed_out {
            Verdict::Timeout
        } else {
            Verdict::BuildFailed
        };
        p.failure = Some((v, why));
        return Ok(p);
    }
    p.tree.restore_protected(&task.spec.protected)?;
    let t = &task.spec.tests;
    if let Some((timed_out, why)) =
        run_steps(p.sandbox.as_ref(), task, &t.commands, t.timeout, "test").await?
    {
        let v = if timed_out {
            Verdict::Timeout
        } else {
            Verdict::TestsFailed
        };
        p.failure = Some((v, why));
        return Ok(p);
    }
    if !p.guard_flags.is_empty() {
        p.failure = Some((
            Verdict::GuardViolation,
            format!(
                "the patch uses constructs SWE-fficiency forbids: {}",
                p.guard_flags.join("; ")
            ),
        ));
    }
    Ok(p)
}

/// The task's setup commands in a tree: in `sb`, or, when the task lets setup reach the network,
/// in a sandbox of its own opened for it and closed afterwards.
pub async fn run_setup(
    task: &Task,
    root: &std::path::Path,
    sb: &dyn Sandbox,
    factory: &dyn optagent_sandbox::SandboxFactory,
) -> Result<Option<String>, EvalError> {
    let b = &task.spec.build;
    if b.setup.is_empty() {
        return Ok(None);
    }
    if !task.spec.sandbox.setup_network {
        return Ok(run_steps(sb, task, &b.setup, b.setup_timeout, "setup")
            .await?
            .map(|f| f.1));
    }
    let net = crate::taskbox::open_setup(factory, task, root, true).await?;
    let r = run_steps(net.as_ref(), task, &b.setup, b.setup_timeout, "setup").await;
    let _ = net.close().await;
    Ok(r?.map(|f| f.1))
}

/// The task's setup then build commands in a tree (what every fresh tree needs before work).
pub async fn setup_and_build(
    sb: &dyn Sandbox,
    factory: &dyn optagent_sandbox::SandboxFactory,
    task: &Task,
) -> Result<Option<String>, EvalError> {
    let b = &task.spec.build;
    if let Some(why) = run_setup(task, sb.root(), sb, factory).await? {
        return Ok(Some(why));
    }
    Ok(run_steps(sb, task, &b.commands, b.timeout, "build")
        .await?
        .map(|(_, why)| why))
}

/// Prepare the baseline (index 0), the expert (index 1) and each candidate (2..).
pub async fn prepare_all(
    task: &Task,
    candidates: &[Candidate],
    opts: &EvalOptions,
) -> Result<Vec<Prepared>, EvalError> {
    let mut out = Vec::with_capacity(candidates.len() + 2);
    match prepare_into(task, candidates, opts, &mut out).await {
        Ok(()) => Ok(out),
        Err(e) => {
            close_all(&out).await;
            Err(e)
        }
    }
}

async fn prepare_into(
    task: &Task,
    candidates: &[Candidate],
    opts: &EvalOptions,
    out: &mut Vec<Prepared>,
) -> Result<(), EvalError> {
    opts.say(&format!("[{}] preparing baseline", task.id()));
    let base = prepare_one(task, "baseline", Role::Baseline, None, opts).await?;
    let failure = base.failure.clone();
    out.push(base);
    if let Some((v, why)) = failure {
        return Err(EvalError::TaskBroken {
            task: task.id().into(),
            message: format!("the baseline fails ({}): {why}", v.as_str()),
        });
    }
    opts.say(&format!("[{}] preparing expert", task.id()));
    let oracle = Some(&PatchSource::Oracle);
    let expert = prepare_one(task, "expert", Role::Expert, oracle, opts).await?;
    let failure = expert.failure.clone();
    out.push(expert);
    if let Some((v, why)) = failure {
        return Err(EvalError::TaskBroken {
            task: task.id().into(),
            message: format!("the expert's patch fails ({}): {why}", v.as_str()),
        });
    }
    for (i, c) in candidates.iter().enumerate() {
        opts.say(&format!("[{}] preparing candidate {}", task.id(), c.label));
        let label = format!("cand-{i}-{}", c.label);
        let mut p = prepare_one(task, &label, Role::Candidate(i), Some(&c.patch), opts).await?;
        p.label = c.label.clone();
        if let Some((v, why)) = &p.failure {
            opts.say(&format!(
                "[{}] {}: {} ({})",
                task.id(),
                c.label,
                v.as_str(),
                first_line(why)
            ));
        }
        out.push(p);
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Release every tree's sandbox.
pub async fn close_all(prepared: &[Prepared]) {
    for p in prepared {
        if let Err(e) = p.sandbox.close().await {
            tracing::warn!(label = %p.label, error = %e, "closing a sandbox failed");
        }
    }
}
