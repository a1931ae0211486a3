//! The prompts the model is shown, rendered from templates in `prompts/` (embedded in the binary,
//! overridable at run time by a folder named in `OPTAGENT_PROMPTS_DIR`).

use minijinja::{context, Environment};
use optagent_task::Task;

const SYSTEM: &str = include_str!("../../../prompts/system.md");
const TASK: &str = include_str!("../../../prompts/task.md");

pub(crate) fn template(name: &str, builtin: &'static str) -> String {
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
