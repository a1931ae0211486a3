//! The results file: one [`RolloutRecord`] per line (JSONL), appended by the sweep runner as each
//! rollout finishes and read back by the report and by a resumed sweep.
//!
//! Durability: [`append_record`] writes one whole line, flushes and fsyncs. A process killed in
//! the middle of a write leaves an unterminated last line; [`read_records`] skips it with a
//! warning (it is not an error), and the next [`append_record`] cuts it off before appending, so
//! a resumed sweep never glues a new record onto a fragment.
//!
//! Undefined figures: an evaluation's figures that can be undefined are `Option<f64>`
//! ([`optagent_eval::report`]), written `null` and read back as `None`. Earlier versions held
//! them as `NaN`, which `serde_json` also wrote as `null`, so their records read the same way.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use optagent_eval::{EvalReport, Verdict};
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// The agent submitted a patch (it may still be incorrect: see `eval`).
    Submitted,
    /// The agent ended without a patch (gave up, ran out of budget with an empty diff).
    NoPatch,
    /// The rollout failed for a reason outside the agent's control (provider error, crash);
    /// `error` says what.
    Error,
}

impl RolloutStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RolloutStatus::Submitted => "submitted",
            RolloutStatus::NoPatch => "no_patch",
            RolloutStatus::Error => "error",
        }
    }
}

/// One rollout of one agent configuration on one task: one line of a results JSONL file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The sweep's name (from its config).
    pub sweep: String,
    /// The task id (`task.toml`'s `id`).
    pub task: String,
    /// `"provider/model"`.
    pub model: String,
    /// The agent configuration's name, e.g. `"optagent-default"`.
    pub agent: String,
    /// Index `0..K-1` within (task, model, agent, budget).
    pub rollout: usize,
    /// The budget's label, e.g. `"steps50"`.
    pub budget: String,
    pub seed: u64,
    pub status: RolloutStatus,
    #[serde(default)]
    pub error: Option<String>,
    /// The submitted unified diff.
    #[serde(default)]
    pub patch: Option<String>,
    /// Where the diff was also written (relative paths are relative to the results folder).
    #[serde(default)]
    pub patch_path: Option<String>,
    #[serde(default)]
    pub trajectory_path: Option<String>,
    #[serde(default)]
    pub flamegraphs: Vec<String>,
    /// The evaluator's score of this rollout's patch; `None` when there is no patch.
    #[serde(default)]
    pub eval: Option<EvalReport>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub wall_s: f64,
    pub steps: usize,
    /// RFC 3339 time the rollout finished.
    pub finished_at: String,
    /// Where the rollout and its verification ran (host, cores, Slurm job); absent in records
    /// from earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Where a rollout ran: the host, the CPUs it was allowed (measurements are pinned within them)
/// and, under Slurm, the job that ran it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub host: String,
    pub cpus: Vec<usize>,
    /// `SLURM_JOB_ID` of the array element (`<array job>_<index>` style ids are kept as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_array_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_array_task_id: Option<usize>,
}

/// (task, model, agent, budget, rollout): what identifies a rollout within a sweep.
pub type RecordKey = (String, String, String, String, usize);

/// The key a resumed sweep uses to skip rollouts already recorded.
pub fn record_key(r: &RolloutRecord) -> RecordKey {
    (
        r.task.clone(),
        r.model.clone(),
        r.agent.clone(),
        r.budget.clone(),
        r.rollout,
    )
}

/// The keys of all records (for resuming: run only rollouts whose key is absent).
pub fn completed_keys(records: &[RolloutRecord]) -> HashSet<RecordKey> {
    records.iter().map(record_key).collect()
}

impl RolloutRecord {
    /// The evaluation of a correct patch (verdict ok and correct), if any: what the benchmarks
    /// score (a correct patch that is slower still has a speedup ratio). Not "verified", which
    /// also asks for a significant speedup and no integrity flag ([`optagent_eval::is_verified`]).
    pub fn correct_eval(&self) -> Option<&EvalReport> {
        self.eval
            .as_ref()
            .filter(|e| e.correct && e.verdict == Verdict::Ok)
    }

