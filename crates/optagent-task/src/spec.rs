//! `task.toml`: the spec of one task, parsed strictly, validated, with errors that name the file,
//! the field and what was expected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The variable every command of a task gets: the task folder (absolute), where scripts and
/// data kept outside the repository live.
pub const TASK_DIR_VAR: &str = "OPTAGENT_TASK_DIR";

/// The longest any timeout may be: a week, in seconds.
pub const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

/// What a workload's cost is measured in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Seconds: the time the workload reports for its measured section, else its wall time.
    #[default]
    Time,
    /// Instructions counted by valgrind's callgrind (repeatable on a noisy machine).
    Instructions,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A folder bundled in the task, relative to the task folder.
    pub path: Option<String>,
    /// A git repository: a URL or a local path (relative to the task folder).
    pub git: Option<String>,
    /// The base revision in `git`: any expression git understands (`<sha>^`).
    pub rev: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expert {
    /// A unified diff against the base, relative to the task folder.
    pub patch: Option<String>,
    /// A revision of the source repository.
    pub rev: Option<String>,
}

fn d_setup_timeout() -> u64 {
    900
}
fn d_timeout() -> u64 {
    600
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default = "d_setup_timeout")]
    pub setup_timeout: u64,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default = "d_timeout")]
    pub timeout: u64,
    /// A script in the tree (relative to its root, e.g. `.venv/bin/activate`) sourced before
    /// every command once it exists: later setup commands, the build, tests, workloads and the
    /// agent's tools. A virtual environment made by setup stays active this way.
    #[serde(default)]
    pub activate: Option<String>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            setup: vec![],
            setup_timeout: d_setup_timeout(),
            commands: vec![],
            timeout: d_timeout(),
            activate: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tests {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default = "d_timeout")]
    pub timeout: u64,
}

impl Default for Tests {
    fn default() -> Self {
        Tests {
            commands: vec![],
            timeout: d_timeout(),
        }
    }
}

fn d_reps() -> usize {
    10
}
fn d_warmup() -> usize {
    1
}
fn d_wtimeout() -> u64 {
    120
}
fn d_rtol() -> f64 {
    1e-6
}
fn d_atol() -> f64 {
    1e-9
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    #[serde(default = "d_reps")]
    pub reps: usize,
    #[serde(default = "d_warmup")]
    pub warmup: usize,
    #[serde(default = "d_wtimeout")]
    pub timeout: u64,
    #[serde(default = "d_rtol")]
    pub rtol: f64,
    #[serde(default = "d_atol")]
    pub atol: f64,
    /// Which clock decides the workloads' times (docs/calibration.md): `auto` (default) lets the
    /// evaluator choose per workload from what it measured.
    #[serde(default)]
    pub clock: Clock,
}

/// The clock that decides a workload's time (metric `time`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The evaluator chooses per workload: `cpu` for single-threaded work that is on the CPU
    /// (not waiting), else `reported` (docs/calibration.md gives the rule).
    #[default]
    Auto,
    /// The seconds the workload reports for its measured section (its wall clock), or the
    /// process's wall time when it reports none.
    Reported,
    /// The wall time of the whole workload process, measured by the evaluator.
    Wall,
    /// The CPU time (user + system) of the workload's process tree, measured by the evaluator
    /// (`wait4`), net of the setup (`OPTAGENT_SETUP_ONLY` runs).
    Cpu,
}

impl Clock {
    pub fn as_str(&self) -> &'static str {
        match self {
            Clock::Auto => "auto",
            Clock::Reported => "reported",
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }

    /// Parse a command-line or sweep-file value.
    pub fn parse(s: &str) -> Result<Clock, UnknownClock> {
        match s {
            "auto" => Ok(Clock::Auto),
            "reported" => Ok(Clock::Reported),
            "wall" => Ok(Clock::Wall),
            "cpu" => Ok(Clock::Cpu),
            other => Err(UnknownClock(other.to_string())),
        }
    }
}

/// A clock name [`Clock::parse`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("clock {0:?}: expected auto, reported, wall or cpu")]
pub struct UnknownClock(pub String);

impl Default for Measure {
    fn default() -> Self {
        Measure {
            reps: d_reps(),
            warmup: d_warmup(),
            timeout: d_wtimeout(),
            rtol: d_rtol(),
            atol: d_atol(),
            clock: Clock::Auto,
        }
    }
}

fn d_true() -> bool {
    true
}

