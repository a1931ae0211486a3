//! The prompts the model is shown, rendered from templates in `prompts/` (embedded in the binary,
//! overridable at run time by a folder named in `OPTAGENT_PROMPTS_DIR`).

use minijinja::{context, Environment};
use optagent_task::Task;

const SYSTEM: &str = include_str!("../../../prompts/system.md");
const TASK: &str = include_str!("../../../prompts/task.md");

fn template(name: &str, builtin: &'static str) -> String {
    if let Ok(dir) = std::env::var("OPTAGENT_PROMPTS_DIR") {
        let p = std::path::Path::new(&dir).join(name);
        if let Ok(t) = std::fs::read_to_string(&p) {
            return t;
        }
    }
    builtin.to_string()
}

/// The system prompt.
pub fn system(task: &Task) -> Result<String, String> {
    let env = Environment::new();
    env.render_str(
        &template("system.md", SYSTEM),
        context! { protected => task.spec.protected.join(", ") },
    )
    .map_err(|e| format!("rendering prompts/system.md: {e}"))
}

/// The first user message: the task's instruction, visible workloads and budget.
pub fn task_prompt(task: &Task, budget: &str) -> Result<String, String> {
    let env = Environment::new();
    let workloads: Vec<_> = task
        .visible_workloads()
        .map(|w| context! { name => w.name.clone(), command => w.command.clone() })
        .collect();
    let hidden = task.spec.workloads.len() - workloads.len();
    env.render_str(
        &template("task.md", TASK),
        context! {
            id => task.id(),
            instruction => task.spec.instruction.trim(),
            languages => task.spec.languages.join(", "),
            workloads => workloads,
            hidden => hidden,
            budget => budget,
        },
    )
    .map_err(|e| format!("rendering prompts/task.md: {e}"))
}

const ROUND: &str = include_str!("../../../prompts/round.md");

/// One visible workload's figures of the best patch so far, as a round's prompt shows them.
#[derive(Debug, Clone)]
pub struct RoundFigure {
    pub name: String,
    pub speedup: f64,
    pub significant: bool,
}

/// What a rollout of round `round` (1-based, of `rounds`) is told about the patch it starts from:
/// where it came from (`source`), its geometric-mean speedup and its visible workloads' figures.
pub fn round_prompt(
    round: usize,
    rounds: usize,
    source: &str,
    speedup: f64,
    figures: &[RoundFigure],
) -> Result<String, String> {
    let env = Environment::new();
    let workloads: Vec<_> = figures
        .iter()
        .map(|f| {
            context! {
                name => f.name.clone(),
                speedup => format!("{:.2}", f.speedup),
                significant => f.significant,
            }
        })
        .collect();
    env.render_str(
        &template("round.md", ROUND),
        context! {
            round => round,
            rounds => rounds,
            source => source,
            speedup => format!("{speedup:.2}"),
            workloads => workloads,
        },
    )
    .map_err(|e| format!("rendering prompts/round.md: {e}"))
}

/// The strategy prompts (`prompts/strategies/<name>.md`), in the order seeds choose them.
const STRATEGIES: [(&str, &str); 4] = [
    (
        "algorithmic",
        include_str!("../../../prompts/strategies/algorithmic.md"),
    ),
    (
        "data-layout",
        include_str!("../../../prompts/strategies/data-layout.md"),
    ),
    (
        "native",
        include_str!("../../../prompts/strategies/native.md"),
    ),
    (
        "repeated-work",
        include_str!("../../../prompts/strategies/repeated-work.md"),
    ),
];

/// The strategy of the rollout with seed `seed` (`--diversify`): its name and its text, chosen in
/// turn by seed so that K rollouts spread over the strategies.
pub fn strategy(seed: i64) -> (String, String) {
    let (name, text) = STRATEGIES[seed.rem_euclid(STRATEGIES.len() as i64) as usize];
    (
        name.to_string(),
        template(&format!("strategies/{name}.md"), text),
    )
}
