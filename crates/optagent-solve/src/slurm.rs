//! Sweeps on a Slurm cluster: optagent does not schedule, it hands the work to Slurm.
//!
//! [`submit`] turns the rollouts a sweep still needs into one `sbatch --array` job. Each element
//! runs one rollout through the same binary (`optagent sweep-cell --plan P --index I`, which calls
//! [`crate::sweep::run_cell`]) on whatever node Slurm picks, with the cores Slurm gave it (the
//! evaluator pins its measurements within them), and writes its record to a file of its own under
//! `<output>/records/`. Nothing is appended to a shared file, so a shared filesystem is enough.
//!
//! What was submitted is kept in `<output>/slurm/`: `jobs.jsonl` (one line per submitted array
//! job), `plan-<time>.json` (the rollouts of each, in array-index order, and the command line
//! the elements re-read), `element.sh` and `logs/`. From these and `squeue`, [`status`] says
//! where every rollout stands, [`cancel`] calls `scancel`, and a second `submit` leaves alone the
//! rollouts that are finished or still queued, so nothing runs twice.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use optagent_report::record::{read_sweep_records, RecordKey, RolloutStatus};
use optagent_report::ReportError;

use crate::sweep_config::ExecutorSpec;
use serde::{Deserialize, Serialize};

use crate::sweep::{prepare, SweepError, SweepOptions};

/// Why a Slurm sweep could not be submitted, inspected or cancelled.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("reading the plan {path}: {source}")]
    ReadPlan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a plan: {source}")]
    NotAPlan {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: no rollout at index {index} (the plan has {len})")]
    NoCell {
        path: PathBuf,
        index: usize,
        len: usize,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of `jobs.jsonl` (1-based).
    #[error("{path}:{line}: {source}")]
    JobLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("creating {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the current folder: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// A Slurm client (`squeue`, `sbatch`) could not be started.
    #[error("running {program}: {source} (is Slurm's client installed?)")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// `scancel` could not be started.
    #[error("running scancel: {0}")]
    SpawnScancel(#[source] std::io::Error),
    /// A Slurm command ran and failed: the command line and its standard error.
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("sbatch printed no job id")]
    NoJobId,
    /// Preparing the sweep (its tasks, models and records).
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Records(#[from] ReportError),
}

/// The folder under a sweep's output that holds what was submitted.
pub const SLURM_DIR: &str = "slurm";

/// The command line an element re-reads: how the sweep was started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The folder the sweep was started from (relative arguments are resolved against it).
    pub cwd: PathBuf,
    /// The `optagent sweep` arguments, without the executor's own.
    pub argv: Vec<String>,
    /// The rollouts, in array-index order.
    pub cells: Vec<RecordKey>,
    pub created_at: String,
}

impl Plan {
    pub fn load(path: &Path) -> Result<Plan, SlurmError> {
        let text = std::fs::read_to_string(path).map_err(|source| SlurmError::ReadPlan {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SlurmError::NotAPlan {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The rollout of array index `i`.
    pub fn cell(&self, i: usize, path: &Path) -> Result<&RecordKey, SlurmError> {
        self.cells.get(i).ok_or_else(|| SlurmError::NoCell {
            path: path.to_path_buf(),
            index: i,
            len: self.cells.len(),
        })
    }
}

/// One submitted array job (a line of `jobs.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmittedJob {
    pub job_id: String,
    pub plan: PathBuf,
    pub cells: usize,
    pub submitted_at: String,
}

/// What [`submit`] did.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The new array job, when anything was left to run.
    pub job: Option<SubmittedJob>,
    pub total: usize,
    pub done: usize,
    /// Rollouts left alone because an earlier job still has them queued or running.
    pub still_queued: usize,
    pub submitted: usize,
    /// Set when the spending cap was already reached: nothing was submitted.
    pub cap_reached: Option<(f64, f64)>,
}

/// Where one rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    Done,
    Failed,
    Pending,
    Running,
    /// Submitted, no longer queued, and no record: the element died (a node failure, a
    /// cancelled job). The next run submits it again.
    Lost,
    NotSubmitted,
}

impl CellState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CellState::Done => "done",
            CellState::Failed => "failed",
            CellState::Pending => "pending",
            CellState::Running => "running",
            CellState::Lost => "lost",
            CellState::NotSubmitted => "not_submitted",
        }
    }
}

