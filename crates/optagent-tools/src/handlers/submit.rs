//! `submit`: ends the rollout with the workspace as it is, and an optional summary.

use async_trait::async_trait;
use serde::Deserialize;

use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Submit;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitArgs {
    summary: Option<String>,
}

#[async_trait]
impl TypedTool for Submit {
    const NAME: &'static str = "submit";
    const SPEC: &'static str = include_str!("../../../../tools/submit.json");
    type Args = SubmitArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"summary": "cached the parsed graph"})
    }

    async fn run(&self, _ctx: &ToolContext, a: SubmitArgs) -> Result<ToolOutput, ToolError> {
        let summary = a
            .summary
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let text = match &summary {
            Some(s) => format!("Submitted. Summary:\n{s}"),
            None => "Submitted.".to_string(),
        };
        Ok(ToolOutput {
            text,
            submit: true,
            summary,
            artifacts: Vec::new(),
        })
    }
}
