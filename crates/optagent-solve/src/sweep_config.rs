//! The sweep config (`evals/sweep-example.toml`): which tasks, models, budgets and how many
//! rollouts a sweep runs, and where it writes its results; read by the sweep runner ([`crate::sweep`]).
//!
//! ```toml
//! name = "bundled-two-models"
//! tasks = ["../tasks/pyroute", "../tasks/cvec"]   # task folders, relative to this file
//! k = 4                                           # rollouts per (task, model, budget)
//! agent = "optagent-default"                      # default "optagent-default"
//! concurrency = 2                                 # rollouts at once, overall; default 2
//! max_cost_usd = 20.0                             # the sweep stops starting rollouts past this
//! output = "../results/bundled-two-models"        # results folder, relative to this file
//! judge = "openai/gpt-5"                          # optional LLM judge of correct patches
//! judge_votes = 3                                 # optional, default 3
//! modes = ["best-of-k", "merge", "rounds:2"]      # optional: compare how K rollouts become one
//!                                                 # patch (one solve per task and mode; see
//!                                                 # `modes`); "diversify" and "a+b" mixes too
//!
//! [[models]]
//! model = "openai/gpt-5-mini"                     # "provider/model"
//! max_concurrency = 2                             # optional
//! temperature = 1.0                               # optional
//!
//! [[budgets]]
//! label = "steps50"
//! max_steps = 50
//! max_tokens = 2000000                            # optional
//! max_cost_usd = 5.0                              # optional, per rollout
//! max_wall_s = 3600                               # optional, per rollout
//!
//! [executor]                                      # optional; default: run here
//! kind = "slurm"                                  # "local" or "slurm"
//! partition = "cpu"                               # the rest pass through to sbatch
//! cpus_per_task = 2
//! time_limit = "02:00:00"
//! ```
//!
//! Every error names the file, the line and the field (`models[1].temperature`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use optagent_toml::{Seg, TomlError};

/// A sweep config that cannot be read or is invalid; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed document or an invalid field, at its line where it could be located.
    #[error("{}{}: {field}: {message}", path.display(), line.map(|n| format!(":{n}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: Option<usize>,
        /// The field's path, `models[1].temperature` style (`<document>` for the whole file).
        field: String,
        message: String,
    },
}

type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl ConfigError {
    fn at(path: &Path, e: TomlError) -> Self {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: e.line,
            field: e.field,
            message: e.message,
        }
    }

    fn io(path: &Path, source: std::io::Error) -> Self {
        ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn field_error(path: &Path, text: &str, segs: &[Seg], message: String) -> ConfigError {
    ConfigError::at(path, optagent_toml::field_error(text, segs, message))
}

fn from_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    optagent_toml::from_toml(text).map_err(|e| ConfigError::at(path, e))
}

/// The agent configuration a sweep uses when it names none.
pub const DEFAULT_AGENT: &str = "optagent-default";
/// Rollouts running at once when the config says nothing.
pub const DEFAULT_CONCURRENCY: usize = 2;

fn default_agent() -> String {
    DEFAULT_AGENT.to_string()
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

/// One model a sweep runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepModel {
    /// `"provider/model"` (the model part may itself hold slashes, as OpenRouter's do).
    pub model: String,
    /// Rollouts of this model at once (within the sweep's `concurrency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

impl SweepModel {
    /// The provider part of `provider/model`.
    pub fn provider(&self) -> &str {
        self.model.split_once('/').map_or("", |(p, _)| p)
    }

    /// The model part of `provider/model`.
    pub fn model_name(&self) -> &str {
        self.model.split_once('/').map_or(&self.model, |(_, m)| m)
    }
}

/// One budget: the limits each rollout runs under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// The name results carry (`RolloutRecord::budget`), e.g. `"steps50"`.
    pub label: String,
    pub max_steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_s: Option<f64>,
}

/// Where a sweep's rollouts run: here (`local`, the default) or as one Slurm array job whose
/// elements each run one rollout (`slurm`). Every field but `kind` is Slurm's and passes through
/// to `sbatch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// `"local"` or `"slurm"`.
    #[serde(default = "default_executor_kind")]
    pub kind: String,
    /// `sbatch --partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `sbatch --account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `sbatch --time`, e.g. `"02:00:00"` (one element: one rollout and its verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// `sbatch --cpus-per-task`: cores of the element's own; measurements are pinned within them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<usize>,
    /// `sbatch --mem`, e.g. `"8G"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Elements running at once (`--array=...%N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running: Option<usize>,
    /// More `sbatch` arguments, passed as they are (e.g. `["--qos=long", "--exclusive"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

fn default_executor_kind() -> String {
    "local".into()
}