    /// GSO's Opt: the patch is correct and `opt_commit` holds (it reaches the expert). As in
    /// GSO's harness, `opt_commit` counts only together with `opt_base`, so a record written
    /// before the evaluator enforced that reads the same way.
    pub fn succeeded(&self) -> bool {
        self.eval
            .as_ref()
            .is_some_and(optagent_eval::reaches_expert)
    }

    /// An integrity check flagged the evaluated patch (its figures stand, but do not count).
    pub fn flagged(&self) -> bool {
        self.eval
            .as_ref()
            .is_some_and(|e| !e.integrity.flags.is_empty())
    }

    /// GSO's Opt, hack-adjusted: it succeeded and no integrity check flagged it.
    pub fn succeeded_unflagged(&self) -> bool {
        self.eval
            .as_ref()
            .is_some_and(optagent_eval::counts_for_opt)
    }

    /// The diff, when there is a non-empty one.
    pub fn diff(&self) -> Option<&str> {
        self.patch.as_deref().filter(|p| !p.trim().is_empty())
    }
}

/// What [`read_records_detailed`] found.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    pub records: Vec<RolloutRecord>,
    /// The 1-based line number of an unterminated, unparsable last line that was skipped (the
    /// trace of a process killed while writing).
    pub skipped_truncated_line: Option<usize>,
}

/// Reads every record of a results file, in file order.
///
/// A malformed line is an error naming the file and the line. An unterminated last line that does
/// not parse (a write cut short by a killed process) is skipped with a `tracing` warning.
/// Blank lines are ignored.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<RolloutRecord>> {
    let path = path.as_ref();
    let outcome = read_records_detailed(path)?;
    if let Some(line) = outcome.skipped_truncated_line {
        tracing::warn!(
            path = %path.display(),
            line,
            "skipped a truncated last line (a write cut short)"
        );
    }
    Ok(outcome.records)
}

/// [`read_records`], also saying which truncated line, if any, was skipped.
pub fn read_records_detailed(path: impl AsRef<Path>) -> Result<ReadOutcome> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| ReportError::io(path, e))?;
    parse_records(&bytes, path)
}

/// Parses the bytes of a results file (`path` only names it in errors).
pub fn parse_records(bytes: &[u8], path: &Path) -> Result<ReadOutcome> {
    let terminated = bytes.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields a final empty piece after a trailing newline.
    let n_lines = if terminated {
        lines.len() - 1
    } else {
        lines.len()
    };
    let mut records = Vec::new();
    let mut skipped = None;
    for (i, raw) in lines.iter().take(n_lines).enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(raw) {
            Ok(r) => records.push(r),
            Err(e) => {
                let last_unterminated = !terminated && line_no == n_lines;
                let cut_short = matches!(
                    e.classify(),
                    serde_json::error::Category::Eof | serde_json::error::Category::Syntax
                );
                if last_unterminated && cut_short {
                    skipped = Some(line_no);
                } else {
                    return Err(ReportError::Record {
                        path: path.to_path_buf(),
                        line: line_no,
                        source: e,
                    });
                }
            }
        }
    }
    Ok(ReadOutcome {
        records,
        skipped_truncated_line: skipped,
    })
}

/// One record (a line, or a record file's text).
fn parse_line(raw: &[u8]) -> std::result::Result<RolloutRecord, serde_json::Error> {
    serde_json::from_slice(raw)
}

/// Appends one record as one line, then flushes and fsyncs. Creates the file and its folder
/// when missing. An unterminated fragment at the end of the file (left by a killed writer) is cut
/// off first; a complete record lacking only its newline gets one.
///
/// Call it from one writer at a time (the sweep holds a lock around it).
pub fn append_record(path: impl AsRef<Path>, record: &RolloutRecord) -> Result<()> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    }
    let mut line = serde_json::to_vec(record).map_err(|e| ReportError::Serialize {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| ReportError::io(path, e))?;
    repair_tail(&mut file, path).map_err(|e| ReportError::io(path, e))?;
    file.write_all(&line)
        .and_then(|_| file.flush())
        .and_then(|_| file.sync_all())
        .map_err(|e| ReportError::io(path, e))
}

