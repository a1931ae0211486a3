//! The tool registry: specs for the model, and dispatch of a call (name + raw JSON arguments) to
//! its handler, turning every mistake the model can fix into [`ToolError::Retry`].

use std::path::PathBuf;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::schema::{load_spec, SpecError, ToolSpecJson, TOOLS_DIR_ENV};
use crate::{handlers, truncate, ToolContext, ToolError, ToolOutput};

/// A tool with typed arguments. Implemented by each handler under `handlers/`.
#[async_trait]
pub(crate) trait TypedTool: Send + Sync + 'static {
    const NAME: &'static str;
    /// The spec the model is shown: `include_str!` of the repository's `tools/<NAME>.json`.
    const SPEC: &'static str;
    type Args: DeserializeOwned + Send;
    /// Arguments with every property of the schema set (checked against the schema in tests).
    #[cfg(test)]
    fn example() -> serde_json::Value;
    async fn run(&self, ctx: &ToolContext, args: Self::Args) -> Result<ToolOutput, ToolError>;
}

/// A tool behind a uniform, untyped interface.
#[async_trait]
pub(crate) trait DynTool: Send + Sync {
    fn name(&self) -> &'static str;
    /// The embedded spec text ([`TypedTool::SPEC`]).
    fn embedded_spec(&self) -> &'static str;
    /// Parse the arguments only (tests use it to compare handlers with schemas).
    #[cfg(test)]
    fn check_args(&self, args: &serde_json::Value) -> Result<(), serde_json::Error>;
    #[cfg(test)]
    fn example(&self) -> serde_json::Value;
    async fn call(
        &self,
        ctx: &ToolContext,
        spec: &ToolSpecJson,
        raw: &str,
    ) -> Result<ToolOutput, ToolError>;
}

pub(crate) struct Typed<T>(pub T);

#[async_trait]
impl<T: TypedTool> DynTool for Typed<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn embedded_spec(&self) -> &'static str {
        T::SPEC
    }
    #[cfg(test)]
    fn check_args(&self, args: &serde_json::Value) -> Result<(), serde_json::Error> {
        serde_json::from_value::<T::Args>(args.clone()).map(|_| ())
    }
    #[cfg(test)]
    fn example(&self) -> serde_json::Value {
        T::example()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        spec: &ToolSpecJson,
        raw: &str,
    ) -> Result<ToolOutput, ToolError> {
        let args: T::Args = parse_args(spec, raw)?;
        self.0.run(ctx, args).await
    }
}

/// Parse raw arguments into a handler's typed struct, with messages a model can act on.
pub(crate) fn parse_args<A: DeserializeOwned>(
    spec: &ToolSpecJson,
    raw: &str,
) -> Result<A, ToolError> {
    let text = if raw.trim().is_empty() { "{}" } else { raw };
    let hint = format!(
        "The `{}` tool takes a JSON object with: {}.",
        spec.name,
        spec.argument_summary()
    );
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ToolError::retry(format!(
            "The arguments of `{}` are not valid JSON: {e}{}\n{hint}",
            spec.name,
            near(text, e.line(), e.column())
        ))
    })?;
    if !value.is_object() {
        return Err(ToolError::retry(format!(
            "The arguments of `{}` must be a JSON object, got {}.\n{hint}",
            spec.name,
            kind_of(&value)
        )));
    }
    serde_json::from_value(value).map_err(|e| {
        ToolError::retry(format!(
            "Invalid arguments for `{}`: {e}.\n{hint}",
            spec.name
        ))
    })
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// ` near: <the text around line:column>` for a JSON syntax error.
fn near(text: &str, line: usize, column: usize) -> String {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let chars: Vec<char> = l.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let from = at.saturating_sub(30);
    let to = (at + 10).min(chars.len());
    let before: String = chars[from..at].iter().collect();
    let after: String = chars[at..to].iter().collect();
    format!(" (near `{before}⟨here⟩{after}`)")
}

/// All tools, their specs, and dispatch.
pub struct Registry {
    tools: Vec<(Box<dyn DynTool>, ToolSpecJson)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tools", &self.names())
            .finish()
    }
}