/// How a workload reports its time and result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// optagent's own: `$OPTAGENT_OUTPUT` gets `{"seconds", "result"}` (docs/task-format.md).
    #[default]
    Optagent,
    /// GSO's test scripts: the command is followed by `<out_file> --reference|--eqcheck
    /// --file_prefix <prefix>`; the time is the `Execution time: <s>s` line of the out file, and
    /// correctness is the script's own check against the reference the baseline wrote.
    Gso,
    /// SWE-fficiency's workload scripts: the time is the `Mean: <seconds>` line the script prints
    /// (the mean of its own `timeit.repeat` runtimes); correctness is left to the task's tests.
    Swefficiency,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Hierarchical name: `package.module.Class.method(params)`.
    pub name: String,
    /// Shell command run in the tree's root.
    pub command: String,
    /// Shown to the agent; hidden workloads count in evaluation only.
    #[serde(default = "d_true")]
    pub visible: bool,
    /// Seconds per run; overrides `measure.timeout`.
    pub timeout: Option<u64>,
    /// How the workload reports its time and result (default `optagent`).
    #[serde(default)]
    pub protocol: Protocol,
}

/// Where the task prefers to run; the command line can override it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// `local` or `docker`.
    pub backend: Option<String>,
    /// The Docker image (default: optagent's base image).
    pub image: Option<String>,
    /// Let the setup step reach the network (to install packages); every later step runs
    /// without it. Default false.
    #[serde(default)]
    pub setup_network: bool,
}

/// The parsed `task.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub id: String,
    pub instruction: String,
    pub languages: Vec<String>,
    #[serde(default)]
    pub device: Device,
    #[serde(default)]
    pub metric: Metric,
    pub source: Source,
    pub expert: Expert,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub tests: Tests,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub measure: Measure,
    #[serde(default)]
    pub protected: Vec<String>,
    /// Globs of tree paths a workload run may write (the tree is otherwise read-only while
    /// measuring, and a change elsewhere is flagged `state_persisted`).
    #[serde(default)]
    pub writable: Vec<String>,
    #[serde(default)]
    pub sandbox: SandboxSpec,
    pub workloads: Vec<Workload>,
}

/// A task: its folder and its validated spec.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task folder (absolute).
    pub dir: PathBuf,
    pub spec: TaskSpec,
}

/// Where a task's source comes from, resolved against the task folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Folder(PathBuf),
    Git { repo: String, rev: String },
}

/// Where the expert's change comes from, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpertKind {
    Patch(PathBuf),
    Rev(String),
}

impl Task {
    /// Load `task.toml` from a task folder (or the path of a `task.toml` itself).
    pub fn load(path: &Path) -> Result<Task, TaskError> {
        let file = if path.is_dir() {
            path.join("task.toml")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| TaskError::Read {
            path: file.clone(),
            source,
        })?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let spec = parse_spec(&text, &file)?;
        let task = Task { dir, spec };
        task.validate(&file)?;
        Ok(task)
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn toml_path(&self) -> PathBuf {
        self.dir.join("task.toml")
    }

    pub fn source(&self) -> SourceKind {
        let s = &self.spec.source;
        match (&s.path, &s.git) {
            (Some(p), _) => SourceKind::Folder(self.dir.join(p)),
            (None, Some(g)) => SourceKind::Git {
                repo: resolve_repo(&self.dir, g),
                rev: s.rev.clone().unwrap_or_default(),
            },
            (None, None) => unreachable!("validated"),
        }
    }

    pub fn expert(&self) -> ExpertKind {
        match (&self.spec.expert.patch, &self.spec.expert.rev) {
            (Some(p), _) => ExpertKind::Patch(self.dir.join(p)),
            (None, Some(r)) => ExpertKind::Rev(r.clone()),
            (None, None) => unreachable!("validated"),
        }
    }

    pub fn visible_workloads(&self) -> impl Iterator<Item = &Workload> {
        self.spec.workloads.iter().filter(|w| w.visible)
    }

    pub fn workload_timeout(&self, w: &Workload) -> u64 {
        w.timeout.unwrap_or(self.spec.measure.timeout)
    }

    /// The first invalid field of the spec, as [`TaskError::Invalid`] naming `file`.
    fn validate(&self, file: &Path) -> Result<(), TaskError> {
        self.check_identity()
            .and_then(|_| self.check_source())
            .and_then(|_| self.check_expert())
            .and_then(|_| self.check_workloads())
            .and_then(|_| self.check_build_and_measure())
            .and_then(|_| self.check_sandbox_and_env())
            .map_err(|(field, message)| TaskError::Invalid {
                path: file.to_path_buf(),
                field,
                message,
            })
    }

    /// `id`, `instruction` and `languages`.
    fn check_identity(&self) -> Check {
        let s = &self.spec;
        // Upper case is allowed so that a benchmark's instance id (`python-pillow__Pillow-fd8ee84`)
        // can be the task id, which `optagent export` writes as `instance_id`.
        if s.id.is_empty()
            || s.id.chars().all(|c| c == '.')
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(bad(
                "id",
                format!(
                    "expected a non-empty name of [A-Za-z0-9_.-], found {:?}",
                    s.id
                ),
            ));
        }
        if s.instruction.trim().is_empty() {
            return Err(bad("instruction", "expected a non-empty text".into()));
        }
        if s.languages.is_empty() {
            return Err(bad("languages", "expected at least one language".into()));
        }
        Ok(())
    }

