//! Running a workload under a profiler, in a sandbox. Every command goes through
//! [`Sandbox::exec`] in the tree's root, with the task's environment and `OPTAGENT_OUTPUT` set as
//! the workload protocol says. Profiler outputs are written to a scratch folder inside the tree
//! (so that a container backend sees it too), read from the host, and the folder is removed.
//!
//! The measured section (scope "section", the default): a first, unprofiled run with
//! `OPTAGENT_PROFILE_REPEAT=1` tells whether the workload follows the protocol (its output then
//! holds `"repeat"`) and how long one run of its section takes (`seconds`). The profiled run then
//! repeats the section [`SECTION_TARGET_S`] seconds' worth of times, and samplers run at the rate
//! that gives about [`TARGET_SAMPLES`] samples of it ([`plan`]). The profile is then cut to the
//! stacks below the section's marker ([`Folded::focus`]).
//!
//! - py-spy: `py-spy record --format raw --rate <hz> --function --full-filenames --subprocesses
//!   -- <command>`
//!   (a `python...` command without shell syntax is given to py-spy directly, anything else as
//!   `sh -c '<command>'`, whose Python children `--subprocesses` follows).
//! - cProfile: a `sitecustomize.py` on `PYTHONPATH` (see [`super::cprofile`]); used by `auto`
//!   when py-spy is missing or cannot attach.
//! - perf: `perf record -e cpu-clock -F <hz> --call-graph dwarf` (DWARF unwinding, so that stacks
//!   reach the section's marker in code built without frame pointers) then `perf script`; `auto`
//!   uses it for native workloads when a probe `perf record` succeeds in the sandbox.
//! - callgrind: `valgrind --tool=callgrind --dump-instr=no --trace-children=yes`, one output per
//!   process, merged; for the section, `--toggle-collect=*optagent_measured*` counts only what
//!   runs inside the marker (run once: instruction counts need no repetition).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use optagent_sandbox::{ExecOutput, ExecRequest, Sandbox};

use super::callgraph::CallGraph;
use super::callgrind::CallgrindData;
use super::{cprofile, perf, pprof_out, pyspy, Folded, Profiler, Scope, SECTION_MARKER};
use crate::{ToolContext, ToolError, WorkloadInfo};

/// What a profiled run gave.
#[derive(Debug, Clone)]
pub(crate) struct ProfileRun {
    pub folded: Folded,
    pub profiler: Profiler,
    /// Things the model should know (fallbacks, a failing workload).
    pub notes: Vec<String>,
    /// Raw profiler outputs copied to the run folder.
    pub raw_files: Vec<PathBuf>,
    pub wall: Duration,
    /// The name stem of this run's artifacts (`0007-<workload>-<profiler>-<tag>`).
    pub stem: String,
    /// How the section was profiled.
    pub plan: Plan,
}

/// Seconds of the measured section a profiled run aims at (repetitions × one run).
pub(crate) const SECTION_TARGET_S: f64 = 3.0;
/// Samples a profile aims at in the measured section.
pub(crate) const TARGET_SAMPLES: f64 = 3000.0;
const MAX_REPEAT: u64 = 100_000;
/// Fewer samples of the section than this, from a run shorter than [`RERUN_IF_UNDER_S`], and the
/// section is profiled again with more repetitions.
const MIN_SAMPLES: u64 = 1_500;
const RERUN_IF_UNDER_S: f64 = 4.0;
/// A workload that does not repeat its section itself is profiled over several runs of the
/// whole process, until about this many seconds of profiled runs (one short run on a busy
/// machine is mostly noise), at least [`MIN_PROCESSES`] of them (one slow start-up among them
/// weighs a third at most) and at most [`MAX_PROCESSES`]; a run that took longer stays alone.
const WHOLE_TARGET_S: f64 = 3.0;
const MIN_PROCESSES: u64 = 3;
const MAX_PROCESSES: u64 = 10;
const MIN_RATE: u32 = 100;
const MAX_RATE: u32 = 2000;
const DEFAULT_RATE: u32 = 1000;

/// How a workload is profiled: repetitions of its section and the sampling rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub scope: Scope,
    /// Whether the workload honours `OPTAGENT_PROFILE_REPEAT` (its output says `"repeat"`).
    pub honoured: bool,
    /// One run of the section, in seconds, as the unprofiled run reported it.
    pub section_s: Option<f64>,
    pub repeat: u64,
    pub rate_hz: u32,
    /// Profiled processes merged into the profile: a workload that does not repeat its section
    /// itself is run several times, whole ([`WHOLE_TARGET_S`]).
    pub processes: u64,
}

