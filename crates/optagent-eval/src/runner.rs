//! One run of one workload in one tree: a fresh process, its measured value (seconds it reports,
//! its wall time, or instructions counted by callgrind), and its result, beside the evaluator's
//! own measurement of the process (wall and CPU time) and what the run changed in the tree.
//!
//! A measured run is isolated ([`Isolation`]): the tree read-only where the backend can (local
//! with bubblewrap), a fresh `TMPDIR`/`HOME`/cache folder, and `$OPTAGENT_OUTPUT` in a fresh
//! per-run folder that is bound writable and removed after. Where the tree stays writable (or the
//! task declares `writable` paths), the tree is compared before and after the run, and any file
//! created, changed or removed outside the writable globs is reported in
//! [`RunSample::state_changes`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::collections::BTreeMap;
use std::path::Path;

use optagent_sandbox::{ExecRequest, Isolation, IsolationReport, Sandbox, SandboxError};
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
    /// CPU time (user + system) of the whole process tree, from the parent's `wait4`; `None`
    /// where the backend cannot measure it (Docker).
    pub cpu: Option<Duration>,
    /// Context switches of the process tree, where `cpu` is measured.
    pub switches: Option<optagent_sandbox::ContextSwitches>,
    /// The `seconds` the workload reported, when it reported some.
    pub reported: Option<f64>,
    /// Tree paths the run created, changed or removed outside the task's writable globs.
    pub state_changes: Vec<String>,
    /// The isolation the backend granted.
    pub isolation: Option<IsolationReport>,
    /// The `timer` the workload's output names (`optagent_bench`: `cuda_events` or `host`).
    pub timer: Option<String>,
    /// The workload's own integrity findings (`"integrity": [{"kind", "detail"}]`, written by
    /// `optagent_bench`): `(kind, detail)`.
    pub harness_flags: Vec<(String, String)>,
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
    /// `OPTAGENT_SEED` for the workload (verification and the agent's bench use different ones).
    pub seed: Option<u64>,
    /// Ask for a read-only tree (the snapshot check runs either way where it did not hold).
    pub read_only_tree: bool,
}

/// The seed the agent's `bench` tool gives workloads. Verification never uses it.
pub const BENCH_SEED: u64 = 1;