fn slurm_dir(out: &Path) -> PathBuf {
    out.join(SLURM_DIR)
}

/// The array jobs submitted for an output folder, oldest first.
pub fn jobs(out: &Path) -> Result<Vec<SubmittedJob>, SlurmError> {
    let path = slurm_dir(out).join("jobs.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(SlurmError::Read { path, source }),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| SlurmError::JobLine {
                path: path.clone(),
                line: i + 1,
                source,
            })
        })
        .collect()
}

/// State of every queued element of the given array jobs: (job id, array index) -> state
/// (`PENDING`, `RUNNING`, ...). Pending ranges are expanded.
pub fn queue(job_ids: &[String]) -> Result<BTreeMap<(String, usize), String>, SlurmError> {
    let mut states = BTreeMap::new();
    if job_ids.is_empty() {
        return Ok(states);
    }
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%F|%K|%T"])
        .output()
        .map_err(|source| SlurmError::Spawn {
            program: "squeue",
            source,
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: "squeue".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let ours: HashSet<&str> = job_ids.iter().map(String::as_str).collect();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.trim().split('|');
        let (Some(job), Some(idx), Some(state)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !ours.contains(job) {
            continue;
        }
        for i in expand_indices(idx) {
            states.insert((job.to_string(), i), state.to_string());
        }
    }
    Ok(states)
}

/// `3`, `0-4`, `[0-3,7]%2`: the array indices named.
fn expand_indices(s: &str) -> Vec<usize> {
    let s = s.split('%').next().unwrap_or("");
    let s = s.trim_matches(|c| c == '[' || c == ']');
    let mut v = vec![];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    v.extend(a..=b);
                }
            }
            None => v.extend(part.parse::<usize>().ok()),
        }
    }
    v
}

/// Rollouts of earlier jobs that are still queued or running.
fn live_cells(out: &Path) -> Result<(HashSet<RecordKey>, Vec<String>), SlurmError> {
    let jobs = jobs(out)?;
    let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    let q = queue(&ids)?;
    let mut live = HashSet::new();
    let mut live_jobs = vec![];
    for j in &jobs {
        let plan = Plan::load(&j.plan)?;
        let mut any = false;
        for (i, key) in plan.cells.iter().enumerate() {
            if q.contains_key(&(j.job_id.clone(), i)) {
                live.insert(key.clone());
                any = true;
            }
        }
        if any {
            live_jobs.push(j.job_id.clone());
        }
    }
    Ok((live, live_jobs))
}