/// Repetitions and rate for a section of `section_s` seconds (see the module's doc); the
/// profiler itself counts instructions for callgrind, which needs one run.
pub(crate) fn plan(scope: Scope, honoured: bool, section_s: Option<f64>, p: Profiler) -> Plan {
    let mut plan = Plan {
        scope,
        honoured,
        section_s,
        repeat: 1,
        rate_hz: DEFAULT_RATE,
        processes: 1,
    };
    let Some(s) = section_s.filter(|s| s.is_finite() && *s > 0.0) else {
        return plan;
    };
    if scope == Scope::Section && honoured && p != Profiler::Callgrind && p != Profiler::Cprofile {
        plan.repeat = ((SECTION_TARGET_S / s).round() as u64).clamp(1, MAX_REPEAT);
    }
    let covered = s * plan.repeat as f64;
    // In steps of 10 Hz, rounded up.
    plan.rate_hz =
        (((TARGET_SAMPLES / covered / 10.0).ceil() * 10.0) as u32).clamp(MIN_RATE, MAX_RATE);
    plan
}

/// A folder inside the tree for profiler outputs, removed when dropped.
struct Scratch {
    host: PathBuf,
    rel: String,
}

impl Scratch {
    fn new(root: &Path, seq: u64) -> Result<Scratch, ToolError> {
        let rel = format!(".optagent-profile-{}-{seq}", std::process::id());
        let host = root.join(&rel);
        std::fs::create_dir_all(&host).map_err(|e| {
            ToolError::fatal(format!("cannot create {} in the tree: {e}", host.display()))
        })?;
        Ok(Scratch { host, rel })
    }

    /// The tree's root as the profiled command saw it.
    fn root_seen(&self) -> Option<String> {
        std::fs::read_to_string(self.host.join("root.txt"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Files in the scratch folder whose name starts with `prefix`, sorted.
    fn files(&self, prefix: &str) -> Vec<PathBuf> {
        list_files(&self.host, prefix)
    }
}

fn list_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.host) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.host.display(), error = %e, "cannot remove the profile scratch folder");
            }
        }
    }
}

/// `'...'` quoting for sh.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The program a command line starts, after `VAR=value` assignments and `env`/`exec`/`time`.
fn first_program(cmd: &str) -> Option<&str> {
    cmd.split_whitespace()
        .find(|w| !w.contains('=') && !matches!(*w, "env" | "exec" | "time" | "nice"))
}

/// Whether a command runs Python.
pub(crate) fn is_python_command(cmd: &str) -> bool {
    let prog_is_python = first_program(cmd).is_some_and(|p| {
        let base = p.rsplit('/').next().unwrap_or(p);
        base.starts_with("python") || base == "pytest" || base == "py.test" || base == "uv"
    });
    prog_is_python
        || cmd
            .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
            .any(|w| {
                let base = w.rsplit('/').next().unwrap_or(w);
                base.starts_with("python") || base.ends_with(".py")
            })
}

/// A command that can be handed to py-spy as argv (a Python program, no shell syntax).
fn direct_python(cmd: &str) -> bool {
    let starts = cmd
        .split_whitespace()
        .next()
        .is_some_and(|w| w.rsplit('/').next().unwrap_or(w).starts_with("python"));
    starts && !cmd.contains(|c: char| ";&|<>`$(){}\n\\*?~".contains(c))
}

fn native_language(langs: &[String]) -> bool {
    langs.iter().any(|l| {
        matches!(
            l.to_ascii_lowercase().as_str(),
            "c" | "cpp" | "c++" | "cuda" | "rust" | "fortran" | "go" | "zig"
        )
    })
}

async fn exec(
    sandbox: &dyn Sandbox,
    ctx: &ToolContext,
    scratch: &Scratch,
    command: String,
    timeout: Duration,
) -> Result<ExecOutput, ToolError> {
    exec_with(sandbox, ctx, scratch, command, timeout, &[]).await
}

async fn exec_with(
    sandbox: &dyn Sandbox,
    ctx: &ToolContext,
    scratch: &Scratch,
    command: String,
    timeout: Duration,
    extra: &[(&str, String)],
) -> Result<ExecOutput, ToolError> {
    let mut req = ExecRequest::new(command)
        .envs(&ctx.env)
        .env("OPTAGENT_OUTPUT", format!("{}/output.json", scratch.rel));
    for (k, v) in extra {
        req = req.env(*k, v.clone());
    }
    let req = req.timeout(timeout).max_output(64 * 1024);
    Ok(sandbox.exec(&req).await?)
}

async fn tool_available(
    sandbox: &dyn Sandbox,
    ctx: &ToolContext,
    scratch: &Scratch,
    tool: &str,
) -> Result<bool, ToolError> {
    let o = exec(
        sandbox,
        ctx,
        scratch,
        format!("command -v {tool}"),
        Duration::from_secs(20),
    )
    .await?;
    Ok(o.success())
}

