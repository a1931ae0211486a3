//! Tool specs (name, description, JSON Schema of the arguments) as given to the model.
//!
//! The specs live in the repository's `tools/<name>.json` and are embedded in the binary with
//! `include_str!`, so it works from anywhere; a folder named in `OPTAGENT_TOOLS_DIR` replaces any
//! of them at run time (a file per tool, same name; tools without a file keep the embedded spec).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The environment variable naming a folder of `<tool>.json` files that replace the embedded ones.
pub const TOOLS_DIR_ENV: &str = "OPTAGENT_TOOLS_DIR";

/// One tool as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpecJson {
    pub name: String,
    pub description: String,
    /// A JSON Schema (`{"type": "object", "properties": ..., "required": [...]}`).
    pub parameters: serde_json::Value,
}

impl ToolSpecJson {
    /// Parse and check a spec's JSON text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let spec: ToolSpecJson =
            serde_json::from_str(text).map_err(|e| format!("{origin}: not a tool spec: {e}"))?;
        if spec.parameters.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(format!(
                "{origin}: `parameters` must be a JSON Schema with \"type\": \"object\""
            ));
        }
        if !spec
            .parameters
            .get("properties")
            .is_some_and(|p| p.is_object())
        {
            return Err(format!(
                "{origin}: `parameters.properties` must be an object"
            ));
        }
        Ok(spec)
    }

    /// Names of the properties the schema declares.
    pub fn properties(&self) -> Vec<String> {
        self.parameters
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Names of the required properties.
    pub fn required(&self) -> Vec<String> {
        self.parameters
            .get("required")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A one-line reminder of the arguments, e.g. `path (string, required), start_line (integer)`.
    pub fn argument_summary(&self) -> String {
        let required = self.required();
        let props = self
            .parameters
            .get("properties")
            .and_then(|p| p.as_object());
        let Some(props) = props else {
            return "no arguments".into();
        };
        if props.is_empty() {
            return "no arguments: pass {}".into();
        }
        // Required arguments first, in the schema's order; then the others.
        let mut keys: Vec<&String> = required.iter().filter(|r| props.contains_key(*r)).collect();
        keys.extend(props.keys().filter(|k| !required.contains(k)));
        keys.into_iter()
            .map(|k| (k, &props[k]))
            .map(|(k, v)| {
                let ty = match (v.get("enum").and_then(|e| e.as_array()), v.get("type")) {
                    (Some(values), _) => values
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                    (None, Some(t)) => t.as_str().unwrap_or("any").to_string(),
                    _ => "any".into(),
                };
                if required.contains(k) {
                    format!("{k} ({ty}, required)")
                } else {
                    format!("{k} ({ty})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The embedded specs, by tool name.
pub(crate) fn embedded(name: &str) -> Option<&'static str> {
    Some(match name {
        "view" => include_str!("../../../tools/view.json"),
        "edit" => include_str!("../../../tools/edit.json"),
        "search" => include_str!("../../../tools/search.json"),
        "profile" => include_str!("../../../tools/profile.json"),
        "flamegraph" => include_str!("../../../tools/flamegraph.json"),
        "bench" => include_str!("../../../tools/bench.json"),
        "shell" => include_str!("../../../tools/shell.json"),
        "submit" => include_str!("../../../tools/submit.json"),
        _ => return None,
    })
}

/// The spec of tool `name`: `dir/<name>.json` when `dir` has it, else the embedded one.
pub fn load_spec(name: &str, dir: Option<&Path>) -> Result<ToolSpecJson, String> {
    if let Some(dir) = dir {
        let p = dir.join(format!("{name}.json"));
        if p.is_file() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
            let spec = ToolSpecJson::parse(&text, &p.display().to_string())?;
            if spec.name != name {
                return Err(format!(
                    "{}: names the tool `{}`, expected `{name}`",
                    p.display(),
                    spec.name
                ));
            }
            tracing::debug!(tool = name, path = %p.display(), "tool spec overridden");
            return Ok(spec);
        }
    }
    let text = embedded(name).ok_or_else(|| format!("no embedded spec for tool `{name}`"))?;
    ToolSpecJson::parse(text, &format!("embedded tools/{name}.json"))
}