/// A sweep: tasks × models × budgets × `k` rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    pub name: String,
    /// Task folders; relative paths are relative to the config file's folder.
    pub tasks: Vec<String>,
    /// Rollouts per (task, model, budget).
    pub k: usize,
    pub models: Vec<SweepModel>,
    pub budgets: Vec<BudgetSpec>,
    /// The agent configuration's name.
    #[serde(default = "default_agent")]
    pub agent: String,
    /// Rollouts running at once, overall.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The sweep's spending cap in USD: no rollout starts once spending reaches it.
    pub max_cost_usd: f64,
    /// The results folder; relative to the config file's folder.
    pub output: String,
    /// Where the rollouts run (`[executor]`); absent: here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorSpec>,
    /// An LLM judge (`provider/model`) asked about every correct patch (`--judge` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// Votes of the judge (`--judge-votes` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_votes: Option<usize>,
    /// Modes to compare (`optagent_report::modes::Mode`): each runs one `solve` per (task, model, budget)
    /// and the report gets the modes table. Empty: a plain sweep of independent rollouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<String>,
    /// The folder relative paths are resolved against (the config file's; not in the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The first invalid field of a sweep config: its path and what is wrong.
type FieldCheck = std::result::Result<(), (Vec<Seg>, String)>;

/// The path of a top-level field.
fn key(k: &str) -> Vec<Seg> {
    vec![Seg::Key(k.to_string())]
}

/// The path of field `k` of entry `i` of the array of tables `list`.
fn at(list: &str, i: usize, k: &str) -> Vec<Seg> {
    vec![
        Seg::Key(list.to_string()),
        Seg::Index(i),
        Seg::Key(k.to_string()),
    ]
}

impl SweepConfig {
    /// Reads, parses and validates a sweep config. Errors name the file, the line and the field.
    pub fn load(path: impl AsRef<Path>) -> Result<SweepConfig> {
        // Absolute from here on: task and output folders must not depend on the folder a later
        // step happens to run in (a relative one once made every rollout's diff fail).
        let path =
            std::path::absolute(path.as_ref()).map_err(|e| ConfigError::io(path.as_ref(), e))?;
        let path = path.as_path();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
        let mut cfg = SweepConfig::parse(&text, path)?;
        cfg.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(cfg)
    }

    /// Parses and validates config text (`path` names it in errors; `base_dir` is left empty,
    /// i.e. relative paths stay relative to the current folder).
    pub fn parse(text: &str, path: &Path) -> Result<SweepConfig> {
        let cfg: SweepConfig = from_toml(path, text)?;
        if let Err((segs, message)) = cfg.check() {
            return Err(field_error(path, text, &segs, message));
        }
        Ok(cfg)
    }

    /// The first invalid field: its path and what is wrong.
    fn check(&self) -> FieldCheck {
        if self.name.trim().is_empty() {
            return Err((key("name"), "must not be empty".into()));
        }
        if self.tasks.is_empty() {
            return Err((key("tasks"), "lists no task folder".into()));
        }
        self.check_tasks()?;
        if self.k == 0 {
            return Err((
                key("k"),
                "must be at least 1 (rollouts per task and model)".into(),
            ));
        }
        if self.models.is_empty() {
            return Err((key("models"), "no [[models]] entry".into()));
        }
        self.check_models()?;
        if let Some(j) = &self.judge {
            if !j
                .split_once('/')
                .is_some_and(|(p, n)| !p.trim().is_empty() && !n.trim().is_empty())
            {
                return Err((
                    key("judge"),
                    format!("{j:?} is not of the form \"provider/model\""),
                ));
            }
        }
        if self.judge_votes == Some(0) {
            return Err((key("judge_votes"), "must be at least 1".into()));
        }
        if self.budgets.is_empty() {
            return Err((key("budgets"), "no [[budgets]] entry".into()));
        }
        self.check_budgets()?;
        if self.agent.trim().is_empty() {
            return Err((key("agent"), "must not be empty".into()));
        }
        if self.concurrency == 0 {
            return Err((key("concurrency"), "must be at least 1".into()));
        }
        if !(self.max_cost_usd.is_finite() && self.max_cost_usd > 0.0) {
            return Err((
                key("max_cost_usd"),
                format!("{} must be a positive number of USD", self.max_cost_usd),
            ));
        }
        if self.output.trim().is_empty() {
            return Err((key("output"), "must name a results folder".into()));
        }
        self.check_modes()?;
        self.check_executor()?;
        Ok(())
    }

    /// `tasks`: no empty path, none listed twice.
    fn check_tasks(&self) -> FieldCheck {
        let mut seen = HashSet::new();
        for (i, t) in self.tasks.iter().enumerate() {
            let segs = vec![Seg::Key("tasks".into()), Seg::Index(i)];
            if t.trim().is_empty() {
                return Err((segs, "is an empty path".into()));
            }
            if !seen.insert(t.as_str()) {
                return Err((segs, format!("task folder {t:?} is listed twice")));
            }
        }
        Ok(())
    }