/// Whether `perf record` works in this sandbox.
async fn perf_works(
    sandbox: &dyn Sandbox,
    ctx: &ToolContext,
    scratch: &Scratch,
) -> Result<bool, ToolError> {
    let o = exec(
        sandbox,
        ctx,
        scratch,
        format!(
            "perf record -q -e cpu-clock -g -o {}/probe.data -- true",
            scratch.rel
        ),
        Duration::from_secs(30),
    )
    .await?;
    Ok(o.success())
}

fn failure_tail(o: &ExecOutput) -> String {
    let t = o.tail(1500);
    if t.is_empty() {
        "(no output)".into()
    } else {
        t
    }
}

fn timeout_for(w: &WorkloadInfo, p: Profiler, plan: &Plan) -> Duration {
    let repeated = plan.section_s.unwrap_or(0.0) * plan.repeat.saturating_sub(1) as f64;
    let t = w.timeout.max(Duration::from_secs(1)) + Duration::from_secs_f64(repeated * 2.0);
    let d = match p {
        Profiler::Callgrind => t * 50 + Duration::from_secs(60),
        _ => t * 2 + Duration::from_secs(30),
    };
    d.min(Duration::from_secs(3600))
}

/// Profile one workload in `sandbox` with `choice` (resolving `auto`).
pub(crate) async fn profile_workload(
    ctx: &ToolContext,
    sandbox: &Arc<dyn Sandbox>,
    workload: &WorkloadInfo,
    choice: Profiler,
    tag: &str,
    scope: Scope,
) -> Result<ProfileRun, ToolError> {
    let sb: &dyn Sandbox = sandbox.as_ref();
    let seq = ctx.next_seq();
    let scratch = Scratch::new(sb.root(), seq)?;
    let mut notes = Vec::new();
    let profiler = choose_profiler(ctx, sb, &scratch, workload, choice, &mut notes).await?;
    let (honoured, section_s) = if scope == Scope::Section {
        probe_section(sb, ctx, &scratch, workload).await?
    } else {
        (false, None)
    };
    let job = Job {
        ctx,
        sb,
        scratch: &scratch,
        workload,
    };
    let first = plan(scope, honoured, section_s, profiler);
    let (result, profiler, the_plan) = job
        .run_with_fallbacks(choice, profiler, first, &mut notes)
        .await;
    let (folded, wall, exit_note) = result.map_err(|a| a.into_error(profiler, workload))?;
    notes.extend(exit_note);
    let (mut folded, wall, the_plan, repeat) =
        job.top_up_samples(profiler, folded, wall, the_plan).await;
    if scope == Scope::Section {
        // The repetitions the workload says it ran.
        folded.repeat = repeat;
        if !honoured {
            let processes = match the_plan.processes {
                1 => String::new(),
                n => format!(" per process; {n} runs of the whole process were profiled and figures are per run"),
            };
            notes.push(format!(
                "This workload does not follow the profiling protocol (its output has no \"repeat\" under OPTAGENT_PROFILE_REPEAT; docs/task-format.md): its section ran once{}{processes}.",
                section_s.map(|s| format!(" ({:.1} ms)", s * 1e3)).unwrap_or_default()
            ));
        }
        match folded.focus() {
            Some(f) => folded = f,
            None => notes.push(format!(
                "No stack passes through a function named {SECTION_MARKER} (the measured section's marker, docs/task-format.md): the profile shows the whole process."
            )),
        }
    }
    let stem = artifact_stem(seq, &workload.name, profiler, tag);
    let raw_files = keep_raw_outputs(ctx, &scratch, &stem)?;
    // The scratch folder is removed on drop; also ask the sandbox in case it owns the files.
    let _ = exec(
        sb,
        ctx,
        &scratch,
        format!("rm -rf {}", shell_quote(&scratch.rel)),
        Duration::from_secs(30),
    )
    .await;
    Ok(ProfileRun {
        folded,
        profiler,
        notes,
        raw_files,
        wall,
        stem,
        plan: the_plan,
    })
}

/// The profiler for `choice`: `auto` is py-spy for Python, else perf where it works, else
/// callgrind; py-spy missing under `auto` falls back to cProfile (each fallback noted).
async fn choose_profiler(
    ctx: &ToolContext,
    sb: &dyn Sandbox,
    scratch: &Scratch,
    workload: &WorkloadInfo,
    choice: Profiler,
    notes: &mut Vec<String>,
) -> Result<Profiler, ToolError> {
    let python = is_python_command(&workload.command)
        || (ctx
            .languages
            .iter()
            .any(|l| l.eq_ignore_ascii_case("python"))
            && !native_language(&ctx.languages));
    let profiler = match choice {
        Profiler::Auto if python => Profiler::PySpy,
        Profiler::Auto => {
            if perf_works(sb, ctx, scratch).await? {
                Profiler::Perf
            } else {
                notes.push("perf record does not work in this sandbox: used callgrind (instruction counts).".into());
                Profiler::Callgrind
            }
        }
        p => p,
    };
    if profiler == Profiler::PySpy && !tool_available(sb, ctx, scratch, "py-spy").await? {
        if choice == Profiler::Auto {
            notes.push("py-spy is not installed in the sandbox (`pip install py-spy`): used cProfile instead.".into());
            return Ok(Profiler::Cprofile);
        }
        return Err(ToolError::retry(
            "py-spy is not installed in the sandbox. Install it with the shell tool (`pip install py-spy`), or use profiler \"cprofile\".",
        ));
    }
    Ok(profiler)
}