/// Submits the sweep's unfinished rollouts as one array job (or nothing, when every rollout is
/// done or still queued). `binary` is the optagent executable the elements run; `argv` the
/// `optagent sweep` arguments they re-read (without the executor's own).
pub fn submit(
    opts: &SweepOptions,
    exec: &ExecutorSpec,
    binary: &Path,
    argv: Vec<String>,
) -> Result<Submission, SlurmError> {
    let p = prepare(opts)?;
    let out = p.out.clone();
    let total = p.cells.len();
    let (live, _) = live_cells(&out)?;
    let todo: Vec<RecordKey> = p
        .cells
        .iter()
        .map(|c| c.key.clone())
        .filter(|k| !p.done.contains(k) && !live.contains(k))
        .collect();
    let still_queued = p
        .cells
        .iter()
        .filter(|c| !p.done.contains(&c.key) && live.contains(&c.key))
        .count();
    let mut s = Submission {
        job: None,
        total,
        done: p.done.len().min(total),
        still_queued,
        submitted: 0,
        cap_reached: None,
    };
    if p.spent0 >= opts.config.max_cost_usd {
        s.cap_reached = Some((p.spent0, opts.config.max_cost_usd));
        return Ok(s);
    }
    if todo.is_empty() {
        return Ok(s);
    }
    let dir = slurm_dir(&out);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|source| SlurmError::CreateDir { path: logs, source })?;
    let cwd = std::env::current_dir().map_err(SlurmError::CurrentDir)?;
    let plan_path = write_plan(&dir, &cwd, argv, &todo)?;
    let script = write_element_script(&dir, binary)?;
    let args = sbatch_args(opts, exec, todo.len(), &dir, &cwd);
    let job = SubmittedJob {
        job_id: sbatch(&args, &script, &plan_path)?,
        plan: plan_path,
        cells: todo.len(),
        submitted_at: chrono::Utc::now().to_rfc3339(),
    };
    append_job(&dir, &job)?;
    s.submitted = todo.len();
    s.job = Some(job);
    Ok(s)
}

fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), SlurmError> {
    std::fs::write(path, bytes).map_err(|source| SlurmError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `plan-<time>.json` (the rollouts `cells` in array-index order, and the command line
/// the elements re-read) into `dir`; returns its path.
fn write_plan(
    dir: &Path,
    cwd: &Path,
    argv: Vec<String>,
    cells: &[RecordKey],
) -> Result<PathBuf, SlurmError> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f").to_string();
    let plan_path = dir.join(format!("plan-{stamp}.json"));
    let plan = Plan {
        cwd: cwd.to_path_buf(),
        argv,
        cells: cells.to_vec(),
        created_at: chrono::Utc::now().to_rfc3339(),
    };
    write_file(
        &plan_path,
        serde_json::to_vec_pretty(&plan).expect("a plan serializes"),
    )?;
    Ok(plan_path)
}

/// Writes `element.sh`, the script each array element runs (one rollout through `binary`).
fn write_element_script(dir: &Path, binary: &Path) -> Result<PathBuf, SlurmError> {
    let script = dir.join("element.sh");
    write_file(
        &script,
        format!(
            "#!/bin/sh\n# One element of an optagent sweep's array job: one rollout.\nexec {} sweep-cell --plan \"$1\" --index \"$SLURM_ARRAY_TASK_ID\"\n",
            shell_words::quote(&binary.to_string_lossy())
        ),
    )?;
    Ok(script)
}

/// Submits the array job; returns its id.
fn sbatch(args: &[String], script: &Path, plan_path: &Path) -> Result<String, SlurmError> {
    let o = Command::new("sbatch")
        .args(args)
        .arg(script)
        .arg(plan_path)
        .output()
        .map_err(|source| SlurmError::Spawn {
            program: "sbatch",
            source,
        })?;
    if !o.status.success() {
        return Err(SlurmError::Failed {
            command: format!("sbatch {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    let job_id = String::from_utf8_lossy(&o.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    if job_id.is_empty() {
        return Err(SlurmError::NoJobId);
    }
    Ok(job_id)
}

/// Appends the submitted job to `jobs.jsonl` (synced: the next `submit` and `status` read it).
fn append_job(dir: &Path, job: &SubmittedJob) -> Result<(), SlurmError> {
    let jobs_file = dir.join("jobs.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jobs_file)
        .map_err(|source| SlurmError::Open {
            path: jobs_file.clone(),
            source,
        })?;
    let mut line = serde_json::to_vec(job).expect("serializes");
    line.push(b'\n');
    f.write_all(&line)
        .and_then(|_| f.sync_all())
        .map_err(|source| SlurmError::Write {
            path: jobs_file,
            source,
        })
}

/// The `sbatch` options of a sweep's array job.
fn sbatch_args(
    opts: &SweepOptions,
    exec: &ExecutorSpec,
    n: usize,
    dir: &Path,
    cwd: &Path,
) -> Vec<String> {
    let mut a = vec![
        "--parsable".to_string(),
        format!(
            "--job-name=optagent-{}",
            optagent_task::tree::path_component(&opts.config.name)
        ),
        match exec.max_running {
            Some(m) => format!("--array=0-{}%{m}", n - 1),
            None => format!("--array=0-{}", n - 1),
        },
        format!("--output={}", dir.join("logs/%A_%a.out").display()),
        format!("--chdir={}", cwd.display()),
        // Cores of the element's own (the evaluator pins within what it is given).
        format!("--cpus-per-task={}", exec.cpus_per_task.unwrap_or(1)),
        "--ntasks=1".into(),
    ];
    if let Some(p) = &exec.partition {
        a.push(format!("--partition={p}"));
    }
    if let Some(x) = &exec.account {
        a.push(format!("--account={x}"));
    }
    if let Some(t) = &exec.time_limit {
        a.push(format!("--time={t}"));
    }
    if let Some(m) = &exec.mem {
        a.push(format!("--mem={m}"));
    }
    a.extend(exec.extra_args.iter().cloned());
    a
}

/// Where every rollout of the sweep stands, from the records, the plans and `squeue`.
pub fn status(out: &Path) -> Result<Vec<(RecordKey, CellState)>, SlurmError> {
    let records = read_sweep_records(out)?;
    let mut last: BTreeMap<RecordKey, RolloutStatus> = BTreeMap::new();
    for r in &records {
        last.insert(optagent_report::record_key(r), r.status);
    }
    let jobs = jobs(out)?;
    let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    let q = queue(&ids)?;
    let mut cells: BTreeMap<RecordKey, CellState> = BTreeMap::new();
    for j in &jobs {
        let plan = Plan::load(&j.plan)?;
        for (i, key) in plan.cells.iter().enumerate() {
            let state = match q.get(&(j.job_id.clone(), i)).map(String::as_str) {
                Some("RUNNING") | Some("COMPLETING") => CellState::Running,
                Some(_) => CellState::Pending,
                None => CellState::Lost,
            };
            cells.insert(key.clone(), state);
        }
    }
    for (key, st) in &last {
        let e = cells.entry(key.clone()).or_insert(CellState::NotSubmitted);
        if !matches!(e, CellState::Running | CellState::Pending) || *st != RolloutStatus::Error {
            *e = if *st == RolloutStatus::Error {
                CellState::Failed
            } else {
                CellState::Done
            };
        }
    }
    Ok(cells.into_iter().collect())
}

/// Cancels the sweep's queued and running elements (`scancel`); returns the job ids cancelled.
pub fn cancel(out: &Path) -> Result<Vec<String>, SlurmError> {
    let (_, live_jobs) = live_cells(out)?;
    if live_jobs.is_empty() {
        return Ok(vec![]);
    }
    let o = Command::new("scancel")
        .args(&live_jobs)
        .output()
        .map_err(SlurmError::SpawnScancel)?;
    if !o.status.success() {
        return Err(SlurmError::Failed {
            command: format!("scancel {}", live_jobs.join(" ")),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    Ok(live_jobs)
}

/// Elements of the sweep still queued or running.
pub fn live_elements(out: &Path) -> Result<usize, SlurmError> {
    let jobs = jobs(out)?;
    let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    Ok(queue(&ids)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_index_ranges_expand_as_squeue_prints_them() {
        assert_eq!(expand_indices("3"), vec![3]);
        assert_eq!(expand_indices("[0-3]"), vec![0, 1, 2, 3]);
        assert_eq!(expand_indices("[0-1,5]%2"), vec![0, 1, 5]);
        assert_eq!(expand_indices("N/A"), Vec::<usize>::new());
    }
}
