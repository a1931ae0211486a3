//! The prompts the model is shown, rendered from templates in `prompts/` (embedded in the binary,
//! overridable at run time by a folder named in `OPTAGENT_PROMPTS_DIR`).

use minijinja::{context, Environment};
use optagent_task::Task;

const SYSTEM: &str = include_str!("../../../prompts/system.md");
const TASK: &str = include_str!("../../../prompts/task.md");
const NUDGE: &str = include_str!("../../../prompts/nudge.md");
const BUDGET_WARNING: &str = include_str!("../../../prompts/budget_warning.md");
const DROPPED: &str = include_str!("../../../prompts/compaction_dropped.md");
const SHORTENED: &str = include_str!("../../../prompts/compaction_shortened.md");

/// A prompt template that does not render.
#[derive(Debug, thiserror::Error)]
#[error("rendering prompts/{template}: {source}")]
pub struct PromptError {
    /// The template's file name under `prompts/`.
    pub template: &'static str,
    #[source]
    pub source: minijinja::Error,
}

/// Renders template `name` (built in as `builtin`, unless overridden) with `ctx`.
pub(crate) fn render(
    name: &'static str,
    builtin: &'static str,
    ctx: minijinja::Value,
) -> Result<String, PromptError> {
    Environment::new()
        .render_str(&template(name, builtin), ctx)
        .map_err(|source| PromptError {
            template: name,
            source,
        })
}

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
/// how many more such replies end the rollout (`left`, 0 when not said). An overriding template
/// that does not render is reported in the log and the built-in one is used instead.
pub fn nudge(reason: NoToolReason, tools: &[String], left: usize) -> String {
    let (name, limit, cut) = match reason {
        NoToolReason::Text => ("text", None, 0),
        NoToolReason::Empty => ("empty", None, 0),
        NoToolReason::Length(l) => ("length", l, 0),
        NoToolReason::Repeated(n) => ("repeated", None, n),
    };
    let tools: Vec<String> = tools.iter().map(|t| format!("`{t}`")).collect();
    let ctx = context! {
        reason => name,
        limit => limit.unwrap_or(0),
        cut => cut,
        tools => tools.join(", "),
        left => left,
    };
    render_or_builtin("nudge.md", NUDGE, ctx)
}

/// Renders template `name` (overridable) with `ctx`; when an override does not render, logs why
/// and renders the built-in text (whose rendering the unit tests below pin).
fn render_or_builtin(name: &str, builtin: &'static str, ctx: minijinja::Value) -> String {
    let env = Environment::new();
    let render = |t: &str| env.render_str(t, ctx.clone()).map(|s| s.trim().to_string());
    render(&template(name, builtin)).unwrap_or_else(|e| {
        tracing::warn!("rendering prompts/{name}: {e}; using the built-in template");
        render(builtin).unwrap_or_else(|e| format!("[optagent: prompts/{name} failed: {e}]"))
    })
}

/// The warning added to the budget line once a budget is nearly spent
/// (`prompts/budget_warning.md`).
pub fn budget_warning() -> String {
    render_or_builtin("budget_warning.md", BUDGET_WARNING, context! {})
}

/// The note that replaces the oldest turns dropped to fit the context window
/// (`prompts/compaction_dropped.md`), for `n` dropped messages in all.
pub fn compaction_dropped(n: usize) -> String {
    render_or_builtin("compaction_dropped.md", DROPPED, context! { n => n })
}

/// The header of a message shortened to save context (`prompts/compaction_shortened.md`): how
/// many lines and characters it had.
pub fn compaction_shortened(lines: usize, chars: usize) -> String {
    render_or_builtin(
        "compaction_shortened.md",
        SHORTENED,
        context! { lines => lines, chars => chars },
    )
}

/// The text a rendered template has around one of its numbers, found by rendering it with an
/// unlikely number: lets the compaction recognise its own markers whatever the template says.
#[derive(Debug, Clone)]
pub(crate) struct Marker {
    pub prefix: String,
    pub suffix: String,
}

const PROBE: usize = 987_654_321;