/// Copies the profiler's raw outputs (py-spy's samples, callgrind's files) to the run folder's
/// `profiles/`, named after `stem`.
fn keep_raw_outputs(
    ctx: &ToolContext,
    scratch: &Scratch,
    stem: &str,
) -> Result<Vec<PathBuf>, ToolError> {
    let mut raw_files = Vec::new();
    let dir = ctx.artifact_dir("profiles")?;
    for (prefix, ext) in [
        ("pyspy.txt", "pyspy.txt"),
        ("callgrind.out.", "callgrind.out"),
    ] {
        for (i, f) in scratch.files(prefix).into_iter().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!(".{i}")
            };
            let dest = dir.join(format!("{stem}.{ext}{suffix}"));
            if std::fs::copy(&f, &dest).is_ok() {
                raw_files.push(dest);
            }
        }
    }
    Ok(raw_files)
}

/// What every profiled run of one workload shares.
struct Job<'a> {
    ctx: &'a ToolContext,
    sb: &'a dyn Sandbox,
    scratch: &'a Scratch,
    workload: &'a WorkloadInfo,
}

impl Job<'_> {
    async fn run(&self, p: Profiler, plan: &Plan) -> AttemptResult {
        run_one(self.ctx, self.sb, self.scratch, self.workload, p, plan).await
    }

    /// The first run, and the fallbacks when it gives nothing: cProfile where `auto`'s py-spy
    /// cannot attach, the whole process where callgrind found no section marker to collect in.
    /// Returns the result with the profiler and plan that produced it.
    async fn run_with_fallbacks(
        &self,
        choice: Profiler,
        mut profiler: Profiler,
        mut the_plan: Plan,
        notes: &mut Vec<String>,
    ) -> (AttemptResult, Profiler, Plan) {
        let mut result = self.run(profiler, &the_plan).await;
        if profiler == Profiler::PySpy && choice == Profiler::Auto {
            if let Err(Attempt::CannotAttach(why)) = &result {
                notes.push(format!(
                    "py-spy cannot sample in this sandbox ({why}): used cProfile instead (deterministic, higher overhead)."
                ));
                profiler = Profiler::Cprofile;
                the_plan = plan(
                    the_plan.scope,
                    the_plan.honoured,
                    the_plan.section_s,
                    profiler,
                );
                result = self.run(profiler, &the_plan).await;
            }
        }
        if profiler == Profiler::PySpy && choice == Profiler::Auto && pyspy_got_nothing(&result) {
            // A process that ends within py-spy's start-up (a quick workload on a busy machine)
            // leaves no sample: try once more, then count calls with cProfile, which always sees
            // a run however short.
            result = self.run(profiler, &the_plan).await;
            if pyspy_got_nothing(&result) {
                notes.push(
                    "py-spy collected no samples twice (the run ends before it attaches): used cProfile instead (deterministic, higher overhead)."
                        .to_string(),
                );
                profiler = Profiler::Cprofile;
                the_plan = plan(
                    the_plan.scope,
                    the_plan.honoured,
                    the_plan.section_s,
                    profiler,
                );
                result = self.run(profiler, &the_plan).await;
            }
        }
        let nothing_collected = matches!(&result, Err(Attempt::Failed(why)) if why.starts_with("callgrind wrote no data"));
        if profiler == Profiler::Callgrind
            && the_plan.honoured
            && the_plan.scope == Scope::Section
            && nothing_collected
        {
            // The marker was not found in native code (a Python workload, or an inlined marker):
            // count the whole process and cut it to the section afterwards where possible.
            notes.push(format!(
                "callgrind found no native function named {SECTION_MARKER} to collect in: counted the whole process."
            ));
            let whole = Plan {
                honoured: false,
                ..the_plan.clone()
            };
            result = self.run(profiler, &whole).await;
        }
        (result, profiler, the_plan)
    }

    /// The probe's one run can be slower than the repeated ones (a first call that fills a
    /// cache, a busy machine): with too few samples of the section and a quick run, profile
    /// again with more repetitions and keep whichever run saw more of the section. Returns the
    /// profile kept, the wall time of all runs, its plan and the repetitions the workload ran.
    async fn top_up_samples(
        &self,
        profiler: Profiler,
        mut folded: Folded,
        mut wall: Duration,
        mut the_plan: Plan,
    ) -> (Folded, Duration, Plan, u64) {
        let repeat_seen = || {
            read_output(self.scratch)
                .and_then(|v| v.get("repeat").and_then(|r| r.as_u64()))
                .filter(|&r| r >= 1)
                .unwrap_or(1)
        };
        let mut repeat = repeat_seen();
        if the_plan.scope == Scope::Section
            && the_plan.honoured
            && matches!(profiler, Profiler::PySpy | Profiler::Perf)
        {
            let got = section_samples(&folded);
            if got < MIN_SAMPLES && wall.as_secs_f64() < RERUN_IF_UNDER_S {
                let factor = (TARGET_SAMPLES / got.max(1) as f64).clamp(2.0, 50.0);
                let more = Plan {
                    repeat: ((the_plan.repeat as f64 * factor).round() as u64).min(MAX_REPEAT),
                    ..the_plan.clone()
                };
                if let Ok((f2, w2, _)) = self.run(profiler, &more).await {
                    wall += w2;
                    if section_samples(&f2) > got {
                        folded = f2;
                        the_plan = more;
                        repeat = repeat_seen();
                    }
                }
            }
        } else if matches!(profiler, Profiler::PySpy | Profiler::Perf) {
            // The section ran once in a whole process: more processes, and the mean per run.
            let wanted = if wall.as_secs_f64() < WHOLE_TARGET_S {
                ((WHOLE_TARGET_S / wall.as_secs_f64().max(1e-3)).ceil() as u64)
                    .clamp(MIN_PROCESSES, MAX_PROCESSES)
            } else {
                1
            };
            for _ in 1..wanted {
                let r = self.run(profiler, &the_plan).await;
                if pyspy_got_nothing(&r) {
                    // A process shorter than py-spy's interval between samples: it ran, and
                    // none of its time was seen. Leaving it out would count only the runs that
                    // happened to be sampled and overstate the time per run.
                    folded.merge(&Folded::new(folded.unit));
                    the_plan.processes += 1;
                    continue;
                }
                match r {
                    Ok((f2, w2, None)) => {
                        wall += w2;
                        folded.merge(&f2);
                        the_plan.processes += 1;
                    }
                    // A run that failed (a crash, a timeout) is left out, and so are the rest.
                    _ => break,
                }
            }
            repeat *= the_plan.processes;
        }
        (folded, wall, the_plan, repeat)
    }
}

