//! One module per subcommand, and what they share: turning measurement flags into options.

pub mod calibrate;
pub mod eval;
pub mod solve;
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

pub async fn sandbox_factory(
    name: &str,
) -> anyhow::Result<Arc<dyn optagent_sandbox::SandboxFactory>> {
    match name {
        "local" => Ok(Arc::new(optagent_sandbox::LocalFactory)),
        other => bail!("unknown sandbox {other:?}: expected local or docker"),
    }
}

pub async fn eval_options(m: &MeasureArgs, work: &std::path::Path) -> anyhow::Result<EvalOptions> {
    let mut o = EvalOptions::new(work.to_path_buf());
    o.reps = m.reps;
    o.warmup = m.warmup;
    o.p = m.p;
    o.alpha = m.alpha;
    o.seed = m.bootstrap_seed;
    o.metric = match m.metric.as_deref() {
        None => None,
        Some("time") => Some(Metric::Time),
        Some("instructions") => Some(Metric::Instructions),
        Some(x) => bail!("--metric {x:?}: expected time or instructions"),
    };
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
    o.sandbox = sandbox_factory(&m.sandbox).await?;
    o.progress = Some(Arc::new(|line: &str| eprintln!("{line}")));
    Ok(o)
}