/// A seed for verification: fresh per session, never [`BENCH_SEED`].
pub fn verification_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let x = (t ^ ((std::process::id() as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    // Workloads may use the seed with 31-bit generators; keep it small, and away from the bench's.
    if x == BENCH_SEED {
        2
    } else {
        x
    }
}

/// Why a run that exited successfully still gave no measurement: what its output got wrong.
/// It becomes the run's [`RunFailure::Failed`] reason.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("wrote output that is not JSON ({source}): {text}")]
    NotJson {
        #[source]
        source: value::ParseError,
        /// The start of what it wrote.
        text: String,
    },
    #[error("reported seconds = {0}, expected a positive number")]
    SecondsNotPositive(f64),
    #[error("reported seconds = {0}, expected a number")]
    SecondsNotANumber(ResultValue),
    #[error(
        "wrote `integrity` = {0}, expected a list of {{\"kind\": string, \"detail\": string}}"
    )]
    HarnessFlags(String),
    #[error(transparent)]
    Gso(#[from] crate::gso::GsoError),
    #[error(transparent)]
    Swefficiency(#[from] crate::swefficiency::SwefficiencyError),
    #[error(transparent)]
    Callgrind(#[from] CallgrindError),
}

/// Why the instructions of a run could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum CallgrindError {
    #[error("no callgrind output: {0}")]
    NoOutput(#[source] std::io::Error),
    #[error("reading callgrind output {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("callgrind wrote no totals (is valgrind installed?)")]
    NoTotals,
}

/// The per-run folder under the tree's state folder, bound writable: the workload's output
/// file and callgrind's files.
struct RunFiles {
    /// Relative to the tree's root.
    dir_rel: String,
    out_rel: String,
    cg_dir_rel: String,
    dir_abs: std::path::PathBuf,
    out_abs: std::path::PathBuf,
}

impl RunFiles {
    /// A fresh folder for run `tag` under `root`.
    fn create(root: &Path, tag: &str) -> std::io::Result<RunFiles> {
        let dir_rel = format!("{STATE_DIR}/run/{tag}");
        let dir_abs = root.join(&dir_rel);
        let _ = std::fs::remove_dir_all(&dir_abs);
        std::fs::create_dir_all(&dir_abs)?;
        Ok(RunFiles {
            out_rel: format!("{dir_rel}/out.json"),
            cg_dir_rel: format!("{dir_rel}/cg"),
            out_abs: root.join(format!("{dir_rel}/out.json")),
            dir_rel,
            dir_abs,
        })
    }
}

/// Run a workload once.
pub async fn run_once(
    sb: &dyn Sandbox,
    task: &Task,
    w: &Workload,
    opts: &RunOpts<'_>,
) -> Result<Result<RunSample, RunFailure>, SandboxError> {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let files = RunFiles::create(sb.root(), &tag)?;
    let gso = match w.protocol {
        Protocol::Gso => Some(crate::gso::GsoRun::prepare(
            sb.root(),
            w,
            opts.baseline_root,
            &tag,
        )?),
        Protocol::Optagent | Protocol::Swefficiency => None,
    };
    let req = run_request(sb.root(), task, w, opts, &files, gso.as_ref())?;
    // The tree's state before the run, compared after it wherever the backend left the tree
    // (or part of it) writable.
    let before = snapshot(sb.root());
    let out = sb.exec(&req).await?;
    let text = std::fs::read_to_string(&files.out_abs).ok();
    let total = (opts.metric == Metric::Instructions)
        .then(|| callgrind_total(&sb.root().join(&files.cg_dir_rel)));
    let _ = std::fs::remove_dir_all(&files.dir_abs);
    let locked =
        out.isolation.as_ref().is_some_and(|i| i.read_only_tree) && task.spec.writable.is_empty();
    let state_changes = if locked {
        vec![]
    } else {
        changes(&before, &snapshot(sb.root()), &task.spec.writable)
    };
    if out.timed_out {
        return Ok(Err(RunFailure::Timeout { after: req.timeout }));
    }
    if !out.success() {
        return Ok(Err(RunFailure::Failed {
            reason: format!("{}: {}", out.describe_exit(), out.tail(1500)),
        }));
    }
    let measured = Measured {
        metric: opts.metric,
        protocol: w.protocol,
        gso: gso.as_ref(),
        root: sb.root(),
        text: text.as_deref(),
        instructions: total,
    };
    Ok(
        sample_of(out, measured, state_changes).map_err(|e| RunFailure::Failed {
            reason: e.to_string(),
        }),
    )
}

/// The command of one run (the workload's, under callgrind in instruction mode) with its
/// environment, timeout, pinning and isolation. Creates callgrind's folder.
fn run_request(
    root: &Path,
    task: &Task,
    w: &Workload,
    opts: &RunOpts<'_>,
    files: &RunFiles,
    gso: Option<&crate::gso::GsoRun>,
) -> std::io::Result<ExecRequest> {
    let timeout = Duration::from_secs(task.workload_timeout(w));
    let workload_command = match gso {
        Some(g) => g.command(&w.command),
        None => w.command.clone(),
    };
    let command = match opts.metric {
        Metric::Time => workload_command,
        Metric::Instructions => {
            std::fs::create_dir_all(root.join(&files.cg_dir_rel))?;
            format!(
                "valgrind --tool=callgrind -q --trace-children=yes --dump-instr=no \
                 --callgrind-out-file={}/cg.%p.out sh -c {}",
                files.cg_dir_rel,
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
        .env("OPTAGENT_OUTPUT", &files.out_rel)
        .cpus(opts.cpus.clone())
        .max_output(64 * 1024);
    if opts.setup_only {
        req = req.env("OPTAGENT_SETUP_ONLY", "1");
    }
    if let Some(seed) = opts.seed {
        req = req.env("OPTAGENT_SEED", seed.to_string());
    }
    for (k, v) in opts.extra_env {
        req = req.env(k, v);
    }
    let mut writable = vec![files.dir_rel.clone()];
    if gso.is_some() {
        // GSO's scripts write their out file and (on the baseline) the reference here; both
        // are optagent's own folders, made afresh for each run (see `gso::GsoRun::prepare`).
        writable.push(format!("{STATE_DIR}/out"));
        writable.push(format!("{STATE_DIR}/gso"));
    }
    writable.extend(
        task.spec
            .writable
            .iter()
            .filter_map(|g| writable_mount(root, g)),
    );
    Ok(req.isolation(Some(Isolation {
        read_only_tree: opts.read_only_tree,
        writable,
        fresh_dirs: true,
    })))
}

/// What a successful run left to be read as a measurement.
struct Measured<'a> {
    metric: Metric,
    protocol: Protocol,
    gso: Option<&'a crate::gso::GsoRun>,
    root: &'a Path,
    /// The workload's output file (`$OPTAGENT_OUTPUT`), if it wrote one.
    text: Option<&'a str>,
    /// Instruction mode: callgrind's count.
    instructions: Option<Result<u64, CallgrindError>>,
}

/// The sample of a successful run, read from its output as its protocol says.
fn sample_of(
    out: optagent_sandbox::ExecOutput,
    m: Measured<'_>,
    state_changes: Vec<String>,
) -> Result<RunSample, OutputError> {
    let parsed: Option<ResultValue> = match m.text.map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(value::parse(t).map_err(|source| OutputError::NotJson {
            source,
            text: clip(t, 200),
        })?),
    };
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k));
    let mut reported = field("seconds").and_then(ResultValue::as_f64);
    let value = match (m.metric, m.gso) {
        // GSO's scripts check their own results (a failed check is a non-zero exit, above).
        (Metric::Time, Some(g)) => {
            let s = g.seconds(m.root)?;
            reported = Some(s);
            s
        }
        // SWE-fficiency's scripts print the mean of their own timeit runs.
        (Metric::Time, None) if m.protocol == Protocol::Swefficiency => {
            let s = crate::swefficiency::mean_seconds(&out.stdout)?;
            reported = Some(s);
            s
        }
        (Metric::Time, _) => match field("seconds") {
            Some(n @ (ResultValue::Int(_) | ResultValue::Float(_))) => {
                let s = n.as_f64().unwrap_or(f64::NAN);
                if !(s.is_finite() && s > 0.0) {
                    return Err(OutputError::SecondsNotPositive(s));
                }
                s
            }
            Some(other) => return Err(OutputError::SecondsNotANumber(other.clone())),
            None => out.wall.as_secs_f64(),
        },
        (Metric::Instructions, _) => m.instructions.expect("counted in instruction mode")? as f64,
    };
    let timer = field("timer").and_then(|t| match t {
        ResultValue::Str(s) => Some(s.clone()),
        _ => None,
    });
    let harness_flags = match field("integrity") {
        None | Some(ResultValue::Null) => vec![],
        Some(v) => harness_flags(v)?,
    };
    Ok(RunSample {
        value,
        wall: out.wall,
        result: field("result").cloned(),
        cpu: out.cpu,
        switches: out.switches,
        reported,
        state_changes,
        isolation: out.isolation,
        timer,
        harness_flags,
    })
}

/// The output's `integrity` member: a list of `{"kind": str, "detail": str}`.
fn harness_flags(v: &ResultValue) -> Result<Vec<(String, String)>, OutputError> {
    let bad = || OutputError::HarnessFlags(clip(&v.to_string(), 200));
    let ResultValue::Array(items) = v else {
        return Err(bad());
    };
    items
        .iter()
        .map(|i| match (i.get("kind"), i.get("detail")) {
            (Some(ResultValue::Str(k)), Some(ResultValue::Str(d))) => Ok((k.clone(), d.clone())),
            _ => Err(bad()),
        })
        .collect()
}

/// The folder bound writable for a `writable` glob: its part before the first wildcard when that
/// is a folder (`build/**` -> `build`), else that path's parent folder (`bench/harness` ->
/// `bench`: a tool may replace the file, which a bind of the file itself would refuse). What
/// else changes in that folder is still reported by the tree check.
fn writable_mount(root: &Path, glob: &str) -> Option<String> {
    let parts: Vec<&str> = glob
        .split('/')
        .take_while(|c| !c.contains(['*', '?', '[', '{']))
        .collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return None;
    }
    let p = parts.join("/");
    if p.is_empty() {
        return None;
    }
    if root.join(&p).is_dir() {
        Some(p)
    } else {
        let parent = parts[..parts.len() - 1].join("/");
        (!parent.is_empty()).then_some(parent)
    }
}