/// `file:line` of the functions sampled in the tree's programs, by `addr2line` in the sandbox
/// (empty where it is missing or fails: frames then stay bare names).
async fn perf_places(
    ctx: &ToolContext,
    sb: &dyn Sandbox,
    scratch: &Scratch,
    script: &[u8],
    root: &str,
) -> std::collections::HashMap<String, String> {
    let mut places = std::collections::HashMap::new();
    for (obj, syms) in perf::symbol_starts(script, root) {
        let names: Vec<String> = syms.keys().cloned().collect();
        let addrs: Vec<String> = syms.values().map(|a| format!("0x{a:x}")).collect();
        let cmd = format!("addr2line -f -e {} {}", shell_quote(&obj), addrs.join(" "));
        match exec(sb, ctx, scratch, cmd, Duration::from_secs(60)).await {
            Ok(o) if o.success() => {
                places.extend(perf::parse_addr2line(&o.stdout, &names, Some(root)));
            }
            Ok(o) => tracing::debug!(object = %obj, output = %o.tail(300), "addr2line failed"),
            Err(e) => tracing::debug!(object = %obj, error = %e, "addr2line failed"),
        }
    }
    places
}

/// Samples inside the measured section (all samples when it is not marked).
fn section_samples(f: &Folded) -> u64 {
    let inside = f.focus().unwrap_or_else(|| f.clone());
    inside.samples().unwrap_or(u64::MAX)
}

