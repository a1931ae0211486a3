//! `optagent solve`: K rollouts of a model on a task, the best verified patch, a report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use optagent_agent::judge::Judge;
use optagent_agent::trajectory::Redactor;
use optagent_agent::Budget;
use optagent_model::ModelOptions;
use optagent_solve::{solve, SolveConfig};
use optagent_task::Task;

use crate::exit::{self, InputContext};
use crate::MeasureArgs;

/// How to reach a model: shared by solve and sweep.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Override the provider's base URL (e.g. a local server: http://127.0.0.1:8000/v1).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Read the API key from this environment variable instead of the provider's.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Provider config file merged over the built-in table (default ~/.config/optagent/config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Retries after a failed model call (429, 5xx, timeouts).
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Per-request timeout in seconds.
    #[arg(long)]
    pub request_timeout: Option<u64>,
    /// Output tokens per model reply (sent as max_tokens / max_completion_tokens; default:
    /// the provider's max_output_tokens, sized from the window for local servers).
    #[arg(long)]
    pub max_output_tokens: Option<u64>,
    /// The model's context window in tokens, believed over what the server reports.
    #[arg(long)]
    pub context_window: Option<u64>,
}

impl ModelArgs {
    pub fn options(&self) -> ModelOptions {
        ModelOptions {
            config_path: self.config.clone(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
            max_retries: self.max_retries,
            timeout: self.request_timeout.map(Duration::from_secs),
            max_output_tokens: self.max_output_tokens,
            context_window: self.context_window,
            ..Default::default()
        }
    }
}

/// The optional LLM judge: shared by eval, solve and sweep.
#[derive(Args, Debug, Clone)]
pub struct JudgeArgs {
    /// Ask a model (provider/model) whether each correct patch games the benchmark, in GSO's
    /// four categories; a hack found by the majority makes the patch unverified. Reached with
    /// the same --base-url, --api-key-env and --config as the agent's model.
    #[arg(long, value_name = "PROVIDER/MODEL")]
    pub judge: Option<String>,
    /// Votes of the judge (default 3); per category, the majority of the votes cast decides.
    #[arg(long, value_name = "N")]
    pub judge_votes: Option<usize>,
}

impl JudgeArgs {
    /// The variable the judge's key is read from, so rollouts scrub its value too.
    pub fn key_variable(&self, spec: Option<&str>, model: &ModelArgs) -> Option<String> {
        let spec = self.judge.as_deref().or(spec)?;
        optagent_model::key_variable(spec, &model.options())
    }

