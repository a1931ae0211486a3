//! One run of one workload in one tree: a fresh process, its measured value (seconds it reports,
//! its wall time, or instructions counted by callgrind), and its result.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use optagent_sandbox::{ExecRequest, Sandbox, SandboxError};
use optagent_task::tree::STATE_DIR;
use optagent_task::{Metric, Protocol, Task, Workload};

use crate::value::{self, ResultValue};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A run that completed.
#[derive(Debug, Clone)]
pub struct RunSample {
    /// Seconds (time metric) or instructions (instruction metric).
    pub value: f64,
    /// Wall time of the whole process, as seen from outside.
    pub wall: Duration,
    /// The `result` member of the workload's output, read as Python's `json.dump` writes it
    /// (`NaN`, `Infinity`, integers of any size: [`crate::value`]).
    pub result: Option<ResultValue>,
}

/// A run that did not complete.
#[derive(Debug, Clone)]
pub enum RunFailure {
    Timeout { after: Duration },
    Failed { reason: String },
}

impl RunFailure {
    pub fn reason(&self, workload: &str) -> String {
        match self {
            RunFailure::Timeout { after } => format!(
                "workload {workload} did not finish within {:.0}s",
                after.as_secs_f64()
            ),
            RunFailure::Failed { reason } => format!("workload {workload}: {reason}"),
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOpts<'a> {
    pub metric: Metric,
    pub cpus: Option<Vec<usize>>,
    pub setup_only: bool,
    pub extra_env: &'a [(String, String)],
    /// The baseline tree's root when this run is on another tree; `None` on the baseline. A
    /// workload with `protocol = "gso"` checks its result against the reference the baseline
    /// wrote there.
    pub baseline_root: Option<&'a std::path::Path>,
}

/// Run a workload once.
pub async fn run_once(
    sb: &dyn Sandbox,
    task: &Task,
    w: &Workload,
    opts: &RunOpts<'_>,
) -> Result<Result<RunSample, RunFailure>, SandboxError> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let out_rel = format!("{STATE_DIR}/out/{pid}-{n}.json");
    let cg_dir_rel = format!("{STATE_DIR}/cg/{pid}-{n}");
    let out_abs = sb.root().join(&out_rel);
    std::fs::create_dir_all(out_abs.parent().expect("parent"))?;
    let _ = std::fs::remove_file(&out_abs);
    let timeout = Duration::from_secs(task.workload_timeout(w));
    let gso = match w.protocol {
        Protocol::Gso => Some(crate::gso::GsoRun::prepare(
            sb.root(),
            w,
            opts.baseline_root,
            &format!("{pid}-{n}"),
        )?),
        Protocol::Optagent => None,
    };
    let workload_command = match &gso {
        Some(g) => g.command(&w.command),
        None => w.command.clone(),
    };
    let command = match opts.metric {
        Metric::Time => workload_command.clone(),
        Metric::Instructions => {
            std::fs::create_dir_all(sb.root().join(&cg_dir_rel))?;
            format!(
                "valgrind --tool=callgrind -q --trace-children=yes --dump-instr=no \
                 --callgrind-out-file={cg_dir_rel}/cg.%p.out sh -c {}",
                shell_words::quote(&workload_command)
            )
        }
    };
    let mut req = ExecRequest::new(command)
        .timeout(if opts.metric == Metric::Instructions {
            timeout.saturating_mul(50)
        } else {
            timeout
        })
        .envs(&task.spec.env)
        .env("OPTAGENT_OUTPUT", &out_rel)
        .cpus(opts.cpus.clone())
        .max_output(64 * 1024);
    if opts.setup_only {
        req = req.env("OPTAGENT_SETUP_ONLY", "1");
    }
    for (k, v) in opts.extra_env {
        req = req.env(k, v);
    }
    let out = sb.exec(&req).await?;
    let text = std::fs::read_to_string(&out_abs).ok();
    let _ = std::fs::remove_file(&out_abs);
    if out.timed_out {
        return Ok(Err(RunFailure::Timeout { after: req.timeout }));
    }
    if !out.success() {
        return Ok(Err(RunFailure::Failed {
            reason: format!("{}: {}", out.describe_exit(), out.tail(1500)),
        }));
    }
    let parsed: Option<ResultValue> = match text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => match value::parse(t) {
            Ok(v) => Some(v),
            Err(e) => {
                return Ok(Err(RunFailure::Failed {
                    reason: format!("wrote output that is not JSON ({e}): {}", clip(t, 200)),
                }))
            }
        },
    };
    let result = parsed.as_ref().and_then(|v| v.get("result")).cloned();
    let value = match (opts.metric, &gso) {
        // GSO's scripts check their own results (a failed check is a non-zero exit, above).
        (Metric::Time, Some(g)) => match g.seconds(sb.root()) {
            Ok(s) => s,
            Err(reason) => return Ok(Err(RunFailure::Failed { reason })),
        },
        (metric, _) => match metric {
            Metric::Time => match parsed.as_ref().and_then(|v| v.get("seconds")) {
                Some(n @ (ResultValue::Int(_) | ResultValue::Float(_))) => {
                    let s = n.as_f64().unwrap_or(f64::NAN);
                    if !(s.is_finite() && s > 0.0) {
                        return Ok(Err(RunFailure::Failed {
                            reason: format!("reported seconds = {s}, expected a positive number"),
                        }));
                    }
                    s
                }
                Some(other) => {
                    return Ok(Err(RunFailure::Failed {
                        reason: format!("reported seconds = {other}, expected a number"),
                    }))
                }
                None => out.wall.as_secs_f64(),
            },
            Metric::Instructions => {
                let dir = sb.root().join(&cg_dir_rel);
                let total = callgrind_total(&dir);
                let _ = std::fs::remove_dir_all(&dir);
                match total {
                    Ok(t) => t as f64,
                    Err(e) => return Ok(Err(RunFailure::Failed { reason: e })),
                }
            }
        },
    };
    Ok(Ok(RunSample {
        value,
        wall: out.wall,
        result,
    }))
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The instructions counted in every callgrind output file of a folder (one per traced process).
pub fn callgrind_total(dir: &std::path::Path) -> Result<u64, String> {
    let mut total = 0u64;
    let mut files = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("no callgrind output: {e}"))?;
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).map_err(|e| e.to_string())?;
        let mut found = None;
        for line in text.lines() {
            if let Some(v) = line
                .strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
            {
                found = v
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok());
            }
        }
        if let Some(v) = found {
            total += v;
            files += 1;
        }
    }
    if files == 0 {
        return Err("callgrind wrote no totals (is valgrind installed?)".into());
    }
    Ok(total)
}
