//! `shell`: one bounded command in the workspace root, through the sandbox, with the task's
//! environment; answers with how it ended, stdout and stderr.

use std::time::Duration;

use async_trait::async_trait;
use optagent_sandbox::ExecRequest;
use serde::Deserialize;

use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Shell;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShellArgs {
    command: String,
    timeout_s: Option<u64>,
}

#[async_trait]
impl TypedTool for Shell {
    const NAME: &'static str = "shell";
    const SPEC: &'static str = include_str!("../../../../tools/shell.json");
    type Args = ShellArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"command": "ls", "timeout_s": 10})
    }

    async fn run(&self, ctx: &ToolContext, a: ShellArgs) -> Result<ToolOutput, ToolError> {
        if a.command.trim().is_empty() {
            return Err(ToolError::retry("`command` is empty."));
        }
        let limit = ctx.shell_timeout.max(Duration::from_secs(1));
        let asked = a.timeout_s.map(|s| Duration::from_secs(s.max(1)));
        let timeout = asked.map_or(limit, |t| t.min(limit));
        // The sandbox keeps the head of each stream; keep plenty so that the tail the model
        // sees after truncation is the real end of the output in all but extreme cases.
        let keep = (ctx.output_budget * 64).clamp(4 << 20, 64 << 20);
        let req = ExecRequest::new(a.command.clone())
            .envs(&ctx.env)
            .timeout(timeout)
            .max_output(keep);
        let o = ctx.sandbox.exec(&req).await?;
        let mut text = String::new();
        if o.timed_out {
            let capped = if asked.is_some_and(|t| t > limit) {
                format!(" (timeout_s is capped at {}s in this run)", limit.as_secs())
            } else {
                String::new()
            };
            text.push_str(&format!(
                "TIMED OUT after {:.1}s{capped}: the command was killed. Output until then:\n",
                timeout.as_secs_f64()
            ));
        } else {
            text.push_str(&format!(
                "{} ({:.2}s)\n",
                o.describe_exit(),
                o.wall.as_secs_f64()
            ));
        }
        let out = o.stdout.trim_end();
        let err = o.stderr.trim_end();
        if out.is_empty() && err.is_empty() {
            text.push_str("(no output)\n");
        }
        if !out.is_empty() {
            text.push_str("--- stdout ---\n");
            text.push_str(out);
            text.push('\n');
        }
        if !err.is_empty() {
            text.push_str("--- stderr ---\n");
            text.push_str(err);
            text.push('\n');
        }
        if o.dropped_bytes > 0 {
            text.push_str(&format!(
                "[{} more bytes of output (the end of it) were not kept; redirect to a file and view parts of it]\n",
                o.dropped_bytes
            ));
        }
        Ok(ToolOutput::text(text))
    }
}