    /// The judge, when one is asked for. `spec` and `votes` come from a sweep file and apply
    /// where the flags are not given.
    pub fn open(
        &self,
        spec: Option<&str>,
        votes: Option<usize>,
        model: &ModelArgs,
        secret_vars: &[String],
    ) -> anyhow::Result<Option<Judge>> {
        let Some(spec) = self.judge.as_deref().or(spec) else {
            return Ok(None);
        };
        let opts = model.options();
        let m = optagent_model::open_model(spec, &opts)
            .map_err(|e| anyhow::anyhow!("--judge {spec}: {e}"))?;
        let mut secrets: Vec<String> = secret_vars.to_vec();
        secrets.extend(optagent_model::key_variable(spec, &opts));
        let votes = self
            .judge_votes
            .or(votes)
            .unwrap_or(optagent_agent::judge::DEFAULT_VOTES);
        if votes == 0 {
            anyhow::bail!("--judge-votes 0: the judge needs at least one vote");
        }
        Ok(Some(
            Judge::new(m, votes).with_redactor(Redactor::from_env(&secrets)),
        ))
    }
}

/// Budgets of one rollout: shared by solve and sweep.
#[derive(Args, Debug, Clone)]
pub struct BudgetArgs {
    /// Steps (model turns) per rollout.
    #[arg(long, default_value_t = 50)]
    pub max_steps: usize,
    /// Tokens (prompt + completion) per rollout.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Dollars per rollout.
    #[arg(long)]
    pub max_cost: Option<f64>,
    /// Minutes per rollout.
    #[arg(long, default_value_t = 60)]
    pub max_minutes: u64,
}

impl BudgetArgs {
    pub fn budget(&self) -> Budget {
        Budget {
            max_steps: self.max_steps,
            max_tokens: self.max_tokens,
            max_cost_usd: self.max_cost,
            max_wall: Some(Duration::from_secs(self.max_minutes * 60)),
        }
    }
}

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// The task folder.
    pub task: PathBuf,
    /// The model: provider/model (openai/gpt-5, vllm/Qwen3-Coder, ...) or replay:<trajectory.jsonl>.
    #[arg(long)]
    pub model: String,
    /// Rollouts.
    #[arg(short = 'k', long, default_value_t = 1)]
    pub k: usize,
    /// Rollouts run at a time.
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Seed of rollout 0 (rollout i gets seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
    /// Output folder (default runs/<task>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Repetitions of the agent's bench tool.
    #[arg(long, default_value_t = 5)]
    pub bench_reps: usize,
    /// Keep the rollouts' trees.
    #[arg(long)]
    pub keep_trees: bool,
    /// Replies without a tool call in a row that end a rollout (reason `no_tool_calls`).
    #[arg(long, default_value_t = optagent_agent::turns::DEFAULT_MAX_NO_TOOL_TURNS)]
    pub max_no_tool_turns: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// After verification, merge verified patches that improve different workloads, verify the
    /// merged patch against its parts in a second session, and keep it when it beats them all.
    #[arg(long)]
    pub merge: bool,
    /// Rounds of K rollouts: each round after the first starts from the best verified patch so
    /// far (its figures in the prompt), which a round's best replaces only when verified faster.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Give each rollout a strategy prompt chosen by its seed (prompts/strategies/: algorithmic
    /// change, data layout, vectorization or native code, avoiding repeated work).
    #[arg(long, alias = "strategies")]
    pub diversify: bool,
    #[command(flatten)]
    pub model_args: ModelArgs,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

pub async fn run(a: SolveArgs) -> anyhow::Result<ExitCode> {
    let task = Task::load(&a.task).input()?;
    let model = optagent_model::open_model(&a.model, &a.model_args.options()).input()?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            task.id(),
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    std::fs::create_dir_all(&out)?;
    let out = std::fs::canonicalize(&out)?;
    let mut select = super::eval_options(&a.measure, &out.join("verify"), Some(&task)).await?;
    let mut bench = select.clone();
    bench.reps = Some(a.bench_reps);
    bench.progress = None;
    if select.reps.is_none() {
        select.reps = Some(10);
    }
    let sandbox = select.sandbox.clone();
    let progress: optagent_solve::solve::Progress = Arc::new(|l: &str| eprintln!("{l}"));
    let mut secret_vars: Vec<String> =
        optagent_model::key_variable(&a.model, &a.model_args.options())
            .into_iter()
            .collect();
    secret_vars.extend(a.judge.key_variable(None, &a.model_args));
    let judge = a.judge.open(None, None, &a.model_args, &secret_vars)?;
    let report = solve(SolveConfig {
        task,
        model,
        k: a.k.max(1),
        parallel: a.parallel.max(1),
        budget: a.budget.budget(),
        temperature: a.temperature,
        seed: a.seed,
        out_dir: out.clone(),
        sandbox,
        bench,
        select,
        progress: Some(progress),
        keep_trees: a.keep_trees,
        max_no_tool_turns: a.max_no_tool_turns.max(1),
        secret_vars,
        judge,
        merge: a.merge,
        rounds: a.rounds.max(1),
        diversify: a.diversify,
    })
    .await
    .map_err(anyhow::Error::msg)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", optagent_solve::solve::render_markdown(&report));
        println!("Report: {}", out.join("solve-report.md").display());
    }
    let model_errors: Vec<bool> = report
        .rollouts
        .iter()
        .map(|r| matches!(r.outcome.end, optagent_agent::EndReason::ModelError(_)))
        .collect();
    let code = exit::solve_code(
        &model_errors,
        report.selected.is_some() || report.selected_merge.is_some(),
    );
    match code {
        exit::ALL_MODEL_ERRORS => eprintln!(
            "no rollout ran to an end of its own: every one ended in a model error (exit {code})"
        ),
        exit::NO_VERIFIED_SPEEDUP => {
            eprintln!("no rollout gave a verified speedup (exit {code})")
        }
        _ => {}
    }
    Ok(ExitCode::from(code))
}
