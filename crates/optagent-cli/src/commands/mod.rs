//! One module per subcommand, and what they share: turning measurement flags into options.

pub mod calibrate;
pub mod eval;
pub mod import;
pub mod leaderboard;
pub mod sandbox;
pub mod solve;
pub mod sweep;
pub mod tasks;

use std::sync::Arc;

use anyhow::{bail, Context};
use optagent_eval::{Adaptive, EvalOptions};
use optagent_task::Metric;

use crate::MeasureArgs;

/// The folder trees are made in, removed on drop when it is a temporary one.
pub enum WorkDir {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl WorkDir {
    pub fn path(&self) -> &std::path::Path {
        match self {
            WorkDir::Temp(t) => t.path(),
            WorkDir::Kept(p) => p,
        }
    }
}

pub fn work_dir(m: &MeasureArgs) -> anyhow::Result<WorkDir> {
    Ok(match &m.work_dir {
        Some(p) => {
            std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            WorkDir::Kept(std::fs::canonicalize(p)?)
        }
        None => WorkDir::Temp(
            tempfile::Builder::new()
                .prefix("optagent-")
                .tempdir()
                .context("creating a temporary work folder")?,
        ),
    })
}

/// The sandbox backend for a run: the flag, else the task's choice, else local.
pub async fn sandbox_factory(
    m: &MeasureArgs,
    task: Option<&optagent_task::Task>,
) -> anyhow::Result<Arc<dyn optagent_sandbox::SandboxFactory>> {
    let spec = task.map(|t| t.spec.sandbox.clone()).unwrap_or_default();
    let name = m
        .sandbox
        .clone()
        .or(spec.backend)
        .unwrap_or_else(|| "local".into());
    match name.as_str() {
        "local" => Ok(Arc::new(optagent_sandbox::LocalFactory)),
        "docker" => {
            let image = m
                .image
                .clone()
                .or(spec.image)
                .unwrap_or_else(|| optagent_sandbox::docker::DEFAULT_IMAGE.to_string());
            let f = optagent_sandbox::DockerFactory::connect()
                .await?
                .image(image);
            f.check_image().await?;
            // Ctrl-C removes this process's containers before exiting.
            optagent_sandbox::docker::install_ctrl_c_cleanup()?;
            Ok(Arc::new(f))
        }
        other => bail!("--sandbox {other:?}: expected local or docker"),
    }
}

pub async fn eval_options(
    m: &MeasureArgs,
    work: &std::path::Path,
    task: Option<&optagent_task::Task>,
) -> anyhow::Result<EvalOptions> {
    let mut o = EvalOptions::new(work.to_path_buf());
    o.reps = m.reps;
    o.warmup = m.warmup;
    o.p = m.p;
    o.alpha = m.alpha;
    o.seed = m.bootstrap_seed;
    o.cpu_fallback = m.cpu_fallback;
    o.metric = match m.metric.as_deref() {
        None => None,
        Some("time") => Some(Metric::Time),
        Some("instructions") => Some(Metric::Instructions),
        Some(x) => bail!("--metric {x:?}: expected time or instructions"),
    };
    o.clock = m
        .clock
        .as_deref()
        .map(optagent_task::Clock::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--{e}"))?;
    if m.adaptive {
        let mut a = Adaptive::default();
        if let Some(r) = m.reps {
            a.max_reps = r.max(a.min_reps);
        }
        o.adaptive = Some(a);
    }
    o.workload_filter = m.workloads.clone();
    o.pin_cpus = match m.pin.as_deref() {
        None => None,
        Some("none") => Some(vec![]),
        Some(list) => Some(
            list.split(',')
                .map(|x| x.trim().parse::<usize>())
                .collect::<Result<_, _>>()
                .with_context(|| {
                    format!("--pin {list:?}: expected CPU numbers like 1 or 2,3, or none")
                })?,
        ),
    };
    o.sandbox = sandbox_factory(m, task).await?;
    o.progress = Some(Arc::new(|line: &str| eprintln!("{line}")));
    Ok(o)
}