impl Registry {
    /// Every tool, with specs from `OPTAGENT_TOOLS_DIR` where it has them, else the embedded ones.
    /// A broken override file is logged and the embedded spec used instead.
    pub fn standard() -> Registry {
        let dir = std::env::var_os(TOOLS_DIR_ENV).map(PathBuf::from);
        match Registry::with_spec_dir(dir.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring {TOOLS_DIR_ENV}: using the embedded tool specs");
                Registry::with_spec_dir(None).expect("embedded tool specs are valid")
            }
        }
    }

    /// Every tool, with specs from `dir` where it has them (strict: a broken file is an error).
    pub fn with_spec_dir(dir: Option<&std::path::Path>) -> Result<Registry, SpecError> {
        let mut tools = Vec::new();
        for tool in handlers::all() {
            let spec = load_spec(tool.name(), tool.embedded_spec(), dir)?;
            tools.push((tool, spec));
        }
        Ok(Registry { tools })
    }

    /// Drop the tools named (e.g. `bench` where the run has no measurement).
    pub fn without(mut self, names: &[&str]) -> Registry {
        self.tools.retain(|(t, _)| !names.contains(&t.name()));
        self
    }

    /// The tools' names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|(t, _)| t.name()).collect()
    }

    /// The specs to give the model.
    pub fn specs(&self) -> Vec<ToolSpecJson> {
        self.tools.iter().map(|(_, s)| s.clone()).collect()
    }

    /// Run one call. Output text is cut to `ctx.output_budget` here (and only here).
    pub async fn dispatch(
        &self,
        ctx: &ToolContext,
        name: &str,
        raw_arguments: &str,
    ) -> Result<ToolOutput, ToolError> {
        let Some((tool, spec)) = self.tools.iter().find(|(t, _)| t.name() == name) else {
            let known = self.names().join(", ");
            let suggestion = self
                .names()
                .into_iter()
                .find(|n| n.eq_ignore_ascii_case(name.trim()))
                .map(|n| format!(" Did you mean `{n}`?"))
                .unwrap_or_default();
            return Err(ToolError::retry(format!(
                "There is no tool named `{name}`.{suggestion} The tools are: {known}."
            )));
        };
        tracing::debug!(tool = name, "tool call");
        let started = std::time::Instant::now();
        let result = tool.call(ctx, spec, raw_arguments).await;
        tracing::debug!(tool = name, ok = result.is_ok(), elapsed = ?started.elapsed(), "tool call done");
        match result {
            Ok(mut out) => {
                let cut = truncate::truncate_for_model(ctx, name, &out.text)?;
                out.text = cut.text;
                out.artifacts.extend(cut.saved);
                Ok(out)
            }
            Err(ToolError::Retry(msg)) => {
                let cut = truncate::truncate_for_model(ctx, name, &msg)?;
                Err(ToolError::Retry(cut.text))
            }
            Err(e) => Err(e),
        }
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&dyn DynTool, &ToolSpecJson)> {
        self.tools.iter().map(|(t, s)| (t.as_ref(), s))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_handler_has_a_schema_that_matches_its_arguments() {
        let reg = Registry::with_spec_dir(None).unwrap();
        let names = reg.names();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "a tool is listed twice: {names:?}"
        );
        assert!(names.len() >= 8, "{names:?}");
        for (tool, spec) in reg.entries() {
            assert_eq!(tool.name(), spec.name);
            assert!(!spec.description.is_empty(), "{}", spec.name);
            let example = tool.example();
            let keys: BTreeSet<String> = example.as_object().unwrap().keys().cloned().collect();
            let props: BTreeSet<String> = spec.properties().into_iter().collect();
            assert_eq!(
                keys, props,
                "{}: the example must set every schema property",
                spec.name
            );
            // Every schema property is accepted (the args structs deny unknown fields).
            tool.check_args(&example)
                .unwrap_or_else(|e| panic!("{}: example rejected: {e}", spec.name));
            let required = spec.required();
            for r in &required {
                assert!(
                    props.contains(r),
                    "{}: required `{r}` is not a property",
                    spec.name
                );
            }
            for p in &props {
                let mut v = example.clone();
                v.as_object_mut().unwrap().remove(p);
                let res = tool.check_args(&v);
                if required.contains(p) {
                    let e = res.expect_err(&format!(
                        "{}: `{p}` is required by the schema but optional in the handler",
                        spec.name
                    ));
                    assert!(e.to_string().contains(p.as_str()), "{e}");
                } else {
                    res.unwrap_or_else(|e| {
                        panic!(
                            "{}: `{p}` is optional in the schema but the handler needs it: {e}",
                            spec.name
                        )
                    });
                }
            }
            let mut v = example.clone();
            v.as_object_mut()
                .unwrap()
                .insert("no_such_field".into(), serde_json::json!(1));
            assert!(
                tool.check_args(&v).is_err(),
                "{}: unknown fields must be refused",
                spec.name
            );
        }
    }

    #[test]
    fn every_schema_file_belongs_to_a_handler() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools");
        let reg = Registry::with_spec_dir(None).unwrap();
        let names = reg.names();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
                assert!(
                    names.contains(&stem.as_str()),
                    "{} has no handler",
                    p.display()
                );
                let text = std::fs::read_to_string(&p).unwrap();
                let (tool, _) = reg.entries().find(|(t, _)| t.name() == stem).unwrap();
                assert_eq!(text, tool.embedded_spec());
            }
        }
    }

    #[test]
    fn a_spec_folder_overrides_the_embedded_specs() {
        let d = tempfile::tempdir().unwrap();
        let mut view: serde_json::Value =
            serde_json::from_str(include_str!("../../../tools/view.json")).unwrap();
        view["description"] = "custom view".into();
        std::fs::write(d.path().join("view.json"), view.to_string()).unwrap();
        let reg = Registry::with_spec_dir(Some(d.path())).unwrap();
        let specs = reg.specs();
        assert_eq!(specs[0].description, "custom view");
        assert_ne!(specs[1].description, "custom view");
        std::fs::write(d.path().join("edit.json"), "{not json").unwrap();
        let e = Registry::with_spec_dir(Some(d.path())).unwrap_err();
        assert!(e.to_string().contains("edit.json"), "{e}");
    }
}
