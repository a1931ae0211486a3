//! The prompts the model is shown, rendered from templates in `prompts/` (embedded in the binary,
//! overridable at run time by a folder named in `OPTAGENT_PROMPTS_DIR`).

use minijinja::{context, Environment};
use optagent_task::Task;

const SYSTEM: &str = include_str!("../../../prompts/system.md");
const TASK: &str = include_str!("../../../prompts/task.md");
const NUDGE: &str = include_str!("../../../prompts/nudge.md");

pub(crate) fn template(name: &str, builtin: &'static str) -> String {
    if let Ok(dir) = std::env::var("OPTAGENT_PROMPTS_DIR") {
        let p = std::path::Path::new(&dir).join(name);
        if let Ok(t) = std::fs::read_to_string(&p) {
            return t;
        }
    }
    builtin.to_string()
}

/// Why a reply had no tool call, for [`nudge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoToolReason {
    /// Prose without a call.
    Text,
    /// Nothing at all.
    Empty,
    /// Cut off by the output limit (`finish_reason: "length"`), with the limit when one was sent.
    Length(Option<u64>),
    /// It repeated itself; this many repeated units were cut.
    Repeated(usize),
}

/// The message sent after a reply without a tool call (`prompts/nudge.md`): why, the tools, and
/// how many more such replies end the rollout (`left`, 0 when not said).
pub fn nudge(reason: NoToolReason, tools: &[String], left: usize) -> Result<String, String> {
    let (name, limit, cut) = match reason {
        NoToolReason::Text => ("text", None, 0),
        NoToolReason::Empty => ("empty", None, 0),
        NoToolReason::Length(l) => ("length", l, 0),
        NoToolReason::Repeated(n) => ("repeated", None, n),
    };
    let tools: Vec<String> = tools.iter().map(|t| format!("`{t}`")).collect();
    Environment::new()
        .render_str(
            &template("nudge.md", NUDGE),
            context! {
                reason => name,
                limit => limit.unwrap_or(0),
                cut => cut,
                tools => tools.join(", "),
                left => left,
            },
        )
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("rendering prompts/nudge.md: {e}"))
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
/// where it came from (`source`), its geometric-mean speedup, its visible workloads' figures and
/// its differential profile against the base (`profile`, text; empty: none).
pub fn round_prompt(
    round: usize,
    rounds: usize,
    source: &str,
    speedup: f64,
    figures: &[RoundFigure],
    profile: &str,
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
            profile => profile.trim_end(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_cut_by_length_is_told_so_not_that_it_called_no_tool() {
        let tools = vec!["view".to_string(), "submit".to_string()];
        let n = nudge(NoToolReason::Length(Some(2048)), &tools, 2).unwrap();
        assert!(
            n.contains("cut off at the output limit (2048 tokens)"),
            "{n}"
        );
        assert!(!n.contains("without calling a tool"), "{n}");
        assert!(
            n.contains("`view`, `submit`") && n.contains("After 2 more replies"),
            "{n}"
        );
        let n = nudge(NoToolReason::Text, &tools, 0).unwrap();
        assert!(
            n.contains("without calling a tool") && !n.contains("more repl"),
            "{n}"
        );
        let n = nudge(NoToolReason::Repeated(7), &tools, 1).unwrap();
        assert!(
            n.contains("7 repeated") && n.contains("1 more reply"),
            "{n}"
        );
    }
}
