//! `bench`: the evaluator's measurement of the workspace against the base, through
//! [`crate::BenchRunner`] (provided by the agent crate; absent in some runs).

use async_trait::async_trait;
use serde::Deserialize;

use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Bench;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchArgs {}

#[async_trait]
impl TypedTool for Bench {
    const NAME: &'static str = "bench";
    const SPEC: &'static str = include_str!("../../../../tools/bench.json");
    type Args = BenchArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({})
    }

    async fn run(&self, ctx: &ToolContext, _a: BenchArgs) -> Result<ToolOutput, ToolError> {
        let Some(bench) = ctx.bench.as_ref() else {
            return Err(ToolError::retry("bench is not available in this run"));
        };
        match bench.bench(ctx.root()).await {
            Ok(table) => Ok(ToolOutput::text(table)),
            Err(e) => Err(ToolError::retry(format!("bench failed: {e}"))),
        }
    }
}