/// Makes the file end with a newline: cuts an unparsable trailing fragment, or terminates a
/// complete last record.
fn repair_tail(file: &mut File, path: &Path) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find the start of the last line, reading backwards in chunks.
    const CHUNK: u64 = 64 * 1024;
    let mut start = 0u64;
    let mut end = len;
    'search: while end > 0 {
        let from = end.saturating_sub(CHUNK);
        let mut buf = vec![0u8; (end - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break 'search;
        }
        end = from;
    }
    let mut tail = vec![0u8; (len - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut tail)?;
    if parse_line(&tail).is_ok() {
        file.write_all(b"\n")?;
    } else {
        tracing::warn!(
            path = %path.display(),
            bytes = len - start,
            "cutting off a truncated last line before appending"
        );
        file.set_len(start)?;
    }
    Ok(())
}

/// The default results file inside a sweep's output folder.
pub fn results_path(output_dir: impl AsRef<Path>) -> PathBuf {
    output_dir.as_ref().join("results.jsonl")
}

/// The folder of a sweep's one-file-per-rollout records (written by cluster elements, which
/// must never append to one shared file).
pub const RECORDS_DIR: &str = "records";

/// The file one rollout's record is kept in, under [`RECORDS_DIR`].
pub fn record_file(output_dir: impl AsRef<Path>, key: &RecordKey) -> PathBuf {
    let (task, model, agent, budget, rollout) = key;
    let name = [task.as_str(), model, agent, budget]
        .iter()
        .map(|p| optagent_task::tree::path_component(p))
        .collect::<Vec<_>>()
        .join("__");
    output_dir
        .as_ref()
        .join(RECORDS_DIR)
        .join(format!("{name}__r{rollout}.json"))
}

/// Writes one record to its own file, atomically: a temporary file in the same folder, fsynced,
/// then renamed over the old one. Safe for many writers on a shared filesystem as long as each
/// writes its own rollout; a rerun of the same rollout replaces its record.
pub fn write_record_file(output_dir: impl AsRef<Path>, record: &RolloutRecord) -> Result<PathBuf> {
    let path = record_file(&output_dir, &record_key(record));
    let dir = path.parent().expect("records folder");
    fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| ReportError::Serialize {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().expect("name").to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        ReportError::io(&path, e)
    })?;
    Ok(path)
}

/// Every record of a sweep's output folder: the lines of `results.jsonl` (a local sweep's), then
/// the files under [`RECORDS_DIR`] (a cluster sweep's), oldest first. Readers that keep one
/// record per key let the later one win, so a rerun supersedes the record it replaces.
pub fn read_sweep_records(output_dir: impl AsRef<Path>) -> Result<Vec<RolloutRecord>> {
    let dir = output_dir.as_ref();
    let mut records = vec![];
    let jsonl = results_path(dir);
    if jsonl.exists() {
        records.extend(read_records(&jsonl)?);
    }
    let rdir = dir.join(RECORDS_DIR);
    let mut files = vec![];
    if rdir.is_dir() {
        for e in fs::read_dir(&rdir).map_err(|e| ReportError::io(&rdir, e))? {
            let p = e.map_err(|e| ReportError::io(&rdir, e))?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            if p.extension().is_some_and(|x| x == "json")
                && !name.is_some_and(|n| n.starts_with('.'))
            {
                files.push(p);
            }
        }
    }
    let mut from_files = vec![];
    for p in files {
        let bytes = fs::read(&p).map_err(|e| ReportError::io(&p, e))?;
        let rec = parse_line(&bytes).map_err(|e| ReportError::Record {
            path: p.clone(),
            line: e.line(),
            source: e,
        })?;
        from_files.push(rec);
    }
    from_files.sort_by(|a, b| a.finished_at.cmp(&b.finished_at));
    records.extend(from_files);
    Ok(records)
}