/// The workload's output from the last run in `scratch`, as JSON.
fn read_output(scratch: &Scratch) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(scratch.host.join("output.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// One unprofiled run with `OPTAGENT_PROFILE_REPEAT=1`: whether the workload follows the
/// protocol (its output holds `"repeat"`) and how long one run of its section takes (its
/// `seconds`, else the run's wall time).
async fn probe_section(
    sb: &dyn Sandbox,
    ctx: &ToolContext,
    scratch: &Scratch,
    w: &WorkloadInfo,
) -> Result<(bool, Option<f64>), ToolError> {
    let o = exec_with(
        sb,
        ctx,
        scratch,
        format!("sh -c {}", shell_quote(&w.command)),
        w.timeout.max(Duration::from_secs(1)),
        &[("OPTAGENT_PROFILE_REPEAT", "1".into())],
    )
    .await?;
    let out = read_output(scratch);
    let _ = std::fs::remove_file(scratch.host.join("output.json"));
    if !o.success() || o.timed_out {
        // The profiled run reports the failure with its output.
        return Ok((false, None));
    }
    let honoured = out
        .as_ref()
        .and_then(|v| v.get("repeat"))
        .is_some_and(|r| r.as_u64() == Some(1));
    let secs = out
        .as_ref()
        .and_then(|v| v.get("seconds"))
        .and_then(|s| s.as_f64())
        .filter(|s| s.is_finite() && *s > 0.0)
        .or(Some(o.wall.as_secs_f64()));
    Ok((honoured, secs))
}

/// `0007-name-py-spy-ws`.
pub(crate) fn artifact_stem(seq: u64, workload: &str, profiler: Profiler, tag: &str) -> String {
    let mut slug: String = workload
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(60);
    format!("{seq:04}-{slug}-{}-{tag}", profiler.name())
}

/// Write the folded stacks and the pprof profile under `run_dir/profiles/`.
pub(crate) fn save_profile(
    ctx: &ToolContext,
    folded: &Folded,
    stem: &str,
) -> Result<(PathBuf, PathBuf), ToolError> {
    let dir = ctx.artifact_dir("profiles")?;
    let folded_path = dir.join(format!("{stem}.folded"));
    let pprof_path = dir.join(format!("{stem}.pb.gz"));
    let write = |p: &Path, bytes: &[u8]| {
        std::fs::write(p, bytes)
            .map_err(|e| ToolError::fatal(format!("cannot write {}: {e}", p.display())))
    };
    write(&folded_path, folded.to_text().as_bytes())?;
    write(&pprof_path, &pprof_out::to_pb_gz(folded))?;
    Ok((folded_path, pprof_path))
}

/// py-spy ran but collected no sample (not a refused attach: that is [`Attempt::CannotAttach`]).
fn pyspy_got_nothing(r: &AttemptResult) -> bool {
    matches!(r, Err(Attempt::Failed(why)) if why.starts_with(PYSPY_NO_SAMPLES))
}

const PYSPY_NO_SAMPLES: &str = "py-spy collected no samples";

/// The profile failed because py-spy ran but collected no sample (the error [`Attempt::into_error`]
/// makes of it).
pub(crate) fn is_pyspy_no_samples(e: &ToolError) -> bool {
    e.to_string().contains(PYSPY_NO_SAMPLES)
}

/// Why one attempt gave no profile.
enum Attempt {
    /// The profiler could not attach (ptrace refused): another profiler may work.
    CannotAttach(String),
    Failed(String),
}

impl Attempt {
    fn into_error(self, p: Profiler, w: &WorkloadInfo) -> ToolError {
        match self {
            Attempt::CannotAttach(why) => ToolError::retry(format!(
                "{} cannot profile in this sandbox: {why}. Try profiler \"cprofile\" (Python) or \"callgrind\" (native).",
                p.name()
            )),
            Attempt::Failed(why) => ToolError::retry(format!(
                "Profiling workload `{}` with {} gave no profile: {why}",
                w.name,
                p.name()
            )),
        }
    }
}

type AttemptResult = Result<(Folded, Duration, Option<String>), Attempt>;

/// One profiled run of workload `w` with profiler `p` (not `auto` unless it means py-spy) under
/// `plan`: the stacks it collected, its wall time, and a note when the workload failed.
async fn run_one(
    ctx: &ToolContext,
    sb: &dyn Sandbox,
    scratch: &Scratch,
    w: &WorkloadInfo,
    p: Profiler,
    plan: &Plan,
) -> AttemptResult {
    let section = plan.scope == Scope::Section && plan.honoured;
    let extra: Vec<(&str, String)> = if section {
        vec![("OPTAGENT_PROFILE_REPEAT", plan.repeat.to_string())]
    } else {
        Vec::new()
    };
    let command = profiler_command(scratch, &w.command, p, plan.rate_hz, section)?;
    let o = exec_with(sb, ctx, scratch, command, timeout_for(w, p, plan), &extra)
        .await
        .map_err(|e| Attempt::Failed(e.to_string()))?;
    if o.timed_out {
        return Err(Attempt::Failed(format!(
            "the run timed out after {:.0}s{}. Output:\n{}",
            o.wall.as_secs_f64(),
            if p == Profiler::Callgrind {
                " (callgrind runs programs tens of times slower; perf or a smaller workload may do)"
            } else {
                ""
            },
            failure_tail(&o)
        )));
    }
    let exit_note = (!o.success()).then(|| {
        format!(
            "The workload ended with {} under the profiler; the profile covers what ran. Output:\n{}",
            o.describe_exit(),
            failure_tail(&o)
        )
    });
    let root = scratch.root_seen();
    let root = root.as_deref();
    let folded = match p {
        Profiler::PySpy | Profiler::Auto => collect_pyspy(scratch, &o, root, plan.rate_hz)?,
        Profiler::Cprofile => collect_cprofile(scratch, &o, root)?,
        Profiler::Perf => collect_perf(ctx, sb, scratch, &o, root, plan.rate_hz).await?,
        Profiler::Callgrind => collect_callgrind(scratch, &o, root)?,
    };
    Ok((folded, o.wall, exit_note))
}

/// The shell command that runs `cmd` under profiler `p`, writing its data into the scratch
/// folder (and the tree's root path into `root.txt`); cProfile's start-up hook is written here.
fn profiler_command(
    scratch: &Scratch,
    cmd: &str,
    p: Profiler,
    rate: u32,
    section: bool,
) -> Result<String, Attempt> {
    let s = &scratch.rel;
    let quoted = shell_quote(cmd);
    let prefix = format!("pwd > {s}/root.txt; ");
    Ok(match p {
        Profiler::PySpy | Profiler::Auto => {
            let target = if direct_python(cmd) {
                cmd.to_string()
            } else {
                format!("sh -c {quoted}")
            };
            format!(
                "{prefix}py-spy record --format raw -o {s}/pyspy.txt --rate {rate} --function --full-filenames --subprocesses -- {target}"
            )
        }
        Profiler::Cprofile => {
            let dir = scratch.host.join("cprof");
            std::fs::create_dir_all(&dir)
                .and_then(|_| {
                    std::fs::write(dir.join(cprofile::SITECUSTOMIZE_NAME), cprofile::SITECUSTOMIZE)
                })
                .map_err(|e| Attempt::Failed(format!("cannot write the cProfile hook: {e}")))?;
            format!(
                "{prefix}export OPTAGENT_CPROFILE_DIR=\"$PWD/{s}/cprof\"; \
                 export PYTHONPATH=\"$PWD/{s}/cprof${{PYTHONPATH:+:$PYTHONPATH}}\"; sh -c {quoted}"
            )
        }
        Profiler::Perf => format!(
            "{prefix}perf record -q -e cpu-clock -F {rate} --call-graph dwarf,8192 -o {s}/perf.data -- sh -c {quoted}"
        ),
        Profiler::Callgrind => {
            let toggle = if section {
                format!("--toggle-collect='*{SECTION_MARKER}*' ")
            } else {
                String::new()
            };
            format!(
                "{prefix}rm -f {s}/callgrind.out.*; valgrind --tool=callgrind -q --dump-instr=no --compress-strings=no --compress-pos=no \
                 {toggle}--trace-children=yes --callgrind-out-file=\"$PWD/{s}/callgrind.out.%p\" -- sh -c {quoted}"
            )
        }
    })
}

/// py-spy's raw samples; none at all because ptrace was refused is [`Attempt::CannotAttach`].
fn collect_pyspy(
    scratch: &Scratch,
    o: &ExecOutput,
    root: Option<&str>,
    rate: u32,
) -> Result<Folded, Attempt> {
    let text = std::fs::read_to_string(scratch.host.join("pyspy.txt")).unwrap_or_default();
    let mut f = pyspy::parse_raw(&text, root);
    if f.total() == 0 {
        let err = format!("{}\n{}", o.stdout, o.stderr).to_ascii_lowercase();
        let denied = [
            "permission denied",
            "operation not permitted",
            "ptrace",
            "eperm",
        ]
        .iter()
        .any(|k| err.contains(k));
        return Err(if denied {
            Attempt::CannotAttach(o.tail(300))
        } else {
            Attempt::Failed(format!(
                "{PYSPY_NO_SAMPLES} ({}). Output:\n{}",
                o.describe_exit(),
                failure_tail(o)
            ))
        });
    }
    f.period_ns = Some(1_000_000_000 / i64::from(rate.max(1)));
    Ok(f)
}

/// The stats each Python process wrote through the cProfile hook, merged.
fn collect_cprofile(
    scratch: &Scratch,
    o: &ExecOutput,
    root: Option<&str>,
) -> Result<Folded, Attempt> {
    let mut g = CallGraph::new();
    let files = list_files(&scratch.host.join("cprof"), "cprofile.");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Err(e) = cprofile::add_stats(&mut g, &text, root) {
            tracing::warn!(file = %file.display(), error = %e, "skipping cProfile stats");
        }
    }
    if files.is_empty() || g.total() <= 0.0 {
        return Err(Attempt::Failed(format!(
            "no Python process wrote cProfile stats (is the workload a Python program? did it exit normally?) ({}). Output:\n{}",
            o.describe_exit(),
            failure_tail(o)
        )));
    }
    Ok(cprofile::folded(&g))
}

/// `perf script` of the recorded data, folded, with `file:line` of the tree's frames.
async fn collect_perf(
    ctx: &ToolContext,
    sb: &dyn Sandbox,
    scratch: &Scratch,
    o: &ExecOutput,
    root: Option<&str>,
    rate: u32,
) -> Result<Folded, Attempt> {
    let s = &scratch.rel;
    if !scratch.host.join("perf.data").exists() {
        return Err(Attempt::Failed(format!(
            "perf record wrote nothing ({}). Output:\n{}",
            o.describe_exit(),
            failure_tail(o)
        )));
    }
    let so = exec(
        sb,
        ctx,
        scratch,
        format!("perf script -i {s}/perf.data > {s}/perf.txt"),
        Duration::from_secs(600),
    )
    .await
    .map_err(|e| Attempt::Failed(e.to_string()))?;
    let script = std::fs::read(scratch.host.join("perf.txt")).unwrap_or_default();
    if !so.success() || script.is_empty() {
        return Err(Attempt::Failed(format!(
            "perf script failed ({}): {}",
            so.describe_exit(),
            failure_tail(&so)
        )));
    }
    let mut f = perf::fold_script(&script).map_err(|e| Attempt::Failed(e.to_string()))?;
    f.period_ns = Some(1_000_000_000 / i64::from(rate.max(1)));
    if let Some(r) = root {
        let places = perf_places(ctx, sb, scratch, &script, r).await;
        perf::add_locations(&mut f, &places);
    }
    if f.total() == 0 {
        return Err(Attempt::Failed(format!(
            "perf collected no samples. Output:\n{}",
            failure_tail(o)
        )));
    }
    Ok(f)
}

/// The instruction counts of every process callgrind traced, merged into one call graph.
fn collect_callgrind(
    scratch: &Scratch,
    o: &ExecOutput,
    root: Option<&str>,
) -> Result<Folded, Attempt> {
    let mut data = CallgrindData::new();
    let files = scratch.files("callgrind.out.");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        data.add_file(&text, root);
    }
    let g = data.graph();
    if files.is_empty() || g.total() <= 0.0 {
        let hint = if o.stderr.contains("not found") || o.exit_code == Some(127) {
            " (is valgrind installed?)"
        } else {
            ""
        };
        return Err(Attempt::Failed(format!(
            "callgrind wrote no data{hint} ({}). Output:\n{}",
            o.describe_exit(),
            failure_tail(o)
        )));
    }
    let mut f = Folded::new("instructions");
    f.stacks = g.to_folded();
    f.exact = Some(g.hot_frames());
    f.lines = data.hot_lines(20);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_python_commands() {
        assert!(is_python_command("python3 bench/run.py x"));
        assert!(is_python_command("PYTHONHASHSEED=0 python -m bench"));
        assert!(is_python_command("cd bench && python3 run.py"));
        assert!(is_python_command("./bench.py"));
        assert!(!is_python_command("./build/bench --n 10"));
        assert!(!is_python_command("make bench"));
        assert!(direct_python("python3 bench/run.py graph_shortest_path"));
        assert!(!direct_python("python3 a.py && python3 b.py"));
        assert!(!direct_python("./run.sh"));
    }

    #[test]
    fn plans_repeat_the_section_and_pick_the_rate_for_its_length() {
        // 45 ms: about 3 s of it at 1000 Hz.
        let p = plan(Scope::Section, true, Some(0.045), Profiler::PySpy);
        assert_eq!((p.repeat, p.rate_hz), (67, 1000));
        // 50 µs: many repetitions.
        let p = plan(Scope::Section, true, Some(50e-6), Profiler::Perf);
        assert_eq!(p.repeat, 60_000);
        // 12 s: once, at a lower rate that still gives the target.
        let p = plan(Scope::Section, true, Some(12.0), Profiler::PySpy);
        assert_eq!((p.repeat, p.rate_hz), (1, 250));
        // A runner that ignores the protocol runs once, sampled fast enough for its length.
        let p = plan(Scope::Section, false, Some(0.3), Profiler::PySpy);
        assert_eq!((p.repeat, p.rate_hz), (1, MAX_RATE));
        // callgrind counts instructions: one run; the whole process: no repetition.
        assert_eq!(
            plan(Scope::Section, true, Some(0.01), Profiler::Callgrind).repeat,
            1
        );
        assert_eq!(
            plan(Scope::Process, true, Some(0.01), Profiler::PySpy).repeat,
            1
        );
        assert_eq!(
            plan(Scope::Section, true, None, Profiler::PySpy).rate_hz,
            DEFAULT_RATE
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