    /// `[source]`: a bundled folder that exists, or a git repository with a revision.
    fn check_source(&self) -> Check {
        let s = &self.spec;
        match (&s.source.path, &s.source.git) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "source",
                    "expected exactly one of `path` or `git`, found both".into(),
                ))
            }
            (None, None) => {
                return Err(bad(
                    "source",
                    "expected exactly one of `path` (a bundled folder) or `git` (a repository)"
                        .into(),
                ))
            }
            (Some(p), None) => {
                if s.source.rev.is_some() {
                    return Err(bad(
                        "source.rev",
                        "only meaningful with `source.git`".into(),
                    ));
                }
                if !self.dir.join(p).is_dir() {
                    return Err(bad(
                        "source.path",
                        format!(
                            "expected a folder, but {} is not one",
                            self.dir.join(p).display()
                        ),
                    ));
                }
            }
            (None, Some(g)) => {
                if s.source.rev.as_deref().unwrap_or("").is_empty() {
                    return Err(bad(
                        "source.rev",
                        "expected the base revision (e.g. \"<sha>^\") with `source.git`".into(),
                    ));
                }
                if g.is_empty() {
                    return Err(bad("source.git", "expected a URL or a local path".into()));
                }
            }
        }
        Ok(())
    }

    /// `[expert]`: a diff file that exists, or a revision of the git source.
    fn check_expert(&self) -> Check {
        let s = &self.spec;
        match (&s.expert.patch, &s.expert.rev) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "expert",
                    "expected exactly one of `patch` or `rev`, found both".into(),
                ))
            }
            (None, None) => {
                return Err(bad(
                    "expert",
                    "expected exactly one of `patch` (a diff file) or `rev` (a revision)".into(),
                ))
            }
            (Some(p), None) => {
                if !self.dir.join(p).is_file() {
                    return Err(bad(
                        "expert.patch",
                        format!(
                            "expected a diff file, but {} does not exist",
                            self.dir.join(p).display()
                        ),
                    ));
                }
            }
            (None, Some(_)) => {
                if s.source.git.is_none() {
                    return Err(bad(
                        "expert.rev",
                        "a revision needs `source.git`; with a bundled folder use `expert.patch`"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `[[workloads]]`: named uniquely, with a command and a timeout in range, one visible.
    fn check_workloads(&self) -> Check {
        let s = &self.spec;
        if s.workloads.is_empty() {
            return Err(bad(
                "workloads",
                "expected at least one [[workloads]] table".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, w) in s.workloads.iter().enumerate() {
            if w.name.trim().is_empty() {
                return Err(bad(
                    &format!("workloads[{i}].name"),
                    "expected a non-empty name".into(),
                ));
            }
            if !seen.insert(w.name.as_str()) {
                return Err(bad(
                    &format!("workloads[{i}].name"),
                    format!("duplicate workload name {:?}", w.name),
                ));
            }
            if w.command.trim().is_empty() {
                return Err(bad(
                    &format!("workloads[{i}].command"),
                    "expected a non-empty shell command".into(),
                ));
            }
            if w.timeout.is_some_and(|t| t == 0 || t > MAX_TIMEOUT) {
                return Err(bad(
                    &format!("workloads[{i}].timeout"),
                    format!("expected seconds between 1 and {MAX_TIMEOUT}"),
                ));
            }
        }
        if !s.workloads.iter().any(|w| w.visible) {
            return Err(bad(
                "workloads",
                "expected at least one visible workload (the agent must see one)".into(),
            ));
        }
        Ok(())
    }

    /// `build.activate` inside the tree, `[measure]` repetitions and tolerances, every timeout in range.
    fn check_build_and_measure(&self) -> Check {
        let s = &self.spec;
        if let Some(a) = &s.build.activate {
            let p = Path::new(a);
            if a.trim().is_empty()
                || p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad(
                    "build.activate",
                    format!("expected a path inside the tree (like \".venv/bin/activate\"), found {a:?}"),
                ));
            }
        }
        let m = &s.measure;
        if m.reps == 0 {
            return Err(bad("measure.reps", "expected at least 1".into()));
        }
        for (field, t) in [
            ("measure.timeout", m.timeout),
            ("build.timeout", s.build.timeout),
            ("build.setup_timeout", s.build.setup_timeout),
            ("tests.timeout", s.tests.timeout),
        ] {
            if t == 0 || t > MAX_TIMEOUT {
                return Err(bad(
                    field,
                    format!("expected seconds between 1 and {MAX_TIMEOUT}"),
                ));
            }
        }
        if !(m.rtol >= 0.0 && m.atol >= 0.0) {
            return Err(bad("measure.rtol", "expected tolerances >= 0".into()));
        }
        Ok(())
    }

    /// `sandbox.backend` known, `[env]` names valid.
    fn check_sandbox_and_env(&self) -> Check {
        let s = &self.spec;
        if let Some(b) = &s.sandbox.backend {
            if b != "local" && b != "docker" {
                return Err(bad(
                    "sandbox.backend",
                    format!("expected \"local\" or \"docker\", found {b:?}"),
                ));
            }
        }
        for k in s.env.keys() {
            if k.is_empty() || k.contains('=') {
                return Err(bad(&format!("env.{k}"), "expected a variable name".into()));
            }
        }
        Ok(())
    }
}

/// The first invalid field of a spec: its name and what is wrong.
type Check = Result<(), (String, String)>;

fn bad(field: &str, message: String) -> (String, String) {
    (field.to_string(), message)
}

fn resolve_repo(task_dir: &Path, git: &str) -> String {
    if crate::source::is_remote(git) {
        git.to_string()
    } else {
        let p = task_dir.join(git);
        std::fs::canonicalize(&p)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }
}

/// Parse a spec, turning toml's errors into one that names the file, the line and the field.
pub fn parse_spec(text: &str, file: &Path) -> Result<TaskSpec, TaskError> {
    optagent_toml::from_toml::<TaskSpec>(text).map_err(|e| TaskError::Parse {
        path: file.to_path_buf(),
        message: e.to_string(),
    })
}

/// Find task folders: `dir` itself if it holds a `task.toml`, else its subfolders that do.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    if dir.join("task.toml").is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("task.toml").is_file())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_task(toml: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("repo")).unwrap();
        std::fs::write(d.path().join("expert.diff"), "").unwrap();
        std::fs::write(d.path().join("task.toml"), toml).unwrap();
        let p = d.path().to_path_buf();
        (d, p)
    }

    const GOOD: &str = r#"
id = "t1"
instruction = "speed it up"
languages = ["python"]
[source]
path = "repo"
[expert]
patch = "expert.diff"
[[workloads]]
name = "pkg.mod.C.f(n=1)"
command = "python3 x.py"
"#;

    #[test]
    fn good_spec_loads_with_defaults() {
        let (_d, p) = write_task(GOOD);
        let t = Task::load(&p).unwrap();
        assert_eq!(t.spec.measure.reps, 10);
        assert_eq!(t.spec.device, Device::Cpu);
        assert!(matches!(t.source(), SourceKind::Folder(_)));
        assert!(t.spec.workloads[0].visible);
    }

    #[test]
    fn missing_field_names_file_and_field() {
        let (_d, p) = write_task(&GOOD.replace("instruction = \"speed it up\"\n", ""));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(e.contains("task.toml"), "{e}");
        assert!(e.contains("instruction"), "{e}");
    }

    #[test]
    fn wrong_type_names_line_and_expectation() {
        let (_d, p) = write_task(&GOOD.replace("languages = [\"python\"]", "languages = 3"));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("sequence") || e.contains("array"), "{e}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let (_d, p) = write_task(&GOOD.replace("[source]", "colour = \"red\"\n[source]"));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn both_sources_refused() {
        let (_d, p) = write_task(&GOOD.replace("path = \"repo\"", "path = \"repo\"\ngit = \"x\""));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(e.contains("field `source`"), "{e}");
    }

    #[test]
    fn git_needs_rev() {
        let (_d, p) = write_task(&GOOD.replace("path = \"repo\"", "git = \"../r\""));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(e.contains("source.rev"), "{e}");
    }

    #[test]
    fn duplicate_workload_refused() {
        let twice =
            format!("{GOOD}\n[[workloads]]\nname = \"pkg.mod.C.f(n=1)\"\ncommand = \"true\"\n");
        let (_d, p) = write_task(&twice);
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("workloads[1].name") && e.contains("duplicate"),
            "{e}"
        );
    }

    #[test]
    fn missing_expert_file_named() {
        let (_d, p) = write_task(&GOOD.replace("expert.diff", "nothere.diff"));
        let e = Task::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("expert.patch") && e.contains("nothere.diff"),
            "{e}"
        );
    }
}