/// Size and modification time of every file and folder in a tree, outside `.git` and the
/// evaluator's own state folder.
pub fn snapshot(root: &Path) -> BTreeMap<String, (u64, Option<std::time::SystemTime>)> {
    let mut map = BTreeMap::new();
    for e in walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(e.depth() == 1 && (n == ".git" || n == STATE_DIR))
        })
        .flatten()
    {
        if e.file_type().is_dir() {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(root) else {
            continue;
        };
        let meta = e.metadata().ok();
        map.insert(
            rel.to_string_lossy().into_owned(),
            (
                meta.as_ref().map(|m| m.len()).unwrap_or(0),
                meta.and_then(|m| m.modified().ok()),
            ),
        );
    }
    map
}

/// Files created, changed or removed between two snapshots, outside the writable globs.
pub fn changes(
    before: &BTreeMap<String, (u64, Option<std::time::SystemTime>)>,
    after: &BTreeMap<String, (u64, Option<std::time::SystemTime>)>,
    writable: &[String],
) -> Vec<String> {
    let mut b = globset::GlobSetBuilder::new();
    for g in writable {
        if let Ok(g) = globset::Glob::new(g) {
            b.add(g);
        }
    }
    let allowed = b.build().unwrap_or_else(|_| globset::GlobSet::empty());
    let mut out = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => out.push(format!("{k} (created)")),
            Some(old) if old != v => out.push(format!("{k} (changed)")),
            _ => {}
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            out.push(format!("{k} (removed)"));
        }
    }
    out.retain(|c| {
        let path = c.rsplit_once(" (").map(|x| x.0).unwrap_or(c);
        !allowed.is_match(path)
    });
    out
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The instructions counted in every callgrind output file of a folder (one per traced process).
pub fn callgrind_total(dir: &std::path::Path) -> Result<u64, CallgrindError> {
    let mut total = 0u64;
    let mut files = 0;
    let entries = std::fs::read_dir(dir).map_err(CallgrindError::NoOutput)?;
    for e in entries.flatten() {
        let path = e.path();
        let text = std::fs::read_to_string(&path)
            .map_err(|source| CallgrindError::Read { path, source })?;
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
        return Err(CallgrindError::NoTotals);
    }
    Ok(total)
}