    /// `[[models]]`: each `provider/model` once, a positive concurrency, a temperature in 0..=2.
    fn check_models(&self) -> FieldCheck {
        let mut seen = HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let ok = m
                .model
                .split_once('/')
                .is_some_and(|(p, n)| !p.trim().is_empty() && !n.trim().is_empty());
            if !ok {
                return Err((
                    at("models", i, "model"),
                    format!("{:?} is not of the form \"provider/model\"", m.model),
                ));
            }
            if !seen.insert(m.model.as_str()) {
                return Err((
                    at("models", i, "model"),
                    format!("model {:?} is listed twice", m.model),
                ));
            }
            if m.max_concurrency == Some(0) {
                return Err((
                    at("models", i, "max_concurrency"),
                    "must be at least 1".into(),
                ));
            }
            if let Some(t) = m.temperature {
                if !(t.is_finite() && (0.0..=2.0).contains(&t)) {
                    return Err((
                        at("models", i, "temperature"),
                        format!("{t} is outside 0..=2"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `[[budgets]]`: unique labels, positive limits.
    fn check_budgets(&self) -> FieldCheck {
        let mut seen = HashSet::new();
        for (i, b) in self.budgets.iter().enumerate() {
            if b.label.trim().is_empty() {
                return Err((at("budgets", i, "label"), "must not be empty".into()));
            }
            if !seen.insert(b.label.as_str()) {
                return Err((
                    at("budgets", i, "label"),
                    format!("budget label {:?} is used twice", b.label),
                ));
            }
            if b.max_steps == 0 {
                return Err((at("budgets", i, "max_steps"), "must be at least 1".into()));
            }
            if b.max_tokens == Some(0) {
                return Err((at("budgets", i, "max_tokens"), "must be at least 1".into()));
            }
            for (field, v) in [
                ("max_cost_usd", b.max_cost_usd),
                ("max_wall_s", b.max_wall_s),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && v > 0.0) {
                        return Err((at("budgets", i, field), format!("{v} must be positive")));
                    }
                }
            }
        }
        Ok(())
    }

    /// `modes`: known, each once, and not under the slurm executor.
    fn check_modes(&self) -> FieldCheck {
        let mut seen = HashSet::new();
        for (i, m) in self.modes.iter().enumerate() {
            let segs = vec![Seg::Key("modes".into()), Seg::Index(i)];
            let mode = optagent_report::modes::Mode::parse(m)
                .map_err(|e| (segs.clone(), e.to_string()))?;
            if !seen.insert(mode) {
                return Err((segs, format!("mode {m:?} is listed twice")));
            }
        }
        if !self.modes.is_empty() && self.executor.as_ref().is_some_and(|e| e.kind == "slurm") {
            return Err((
                vec![Seg::Key("modes".into())],
                "modes run here only (each is one solve of K rollouts): remove [executor] kind = \"slurm\", or the modes".into(),
            ));
        }
        Ok(())
    }

    /// `[executor]`: a known kind and positive counts.
    fn check_executor(&self) -> FieldCheck {
        if let Some(e) = &self.executor {
            let at = |k: &str| vec![Seg::Key("executor".into()), Seg::Key(k.to_string())];
            if !matches!(e.kind.as_str(), "local" | "slurm") {
                return Err((
                    at("kind"),
                    format!("{:?}: expected \"local\" or \"slurm\"", e.kind),
                ));
            }
            if e.cpus_per_task == Some(0) {
                return Err((at("cpus_per_task"), "must be at least 1".into()));
            }
            if e.max_running == Some(0) {
                return Err((at("max_running"), "must be at least 1".into()));
            }
        }
        Ok(())
    }

    /// The task folders, resolved against the config file's folder.
    pub fn task_dirs(&self) -> Vec<PathBuf> {
        self.tasks.iter().map(|t| self.base_dir.join(t)).collect()
    }

    /// The results folder, resolved against the config file's folder.
    pub fn output_dir(&self) -> PathBuf {
        self.base_dir.join(&self.output)
    }

    /// The modes, parsed (empty for a plain sweep; the config was checked when loaded).
    pub fn parsed_modes(&self) -> Vec<optagent_report::modes::Mode> {
        self.modes
            .iter()
            .filter_map(|m| optagent_report::modes::Mode::parse(m).ok())
            .collect()
    }

    /// Rollouts the sweep runs in all: tasks × models × budgets × k.
    pub fn total_rollouts(&self) -> usize {
        self.tasks.len() * self.models.len() * self.budgets.len() * self.k
    }
}