impl Marker {
    /// The marker of `render`, a template rendered with one number (the others fixed).
    pub fn of(render: impl Fn(usize) -> String) -> Marker {
        let text = render(PROBE);
        let probe = PROBE.to_string();
        match text.find(&probe) {
            Some(i) => Marker {
                prefix: text[..i].to_string(),
                suffix: text[i + probe.len()..].to_string(),
            },
            None => Marker {
                prefix: text,
                suffix: String::new(),
            },
        }
    }

    /// Whether `text` starts with this marker's text before the number.
    pub fn starts(&self, text: &str) -> bool {
        !self.prefix.is_empty() && text.starts_with(&self.prefix)
    }

    /// The number in `text` when the whole of `text` is this marker.
    pub fn number(&self, text: &str) -> Option<usize> {
        text.strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?
            .trim()
            .parse()
            .ok()
    }
}

/// The system prompt.
pub fn system(task: &Task) -> Result<String, PromptError> {
    render(
        "system.md",
        SYSTEM,
        context! { protected => task.spec.protected.join(", ") },
    )
}

/// The first user message: the task's instruction, visible workloads and budget.
pub fn task_prompt(task: &Task, budget: &str) -> Result<String, PromptError> {
    let workloads: Vec<_> = task
        .visible_workloads()
        .map(|w| context! { name => w.name.clone(), command => w.command.clone() })
        .collect();
    let hidden = task.spec.workloads.len() - workloads.len();
    render(
        "task.md",
        TASK,
        context! {
            id => task.id(),
            instruction => task.spec.instruction.trim(),
            languages => task.spec.languages.join(", "),
            workloads => workloads,
            hidden => hidden,
            budget => budget,
        },
    )
}

const ROUND: &str = include_str!("../../../prompts/round.md");

/// One visible workload's figures of the best patch so far, as a round's prompt shows them.
#[derive(Debug, Clone)]
pub struct RoundFigure {
    pub name: String,
    /// `None` where the speedup is undefined (written `NaN`).
    pub speedup: Option<f64>,
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
) -> Result<String, PromptError> {
    let workloads: Vec<_> = figures
        .iter()
        .map(|f| {
            context! {
                name => f.name.clone(),
                speedup => format!("{:.2}", optagent_eval::render::Figure(f.speedup)),
                significant => f.significant,
            }
        })
        .collect();
    render(
        "round.md",
        ROUND,
        context! {
            round => round,
            rounds => rounds,
            source => source,
            speedup => format!("{speedup:.2}"),
            workloads => workloads,
            profile => profile.trim_end(),
        },
    )
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
        let n = nudge(NoToolReason::Length(Some(2048)), &tools, 2);
        assert!(
            n.contains("cut off at the output limit (2048 tokens)"),
            "{n}"
        );
        assert!(!n.contains("without calling a tool"), "{n}");
        assert!(
            n.contains("`view`, `submit`") && n.contains("After 2 more replies"),
            "{n}"
        );
        let n = nudge(NoToolReason::Text, &tools, 0);
        assert!(
            n.contains("without calling a tool") && !n.contains("more repl"),
            "{n}"
        );
        let n = nudge(NoToolReason::Repeated(7), &tools, 1);
        assert!(
            n.contains("7 repeated") && n.contains("1 more reply"),
            "{n}"
        );
    }

    #[test]
    fn the_loops_messages_render_from_their_templates() {
        assert!(budget_warning().starts_with("[budget] WARNING: your budget is nearly spent."));
        assert_eq!(
            compaction_dropped(12),
            "[optagent: earlier turns were removed to fit the context window: 12 messages]"
        );
        assert_eq!(
            compaction_shortened(5000, 10000),
            "[shortened to save context: 5000 lines, 10000 chars originally]"
        );
        let m = Marker::of(compaction_dropped);
        assert_eq!(m.number(&compaction_dropped(7)), Some(7));
        assert!(m.starts(&compaction_dropped(3)) && !m.starts("task"));
        assert_eq!(m.number("[optagent: something else]"), None);
    }
}
